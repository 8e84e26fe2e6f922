// Anthropic Messages streaming, for the first-party API and for Bedrock (same
// event stream once the Bedrock SDK has transcoded AWS event-stream framing).
import Anthropic from '@anthropic-ai/sdk'
import { AnthropicBedrock } from '@anthropic-ai/bedrock-sdk'
import { capturingFetch, withDebugCapture } from './debug-capture.ts'
import { DEFAULT_STREAM_SILENCE_MS, guardStream, incompleteStream, parseArguments } from './stream-guard.ts'
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

type Client = Anthropic | AnthropicBedrock
const DEFAULT_MAX_TOKENS = 16_000

export function createAnthropicProvider(config: ProviderConfig): ModelProvider {
  const client = new Anthropic({
    apiKey: config.apiKey ?? null,
    ...(config.baseUrl ? { baseURL: config.baseUrl } : {}),
    maxRetries: 0,
    fetch: capturingFetch(),
  })
  return anthropicMessagesProvider('anthropic', 'Anthropic', client, config, [config.apiKey])
}

export function createBedrockProvider(config: ProviderConfig): ModelProvider {
  if (!config.region) {
    throw new ProviderError('config', 'Bedrock needs a region (for example us-east-1) in the provider settings.', {
      retryable: false,
    })
  }
  const common = {
    awsRegion: config.region,
    // A Bedrock API key (bearer) if given; otherwise SigV4 with the AWS credentials.
    apiKey: config.apiKey ?? null,
    ...(config.baseUrl ? { baseURL: config.baseUrl } : {}),
    maxRetries: 0,
    fetch: capturingFetch(),
  }
  const client =
    config.awsAccessKeyId && config.awsSecretAccessKey
      ? new AnthropicBedrock({
          ...common,
          awsAccessKey: config.awsAccessKeyId,
          awsSecretKey: config.awsSecretAccessKey,
          awsSessionToken: config.awsSessionToken ?? null,
        })
      : new AnthropicBedrock(common)
  return anthropicMessagesProvider('bedrock', 'Amazon Bedrock', client, config, [
    config.apiKey,
    config.awsSecretAccessKey,
    config.awsSessionToken,
  ])
}

function anthropicMessagesProvider(
  kind: 'anthropic' | 'bedrock',
  name: string,
  client: Client,
  config: ProviderConfig,
  secrets: (string | undefined)[],
): ModelProvider {
  return {
    kind,
    stream(req: ModelRequest): AsyncIterable<StreamEvent> {
      const raw = guardStream(
        (signal) => withDebugCapture(req.debug, () => client.messages.create({ ...toAnthropicParams(req), stream: true }, { signal })),
        {
          provider: name,
          silenceMs: config.streamSilenceMs ?? DEFAULT_STREAM_SILENCE_MS,
          secrets,
          ...(req.signal ? { signal: req.signal } : {}),
        },
      )
      return toStreamEvents(raw, name)
    },
  }
}

export function toAnthropicParams(req: ModelRequest): Anthropic.MessageCreateParamsStreaming {
  const budget = req.reasoning ? (req.reasoning.budgetTokens ?? budgetForEffort(req.reasoning.effort)) : undefined
  const maxTokens = Math.max(req.maxOutputTokens ?? DEFAULT_MAX_TOKENS, budget !== undefined ? budget + 1024 : 0)
  const messages = toAnthropicMessages(req.messages)
  markCacheBreakpoint(messages)
  return {
    model: req.model,
    max_tokens: maxTokens,
    stream: true,
    messages,
    ...(req.system ? { system: [{ type: 'text', text: req.system, cache_control: { type: 'ephemeral' } }] } : {}),
    ...(req.tools.length
      ? {
          tools: req.tools.map((t) => ({
            name: t.name,
            description: t.description,
            input_schema: t.inputSchema as Anthropic.Tool.InputSchema,
          })),
        }
      : {}),
    ...(budget !== undefined ? { thinking: { type: 'enabled', budget_tokens: budget } } : {}),
  }
}

function budgetForEffort(effort: 'low' | 'medium' | 'high' | undefined): number {
  return effort === 'high' ? 32_000 : effort === 'low' ? 2_048 : 8_192
}

function toAnthropicMessages(messages: ModelMessage[]): Anthropic.MessageParam[] {
  const out: Anthropic.MessageParam[] = []
  const push = (role: 'user' | 'assistant', blocks: Anthropic.ContentBlockParam[]) => {
    if (blocks.length === 0) return
    const last = out.at(-1)
    // Tool results and a following user message must share one user turn.
    if (last && last.role === role && Array.isArray(last.content)) last.content.push(...blocks)
    else out.push({ role, content: blocks })
  }
  for (const m of messages) {
    switch (m.role) {
      case 'user':
        push(
          'user',
          m.parts.map((p): Anthropic.ContentBlockParam =>
            p.type === 'text' ? { type: 'text', text: p.text } : imageBlock(p.mimeType, p.data),
          ),
        )
        break
      case 'assistant': {
        const blocks: Anthropic.ContentBlockParam[] = []
        for (const p of m.parts) {
          if (p.type === 'reasoning') {
            if (p.redacted) blocks.push({ type: 'redacted_thinking', data: p.signature ?? '' })
            else if (p.signature) blocks.push({ type: 'thinking', thinking: p.text, signature: p.signature })
            // Unsigned reasoning (from another provider) cannot be replayed as thinking: drop it.
          } else if (p.type === 'text') {
            if (p.text) blocks.push({ type: 'text', text: p.text })
          } else {
            blocks.push({ type: 'tool_use', id: p.id, name: p.name, input: p.arguments ?? {} })
          }
        }
        push('assistant', blocks)
        break
      }
      case 'tool':
        push(
          'user',
          m.results.map(
            (r): Anthropic.ToolResultBlockParam => ({
              type: 'tool_result',
              tool_use_id: r.callId,
              is_error: r.isError,
              content: [
                { type: 'text', text: r.content || '(no output)' },
                ...(r.images ?? []).map((img) => imageBlock(img.mimeType, img.data)),
              ],
            }),
          ),
        )
        break
    }
  }
  return out
}

function imageBlock(mimeType: string, data: string): Anthropic.ImageBlockParam {
  return {
    type: 'image',
    source: { type: 'base64', media_type: mimeType as Anthropic.Base64ImageSource['media_type'], data },
  }
}

/** One cache breakpoint on the newest block: the whole prefix is reused next step. */
function markCacheBreakpoint(messages: Anthropic.MessageParam[]): void {
  const last = messages.at(-1)
  if (!last || !Array.isArray(last.content)) return
  const block = last.content.at(-1)
  if (block && (block.type === 'text' || block.type === 'tool_result' || block.type === 'image')) {
    block.cache_control = { type: 'ephemeral' }
  }
}

type Block =
  | { kind: 'text' }
  | { kind: 'thinking'; signature: string }
  | { kind: 'tool'; id: string; name: string; json: string }
  | { kind: 'other' }

async function* toStreamEvents(
  raw: AsyncIterable<Anthropic.RawMessageStreamEvent>,
  provider: string,
): AsyncGenerator<StreamEvent> {
  const blocks = new Map<number, Block>()
  const usage: Usage = emptyUsage()
  let wire = { input: 0, cacheRead: 0, cacheWrite: 0, output: 0 }
  let stopReason: string | null = null
  let stopped = false

  for await (const event of raw) {
    switch (event.type) {
      case 'message_start': {
        const u = event.message.usage
        wire = {
          input: u.input_tokens ?? 0,
          cacheRead: u.cache_read_input_tokens ?? 0,
          cacheWrite: u.cache_creation_input_tokens ?? 0,
          output: u.output_tokens ?? 0,
        }
        break
      }
      case 'content_block_start': {
        const b = event.content_block
        if (b.type === 'text') {
          blocks.set(event.index, { kind: 'text' })
          if (b.text) yield { type: 'text_delta', text: b.text }
        } else if (b.type === 'thinking') {
          blocks.set(event.index, { kind: 'thinking', signature: b.signature ?? '' })
          if (b.thinking) yield { type: 'reasoning_delta', text: b.thinking }
        } else if (b.type === 'redacted_thinking') {
          blocks.set(event.index, { kind: 'other' })
          yield { type: 'reasoning_signature', signature: b.data, redacted: true }
        } else if (b.type === 'tool_use') {
          blocks.set(event.index, { kind: 'tool', id: b.id, name: b.name, json: '' })
          yield { type: 'tool_call_start', id: b.id, name: b.name }
        } else {
          blocks.set(event.index, { kind: 'other' })
        }
        break
      }
      case 'content_block_delta': {
        const block = blocks.get(event.index)
        const d = event.delta
        if (d.type === 'text_delta') yield { type: 'text_delta', text: d.text }
        else if (d.type === 'thinking_delta') yield { type: 'reasoning_delta', text: d.thinking }
        else if (d.type === 'signature_delta' && block?.kind === 'thinking') block.signature += d.signature
        else if (d.type === 'input_json_delta' && block?.kind === 'tool') {
          block.json += d.partial_json
          if (d.partial_json) yield { type: 'tool_call_delta', id: block.id, argumentsDelta: d.partial_json }
        }
        break
      }
      case 'content_block_stop': {
        const block = blocks.get(event.index)
        if (block?.kind === 'thinking') yield { type: 'reasoning_signature', signature: block.signature }
        else if (block?.kind === 'tool')
          yield { type: 'tool_call_end', id: block.id, name: block.name, arguments: parseArguments(block.json) }
        break
      }
      case 'message_delta': {
        stopReason = event.delta.stop_reason ?? stopReason
        const u = event.usage
        // message_delta usage is cumulative; input counts appear here on some deployments.
        wire.output = u.output_tokens ?? wire.output
        if (u.input_tokens != null) wire.input = u.input_tokens
        if (u.cache_read_input_tokens != null) wire.cacheRead = u.cache_read_input_tokens
        if (u.cache_creation_input_tokens != null) wire.cacheWrite = u.cache_creation_input_tokens
        break
      }
      case 'message_stop':
        stopped = true
        break
    }
  }
  if (!stopped) throw incompleteStream(provider)
  usage.inputTokens = wire.input + wire.cacheRead + wire.cacheWrite
  usage.cacheReadTokens = wire.cacheRead
  usage.cacheWriteTokens = wire.cacheWrite
  usage.outputTokens = wire.output
  yield { type: 'usage', usage }
  yield { type: 'finish', reason: finishReason(stopReason) }
}

function finishReason(stop: string | null): FinishReason {
  switch (stop) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop'
    case 'tool_use':
      return 'tool_calls'
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length'
    case 'refusal':
      return 'content_filter'
    default:
      return 'other'
  }
}
