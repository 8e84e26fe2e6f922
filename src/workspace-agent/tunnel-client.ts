// Daemon end of the tunnel: dials out to the control plane and replays each tunnelled
// HTTP exchange against the local API socket, streaming bodies both ways.
import http from 'node:http'
import WebSocket, { type RawData } from 'ws'
import {
  CloseCode,
  DataKind,
  MAX_CHUNK_BYTES,
  TUNNEL_PATH,
  TUNNEL_PROTOCOL_VERSION,
  decodeData,
  decodeMessage,
  encodeData,
  encodeMessage,
  type DaemonHello,
} from '../workspaces/tunnel-protocol.ts'

export interface TunnelClientOptions {
  /** Control plane base URL, http(s) or ws(s). */
  url: string
  token: string
  /** Called when the control plane rejects the token (a new build revoked it): a fresh one, e.g. by instance identity. */
  refreshToken?: () => Promise<string>
  /** Unix socket the daemon's API listens on. */
  localSocket: string
  hello: DaemonHello
  log: (msg: string) => void
  pingIntervalMs?: number
  /** Delay before retrying after the control plane rejected the token. Default 30 s. */
  authRetryMs?: number
}

const BACKOFF_START_MS = 250
const BACKOFF_MAX_MS = 10_000
/** Stop reading a local response while this much is queued on the socket. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024

export function tunnelUrl(base: string): string {
  const url = new URL(base)
  if (url.protocol === 'http:') url.protocol = 'ws:'
  else if (url.protocol === 'https:') url.protocol = 'wss:'
  url.pathname = url.pathname.replace(/\/+$/, '') + TUNNEL_PATH
  return url.toString()
}

export class TunnelClient {
  private socket: WebSocket | null = null
  private attempt = 0
  private retryTimer: NodeJS.Timeout | undefined
  private stopped = false
  private readonly target: string
  private connectedOnce = false
  private token: string

  constructor(private readonly opts: TunnelClientOptions) {
    this.target = tunnelUrl(opts.url)
    this.token = opts.token
  }

  start(): void {
    this.connect()
  }

  async close(): Promise<void> {
    this.stopped = true
    clearTimeout(this.retryTimer)
    const socket = this.socket
    if (!socket || socket.readyState === WebSocket.CLOSED) return
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve())
      socket.close(CloseCode.normal, 'workspace agent shutting down')
      setTimeout(() => {
        socket.terminate()
        resolve()
      }, 1_000).unref()
    })
  }

  private connect(): void {
    if (this.stopped) return
    const socket = new WebSocket(this.target, {
      headers: { authorization: `Bearer ${this.token}` },
      handshakeTimeout: 10_000,
    })
    this.socket = socket
    const exchanges = new Map<number, LocalExchange>()
    let authRejected = false
    let pinger: NodeJS.Timeout | undefined

    socket.on('unexpected-response', (_req, res) => {
      authRejected = res.statusCode === 401 || res.statusCode === 403
      this.opts.log(`control plane refused the tunnel: HTTP ${res.statusCode}`)
      res.resume()
      socket.terminate()
    })
    socket.on('open', () => {
      this.opts.log(`${this.connectedOnce ? 're' : ''}connected to ${this.target}`)
      this.connectedOnce = true
      this.attempt = 0 // reaching the control plane resets the backoff
      socket.send(encodeMessage({ type: 'hello', protocol: TUNNEL_PROTOCOL_VERSION, hello: this.opts.hello }))
      let alive = true
      socket.on('pong', () => (alive = true))
      pinger = setInterval(() => {
        if (!alive) return socket.terminate()
        alive = false
        socket.ping()
      }, this.opts.pingIntervalMs ?? 15_000)
    })
    socket.on('message', (data, isBinary) => this.receive(socket, exchanges, data, isBinary))
    socket.on('error', (err) => this.opts.log(`tunnel error: ${err.message}`))
    socket.on('close', (code, reason) => {
      clearInterval(pinger)
      for (const ex of exchanges.values()) ex.abort()
      exchanges.clear()
      if (code === CloseCode.unauthorized || code === CloseCode.forbidden) authRejected = true
      if (this.stopped) return
      if (authRejected && this.opts.refreshToken) {
        // Re-authenticate at once instead of retrying a token that was revoked.
        const refresh = this.opts.refreshToken
        this.opts.log('control plane rejected the session token; authenticating again')
        void refresh().then(
          (token) => {
            this.token = token
            if (!this.stopped) this.retryTimer = setTimeout(() => this.connect(), this.backoff())
          },
          (err: unknown) => {
            this.opts.log(`could not authenticate again: ${(err as Error).message}`)
            if (!this.stopped) this.retryTimer = setTimeout(() => this.connect(), this.slowRetry())
          },
        )
        return
      }
      const delay = authRejected || code === CloseCode.replaced ? this.slowRetry() : this.backoff()
      const why = reason.length > 0 ? `${code} ${reason.toString('utf8')}` : String(code)
      this.opts.log(
        authRejected
          ? `control plane rejected the agent token (${why}); retrying in ${Math.round(delay / 1000)} s`
          : `tunnel closed (${why}); reconnecting in ${delay} ms`,
      )
      this.retryTimer = setTimeout(() => this.connect(), delay)
    })
  }

  private backoff(): number {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** this.attempt)
    this.attempt++
    return Math.round(base * (0.75 + Math.random() * 0.5))
  }

  private slowRetry(): number {
    const base = this.opts.authRetryMs ?? 30_000
    return Math.round(base * (0.8 + Math.random() * 0.4))
  }

  private receive(socket: WebSocket, exchanges: Map<number, LocalExchange>, data: RawData, isBinary: boolean): void {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
    if (isBinary) {
      const frame = decodeData(buf)
      if (!frame) return
      const ex = exchanges.get(frame.id)
      if (!ex) return
      if (frame.kind === DataKind.requestBody) ex.write(frame.payload)
      else if (frame.kind === DataKind.requestEnd) ex.end()
      return
    }
    const msg = decodeMessage(buf.toString('utf8'))
    if (!msg) return
    if (msg.type === 'request') {
      try {
        const ex = new LocalExchange(msg.id, socket, this.opts.localSocket, msg.method, msg.path, msg.headers, () => exchanges.delete(msg.id))
        exchanges.set(msg.id, ex)
      } catch (err) {
        // http.request throws synchronously on a malformed path or header
        socket.send(encodeMessage({ type: 'error', id: msg.id, message: `bad request: ${(err as Error).message}` }))
      }
    } else if (msg.type === 'cancel') {
      exchanges.get(msg.id)?.abort()
      exchanges.delete(msg.id)
    }
  }
}

/** One tunnelled request replayed against the local API socket. */
class LocalExchange {
  private readonly req: http.ClientRequest
  private res: http.IncomingMessage | null = null
  private done = false

  constructor(
    private readonly id: number,
    private readonly socket: WebSocket,
    socketPath: string,
    method: string,
    path: string,
    headers: Record<string, string>,
    private readonly release: () => void,
  ) {
    this.req = http.request({ socketPath, method, path, headers })
    this.req.on('response', (res) => this.respond(res))
    this.req.on('error', (err) => this.fail(err.message))
  }

  write(chunk: Buffer): void {
    if (!this.done) this.req.write(chunk)
  }

  end(): void {
    if (!this.done) this.req.end()
  }

  abort(): void {
    if (this.done) return
    this.done = true
    this.release()
    this.req.destroy()
    this.res?.destroy()
  }

  private respond(res: http.IncomingMessage): void {
    this.res = res
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v
    }
    this.send(encodeMessage({ type: 'response', id: this.id, status: res.statusCode ?? 502, headers }))
    res.on('data', (chunk: Buffer) => {
      for (let at = 0; at < chunk.length; at += MAX_CHUNK_BYTES) {
        this.send(encodeData(DataKind.responseBody, this.id, chunk.subarray(at, at + MAX_CHUNK_BYTES)))
      }
      if (this.socket.bufferedAmount > HIGH_WATER_BYTES) {
        res.pause()
        const resume = setInterval(() => {
          if (this.done || this.socket.bufferedAmount <= HIGH_WATER_BYTES / 2) {
            clearInterval(resume)
            if (!this.done) res.resume()
          }
        }, 10)
      }
    })
    res.on('end', () => {
      if (this.done) return
      this.done = true
      this.release()
      this.send(encodeData(DataKind.responseEnd, this.id))
    })
    res.on('error', (err) => this.fail(err.message))
    res.on('aborted', () => this.fail('local response aborted'))
  }

  private fail(message: string): void {
    if (this.done) return
    this.done = true
    this.release()
    this.send(encodeMessage({ type: 'error', id: this.id, message }))
  }

  private send(frame: string | Buffer): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(frame)
  }
}
