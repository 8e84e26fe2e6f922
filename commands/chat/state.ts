import type { ChatEvent, ChatStatus, MessagePart } from '../../src/events/chat.ts'

export interface QueuedMessage {
  queueId: string
  parts: MessagePart[]
  authorId: string
}

/** Everything the chat's commands need to decide, folded from its stream. */
export interface ChatState {
  exists: boolean
  id: string
  ownerId: string
  organizationId: string
  title: string
  modelId: string | null
  workspaceId: string | null
  parentChatId: string | null
  rootChatId: string | null
  planMode: boolean
  archived: boolean
  status: ChatStatus
  queue: QueuedMessage[]
  currentTurnId: string | null
  pendingQuestionId: string | null
  /** Tool calls started and not yet completed, by call id. */
  openToolCalls: Record<string, string>
  compactionRequested: boolean
  lastError: string | null
  /** How many user messages were posted (titles are generated after the first exchange). */
  userMessages: number
}

export function initialChatState(): ChatState {
  return {
    exists: false,
    id: '',
    ownerId: '',
    organizationId: '',
    title: '',
    modelId: null,
    workspaceId: null,
    parentChatId: null,
    rootChatId: null,
    planMode: false,
    archived: false,
    status: 'waiting',
    queue: [],
    currentTurnId: null,
    pendingQuestionId: null,
    openToolCalls: {},
    compactionRequested: false,
    lastError: null,
    userMessages: 0,
  }
}

/** The chat status is a fold of the stream, never stored on the write side. See ARCHITECTURE.md. */
export function evolveChat(state: ChatState, event: ChatEvent): ChatState {
  switch (event.type) {
    case 'ChatCreated': {
      const d = event.data
      return {
        ...initialChatState(),
        exists: true,
        id: d.chatId,
        ownerId: d.ownerId,
        organizationId: d.organizationId,
        title: d.title,
        modelId: d.modelId,
        workspaceId: d.workspaceId,
        parentChatId: d.parentChatId,
        rootChatId: d.rootChatId,
        planMode: d.planMode,
      }
    }
    case 'ChatForked': {
      // A fork keeps the inherited history but starts idle, owned by whoever forked it.
      const d = event.data
      return {
        ...state,
        id: d.chatId,
        ownerId: d.ownerId,
        organizationId: d.organizationId,
        title: d.title,
        parentChatId: null,
        rootChatId: null,
        archived: false,
        status: 'waiting',
        queue: [],
        currentTurnId: null,
        pendingQuestionId: null,
        openToolCalls: {},
        compactionRequested: false,
        lastError: null,
      }
    }
    case 'UserMessagePosted':
      return {
        ...state,
        status: 'pending',
        lastError: null,
        pendingQuestionId: null,
        userMessages: state.userMessages + 1,
        queue: event.data.fromQueueId ? state.queue.filter((q) => q.queueId !== event.data.fromQueueId) : state.queue,
      }
    case 'MessageQueued': {
      const item = { queueId: event.data.queueId, parts: event.data.parts, authorId: event.data.authorId }
      return { ...state, queue: event.data.atHead ? [item, ...state.queue] : [...state.queue, item] }
    }
    case 'QueuedMessageRemoved':
      return { ...state, queue: state.queue.filter((q) => q.queueId !== event.data.queueId) }
    case 'QueuedMessagePromoted': {
      const item = state.queue.find((q) => q.queueId === event.data.queueId)
      if (!item) return state
      return { ...state, queue: [item, ...state.queue.filter((q) => q !== item)] }
    }
    case 'InterruptRequested':
      return state.status === 'running' ? { ...state, status: 'interrupting' } : state
    case 'TurnStarted':
      return { ...state, status: 'running', currentTurnId: event.data.turnId, lastError: null }
    case 'ToolCallStarted':
      return { ...state, openToolCalls: { ...state.openToolCalls, [event.data.callId]: event.data.name } }
    case 'ToolCallCompleted': {
      const { [event.data.callId]: _done, ...open } = state.openToolCalls
      return { ...state, openToolCalls: open }
    }
    case 'TurnCompleted':
    case 'TurnInterrupted':
      return {
        ...state,
        status: state.pendingQuestionId ? 'requires_action' : 'waiting',
        currentTurnId: null,
        openToolCalls: {},
      }
    case 'TurnFailed':
      return { ...state, status: 'error', currentTurnId: null, openToolCalls: {}, lastError: event.data.message }
    case 'CompactionRequested':
      return { ...state, compactionRequested: true }
    case 'ContextCompacted':
      return { ...state, compactionRequested: false }
    case 'QuestionAsked':
      return { ...state, pendingQuestionId: event.data.questionId }
    case 'QuestionAnswered':
      return { ...state, pendingQuestionId: null, status: 'pending' }
    case 'ChatRenamed':
      return { ...state, title: event.data.title }
    case 'ChatArchived':
      return { ...state, archived: true }
    case 'ChatUnarchived':
      return { ...state, archived: false }
    case 'ChatModelChanged':
      return { ...state, modelId: event.data.modelId }
    case 'PlanModeChanged':
      return { ...state, planMode: event.data.planMode }
    case 'WorkspaceBound':
      return { ...state, workspaceId: event.data.workspaceId }
    case 'AssistantStepCompleted':
    case 'RetryScheduled':
    case 'PlanProposed':
    case 'SubAgentSpawned':
    case 'SubAgentClosed':
    case 'AttachmentAdded':
      return state
  }
}

/** Whether the runner has work on this chat. */
export const chatNeedsRunner = (s: ChatState) =>
  s.exists && !s.archived && (s.status === 'pending' || s.status === 'running' || s.status === 'interrupting' || s.compactionRequested)
