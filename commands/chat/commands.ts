import type { ApprovalRule, ChatEvent, MessagePart, ModelCall, Question, ToolCall } from '../../src/events/chat.ts'

export type BusyBehavior = 'QUEUE' | 'INTERRUPT'

type DataOf<T extends ChatEvent['type']> = Extract<ChatEvent, { type: T }>['data']

/** A model step as the runner streamed it; the decider records it and decides what follows. */
export type StepRecord = Omit<DataOf<'AssistantStepCompleted'>, 'turnId'>

/** What the runner asks of a chat while it holds the chat's lease. Each names the runner and its turn. */
export type RunnerCommand =
  | { type: 'StartTurn'; runnerId: string; turnId: string }
  /** Another runner's turn continues here after its lease expired (a crash, a takeover). */
  | { type: 'ResumeTurn'; runnerId: string; turnId: string }
  | { type: 'RecordStep'; runnerId: string; turnId: string; step: StepRecord }
  | { type: 'StartToolCalls'; runnerId: string; turnId: string; calls: ToolCall[] }
  | ({
      type: 'CompleteToolCall'
      runnerId: string
      /** Files the tool attached to the chat (attach_file): recorded before its result. */
      attachments?: (AttachmentRef & { source: 'upload' | 'workspace' | 'tool' })[]
    } & DataOf<'ToolCallCompleted'>)
  | { type: 'ScheduleRetry'; runnerId: string; turnId: string; attempt: number; delayMs: number; errorKind: string; message: string }
  | { type: 'EndTurn'; runnerId: string; turnId: string; outcome: 'interrupted' | 'failed'; errorKind?: string; message?: string }
  /** A queued message becomes the next prompt when no turn runs. */
  | { type: 'DeliverQueueHead'; runnerId: string }
  | { type: 'CompactContext'; runnerId: string; turnId: string | null; summary: string; throughRevision: number; tokensBefore: number; tokensAfter: number; manual: boolean; call?: ModelCall }
  | { type: 'FailCompaction'; runnerId: string; errorKind: string; message: string }
  /** A tool created or started a workspace for the chat. */
  | { type: 'BindWorkspace'; runnerId: string; turnId: string; workspaceId: string }
  /** `ask_user_question` (call `callId`, still open): the turn waits for the answer in `requires_action`. */
  | { type: 'AskQuestion'; runnerId: string; turnId: string; callId: string; questions: Question[] }
  /** Calls an approval rule matched (started, not run): the turn waits until each is approved or denied. */
  | { type: 'RequestApprovals'; runnerId: string; turnId: string; requests: { callId: string; name: string; arguments: unknown; rule: ApprovalRule; expiresAt: string }[] }
  /** `propose_plan` read the plan: its result, the plan, and the end of the turn. */
  | { type: 'ProposePlan'; runnerId: string; turnId: string; callId: string; path: string; plan: string; sha256: string; result: string }
  /** `spawn_agent` created the child chat; the parent records it. */
  | { type: 'RecordSubAgentSpawned'; runnerId: string; turnId: string; spawn: Omit<DataOf<'SubAgentSpawned'>, 'turnId'> }
  | { type: 'RecordSubAgentClosed'; runnerId: string; turnId: string; childChatId: string }

/** Commands on one chat. Ids and the acting user come in on the command; the decider invents nothing. */
export type ChatCommand =
  | RunnerCommand
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
  /** Moves a queued message to the head; with `interrupt`, also asks the running turn to stop so it is delivered next. */
  | { type: 'PromoteQueuedMessage'; queueId: string; interrupt?: { requestedBy: string } }
  | { type: 'InterruptChat'; requestedBy: string }
  /** `generated`: a title the runner made for `replaces`; dropped if someone renamed the chat meanwhile. */
  | { type: 'RenameChat'; title: string; generated?: { replaces: string; call?: ModelCall } }
  | { type: 'ArchiveChat'; cascadedFrom?: string }
  | { type: 'UnarchiveChat'; cascadedFrom?: string }
  | { type: 'ChangeModel'; modelId: string }
  | { type: 'SetPlanMode'; planMode: boolean }
  /** Whether an admin MCP server that users may toggle is on in this chat (the API checks the server exists and is toggleable). */
  | { type: 'SetChatMcpServer'; serverId: string; enabled: boolean }
  /** One answer per question of the pending `ask_user_question`. */
  | { type: 'AnswerQuestion'; questionId: string; answers: string[]; freeText?: boolean; answeredBy: string }
  | { type: 'RequestCompaction'; requestedBy: string }
  | { type: 'ApproveToolCall'; callId: string; approvedBy: string; forChat: boolean }
  | { type: 'DenyToolCall'; callId: string; deniedBy: string; reason: string }
  /** Denies the requests that expired by `now` (epoch ms); sent by any runner's scan. */
  | { type: 'ExpireApprovals'; now: number }
  /**
   * Creates the fork's stream. Decided from the source's head alone: its last revision for the
   * range check and its current settings; the calls the cut leaves open are closed when folding.
   */
  | {
      type: 'ForkChat'
      chatId: string
      ownerId: string
      organizationId: string
      title?: string
      atRevision: number
      source: { chatId: string; lastRevision: number; title: string; modelId: string | null; workspaceId: string | null; planMode: boolean }
    }

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
  denyReasonLength: 2_000,
} as const
