import type { Sql } from '../src/db/database.ts'
import type { HistoryChange, MessageRow } from './chat-row.ts'
import { readModels } from './read-models.ts'

export type { SummaryPart, ToolResultPart } from './chat-row.ts'

/**
 * The rows under a chat in SQL: messages, queue and attachments. Each `HistoryChange` that
 * `evolveChatRow` decides is applied here as `applyHistoryChanges` applies it in memory.
 * Returns whether the queue changed (the row's `queue_length` then follows the table).
 * With `unwritten`, message rows are added to it instead of inserted one by one.
 */
export async function writeHistoryChanges(tx: Sql, chatId: string, changes: readonly HistoryChange[], unwritten?: MessageRow[]): Promise<boolean> {
  let queueChanged = false
  for (const c of changes) {
    if (c.kind === 'message') {
      if (unwritten) unwritten.push(c.message)
      else await insertMessages(tx, [c.message])
      continue
    }
    // What follows may touch messages (a compaction marks them): those held back go first.
    if (unwritten?.length) await insertMessages(tx, unwritten.splice(0))
    switch (c.kind) {
      case 'compact':
        await readModels(tx)
          .updateTable('chat_messages')
          .set({ compacted: true })
          .where('chat_id', '=', chatId)
          .where('revision', '<=', String(c.throughRevision))
          .execute()
        break
      case 'enqueue':
        // Head: below the current minimum; tail: above the maximum. Positions only ever order.
        await tx.query(
          `insert into chat_queue (chat_id, queue_id, position, parts, author_id, created_at)
           select $1, $2, ${c.atHead ? 'coalesce(min(position), 1) - 1' : 'coalesce(max(position), -1) + 1'}, $3::jsonb, $4, $5
           from chat_queue where chat_id = $1
           on conflict (chat_id, queue_id) do nothing`,
          [chatId, c.item.queueId, JSON.stringify(c.item.parts), c.item.authorId, c.item.createdAt],
        )
        queueChanged = true
        break
      case 'dequeue':
        await readModels(tx).deleteFrom('chat_queue').where('chat_id', '=', chatId).where('queue_id', '=', c.queueId).execute()
        queueChanged = true
        break
      case 'promote':
        await tx.query(
          `update chat_queue set position = (select min(position) - 1 from chat_queue where chat_id = $1)
           where chat_id = $1 and queue_id = $2`,
          [chatId, c.queueId],
        )
        break
      case 'attach':
        await readModels(tx)
          .insertInto('chat_attachments')
          .values({ chat_id: chatId, attachment_id: c.attachmentId, revision: c.revision })
          .onConflict((oc) => oc.doNothing())
          .execute()
        break
    }
  }
  return queueChanged
}

/** Inserts message rows in one statement (a batch holds them back until its end, or until a change that needs them). */
export async function insertMessages(tx: Sql, rows: readonly MessageRow[]) {
  if (!rows.length) return
  await readModels(tx)
    .insertInto('chat_messages')
    .values(
      rows.map((m) => ({
        chat_id: m.chatId,
        revision: m.revision,
        id: m.id,
        role: m.role,
        parts: JSON.stringify(m.parts),
        usage: m.usage === null ? null : JSON.stringify(m.usage),
        cost_usd: m.costUsd,
        total_usage: JSON.stringify(m.totalUsage),
        total_cost_usd: m.totalCostUsd,
        created_at: m.createdAt,
      })),
    )
    .onConflict((oc) => oc.columns(['chat_id', 'revision']).doNothing())
    .execute()
}
