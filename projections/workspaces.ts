import type { Projection } from '../src/projections/types.ts'
import {
  MAIN_AGENT,
  TEMPLATE_EVENT_TYPES,
  templateIdOfStream,
  upcast,
  WORKSPACE_EVENT_TYPES,
  workspaceIdOfStream,
  type Stored,
  type TemplateEvent,
  type WorkspaceEvent,
} from '../src/events/index.ts'

/**
 * `templates` (with a popularity counter), `workspaces`, the agents each build declares
 * (`workspace_agents`) and each agent's connection, from the template-<id> and workspace-<id> streams.
 */
export const workspacesProjection: Projection = {
  name: 'workspaces',
  eventTypes: [...TEMPLATE_EVENT_TYPES, ...WORKSPACE_EVENT_TYPES],
  tables: ['templates', 'workspaces', 'workspace_agents', 'workspace_agent_connections'],
  async handle(tx, stored) {
    const event = upcast(stored) as Stored<TemplateEvent | WorkspaceEvent>
    const at = event.createdAt
    if (event.stream.startsWith('template-')) {
      const id = templateIdOfStream(event.stream)
      switch (event.type) {
        case 'TemplateCreated': {
          const d = event.data
          await tx.query(
            `insert into templates (id, organization_id, name, description, parameters, provisioner, allowed_roles, created_at, updated_at)
             values ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8, $8) on conflict (id) do nothing`,
            [id, d.organizationId, d.name, d.description, JSON.stringify(d.parameters), JSON.stringify(d.provisioner), JSON.stringify(d.allowedRoles), at],
          )
          return
        }
        case 'TemplateUpdated': {
          const d = event.data
          await tx.query(
            `update templates set name = $2, description = $3, parameters = $4::jsonb, provisioner = $5::jsonb, allowed_roles = $6::jsonb, updated_at = $7 where id = $1`,
            [id, d.name, d.description, JSON.stringify(d.parameters), JSON.stringify(d.provisioner), JSON.stringify(d.allowedRoles), at],
          )
          return
        }
        case 'TemplateArchived':
          await tx.query(`update templates set archived = true, updated_at = $2 where id = $1`, [id, at])
          return
      }
      return
    }
    const id = workspaceIdOfStream(event.stream)
    const set = (sql: string, params: unknown[] = []) => tx.query(`update workspaces set ${sql}, updated_at = $2 where id = $1`, [id, at, ...params])
    switch (event.type) {
      case 'WorkspaceCreated': {
        const d = event.data
        await tx.query(
          `insert into workspaces (id, organization_id, owner_id, template_id, name, parameters, status, created_at, updated_at)
           values ($1, $2, $3, $4, $5, $6::jsonb, 'pending', $7, $7) on conflict (id) do nothing`,
          [id, d.organizationId, d.ownerId, d.templateId, d.name, JSON.stringify(d.parameters), at],
        )
        await tx.query(`update templates set workspace_count = workspace_count + 1 where id = $1`, [d.templateId])
        return
      }
      case 'WorkspaceBuildStarted':
        await set(`status = 'building', transition = $3, last_build_log = '', last_error = null, latest_build_id = $4`, [event.data.transition, event.data.buildId])
        return
      case 'WorkspaceAgentsDeclared':
        for (const [position, a] of event.data.agents.entries()) {
          await tx.query(
            `insert into workspace_agents (workspace_id, build_id, name, auth_kind, instance_id, parent_name, position)
             values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing`,
            [id, event.data.buildId, a.name, a.authKind, a.instanceId, a.parent, position],
          )
        }
        return
      case 'WorkspaceBuildSucceeded':
        await set(`last_build_log = $3`, [event.data.log])
        return
      case 'WorkspaceBuildFailed':
        await set(`status = 'failed', transition = null, last_build_log = $3, last_error = $4`, [event.data.log, event.data.error])
        return
      case 'WorkspaceStarted':
        await set(`status = 'started', transition = null`)
        return
      case 'WorkspaceStopped':
        await set(`status = 'stopped', transition = null`)
        return
      case 'WorkspaceDeleted':
        await set(`status = 'deleted', transition = null, agent_connected = false`)
        await tx.query(`update workspace_agent_connections set connected = false where workspace_id = $1`, [id])
        return
      case 'WorkspaceAgentConnected': {
        const { agentName = MAIN_AGENT, ...hello } = event.data
        await tx.query(
          `insert into workspace_agent_connections (workspace_id, name, connected, agent) values ($1, $2, true, $3::jsonb)
           on conflict (workspace_id, name) do update set connected = true, agent = excluded.agent`,
          [id, agentName, JSON.stringify(hello)],
        )
        // `agent` on the workspace stays the main agent's hello (or the first to connect)
        await set(`agent_connected = true, agent = case when $3::text = 'main' or agent is null then $4::jsonb else agent end`, [agentName, JSON.stringify(hello)])
        return
      }
      case 'WorkspaceAgentDisconnected':
        await tx.query(`update workspace_agent_connections set connected = false where workspace_id = $1 and name = $2`, [id, event.data.agentName ?? MAIN_AGENT])
        await set(`agent_connected = exists (select 1 from workspace_agent_connections c where c.workspace_id = $1 and c.connected)`)
        return
    }
  },
}
