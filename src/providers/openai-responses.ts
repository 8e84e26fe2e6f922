// OpenAI Responses API streaming, stateless (store: false): every request carries
// the whole history, with reasoning replayed through its encrypted content.
import type OpenAI from 'openai'
import { openAIClient, providerName } from './openai-clients.ts'
import { withDebugCapture } from './debug-capture.ts'
import { DEFAULT_STREAM_SILENCE_MS, guardStream, incompleteStream, parseArguments } from './stream-guard.ts'
import { fromHttp } from './errors.ts'
import {
  emptyUsage,
  type FinishReason,
  type ModelMessage,
  type ModelProvider,
  type ModelRequest,
  type ProviderConfig,
  type StreamEvent,
  type Usage,
} from './types.ts'

type InputItem = OpenAI.Responses.ResponseInputItem
type Event = OpenAI.Responses.ResponseStreamEvent

export function createOpenAIResponsesProvider(config: ProviderConfig): ModelProvider {
  const client = openAIClient(config)
  const name = providerName(config)
  return {
    kind: config.kind,
    stream(req: ModelRequest): AsyncIterable<StreamEvent> {
      const raw = guardStream((signal) => withDebugCapture(req.debug, () => client.responses.create(toResponsesParams(req, config), { signal })), {
        provider: name,
        silenceMs: config.streamSilenceMs ?? DEFAULT_STREAM_SILENCE_MS,
        secrets: [config.apiKey],
        ...(req.signal ? { signal: req.signal } : {}),
      })
      return toStreamEvents(raw, name)
    },
  }
}

export function toResponsesParams(req: ModelRequest, config: ProviderConfig): OpenAI.Responses.ResponseCreateParamsStreaming {
  return {
    model: config.kind === 'azure-openai' && config.deployment ? config.deployment : req.model,
    stream: true,
    store: false,
    input: toInput(req.messages),
    ...(req.system ? { instructions: req.system } : {}),
    ...(req.tools.length
      ? {
          tools: req.tools.map((t) => ({
            type: 'function' as const,
            name: t.name,
            description: t.description,
            parameters: t.inputSchema,
            strict: false,
          })),
          parallel_tool_calls: true,
        }
      : {}),
    ...(req.maxOutputTokens !== undefined ? { max_output_tokens: req.maxOutputTokens } : {}),
    ...(req.reasoning
      ? { reasoning: { effort: req.reasoning.effort ?? 'medium', summary: 'auto' as const }, include: ['reasoning.encrypted_content' as const] }
      : {}),
  }
}

/** The opaque signature of a reasoning item: what must be replayed for a stateless turn. */
interface ReasoningSignature {
  id: string
  encrypted_content: string
}

function toInput(messages: ModelMessage[]): InputItem[] {
  const out: InputItem[] = []
  for (const m of messages) {
    switch (m.role) {
      case 'user':
        out.push({
          role: 'user',
          content: m.parts.map((p) =>
            p.type === 'text'
              ? { type: 'input_text' as const, text: p.text }
              : { type: 'input_image' as const, image_url: `data:${p.mimeType};base64,${p.data}`, detail: 'auto' as const },
          ),
        })
        break
      case 'assistant': {
        let text = ''
        const flushText = () => {
          if (text) out.push({ role: 'assistant', content: text })
          text = ''
        }
        for (const p of m.parts) {
          if (p.type === 'text') text += p.text
          else if (p.type === 'reasoning') {
            flushText()
            const sig = parseSignature(p.signature)
            // Reasoning without encrypted content (another provider's) cannot be replayed.
            if (sig)
              out.push({
                type: 'reasoning',
                id: sig.id,
                encrypted_content: sig.encrypted_content,
                summary: p.text ? [{ type: 'summary_text', text: p.text }] : [],
              })
          } else {
            flushText()
            out.push({
              type: 'function_call',
              call_id: p.id,
              name: p.name,
              arguments: typeof p.arguments === 'string' ? p.arguments : JSON.stringify(p.arguments ?? {}),
            })
          }
        }
        flushText()
        break
      }
      case 'tool':
        for (const r of m.results) {
          const text = r.isError ? `Error: ${r.content}` : r.content || '(no output)'
          out.push({
            type: 'function_call_output',
            call_id: r.callId,
            output: r.images?.length
              ? [
                  { type: 'input_text', text },
                  ...r.images.map((img) => ({
                    type: 'input_image' as const,
                    image_url: `data:${img.mimeType};base64,${img.data}`,
                    detail: 'auto' as const,
                  })),
                ]
              : text,
          })
        }
        break
    }
  }
  return out
}

function parseSignature(signature: string | undefined): ReasoningSignature | undefined {
  if (!signature) return undefined
  try {
    const parsed = JSON.parse(signature) as Partial<ReasoningSignature>
    if (typeof parsed.id === 'string' && typeof parsed.encrypted_content === 'string') {
      return { id: parsed.id, encrypted_content: parsed.encrypted_content }
    }
  } catch {
    // not ours
  }
  return undefined
}

async function* toStreamEvents(raw: AsyncIterable<Event>, provider: string): AsyncGenerator<StreamEvent> {
  const callIdByItem = new Map<string, { callId: string; name: string; args: string }>()
  let usage: Usage = emptyUsage()
  let finish: FinishReason | undefined
  let sawCalls = false

  for await (const event of raw) {
    switch (event.type) {
      case 'response.output_text.delta':
        if (event.delta) yield { type: 'text_delta', text: event.delta }
        break
      case 'response.reasoning_summary_text.delta':
      case 'response.reasoning_text.delta':
        if (event.delta) yield { type: 'reasoning_delta', text: event.delta }
        break
      case 'response.output_item.added':
        if (event.item.type === 'function_call') {
          const item = event.item
          sawCalls = true
          callIdByItem.set(item.id ?? item.call_id, { callId: item.call_id, name: item.name, args: '' })
          yield { type: 'tool_call_start', id: item.call_id, name: item.name }
        }
        break
      case 'response.function_call_arguments.delta': {
        const call = callIdByItem.get(event.item_id)
        if (call && event.delta) {
          call.args += event.delta
          yield { type: 'tool_call_delta', id: call.callId, argumentsDelta: event.delta }
        }
        break
      }
      case 'response.output_item.done':
        if (event.item.type === 'function_call') {
          const item = event.item
          const call = callIdByItem.get(item.id ?? item.call_id)
          yield {
            type: 'tool_call_end',
            id: item.call_id,
            name: item.name,
            arguments: parseArguments(item.arguments ?? call?.args ?? ''),
          }
        } else if (event.item.type === 'reasoning' && event.item.encrypted_content) {
          const signature: ReasoningSignature = { id: event.item.id, encrypted_content: event.item.encrypted_content }
          yield { type: 'reasoning_signature', signature: JSON.stringify(signature) }
        }
        break
      case 'response.completed':
      case 'response.incomplete': {
        const r = event.response
        if (r.usage) usage = mapUsage(r.usage)
        if (event.type === 'response.completed') finish = sawCalls ? 'tool_calls' : 'stop'
        else {
          const reason = r.incomplete_details?.reason
          finish = reason === 'max_output_tokens' ? 'length' : reason === 'content_filter' ? 'content_filter' : 'other'
        }
        break
      }
      case 'response.failed': {
        const e = event.response.error
        throw fromHttp(provider, undefined, e?.message ?? 'the response failed', e?.code ?? undefined, undefined)
      }
      case 'error':
        throw fromHttp(provider, undefined, event.message, event.code ?? undefined, undefined)
      default:
        break
    }
  }
  if (!finish) throw incompleteStream(provider)
  yield { type: 'usage', usage }
  yield { type: 'finish', reason: finish }
}

function mapUsage(u: OpenAI.Responses.ResponseUsage): Usage {
  return {
    inputTokens: u.input_tokens ?? 0,
    outputTokens: u.output_tokens ?? 0,
    cacheReadTokens: u.input_tokens_details?.cached_tokens ?? 0,
    cacheWriteTokens: 0,
    reasoningTokens: u.output_tokens_details?.reasoning_tokens ?? 0,
  }
}
