import { sql } from 'kysely'
import type { Sql } from '../src/db/database.ts'
import type { ChatEvent, MessagePart, Stored } from '../src/events/index.ts'
import { readModels, type ChatMessagesTable } from './read-models.ts'

/** The rows under a chat: messages, queue and attachments. The `chats` projection calls these. */

type Of<T extends ChatEvent['type']> = Extract<Stored<ChatEvent>, { type: T }>

/** The part a `summary` message holds; `throughRevision` is what a fork needs to mark its copies. */
export interface SummaryPart {
  type: 'summary'
  text: string
  throughRevision: number
  tokensBefore: number
  tokensAfter: number
  manual: boolean
}

/** A tool result as the one part of a `tool` message. */
export interface ToolResultPart {
  type: 'tool_result'
  callId: string
  name: string
  result: string
  isError: boolean
  durationMs: number
  images?: { attachmentId: string; mimeType: string; sha256: string }[]
}

async function insertMessage(
  tx: Sql,
  event: Stored<ChatEvent>,
  chatId: string,
  row: { id: string; role: ChatMessagesTable['role']; parts: unknown; usage?: unknown; costUsd?: number },
) {
  await readModels(tx)
    .insertInto('chat_messages')
    .values({
      chat_id: chatId,
      revision: Number(event.revision),
      id: row.id,
      role: row.role,
      parts: JSON.stringify(row.parts),
      usage: row.usage === undefined ? null : JSON.stringify(row.usage),
      cost_usd: row.costUsd ?? null,
      created_at: event.createdAt,
    })
    .onConflict((oc) => oc.columns(['chat_id', 'revision']).doNothing())
    .execute()
}

export const recordUserMessage = (tx: Sql, chatId: string, e: Of<'UserMessagePosted'>) =>
  insertMessage(tx, e, chatId, { id: e.data.messageId, role: 'user', parts: e.data.parts })

export const recordAssistantStep = (tx: Sql, chatId: string, e: Of<'AssistantStepCompleted'>) =>
  insertMessage(tx, e, chatId, { id: e.data.stepId, role: 'assistant', parts: e.data.parts, usage: e.data.usage, costUsd: e.data.costUsd })

export function recordToolResult(tx: Sql, chatId: string, e: Of<'ToolCallCompleted'>) {
  const d = e.data
  const part: ToolResultPart = {
    type: 'tool_result',
    callId: d.callId,
    name: d.name,
    result: d.result,
    isError: d.isError,
    durationMs: d.durationMs,
    ...(d.images ? { images: d.images } : {}),
  }
  return insertMessage(tx, e, chatId, { id: d.callId, role: 'tool', parts: [part] })
}

/** The summary becomes a message, and every row it covers (inherited ones too) is marked compacted. */
export async function recordCompaction(tx: Sql, chatId: string, e: Of<'ContextCompacted'>) {
  const d = e.data
  const part: SummaryPart = {
    type: 'summary',
    text: d.summary,
    throughRevision: d.throughRevision,
    tokensBefore: d.tokensBefore,
    tokensAfter: d.tokensAfter,
    manual: d.manual,
  }
  await insertMessage(tx, e, chatId, { id: e.id, role: 'summary', parts: [part] })
  await readModels(tx)
    .updateTable('chat_messages')
    .set({ compacted: true })
    .where('chat_id', '=', chatId)
    .where('revision', '<=', String(d.throughRevision))
    .execute()
}

export async function enqueue(tx: Sql, chatId: string, e: Of<'MessageQueued'>) {
  const d = e.data
  // Head: below the current minimum; tail: above the maximum. Positions only ever order.
  await tx.query(
    `insert into chat_queue (chat_id, queue_id, position, parts, author_id, created_at)
     select $1, $2, ${d.atHead ? 'coalesce(min(position), 1) - 1' : 'coalesce(max(position), -1) + 1'}, $3::jsonb, $4, $5
     from chat_queue where chat_id = $1
     on conflict (chat_id, queue_id) do nothing`,
    [chatId, d.queueId, JSON.stringify(d.parts satisfies MessagePart[]), d.authorId, e.createdAt],
  )
}

export async function dequeue(tx: Sql, chatId: string, queueId: string) {
  await readModels(tx).deleteFrom('chat_queue').where('chat_id', '=', chatId).where('queue_id', '=', queueId).execute()
}

export async function promote(tx: Sql, chatId: string, queueId: string) {
  await tx.query(
    `update chat_queue set position = (select min(position) - 1 from chat_queue where chat_id = $1)
     where chat_id = $1 and queue_id = $2`,
    [chatId, queueId],
  )
}

/** Subquery for `chats.queue_length` after a queue change in the same transaction. */
export const queueLength = (chatId: string) =>
  sql<number>`(select count(*)::int from chat_queue where chat_id = ${chatId})`

export async function recordAttachment(tx: Sql, chatId: string, e: Of<'AttachmentAdded'>) {
  await readModels(tx)
    .insertInto('chat_attachments')
    .values({ chat_id: chatId, attachment_id: e.data.attachmentId })
    .onConflict((oc) => oc.doNothing())
    .execute()
}

/**
 * A fork reads as its source's events up to the cut, which the engine does not replay for the
 * fork's stream: copy the source's messages up to the cut (its own inherited rows included, so
 * forks of forks chain), marked compacted as the summaries up to the cut say, and the
 * attachments they reference.
 */
export async function copyForkHistory(tx: Sql, forkId: string, sourceId: string, atRevision: number) {
  await tx.query(
    `insert into chat_messages (chat_id, revision, id, role, parts, usage, cost_usd, compacted, inherited, created_at)
     select $1, m.revision, m.id, m.role, m.parts, m.usage, m.cost_usd,
            m.revision <= coalesce(
              (select max((s.parts -> 0 ->> 'throughRevision')::bigint) from chat_messages s
               where s.chat_id = $2 and s.role = 'summary' and s.revision <= $3), -1),
            true, m.created_at
     from chat_messages m
     where m.chat_id = $2 and m.revision <= $3
     on conflict (chat_id, revision) do nothing`,
    [forkId, sourceId, atRevision],
  )
  await tx.query(
    `insert into chat_attachments (chat_id, attachment_id)
     select distinct $1::uuid, (a #>> '{}')::uuid
     from chat_messages m, jsonb_path_query(m.parts, 'lax $.**.attachmentId') a
     where m.chat_id = $1
     on conflict do nothing`,
    [forkId],
  )
}

/** Token and cost totals of a chat's messages (a fork's start). */
export async function messageTotals(tx: Sql, chatId: string) {
  const [row] = await tx.query<Record<'input' | 'output' | 'cache_read' | 'cache_write' | 'reasoning' | 'cost', string>>(
    `select coalesce(sum((usage ->> 'inputTokens')::bigint), 0)::text as input,
            coalesce(sum((usage ->> 'outputTokens')::bigint), 0)::text as output,
            coalesce(sum((usage ->> 'cacheReadTokens')::bigint), 0)::text as cache_read,
            coalesce(sum((usage ->> 'cacheWriteTokens')::bigint), 0)::text as cache_write,
            coalesce(sum((usage ->> 'reasoningTokens')::bigint), 0)::text as reasoning,
            coalesce(sum(cost_usd), 0)::text as cost
     from chat_messages where chat_id = $1 and role = 'assistant'`,
    [chatId],
  )
  return row!
}
