/** Events of a `chat-<uuid>` stream. Revisions inside data are plain numbers (JSON). */

export type ChatStatus = 'waiting' | 'pending' | 'running' | 'interrupting' | 'requires_action' | 'error'

export type TextPart = { type: 'text'; text: string }
export type AttachmentPart = {
  type: 'attachment'
  attachmentId: string
  sha256: string
  mimeType: string
  name: string
  size: number
}
export type MessagePart = TextPart | AttachmentPart

/** A model call made around the steps (a compaction's summary, a generated title): what it used and cost, as a step records it. */
export interface ModelCall {
  modelId: string | null
  usage: TokenUsage
  costUsd: number
}

export interface TokenUsage {
  inputTokens: number
  outputTokens: number
  cacheReadTokens: number
  cacheWriteTokens: number
  reasoningTokens: number
}

export interface ToolCall {
  id: string
  name: string
  arguments: unknown
  /** Provider-specific signature (Gemini thoughtSignature) sent back unchanged. */
  signature?: string
}

/** A rule of an approval policy: a call of `tool` (`*` matches any run of characters, e.g. `mcp__*`) whose command (for `execute`; the arguments' JSON otherwise) matches `commandPattern`, a regular expression, when given. */
export interface ApprovalRule {
  tool: string
  commandPattern?: string | null
  /** Only tools their server declares destructive (MCP annotations: not read-only, destructiveHint not false). */
  destructiveOnly?: boolean
}

/** One of the questions of `ask_user_question`. */
export interface Question {
  header: string
  question: string
  options: { label: string; description: string }[]
}

export type StepPart =
  | { type: 'text'; text: string; signature?: string }
  | { type: 'reasoning'; text: string; signature?: string; redacted?: boolean }
  | { type: 'tool_call'; id: string; name: string; arguments: unknown; signature?: string }

export type ChatEvent =
  | {
      type: 'ChatCreated'
      data: {
        chatId: string
        ownerId: string
        organizationId: string
        title: string
        modelId: string | null
        workspaceId: string | null
        parentChatId: string | null
        rootChatId: string | null
        agentType: 'general' | 'explore' | null
        planMode: boolean
      }
    }
  | {
      type: 'ChatForked'
      data: {
        chatId: string
        sourceChatId: string
        atRevision: number
        ownerId: string
        organizationId: string
        title: string
        /**
         * Tool calls left without results by the cut: closed as not executed. Absent when the fork
         * was decided from the source's head only; then `toolCallsClosedByFork` derives them.
         */
        closedToolCallIds?: string[]
        /** The source's settings at the cut, so a read model need not replay the source. Absent on early events. */
        modelId?: string | null
        workspaceId?: string | null
        planMode?: boolean
      }
    }
  | { type: 'UserMessagePosted'; data: { messageId: string; parts: MessagePart[]; authorId: string; fromQueueId?: string } }
  | { type: 'MessageQueued'; data: { queueId: string; parts: MessagePart[]; authorId: string; atHead: boolean } }
  | { type: 'QueuedMessageRemoved'; data: { queueId: string } }
  | { type: 'QueuedMessagePromoted'; data: { queueId: string } }
  | { type: 'InterruptRequested'; data: { requestedBy: string } }
  | { type: 'TurnStarted'; data: { turnId: string; runnerId: string; modelId: string | null } }
  /** The turn goes on under another runner (the previous one's lease expired); from here only it may write the turn. */
  | { type: 'TurnResumed'; data: { turnId: string; runnerId: string; previousRunnerId: string | null } }
  | {
      type: 'AssistantStepCompleted'
      data: {
        turnId: string
        stepId: string
        modelId: string | null
        parts: StepPart[]
        text: string
        reasoning: string
        toolCalls: ToolCall[]
        usage: TokenUsage
        costUsd: number
        finishReason: string
        interrupted: boolean
      }
    }
  | { type: 'ToolCallStarted'; data: { turnId: string; callId: string; name: string; arguments: unknown } }
  | {
      type: 'ToolCallCompleted'
      data: {
        turnId: string
        callId: string
        name: string
        result: string
        isError: boolean
        durationMs: number
        images?: { attachmentId: string; mimeType: string; sha256: string }[]
      }
    }
  | { type: 'RetryScheduled'; data: { turnId: string; attempt: number; delayMs: number; errorKind: string; message: string } }
  | { type: 'TurnCompleted'; data: { turnId: string } }
  | { type: 'TurnInterrupted'; data: { turnId: string } }
  | { type: 'TurnFailed'; data: { turnId: string; errorKind: string; message: string } }
  | { type: 'CompactionRequested'; data: { requestedBy: string } }
  /** A requested compaction could not run (no usable model, provider error); the request is dropped. */
  | { type: 'CompactionFailed'; data: { errorKind: string; message: string } }
  /** `call`: the summarizing model call (absent on events recorded before calls were). */
  | {
      type: 'ContextCompacted'
      data: { summary: string; throughRevision: number; tokensBefore: number; tokensAfter: number; manual: boolean; call?: ModelCall }
    }
  /** The model called `ask_user_question` (call `callId`): its turn waits in `requires_action` for the answer. */
  | { type: 'QuestionAsked'; data: { questionId: string; turnId: string; callId: string; questions: Question[] } }
  /** One answer per question (`freeText`: a plain message answered them all); the call's result follows. */
  | { type: 'QuestionAnswered'; data: { questionId: string; answers: string[]; freeText: boolean; answeredBy: string } }
  /** A call an approval policy rule matched: it is not run; the turn waits in `requires_action` until it is approved or denied. */
  | { type: 'ToolCallApprovalRequested'; data: { turnId: string; callId: string; name: string; arguments: unknown; rule: ApprovalRule; expiresAt: string } }
  /** `forChat`: calls matching the same rule run without asking for the rest of the chat. */
  | { type: 'ToolCallApproved'; data: { callId: string; approvedBy: string; forChat: boolean } }
  /** Denied by a person, or `expired`; the call's refused result follows. */
  | { type: 'ToolCallDenied'; data: { callId: string; deniedBy: string | null; reason: string; expired: boolean } }
  /** The model proposed the plan file (`propose_plan`); the turn ends with it. */
  | { type: 'PlanProposed'; data: { turnId: string; callId: string; path: string; plan: string; sha256: string } }
  /** `spawn_agent` created the child chat `childChatId` (its own stream, created first). */
  | {
      type: 'SubAgentSpawned'
      data: { childChatId: string; agentType: 'general' | 'explore'; title: string; prompt: string; modelId: string | null; turnId: string; callId: string }
    }
  /** `close_agent` interrupted and archived the child. */
  | { type: 'SubAgentClosed'; data: { childChatId: string } }
  | {
      type: 'AttachmentAdded'
      data: { attachmentId: string; sha256: string; mimeType: string; name: string; size: number; source: 'upload' | 'workspace' | 'tool' }
    }
  /** `call`: the model call that generated the title (absent on renames by people, and on events recorded before calls were). */
  | { type: 'ChatRenamed'; data: { title: string; generated: boolean; call?: ModelCall } }
  | { type: 'ChatArchived'; data: { cascadedFrom?: string } }
  | { type: 'ChatUnarchived'; data: { cascadedFrom?: string } }
  | { type: 'ChatModelChanged'; data: { modelId: string } }
  | { type: 'PlanModeChanged'; data: { planMode: boolean } }
  | { type: 'WorkspaceBound'; data: { workspaceId: string } }
  /** The owner turned an admin's DEFAULT_ON / DEFAULT_OFF MCP server on or off for this chat. */
  | { type: 'McpServerToggled'; data: { serverId: string; enabled: boolean } }

export type ChatEventType = ChatEvent['type']

export const CHAT_EVENT_TYPES = [
  'ChatCreated',
  'ChatForked',
  'UserMessagePosted',
  'MessageQueued',
  'QueuedMessageRemoved',
  'QueuedMessagePromoted',
  'InterruptRequested',
  'TurnStarted',
  'TurnResumed',
  'AssistantStepCompleted',
  'ToolCallStarted',
  'ToolCallCompleted',
  'RetryScheduled',
  'TurnCompleted',
  'TurnInterrupted',
  'TurnFailed',
  'CompactionRequested',
  'CompactionFailed',
  'ContextCompacted',
  'QuestionAsked',
  'QuestionAnswered',
  'ToolCallApprovalRequested',
  'ToolCallApproved',
  'ToolCallDenied',
  'PlanProposed',
  'SubAgentSpawned',
  'SubAgentClosed',
  'AttachmentAdded',
  'ChatRenamed',
  'ChatArchived',
  'ChatUnarchived',
  'ChatModelChanged',
  'PlanModeChanged',
  'WorkspaceBound',
  'McpServerToggled',
] as const satisfies readonly ChatEventType[]

export const chatStream = (chatId: string) => `chat-${chatId}`
export const chatIdOfStream = (stream: string) => stream.slice('chat-'.length)
