import type { MessagePart } from '../../src/events/chat.ts'

export type BusyBehavior = 'QUEUE' | 'INTERRUPT'

/** Commands on one chat. Ids and the acting user come in on the command; the decider invents nothing. */
export type ChatCommand =
  | {
      type: 'CreateChat'
      chatId: string
      ownerId: string
      organizationId: string
      title: string
      modelId: string | null
      workspaceId: string | null
      planMode: boolean
      parentChatId?: string | null
      rootChatId?: string | null
      agentType?: 'general' | 'explore' | null
      firstMessage?: { messageId: string; parts: MessagePart[] }
      attachments?: AttachmentRef[]
    }
  | {
      type: 'PostMessage'
      messageId: string
      authorId: string
      parts: MessagePart[]
      busyBehavior: BusyBehavior
      attachments?: AttachmentRef[]
    }
  | { type: 'RemoveQueuedMessage'; queueId: string }
  | { type: 'PromoteQueuedMessage'; queueId: string }
  | { type: 'InterruptChat'; requestedBy: string }
  | { type: 'RenameChat'; title: string }
  | { type: 'ArchiveChat'; cascadedFrom?: string }
  | { type: 'UnarchiveChat'; cascadedFrom?: string }
  | { type: 'ChangeModel'; modelId: string }
  | { type: 'SetPlanMode'; planMode: boolean }
  | { type: 'AnswerQuestion'; questionId: string; answer: string; answeredBy: string }
  | { type: 'RequestCompaction'; requestedBy: string }

/** An uploaded attachment referenced by a message: recorded on the chat with `AttachmentAdded`. */
export interface AttachmentRef {
  attachmentId: string
  sha256: string
  mimeType: string
  name: string
  size: number
}

export const LIMITS = {
  titleLength: 200,
  messageTextLength: 100_000,
  attachmentsPerMessage: 10,
  answerLength: 10_000,
} as const
