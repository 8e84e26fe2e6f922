import type { Database } from '../db/database.ts'

/**
 * Per-chat leases in `chat_leases`: one runner drives a chat at a time. A holder renews
 * its leases every few seconds; a lease not renewed by `expires_at` can be taken over.
 */
export class ChatLeases {
  constructor(
    private readonly db: Database,
    readonly owner: string,
    private readonly ttlMs: number,
  ) {}

  /** Takes the chat's lease if it is free, expired, or already ours. */
  async acquire(chatId: string): Promise<boolean> {
    const rows = await this.db.query<{ owner: string }>(
      `insert into chat_leases (chat_id, owner, expires_at) values ($1, $2, now() + $3 * interval '1 millisecond')
       on conflict (chat_id) do update set owner = excluded.owner, expires_at = excluded.expires_at, acquired_at = now()
         where chat_leases.owner = excluded.owner or chat_leases.expires_at < now()
       returning owner`,
      [chatId, this.owner, this.ttlMs],
    )
    return rows[0]?.owner === this.owner
  }

  /** Renews the given leases; returns the chat ids whose lease this owner no longer holds. */
  async renew(chatIds: string[]): Promise<string[]> {
    if (chatIds.length === 0) return []
    const rows = await this.db.query<{ chat_id: string }>(
      `update chat_leases set expires_at = now() + $3 * interval '1 millisecond'
       where owner = $1 and chat_id = any($2::uuid[]) returning chat_id`,
      [this.owner, chatIds, this.ttlMs],
    )
    const kept = new Set(rows.map((r) => r.chat_id))
    return chatIds.filter((id) => !kept.has(id))
  }

  async release(chatId: string): Promise<void> {
    await this.db.query('delete from chat_leases where chat_id = $1 and owner = $2', [chatId, this.owner])
  }
}
