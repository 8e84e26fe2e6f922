import type { Projection } from '../src/projections/types.ts'
import {
  TEMPLATE_EVENT_TYPES,
  templateIdOfStream,
  upcast,
  WORKSPACE_EVENT_TYPES,
  workspaceIdOfStream,
  type Stored,
  type TemplateEvent,
  type WorkspaceEvent,
} from '../src/events/index.ts'

/** `templates` (with a popularity counter) and `workspaces`, from the template-<id> and workspace-<id> streams. */
export const workspacesProjection: Projection = {
  name: 'workspaces',
  eventTypes: [...TEMPLATE_EVENT_TYPES, ...WORKSPACE_EVENT_TYPES],
  tables: ['templates', 'workspaces'],
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
        await set(`status = 'building', transition = $3, last_build_log = '', last_error = null`, [event.data.transition])
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
        return
      case 'WorkspaceAgentConnected':
        await set(`agent_connected = true, agent = $3::jsonb`, [JSON.stringify(event.data)])
        return
      case 'WorkspaceAgentDisconnected':
        await set(`agent_connected = false`)
        return
    }
  },
}
