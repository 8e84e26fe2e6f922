import { randomUUID } from 'node:crypto'
import type { Database } from '../../db/database.ts'

/** The channel the store notifies on after appends. The payload names streams: a wake-up, never data. */
export const EVENTS_CHANNEL = 'cairn_events'
// NOTIFY payloads must stay under 8000 bytes; an empty payload wakes every reader.
const MAX_PAYLOAD_BYTES = 7000
/** The least time between two NOTIFYs of one store (see CommitNotifier). */
export const NOTIFY_INTERVAL_MS = 4

/**
 * A payload is `@<origin>` and the appended streams, a line each; no stream line wakes every
 * reader. The origin names the store that appended, so its own process, woken at the append
 * itself, does not read again for its own notification.
 */
export function parseNotification(payload: string): { origin: string | null; streams: string[] } {
  const lines = payload ? payload.split('\n') : []
  const origin = lines[0]?.startsWith('@') ? lines.shift()!.slice(1) : null
  return { origin, streams: lines.length ? lines : [''] }
}

/**
 * Sends NOTIFY after appends commit, for the other processes sharing the log (this one's readers
 * are woken at the append itself; when no other process listens, nothing is sent:
 * src/db/presence.ts), coalescing the streams appended meanwhile: at most one at a
 * time, and at most one per NOTIFY_INTERVAL_MS. The first append after a quiet spell is notified
 * at once; under a steady stream of appends, other processes' readers wake up to that interval
 * late, and the server runs one notifying transaction for many appends instead of one for each
 * (a third of a single-event append's cost otherwise, measured with `npm run bench -- eventstore`).
 * Not inside the append: a notifying transaction holds a global lock through its commit flush,
 * which serializes every concurrent append on the server.
 * A lost NOTIFY (a crash right after commit) only delays readers until their next poll, so the
 * notifying transaction commits asynchronously: it does not wait for a WAL flush of its own (a
 * NOTIFY assigns a transaction id, so a synchronous commit would cost an fsync per wake-up) and
 * holds that global lock only briefly.
 */
export class CommitNotifier {
  /** Names this store in its notifications (see parseNotification). */
  readonly origin = randomUUID()
  readonly #pending = new Set<string>()
  #flushing: Promise<void> | null = null
  #lastSentAt = -Infinity

  /** Leaves the channel's presence (src/db/presence.ts) when the store closes. */
  readonly leave: () => void

  constructor(private readonly db: Database) {
    this.leave = db.presence?.join(EVENTS_CHANNEL) ?? (() => {})
  }

  announce(stream: string): void {
    // Nobody else listens (a single process): there is no one to wake.
    if (this.db.presence && !this.db.presence.mayReachOthers(EVENTS_CHANNEL)) return
    this.#pending.add(stream.includes('\n') ? '' : stream)
    this.#flushing ??= this.#flush().finally(() => (this.#flushing = null))
  }

  /** Resolves once every announced append has been notified. */
  async settled(): Promise<void> {
    while (this.#flushing) await this.#flushing
  }

  async #flush(): Promise<void> {
    while (this.#pending.size) {
      const wait = this.#lastSentAt + NOTIFY_INTERVAL_MS - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      this.#lastSentAt = performance.now()
      const streams = [...this.#pending]
      this.#pending.clear()
      const joined = streams.join('\n')
      const payload = `@${this.origin}` + (streams.includes('') || Buffer.byteLength(joined) > MAX_PAYLOAD_BYTES ? '' : `\n${joined}`)
      await this.db
        .query(`select set_config('synchronous_commit', 'off', true), pg_notify($1, $2)`, [EVENTS_CHANNEL, payload])
        .catch(() => {})
    }
  }
}
