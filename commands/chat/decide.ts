import type { ChatEvent, MessagePart } from '../../src/events/chat.ts'
import { CommandError, invalidInput } from '../errors.ts'
import type { Decider } from '../decider.ts'
import { LIMITS, type AttachmentRef, type ChatCommand } from './commands.ts'
import { evolveChat, initialChatState, type ChatState } from './state.ts'

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

export function decideChat(cmd: ChatCommand, chat: ChatState): ChatEvent[] {
  switch (cmd.type) {
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
      if (!isBusy(chat))
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
    case 'PromoteQueuedMessage':
      requireLiveChat(chat)
      if (!chat.queue.some((q) => q.queueId === cmd.queueId))
        throw new CommandError('QUEUED_MESSAGE_NOT_FOUND', `no queued message ${cmd.queueId} in chat ${chat.id}`)
      if (chat.queue[0]?.queueId === cmd.queueId) return []
      return [{ type: 'QueuedMessagePromoted', data: { queueId: cmd.queueId } }]
    case 'InterruptChat':
      requireLiveChat(chat)
      return chat.status === 'running' ? [{ type: 'InterruptRequested', data: { requestedBy: cmd.requestedBy } }] : []
    case 'RenameChat': {
      requireLiveChat(chat)
      const title = validateTitle(cmd.title)
      return title === chat.title ? [] : [{ type: 'ChatRenamed', data: { title, generated: false } }]
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
    case 'AnswerQuestion':
      requireLiveChat(chat)
      if (chat.pendingQuestionId !== cmd.questionId)
        throw new CommandError('NO_PENDING_QUESTION', `chat ${chat.id} is not waiting for an answer to question ${cmd.questionId}`)
      if (!cmd.answer.trim()) throw invalidInput('answer must not be empty')
      if (cmd.answer.length > LIMITS.answerLength) throw invalidInput(`answer is longer than ${LIMITS.answerLength} characters`)
      return [{ type: 'QuestionAnswered', data: { questionId: cmd.questionId, answer: cmd.answer, answeredBy: cmd.answeredBy } }]
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
