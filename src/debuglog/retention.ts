/**
 * Deletes chat debug log rows older than the admin's `retentionDays` (DebugLoggingSet), now and
 * hourly, beside the chats' retention pass (src/audit/retention.ts). Rows of a switch turned
 * off are pruned too: the period still applies to what was kept.
 */
import type { Database } from '../db/database.ts'
import type { ConfigState } from '../../commands/config/decide.ts'
import { PeriodicPass, retentionCutoff } from '../audit/retention.ts'
import { deleteChatDebugLogsBefore } from './store.ts'

export async function pruneChatDebugLogs(db: Database, retentionDays: number, now = new Date()): Promise<number> {
  return deleteChatDebugLogsBefore(db, retentionCutoff(retentionDays, now))
}

export class ChatDebugLogRetention extends PeriodicPass<number> {
  constructor(private readonly deps: { db: Database; config: { current(): Promise<ConfigState> }; log: (line: string) => void; intervalMs?: number }) {
    super('debug log retention pass', deps)
  }

  /** One pass with the current setting; the number of rows deleted. */
  async runOnce(now = new Date()): Promise<number> {
    const { retentionDays } = (await this.deps.config.current()).debugLogging
    const deleted = await pruneChatDebugLogs(this.deps.db, retentionDays, now)
    if (deleted) this.deps.log(`retention: deleted ${deleted} chat debug log rows older than ${retentionDays} days`)
    return deleted
  }
}
