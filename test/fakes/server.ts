// The HTTP side shared by every fake: records requests, picks the script, and
// plays frames with the scripted pace and faults. Each wire module only says
// what its provider's bytes look like.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ProviderKind } from '../../src/providers/types.ts'
import type { FakeProvider, ScriptedResponse } from './script.ts'

export type Frame = string | Uint8Array

export interface ErrorReply {
  status: number
  headers?: Record<string, string>
  body: unknown
}

export interface Wire {
  kind: ProviderKind
  contentType: string
  /** Base URL for the SDK, given the server's origin. */
  baseUrl(origin: string): string
  handles(method: string, path: string): boolean
  /** Every frame of a successful response, in order. `n` numbers the request (1-based) for unique ids. */
  frames(script: ScriptedResponse, body: Record<string, unknown>, n: number): Frame[]
  malformed(): Frame
  error(fault: { status: number; message?: string; retryAfterSeconds?: number }): ErrorReply
  responseHeaders?: Record<string, string>
}

export async function startWireFake(wire: Wire): Promise<FakeProvider> {
  const queue: ScriptedResponse[] = []
  let fallback: (body: unknown) => ScriptedResponse = () => ({ text: 'ok' })
  const requests: unknown[] = []
  const headers: Record<string, string | string[] | undefined>[] = []
  const urls: string[] = []

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(String(err))
    })
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req)
    const path = req.url ?? '/'
    if (!wire.handles(req.method ?? 'GET', path)) {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { message: `fake ${wire.kind}: no route for ${req.method} ${path}` } }))
      return
    }
    const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {}
    requests.push(body)
    headers.push({ ...req.headers })
    urls.push(path)
    const script = queue.shift() ?? fallback(body)
    const fault = script.fault

    if (fault && typeof fault === 'object') {
      const reply = wire.error(fault)
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers })
      res.end(JSON.stringify(reply.body))
      return
    }

    const frames = wire.frames(script, body, requests.length)
    res.writeHead(200, { 'content-type': wire.contentType, 'cache-control': 'no-cache', ...wire.responseHeaders })
    res.flushHeaders()
    let closed = false
    res.on('close', () => (closed = true))
    const delay = script.chunkDelayMs ?? 0

    if (fault === 'silence') {
      res.write(frames[0]!)
      return // never another byte; the client gives up (or close() tears it down)
    }
    const count = fault === 'cut' ? Math.max(3, Math.ceil(frames.length / 2)) : frames.length
    for (let i = 0; i < count && i < frames.length && !closed; i++) {
      if (fault === 'malformed' && i === 2) {
        res.write(wire.malformed())
        res.end()
        return
      }
      res.write(frames[i]!)
      if (delay > 0) await sleep(delay)
    }
    if (fault === 'cut') {
      // Give the written bytes a moment to leave, then drop the connection without
      // a chunked terminator, as a proxy or a dying upstream would.
      await sleep(20)
      res.socket?.destroy()
      return
    }
    res.end()
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const origin = `http://127.0.0.1:${port}`

  return {
    kind: wire.kind,
    baseUrl: wire.baseUrl(origin),
    requests,
    headers,
    urls,
    enqueue: (...responses) => void queue.push(...responses),
    setDefault: (fn) => void (fallback = fn),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Splits text into a few deltas on word boundaries, so tests see real concatenation. */
export function splitText(text: string, pieces = 3): string[] {
  if (text.length < 2) return text ? [text] : []
  const size = Math.ceil(text.length / pieces)
  const out: string[] = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

export function sse(data: unknown, event?: string): string {
  return `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`
}
