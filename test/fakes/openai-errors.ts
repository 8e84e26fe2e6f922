// OpenAI's JSON error bodies, shared by the Chat Completions and Responses fakes.
import type { ErrorReply } from './server.ts'

export function openAIError(fault: { status: number; message?: string; retryAfterSeconds?: number }): ErrorReply {
  // OpenAI has no 529: an overloaded engine answers 503.
  const status = fault.status === 529 ? 503 : fault.status
  const shapes: Record<number, { type: string; code: string | null; message: string }> = {
    400: { type: 'invalid_request_error', code: null, message: 'Invalid request' },
    401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided.' },
    429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests' },
    500: { type: 'server_error', code: null, message: 'The server had an error while processing your request.' },
    503: { type: 'server_error', code: null, message: 'The engine is currently overloaded, please try again later.' },
  }
  const shape = shapes[status] ?? { type: 'server_error', code: null, message: 'error' }
  return {
    status,
    headers: {
      'x-request-id': 'req_fake',
      ...(fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {}),
    },
    body: { error: { message: fault.message ?? shape.message, type: shape.type, param: null, code: shape.code } },
  }
}
