/**
 * Ephemeral chat items: token deltas and status hints the runner publishes while a turn
 * runs. They never enter the log (the committed step that follows is the durable record)
 * and are lost by a subscriber that is not listening — by design.
 *
 * On PostgreSQL they travel through NOTIFY, so a subscriber on any server process sees
 * what a runner on any other process publishes. On PGlite (one process) they stay in memory.
 * A NOTIFY payload must stay under 8000 bytes: large deltas are split, other long text is cut.
 *
 * Use: `ephemeralFor(db).publishEphemeral(chatId, { kind: 'TextDelta', turnId, delta })`.
 */
import type { Database } from '../db/database.ts'
import type { ChatStatus } from '../events/chat.ts'
import type { Subscription } from '../eventstore/types.ts'
import { boundedIterator, DEFAULT_SUBSCRIPTION_BUFFER } from './bounded.ts'

export type EphemeralItem =
  | { kind: 'TextDelta'; turnId: string; stepId?: string; delta: string }
  | { kind: 'ReasoningDelta'; turnId: string; stepId?: string; delta: string }
  | { kind: 'ToolCallArgumentsDelta'; turnId: string; callId: string; name?: string; delta: string }
  | { kind: 'StatusChanged'; status: ChatStatus }
  | { kind: 'RetryCountdown'; turnId: string; attempt: number; retryAt: string; delayMs: number; errorKind: string; message: string }

export type EphemeralListener = (item: EphemeralItem) => void

export interface EphemeralPubSub {
  /** Delivers `item` to every current subscriber of the chat, on every process sharing the database. */
  publishEphemeral(chatId: string, item: EphemeralItem): Promise<void>
  /** Items published from now on, as a bounded async iterable (ends with an error when the reader lags too far). */
  subscribeEphemeral(chatId: string, options?: { capacity?: number }): Subscription<EphemeralItem>
  /** Callback form; returns how to stop listening. */
  listenEphemeral(chatId: string, listener: EphemeralListener): () => void
  close(): Promise<void>
}

export const EPHEMERAL_CHANNEL = 'cairn_ephemeral'
/** Leaves room under PostgreSQL's 8000-byte NOTIFY limit. */
export const MAX_EPHEMERAL_PAYLOAD_BYTES = 7500
const MAX_MESSAGE_CHARS = 1000

interface Envelope {
  c: string
  i: EphemeralItem
}

const encode = (chatId: string, item: EphemeralItem) => JSON.stringify({ c: chatId, i: item } satisfies Envelope)

/** Splits one item into items whose NOTIFY payloads each fit, keeping deltas whole in order. */
export function fitEphemeral(chatId: string, item: EphemeralItem): EphemeralItem[] {
  if (Buffer.byteLength(encode(chatId, item)) <= MAX_EPHEMERAL_PAYLOAD_BYTES) return [item]
  if ('delta' in item) {
    const overhead = Buffer.byteLength(encode(chatId, { ...item, delta: '' }))
    const budget = MAX_EPHEMERAL_PAYLOAD_BYTES - overhead
    const pieces: EphemeralItem[] = []
    let piece = ''
    let pieceBytes = 0
    for (const ch of item.delta) {
      const bytes = Buffer.byteLength(JSON.stringify(ch)) - 2
      if (pieceBytes + bytes > budget && piece) {
        pieces.push({ ...item, delta: piece })
        piece = ''
        pieceBytes = 0
      }
      piece += ch
      pieceBytes += bytes
    }
    if (piece) pieces.push({ ...item, delta: piece })
    return pieces
  }
  if (item.kind === 'RetryCountdown') return [{ ...item, message: item.message.slice(0, MAX_MESSAGE_CHARS) + '…' }]
  return [item]
}

class LocalFanout {
  readonly #byChat = new Map<string, Set<EphemeralListener>>()

  add(chatId: string, listener: EphemeralListener): () => void {
    let set = this.#byChat.get(chatId)
    if (!set) this.#byChat.set(chatId, (set = new Set()))
    set.add(listener)
    return () => {
      set.delete(listener)
      if (!set.size) this.#byChat.delete(chatId)
    }
  }

  deliver(chatId: string, item: EphemeralItem) {
    for (const listener of this.#byChat.get(chatId) ?? []) {
      try {
        listener(item)
      } catch {
        // one subscriber's failure is its own
      }
    }
  }
}

export function createEphemeralPubSub(db: Database): EphemeralPubSub {
  const local = new LocalFanout()
  const crossProcess = db.kind === 'postgres'
  let listening: Promise<() => Promise<void>> | null = null

  function ensureListening() {
    listening ??= db.listen(EPHEMERAL_CHANNEL, (payload) => {
      try {
        const { c, i } = JSON.parse(payload) as Envelope
        local.deliver(c, i)
      } catch {
        // not ours
      }
    })
    return listening
  }

  const pubsub: EphemeralPubSub = {
    async publishEphemeral(chatId, item) {
      for (const piece of fitEphemeral(chatId, item)) {
        if (crossProcess) {
          await ensureListening()
          await db.notify(EPHEMERAL_CHANNEL, encode(chatId, piece))
        } else local.deliver(chatId, piece)
      }
    },
    listenEphemeral(chatId, listener) {
      if (crossProcess) void ensureListening().catch(() => {})
      return local.add(chatId, listener)
    },
    subscribeEphemeral(chatId, options = {}) {
      const iterator = boundedIterator<EphemeralItem>({
        capacity: options.capacity ?? DEFAULT_SUBSCRIPTION_BUFFER,
        start: (source) => pubsub.listenEphemeral(chatId, (item) => void source.push(item)),
      })
      return Object.assign(iterator, {
        async close() {
          await iterator.return?.()
        },
      })
    },
    async close() {
      const stop = await listening?.catch(() => null)
      listening = null
      await stop?.()
    },
  }
  return pubsub
}

const registry = new WeakMap<Database, EphemeralPubSub>()

/** The one ephemeral pubsub of this process for `db`: the API and the runner share it. */
export function ephemeralFor(db: Database): EphemeralPubSub {
  let pubsub = registry.get(db)
  if (!pubsub) registry.set(db, (pubsub = createEphemeralPubSub(db)))
  return pubsub
}
