import type { Sql } from '../db/database.ts'
import { ZERO_USAGE } from '../../projections/chat-row.ts'
import type { TokenUsage } from '../events/chat.ts'

/**
 * A fork's history is its source's up to the cut, resolved here on read through the `chats`
 * rows' fork pointers (forks of forks chain); the chats projection copies nothing. `lineage`
 * lists the chat ($1) with no upper bound, then each source with the lowest cut below it, and
 * whether retention moved its rows to `chat_messages_archive` (src/audit/retention.ts).
 */
export const LINEAGE = `with recursive lineage (chat_id, hi, src, cut, archived) as (
    select id, null::bigint, fork_of_chat_id, fork_of_revision, history_archived_at is not null from chats where id = $1::uuid
  union all
    select c.id, least(l.hi, l.cut), c.fork_of_chat_id, c.fork_of_revision, c.history_archived_at is not null from chats c join lineage l on c.id = l.src
)`

/**
 * The messages the chat sees (each lineage member's up to its bound) that match `where` (on
 * alias m): from `chat_messages`, and from the archive for members whose rows retention moved.
 */
function lineageRows(where: string): string {
  const from = (table: string, extra: string) =>
    `select m.chat_id, m.revision, m.id, m.role, m.parts, m.usage, m.cost_usd, m.created_at
     from lineage l join ${table} m on m.chat_id = l.chat_id and (l.hi is null or m.revision <= l.hi)
     where ${where}${extra}`
  return `(${from('chat_messages', '')} union all ${from('chat_messages_archive', ' and l.archived')})`
}

/** The newest summary's cover among the messages the chat sees: every message up to it is compacted. */
export const COMPACTED_THROUGH = `(select coalesce(max((s.parts -> 0 ->> 'throughRevision')::bigint), -1)
    from ${lineageRows(`m.role = 'summary'`)} s)`

/** Messages of a chat, inherited ones included, after a revision, in revision order. */
export async function lineageMessages(db: Sql, chatId: string, afterRevision: string, limit: number) {
  return db.query<Record<string, unknown>>(
    `${LINEAGE}
     select $1::uuid as chat_id, m.revision, m.id, m.role, m.parts, m.usage, m.cost_usd, m.created_at,
            m.chat_id <> $1::uuid as inherited, m.revision <= ${COMPACTED_THROUGH} as compacted
     from ${lineageRows('m.revision > $2::bigint')} m
     order by m.revision
     limit $3`,
    [chatId, afterRevision, limit],
  )
}

/** Token and cost totals of a fork's inherited steps (its own are on its row). */
export async function inheritedUsage(db: Sql, chatId: string): Promise<{ usage: TokenUsage; costUsd: number }> {
  const [row] = await db.query<Record<string, string>>(
    `${LINEAGE}
     select coalesce(sum((m.usage ->> 'inputTokens')::bigint), 0)::text as input,
            coalesce(sum((m.usage ->> 'outputTokens')::bigint), 0)::text as output,
            coalesce(sum((m.usage ->> 'cacheReadTokens')::bigint), 0)::text as cache_read,
            coalesce(sum((m.usage ->> 'cacheWriteTokens')::bigint), 0)::text as cache_write,
            coalesce(sum((m.usage ->> 'reasoningTokens')::bigint), 0)::text as reasoning,
            coalesce(sum(m.cost_usd), 0)::text as cost
     from ${lineageRows(`m.chat_id <> $1::uuid and m.role = 'assistant'`)} m`,
    [chatId],
  )
  if (!row) return { usage: ZERO_USAGE, costUsd: 0 }
  return {
    usage: {
      inputTokens: Number(row.input),
      outputTokens: Number(row.output),
      cacheReadTokens: Number(row.cache_read),
      cacheWriteTokens: Number(row.cache_write),
      reasoningTokens: Number(row.reasoning),
    },
    costUsd: Number(row.cost),
  }
}
