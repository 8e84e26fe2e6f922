// Wire format of the workspace tunnel, shared by the control plane (tunnel.ts) and the
// daemon (src/workspace-agent/tunnel-client.ts).
//
// One WebSocket carries many HTTP exchanges. Heads and control messages are JSON text
// frames; body bytes travel in binary frames tagged with the exchange id, so a long
// process-output stream and a small file read interleave instead of queueing.

export const TUNNEL_PATH = '/api/v1/workspace-agent/connect'
export const TUNNEL_PROTOCOL_VERSION = 1

/** Close codes. 44xx mirror the HTTP status they stand for. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  badFrame: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  replaced: 4409,
  helloTimeout: 4408,
} as const

export interface DaemonHello {
  version: string
  os: string
  arch: string
  hostname: string
  workdir: string
  pid: number
}

export type TunnelMessage =
  | { type: 'hello'; protocol: number; hello: DaemonHello }
  | { type: 'request'; id: number; method: string; path: string; headers: Record<string, string> }
  | { type: 'response'; id: number; status: number; headers: Record<string, string> }
  /** The daemon could not complete the exchange (local API unreachable, aborted mid-body). */
  | { type: 'error'; id: number; message: string }
  /** The control plane no longer wants the exchange; the daemon aborts its local request. */
  | { type: 'cancel'; id: number }

export const DataKind = {
  requestBody: 1,
  requestEnd: 2,
  responseBody: 3,
  responseEnd: 4,
} as const
export type DataKind = (typeof DataKind)[keyof typeof DataKind]

export interface DataFrame {
  kind: DataKind
  id: number
  payload: Buffer
}

const HEADER_BYTES = 5

/** Binary frame: kind (u8), exchange id (u32 BE), payload. */
export function encodeData(kind: DataKind, id: number, payload?: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + (payload?.length ?? 0))
  frame.writeUInt8(kind, 0)
  frame.writeUInt32BE(id, 1)
  if (payload) payload.copy(frame, HEADER_BYTES)
  return frame
}

export function decodeData(frame: Buffer): DataFrame | null {
  if (frame.length < HEADER_BYTES) return null
  const kind = frame.readUInt8(0)
  if (kind < DataKind.requestBody || kind > DataKind.responseEnd) return null
  return { kind: kind as DataKind, id: frame.readUInt32BE(1), payload: frame.subarray(HEADER_BYTES) }
}

export function encodeMessage(message: TunnelMessage): string {
  return JSON.stringify(message)
}

/** Parses a text frame; null when it is not a message this protocol knows. */
export function decodeMessage(text: string): TunnelMessage | null {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const m = value as Record<string, unknown>
  switch (m.type) {
    case 'hello':
      return typeof m.hello === 'object' && m.hello !== null ? (m as TunnelMessage) : null
    case 'request':
      return typeof m.id === 'number' && typeof m.method === 'string' && typeof m.path === 'string'
        ? { type: 'request', id: m.id, method: m.method, path: m.path, headers: stringRecord(m.headers) }
        : null
    case 'response':
      return typeof m.id === 'number' && typeof m.status === 'number'
        ? { type: 'response', id: m.id, status: m.status, headers: stringRecord(m.headers) }
        : null
    case 'error':
      return typeof m.id === 'number' ? { type: 'error', id: m.id, message: String(m.message ?? 'tunnel error') } : null
    case 'cancel':
      return typeof m.id === 'number' ? { type: 'cancel', id: m.id } : null
    default:
      return null
  }
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (typeof value !== 'object' || value === null) return out
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string') out[k] = v
    else if (Array.isArray(v)) out[k] = v.join(', ')
    else if (typeof v === 'number') out[k] = String(v)
  }
  return out
}

/** Body chunks larger than this are split so one exchange cannot hog the socket. */
export const MAX_CHUNK_BYTES = 64 * 1024
