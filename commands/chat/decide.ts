import type { ChatEvent, MessagePart, Question } from '../../src/events/chat.ts'
import { CommandError, invalidInput } from '../errors.ts'
import type { Decider } from '../decider.ts'
import { LIMITS, type AttachmentRef, type ChatCommand, type RunnerCommand } from './commands.ts'
import { evolveChat, initialChatState, type ChatState } from '../../src/events/chat-state.ts'

function validateTitle(title: string): string {
  const trimmed = title.trim()
  if (!trimmed) throw invalidInput('title must not be empty')
  if (trimmed.length > LIMITS.titleLength) throw invalidInput(`title is ${trimmed.length} characters; the limit is ${LIMITS.titleLength}`)
  return trimmed
}

function validateParts(parts: MessagePart[]): void {
  if (parts.length === 0) throw invalidInput('a message needs text or at least one attachment')
  let text = 0
  let attachments = 0
  for (const part of parts) {
    if (part.type === 'text') text += part.text.length
    else attachments++
  }
  if (text > LIMITS.messageTextLength)
    throw invalidInput(`message text is ${text} characters; the limit is ${LIMITS.messageTextLength}`)
  if (attachments > LIMITS.attachmentsPerMessage)
    throw invalidInput(`a message may carry ${LIMITS.attachmentsPerMessage} attachments, not ${attachments}`)
  if (text === 0 && attachments === 0) throw invalidInput('a message needs text or at least one attachment')
}

const attachmentEvents = (refs: AttachmentRef[] = []): ChatEvent[] =>
  refs.map((a) => ({ type: 'AttachmentAdded', data: { ...a, source: 'upload' as const } }))

function requireLiveChat(chat: ChatState): void {
  if (!chat.exists) throw new CommandError('CHAT_NOT_FOUND', 'chat not found')
  if (chat.archived) throw new CommandError('CHAT_ARCHIVED', `chat ${chat.id} is archived; unarchive it first`)
}

const isBusy = (chat: ChatState) => chat.status === 'running' || chat.status === 'interrupting'
/** A turn that waits for approvals is still the current turn: messages queue behind it. */
const hasTurn = (chat: ChatState) => isBusy(chat) || Object.keys(chat.pendingApprovals).length > 0

export const NOT_RUN_INTERRUPTED = 'Not run: the user interrupted the turn before this call started.'
export const QUESTION_DISMISSED = 'The user interrupted instead of answering: the question was dismissed.'

/** The `ask_user_question` result the model reads: each question's header with its answer. */
export function answersResult(questions: readonly Question[], answers: readonly string[], freeText: boolean): string {
  if (freeText) return `The user answered in their own words:\n${answers.join('\n')}`
  return ['The user answered:', ...questions.map((q, i) => `${i + 1}. ${q.header || q.question}: ${answers[i] ?? ''}`)].join('\n')
}

/** The pending question answered: the answer, then the call's result, and the turn goes on. */
function answer(chat: ChatState, answers: string[], freeText: boolean, answeredBy: string): ChatEvent[] {
  const q = chat.pendingQuestion!
  return [
    { type: 'QuestionAnswered', data: { questionId: q.questionId, answers, freeText, answeredBy } },
    {
      type: 'ToolCallCompleted',
      data: { turnId: chat.currentTurnId!, callId: q.callId, name: 'ask_user_question', result: answersResult(q.questions, answers, freeText), isError: false, durationMs: 0 },
    },
  ]
}

export const DENIED_RESULT = (reason: string, expired: boolean) =>
  expired ? `Not run: nobody approved this call in time (${reason}).` : `Not run: the user denied this call. Their reason: ${reason}`

function requirePendingApproval(chat: ChatState, callId: string): void {
  if (!(callId in chat.approvalRequests)) throw new CommandError('APPROVAL_NOT_FOUND', `chat ${chat.id} has no approval request for call ${callId}`)
  if (!(callId in chat.pendingApprovals)) throw new CommandError('APPROVAL_ALREADY_DECIDED', `call ${callId} of chat ${chat.id} was already approved or denied, or its turn ended`)
}

function denied(chat: ChatState, callId: string, deniedBy: string | null, reason: string, expired: boolean): ChatEvent[] {
  const pending = chat.pendingApprovals[callId]!
  return [
    { type: 'ToolCallDenied', data: { callId, deniedBy, reason, expired } },
    { type: 'ToolCallCompleted', data: { turnId: chat.currentTurnId!, callId, name: pending.name, result: DENIED_RESULT(reason, expired), isError: true, durationMs: 0 } },
  ]
}

export const NOT_FINISHED = {
  interrupted: 'Interrupted by the user before the tool finished.',
  failed: 'The turn failed before this call finished.',
} as const

/**
 * Whether the runner's command still has a turn to write to. The turn belongs to the runner
 * that started or resumed it: any other runner is stale (its lease expired and someone took
 * over) and writes nothing — this is the runner's fencing, decided from the stream itself.
 * A turn that is already over (ended by this runner, or the chat archived) makes the command a no-op.
 */
function turnOf(chat: ChatState, cmd: RunnerCommand & { turnId: string }): boolean {
  if (!chat.exists || chat.currentTurnId !== cmd.turnId || !isBusy(chat)) return false
  if (chat.turnRunnerId !== cmd.runnerId)
    throw new CommandError('STALE_RUNNER', `runner ${cmd.runnerId} no longer drives chat ${chat.id}; runner ${chat.turnRunnerId} took over`)
  return true
}

/** The queue head as the next prompt: what follows a turn's end when messages are queued. */
function queueHead(chat: ChatState): ChatEvent[] {
  const head = chat.queue[0]
  if (!head) return []
  return [{ type: 'UserMessagePosted', data: { messageId: head.queueId, parts: head.parts, authorId: head.authorId, fromQueueId: head.queueId } }]
}

/** Ends the turn: closes calls still open (so the model context stays valid), then delivers the queue head. */
function endTurn(chat: ChatState, turnId: string, end: ChatEvent, closing: string): ChatEvent[] {
  const closed: ChatEvent[] = Object.entries(chat.openToolCalls).map(([callId, name]) => ({
    type: 'ToolCallCompleted',
    data: { turnId, callId, name, result: closing, isError: true, durationMs: 0 },
  }))
  return [...closed, end, ...queueHead(chat)]
}

function decideRunner(cmd: RunnerCommand, chat: ChatState): ChatEvent[] {
  switch (cmd.type) {
    case 'StartTurn':
      if (!chat.exists || chat.archived || chat.status !== 'pending') return []
      return [{ type: 'TurnStarted', data: { turnId: cmd.turnId, runnerId: cmd.runnerId, modelId: chat.modelId } }]
    case 'ResumeTurn':
      if (!chat.exists || !isBusy(chat) || chat.currentTurnId !== cmd.turnId || chat.turnRunnerId === cmd.runnerId) return []
      return [{ type: 'TurnResumed', data: { turnId: cmd.turnId, runnerId: cmd.runnerId, previousRunnerId: chat.turnRunnerId } }]
    case 'RecordStep': {
      if (!turnOf(chat, cmd)) return []
      const step: ChatEvent = { type: 'AssistantStepCompleted', data: { ...cmd.step, turnId: cmd.turnId } }
      const after = evolveChat(chat, step)
      const { turnId } = cmd
      if (cmd.step.interrupted || chat.status === 'interrupting')
        return [step, ...endTurn(after, turnId, { type: 'TurnInterrupted', data: { turnId } }, NOT_RUN_INTERRUPTED)]
      if (cmd.step.toolCalls.length === 0) return [step, { type: 'TurnCompleted', data: { turnId } }, ...queueHead(after)]
      return [step, ...cmd.step.toolCalls.map((c): ChatEvent => ({ type: 'ToolCallStarted', data: { turnId, callId: c.id, name: c.name, arguments: c.arguments } }))]
    }
    case 'StartToolCalls':
      if (!turnOf(chat, cmd) || chat.status === 'interrupting') return []
      return cmd.calls.map((c) => ({ type: 'ToolCallStarted', data: { turnId: cmd.turnId, callId: c.id, name: c.name, arguments: c.arguments } }))
    case 'CompleteToolCall': {
      if (!turnOf(chat, cmd) || !(cmd.callId in chat.openToolCalls)) return []
      const attachments: ChatEvent[] = (cmd.attachments ?? []).map(({ source, ...a }) => ({ type: 'AttachmentAdded', data: { ...a, source } }))
      const { turnId, callId, name, result, isError, durationMs, images } = cmd
      return [...attachments, { type: 'ToolCallCompleted', data: { turnId, callId, name, result, isError, durationMs, ...(images?.length ? { images } : {}) } }]
    }
    case 'ScheduleRetry': {
      if (!turnOf(chat, cmd)) return []
      const { turnId, attempt, delayMs, errorKind, message } = cmd
      return [{ type: 'RetryScheduled', data: { turnId, attempt, delayMs, errorKind, message } }]
    }
    case 'EndTurn': {
      if (!turnOf(chat, cmd)) return []
      const { turnId } = cmd
      if (cmd.outcome === 'interrupted') return endTurn(chat, turnId, { type: 'TurnInterrupted', data: { turnId } }, NOT_FINISHED.interrupted)
      const failed: ChatEvent = { type: 'TurnFailed', data: { turnId, errorKind: cmd.errorKind ?? 'unknown', message: cmd.message ?? 'The turn failed.' } }
      return endTurn(chat, turnId, failed, NOT_FINISHED.failed)
    }
    case 'DeliverQueueHead':
      if (!chat.exists || chat.archived || chat.status !== 'waiting') return []
      return queueHead(chat)
    case 'CompactContext': {
      // In a turn only its runner compacts; between turns only a requested compaction is recorded.
      if (cmd.turnId !== null ? !turnOf(chat, { ...cmd, turnId: cmd.turnId }) : isBusy(chat) || !chat.compactionRequested) return []
      const { summary, throughRevision, tokensBefore, tokensAfter, manual, call } = cmd
      return [{ type: 'ContextCompacted', data: { summary, throughRevision, tokensBefore, tokensAfter, manual, ...(call ? { call } : {}) } }]
    }
    case 'FailCompaction':
      if (!chat.exists || !chat.compactionRequested) return []
      return [{ type: 'CompactionFailed', data: { errorKind: cmd.errorKind, message: cmd.message } }]
    case 'BindWorkspace':
      if (!turnOf(chat, cmd) || chat.workspaceId === cmd.workspaceId) return []
      return [{ type: 'WorkspaceBound', data: { workspaceId: cmd.workspaceId } }]
    case 'AskQuestion': {
      if (!turnOf(chat, cmd) || !(cmd.callId in chat.openToolCalls)) return []
      const { turnId, callId } = cmd
      if (chat.status === 'interrupting') return endTurn(chat, turnId, { type: 'TurnInterrupted', data: { turnId } }, NOT_FINISHED.interrupted)
      return [{ type: 'QuestionAsked', data: { questionId: callId, turnId, callId, questions: cmd.questions } }]
    }
    case 'RequestApprovals': {
      if (!turnOf(chat, cmd)) return []
      const { turnId } = cmd
      if (chat.status === 'interrupting') return endTurn(chat, turnId, { type: 'TurnInterrupted', data: { turnId } }, NOT_FINISHED.interrupted)
      return cmd.requests.flatMap(({ callId, name, arguments: args, rule, expiresAt }): ChatEvent[] =>
        callId in chat.openToolCalls && !(callId in chat.approvalRequests)
          ? [{ type: 'ToolCallApprovalRequested', data: { turnId, callId, name, arguments: args, rule, expiresAt } }]
          : [],
      )
    }
    case 'ProposePlan': {
      if (!turnOf(chat, cmd) || !(cmd.callId in chat.openToolCalls)) return []
      const { turnId, callId, path, plan, sha256 } = cmd
      const completed: ChatEvent = { type: 'ToolCallCompleted', data: { turnId, callId, name: 'propose_plan', result: cmd.result, isError: false, durationMs: 0 } }
      const proposed: ChatEvent = { type: 'PlanProposed', data: { turnId, callId, path, plan, sha256 } }
      const after = evolveChat(chat, completed)
      const end: ChatEvent = chat.status === 'interrupting' ? { type: 'TurnInterrupted', data: { turnId } } : { type: 'TurnCompleted', data: { turnId } }
      return [completed, proposed, ...endTurn(after, turnId, end, NOT_FINISHED.interrupted)]
    }
    case 'RecordSubAgentSpawned':
      if (!turnOf(chat, cmd) || cmd.spawn.childChatId in chat.subAgents) return []
      return [{ type: 'SubAgentSpawned', data: { ...cmd.spawn, turnId: cmd.turnId } }]
    case 'RecordSubAgentClosed':
      if (!turnOf(chat, cmd) || chat.subAgents[cmd.childChatId] !== 'open') return []
      return [{ type: 'SubAgentClosed', data: { childChatId: cmd.childChatId } }]
  }
}

function decideFork(cmd: Extract<ChatCommand, { type: 'ForkChat' }>, fork: ChatState): ChatEvent[] {
  if (fork.exists) throw new CommandError('ALREADY_EXISTS', `chat ${cmd.chatId} already exists`)
  const { source } = cmd
  if (!Number.isInteger(cmd.atRevision) || cmd.atRevision < 0 || cmd.atRevision > source.lastRevision)
    throw new CommandError(
      'FORK_REVISION_OUT_OF_RANGE',
      `chat ${source.chatId} has ${source.lastRevision + 1} events; revision ${cmd.atRevision} does not exist`,
      { lastRevision: source.lastRevision },
    )
  const title = cmd.title?.trim() ? validateTitle(cmd.title) : `${source.title} (fork)`.slice(0, LIMITS.titleLength)
  return [
    {
      type: 'ChatForked',
      data: {
        chatId: cmd.chatId,
        sourceChatId: source.chatId,
        atRevision: cmd.atRevision,
        ownerId: cmd.ownerId,
        organizationId: cmd.organizationId,
        title,
        modelId: source.modelId,
        workspaceId: source.workspaceId,
        planMode: source.planMode,
      },
    },
  ]
}

export function decideChat(cmd: ChatCommand, chat: ChatState): ChatEvent[] {
  switch (cmd.type) {
    case 'StartTurn':
    case 'ResumeTurn':
    case 'RecordStep':
    case 'StartToolCalls':
    case 'CompleteToolCall':
    case 'ScheduleRetry':
    case 'EndTurn':
    case 'DeliverQueueHead':
    case 'CompactContext':
    case 'FailCompaction':
    case 'BindWorkspace':
    case 'AskQuestion':
    case 'ProposePlan':
    case 'RecordSubAgentSpawned':
    case 'RecordSubAgentClosed':
    case 'RequestApprovals':
      return decideRunner(cmd, chat)
    case 'ForkChat':
      return decideFork(cmd, chat)
    case 'CreateChat': {
      if (chat.exists) throw new CommandError('ALREADY_EXISTS', `chat ${cmd.chatId} already exists`)
      const title = validateTitle(cmd.title)
      if (cmd.firstMessage) validateParts(cmd.firstMessage.parts)
      const events: ChatEvent[] = [
        {
          type: 'ChatCreated',
          data: {
            chatId: cmd.chatId,
            ownerId: cmd.ownerId,
            organizationId: cmd.organizationId,
            title,
            modelId: cmd.modelId,
            workspaceId: cmd.workspaceId,
            parentChatId: cmd.parentChatId ?? null,
            rootChatId: cmd.rootChatId ?? null,
            agentType: cmd.agentType ?? null,
            planMode: cmd.planMode,
          },
        },
      ]
      if (cmd.firstMessage) {
        events.push(...attachmentEvents(cmd.attachments), {
          type: 'UserMessagePosted',
          data: { messageId: cmd.firstMessage.messageId, parts: cmd.firstMessage.parts, authorId: cmd.ownerId },
        })
      }
      return events
    }
    case 'PostMessage': {
      requireLiveChat(chat)
      validateParts(cmd.parts)
      const attachments = attachmentEvents(cmd.attachments)
      if (chat.pendingQuestion) {
        // A plain message while a question is open answers it in the user's own words.
        const text = cmd.parts.flatMap((p) => (p.type === 'text' ? [p.text] : [`[attached ${p.name}]`])).join('\n')
        return [...attachments, ...answer(chat, [text], true, cmd.authorId)]
      }
      if (!hasTurn(chat))
        return [...attachments, { type: 'UserMessagePosted', data: { messageId: cmd.messageId, parts: cmd.parts, authorId: cmd.authorId } }]
      const queued: ChatEvent = {
        type: 'MessageQueued',
        data: { queueId: cmd.messageId, parts: cmd.parts, authorId: cmd.authorId, atHead: cmd.busyBehavior === 'INTERRUPT' },
      }
      if (cmd.busyBehavior === 'INTERRUPT' && chat.status === 'running')
        return [...attachments, queued, { type: 'InterruptRequested', data: { requestedBy: cmd.authorId } }]
      return [...attachments, queued]
    }
    case 'RemoveQueuedMessage':
      requireLiveChat(chat)
      if (!chat.queue.some((q) => q.queueId === cmd.queueId))
        throw new CommandError('QUEUED_MESSAGE_NOT_FOUND', `no queued message ${cmd.queueId} in chat ${chat.id}`)
      return [{ type: 'QueuedMessageRemoved', data: { queueId: cmd.queueId } }]
    case 'PromoteQueuedMessage': {
      requireLiveChat(chat)
      if (!chat.queue.some((q) => q.queueId === cmd.queueId))
        throw new CommandError('QUEUED_MESSAGE_NOT_FOUND', `no queued message ${cmd.queueId} in chat ${chat.id}`)
      const promoted: ChatEvent[] = chat.queue[0]?.queueId === cmd.queueId ? [] : [{ type: 'QueuedMessagePromoted', data: { queueId: cmd.queueId } }]
      return cmd.interrupt && chat.status === 'running' ? [...promoted, { type: 'InterruptRequested', data: { requestedBy: cmd.interrupt.requestedBy } }] : promoted
    }
    case 'InterruptChat':
      requireLiveChat(chat)
      // A turn waiting for an answer or an approval has no runner to stop: it ends here.
      if ((chat.pendingQuestion || Object.keys(chat.pendingApprovals).length) && chat.currentTurnId)
        return endTurn(chat, chat.currentTurnId, { type: 'TurnInterrupted', data: { turnId: chat.currentTurnId } }, chat.pendingQuestion ? QUESTION_DISMISSED : NOT_RUN_INTERRUPTED)
      return chat.status === 'running' ? [{ type: 'InterruptRequested', data: { requestedBy: cmd.requestedBy } }] : []
    case 'RenameChat': {
      requireLiveChat(chat)
      const title = validateTitle(cmd.title)
      if (cmd.generated && chat.title !== cmd.generated.replaces) return []
      const call = cmd.generated?.call
      return title === chat.title ? [] : [{ type: 'ChatRenamed', data: { title, generated: Boolean(cmd.generated), ...(call ? { call } : {}) } }]
    }
    case 'ArchiveChat':
      if (!chat.exists) throw new CommandError('CHAT_NOT_FOUND', 'chat not found')
      return chat.archived ? [] : [{ type: 'ChatArchived', data: cmd.cascadedFrom ? { cascadedFrom: cmd.cascadedFrom } : {} }]
    case 'UnarchiveChat':
      if (!chat.exists) throw new CommandError('CHAT_NOT_FOUND', 'chat not found')
      return chat.archived ? [{ type: 'ChatUnarchived', data: cmd.cascadedFrom ? { cascadedFrom: cmd.cascadedFrom } : {} }] : []
    case 'ChangeModel':
      requireLiveChat(chat)
      if (!cmd.modelId.trim()) throw invalidInput('modelId must not be empty')
      return cmd.modelId === chat.modelId ? [] : [{ type: 'ChatModelChanged', data: { modelId: cmd.modelId } }]
    case 'SetPlanMode':
      requireLiveChat(chat)
      return cmd.planMode === chat.planMode ? [] : [{ type: 'PlanModeChanged', data: { planMode: cmd.planMode } }]
    case 'SetChatMcpServer':
      requireLiveChat(chat)
      if (!cmd.serverId.trim()) throw invalidInput('serverId must not be empty')
      return chat.mcpServers[cmd.serverId] === cmd.enabled ? [] : [{ type: 'McpServerToggled', data: { serverId: cmd.serverId, enabled: cmd.enabled } }]
    case 'AnswerQuestion': {
      requireLiveChat(chat)
      if (!(cmd.questionId in chat.askedQuestions))
        throw new CommandError('QUESTION_NOT_FOUND', `chat ${chat.id} has no question ${cmd.questionId}`)
      const q = chat.pendingQuestion
      if (q?.questionId !== cmd.questionId)
        throw new CommandError('QUESTION_ALREADY_ANSWERED', `question ${cmd.questionId} of chat ${chat.id} is no longer open (answered, or its turn ended)`)
      if (cmd.freeText ? cmd.answers.length !== 1 : cmd.answers.length !== q.questions.length)
        throw invalidInput(`question ${cmd.questionId} has ${q.questions.length} question${q.questions.length === 1 ? '' : 's'}; give one answer for each, not ${cmd.answers.length}`)
      cmd.answers.forEach((a, i) => {
        if (!a.trim()) throw invalidInput(`answer ${i + 1} must not be empty`)
        if (a.length > LIMITS.answerLength) throw invalidInput(`answer ${i + 1} is longer than ${LIMITS.answerLength} characters`)
      })
      return answer(chat, cmd.answers, Boolean(cmd.freeText), cmd.answeredBy)
    }
    case 'ApproveToolCall':
      requireLiveChat(chat)
      requirePendingApproval(chat, cmd.callId)
      return [{ type: 'ToolCallApproved', data: { callId: cmd.callId, approvedBy: cmd.approvedBy, forChat: cmd.forChat } }]
    case 'DenyToolCall': {
      requireLiveChat(chat)
      requirePendingApproval(chat, cmd.callId)
      const reason = cmd.reason.trim() || 'no reason given'
      if (reason.length > LIMITS.denyReasonLength) throw invalidInput(`reason is longer than ${LIMITS.denyReasonLength} characters`)
      return denied(chat, cmd.callId, cmd.deniedBy, reason, false)
    }
    case 'ExpireApprovals': {
      if (!chat.exists) return []
      const expired = Object.entries(chat.pendingApprovals).filter(([, p]) => Date.parse(p.expiresAt) <= cmd.now)
      return expired.flatMap(([callId, p]) => denied(chat, callId, null, `the request expired at ${p.expiresAt}`, true))
    }
    case 'RequestCompaction':
      requireLiveChat(chat)
      return chat.compactionRequested ? [] : [{ type: 'CompactionRequested', data: { requestedBy: cmd.requestedBy } }]
  }
}

export const chatDecider: Decider<ChatCommand, ChatState, ChatEvent> = {
  decide: decideChat,
  evolve: evolveChat,
  initialState: initialChatState,
}
