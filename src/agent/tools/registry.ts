import type { AttachmentRef } from '../../../commands/chat/commands.ts'
import type { ChatState } from '../../events/chat-state.ts'
import type { ToolDefinition } from '../../providers/types.ts'

export interface ToolResult {
  content: string
  isError: boolean
  images?: { mimeType: string; data: string }[]
  /** Files the tool attached to the chat: the runner records them with the result. */
  attachments?: (AttachmentRef & { source: 'upload' | 'workspace' })[]
}

export interface ToolContext {
  chatId: string
  /** The user the agent acts for: tools see exactly what this user may see. */
  userId: string
  organizationId: string
  chat: ChatState
  /** The tool-call id: the idempotency key a tool passes on (e.g. to the workspace daemon). */
  callId: string
  signal: AbortSignal
  /**
   * Binds a workspace the tool created or started to the chat, through the chat decider, at
   * once (a parallel call may need it). Tools never append to a chat stream themselves.
   */
  bindWorkspace(workspaceId: string): Promise<void>
}

export interface Tool {
  name: string
  description: string
  /** JSON Schema of the arguments object. */
  inputSchema: Record<string, unknown>
  /** Whether the tool is offered in this chat (e.g. platform tools only in root chats). */
  availability?(chat: ChatState): boolean
  run(args: unknown, ctx: ToolContext): Promise<ToolResult>
  /**
   * After a crash, for a call that was started but has no result: did it already run?
   * Returns its result, or null when nobody can tell. Tools without it cannot tell.
   */
  recover?(args: unknown, ctx: ToolContext): Promise<ToolResult | null>
}

/** The tools the runner offers the model, by name. Workspace and platform tools register here. */
export class ToolRegistry {
  readonly #tools = new Map<string, Tool>()

  register(...tools: Tool[]): this {
    for (const tool of tools) {
      if (this.#tools.has(tool.name)) throw new Error(`tool ${tool.name} is registered twice`)
      this.#tools.set(tool.name, tool)
    }
    return this
  }

  get(name: string): Tool | undefined {
    return this.#tools.get(name)
  }

  /** The tools offered in a chat: available there and not disabled by an admin. Only these ever run. */
  available(chat: ChatState, disabled: readonly string[]): Tool[] {
    return [...this.#tools.values()].filter((t) => !disabled.includes(t.name) && (t.availability?.(chat) ?? true))
  }

  definitions(tools: Tool[]): ToolDefinition[] {
    return tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema }))
  }
}
