/** Events of a `workspace-<uuid>` stream. Agent tokens never appear here (only in a table, hashed). */
import type { TemplateParameterValue } from './template.ts'

export interface WorkspaceAgentInfo {
  version: string
  os: string
  arch: string
  hostname: string
  workdir: string
}

export type WorkspaceEvent =
  | {
      type: 'WorkspaceCreated'
      data: {
        workspaceId: string
        ownerId: string
        organizationId: string
        templateId: string
        name: string
        parameters: Record<string, TemplateParameterValue>
      }
    }
  | { type: 'WorkspaceBuildStarted'; data: { buildId: string; transition: 'create' | 'start' | 'stop' | 'delete' } }
  | { type: 'WorkspaceBuildSucceeded'; data: { buildId: string; log: string } }
  | { type: 'WorkspaceBuildFailed'; data: { buildId: string; log: string; error: string } }
  | { type: 'WorkspaceStarted'; data: Record<string, never> }
  | { type: 'WorkspaceStopped'; data: Record<string, never> }
  | { type: 'WorkspaceDeleted'; data: Record<string, never> }
  | { type: 'WorkspaceAgentConnected'; data: WorkspaceAgentInfo }
  | { type: 'WorkspaceAgentDisconnected'; data: Record<string, never> }

export type WorkspaceEventType = WorkspaceEvent['type']
export const WORKSPACE_EVENT_TYPES = [
  'WorkspaceCreated',
  'WorkspaceBuildStarted',
  'WorkspaceBuildSucceeded',
  'WorkspaceBuildFailed',
  'WorkspaceStarted',
  'WorkspaceStopped',
  'WorkspaceDeleted',
  'WorkspaceAgentConnected',
  'WorkspaceAgentDisconnected',
] as const satisfies readonly WorkspaceEventType[]

export const workspaceStream = (workspaceId: string) => `workspace-${workspaceId}`
export const workspaceIdOfStream = (stream: string) => stream.slice('workspace-'.length)
