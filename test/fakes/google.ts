// Gemini streamGenerateContent?alt=sse: every `data:` payload is a whole
// GenerateContentResponse; function calls arrive whole; usageMetadata on each chunk.
import type { ScriptedResponse } from './script.ts'
import { splitText, type ErrorReply, type Frame, type Wire } from './server.ts'

function googleFrames(script: ScriptedResponse, body: Record<string, unknown>, n: number): Frame[] {
  const u = script.usage ?? {}
  const model = typeof body['model'] === 'string' ? body['model'] : 'gemini-fake'
  const usageMetadata = (final: boolean) => ({
    promptTokenCount: u.input ?? 10,
    candidatesTokenCount: final ? (u.output ?? 5) : 1,
    totalTokenCount: (u.input ?? 10) + (final ? (u.output ?? 5) + (u.reasoning ?? 0) : 1),
    ...(u.reasoning !== undefined ? { thoughtsTokenCount: u.reasoning } : {}),
    ...(u.cacheRead !== undefined ? { cachedContentTokenCount: u.cacheRead } : {}),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: u.input ?? 10 }],
  })
  const chunk = (parts: Record<string, unknown>[], final = false) =>
    `data: ${JSON.stringify({
      candidates: [{ content: { role: 'model', parts }, index: 0, ...(final ? { finishReason: 'STOP' } : {}) }],
      usageMetadata: usageMetadata(final),
      modelVersion: model,
      responseId: `resp_fake${n}`,
    })}\n\n`

  const steps: Record<string, unknown>[][] = []
  for (const [i, piece] of splitText(script.reasoning ?? '').entries())
    steps.push([{ text: piece, thought: true, ...(i === 0 ? { thoughtSignature: `c2lnX3Rob3VnaHRf${n}` } : {}) }])
  const texts = splitText(script.text ?? '', script.textPieces)
  const calls = script.toolCalls ?? []
  for (const [i, piece] of texts.entries()) {
    // Thinking models sign the first text part when no function call follows.
    const signed = i === 0 && calls.length === 0 && script.reasoning !== undefined
    steps.push([{ text: piece, ...(signed ? { thoughtSignature: `c2lnX3RleHRf${n}` } : {}) }])
  }
  if (calls.length) {
    // Parallel calls come in one chunk; only the first carries the signature.
    steps.push(
      calls.map((call, i) => ({
        functionCall: { name: call.name, args: call.arguments ?? {}, ...(call.id ? { id: call.id } : {}) },
        ...(i === 0 ? { thoughtSignature: `c2lnX2NhbGxf${n}` } : {}),
      })),
    )
  }
  if (steps.length === 0) steps.push([{ text: '' }])
  return steps.map((parts, i) => chunk(parts, i === steps.length - 1))
}

function googleError(fault: { status: number; message?: string; retryAfterSeconds?: number }): ErrorReply {
  const status = fault.status === 529 ? 503 : fault.status
  const shapes: Record<number, [string, string]> = {
    400: ['INVALID_ARGUMENT', 'Request contains an invalid argument.'],
    401: ['UNAUTHENTICATED', 'API key not valid. Please pass a valid API key.'],
    429: ['RESOURCE_EXHAUSTED', 'You exceeded your current quota, please check your plan and billing details.'],
    500: ['INTERNAL', 'An internal error has occurred.'],
    503: ['UNAVAILABLE', 'The model is overloaded. Please try again later.'],
  }
  const [code, message] = shapes[status] ?? ['UNKNOWN', 'error']
  const details =
    fault.retryAfterSeconds !== undefined
      ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${fault.retryAfterSeconds}s` }]
      : []
  return {
    status,
    ...(fault.retryAfterSeconds !== undefined ? { headers: { 'retry-after': String(fault.retryAfterSeconds) } } : {}),
    body: { error: { code: status, message: fault.message ?? message, status: code, details } },
  }
}

export const googleWire: Wire = {
  kind: 'google',
  contentType: 'text/event-stream',
  baseUrl: (origin) => origin,
  handles: (method, path) => method === 'POST' && /:streamGenerateContent$/.test(path.split('?')[0]!),
  frames: (script, body, n) => googleFrames(script, body, n),
  malformed: () => 'data: {"candidates": [{"content": {"role": "model", "parts": [{"text": "x"\n\n',
  error: googleError,
}
