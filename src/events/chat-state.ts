import type { ApprovalRule, ChatEvent, ChatStatus, MessagePart, Question } from './chat.ts'
import { openToolCallsAfter } from './open-tool-calls.ts'

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
  /** A sub-agent's kind (`explore` children get read-only tools); null for a root chat. */
  agentType: 'general' | 'explore' | null
  planMode: boolean
  /** The owner's per-chat choices for admin MCP servers that are DEFAULT_ON / DEFAULT_OFF, by server id. */
  mcpServers: Record<string, boolean>
  archived: boolean
  status: ChatStatus
  queue: QueuedMessage[]
  currentTurnId: string | null
  /** The runner that may write the current turn: it started or resumed it. */
  turnRunnerId: string | null
  /** The question the current turn waits on (status `requires_action`). */
  pendingQuestion: { questionId: string; callId: string; questions: Question[] } | null
  /** Question ids asked in this chat (so an answer to an old one is told apart from an unknown one). */
  askedQuestions: Record<string, true>
  /** Calls of the current turn waiting for a person's approval, by call id. */
  pendingApprovals: Record<string, { name: string; rule: ApprovalRule; expiresAt: string }>
  /** Calls approved and not yet run (the runner runs them when the turn goes on). */
  approvedCalls: Record<string, true>
  /** Rules approved "for this chat": matching calls run without asking again. */
  approvedRules: ApprovalRule[]
  /** Every call id an approval was asked for (to tell a decided request from an unknown one). */
  approvalRequests: Record<string, true>
  /** This chat's sub-agents (`spawn_agent`), by child chat id. */
  subAgents: Record<string, 'open' | 'closed'>
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
    agentType: null,
    planMode: false,
    mcpServers: {},
    archived: false,
    status: 'waiting',
    queue: [],
    currentTurnId: null,
    turnRunnerId: null,
    pendingQuestion: null,
    askedQuestions: {},
    pendingApprovals: {},
    approvedCalls: {},
    approvedRules: [],
    approvalRequests: {},
    subAgents: {},
    openToolCalls: {},
    compactionRequested: false,
    lastError: null,
    userMessages: 0,
  }
}

/**
 * The one place chat status transitions live: the write side's fold and the `chats` read model
 * both call it. `stillWaiting`: after this approval decision, other calls of the turn still wait
 * for one. See ARCHITECTURE.md.
 */
export function chatStatusAfter(status: ChatStatus, event: ChatEvent, stillWaiting = false): ChatStatus {
  switch (event.type) {
    case 'ChatCreated':
    case 'ChatForked':
      return 'waiting'
    case 'UserMessagePosted':
      return 'pending'
    case 'QuestionAsked':
    case 'ToolCallApprovalRequested':
      return 'requires_action'
    case 'QuestionAnswered':
      return 'running'
    case 'ToolCallApproved':
    case 'ToolCallDenied':
      return status !== 'requires_action' || stillWaiting ? status : 'running'
    case 'InterruptRequested':
      return status === 'running' ? 'interrupting' : status
    case 'TurnStarted':
      return 'running'
    case 'TurnResumed':
      return status
    case 'TurnCompleted':
    case 'TurnInterrupted':
      return 'waiting'
    case 'TurnFailed':
      return 'error'
    case 'MessageQueued':
    case 'QueuedMessageRemoved':
    case 'QueuedMessagePromoted':
    case 'AssistantStepCompleted':
    case 'ToolCallStarted':
    case 'ToolCallCompleted':
    case 'RetryScheduled':
    case 'CompactionRequested':
    case 'ContextCompacted':
    case 'CompactionFailed':
    case 'PlanProposed':
    case 'SubAgentSpawned':
    case 'SubAgentClosed':
    case 'AttachmentAdded':
    case 'ChatRenamed':
    case 'ChatArchived':
    case 'ChatUnarchived':
    case 'ChatModelChanged':
    case 'PlanModeChanged':
    case 'WorkspaceBound':
    case 'McpServerToggled':
      return status
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
        agentType: d.agentType ?? null,
        planMode: d.planMode,
        status: chatStatusAfter(state.status, event),
      }
    }
    case 'ChatForked': {
      // A fork keeps the inherited history but starts idle, owned by whoever forked it: only
      // the settings (from the event, else the cut) and the message count carry over.
      const d = event.data
      return {
        ...initialChatState(),
        exists: true,
        id: d.chatId,
        ownerId: d.ownerId,
        organizationId: d.organizationId,
        title: d.title,
        modelId: d.modelId !== undefined ? d.modelId : state.modelId,
        workspaceId: d.workspaceId !== undefined ? d.workspaceId : state.workspaceId,
        planMode: d.planMode ?? state.planMode,
        status: chatStatusAfter(state.status, event),
        userMessages: state.userMessages,
      }
    }
    case 'UserMessagePosted':
      return {
        ...state,
        status: chatStatusAfter(state.status, event),
        lastError: null,
        pendingQuestion: null,
    askedQuestions: {},
    subAgents: {},
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
      return { ...state, status: chatStatusAfter(state.status, event) }
    case 'TurnStarted':
      return {
        ...state,
        status: chatStatusAfter(state.status, event),
        currentTurnId: event.data.turnId,
        turnRunnerId: event.data.runnerId,
        lastError: null,
      }
    case 'TurnResumed':
      return { ...state, turnRunnerId: event.data.runnerId }
    case 'ToolCallCompleted': {
      const { [event.data.callId]: _ran, ...approvedCalls } = state.approvedCalls
      return { ...state, openToolCalls: { ...openToolCallsAfter(state.openToolCalls, event) }, approvedCalls }
    }
    case 'ToolCallStarted':
    case 'AssistantStepCompleted':
      return { ...state, openToolCalls: { ...openToolCallsAfter(state.openToolCalls, event) } }
    case 'ToolCallApprovalRequested': {
      const { callId, name, rule, expiresAt } = event.data
      return {
        ...state,
        status: chatStatusAfter(state.status, event),
        pendingApprovals: { ...state.pendingApprovals, [callId]: { name, rule, expiresAt } },
        approvalRequests: { ...state.approvalRequests, [callId]: true },
      }
    }
    case 'ToolCallApproved':
    case 'ToolCallDenied': {
      const { [event.data.callId]: decided, ...pendingApprovals } = state.pendingApprovals
      const stillWaiting = Object.keys(pendingApprovals).length > 0 || state.pendingQuestion !== null
      const approved = event.type === 'ToolCallApproved'
      return {
        ...state,
        status: chatStatusAfter(state.status, event, stillWaiting),
        pendingApprovals,
        approvedCalls: approved ? { ...state.approvedCalls, [event.data.callId]: true } : state.approvedCalls,
        approvedRules: approved && event.data.forChat && decided ? [...state.approvedRules, decided.rule] : state.approvedRules,
      }
    }
    case 'TurnCompleted':
    case 'TurnInterrupted':
      return {
        ...state,
        status: chatStatusAfter(state.status, event),
        currentTurnId: null,
        turnRunnerId: null,
        openToolCalls: {},
        pendingQuestion: null,
        pendingApprovals: {},
        approvedCalls: {},
      }
    case 'TurnFailed':
      return {
        ...state,
        status: chatStatusAfter(state.status, event),
        currentTurnId: null,
        turnRunnerId: null,
        openToolCalls: {},
        pendingQuestion: null,
        pendingApprovals: {},
        approvedCalls: {},
        lastError: event.data.message,
      }
    case 'CompactionRequested':
      return { ...state, compactionRequested: true }
    case 'ContextCompacted':
    case 'CompactionFailed':
      return { ...state, compactionRequested: false }
    case 'QuestionAsked': {
      const { questionId, callId, questions } = event.data
      return {
        ...state,
        status: chatStatusAfter(state.status, event),
        pendingQuestion: { questionId, callId, questions },
        askedQuestions: { ...state.askedQuestions, [questionId]: true },
      }
    }
    case 'QuestionAnswered':
      return { ...state, pendingQuestion: null, status: chatStatusAfter(state.status, event) }
    case 'SubAgentSpawned':
      return { ...state, subAgents: { ...state.subAgents, [event.data.childChatId]: 'open' } }
    case 'SubAgentClosed':
      return { ...state, subAgents: { ...state.subAgents, [event.data.childChatId]: 'closed' } }
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
    case 'McpServerToggled':
      return { ...state, mcpServers: { ...state.mcpServers, [event.data.serverId]: event.data.enabled } }
    case 'RetryScheduled':
    case 'PlanProposed':
    case 'AttachmentAdded':
      return state
  }
}

/** What decides whether a chat needs a runner: the write side's state and the `chats` row both have it. */
export interface RunnerDemand {
  archived: boolean
  status: ChatStatus
  compactionRequested: boolean
  queueLength: number
}

/**
 * The one rule for "the runner has work on this chat": a turn to start, run or end, a
 * compaction to serve, or a queued message to deliver. The `chats` projection stores it as
 * `needs_runner`, which is all the runner's discovery reads; the driver stops when it is false.
 */
export function chatNeedsRunner(s: RunnerDemand): boolean {
  if (s.archived) return false
  if (s.status === 'pending' || s.status === 'running' || s.status === 'interrupting') return true
  return s.compactionRequested || (s.status === 'waiting' && s.queueLength > 0)
}

export const runnerDemandOf = (s: ChatState): RunnerDemand => ({
  archived: !s.exists || s.archived,
  status: s.status,
  compactionRequested: s.compactionRequested,
  queueLength: s.queue.length,
})
