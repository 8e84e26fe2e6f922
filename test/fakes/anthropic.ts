// Anthropic Messages streaming (named SSE events) and the same events wrapped in
// Bedrock's AWS event-stream binary framing for invoke-with-response-stream.
import { crc32 } from 'node:zlib'
import type { ScriptedResponse } from './script.ts'
import { splitText, sse, type ErrorReply, type Frame, type Wire } from './server.ts'

type AnthropicEvent = { type: string } & Record<string, unknown>

export function anthropicEvents(script: ScriptedResponse, body: Record<string, unknown>, n: number): AnthropicEvent[] {
  const u = script.usage ?? {}
  const input = u.input ?? 10
  const output = u.output ?? 5
  const cache = { cache_read_input_tokens: u.cacheRead ?? 0, cache_creation_input_tokens: u.cacheWrite ?? 0 }
  const events: AnthropicEvent[] = [
    {
      type: 'message_start',
      message: {
        id: `msg_fake_${n}`,
        type: 'message',
        role: 'assistant',
        model: body['model'] ?? 'claude-fake',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: input, output_tokens: 1, ...cache },
      },
    },
    { type: 'ping' },
  ]
  let index = 0
  if (script.reasoning) {
    events.push({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } })
    for (const piece of splitText(script.reasoning))
      events.push({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: piece } })
    events.push({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: `sig_thinking_${n}` } })
    events.push({ type: 'content_block_stop', index })
    index++
  }
  if (script.text || !script.toolCalls?.length) {
    events.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } })
    for (const piece of splitText(script.text ?? '', script.textPieces))
      events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } })
    events.push({ type: 'content_block_stop', index })
    index++
  }
  for (const [i, call] of (script.toolCalls ?? []).entries()) {
    const id = call.id ?? `toolu_fake_${n}_${i}`
    events.push({ type: 'content_block_start', index, content_block: { type: 'tool_use', id, name: call.name, input: {} } })
    for (const piece of splitText(JSON.stringify(call.arguments ?? {}), 2))
      events.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } })
    events.push({ type: 'content_block_stop', index })
    index++
  }
  events.push({
    type: 'message_delta',
    delta: { stop_reason: script.toolCalls?.length ? 'tool_use' : 'end_turn', stop_sequence: null },
    usage: { output_tokens: output, input_tokens: input, ...cache },
  })
  events.push({ type: 'message_stop' })
  return events
}

function anthropicError(fault: { status: number; message?: string; retryAfterSeconds?: number }): ErrorReply {
  const type: Record<number, string> = {
    400: 'invalid_request_error',
    401: 'authentication_error',
    429: 'rate_limit_error',
    500: 'api_error',
    529: 'overloaded_error',
  }
  const fallback: Record<number, string> = {
    400: 'Invalid request',
    401: 'invalid x-api-key',
    429: 'Number of request tokens has exceeded your per-minute rate limit',
    500: 'Internal server error',
    529: 'Overloaded',
  }
  return {
    status: fault.status,
    headers: {
      'request-id': 'req_fake',
      ...(fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {}),
    },
    body: {
      type: 'error',
      error: { type: type[fault.status] ?? 'api_error', message: fault.message ?? fallback[fault.status] ?? 'error' },
      request_id: 'req_fake',
    },
  }
}

export const anthropicWire: Wire = {
  kind: 'anthropic',
  contentType: 'text/event-stream; charset=utf-8',
  responseHeaders: { 'request-id': 'req_fake' },
  baseUrl: (origin) => origin,
  handles: (method, path) => method === 'POST' && path.split('?')[0] === '/v1/messages',
  frames: (script, body, n) => anthropicEvents(script, body, n).map((e) => sse(e, e.type)),
  malformed: () => 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_del\n\n',
  error: anthropicError,
}

// --- Bedrock -------------------------------------------------------------------

/** One AWS event-stream message: prelude, CRC, string headers, payload, CRC. */
export function eventStreamMessage(headers: Record<string, string>, payload: Uint8Array): Uint8Array {
  const headerBytes = Buffer.concat(
    Object.entries(headers).map(([name, value]) => {
      const n = Buffer.from(name, 'utf8')
      const v = Buffer.from(value, 'utf8')
      const out = Buffer.alloc(1 + n.length + 1 + 2 + v.length)
      out.writeUInt8(n.length, 0)
      n.copy(out, 1)
      out.writeUInt8(7, 1 + n.length) // 7 = string
      out.writeUInt16BE(v.length, 2 + n.length)
      v.copy(out, 4 + n.length)
      return out
    }),
  )
  const total = 12 + headerBytes.length + payload.length + 4
  const message = Buffer.alloc(total)
  message.writeUInt32BE(total, 0)
  message.writeUInt32BE(headerBytes.length, 4)
  message.writeUInt32BE(crc32(message.subarray(0, 8)), 8)
  headerBytes.copy(message, 12)
  Buffer.from(payload).copy(message, 12 + headerBytes.length)
  message.writeUInt32BE(crc32(message.subarray(0, total - 4)), total - 4)
  return message
}

function bedrockChunk(json: string): Uint8Array {
  const payload = JSON.stringify({ bytes: Buffer.from(json, 'utf8').toString('base64'), p: 'abcdefghijklmnopqrstuvwxyz' })
  return eventStreamMessage(
    { ':event-type': 'chunk', ':content-type': 'application/json', ':message-type': 'event' },
    Buffer.from(payload, 'utf8'),
  )
}

function bedrockError(fault: { status: number; message?: string; retryAfterSeconds?: number }): ErrorReply {
  // Bedrock's own exceptions: throttling 429, unavailable 503, bad signature 403.
  const map: Record<number, [number, string, string]> = {
    400: [400, 'ValidationException', 'Malformed input request'],
    401: [403, 'UnrecognizedClientException', 'The security token included in the request is invalid.'],
    429: [429, 'ThrottlingException', 'Too many requests, please wait before trying again.'],
    500: [500, 'InternalServerException', 'Internal server error'],
    529: [503, 'ServiceUnavailableException', 'Bedrock is unable to process your request.'],
  }
  const [status, type, message] = map[fault.status] ?? [fault.status, 'InternalServerException', 'error']
  return {
    status,
    headers: {
      'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
      'x-amzn-requestid': 'fake-request-id',
      ...(fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {}),
    },
    body: { message: fault.message ?? message },
  }
}

export const bedrockWire: Wire = {
  kind: 'bedrock',
  contentType: 'application/vnd.amazon.eventstream',
  responseHeaders: { 'x-amzn-requestid': 'fake-request-id', 'x-amzn-bedrock-content-type': 'application/json' },
  baseUrl: (origin) => origin,
  handles: (method, path) => method === 'POST' && /^\/model\/[^/]+\/invoke-with-response-stream$/.test(path.split('?')[0]!),
  frames: (script, body, n): Frame[] =>
    anthropicEvents(script, { model: 'anthropic.claude-fake', ...body }, n).map((e) => bedrockChunk(JSON.stringify(e))),
  malformed: () => bedrockChunk('{"type":"content_block_delta","index":0,'),
  error: bedrockError,
}
