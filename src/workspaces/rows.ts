// Rows of the `workspaces` projection's tables as the service hands them out.
import type { AgentAuthKind, ProvisionerSpec, TemplateParameter, TemplateParameterValue } from '../events/index.ts'

export interface TemplateRow {
  id: string
  organizationId: string
  name: string
  description: string
  parameters: TemplateParameter[]
  provisioner: ProvisionerSpec
  allowedRoles: string[] | 'everyone'
  archived: boolean
  workspaceCount: number
  createdAt: Date
  updatedAt: Date
}

export interface WorkspaceRow {
  id: string
  organizationId: string
  ownerId: string
  templateId: string
  name: string
  parameters: Record<string, TemplateParameterValue>
  status: string
  transition: string | null
  agentConnected: boolean
  agent: Record<string, unknown> | null
  lastBuildLog: string
  lastError: string | null
  createdAt: Date
  updatedAt: Date
}

/** An agent of the workspace's latest build, with its connection. */
export interface WorkspaceAgentRow {
  name: string
  authKind: AgentAuthKind
  instanceId: string | null
  parent: string | null
  connected: boolean
}

/** jsonb comes back parsed on both backends; a JSON string value ("everyone") stays a string. */
const json = <T>(v: unknown): T => v as T

export function templateRow(r: Record<string, unknown>): TemplateRow {
  return {
    id: r.id as string,
    organizationId: r.organization_id as string,
    name: r.name as string,
    description: r.description as string,
    parameters: json(r.parameters),
    provisioner: json(r.provisioner),
    allowedRoles: json(r.allowed_roles),
    archived: r.archived as boolean,
    workspaceCount: Number(r.workspace_count),
    createdAt: new Date(r.created_at as string),
    updatedAt: new Date(r.updated_at as string),
  }
}

export function workspaceRow(r: Record<string, unknown>): WorkspaceRow {
  return {
    id: r.id as string,
    organizationId: r.organization_id as string,
    ownerId: r.owner_id as string,
    templateId: r.template_id as string,
    name: r.name as string,
    parameters: json(r.parameters),
    status: r.status as string,
    transition: (r.transition as string | null) ?? null,
    agentConnected: r.agent_connected as boolean,
    agent: r.agent ? json(r.agent) : null,
    lastBuildLog: r.last_build_log as string,
    lastError: (r.last_error as string | null) ?? null,
    createdAt: new Date(r.created_at as string),
    updatedAt: new Date(r.updated_at as string),
  }
}
