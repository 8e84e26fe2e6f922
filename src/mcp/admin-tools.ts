// The tools of the admin's MCP servers, offered per chat (a ToolSource of the runner's registry).
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { Tool, ToolSource } from '../agent/tools/registry.ts'
import type { ConfigService } from '../config/service.ts'
import type { ChatState } from '../events/chat-state.ts'
import type { McpServerSettings } from '../events/config.ts'
import type { McpServerAdmin } from './admin.ts'
import { McpConnections, type McpEndpoint, type McpTool } from './connections.ts'
import { mcpToolName } from './names.ts'
import { mcpServerOffered, mcpToolAllowed } from './rules.ts'

/** An MCP tool's input schema as a provider takes it: an object schema, without `$schema`. */
export function inputSchemaOf(tool: McpTool): Record<string, unknown> {
  const { $schema: _ignored, ...schema } = (tool.inputSchema ?? {}) as Record<string, unknown>
  return { ...schema, type: 'object', properties: schema.properties ?? {} }
}

/**
 * Whether an MCP tool may destroy things, as its server declares it. The MCP spec's defaults:
 * a tool is not read-only and is destructive unless its annotations say otherwise.
 */
export function mcpToolDestructive(tool: McpTool): boolean {
  return tool.annotations?.readOnlyHint !== true && tool.annotations?.destructiveHint !== false
}

export function describeMcpTool(tool: McpTool, where: string): string {
  const text = tool.description?.trim() || tool.annotations?.title || tool.title || tool.name
  return `${text}\n\n(${where}, tool ${tool.name})`
}

export class AdminMcpTools implements ToolSource {
  readonly connections: McpConnections

  constructor(
    private readonly config: ConfigService,
    private readonly admin: McpServerAdmin,
    opts: { log?(line: string): void; connections?: McpConnections } = {},
  ) {
    this.connections = opts.connections ?? new McpConnections({ log: opts.log })
  }

  endpointOf(server: McpServerSettings): McpEndpoint {
    return {
      id: server.serverId,
      key: JSON.stringify([server.url, server.transport, server.auth]),
      label: `MCP server ${server.serverId}`,
      transport: async () => {
        const requestInit = { headers: await this.admin.headersFor(server) }
        const url = new URL(server.url)
        return server.transport === 'sse' ? new SSEClientTransport(url, { requestInit }) : new StreamableHTTPClientTransport(url, { requestInit })
      },
    }
  }

  async tools(chat: ChatState): Promise<Tool[]> {
    try {
      return await this.#tools(chat)
    } catch {
      return [] // a source never fails the step
    }
  }

  async #tools(chat: ChatState): Promise<Tool[]> {
    const servers = (await this.config.current()).mcpServers
    void this.connections.retain(new Set(Object.keys(servers)))
    const offered = Object.values(servers).filter((s) => mcpServerOffered(s, chat))
    if (offered.length === 0) return []
    // Listing is cached per server; a server that is down answers null at once and is left out.
    const lists = await Promise.all(offered.map((s) => this.connections.tools(this.endpointOf(s))))
    const tools: Tool[] = []
    const names = new Set<string>()
    offered.forEach((server, i) => {
      for (const t of lists[i] ?? []) {
        if (!mcpToolAllowed(server, t.name)) continue
        const name = mcpToolName(server.serverId, t.name)
        if (names.has(name)) continue
        names.add(name)
        tools.push({
          name,
          description: describeMcpTool(t, `MCP server ${server.serverId}`),
          inputSchema: inputSchemaOf(t),
          destructive: mcpToolDestructive(t),
          // The settings may change between listing and the call: call with the current ones.
          run: async (args, ctx) => {
            const current = (await this.config.current()).mcpServers[server.serverId]
            if (!current) return { content: `MCP server ${server.serverId} was removed by an admin.`, isError: true }
            return this.connections.call(this.endpointOf(current), t.name, args, ctx.signal)
          },
        })
      }
    })
    return tools
  }

  /** Why the server's tools are not offered now, if listing it failed last time. */
  lastError(serverId: string): string | null {
    return this.connections.failureOf(serverId)
  }

  close(): Promise<void> {
    return this.connections.close()
  }
}
