import type { Sql } from '../src/db/database.ts'
import type { StoredEvent } from '../src/eventstore/types.ts'
import { CHAT_EVENT_TYPES, chatIdOfStream, upcast, type ChatEvent, type ChatStatus, type Stored } from '../src/events/index.ts'
import { inBatches, type Projection, type ProjectionBatch } from '../src/projections/types.ts'
import { insertMessages, writeHistoryChanges } from './chat-history.ts'
import { evolveChatRow, FORK_NEEDS_SOURCE_SETTINGS, type ChatRow, type ForkFallback, type MessageRow, type PendingApproval } from './chat-row.ts'
import { readModels, type ChatsTable } from './read-models.ts'
import { chatNeedsRunner } from '../src/events/chat-state.ts'
import { restoreChatHistory } from '../src/audit/retention.ts'

/**
 * One row per chat in `chats`, with its messages, queue and attachments (chat-history.ts).
 * What each event does is `evolveChatRow` (chat-row.ts), a pure function the as-of fold
 * shares; this file only loads the row and writes the result. A fork's row is built from its
 * `ChatForked` alone: its inherited history is resolved on read, never copied here.
 */
export const chatsProjection: Projection = {
  name: 'chats',
  eventTypes: CHAT_EVENT_TYPES,
  tables: ['chats', 'chat_messages', 'chat_queue', 'chat_attachments', 'chat_messages_archive'],
  handle: inBatches(applyChatEvent),
}

/** The batch's message rows not yet inserted (one insert at the end of the batch). */
const MESSAGES = 'messages'

interface HeldRow {
  row: ChatRow | null
  /** The row as this batch inserted it (a new chat): written already unless a later event changed it. */
  inserted: ChatRow | null
  /** Whether the batch changed the chat's queue (its length is then counted from the table). */
  queueChanged: boolean
}

/** Folds one event into the chat's row, which is loaded once per batch and written at its end. */
async function applyChatEvent(tx: Sql, stored: StoredEvent, batch: ProjectionBatch): Promise<void> {
  const event = upcast(stored) as Stored<ChatEvent>
  const chatId = chatIdOfStream(event.stream)
  const first = event.type === 'ChatCreated' || event.type === 'ChatForked'
  let unwritten = batch.memo.get(MESSAGES) as MessageRow[] | undefined
  if (!unwritten) {
    const rows: MessageRow[] = (unwritten = [])
    batch.memo.set(MESSAGES, rows)
    batch.beforeCommit(() => insertMessages(tx, rows.splice(0)))
  }
  let held = batch.memo.get(chatId) as HeldRow | undefined
  if (!held) {
    const current = first ? undefined : await readModels(tx).selectFrom('chats').selectAll().where('id', '=', chatId).forUpdate().executeTakeFirst()
    if (!first && !current)
      throw new Error(`${event.type} at ${event.stream}@${event.revision}: the chat has no row (no ChatCreated or ChatForked before it)`)
    // Activity brings a chat's archived rows back (src/audit/retention.ts): it reads through them.
    if (current?.history_archived_at) await restoreChatHistory(tx, chatId)
    const entry: HeldRow = (held = { row: current ? chatRowOf(current) : null, inserted: null, queueChanged: false })
    batch.memo.set(chatId, entry)
    batch.beforeCommit(() => writeRow(tx, entry))
  }
  const fallback = event.type === 'ChatForked' && FORK_NEEDS_SOURCE_SETTINGS(event) ? await sourceSettings(tx, batch, event.data.sourceChatId) : null
  const { row, changes } = evolveChatRow(first ? null : held.row, event, fallback)
  // Messages and queue rows refer to the chat's row: a new chat's is there before them, whole
  // (its queue is empty), so a batch that has nothing more for it writes no update.
  if (first) {
    const source = event.type === 'ChatForked' ? event.data.sourceChatId : null
    const inserted = await insertChatRow(tx, row, source)
    held.inserted = inserted ? row : null
    if (source) {
      // A new fork reads through its source's rows: they come back too. The source's row lock
      // (taken by the insert; here when the fork's row was there already) orders this with a
      // retention pass.
      const archived = inserted
        ? inserted.sourceArchivedAt
        : (await readModels(tx).selectFrom('chats').select('history_archived_at').where('id', '=', source).forUpdate().executeTakeFirst())?.history_archived_at
      if (archived) await restoreChatHistory(tx, source)
    }
  }
  held.row = row
  if (await writeHistoryChanges(tx, chatId, changes, unwritten)) held.queueChanged = true
}

/**
 * Inserts a new chat's row; null when it was there already. For a fork, the same statement locks
 * its source's row and tells whether retention archived the source's messages.
 */
async function insertChatRow(tx: Sql, row: ChatRow, sourceChatId: string | null): Promise<{ sourceArchivedAt: Date | null } | null> {
  const db = readModels(tx)
  const values = { ...columnsOf(row), needs_runner: needsRunner(row, 0) }
  if (!sourceChatId) {
    const inserted = await db.insertInto('chats').values(values).onConflict((oc) => oc.column('id').doNothing()).returning('id').executeTakeFirst()
    return inserted ? { sourceArchivedAt: null } : null
  }
  const inserted = await db
    .with('source', (qb) => qb.selectFrom('chats').select('history_archived_at').where('id', '=', sourceChatId).forUpdate())
    .insertInto('chats')
    .values(values)
    .onConflict((oc) => oc.column('id').doNothing())
    .returning((eb) => ['id', eb.selectFrom('source').select('history_archived_at').as('source_archived_at')])
    .executeTakeFirst()
  return inserted ? { sourceArchivedAt: inserted.source_archived_at ?? null } : null
}

/** Writes a chat's row as the batch left it, and the runner's discovery column from the same rule. */
async function writeRow(tx: Sql, held: HeldRow): Promise<void> {
  const { row, queueChanged } = held
  if (!row || (row === held.inserted && !queueChanged)) return
  const db = readModels(tx)
  const { id: chatId, ...set } = columnsOf(row)
  const after = await db
    .updateTable('chats')
    .set(queueChanged ? { ...set, queue_length: (eb) => eb.selectFrom('chat_queue').select((q) => q.fn.countAll<number>().as('n')).where('chat_id', '=', chatId) } : set)
    .where('id', '=', chatId)
    .returning(['queue_length', 'needs_runner'])
    .executeTakeFirstOrThrow()
  const needs = needsRunner(row, Number(after.queue_length))
  if (needs !== after.needs_runner) await db.updateTable('chats').set({ needs_runner: needs }).where('id', '=', chatId).execute()
}

/** The runner's discovery reads `needs_runner`: the one rule, applied to the row as written. */
const needsRunner = (row: ChatRow, queueLength: number) =>
  chatNeedsRunner({ archived: row.archived, status: row.status, compactionRequested: row.compactionRequested, queueLength })

/** Early `ChatForked` events did not record the source's settings: take its current row (never a fold). */
async function sourceSettings(tx: Sql, batch: ProjectionBatch, sourceChatId: string): Promise<ForkFallback | null> {
  const held = batch.memo.get(sourceChatId) as HeldRow | undefined
  if (held?.row) return { modelId: held.row.modelId, workspaceId: held.row.workspaceId, planMode: held.row.planMode }
  const source = await readModels(tx)
    .selectFrom('chats')
    .select(['model_id', 'workspace_id', 'plan_mode'])
    .where('id', '=', sourceChatId)
    .executeTakeFirst()
  return source ? { modelId: source.model_id, workspaceId: source.workspace_id, planMode: source.plan_mode } : null
}

type ChatsRow = { [K in keyof ChatsTable]: ChatsTable[K] extends { __select__: infer S } ? S : ChatsTable[K] }

/** A `chats` row as read (int8 and numeric as strings on both backends) into the in-memory row. */
export function chatRowOf(r: Record<string, unknown>): ChatRow {
  return {
    id: String(r.id),
    organizationId: String(r.organization_id),
    ownerId: String(r.owner_id),
    title: String(r.title),
    status: r.status as ChatStatus,
    archived: Boolean(r.archived),
    modelId: (r.model_id as string | null) ?? null,
    workspaceId: (r.workspace_id as string | null) ?? null,
    parentChatId: (r.parent_chat_id as string | null) ?? null,
    rootChatId: (r.root_chat_id as string | null) ?? null,
    agentType: (r.agent_type as string | null) ?? null,
    planMode: Boolean(r.plan_mode),
    forkOfChatId: (r.fork_of_chat_id as string | null) ?? null,
    forkOfRevision: r.fork_of_revision == null ? null : Number(r.fork_of_revision),
    lastError: (r.last_error as string | null) ?? null,
    usage: {
      inputTokens: Number(r.input_tokens),
      outputTokens: Number(r.output_tokens),
      cacheReadTokens: Number(r.cache_read_tokens),
      cacheWriteTokens: Number(r.cache_write_tokens),
      reasoningTokens: Number(r.reasoning_tokens),
    },
    costUsd: Number(r.cost_usd),
    pendingQuestionId: (r.pending_question_id as string | null) ?? null,
    pendingApprovals: (typeof r.pending_approvals === 'string' ? JSON.parse(r.pending_approvals) : (r.pending_approvals ?? [])) as PendingApproval[],
    compactionRequested: Boolean(r.compaction_requested),
    openToolCalls: (typeof r.open_tool_calls === 'string' ? JSON.parse(r.open_tool_calls) : (r.open_tool_calls ?? {})) as Record<string, string>,
    revision: Number(r.revision),
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  }
}

function columnsOf(row: ChatRow) {
  return {
    id: row.id,
    organization_id: row.organizationId,
    owner_id: row.ownerId,
    title: row.title,
    status: row.status,
    archived: row.archived,
    model_id: row.modelId,
    workspace_id: row.workspaceId,
    parent_chat_id: row.parentChatId,
    root_chat_id: row.rootChatId,
    agent_type: row.agentType,
    plan_mode: row.planMode,
    fork_of_chat_id: row.forkOfChatId,
    fork_of_revision: row.forkOfRevision,
    last_error: row.lastError,
    input_tokens: row.usage.inputTokens,
    output_tokens: row.usage.outputTokens,
    cache_read_tokens: row.usage.cacheReadTokens,
    cache_write_tokens: row.usage.cacheWriteTokens,
    reasoning_tokens: row.usage.reasoningTokens,
    cost_usd: row.costUsd,
    pending_question_id: row.pendingQuestionId,
    pending_approvals: JSON.stringify(row.pendingApprovals),
    approval_expires_at: row.pendingApprovals.length ? row.pendingApprovals.map((p) => p.expiresAt).sort()[0]! : null,
    compaction_requested: row.compactionRequested,
    open_tool_calls: JSON.stringify(row.openToolCalls),
    revision: row.revision,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  } satisfies Partial<Record<keyof ChatsRow, unknown>>
}
