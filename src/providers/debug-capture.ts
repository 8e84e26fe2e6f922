// Chat debug logs, provider side: every SDK client gets `capturingFetch`, which records the
// HTTP exchange of a request made inside `withDebugCapture(capture, …)` and is plain `fetch`
// for every other request (one AsyncLocalStorage lookup). The response body is teed: the SDK
// reads its branch as it would the original; ours is read alongside and never holds it up.
import { AsyncLocalStorage } from 'node:async_hooks'

/** One provider HTTP exchange as captured at the edge; secret headers are already dropped, bodies are not yet redacted. */
export interface ProviderExchange {
  method: string
  /** Path and query of the request URL (a `key` query parameter is masked). */
  urlPath: string
  requestHeaders: Record<string, string>
  requestBody: string | null
  requestTruncated: boolean
  /** Null when no response arrived (a connection error, an abort before the headers). */
  status: number | null
  responseHeaders: Record<string, string>
  /** The body as received: SSE text, JSON, or decoded AWS event-stream frames. */
  responseBody: string
  responseTruncated: boolean
  error: string | null
  startedAt: Date
  firstByteMs: number | null
  durationMs: number
}

/** Where a captured exchange goes (src/debuglog/recorder.ts redacts and stores it). */
export interface DebugCapture {
  record(exchange: ProviderExchange): void
}

/** Bodies past this many bytes are cut (and marked truncated). */
export const DEBUG_BODY_LIMIT = 1024 * 1024

/** Never stored, whatever else is: credentials of every provider. */
const SECRET_HEADERS = new Set(['authorization', 'x-api-key', 'x-goog-api-key', 'api-key', 'proxy-authorization', 'cookie', 'set-cookie', 'x-amz-security-token'])
/** The headers worth keeping for diagnosis. */
const KEPT_HEADER = /^(content-type|accept|user-agent|anthropic-version|anthropic-beta|retry-after|request-id|x-request-id|server-timing|x-stainless-.*|x-goog-api-client|openai-.*|x-ratelimit-.*|anthropic-ratelimit-.*|x-amzn-requestid|x-amzn-errortype|x-amzn-bedrock-.*)$/

const scope = new AsyncLocalStorage<DebugCapture>()

/** Runs `open` (which starts the SDK request) so that the request's exchange goes to `capture`; without one, just runs it. */
export function withDebugCapture<T>(capture: DebugCapture | undefined, open: () => T): T {
  return capture ? scope.run(capture, open) : open()
}

/** A `fetch` for the SDK clients' `fetch` option. */
export function capturingFetch(base?: typeof fetch): typeof fetch {
  return (input, init) => {
    const capture = scope.getStore()
    if (!capture) return (base ?? globalThis.fetch)(input, init)
    return captured(base ?? globalThis.fetch, capture, input, init)
  }
}

async function captured(base: typeof fetch, capture: DebugCapture, input: RequestInfo | URL, init: RequestInit | undefined): Promise<Response> {
  const startedAt = new Date()
  const t0 = performance.now()
  const request = input instanceof Request ? input : null
  const url = new URL(request ? request.url : String(input))
  if (url.searchParams.has('key')) url.searchParams.set('key', 'redacted')
  const requestBody = await requestText(request, init)
  const exchange: ProviderExchange = {
    method: (init?.method ?? request?.method ?? 'GET').toUpperCase(),
    urlPath: url.pathname + url.search,
    requestHeaders: keptHeaders(new Headers(init?.headers ?? request?.headers)),
    requestBody: requestBody === null ? null : cut(requestBody).text,
    requestTruncated: requestBody !== null && cut(requestBody).truncated,
    status: null,
    responseHeaders: {},
    responseBody: '',
    responseTruncated: false,
    error: null,
    startedAt,
    firstByteMs: null,
    durationMs: 0,
  }
  const done = (error?: unknown) => {
    if (error !== undefined && exchange.error === null) exchange.error = error instanceof Error ? error.message : String(error)
    exchange.durationMs = Math.round(performance.now() - t0)
    capture.record(exchange)
  }
  let response: Response
  try {
    response = await base(input, init)
  } catch (err) {
    done(err)
    throw err
  }
  exchange.status = response.status
  exchange.firstByteMs = Math.round(performance.now() - t0)
  exchange.responseHeaders = keptHeaders(response.headers)
  if (!response.body) {
    done()
    return response
  }
  const [forSdk, forLog] = response.body.tee()
  void readBody(forLog, response.headers.get('content-type') ?? '', exchange).then(() => done(), (err: unknown) => done(err))
  const teed = new Response(forSdk, { status: response.status, statusText: response.statusText, headers: response.headers })
  Object.defineProperty(teed, 'url', { value: response.url })
  return teed
}

async function requestText(request: Request | null, init: RequestInit | undefined): Promise<string | null> {
  const body = init?.body
  if (body == null) return request?.body ? await request.clone().text() : null
  if (typeof body === 'string') return body
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return new TextDecoder().decode(body as ArrayBuffer)
  if (body instanceof URLSearchParams) return body.toString()
  if (body instanceof Blob) return body.text()
  return `[${Object.prototype.toString.call(body)} body not captured]`
}

function keptHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {}
  headers.forEach((value, name) => {
    const n = name.toLowerCase()
    if (!SECRET_HEADERS.has(n) && KEPT_HEADER.test(n)) out[n] = value
  })
  return out
}

function cut(text: string): { text: string; truncated: boolean } {
  if (Buffer.byteLength(text) <= DEBUG_BODY_LIMIT) return { text, truncated: false }
  return { text: Buffer.from(text).subarray(0, DEBUG_BODY_LIMIT).toString('utf8'), truncated: true }
}

/** Reads our branch to its end (so the tee buffers nothing for it), keeping the first DEBUG_BODY_LIMIT bytes. */
async function readBody(stream: ReadableStream<Uint8Array>, contentType: string, exchange: ProviderExchange): Promise<void> {
  const chunks: Uint8Array[] = []
  let kept = 0
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array>) {
      if (kept >= DEBUG_BODY_LIMIT) {
        exchange.responseTruncated = true
        continue
      }
      const room = DEBUG_BODY_LIMIT - kept
      if (chunk.byteLength > room) exchange.responseTruncated = true
      const piece = chunk.byteLength > room ? chunk.subarray(0, room) : chunk
      chunks.push(piece)
      kept += piece.byteLength
    }
  } finally {
    const bytes = Buffer.concat(chunks)
    exchange.responseBody = contentType.includes('application/vnd.amazon.eventstream') ? eventStreamText(bytes) : bytes.toString('utf8')
  }
}

/**
 * AWS event-stream (Bedrock's streaming framing) as text: one `event: <:event-type>` /
 * `data: <payload>` block per message, the base64 `bytes` of a chunk decoded to the Anthropic
 * event inside it. A cut-off last message is noted, not decoded.
 */
export function eventStreamText(bytes: Buffer): string {
  const out: string[] = []
  let at = 0
  while (at + 12 <= bytes.length) {
    const total = bytes.readUInt32BE(at)
    const headersLength = bytes.readUInt32BE(at + 4)
    if (total < 16 || at + total > bytes.length) break
    const headers: Record<string, string> = {}
    let h = at + 12
    const headersEnd = h + headersLength
    while (h < headersEnd) {
      const nameLength = bytes.readUInt8(h)
      const name = bytes.subarray(h + 1, h + 1 + nameLength).toString('utf8')
      h += 1 + nameLength
      const type = bytes.readUInt8(h++)
      if (type !== 7) break // only string headers matter here (:event-type, :message-type, :content-type)
      const valueLength = bytes.readUInt16BE(h)
      headers[name] = bytes.subarray(h + 2, h + 2 + valueLength).toString('utf8')
      h += 2 + valueLength
    }
    let payload = bytes.subarray(headersEnd, at + total - 4).toString('utf8')
    try {
      const parsed = JSON.parse(payload) as { bytes?: string }
      if (typeof parsed.bytes === 'string') payload = Buffer.from(parsed.bytes, 'base64').toString('utf8')
    } catch {
      // not JSON: kept as it came
    }
    out.push(`event: ${headers[':event-type'] ?? headers[':exception-type'] ?? headers[':message-type'] ?? 'message'}\ndata: ${payload}\n`)
    at += total
  }
  if (at < bytes.length) out.push(`[${bytes.length - at} bytes of an unfinished event-stream message]\n`)
  return out.join('\n')
}
