// Control-plane end of the workspace tunnel: accepts daemon connections and sends
// HTTP exchanges to a workspace's daemon over its one WebSocket.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import websocket from '@fastify/websocket'
import type { WebSocket, RawData } from 'ws'
import {
  CloseCode,
  DataKind,
  MAX_CHUNK_BYTES,
  TUNNEL_PATH,
  decodeData,
  decodeMessage,
  encodeData,
  encodeMessage,
  type DaemonHello,
} from './tunnel-protocol.ts'

export type { DaemonHello } from './tunnel-protocol.ts'
export { TUNNEL_PATH } from './tunnel-protocol.ts'

/** Who a daemon is: one agent of one workspace (`agentName` absent: `main`). */
export interface AgentIdentity {
  workspaceId: string
  agentName?: string
}

export interface TunnelOptions {
  authenticate(token: string): Promise<AgentIdentity | null>
  onConnect?(workspaceId: string, hello: DaemonHello, agentName: string): void | Promise<void>
  onDisconnect?(workspaceId: string, agentName: string): void | Promise<void>
  /** Keepalive ping period; a daemon that misses one pong is dropped. Default 15 s. */
  pingIntervalMs?: number
  /** How long an authenticated socket may stay silent before its hello. Default 10 s. */
  helloTimeoutMs?: number
  log?(msg: string): void
}

export interface WorkspaceRequest {
  method: string
  /** Path on the daemon's API, with query string: `/files/read`, `/processes/p1/output?waitMs=500`. */
  path: string
  /** Sent as JSON unless it is a Buffer or string. */
  body?: unknown
  /** Which of the workspace's agents serves it. Default `main`. */
  agent?: string
  /** request(): whole exchange. stream(): until the response head arrives. Default 5 min. */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface WorkspaceResponse {
  status: number
  headers: Record<string, string>
  body: Buffer
}

export class WorkspaceRequestError extends Error {
  override name = 'WorkspaceRequestError'
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** The workspace has no live daemon connection, or lost it while the request ran. */
export class WorkspaceNotConnectedError extends WorkspaceRequestError {
  override name = 'WorkspaceNotConnectedError'
  constructor(
    readonly workspaceId: string,
    detail = 'its workspace agent is not connected',
  ) {
    super(
      'WORKSPACE_NOT_CONNECTED',
      503,
      `Workspace ${workspaceId} is unavailable: ${detail}. Call start_workspace to start it, then retry.`,
    )
  }
}

const DEFAULT_TIMEOUT_MS = 5 * 60_000
const MAIN_AGENT = 'main'
/** Connections are keyed per agent: a workspace may run several daemons. */
const keyOf = (workspaceId: string, agentName = MAIN_AGENT) => `${workspaceId}/${agentName}`

export class WorkspaceTunnels {
  readonly plugin: FastifyPluginAsync
  private readonly connections = new Map<string, TunnelConnection>()
  /** Called with no argument when the workspace connects, with an error when we shut down. */
  private readonly waiters = new Map<string, Set<(err?: Error) => void>>()
  private readonly auth = new WeakMap<FastifyRequest, AgentIdentity | null>()
  private closed = false

  constructor(private readonly opts: TunnelOptions) {
    this.plugin = async (fastify) => {
      // mercurius (subscriptions) may have registered @fastify/websocket already
      if (!fastify.hasDecorator('websocketServer')) await fastify.register(websocket)
      fastify.get(
        TUNNEL_PATH,
        {
          websocket: true,
          // Decide before the upgrade; a rejected daemon still gets a socket so it can
          // read close code 4401 and back off instead of hammering the endpoint.
          preValidation: async (req) => {
            const token = bearerToken(req.headers.authorization)
            this.auth.set(req, token ? await this.opts.authenticate(token) : null)
          },
        },
        (socket, req) => {
          const identity = this.auth.get(req)
          if (!identity || this.closed) {
            socket.close(CloseCode.unauthorized, 'invalid workspace agent token')
            return
          }
          this.accept(identity.workspaceId, identity.agentName ?? MAIN_AGENT, socket)
        },
      )
    }
  }

  isConnected(workspaceId: string, agentName = MAIN_AGENT): boolean {
    return this.connections.get(keyOf(workspaceId, agentName))?.hello !== undefined
  }

  /** The hello of the live connection, if any. */
  helloOf(workspaceId: string, agentName = MAIN_AGENT): DaemonHello | undefined {
    return this.connections.get(keyOf(workspaceId, agentName))?.hello
  }

  waitForConnection(workspaceId: string, timeoutMs: number, signal?: AbortSignal, agentName = MAIN_AGENT): Promise<void> {
    if (this.isConnected(workspaceId, agentName)) return Promise.resolve()
    const key = keyOf(workspaceId, agentName)
    return new Promise((resolve, reject) => {
      let waiters = this.waiters.get(key)
      if (!waiters) this.waiters.set(key, (waiters = new Set()))
      const done = (err?: Error) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        waiters.delete(onConnected)
        if (err) reject(err)
        else resolve()
      }
      const onConnected = (err?: Error) => done(err)
      const onAbort = () => done(signal?.reason instanceof Error ? signal.reason : new Error('aborted'))
      const timer = setTimeout(
        () => done(new WorkspaceNotConnectedError(workspaceId, `its workspace agent${agentName === MAIN_AGENT ? '' : ` ${JSON.stringify(agentName)}`} did not connect within ${timeoutMs} ms`)),
        timeoutMs,
      )
      waiters.add(onConnected)
      if (signal?.aborted) onAbort()
      else signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  async request(workspaceId: string, req: WorkspaceRequest): Promise<WorkspaceResponse> {
    const exchange = this.open(workspaceId, req, true)
    try {
      const head = await exchange.head
      const chunks: Buffer[] = []
      for await (const chunk of exchange.body()) chunks.push(chunk)
      return { ...head, body: Buffer.concat(chunks) }
    } finally {
      exchange.dispose()
    }
  }

  async requestJson<T>(workspaceId: string, req: WorkspaceRequest): Promise<T> {
    const res = await this.request(workspaceId, req)
    if (res.status < 200 || res.status > 299) throw errorFromResponse(res)
    if (res.body.length === 0) return undefined as T
    try {
      return JSON.parse(res.body.toString('utf8')) as T
    } catch {
      throw new WorkspaceRequestError('BAD_RESPONSE', 502, `workspace agent sent invalid JSON for ${req.method} ${req.path}`)
    }
  }

  /** Streams the response body; a non-2xx status throws before the first chunk. */
  async *stream(workspaceId: string, req: WorkspaceRequest): AsyncIterable<Buffer> {
    const exchange = this.open(workspaceId, req, false)
    try {
      const head = await exchange.head
      if (head.status < 200 || head.status > 299) {
        const chunks: Buffer[] = []
        for await (const chunk of exchange.body()) chunks.push(chunk)
        throw errorFromResponse({ ...head, body: Buffer.concat(chunks) })
      }
      yield* exchange.body()
    } finally {
      exchange.dispose()
    }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const [key, conn] of this.connections) {
      this.connections.delete(key)
      conn.shutdown(CloseCode.goingAway, 'control plane shutting down', new WorkspaceNotConnectedError(conn.workspaceId, 'the control plane is shutting down'))
    }
    for (const [key, waiters] of this.waiters) {
      for (const w of [...waiters]) w(new WorkspaceNotConnectedError(key.split('/')[0]!, 'the control plane is shutting down'))
    }
  }

  private accept(workspaceId: string, agentName: string, socket: WebSocket): void {
    const key = keyOf(workspaceId, agentName)
    const who = agentName === MAIN_AGENT ? `workspace ${workspaceId}` : `workspace ${workspaceId} agent ${agentName}`
    const conn = new TunnelConnection(workspaceId, socket, this.opts.pingIntervalMs ?? 15_000)
    const helloTimer = setTimeout(
      () => socket.close(CloseCode.helloTimeout, 'no hello received'),
      this.opts.helloTimeoutMs ?? 10_000,
    )
    conn.onHello = (hello) => {
      clearTimeout(helloTimer)
      const previous = this.connections.get(key)
      this.connections.set(key, conn)
      if (previous && previous !== conn) {
        previous.shutdown(CloseCode.replaced, 'replaced by a newer connection', new WorkspaceNotConnectedError(workspaceId, 'its workspace agent reconnected while the request ran'))
      }
      this.opts.log?.(`${who}: agent ${hello.version} connected (${hello.hostname}, pid ${hello.pid})`)
      void Promise.resolve(this.opts.onConnect?.(workspaceId, hello, agentName)).catch((err) =>
        this.opts.log?.(`${who}: onConnect failed: ${String(err)}`),
      )
      const waiters = this.waiters.get(key)
      if (waiters) for (const w of [...waiters]) w()
    }
    conn.onClosed = () => {
      clearTimeout(helloTimer)
      if (this.connections.get(key) !== conn) return
      this.connections.delete(key)
      this.opts.log?.(`${who}: agent disconnected`)
      void Promise.resolve(this.opts.onDisconnect?.(workspaceId, agentName)).catch((err) =>
        this.opts.log?.(`${who}: onDisconnect failed: ${String(err)}`),
      )
    }
  }

  private open(workspaceId: string, req: WorkspaceRequest, timeoutWholeExchange: boolean): Exchange {
    const conn = this.connections.get(keyOf(workspaceId, req.agent))
    if (!conn?.hello)
      throw new WorkspaceNotConnectedError(workspaceId, req.agent && req.agent !== MAIN_AGENT ? `its workspace agent ${JSON.stringify(req.agent)} is not connected` : undefined)
    return conn.open(req, timeoutWholeExchange)
  }
}

function bearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i)
  return match ? match[1]! : null
}

function errorFromResponse(res: WorkspaceResponse): WorkspaceRequestError {
  let code = `HTTP_${res.status}`
  let message = res.body.toString('utf8').slice(0, 2000) || `workspace agent answered ${res.status}`
  try {
    const parsed = JSON.parse(res.body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } }
    if (typeof parsed.error?.code === 'string') code = parsed.error.code
    if (typeof parsed.error?.message === 'string') message = parsed.error.message
  } catch {
    // not JSON: keep the raw text
  }
  return new WorkspaceRequestError(code, res.status, message)
}

interface Exchange {
  head: Promise<{ status: number; headers: Record<string, string> }>
  body(): AsyncIterable<Buffer>
  /** Releases the exchange; cancels it on the daemon if the body was not fully read. */
  dispose(): void
}

class PendingExchange implements Exchange {
  head: Promise<{ status: number; headers: Record<string, string> }>
  private resolveHead!: (h: { status: number; headers: Record<string, string> }) => void
  private rejectHead!: (err: Error) => void
  private headSettled = false
  private chunks: Buffer[] = []
  private ended = false
  private failure: Error | null = null
  private wake: (() => void) | null = null
  private timer: NodeJS.Timeout | undefined
  private abortListener: (() => void) | undefined

  constructor(
    readonly id: number,
    private readonly req: WorkspaceRequest,
    private readonly timeoutWholeExchange: boolean,
    private readonly release: (ex: PendingExchange, cancel: boolean) => void,
  ) {
    this.head = new Promise((resolve, reject) => {
      this.resolveHead = resolve
      this.rejectHead = reject
    })
    this.head.catch(() => {}) // surfaced through body()/await head, not as unhandled
    const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.timer = setTimeout(
      () => this.fail(new WorkspaceRequestError('TIMEOUT', 504, `workspace request ${req.method} ${req.path} timed out after ${timeoutMs} ms`), true),
      timeoutMs,
    )
    if (req.signal) {
      const signal = req.signal
      this.abortListener = () =>
        this.fail(signal.reason instanceof Error ? signal.reason : new WorkspaceRequestError('ABORTED', 499, 'request aborted'), true)
      if (signal.aborted) queueMicrotask(this.abortListener)
      else signal.addEventListener('abort', this.abortListener, { once: true })
    }
  }

  onHead(status: number, headers: Record<string, string>): void {
    if (this.headSettled) return
    this.headSettled = true
    if (!this.timeoutWholeExchange) clearTimeout(this.timer)
    this.resolveHead({ status, headers })
  }

  onChunk(chunk: Buffer): void {
    if (this.ended || this.failure) return
    this.chunks.push(chunk)
    this.notify()
  }

  onEnd(): void {
    if (this.failure) return
    this.ended = true
    this.finish()
    this.release(this, false)
    this.notify()
  }

  /** cancel: tell the daemon to abort (we gave up); false when the daemon/socket is the cause. */
  fail(err: Error, cancel: boolean): void {
    if (this.ended || this.failure) return
    this.failure = err
    this.finish()
    if (!this.headSettled) {
      this.headSettled = true
      this.rejectHead(err)
    }
    this.release(this, cancel)
    this.notify()
  }

  async *body(): AsyncIterable<Buffer> {
    for (;;) {
      if (this.chunks.length > 0) {
        yield this.chunks.shift()!
        continue
      }
      if (this.failure) throw this.failure
      if (this.ended) return
      await new Promise<void>((resolve) => (this.wake = resolve))
    }
  }

  dispose(): void {
    if (!this.ended && !this.failure) this.fail(new WorkspaceRequestError('ABORTED', 499, 'response body abandoned'), true)
  }

  private finish(): void {
    clearTimeout(this.timer)
    if (this.abortListener) this.req.signal?.removeEventListener('abort', this.abortListener)
  }

  private notify(): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }
}

class TunnelConnection {
  hello: DaemonHello | undefined
  onHello: (hello: DaemonHello) => void = () => {}
  onClosed: () => void = () => {}
  private readonly pending = new Map<number, PendingExchange>()
  private nextId = 1
  private alive = true
  private readonly pinger: NodeJS.Timeout
  private closed = false

  constructor(
    readonly workspaceId: string,
    private readonly socket: WebSocket,
    pingIntervalMs: number,
  ) {
    socket.on('message', (data, isBinary) => this.receive(data, isBinary))
    socket.on('pong', () => (this.alive = true))
    socket.on('close', () => this.closedByPeer())
    socket.on('error', () => socket.terminate())
    this.pinger = setInterval(() => {
      if (!this.alive) {
        socket.terminate()
        return
      }
      this.alive = false
      socket.ping()
    }, pingIntervalMs)
    this.pinger.unref()
  }

  open(req: WorkspaceRequest, timeoutWholeExchange: boolean): PendingExchange {
    const id = this.nextId
    this.nextId = this.nextId >= 0xffff_fffe ? 1 : this.nextId + 1
    const exchange = new PendingExchange(id, req, timeoutWholeExchange, (ex, cancel) => {
      if (this.pending.get(ex.id) !== ex) return
      this.pending.delete(ex.id)
      if (cancel && !this.closed) this.send(encodeMessage({ type: 'cancel', id: ex.id }))
    })
    this.pending.set(id, exchange)

    const body = encodeBody(req.body)
    const headers: Record<string, string> = {}
    if (body) headers['content-type'] = typeof req.body === 'object' && !Buffer.isBuffer(req.body) ? 'application/json' : 'application/octet-stream'
    this.send(encodeMessage({ type: 'request', id, method: req.method.toUpperCase(), path: req.path, headers }))
    if (body) {
      for (let at = 0; at < body.length; at += MAX_CHUNK_BYTES) {
        this.send(encodeData(DataKind.requestBody, id, body.subarray(at, at + MAX_CHUNK_BYTES)))
      }
    }
    this.send(encodeData(DataKind.requestEnd, id))
    return exchange
  }

  shutdown(code: number, reason: string, err: Error): void {
    this.failAll(err)
    this.socket.close(code, reason)
    // do not wait for the peer's close handshake to free resources
    setTimeout(() => this.socket.terminate(), 2_000).unref()
  }

  private send(frame: string | Buffer): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(frame)
  }

  private receive(data: RawData, isBinary: boolean): void {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
    if (isBinary) {
      const frame = decodeData(buf)
      if (!frame) return this.protocolError('malformed binary frame')
      const ex = this.pending.get(frame.id)
      if (!ex) return // cancelled or timed out; late chunks are dropped
      if (frame.kind === DataKind.responseBody) ex.onChunk(frame.payload)
      else if (frame.kind === DataKind.responseEnd) ex.onEnd()
      return
    }
    const msg = decodeMessage(buf.toString('utf8'))
    if (!msg) return this.protocolError('malformed text frame')
    switch (msg.type) {
      case 'hello':
        if (this.hello) return
        this.hello = msg.hello
        this.onHello(msg.hello)
        return
      case 'response':
        this.pending.get(msg.id)?.onHead(msg.status, msg.headers)
        return
      case 'error':
        this.pending.get(msg.id)?.fail(new WorkspaceRequestError('AGENT_ERROR', 502, `workspace agent: ${msg.message}`), false)
        return
      case 'request':
      case 'cancel':
        return this.protocolError(`unexpected ${msg.type} frame from the agent`)
    }
  }

  private protocolError(reason: string): void {
    this.socket.close(CloseCode.badFrame, reason)
  }

  private closedByPeer(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.pinger)
    this.failAll(new WorkspaceNotConnectedError(this.workspaceId, 'its workspace agent disconnected while the request ran'))
    this.onClosed()
  }

  private failAll(err: Error): void {
    for (const ex of [...this.pending.values()]) ex.fail(err, false)
    this.pending.clear()
  }
}

function encodeBody(body: unknown): Buffer | null {
  if (body === undefined) return null
  if (Buffer.isBuffer(body)) return body
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  return Buffer.from(JSON.stringify(body), 'utf8')
}
