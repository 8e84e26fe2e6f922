/**
 * Deletes chat debug log rows older than the admin's `retentionDays` (DebugLoggingSet), now and
 * hourly, beside the chats' retention pass (src/audit/retention.ts). Rows of a switch turned
 * off are pruned too: the period still applies to what was kept.
 */
import type { Database } from '../db/database.ts'
import type { ConfigState } from '../../commands/config/decide.ts'
import { retentionCutoff } from '../audit/retention.ts'
import { deleteChatDebugLogsBefore } from './store.ts'

export async function pruneChatDebugLogs(db: Database, retentionDays: number, now = new Date()): Promise<number> {
  return deleteChatDebugLogsBefore(db, retentionCutoff(retentionDays, now))
}

export class ChatDebugLogRetention {
  #timer: NodeJS.Timeout | null = null
  #running: Promise<unknown> | null = null
  #stopped = false

  constructor(private readonly deps: { db: Database; config: { current(): Promise<ConfigState> }; log: (line: string) => void; intervalMs?: number }) {}

  start(): void {
    this.#stopped = false
    this.#schedule(0)
  }

  /** One pass with the current setting; the number of rows deleted. */
  async runOnce(now = new Date()): Promise<number> {
    const { retentionDays } = (await this.deps.config.current()).debugLogging
    const deleted = await pruneChatDebugLogs(this.deps.db, retentionDays, now)
    if (deleted) this.deps.log(`retention: deleted ${deleted} chat debug log rows older than ${retentionDays} days`)
    return deleted
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    await this.#running
  }

  #schedule(delay: number) {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.#running = this.runOnce()
        .catch((err: unknown) => this.deps.log(`debug log retention pass failed: ${err instanceof Error ? err.message : String(err)}`))
        .finally(() => {
          this.#running = null
          this.#schedule(this.deps.intervalMs ?? 60 * 60 * 1000)
        })
    }, delay)
    this.#timer.unref()
  }
}
