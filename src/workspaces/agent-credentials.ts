// Workspace agent credentials: one session token per agent (stored as a SHA-256 hash), and the
// selection of the agent a verified instance identity stands for.
import { createHash, randomBytes } from 'node:crypto'
import type { Database } from '../db/database.ts'
import type { AgentAuthKind } from '../events/workspace.ts'

export const hashAgentToken = (token: string) => createHash('sha256').update(token).digest('hex')

export type AgentSelection =
  | { ok: true; workspaceId: string; agentName: string }
  | { ok: false; status: 401 | 404 | 409; message: string; agentNames?: string[] }

export class AgentCredentials {
  constructor(private readonly db: Database) {}

  async authenticate(token: string): Promise<{ workspaceId: string; agentName: string } | null> {
    const rows = await this.db.query<{ workspace_id: string; agent_name: string }>(
      `select workspace_id, agent_name from workspace_agent_tokens where token_hash = $1`,
      [hashAgentToken(token)],
    )
    return rows[0] ? { workspaceId: rows[0].workspace_id, agentName: rows[0].agent_name } : null
  }

  /** One live token per agent: issuing a new one makes the old one useless. */
  async issue(workspaceId: string, agentName: string): Promise<string> {
    const token = `cairn_agent_${randomBytes(32).toString('base64url')}`
    await this.db.query(
      `insert into workspace_agent_tokens (token_hash, workspace_id, agent_name) values ($1, $2, $3)
       on conflict (workspace_id, agent_name) do update set token_hash = excluded.token_hash, created_at = now()`,
      [hashAgentToken(token), workspaceId, agentName],
    )
    return token
  }

  /** A new build: every agent must authenticate again. */
  async revokeAll(workspaceId: string): Promise<void> {
    await this.db.query(`delete from workspace_agent_tokens where workspace_id = $1`, [workspaceId])
  }

  /**
   * The root agent a verified instance identity stands for. Only the agents of each workspace's
   * latest build count, and sub-agents never do. `agentName` (trimmed; blank means absent) picks
   * one of several agents sharing the instance; without it, exactly one must match.
   */
  async select(authKind: Exclude<AgentAuthKind, 'token'>, instanceId: string, agentName?: string | null): Promise<AgentSelection> {
    const rows = await this.db.query<{ workspace_id: string; name: string }>(
      `select a.workspace_id, a.name
         from workspace_agents a
         join workspaces w on w.id = a.workspace_id and w.latest_build_id = a.build_id
        where a.instance_id = $1 and a.auth_kind = $2 and a.parent_name is null and w.status <> 'deleted'
        order by a.name, a.workspace_id`,
      [instanceId, authKind],
    )
    const name = agentName?.trim() || null
    if (rows.length === 0) return { ok: false, status: 401, message: `unknown instance ${instanceId}: no workspace's latest build declares an agent with ${authKind} on it` }
    if (name) {
      const named = rows.filter((r) => r.name === name)
      if (named.length === 0) return { ok: false, status: 404, message: `no agent named ${JSON.stringify(name)} on instance ${instanceId}` }
      if (named.length > 1) return { ok: false, status: 409, message: `several workspaces declare an agent named ${JSON.stringify(name)} on instance ${instanceId}; an admin must delete the stale workspace` }
      return { ok: true, workspaceId: named[0]!.workspace_id, agentName: name }
    }
    if (rows.length > 1) {
      const agentNames = [...new Set(rows.map((r) => r.name))].sort()
      return { ok: false, status: 409, message: `several agents share instance ${instanceId}; set CAIRN_AGENT_NAME to one of: ${agentNames.join(', ')}`, agentNames }
    }
    return { ok: true, workspaceId: rows[0]!.workspace_id, agentName: rows[0]!.name }
  }
}
