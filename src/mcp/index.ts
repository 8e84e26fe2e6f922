// MCP in the control plane: admin servers (settings on the config stream, one client each per
// process) and workspace `.mcp.json` servers (run by the daemon), both as tool sources of the runner.
import type { ToolRegistry } from '../agent/tools/registry.ts'
import type { SecretStore } from '../config/secrets.ts'
import type { ConfigService } from '../config/service.ts'
import type { WorkspaceTunnels } from '../workspaces/tunnel.ts'
import { McpServerAdmin } from './admin.ts'
import { AdminMcpTools } from './admin-tools.ts'
import { WorkspaceMcpTools } from './workspace-tools.ts'

export interface McpTools {
  admin: McpServerAdmin
  adminTools: AdminMcpTools
  workspaceTools: WorkspaceMcpTools
  lastError(serverId: string): string | null
  /** Closes every client connection of this process. */
  close(): Promise<void>
}

export function registerMcpTools(
  ctx: { tools: Pick<ToolRegistry, 'addSource'> },
  s: { config: ConfigService; secrets: SecretStore; tunnels: Pick<WorkspaceTunnels, 'isConnected' | 'requestJson'>; log: (line: string) => void },
): McpTools {
  const admin = new McpServerAdmin(s.config, s.secrets)
  const adminTools = new AdminMcpTools(s.config, admin, { log: s.log })
  const workspaceTools = new WorkspaceMcpTools(s.tunnels, s.log)
  ctx.tools.addSource(adminTools).addSource(workspaceTools)
  return {
    admin,
    adminTools,
    workspaceTools,
    lastError: (id) => adminTools.lastError(id),
    close: () => adminTools.close(),
  }
}
