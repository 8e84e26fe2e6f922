import type { Sql } from '../db/database.ts'
import { ZERO_USAGE } from '../../projections/chat-row.ts'
import type { TokenUsage } from '../events/chat.ts'

/**
 * A fork's history is its source's up to the cut, resolved here on read through the `chats`
 * rows' fork pointers (forks of forks chain); the chats projection copies nothing. `lineage`
 * lists the chat ($1) with no upper bound, then each source with the lowest cut below it, and
 * whether retention moved its rows to `chat_messages_archive` (src/audit/retention.ts).
 */
export const LINEAGE = lineageFrom('null::bigint')

/**
 * `LINEAGE` with the chat's own bound: `null::bigint` (none), or a revision; `roots` picks the
 * chats whose lineages are listed (each member row names its `root`).
 */
function lineageFrom(bound: string, roots = 'id = $1::uuid'): string {
  return `with recursive lineage (root, chat_id, hi, src, cut, archived) as (
    select id, id, ${bound}, fork_of_chat_id, fork_of_revision, history_archived_at is not null from chats where ${roots}
  union all
    select l.root, c.id, least(l.hi, l.cut), c.fork_of_chat_id, c.fork_of_revision, c.history_archived_at is not null from chats c join lineage l on c.id = l.src
)`
}

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

/** A member's totals through its bound: its last message at or below it, from the table its rows are in. */
const lastMessageAtBound = (table: string, extra: string) =>
  `(select m.revision, m.total_usage, m.total_cost_usd from ${table} m
    where m.chat_id = l.chat_id and m.revision <= l.hi${extra} order by m.revision desc limit 1)`

/**
 * The sum, over the lineage members that match `where`, of each one's own totals right after its
 * last message at or below its bound (message rows carry them, migration 140), as one row of
 * `total_*` columns: one primary-key lookup per member, however long the chats are.
 */
const totalsOf = (where: string, groupByRoot = false) => `select${groupByRoot ? ' l.root::text as root,' : ''}
    coalesce(sum((t.total_usage ->> 'inputTokens')::bigint), 0)::text as total_input,
    coalesce(sum((t.total_usage ->> 'outputTokens')::bigint), 0)::text as total_output,
    coalesce(sum((t.total_usage ->> 'cacheReadTokens')::bigint), 0)::text as total_cache_read,
    coalesce(sum((t.total_usage ->> 'cacheWriteTokens')::bigint), 0)::text as total_cache_write,
    coalesce(sum((t.total_usage ->> 'reasoningTokens')::bigint), 0)::text as total_reasoning,
    coalesce(sum(t.total_cost_usd), 0)::text as total_cost
  from lineage l cross join lateral (
    select x.total_usage, x.total_cost_usd
    from (${lastMessageAtBound('chat_messages', '')} union all ${lastMessageAtBound('chat_messages_archive', ' and l.archived')}) x
    order by x.revision desc limit 1
  ) t
  where ${where}${groupByRoot ? ' group by l.root' : ''}`

export type InheritedTotals = { usage: TokenUsage; costUsd: number }

function totalsFrom(row: Record<string, unknown> | undefined): InheritedTotals {
  if (!row) return { usage: ZERO_USAGE, costUsd: 0 }
  return {
    usage: {
      inputTokens: Number(row.total_input),
      outputTokens: Number(row.total_output),
      cacheReadTokens: Number(row.total_cache_read),
      cacheWriteTokens: Number(row.total_cache_write),
      reasoningTokens: Number(row.total_reasoning),
    },
    costUsd: Number(row.total_cost),
  }
}

/** Token and cost totals of forks' inherited calls (their own are on their rows), in one query for a page of chats: by chat id. */
export async function inheritedUsageOf(db: Sql, forkIds: readonly string[]): Promise<Map<string, InheritedTotals>> {
  if (forkIds.length === 0) return new Map()
  const rows = await db.query<Record<string, string>>(`${lineageFrom('null::bigint', 'id = any($1::uuid[])')} ${totalsOf('l.chat_id <> l.root', true)}`, [forkIds])
  return new Map(forkIds.map((id) => [id, totalsFrom(rows.find((r) => r.root === id))]))
}

/**
 * A chat's totals, its own and inherited, right after `revision`: what a fork cut there
 * inherits. Only whole once the read model has the chat through that revision, so with the
 * revision it has (`projected`, -1 when it has no row), from the same snapshot.
 */
export async function totalsThrough(db: Sql, chatId: string, revision: number): Promise<{ totals: InheritedTotals; projected: number }> {
  const [row] = await db.query<Record<string, string>>(
    `${lineageFrom('$2::bigint')}
     select coalesce((select revision from chats where id = $1::uuid), -1)::text as projected, t.* from (${totalsOf('true')}) t`,
    [chatId, revision],
  )
  return { totals: totalsFrom(row), projected: Number(row?.projected ?? -1) }
}
