// Which admin MCP servers a chat is offered, and which of a server's tools.
import type { ChatState } from '../events/chat-state.ts'
import type { McpServerSettings } from '../events/config.ts'

type ChatSide = Pick<ChatState, 'planMode' | 'parentChatId' | 'mcpServers'>

/** On in the chat by availability and the owner's toggle (FORCE_ON always; DEFAULT_ON unless turned off; DEFAULT_OFF only when turned on). */
export function mcpServerEnabled(server: McpServerSettings, toggles: Record<string, boolean>): boolean {
  switch (server.availability) {
    case 'force-on':
      return true
    case 'default-on':
      return toggles[server.serverId] !== false
    case 'default-off':
      return toggles[server.serverId] === true
  }
}

/**
 * Enabled, and allowed where the chat is: plan mode only with allowInPlanMode, sub-agents only
 * with allowInSubAgents — and a sub-agent of a plan-mode chat never (it only explores).
 */
export function mcpServerOffered(server: McpServerSettings, chat: ChatSide): boolean {
  if (chat.planMode && !server.allowInPlanMode) return false
  if (chat.parentChatId !== null && (chat.planMode || !server.allowInSubAgents)) return false
  return mcpServerEnabled(server, chat.mcpServers)
}

/** allowTools (empty: all) minus denyTools, by the server's own tool names. */
export function mcpToolAllowed(server: Pick<McpServerSettings, 'allowTools' | 'denyTools'>, tool: string): boolean {
  if (server.allowTools.length > 0 && !server.allowTools.includes(tool)) return false
  return !server.denyTools.includes(tool)
}
