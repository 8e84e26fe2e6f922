import { chatStatusAfter } from '../src/events/chat-state.ts'
import type { ChatEvent, ChatStatus, Folded, MessagePart, ModelCall, TokenUsage } from '../src/events/index.ts'
import { openToolCallsAfter, type OpenToolCalls } from '../src/events/open-tool-calls.ts'

/**
 * What each chat event does to the chat read model, as pure functions over an in-memory row.
 * The `chats` projection (chats.ts) loads the row, applies `evolveChatRow` and writes the row
 * and the history changes to SQL (chat-history.ts); the as-of fold (src/asof/chat-as-of.ts)
 * applies the same function to a row in memory and `applyHistoryChanges` to the history.
 * There is no second implementation of the read model.
 */

/**
 * An event as these functions take it: `Folded`, without its metadata or position, as the as-of
 * fold reads the log (it leaves out a chat's metadata, a third of its JSON). The projection's
 * stored events are `Folded` ones too.
 */
type Of<T extends ChatEvent['type']> = Extract<Folded<ChatEvent>, { type: T }>

export const ZERO_USAGE: TokenUsage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }

/** One row of `chats`. A fork's usage counts only its own steps; inherited totals are resolved on read. */
export interface ChatRow {
  id: string
  organizationId: string
  ownerId: string
  title: string
  status: ChatStatus
  archived: boolean
  modelId: string | null
  workspaceId: string | null
  parentChatId: string | null
  rootChatId: string | null
  agentType: string | null
  planMode: boolean
  forkOfChatId: string | null
  forkOfRevision: number | null
  lastError: string | null
  usage: TokenUsage
  costUsd: number
  pendingQuestionId: string | null
  pendingApprovals: PendingApproval[]
  compactionRequested: boolean
  openToolCalls: OpenToolCalls
  revision: number
  createdAt: Date
  updatedAt: Date
}

/** A call waiting for a person's approval, as the read model lists it. */
export interface PendingApproval {
  callId: string
  name: string
  arguments: unknown
  rule: { tool: string; commandPattern?: string | null }
  expiresAt: string
}

/** The part a `summary` message holds. */
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

/** One row of `chat_messages` (a fork's inherited rows belong to its source; `inherited` is set on read). */
export interface MessageRow {
  chatId: string
  revision: number
  id: string
  role: 'user' | 'assistant' | 'tool' | 'summary'
  parts: unknown[]
  usage: TokenUsage | null
  costUsd: number | null
  /**
   * The chat's own totals right after this message (its row's usage and cost then): a fork's
   * inherited totals are read from one message of each chat it reads through (chat-lineage.ts).
   */
  totalUsage: TokenUsage
  totalCostUsd: number
  compacted: boolean
  inherited: boolean
  createdAt: Date
}

export interface QueueItem {
  queueId: string
  parts: MessagePart[]
  authorId: string
  createdAt: Date
}

/** What an event does to the rows under a chat: its messages, queue and attachments. */
export type HistoryChange =
  | { kind: 'message'; message: MessageRow }
  /** Every message up to the revision (inherited ones too) is covered by a summary. */
  | { kind: 'compact'; throughRevision: number }
  | { kind: 'enqueue'; item: QueueItem; atHead: boolean }
  | { kind: 'dequeue'; queueId: string }
  | { kind: 'promote'; queueId: string }
  | { kind: 'attach'; attachmentId: string; revision: number }

/** The source's settings, for an early `ChatForked` that did not record them. */
export type ForkFallback = Pick<ChatRow, 'modelId' | 'workspaceId' | 'planMode'>

export const FORK_NEEDS_SOURCE_SETTINGS = (e: Of<'ChatForked'>) => e.data.modelId === undefined || e.data.workspaceId === undefined || e.data.planMode === undefined

const addUsage = (a: TokenUsage, b: TokenUsage): TokenUsage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
  cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
  reasoningTokens: a.reasoningTokens + b.reasoningTokens,
})
export { addUsage }

/** Costs are whole micro-dollars (numeric(14,6)); keep sums exact in binary floating point. */
export const addCost = (a: number, b: number) => Math.round((a + b) * 1_000_000) / 1_000_000

/** A model call around the steps (a summary, a generated title) counts in the chat's totals like a step. */
function addCall(next: ChatRow, call: ModelCall | undefined): void {
  if (!call) return
  next.usage = addUsage(next.usage, call.usage)
  next.costUsd = addCost(next.costUsd, call.costUsd)
}

/** A message of the chat whose row is `next` (the row after the event, so its totals count the message). */
function message(next: ChatRow, e: Folded<ChatEvent>, m: Pick<MessageRow, 'id' | 'role' | 'parts'> & Partial<MessageRow>): MessageRow {
  return {
    chatId: next.id,
    revision: Number(e.revision),
    usage: null,
    costUsd: null,
    totalUsage: next.usage,
    totalCostUsd: next.costUsd,
    compacted: false,
    inherited: false,
    createdAt: e.createdAt,
    ...m,
  }
}

/**
 * The row and history changes after `event`. `row` is null only before the chat's first event
 * (`ChatCreated` or `ChatForked`); `fallback` is consulted only by an early `ChatForked`.
 */
export function evolveChatRow(
  row: ChatRow | null,
  stored: Folded<ChatEvent>,
  fallback?: ForkFallback | null,
): { row: ChatRow; changes: HistoryChange[] } {
  const event = stored as Folded<ChatEvent>
  const revision = Number(event.revision)
  if (event.type === 'ChatCreated') return { row: createdRow(event), changes: [] }
  if (event.type === 'ChatForked') return { row: forkedRow(event, fallback ?? null), changes: [] }
  if (!row) throw new Error(`${event.type} at ${event.stream}@${revision}: the chat has no row (no ChatCreated or ChatForked before it)`)

  const next: ChatRow = {
    ...row,
    status: chatStatusAfter(row.status, event as ChatEvent),
    openToolCalls: openToolCallsAfter(row.openToolCalls, event as ChatEvent),
    revision,
    updatedAt: event.createdAt,
  }
  const changes: HistoryChange[] = []
  switch (event.type) {
    case 'UserMessagePosted':
      changes.push({ kind: 'message', message: message(next, event, { id: event.data.messageId, role: 'user', parts: event.data.parts }) })
      if (event.data.fromQueueId) changes.push({ kind: 'dequeue', queueId: event.data.fromQueueId })
      next.lastError = null
      break
    case 'MessageQueued':
      changes.push({
        kind: 'enqueue',
        item: { queueId: event.data.queueId, parts: event.data.parts, authorId: event.data.authorId, createdAt: event.createdAt },
        atHead: event.data.atHead,
      })
      break
    case 'QueuedMessageRemoved':
      changes.push({ kind: 'dequeue', queueId: event.data.queueId })
      break
    case 'QueuedMessagePromoted':
      changes.push({ kind: 'promote', queueId: event.data.queueId })
      break
    case 'TurnStarted':
      next.lastError = null
      break
    case 'AssistantStepCompleted': {
      const d = event.data
      next.usage = addUsage(row.usage, d.usage)
      next.costUsd = addCost(row.costUsd, d.costUsd)
      changes.push({ kind: 'message', message: message(next, event, { id: d.stepId, role: 'assistant', parts: d.parts, usage: d.usage, costUsd: d.costUsd }) })
      break
    }
    case 'ToolCallCompleted': {
      const d = event.data
      const part: ToolResultPart = {
        type: 'tool_result',
        callId: d.callId,
        name: d.name,
        result: d.result,
        isError: d.isError,
        durationMs: d.durationMs,
        ...(d.images ? { images: d.images } : {}),
      }
      changes.push({ kind: 'message', message: message(next, event, { id: d.callId, role: 'tool', parts: [part] }) })
      break
    }
    case 'TurnFailed':
      next.pendingQuestionId = null
      next.pendingApprovals = []
      next.lastError = event.data.message
      break
    case 'CompactionRequested':
      next.compactionRequested = true
      break
    case 'ContextCompacted': {
      const d = event.data
      addCall(next, d.call)
      const part: SummaryPart = {
        type: 'summary',
        text: d.summary,
        throughRevision: d.throughRevision,
        tokensBefore: d.tokensBefore,
        tokensAfter: d.tokensAfter,
        manual: d.manual,
      }
      changes.push({ kind: 'message', message: message(next, event, { id: event.id, role: 'summary', parts: [part], ...(d.call ? { usage: d.call.usage, costUsd: d.call.costUsd } : {}) }) })
      changes.push({ kind: 'compact', throughRevision: d.throughRevision })
      next.compactionRequested = false
      break
    }
    case 'CompactionFailed':
      next.compactionRequested = false
      break
    case 'QuestionAsked':
      next.pendingQuestionId = event.data.questionId
      break
    case 'QuestionAnswered':
      next.pendingQuestionId = null
      break
    case 'TurnCompleted':
    case 'TurnInterrupted':
      next.pendingQuestionId = null
      next.pendingApprovals = []
      break
    case 'ToolCallApprovalRequested': {
      const { callId, name, arguments: args, rule, expiresAt } = event.data
      next.pendingApprovals = [...row.pendingApprovals, { callId, name, arguments: args, rule, expiresAt }]
      break
    }
    case 'ToolCallApproved':
    case 'ToolCallDenied':
      next.pendingApprovals = row.pendingApprovals.filter((p) => p.callId !== event.data.callId)
      next.status = chatStatusAfter(row.status, event as ChatEvent, next.pendingApprovals.length > 0 || row.pendingQuestionId !== null)
      break
    case 'AttachmentAdded':
      changes.push({ kind: 'attach', attachmentId: event.data.attachmentId, revision })
      break
    case 'ChatRenamed':
      next.title = event.data.title
      // A generated title's call counts in the totals; the next message row carries them (a fork
      // cut between the two inherits the totals of the message before).
      addCall(next, event.data.call)
      break
    case 'ChatArchived':
      next.archived = true
      break
    case 'ChatUnarchived':
      next.archived = false
      break
    case 'ChatModelChanged':
      next.modelId = event.data.modelId
      break
    case 'PlanModeChanged':
      next.planMode = event.data.planMode
      break
    case 'WorkspaceBound':
      next.workspaceId = event.data.workspaceId
      break
    case 'InterruptRequested':
    case 'TurnResumed':
    case 'ToolCallStarted':
    case 'RetryScheduled':
    case 'PlanProposed':
    case 'SubAgentSpawned':
    case 'SubAgentClosed':
    case 'McpServerToggled':
      break // status, open calls and revision only
    default:
      return unreachable(event)
  }
  return { row: next, changes }
}

function createdRow(event: Of<'ChatCreated'>): ChatRow {
  const d = event.data
  return {
    id: d.chatId,
    organizationId: d.organizationId,
    ownerId: d.ownerId,
    title: d.title,
    status: chatStatusAfter('waiting', event as ChatEvent),
    archived: false,
    modelId: d.modelId,
    workspaceId: d.workspaceId,
    parentChatId: d.parentChatId,
    rootChatId: d.rootChatId,
    agentType: d.agentType,
    planMode: d.planMode,
    forkOfChatId: null,
    forkOfRevision: null,
    lastError: null,
    usage: ZERO_USAGE,
    costUsd: 0,
    pendingQuestionId: null,
    pendingApprovals: [],
    compactionRequested: false,
    openToolCalls: {},
    revision: Number(event.revision),
    createdAt: event.createdAt,
    updatedAt: event.createdAt,
  }
}

/**
 * A fork starts idle, unarchived, with an empty queue and no open calls (the cut closes them),
 * from its own event alone: the source is neither folded nor copied. Its inherited history and
 * totals are resolved through `forkOfChatId`/`forkOfRevision` when read.
 */
function forkedRow(event: Of<'ChatForked'>, fallback: ForkFallback | null): ChatRow {
  const d = event.data
  return {
    id: d.chatId,
    organizationId: d.organizationId,
    ownerId: d.ownerId,
    title: d.title,
    status: chatStatusAfter('waiting', event as ChatEvent),
    archived: false,
    modelId: d.modelId !== undefined ? d.modelId : (fallback?.modelId ?? null),
    workspaceId: d.workspaceId !== undefined ? d.workspaceId : (fallback?.workspaceId ?? null),
    parentChatId: null,
    rootChatId: null,
    agentType: null,
    planMode: d.planMode ?? fallback?.planMode ?? false,
    forkOfChatId: d.sourceChatId,
    forkOfRevision: d.atRevision,
    lastError: null,
    usage: ZERO_USAGE,
    costUsd: 0,
    pendingQuestionId: null,
    pendingApprovals: [],
    compactionRequested: false,
    openToolCalls: {},
    revision: Number(event.revision),
    createdAt: event.createdAt,
    updatedAt: event.createdAt,
  }
}

/** The rows under one chat, in memory. */
export interface ChatHistory {
  messages: MessageRow[]
  queue: QueueItem[]
  attachmentIds: string[]
}

export const emptyHistory = (): ChatHistory => ({ messages: [], queue: [], attachmentIds: [] })

/**
 * Applies history changes in memory, as chat-history.ts applies them in SQL. Changes `history`'s
 * arrays, never a message or queue item in them (a changed one is replaced): the as-of memo
 * shares those between the folds it keeps.
 */
export function applyHistoryChanges(history: ChatHistory, changes: readonly HistoryChange[]): ChatHistory {
  for (const c of changes) {
    switch (c.kind) {
      case 'message':
        history.messages.push(c.message)
        break
      case 'compact': {
        const { messages } = history
        for (let i = 0; i < messages.length; i++) {
          const m = messages[i]!
          if (m.revision <= c.throughRevision && !m.compacted) messages[i] = { ...m, compacted: true }
        }
        break
      }
      case 'enqueue':
        if (history.queue.some((q) => q.queueId === c.item.queueId)) break
        if (c.atHead) history.queue.unshift(c.item)
        else history.queue.push(c.item)
        break
      case 'dequeue':
        history.queue = history.queue.filter((q) => q.queueId !== c.queueId)
        break
      case 'promote': {
        const item = history.queue.find((q) => q.queueId === c.queueId)
        if (item) history.queue = [item, ...history.queue.filter((q) => q !== item)]
        break
      }
      case 'attach':
        if (!history.attachmentIds.includes(c.attachmentId)) history.attachmentIds.push(c.attachmentId)
        break
    }
  }
  return history
}

function unreachable(event: never): never {
  throw new Error(`chats read model: no handler for ${(event as { type: string }).type}`)
}
