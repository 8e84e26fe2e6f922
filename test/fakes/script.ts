// What a test scripts a fake LLM provider to answer, and the handle it gets back.
import type { ProviderKind } from '../../src/providers/types.ts'
import { anthropicWire, bedrockWire } from './anthropic.ts'
import { googleWire } from './google.ts'
import { openAIChatWire } from './openai-chat.ts'
import { openAIResponsesWire } from './openai-responses.ts'
import { startWireFake } from './server.ts'

export interface ScriptedToolCall {
  id?: string
  name: string
  arguments: unknown
}

export interface ScriptedResponse {
  /** Streamed in several deltas (`textPieces` of them, 3 by default). */
  text?: string
  textPieces?: number
  reasoning?: string
  toolCalls?: ScriptedToolCall[]
  /**
   * Raw numbers as the provider reports them on the wire: `input` is Anthropic's
   * input_tokens (cache excluded) but OpenAI's prompt_tokens / Gemini's
   * promptTokenCount (cache included); `output` excludes Gemini thoughts.
   */
  usage?: { input?: number; output?: number; cacheRead?: number; cacheWrite?: number; reasoning?: number }
  /** Pause between chunks (to simulate a realistic pace / allow interrupts). */
  chunkDelayMs?: number
  /**
   * A status answers with the provider's real JSON error body (OpenAI and Gemini
   * have no 529: they answer 503 "overloaded" / UNAVAILABLE; Bedrock answers its
   * own exception types). 'cut' drops the connection mid-stream after some text;
   * 'silence' sends headers and one chunk, then nothing; 'malformed' sends a chunk
   * that is not valid JSON.
   */
  fault?: { status: 429 | 500 | 529 | 401 | 400; message?: string; retryAfterSeconds?: number } | 'cut' | 'silence' | 'malformed'
}

export type FakeKind = 'anthropic' | 'bedrock' | 'openai-chat' | 'openai-responses' | 'google'

export interface FakeProvider {
  kind: ProviderKind
  /** What to put in ProviderConfig.baseUrl for this SDK. */
  baseUrl: string
  /** Every received request body, parsed JSON, in order. */
  requests: unknown[]
  /** Received headers (tests check the api key arrives). */
  headers: Record<string, string | string[] | undefined>[]
  /** Received request paths with query strings, in order. */
  urls: string[]
  /** Consumed in order, one per request. */
  enqueue(...responses: ScriptedResponse[]): void
  /** Used when the queue is empty (benchmarks, scripted agents deciding from the request). */
  setDefault(fn: (body: unknown) => ScriptedResponse): void
  close(): Promise<void>
}

/**
 * 'bedrock' speaks Bedrock's invoke-with-response-stream (AWS event-stream binary
 * framing around Anthropic events); azure-openai and openai-compatible use the
 * 'openai-chat' / 'openai-responses' fakes (they accept any path prefix).
 */
export function startFakeProvider(kind: FakeKind): Promise<FakeProvider> {
  switch (kind) {
    case 'anthropic':
      return startWireFake(anthropicWire)
    case 'bedrock':
      return startWireFake(bedrockWire)
    case 'openai-chat':
      return startWireFake(openAIChatWire)
    case 'openai-responses':
      return startWireFake(openAIResponsesWire)
    case 'google':
      return startWireFake(googleWire)
  }
}
