/**
 * Ephemeral chat items: token deltas and status hints the runner publishes while a turn
 * runs. They never enter the log (the committed step that follows is the durable record)
 * and are lost by a subscriber that is not listening — by design.
 *
 * Subscribers in the publishing process get an item at once. On PostgreSQL it also travels
 * through NOTIFY, so a subscriber on any other server process sees it too (a process skips its
 * own payloads). On PGlite (one process) items stay in memory.
 *
 * Order: every item carries its turn and a per-turn sequence number (`seq`, stamped by the
 * publisher). Publishes of one process go out through one queue, one NOTIFY at a time,
 * items that piled up meanwhile batched into the next payload (< 8000 bytes), so a subscriber
 * anywhere sees a chat's items in the order they were published; a receiver drops an item
 * whose (publisher, turn, seq) it has already passed.
 *
 * Use: `ephemeralFor(db).publishEphemeral(chatId, item)`.
 */
import { randomUUID } from 'node:crypto'
import type { Database } from '../db/database.ts'
import type { ChatStatus } from '../events/chat.ts'
import type { Subscription } from '../eventstore/types.ts'
import { boundedIterator, DEFAULT_SUBSCRIPTION_BUFFER } from './bounded.ts'

/** What the runner streams, before it is stamped with its place in the turn. */
export type EphemeralBody =
  | { kind: 'TextDelta'; turnId: string; stepId?: string; delta: string }
  | { kind: 'ReasoningDelta'; turnId: string; stepId?: string; delta: string }
  | { kind: 'ToolCallArgumentsDelta'; turnId: string; callId: string; name?: string; delta: string }
  | { kind: 'StatusChanged'; turnId: string | null; status: ChatStatus }
  | { kind: 'RetryCountdown'; turnId: string; attempt: number; retryAt: string; delayMs: number; errorKind: string; message: string }

/** An item as subscribers get it: `seq` counts from 0 within its turn (and its publisher). */
export type EphemeralItem = EphemeralBody & { seq: number }

/**
 * Where the runner publishes what streams before it is committed. `source` names the
 * publisher (a runner's drive of the chat), so two publishers of one turn — a takeover —
 * are ordered each on its own. Sinks compose (redaction, then `stampSequence`, then the pubsub).
 */
export type EphemeralSink = (chatId: string, item: EphemeralBody, source: string) => void

/** Chats whose counters a process keeps: far more than it drives at once; the oldest go first. */
const MAX_COUNTERS = 10_000

/**
 * Numbers each chat's items per (publisher, turn) as they leave the process: the last stage
 * before the pubsub, so a stage before it may hold an item back (redaction) without breaking
 * the order subscribers see.
 */
export function stampSequence(publish: (chatId: string, item: EphemeralItem, source: string) => void): EphemeralSink {
  const counters = new Map<string, { source: string; turnId: string | null; seq: number }>()
  return (chatId, item, source) => {
    let counter = counters.get(chatId)
    if (!counter || counter.source !== source || counter.turnId !== item.turnId) {
      counters.delete(chatId)
      counters.set(chatId, (counter = { source, turnId: item.turnId, seq: 0 }))
      if (counters.size > MAX_COUNTERS) counters.delete(counters.keys().next().value!)
    }
    publish(chatId, { ...item, seq: counter.seq++ }, source)
  }
}

export type EphemeralListener = (item: EphemeralItem) => void

export interface EphemeralPubSub {
  /** Delivers `item` to every current subscriber of the chat, on every process sharing the database, in publish order. */
  publishEphemeral(chatId: string, item: EphemeralItem, source?: string): Promise<void>
  /**
   * Resolves once every item published before the call has gone out to the other processes (its
   * NOTIFY sent, or failed: deltas are lossy). Items published later are not waited for, so a
   * busy process (many chats streaming) does not keep one chat's step waiting.
   */
  flushed(): Promise<void>
  /** Items published from now on, as a bounded async iterable (ends with an error when the reader lags too far). */
  subscribeEphemeral(chatId: string, options?: { capacity?: number }): Subscription<EphemeralItem>
  /** Callback form; returns how to stop listening. */
  listenEphemeral(chatId: string, listener: EphemeralListener): () => void
  close(): Promise<void>
}

export const EPHEMERAL_CHANNEL = 'cairn_ephemeral'
/** Leaves room under PostgreSQL's 8000-byte NOTIFY limit. */
export const MAX_EPHEMERAL_PAYLOAD_BYTES = 7500
/**
 * How long the first item published after a quiet spell waits for others to join its NOTIFY:
 * a model's chunk is several items (a tool call's name and arguments, a status), and each
 * NOTIFY is a transaction on the server and a round trip here. `flushed()` cuts it short.
 */
export const EPHEMERAL_GATHER_MS = 2
const MAX_MESSAGE_CHARS = 1000

/** One chat's items from one publisher, in order. */
interface Envelope {
  c: string
  s: string
  i: EphemeralItem[]
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value))

/** Splits one item into items whose NOTIFY payloads each fit, keeping deltas whole in order (same seq). */
export function fitEphemeral(chatId: string, item: EphemeralItem): EphemeralItem[] {
  const overhead = bytes({ o: '0'.repeat(36), b: [{ c: chatId, s: '0'.repeat(36), i: [] }] })
  if (overhead + bytes(item) <= MAX_EPHEMERAL_PAYLOAD_BYTES) return [item]
  if ('delta' in item) {
    const budget = MAX_EPHEMERAL_PAYLOAD_BYTES - overhead - bytes({ ...item, delta: '' })
    const pieces: EphemeralItem[] = []
    let piece = ''
    let pieceBytes = 0
    for (const ch of item.delta) {
      const size = bytes(ch) - 2
      if (pieceBytes + size > budget && piece) {
        pieces.push({ ...item, delta: piece })
        piece = ''
        pieceBytes = 0
      }
      piece += ch
      pieceBytes += size
    }
    if (piece) pieces.push({ ...item, delta: piece })
    return pieces
  }
  if (item.kind === 'RetryCountdown') return [{ ...item, message: item.message.slice(0, MAX_MESSAGE_CHARS) + '…' }]
  return [item]
}

/** Packs envelopes into NOTIFY payloads under the limit, keeping each chat's items in order; `origin` names the publisher's pubsub. */
export function packPayloads(envelopes: Envelope[], origin = ''): string[] {
  const payloads: string[] = []
  let batch: Envelope[] = []
  const empty = bytes({ o: origin, b: [] })
  let size = empty
  const flush = () => {
    if (batch.length) payloads.push(JSON.stringify({ o: origin, b: batch }))
    batch = []
    size = empty
  }
  for (const env of envelopes) {
    for (const item of env.i.flatMap((i) => fitEphemeral(env.c, i))) {
      const last = batch[batch.length - 1]
      const sameChat = last && last.c === env.c && last.s === env.s
      const added = sameChat ? bytes(item) + 1 : bytes({ c: env.c, s: env.s, i: [item] }) + 1
      if (size + added > MAX_EPHEMERAL_PAYLOAD_BYTES) flush()
      const tail = batch[batch.length - 1]
      if (tail && tail.c === env.c && tail.s === env.s) tail.i.push(item)
      else batch.push({ c: env.c, s: env.s, i: [item] })
      size += added
    }
  }
  flush()
  return payloads
}

/** Delivers in order to this process's listeners, dropping what a publisher already sent. */
class LocalFanout {
  readonly #byChat = new Map<string, Set<EphemeralListener>>()
  /** The newest (publisher, turn) per chat and the last seq delivered from it. */
  readonly #passed = new Map<string, { key: string; seq: number }>()

  add(chatId: string, listener: EphemeralListener): () => void {
    let set = this.#byChat.get(chatId)
    if (!set) this.#byChat.set(chatId, (set = new Set()))
    set.add(listener)
    return () => {
      set.delete(listener)
      if (!set.size) {
        this.#byChat.delete(chatId)
        this.#passed.delete(chatId)
      }
    }
  }

  deliver(chatId: string, source: string, item: EphemeralItem) {
    const listeners = this.#byChat.get(chatId)
    if (!listeners) return
    const key = `${source}:${item.turnId ?? ''}`
    const passed = this.#passed.get(chatId)
    // Pieces of one split delta share its seq, so only a seq below the last one is a repeat.
    if (passed?.key === key && item.seq < passed.seq) return
    this.#passed.set(chatId, { key, seq: item.seq })
    for (const listener of listeners) {
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
  let pending: Envelope[] = []
  let flushing: Promise<void> | null = null
  /** Items published so far, and how many of them have gone out (in order: one flush at a time). */
  let published = 0
  let sent = 0
  let waiters: { through: number; resolve: () => void }[] = []
  /** Ends the gathering pause of the flush about to send (set while it waits); `urgent`: skip it. */
  let sendNow: (() => void) | null = null
  let urgent = false
  const markSent = (through: number) => {
    sent = Math.max(sent, through)
    const done = waiters.filter((w) => w.through <= sent)
    if (!done.length) return
    waiters = waiters.filter((w) => w.through > sent)
    for (const w of done) w.resolve()
  }
  // Payloads name this pubsub, which delivered them to its own listeners when they were published.
  const origin = randomUUID()
  const ownPayload = `{"o":"${origin}"`
  const leave = crossProcess ? (db.presence?.join(EPHEMERAL_CHANNEL) ?? (() => {})) : () => {}

  function ensureListening() {
    listening ??= db.listen(EPHEMERAL_CHANNEL, (payload) => {
      if (payload.startsWith(ownPayload)) return
      let batch: Envelope[]
      try {
        batch = (JSON.parse(payload) as { b: Envelope[] }).b
      } catch {
        return // not ours
      }
      for (const env of batch) for (const item of env.i) local.deliver(env.c, env.s, item)
    })
    return listening
  }

  /** One NOTIFY at a time: what was published meanwhile goes out, batched, in the next ones. */
  async function flush(): Promise<void> {
    try {
      await ensureListening()
    } catch (err) {
      // No LISTEN connection (the database is away): what is pending is lost, as deltas may be;
      // the next flush tries to listen again.
      listening = null
      pending = []
      markSent(published)
      throw err
    }
    if (!urgent)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, EPHEMERAL_GATHER_MS)
        sendNow = () => (clearTimeout(timer), resolve())
      })
    sendNow = null
    urgent = false
    while (pending.length) {
      const envelopes = pending
      const through = published
      pending = []
      try {
        // Deltas are lost by design when nobody listens: their NOTIFY need not wait for an fsync.
        for (const payload of packPayloads(envelopes, origin))
          await db.query(`select set_config('synchronous_commit', 'off', true), pg_notify($1, $2)`, [EPHEMERAL_CHANNEL, payload])
      } finally {
        markSent(through)
      }
    }
  }

  function startFlush(): Promise<void> {
    return flush().finally(() => {
      flushing = null
      if (pending.length) {
        flushing = startFlush()
        // Nobody awaits this one yet: a failure (the database away) must not become an unhandled rejection.
        flushing.catch(() => {})
      }
    })
  }

  const pubsub: EphemeralPubSub = {
    publishEphemeral(chatId, item, source = '') {
      // This process's subscribers get it now; other processes through NOTIFY.
      local.deliver(chatId, source, item)
      // No other process listens (src/db/presence.ts): the local delivery was all of it.
      if (!crossProcess || (db.presence && !db.presence.mayReachOthers(EPHEMERAL_CHANNEL))) return Promise.resolve()
      published++
      const last = pending[pending.length - 1]
      if (last && last.c === chatId && last.s === source) last.i.push(item)
      else pending.push({ c: chatId, s: source, i: [item] })
      return (flushing ??= startFlush())
    },
    async flushed() {
      const through = published
      if (sent >= through) return
      urgent = true
      sendNow?.()
      await new Promise<void>((resolve) => waiters.push({ through, resolve }))
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
      leave()
      await flushing?.catch(() => {})
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
