/**
 * Retention: old chats' message rows leave the hot `chat_messages` table for
 * `chat_messages_archive` (migration 080); the chat's `chats` row stays, marked
 * `history_archived_at`. Only read models move: the log is never touched, so an archived chat
 * still folds from its events (as of any revision, export, replay) and its chain still verifies.
 *
 * A fork reads its source's rows through the fork pointer, so a chat is archived only once every
 * fork of it is, and any new event of an archived chat (or a new fork of one) moves the rows of
 * its whole lineage back (`restoreChatHistory`, called by the chats projection in its own
 * transaction). Both take the chat's `chats` row lock, so a pass and the projection never cross.
 */
import type { Database, Sql } from '../db/database.ts'
import { LINEAGE } from '../api/chat-lineage.ts'

export { MAX_RETENTION_DAYS } from '../../commands/config/decide.ts'

const COLUMNS = 'chat_id, revision, id, role, parts, usage, cost_usd, total_usage, total_cost_usd, compacted, inherited, created_at'
const BATCH = 100

export interface RetentionPass {
  /** Chats whose message rows were archived by this pass. */
  chats: number
  messages: number
}

/**
 * Archives the message rows of every chat whose last event is older than `before`, that no
 * runner needs, with an empty queue, and all of whose forks are archived already (a pass repeats
 * until nothing moves, so a chain of old forks goes in one call, forks first).
 */
export async function archiveOldChats(db: Database, before: Date): Promise<RetentionPass> {
  const total: RetentionPass = { chats: 0, messages: 0 }
  for (;;) {
    const pass = await db.transaction(async (tx) => {
      // Skip locked: a chat the projection is writing now has activity, so it is not old.
      const picked = await tx.query<{ id: string }>(
        `select c.id from chats c
         where c.history_archived_at is null and c.updated_at < $1 and not c.needs_runner and c.queue_length = 0
           and not exists (select 1 from chats f where f.fork_of_chat_id = c.id and f.history_archived_at is null)
         order by c.updated_at
         limit $2
         for update of c skip locked`,
        [before, BATCH],
      )
      if (!picked.length) return { chats: 0, messages: 0 }
      const ids = picked.map((p) => p.id)
      await tx.query('update chats set history_archived_at = now() where id = any($1::uuid[])', [ids])
      const moved = await tx.query<{ n: string }>(
        `with moved as (delete from chat_messages where chat_id = any($1::uuid[]) returning ${COLUMNS})
         , kept as (insert into chat_messages_archive (${COLUMNS}) select ${COLUMNS} from moved returning 1)
         select count(*)::text as n from kept`,
        [ids],
      )
      return { chats: ids.length, messages: Number(moved[0]?.n ?? 0) }
    })
    total.chats += pass.chats
    total.messages += pass.messages
    if (pass.chats === 0) return total
  }
}

/**
 * Moves the archived rows of a chat and of every chat it reads through (its fork sources) back
 * into `chat_messages`. Called inside the chats projection's transaction, before the event that
 * brings the chat back is applied.
 */
export async function restoreChatHistory(tx: Sql, chatId: string): Promise<void> {
  const rows = await tx.query<{ id: string }>(
    `${LINEAGE}
     select c.id from lineage l join chats c on c.id = l.chat_id where c.history_archived_at is not null
     for update of c`,
    [chatId],
  )
  if (!rows.length) return
  const ids = rows.map((r) => r.id)
  await tx.query('update chats set history_archived_at = null where id = any($1::uuid[])', [ids])
  await tx.query(
    `with moved as (delete from chat_messages_archive where chat_id = any($1::uuid[]) returning ${COLUMNS})
     insert into chat_messages (${COLUMNS}) select ${COLUMNS} from moved on conflict (chat_id, revision) do nothing`,
    [ids],
  )
}

/** The retention setting as days → the cutoff a pass archives before. */
export function retentionCutoff(days: number, now: Date): Date {
  return new Date(now.getTime() - days * 24 * 60 * 60 * 1000)
}

/**
 * Runs a pass now and then every `intervalMs` while the admin setting (`chatRetentionDays` of
 * the `config` stream) is set. Errors are logged; the next pass tries again.
 */
/**
 * A pass that runs now and then every `intervalMs` (an hour by default) until stopped: the
 * retention passes of chat rows and of debug logs. A failed pass is logged; the next one runs.
 */
export abstract class PeriodicPass<T> {
  #timer: NodeJS.Timeout | null = null
  #running: Promise<void> | null = null
  #stopped = false

  constructor(
    private readonly what: string,
    private readonly schedule: { log: (line: string) => void; intervalMs?: number },
  ) {}

  /** One pass now. */
  abstract runOnce(now?: Date): Promise<T>

  start(): void {
    this.#stopped = false
    this.#schedule(0)
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
        .then(
          () => {},
          (err) => this.schedule.log(`${this.what} failed: ${err instanceof Error ? err.message : String(err)}`),
        )
        .finally(() => {
          this.#running = null
          this.#schedule(this.schedule.intervalMs ?? 60 * 60 * 1000)
        })
    }, delay)
    this.#timer.unref()
  }
}

export class ChatRetention extends PeriodicPass<RetentionPass | null> {
  constructor(
    private readonly deps: { db: Database; retentionDays: () => Promise<number | null>; log: (line: string) => void; intervalMs?: number },
  ) {
    super('retention pass', deps)
  }

  /** One pass with the current setting; null when retention is off. */
  async runOnce(now = new Date()): Promise<RetentionPass | null> {
    const days = await this.deps.retentionDays()
    if (days === null) return null
    const pass = await archiveOldChats(this.deps.db, retentionCutoff(days, now))
    if (pass.chats) this.deps.log(`retention: archived the messages of ${pass.chats} chats idle for over ${days} days (${pass.messages} rows); their events are untouched`)
    return pass
  }
}
