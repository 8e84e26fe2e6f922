// OpenAI Chat Completions streaming: OpenAI, Azure OpenAI and OpenAI-compatible servers.
import type OpenAI from 'openai'
import { openAIClient, providerName } from './openai-clients.ts'
import { withDebugCapture } from './debug-capture.ts'
import { DEFAULT_STREAM_SILENCE_MS, guardStream, incompleteStream, parseArguments } from './stream-guard.ts'
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

type ChatMessage = OpenAI.Chat.ChatCompletionMessageParam
type Chunk = OpenAI.Chat.ChatCompletionChunk

export function createOpenAIChatProvider(config: ProviderConfig): ModelProvider {
  const client = openAIClient(config)
  const name = providerName(config)
  return {
    kind: config.kind,
    stream(req: ModelRequest): AsyncIterable<StreamEvent> {
      const raw = guardStream((signal) => withDebugCapture(req.debug, () => client.chat.completions.create(toChatParams(req, config), { signal })), {
        provider: name,
        silenceMs: config.streamSilenceMs ?? DEFAULT_STREAM_SILENCE_MS,
        secrets: [config.apiKey],
        ...(req.signal ? { signal: req.signal } : {}),
      })
      return toStreamEvents(raw, name)
    },
  }
}

export function toChatParams(req: ModelRequest, config: ProviderConfig): OpenAI.Chat.ChatCompletionCreateParamsStreaming {
  // Many compatible servers still only know max_tokens; OpenAI deprecated it.
  const limit =
    req.maxOutputTokens === undefined
      ? {}
      : config.kind === 'openai-compatible'
        ? { max_tokens: req.maxOutputTokens }
        : { max_completion_tokens: req.maxOutputTokens }
  return {
    model: config.kind === 'azure-openai' && config.deployment ? config.deployment : req.model,
    stream: true,
    stream_options: { include_usage: true },
    messages: toChatMessages(req.system, req.messages),
    ...(req.tools.length
      ? {
          tools: req.tools.map((t) => ({
            type: 'function' as const,
            function: { name: t.name, description: t.description, parameters: t.inputSchema },
          })),
          parallel_tool_calls: true,
        }
      : {}),
    ...(req.reasoning?.effort ? { reasoning_effort: req.reasoning.effort } : {}),
    ...limit,
  }
}

function toChatMessages(system: string, messages: ModelMessage[]): ChatMessage[] {
  const out: ChatMessage[] = []
  if (system) out.push({ role: 'system', content: system })
  for (const m of messages) {
    switch (m.role) {
      case 'user': {
        const onlyText = m.parts.every((p) => p.type === 'text')
        out.push({
          role: 'user',
          content: onlyText
            ? m.parts.map((p) => (p.type === 'text' ? p.text : '')).join('\n')
            : m.parts.map((p) =>
                p.type === 'text'
                  ? { type: 'text' as const, text: p.text }
                  : { type: 'image_url' as const, image_url: { url: `data:${p.mimeType};base64,${p.data}` } },
              ),
        })
        break
      }
      case 'assistant': {
        const text = m.parts.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('')
        const calls = m.parts.flatMap((p) => (p.type === 'tool_call' ? [p] : []))
        out.push({
          role: 'assistant',
          content: text || null,
          ...(calls.length
            ? {
                tool_calls: calls.map((c) => ({
                  id: c.id,
                  type: 'function' as const,
                  function: { name: c.name, arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments ?? {}) },
                })),
              }
            : {}),
        })
        break
      }
      case 'tool': {
        for (const r of m.results) {
          out.push({ role: 'tool', tool_call_id: r.callId, content: r.isError ? `Error: ${r.content}` : r.content || '(no output)' })
        }
        // Tool messages carry text only: images a tool returned follow as one user message.
        const images = m.results.flatMap((r) => (r.images ?? []).map((img) => ({ ...img, name: r.name })))
        if (images.length) {
          out.push({
            role: 'user',
            content: [
              { type: 'text', text: `Images returned by ${[...new Set(images.map((i) => i.name))].join(', ')}:` },
              ...images.map((img) => ({ type: 'image_url' as const, image_url: { url: `data:${img.mimeType};base64,${img.data}` } })),
            ],
          })
        }
        break
      }
    }
  }
  return out
}

interface PendingCall {
  id: string
  name: string
  args: string
  started: boolean
  ended: boolean
}

async function* toStreamEvents(raw: AsyncIterable<Chunk>, provider: string): AsyncGenerator<StreamEvent> {
  const calls = new Map<number, PendingCall>()
  let finish: string | null = null
  let usage: Usage = emptyUsage()

  function* endCalls(): Generator<StreamEvent> {
    for (const c of calls.values()) {
      if (c.started && !c.ended) {
        c.ended = true
        yield { type: 'tool_call_end', id: c.id, name: c.name, arguments: parseArguments(c.args) }
      }
    }
  }

  for await (const chunk of raw) {
    if (chunk.usage) usage = mapUsage(chunk.usage)
    const choice = chunk.choices?.[0]
    if (!choice) continue
    const delta = choice.delta ?? {}
    // DeepSeek / vLLM / OpenRouter stream reasoning beside content under these names.
    const reasoning = (delta as { reasoning_content?: unknown; reasoning?: unknown }).reasoning_content ?? (delta as { reasoning?: unknown }).reasoning
    if (typeof reasoning === 'string' && reasoning) yield { type: 'reasoning_delta', text: reasoning }
    if (delta.content) yield { type: 'text_delta', text: delta.content }
    for (const tc of delta.tool_calls ?? []) {
      let call = calls.get(tc.index)
      if (!call) {
        call = { id: tc.id ?? `call_${tc.index}`, name: '', args: '', started: false, ended: false }
        calls.set(tc.index, call)
      }
      if (tc.id && !call.started) call.id = tc.id
      if (tc.function?.name) call.name += tc.function.name
      if (!call.started && call.name) {
        call.started = true
        yield { type: 'tool_call_start', id: call.id, name: call.name }
        if (call.args) yield { type: 'tool_call_delta', id: call.id, argumentsDelta: call.args }
      }
      const fragment = tc.function?.arguments
      if (fragment) {
        call.args += fragment
        if (call.started) yield { type: 'tool_call_delta', id: call.id, argumentsDelta: fragment }
      }
    }
    if (choice.finish_reason) {
      finish = choice.finish_reason
      yield* endCalls()
    }
  }
  if (!finish) throw incompleteStream(provider)
  yield { type: 'usage', usage }
  yield { type: 'finish', reason: finishReason(finish, calls.size > 0) }
}

function mapUsage(u: OpenAI.CompletionUsage): Usage {
  return {
    inputTokens: u.prompt_tokens ?? 0,
    outputTokens: u.completion_tokens ?? 0,
    cacheReadTokens: u.prompt_tokens_details?.cached_tokens ?? 0,
    cacheWriteTokens: 0,
    reasoningTokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
  }
}

function finishReason(reason: string, sawToolCalls: boolean): FinishReason {
  switch (reason) {
    case 'tool_calls':
    case 'function_call':
      return 'tool_calls'
    case 'stop':
      // Some compatible servers report "stop" after tool calls.
      return sawToolCalls ? 'tool_calls' : 'stop'
    case 'length':
      return 'length'
    case 'content_filter':
      return 'content_filter'
    default:
      return 'other'
  }
}
