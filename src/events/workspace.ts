/** Events of a `workspace-<uuid>` stream. Agent tokens never appear here (only in a table, hashed). */
import type { TemplateParameterValue } from './template.ts'

export interface WorkspaceAgentInfo {
  version: string
  os: string
  arch: string
  hostname: string
  workdir: string
}

/** How a workspace agent (its daemon) proves who it is before it gets a session token. */
export type AgentAuthKind = 'token' | 'aws-instance-identity' | 'azure-instance-identity' | 'google-instance-identity'
export const AGENT_AUTH_KINDS: readonly AgentAuthKind[] = ['token', 'aws-instance-identity', 'azure-instance-identity', 'google-instance-identity']
/** The agent a workspace without a manifest has, and the default target of the agent's tools. */
export const MAIN_AGENT = 'main'

/** One agent a build yields. A sub-agent (with a parent) never authenticates by instance identity. */
export interface WorkspaceAgentSpec {
  name: string
  authKind: AgentAuthKind
  /** The cloud instance it is bound to; null for `token` agents. */
  instanceId: string | null
  /** The root agent it belongs to; null for a root agent. */
  parent: string | null
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
  /** After a create or start build succeeds: the agents of that build (the workspace's latest). */
  | { type: 'WorkspaceAgentsDeclared'; data: { buildId: string; agents: WorkspaceAgentSpec[] } }
  /** `agentName` absent (events before several agents existed): the `main` agent. */
  | { type: 'WorkspaceAgentConnected'; data: WorkspaceAgentInfo & { agentName?: string } }
  | { type: 'WorkspaceAgentDisconnected'; data: { agentName?: string } }

export type WorkspaceEventType = WorkspaceEvent['type']
export const WORKSPACE_EVENT_TYPES = [
  'WorkspaceCreated',
  'WorkspaceBuildStarted',
  'WorkspaceBuildSucceeded',
  'WorkspaceBuildFailed',
  'WorkspaceStarted',
  'WorkspaceStopped',
  'WorkspaceDeleted',
  'WorkspaceAgentsDeclared',
  'WorkspaceAgentConnected',
  'WorkspaceAgentDisconnected',
] as const satisfies readonly WorkspaceEventType[]

export const workspaceStream = (workspaceId: string) => `workspace-${workspaceId}`
export const workspaceIdOfStream = (stream: string) => stream.slice('workspace-'.length)
