// Gemini through @google/genai. Function calls arrive whole; thoughtSignatures ride
// on parts and must go back unchanged on the same part next turn.
import { GoogleGenAI, type Content, type GenerateContentConfig, type GenerateContentResponse, type Part } from '@google/genai'
import { capturingFetch, withDebugCapture } from './debug-capture.ts'
import { DEFAULT_STREAM_SILENCE_MS, guardStream, incompleteStream } from './stream-guard.ts'
import {
  emptyUsage,
  ProviderError,
  type FinishReason,
  type ModelMessage,
  type ModelProvider,
  type ModelRequest,
  type ProviderConfig,
  type StreamEvent,
  type Usage,
} from './types.ts'

const PROVIDER = 'Google Gemini'
/** Prefix for call ids we invent when Gemini sends none; never sent back as the part's id. */
const GENERATED_ID = 'gemini_call_'

export function createGoogleProvider(config: ProviderConfig): ModelProvider {
  if (!config.apiKey) {
    throw new ProviderError('config', 'Google Gemini needs an API key in the provider settings.', { retryable: false })
  }
  const client = new GoogleGenAI({
    apiKey: config.apiKey,
    // attempts: 1 => the SDK never retries; Cairn's runner does.
    httpOptions: { ...(config.baseUrl ? { baseUrl: config.baseUrl } : {}), retryOptions: { attempts: 1 }, fetch: capturingFetch() },
  })
  return {
    kind: 'google',
    stream(req: ModelRequest): AsyncIterable<StreamEvent> {
      const { contents, config: genConfig } = toGeminiRequest(req)
      const raw = guardStream(
        (signal) => withDebugCapture(req.debug, () => client.models.generateContentStream({ model: req.model, contents, config: { ...genConfig, abortSignal: signal } })),
        {
          provider: PROVIDER,
          silenceMs: config.streamSilenceMs ?? DEFAULT_STREAM_SILENCE_MS,
          secrets: [config.apiKey],
          ...(req.signal ? { signal: req.signal } : {}),
        },
      )
      return toStreamEvents(raw)
    },
  }
}

export function toGeminiRequest(req: ModelRequest): { contents: Content[]; config: GenerateContentConfig } {
  const config: GenerateContentConfig = {
    ...(req.system ? { systemInstruction: req.system } : {}),
    ...(req.tools.length
      ? {
          tools: [
            {
              functionDeclarations: req.tools.map((t) => ({
                name: t.name,
                description: t.description,
                parametersJsonSchema: t.inputSchema,
              })),
            },
          ],
        }
      : {}),
    ...(req.maxOutputTokens !== undefined ? { maxOutputTokens: req.maxOutputTokens } : {}),
    ...(req.reasoning
      ? {
          thinkingConfig: {
            includeThoughts: true,
            ...(req.reasoning.budgetTokens !== undefined ? { thinkingBudget: req.reasoning.budgetTokens } : {}),
          },
        }
      : {}),
  }
  return { contents: toContents(req.messages), config }
}

function toContents(messages: ModelMessage[]): Content[] {
  const out: Content[] = []
  const push = (role: 'user' | 'model', parts: Part[]) => {
    if (parts.length === 0) return
    const last = out.at(-1)
    if (last && last.role === role) last.parts!.push(...parts)
    else out.push({ role, parts })
  }
  for (const m of messages) {
    switch (m.role) {
      case 'user':
        push(
          'user',
          m.parts.map((p): Part => (p.type === 'text' ? { text: p.text } : { inlineData: { mimeType: p.mimeType, data: p.data } })),
        )
        break
      case 'assistant':
        push(
          'model',
          m.parts.flatMap((p): Part[] => {
            const sig = p.signature ? { thoughtSignature: p.signature } : {}
            if (p.type === 'reasoning') return p.text || p.signature ? [{ text: p.text, thought: true, ...sig }] : []
            if (p.type === 'text') return p.text || p.signature ? [{ text: p.text, ...sig }] : []
            return [
              {
                functionCall: {
                  name: p.name,
                  args: (p.arguments && typeof p.arguments === 'object' ? p.arguments : { value: p.arguments }) as Record<string, unknown>,
                  ...(p.id.startsWith(GENERATED_ID) ? {} : { id: p.id }),
                },
                ...sig,
              },
            ]
          }),
        )
        break
      case 'tool':
        push(
          'user',
          m.results.flatMap((r): Part[] => [
            {
              functionResponse: {
                name: r.name,
                ...(r.callId.startsWith(GENERATED_ID) ? {} : { id: r.callId }),
                response: r.isError ? { error: r.content } : { output: r.content },
              },
            },
            ...(r.images ?? []).map((img): Part => ({ inlineData: { mimeType: img.mimeType, data: img.data } })),
          ]),
        )
        break
    }
  }
  return out
}

async function* toStreamEvents(raw: AsyncIterable<GenerateContentResponse>): AsyncGenerator<StreamEvent> {
  let usage: Usage = emptyUsage()
  let finish: string | undefined
  let calls = 0
  let blocked: string | undefined

  for await (const chunk of raw) {
    const u = chunk.usageMetadata
    if (u) {
      // usageMetadata is cumulative: the last chunk holds the totals.
      const thoughts = u.thoughtsTokenCount ?? 0
      usage = {
        inputTokens: (u.promptTokenCount ?? 0) + (u.toolUsePromptTokenCount ?? 0),
        outputTokens: (u.candidatesTokenCount ?? 0) + thoughts,
        cacheReadTokens: u.cachedContentTokenCount ?? 0,
        cacheWriteTokens: 0,
        reasoningTokens: thoughts,
      }
    }
    if (chunk.promptFeedback?.blockReason) blocked = String(chunk.promptFeedback.blockReason)
    const candidate = chunk.candidates?.[0]
    for (const part of candidate?.content?.parts ?? []) {
      if (part.functionCall) {
        const fc = part.functionCall
        const id = fc.id || `${GENERATED_ID}${calls}`
        const name = fc.name ?? ''
        const args = fc.args ?? {}
        calls++
        yield { type: 'tool_call_start', id, name }
        yield { type: 'tool_call_delta', id, argumentsDelta: JSON.stringify(args) }
        yield { type: 'tool_call_end', id, name, arguments: args, ...(part.thoughtSignature ? { signature: part.thoughtSignature } : {}) }
      } else if (typeof part.text === 'string') {
        if (part.thought) {
          if (part.text) yield { type: 'reasoning_delta', text: part.text }
          if (part.thoughtSignature) yield { type: 'reasoning_signature', signature: part.thoughtSignature }
        } else {
          if (part.text) yield { type: 'text_delta', text: part.text }
          if (part.thoughtSignature) yield { type: 'text_signature', signature: part.thoughtSignature }
        }
      } else if (part.thoughtSignature) {
        // A bare signature part (no text) still has to be replayed.
        yield { type: 'text_signature', signature: part.thoughtSignature }
      }
    }
    if (candidate?.finishReason) finish = String(candidate.finishReason)
  }
  if (blocked) {
    throw new ProviderError('content_filter', `${PROVIDER} blocked the prompt (${blocked}).`, { retryable: false })
  }
  if (!finish) throw incompleteStream(PROVIDER)
  yield { type: 'usage', usage }
  yield { type: 'finish', reason: finishReason(finish, calls > 0) }
}

function finishReason(reason: string, sawCalls: boolean): FinishReason {
  switch (reason) {
    case 'STOP':
      return sawCalls ? 'tool_calls' : 'stop'
    case 'MAX_TOKENS':
      return 'length'
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
    case 'IMAGE_SAFETY':
      return 'content_filter'
    default:
      return 'other'
  }
}
