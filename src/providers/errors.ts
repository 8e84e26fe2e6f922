// Turns whatever an SDK throws into a ProviderError the runner can act on:
// a kind, whether retrying can help, and a message free of credentials.
import * as Anthropic from '@anthropic-ai/sdk'
import { ApiError as GoogleApiError } from '@google/genai'
import * as OpenAI from 'openai'
import { ProviderError, type ProviderErrorKind } from './types.ts'

export interface ClassifyContext {
  /** Human name of the provider for messages, e.g. "Anthropic". */
  provider?: string
  /** Values that must never appear in a message (API keys, AWS secrets). */
  secrets?: (string | undefined)[]
  /** The caller's signal: if it fired, the failure is an abort whatever the SDK says. */
  signal?: AbortSignal
}

const CONTEXT_WORDING =
  /context[ _-]?length|context[ _-]?window|maximum context|prompt is too long|input is too long|too many tokens|exceeds the maximum number of tokens|input token count.*exceeds|reduce the length of the messages/i
const CONTENT_FILTER_WORDING = /content[ _-]?filter|content management policy|responsible ai|safety system/i
const OVERLOADED_WORDING = /overloaded/i

export function classifyProviderError(err: unknown, ctx: ClassifyContext = {}): ProviderError {
  const error = classify(err, ctx)
  const message = redact(error.message, ctx.secrets)
  if (message === error.message) return error
  return new ProviderError(error.kind, message, {
    retryable: error.retryable,
    ...(error.status !== undefined ? { status: error.status } : {}),
    ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
  })
}

function classify(err: unknown, ctx: ClassifyContext): ProviderError {
  const who = ctx.provider ?? 'The model provider'
  if (err instanceof ProviderError) return err
  if (ctx.signal?.aborted || isAbort(err)) {
    return new ProviderError('aborted', `The request to ${who} was cancelled.`, { retryable: false })
  }

  if (
    err instanceof OpenAI.APIConnectionError ||
    err instanceof Anthropic.APIConnectionError
  ) {
    const timedOut = err instanceof OpenAI.APIConnectionTimeoutError || err instanceof Anthropic.APIConnectionTimeoutError
    return new ProviderError(
      'timeout',
      timedOut
        ? `${who} did not answer in time; the request will be retried.`
        : `Could not reach ${who} (${causeText(err)}); check the base URL and network.`,
      { retryable: true },
    )
  }

  if (err instanceof OpenAI.APIError || err instanceof Anthropic.APIError) {
    const body = (err as { error?: unknown }).error
    return fromHttp(who, err.status, providerMessage(body) ?? err.message, errorType(body), retryAfterFromHeaders(err.headers))
  }

  if (err instanceof GoogleApiError) {
    const parsed = parseGoogleErrorMessage(err.message)
    return fromHttp(who, err.status, parsed.message ?? err.message, parsed.status, parsed.retryAfterMs)
  }

  if (err instanceof SyntaxError || (err instanceof Error && /parse|Incomplete JSON|malformed/i.test(err.message))) {
    return new ProviderError('unknown', `${who} sent a response that could not be parsed (${err.message}); retrying may help.`, {
      retryable: true,
    })
  }

  if (isNetworkError(err)) {
    return new ProviderError('timeout', `The connection to ${who} dropped (${causeText(err)}); the request can be retried.`, {
      retryable: true,
    })
  }

  const message = err instanceof Error ? err.message : String(err)
  return new ProviderError('unknown', `${who} failed: ${message}`, { retryable: false })
}

/** Maps an HTTP status (or an in-stream error with no status) to a kind. */
export function fromHttp(
  who: string,
  status: number | undefined,
  message: string,
  type: string | undefined,
  retryAfterMs: number | undefined,
): ProviderError {
  const detail = message.trim().replace(/\.+$/, '') || 'no details given'
  const init = (retryable: boolean) => ({
    retryable,
    ...(status !== undefined ? { status } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  })
  const typeText = `${type ?? ''} ${detail}`
  const kind = kindOf(status, typeText)
  const text: Record<ProviderErrorKind, string> = {
    rate_limit: `${who} rate limit reached: ${detail}`,
    overloaded: `${who} is overloaded: ${detail}`,
    timeout: `${who} timed out: ${detail}`,
    stream_silence: `${who} stopped sending: ${detail}`,
    auth: `${who} rejected the credentials (${status ?? 'no status'}): ${detail}. Check the API key or credentials configured for this provider.`,
    config: `${who} rejected the request (${status ?? 'no status'}): ${detail}. Check the model name, base URL and provider settings.`,
    context_window_exceeded: `The conversation is too long for the model's context window: ${detail}. Compact the chat or choose a model with a larger window.`,
    content_filter: `${who} refused the request under its content policy: ${detail}`,
    aborted: `The request to ${who} was cancelled.`,
    unknown: `${who} returned an error${status ? ` (${status})` : ''}: ${detail}`,
  }
  return new ProviderError(kind, text[kind], init(isRetryable(kind, status)))
}

function kindOf(status: number | undefined, text: string): ProviderErrorKind {
  if (status === 429 || /rate_limit|RESOURCE_EXHAUSTED|ThrottlingException/i.test(text)) return 'rate_limit'
  if (status === 529 || /overloaded_error|UNAVAILABLE|ServiceUnavailable|ModelNotReady/i.test(text) || (status === 503 && OVERLOADED_WORDING.test(text)))
    return 'overloaded'
  if (status === 503) return 'overloaded'
  if (status === 401 || status === 403 || /authentication_error|permission_error|UNAUTHENTICATED|PERMISSION_DENIED|invalid_api_key/i.test(text))
    return 'auth'
  if (status === 408 || status === 504 || /DEADLINE_EXCEEDED|timeout/i.test(text)) return 'timeout'
  if (status === 413 || /context_length_exceeded/.test(text) || CONTEXT_WORDING.test(text)) return 'context_window_exceeded'
  if ((status === 400 || status === undefined) && CONTENT_FILTER_WORDING.test(text)) return 'content_filter'
  if (status === 404) return 'config'
  return 'unknown'
}

function isRetryable(kind: ProviderErrorKind, status: number | undefined): boolean {
  switch (kind) {
    case 'rate_limit':
    case 'overloaded':
    case 'timeout':
    case 'stream_silence':
      return true
    case 'unknown':
      // 5xx and in-stream errors without a status are transient more often than not.
      return status === undefined || status >= 500 || status === 409
    default:
      return false
  }
}

function retryAfterFromHeaders(headers: unknown): number | undefined {
  if (!headers || typeof (headers as Headers).get !== 'function') return undefined
  const h = headers as Headers
  const ms = Number(h.get('retry-after-ms'))
  if (h.get('retry-after-ms') && Number.isFinite(ms) && ms >= 0) return ms
  return parseRetryAfter(h.get('retry-after'))
}

export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000)
  const date = Date.parse(value)
  if (!Number.isNaN(date)) return Math.max(0, date - Date.now())
  return undefined
}

function providerMessage(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined
  const b = body as { message?: unknown; error?: unknown }
  if (typeof b.message === 'string') return b.message
  if (b.error && typeof b.error === 'object') return providerMessage(b.error)
  return undefined
}

function errorType(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined
  const b = body as { type?: unknown; code?: unknown; error?: unknown }
  const inner = b.error && typeof b.error === 'object' ? errorType(b.error) : undefined
  return [b.type, b.code, inner].filter((x) => typeof x === 'string').join(' ') || undefined
}

/** @google/genai puts the whole JSON error body in the message; RetryInfo carries the delay. */
function parseGoogleErrorMessage(message: string): { message?: string; status?: string; retryAfterMs?: number } {
  const start = message.indexOf('{')
  if (start < 0) return {}
  try {
    const body = JSON.parse(message.slice(start)) as {
      error?: { message?: string; status?: string; details?: { '@type'?: string; retryDelay?: string }[] }
    }
    const delay = body.error?.details?.find((d) => d['@type']?.endsWith('google.rpc.RetryInfo'))?.retryDelay
    const seconds = delay ? Number.parseFloat(delay) : Number.NaN
    return {
      ...(body.error?.message !== undefined ? { message: body.error.message } : {}),
      ...(body.error?.status !== undefined ? { status: body.error.status } : {}),
      ...(Number.isFinite(seconds) ? { retryAfterMs: Math.round(seconds * 1000) } : {}),
    }
  } catch {
    return {}
  }
}

function isAbort(err: unknown): boolean {
  if (err instanceof OpenAI.APIUserAbortError || err instanceof Anthropic.APIUserAbortError) return true
  return err instanceof Error && err.name === 'AbortError'
}

function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code ?? (err.cause as { code?: unknown } | undefined)?.code
  return (
    (err instanceof TypeError && /terminated|fetch failed|network/i.test(err.message)) ||
    (typeof code === 'string' && /^(ECONN|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|UND_ERR)/.test(code))
  )
}

function causeText(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as Error | undefined) : undefined
  const code = (cause as { code?: unknown } | undefined)?.code
  return [err instanceof Error ? err.message : String(err), cause?.message, typeof code === 'string' ? code : undefined]
    .filter(Boolean)
    .join(': ')
}

const KEY_SHAPES = [/sk-[A-Za-z0-9_*-]{8,}/g, /AIza[0-9A-Za-z_-]{20,}/g, /Bearer\s+[A-Za-z0-9._~+/-]+=*/g, /AKIA[0-9A-Z]{12,}/g]

/** Removes credentials, including the partial keys some providers echo back in 401 bodies. */
export function redact(message: string, secrets: (string | undefined)[] = []): string {
  let out = message
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue
    out = out.split(secret).join('[redacted]')
    // Providers echo keys partially ("sk-abc...wxyz"): drop any 8+ char prefix or suffix too.
    if (secret.length >= 12) {
      out = out.split(secret.slice(0, 8)).join('[redacted]').split(secret.slice(-6)).join('[redacted]')
    }
  }
  for (const shape of KEY_SHAPES) out = out.replace(shape, '[redacted]')
  return out
}
