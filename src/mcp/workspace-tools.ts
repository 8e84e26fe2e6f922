// The tools of a workspace's `.mcp.json` stdio servers, which its daemon runs and proxies
// (src/workspace-agent/mcp.ts). Offered in root chats out of plan mode whose bound workspace's
// agent is connected; a chat without a workspace never gets one for this.
import type { Tool, ToolSource } from '../agent/tools/registry.ts'
import type { ChatState } from '../events/chat-state.ts'
import { MAIN_AGENT } from '../events/workspace.ts'
import type { WorkspaceTunnels } from '../workspaces/tunnel.ts'
import type { WorkspaceMcpList } from '../workspace-agent/mcp.ts'
import { describeMcpTool, inputSchemaOf, mcpToolDestructive } from './admin-tools.ts'
import type { McpTool } from './connections.ts'
import { workspaceMcpToolName } from './names.ts'
import { toolResultFromMcp } from './results.ts'

const LIST_TIMEOUT_MS = 5_000
/** A chat's listing is reused this long: a step asks for the offered tools twice (to stream, to run its calls). */
const LIST_REUSE_MS = 2_000
const CALL_TIMEOUT_MS = 10 * 60_000

export class WorkspaceMcpTools implements ToolSource {
  /** Workspaces whose listing failed, so it is logged once per outage. */
  readonly #failing = new Set<string>()
  readonly #recent = new Map<string, { at: number; list: WorkspaceMcpList }>()

  constructor(
    private readonly tunnels: Pick<WorkspaceTunnels, 'isConnected' | 'requestJson'>,
    private readonly log: (line: string) => void = () => {},
  ) {}

  async tools(chat: ChatState, signal?: AbortSignal): Promise<Tool[]> {
    const workspaceId = chat.workspaceId
    if (!workspaceId || chat.planMode || chat.parentChatId !== null) return []
    if (!this.tunnels.isConnected(workspaceId, MAIN_AGENT)) return []
    let list: WorkspaceMcpList
    try {
      // Per chat: another chat sees a changed .mcp.json at once, this one within LIST_REUSE_MS.
      const key = `${chat.id}/${workspaceId}`
      const recent = this.#recent.get(key)
      if (recent && Date.now() - recent.at < LIST_REUSE_MS) list = recent.list
      else {
        list = await this.tunnels.requestJson<WorkspaceMcpList>(workspaceId, { method: 'GET', path: '/mcp/servers', agent: MAIN_AGENT, timeoutMs: LIST_TIMEOUT_MS, signal })
        this.#recent.set(key, { at: Date.now(), list })
        if (this.#recent.size > 1_000) this.#recent.delete(this.#recent.keys().next().value!)
      }
      this.#failing.delete(workspaceId)
    } catch (err) {
      if (signal?.aborted) return []
      if (!this.#failing.has(workspaceId)) this.log(`workspace ${workspaceId}: could not list its MCP servers: ${(err as Error).message}`)
      this.#failing.add(workspaceId)
      return []
    }
    const tools: Tool[] = []
    const names = new Set<string>()
    for (const server of list.servers ?? []) {
      for (const t of server.tools ?? []) {
        const name = workspaceMcpToolName(server.name, t.name)
        if (names.has(name)) continue
        names.add(name)
        tools.push({
          name,
          description: describeMcpTool(t as McpTool, `MCP server ${server.name} of the workspace's .mcp.json`),
          inputSchema: inputSchemaOf(t as McpTool),
          destructive: mcpToolDestructive(t as McpTool),
          availability: (c) => c.workspaceId === workspaceId && !c.planMode && c.parentChatId === null,
          run: async (args, ctx) => {
            try {
              const result = await this.tunnels.requestJson<Record<string, unknown>>(workspaceId, {
                method: 'POST',
                path: `/mcp/servers/${encodeURIComponent(server.name)}/call`,
                body: { tool: t.name, arguments: args ?? {} },
                agent: MAIN_AGENT,
                timeoutMs: CALL_TIMEOUT_MS,
                signal: ctx.signal,
              })
              return toolResultFromMcp(result)
            } catch (err) {
              if (ctx.signal.aborted) throw err
              return { content: `Workspace MCP server ${server.name} is unreachable: ${(err as Error).message}`, isError: true }
            }
          },
        })
      }
    }
    return tools
  }
}
