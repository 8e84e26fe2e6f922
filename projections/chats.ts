import { sql, type UpdateObject } from 'kysely'
import { chatNeedsRunner, chatStatusAfter } from '../src/events/chat-state.ts'
import type { Sql } from '../src/db/database.ts'
import { CHAT_EVENT_TYPES, chatIdOfStream, upcast, type ChatEvent, type ChatStatus, type Stored } from '../src/events/index.ts'
import type { Projection } from '../src/projections/types.ts'
import {
  copyForkHistory,
  dequeue,
  enqueue,
  messageTotals,
  promote,
  queueLength,
  recordAssistantStep,
  recordAttachment,
  recordCompaction,
  recordToolResult,
  recordUserMessage,
} from './chat-history.ts'
import { readModels, type ReadModels } from './read-models.ts'

type Of<T extends ChatEvent['type']> = Extract<Stored<ChatEvent>, { type: T }>

/**
 * One row per chat in `chats`, with its messages, queue and attachments (chat-history.ts).
 * One projection for all four because a fork's row is built from the source's messages.
 */
export const chatsProjection: Projection = {
  name: 'chats',
  eventTypes: CHAT_EVENT_TYPES,
  tables: ['chats', 'chat_messages', 'chat_queue', 'chat_attachments'],
  async handle(tx, stored) {
    const event = upcast(stored) as Stored<ChatEvent>
    const chatId = chatIdOfStream(event.stream)
    if (event.type === 'ChatCreated') return createChat(tx, chatId, event)
    if (event.type === 'ChatForked') return forkChat(tx, chatId, event)

    const db = readModels(tx)
    const row = await db
      .selectFrom('chats')
      .select(['status', 'pending_question_id'])
      .where('id', '=', chatId)
      .forUpdate()
      .executeTakeFirst()
    if (!row) throw new Error(`${event.type} at ${event.stream}@${event.revision}: the chat has no row (no ChatCreated or ChatForked before it)`)

    const patch: UpdateObject<ReadModels, 'chats'> = {
      status: chatStatusAfter(row.status as ChatStatus, event, row.pending_question_id !== null),
      revision: Number(event.revision),
      updated_at: event.createdAt,
    }
    switch (event.type) {
      case 'UserMessagePosted':
        await recordUserMessage(tx, chatId, event)
        if (event.data.fromQueueId) {
          await dequeue(tx, chatId, event.data.fromQueueId)
          patch.queue_length = queueLength(chatId)
        }
        patch.last_error = null
        patch.pending_question_id = null
        break
      case 'MessageQueued':
        await enqueue(tx, chatId, event)
        patch.queue_length = queueLength(chatId)
        break
      case 'QueuedMessageRemoved':
        await dequeue(tx, chatId, event.data.queueId)
        patch.queue_length = queueLength(chatId)
        break
      case 'QueuedMessagePromoted':
        await promote(tx, chatId, event.data.queueId)
        break
      case 'TurnStarted':
        patch.last_error = null
        break
      case 'AssistantStepCompleted': {
        await recordAssistantStep(tx, chatId, event)
        const u = event.data.usage
        patch.input_tokens = sql`input_tokens + ${u.inputTokens}`
        patch.output_tokens = sql`output_tokens + ${u.outputTokens}`
        patch.cache_read_tokens = sql`cache_read_tokens + ${u.cacheReadTokens}`
        patch.cache_write_tokens = sql`cache_write_tokens + ${u.cacheWriteTokens}`
        patch.reasoning_tokens = sql`reasoning_tokens + ${u.reasoningTokens}`
        patch.cost_usd = sql`cost_usd + ${event.data.costUsd}`
        break
      }
      case 'ToolCallCompleted':
        await recordToolResult(tx, chatId, event)
        break
      case 'TurnFailed':
        patch.last_error = event.data.message
        break
      case 'CompactionRequested':
        patch.compaction_requested = true
        break
      case 'ContextCompacted':
        await recordCompaction(tx, chatId, event)
        patch.compaction_requested = false
        break
      case 'CompactionFailed':
        patch.compaction_requested = false
        break
      case 'QuestionAsked':
        patch.pending_question_id = event.data.questionId
        break
      case 'QuestionAnswered':
        patch.pending_question_id = null
        break
      case 'AttachmentAdded':
        await recordAttachment(tx, chatId, event)
        break
      case 'ChatRenamed':
        patch.title = event.data.title
        break
      case 'ChatArchived':
        patch.archived = true
        break
      case 'ChatUnarchived':
        patch.archived = false
        break
      case 'ChatModelChanged':
        patch.model_id = event.data.modelId
        break
      case 'PlanModeChanged':
        patch.plan_mode = event.data.planMode
        break
      case 'WorkspaceBound':
        patch.workspace_id = event.data.workspaceId
        break
      case 'InterruptRequested':
      case 'TurnResumed':
      case 'ToolCallStarted':
      case 'RetryScheduled':
      case 'TurnCompleted':
      case 'TurnInterrupted':
      case 'PlanProposed':
      case 'SubAgentSpawned':
      case 'SubAgentClosed':
        break // status and revision only
      default:
        return unreachable(event)
    }
    const after = await db
      .updateTable('chats')
      .set(patch)
      .where('id', '=', chatId)
      .returning(['status', 'archived', 'compaction_requested', 'queue_length', 'needs_runner'])
      .executeTakeFirstOrThrow()
    const needsRunner = chatNeedsRunner({
      archived: after.archived,
      status: after.status as ChatStatus,
      compactionRequested: after.compaction_requested,
      queueLength: Number(after.queue_length),
    })
    if (needsRunner !== after.needs_runner) await db.updateTable('chats').set({ needs_runner: needsRunner }).where('id', '=', chatId).execute()
  },
}

async function createChat(tx: Sql, chatId: string, event: Of<'ChatCreated'>) {
  const d = event.data
  await readModels(tx)
    .insertInto('chats')
    .values({
      id: chatId,
      organization_id: d.organizationId,
      owner_id: d.ownerId,
      title: d.title,
      status: chatStatusAfter('waiting', event, false),
      model_id: d.modelId,
      workspace_id: d.workspaceId,
      parent_chat_id: d.parentChatId,
      root_chat_id: d.rootChatId,
      agent_type: d.agentType,
      plan_mode: d.planMode,
      input_tokens: 0,
      output_tokens: 0,
      cache_read_tokens: 0,
      cache_write_tokens: 0,
      reasoning_tokens: 0,
      cost_usd: 0,
      revision: Number(event.revision),
      created_at: event.createdAt,
      updated_at: event.createdAt,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute()
}

/** A fork starts idle, unarchived, with an empty queue, and with the source's history up to the cut. */
async function forkChat(tx: Sql, chatId: string, event: Of<'ChatForked'>) {
  const d = event.data
  const db = readModels(tx)
  const source = await db
    .selectFrom('chats')
    .select(['model_id', 'workspace_id', 'plan_mode'])
    .where('id', '=', d.sourceChatId)
    .executeTakeFirst()
  if (!source) throw new Error(`ChatForked at ${event.stream}: source chat ${d.sourceChatId} has no row`)
  await copyForkHistory(tx, chatId, d.sourceChatId, d.atRevision)
  const totals = await messageTotals(tx, chatId)
  await db
    .insertInto('chats')
    .values({
      id: chatId,
      organization_id: d.organizationId,
      owner_id: d.ownerId,
      title: d.title,
      status: chatStatusAfter('waiting', event, false),
      // Events before the settings were recorded on ChatForked fall back to the source's current row.
      model_id: d.modelId !== undefined ? d.modelId : source.model_id,
      workspace_id: d.workspaceId !== undefined ? d.workspaceId : source.workspace_id,
      plan_mode: d.planMode ?? source.plan_mode,
      fork_of_chat_id: d.sourceChatId,
      fork_of_revision: d.atRevision,
      input_tokens: totals.input,
      output_tokens: totals.output,
      cache_read_tokens: totals.cache_read,
      cache_write_tokens: totals.cache_write,
      reasoning_tokens: totals.reasoning,
      cost_usd: totals.cost,
      revision: Number(event.revision),
      created_at: event.createdAt,
      updated_at: event.createdAt,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute()
}

function unreachable(event: never): never {
  throw new Error(`chats projection: no handler for ${(event as { type: string }).type}`)
}
