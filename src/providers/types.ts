// The one streaming interface every LLM adapter implements. The agent runner codes
// against these types only; nothing provider-specific leaks past src/providers/.
import type { DebugCapture } from './debug-capture.ts'

export type ProviderKind =
  | 'anthropic'
  | 'bedrock'
  | 'openai-chat'
  | 'openai-responses'
  | 'azure-openai'
  | 'google'
  | 'openai-compatible'

export interface ProviderConfig {
  kind: ProviderKind
  /** Never logged, never put in errors. */
  apiKey?: string
  baseUrl?: string
  // azure-openai: apiVersion, deployment; bedrock: region, awsAccessKeyId, awsSecretAccessKey, awsSessionToken
  apiVersion?: string
  deployment?: string
  region?: string
  awsAccessKeyId?: string
  awsSecretAccessKey?: string
  awsSessionToken?: string
  /** For openai-compatible / azure-openai: which OpenAI API to use (default chat). */
  api?: 'chat' | 'responses'
  /** Default 120_000: no chunk for this long => ProviderError kind 'stream_silence'. */
  streamSilenceMs?: number
}

export type UserPart = { type: 'text'; text: string } | { type: 'image'; mimeType: string; data: string /* base64 */ }

/**
 * `signature` is opaque provider state that must be sent back unchanged:
 * Anthropic thinking signatures, Gemini thoughtSignatures, OpenAI Responses
 * reasoning encrypted_content. A `redacted` reasoning part (Anthropic
 * redacted_thinking) has empty text and carries its opaque data in `signature`.
 */
export type AssistantPart =
  | { type: 'text'; text: string; signature?: string }
  | { type: 'reasoning'; text: string; signature?: string; redacted?: boolean }
  | { type: 'tool_call'; id: string; name: string; arguments: unknown; signature?: string }

export type ToolResultPart = {
  callId: string
  name: string
  content: string
  images?: { mimeType: string; data: string }[]
  isError: boolean
}

export type ModelMessage =
  | { role: 'user'; parts: UserPart[] }
  | { role: 'assistant'; parts: AssistantPart[] }
  | { role: 'tool'; results: ToolResultPart[] }

export interface ToolDefinition {
  name: string
  description: string
  inputSchema: Record<string, unknown> /* JSON Schema object */
}

export interface ModelRequest {
  model: string
  system: string
  messages: ModelMessage[]
  tools: ToolDefinition[]
  maxOutputTokens?: number
  signal?: AbortSignal
  /**
   * Extension (optional): ask the model to think. Anthropic: extended thinking with
   * budgetTokens; OpenAI: reasoning effort (+ summaries, encrypted content);
   * Gemini: thinkingConfig with thought summaries.
   */
  reasoning?: { effort?: 'low' | 'medium' | 'high'; budgetTokens?: number }
  /** Chat debug logging is on for this request: its HTTP exchange goes here (src/providers/debug-capture.ts). */
  debug?: DebugCapture
}

/**
 * Totals for one response. inputTokens counts the whole prompt, cached parts
 * included (cacheRead/cacheWrite are subsets of it); outputTokens counts every
 * generated token, reasoning included (reasoningTokens is a subset of it).
 */
export interface Usage {
  inputTokens: number
  outputTokens: number
  cacheReadTokens: number
  cacheWriteTokens: number
  reasoningTokens: number
}

export type FinishReason = 'stop' | 'tool_calls' | 'length' | 'content_filter' | 'other'

/**
 * Part boundaries: a `reasoning_signature` closes the reasoning part it follows
 * (`redacted: true` marks an Anthropic redacted_thinking block whose opaque data is
 * the signature); a `text_signature` belongs to the text streamed just before it.
 */
export type StreamEvent =
  | { type: 'text_delta'; text: string }
  | { type: 'text_signature'; signature: string } // Gemini thoughtSignature on a text part
  | { type: 'reasoning_delta'; text: string }
  | { type: 'reasoning_signature'; signature: string; redacted?: boolean }
  | { type: 'tool_call_start'; id: string; name: string }
  | { type: 'tool_call_delta'; id: string; argumentsDelta: string }
  | { type: 'tool_call_end'; id: string; name: string; arguments: unknown; signature?: string }
  | { type: 'usage'; usage: Usage }
  | { type: 'finish'; reason: FinishReason }

export interface ModelProvider {
  readonly kind: ProviderKind
  stream(req: ModelRequest): AsyncIterable<StreamEvent>
}

export type ProviderErrorKind =
  | 'rate_limit'
  | 'overloaded'
  | 'timeout'
  | 'stream_silence'
  | 'auth'
  | 'config'
  | 'context_window_exceeded'
  | 'content_filter'
  | 'aborted'
  | 'unknown'

export interface ProviderErrorInit {
  retryable: boolean
  status?: number
  retryAfterMs?: number
}

/** A provider failure as a value: a kind the runner can branch on and a message a user can act on. */
export class ProviderError extends Error {
  readonly kind: ProviderErrorKind
  readonly retryable: boolean
  readonly status?: number
  readonly retryAfterMs?: number

  constructor(kind: ProviderErrorKind, message: string, init: ProviderErrorInit) {
    super(message)
    this.name = 'ProviderError'
    this.kind = kind
    this.retryable = init.retryable
    if (init.status !== undefined) this.status = init.status
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs
  }
}

export function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }
}
