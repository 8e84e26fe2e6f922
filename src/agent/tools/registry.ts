import type { AttachmentRef, RunnerCommand } from '../../../commands/chat/commands.ts'
import type { Question } from '../../events/chat.ts'
import type { EventMetadata } from '../../eventstore/types.ts'
import type { ChatState } from '../../events/chat-state.ts'
import type { ToolDefinition } from '../../providers/types.ts'

export interface ToolResult {
  content: string
  isError: boolean
  images?: { mimeType: string; data: string }[]
  /** Files the tool attached to the chat: the runner records them with the result. */
  attachments?: (AttachmentRef & { source: 'upload' | 'workspace' | 'tool' })[]
  /**
   * The call ends the turn once the step's other calls are done: a question keeps the call open
   * and the turn waits for the answer (`AskQuestion`); a plan completes it with `content` and ends
   * the turn (`ProposePlan`).
   */
  suspend?: { kind: 'question'; questions: Question[] } | { kind: 'plan'; path: string; plan: string; sha256: string }
}

/** What a sub-agent tool records on the parent chat (through the chat decider, as the runner's move). */
export type SubAgentRecord =
  | { kind: 'spawned'; spawn: Extract<RunnerCommand, { type: 'RecordSubAgentSpawned' }>['spawn'] }
  | { kind: 'closed'; childChatId: string }

export interface ToolContext {
  chatId: string
  /** The user the agent acts for: tools see exactly what this user may see. */
  userId: string
  organizationId: string
  chat: ChatState
  /** The tool-call id: the idempotency key a tool passes on (e.g. to the workspace daemon). */
  callId: string
  /** Metadata for what the tool appends to other streams (a sub-agent's chat): the runner acting for the owner, caused by this call. */
  metadata: EventMetadata
  signal: AbortSignal
  /**
   * Binds a workspace the tool created or started to the chat, through the chat decider, at
   * once (a parallel call may need it). Tools never append to a chat stream themselves.
   */
  bindWorkspace(workspaceId: string): Promise<void>
  /** Records a sub-agent spawned or closed by this call on the chat (spawn_agent, close_agent). */
  recordSubAgent(record: SubAgentRecord): Promise<void>
  /**
   * Waits for `work` without counting against the runner's concurrent chats (wait_agent): the
   * chat keeps its lease, but a parked driver leaves its slot to others.
   */
  park<T>(work: Promise<T>): Promise<T>
}

export interface Tool {
  name: string
  description: string
  /** JSON Schema of the arguments object. */
  inputSchema: Record<string, unknown>
  /** What its server declares: may a call change or destroy things (MCP tool annotations). Unset for our own tools. */
  destructive?: boolean
  /** Whether the tool is offered in this chat (e.g. platform tools only in root chats). */
  availability?(chat: ChatState): boolean
  run(args: unknown, ctx: ToolContext): Promise<ToolResult>
  /**
   * After a crash, for a call that was started but has no result: did it already run?
   * Returns its result, or null when nobody can tell. Tools without it cannot tell.
   */
  recover?(args: unknown, ctx: ToolContext): Promise<ToolResult | null>
}

/**
 * Tools that come and go at run time (an MCP server's): asked for the chat's tools before each
 * step and before its calls run. A source that cannot answer (a server that is down) returns
 * what it can; it never fails the step.
 */
export interface ToolSource {
  tools(chat: ChatState, signal?: AbortSignal): Promise<Tool[]>
}

/** The tools the runner offers the model, by name. Workspace and platform tools register here; MCP tools come from sources. */
export class ToolRegistry {
  readonly #tools = new Map<string, Tool>()
  readonly #sources: ToolSource[] = []

  register(...tools: Tool[]): this {
    for (const tool of tools) {
      if (this.#tools.has(tool.name)) throw new Error(`tool ${tool.name} is registered twice`)
      this.#tools.set(tool.name, tool)
    }
    return this
  }

  addSource(source: ToolSource): this {
    this.#sources.push(source)
    return this
  }

  get(name: string): Tool | undefined {
    return this.#tools.get(name)
  }

  /** The tools offered in a chat: available there and not disabled by an admin. Only these ever run. */
  available(chat: ChatState, disabled: readonly string[]): Tool[] {
    return [...this.#tools.values()].filter((t) => !disabled.includes(t.name) && (t.availability?.(chat) ?? true))
  }

  /** Everything offered in a chat now: the registered tools `available` gives, then each source's, minus what an admin disabled. */
  async offered(chat: ChatState, disabled: readonly string[], signal?: AbortSignal): Promise<Tool[]> {
    const fixed = this.available(chat, disabled)
    if (this.#sources.length === 0) return fixed
    const dynamic = (await Promise.all(this.#sources.map((s) => s.tools(chat, signal)))).flat()
    return [...fixed, ...dynamic.filter((t) => !disabled.includes(t.name) && !this.#tools.has(t.name) && (t.availability?.(chat) ?? true))]
  }

  definitions(tools: Tool[]): ToolDefinition[] {
    return tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema }))
  }
}
