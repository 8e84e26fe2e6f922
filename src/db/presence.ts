import { randomUUID } from 'node:crypto'
import type { Database } from './database.ts'

type Db = Pick<Database, 'query' | 'listen'>

/** The channel Cairn processes sharing a PostgreSQL database say they are there on. */
export const PRESENCE_CHANNEL = 'cairn_presence'
/** How often a process says it is still there. */
export const PRESENCE_HEARTBEAT_MS = 3_000
/** How long one heartbeat counts: a process silent this long is gone. */
export const PRESENCE_TTL_MS = 10_000
/** After starting, how long a process notifies as if others listened, while their answers come. */
export const PRESENCE_DISCOVERY_MS = 1_000

const notify = `select set_config('synchronous_commit', 'off', true), pg_notify($1, $2)`

/**
 * Whether a wake-up NOTIFY on a channel (the store's after an append, the ephemeral channel's
 * deltas) has anyone to reach: another Cairn process on this database, or another member of the
 * channel in this one (a second event store on the same `Database`). With nobody else there —
 * the usual single `cairn serve` — those NOTIFYs are skipped: each is a transaction on the
 * server and a round trip here, several per model step. One per PostgreSQL `Database`.
 *
 * Each process LISTENs on `cairn_presence`, says `hello` when it starts listening (and again
 * after its LISTEN session came back), `here` every PRESENCE_HEARTBEAT_MS, and answers a
 * newcomer's `hello` with `here` at once, so both sides know of each other within a round trip.
 * Until PRESENCE_DISCOVERY_MS after starting, and whenever presence cannot be told (no LISTEN
 * session), `mayReachOthers` says true: a process that only appends (a CLI command) notifies.
 * Readers still poll, so a wake-up missed in the moment a process joins only delays them.
 */
export class Presence {
  readonly origin = randomUUID()
  #othersUntil = 0
  #discoveringUntil = Infinity
  #started: Promise<void> | null = null
  #timer: NodeJS.Timeout | null = null
  #unlisten: (() => Promise<void>) | null = null
  /** Members of each channel in this process (event stores, ephemeral pubsubs). */
  readonly #members = new Map<string, number>()

  constructor(
    private readonly db: Db,
    private readonly timing = { heartbeatMs: PRESENCE_HEARTBEAT_MS, ttlMs: PRESENCE_TTL_MS, discoveryMs: PRESENCE_DISCOVERY_MS },
  ) {}

  /** A publisher that also listens on `channel` (its own payloads it skips); call the result when it closes. */
  join(channel: string): () => void {
    this.#members.set(channel, (this.#members.get(channel) ?? 0) + 1)
    void this.start()
    let left = false
    return () => {
      if (left) return
      left = true
      this.#members.set(channel, (this.#members.get(channel) ?? 1) - 1)
    }
  }

  /** Whether a NOTIFY on `channel` by one of its members may reach anyone now. */
  mayReachOthers(channel: string): boolean {
    if ((this.#members.get(channel) ?? 0) > 1) return true
    void this.start()
    const now = performance.now()
    return now < this.#discoveringUntil || now < this.#othersUntil
  }

  start(): Promise<void> {
    this.#started ??= (async () => {
      try {
        this.#unlisten = await this.db.listen(PRESENCE_CHANNEL, (payload) => this.#heard(payload))
      } catch {
        this.#started = null // the database is away: notify meanwhile, try again on the next question
        return
      }
      this.#say('hello')
      this.#timer = setInterval(() => this.#say('here'), this.timing.heartbeatMs)
      this.#timer.unref()
    })()
    return this.#started
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    await this.#unlisten?.()
    this.#unlisten = null
    this.#started = null
  }

  #heard(payload: string): void {
    if (payload === '') {
      // The LISTEN session came back: others may have counted this process gone meanwhile.
      this.#say('hello')
      return
    }
    const [kind, origin] = payload.split(' ')
    if (origin === this.origin) return
    this.#othersUntil = performance.now() + this.timing.ttlMs
    if (kind === 'hello') this.#say('here')
  }

  #say(kind: 'hello' | 'here'): void {
    if (kind === 'hello') this.#discoveringUntil = performance.now() + this.timing.discoveryMs
    this.db.query(notify, [PRESENCE_CHANNEL, `${kind} ${this.origin}`]).catch(() => {})
  }
}

