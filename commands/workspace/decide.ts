import type { TemplateParameterValue } from '../../src/events/template.ts'
import { MAIN_AGENT, type WorkspaceAgentInfo, type WorkspaceAgentSpec, type WorkspaceEvent } from '../../src/events/workspace.ts'
import { agentListProblem, DEFAULT_AGENTS } from './agents.ts'
import { CommandError } from '../errors.ts'
import type { Decider } from '../decider.ts'

export type BuildTransition = 'create' | 'start' | 'stop' | 'delete'

export type WorkspaceCommand =
  | {
      type: 'CreateWorkspace'
      workspaceId: string
      ownerId: string
      organizationId: string
      templateId: string
      name: string
      parameters: Record<string, TemplateParameterValue>
    }
  | { type: 'BeginBuild'; buildId: string; transition: BuildTransition }
  /** `agents`: what a successful create/start build yields (default: one token agent named main). */
  | { type: 'FinishBuild'; buildId: string; ok: boolean; log: string; error?: string; agents?: WorkspaceAgentSpec[] }
  | { type: 'RecordAgentConnected'; agentName: string; agent: WorkspaceAgentInfo }
  | { type: 'RecordAgentDisconnected'; agentName: string }

/**
 * `pending`: created, never built. `building`: a transition runs. `started`/`stopped`: the last build
 * of that kind succeeded. `failed`: the last build failed. `deleted` is final.
 */
export type WorkspaceStatus = 'pending' | 'building' | 'started' | 'stopped' | 'failed' | 'deleted'

export interface WorkspaceState {
  exists: boolean
  workspaceId: string
  ownerId: string
  organizationId: string
  templateId: string
  name: string
  parameters: Record<string, TemplateParameterValue>
  status: WorkspaceStatus
  build: { buildId: string; transition: BuildTransition } | null
  agentConnected: boolean
  /** Names of the agents whose daemons are connected now. */
  connectedAgents: string[]
}

export const initialWorkspaceState = (): WorkspaceState => ({
  exists: false,
  workspaceId: '',
  ownerId: '',
  organizationId: '',
  templateId: '',
  name: '',
  parameters: {},
  status: 'pending',
  build: null,
  agentConnected: false,
  connectedAgents: [],
})

const notFound = () => new CommandError('NOT_FOUND', 'workspace not found')

export function decideWorkspace(cmd: WorkspaceCommand, w: WorkspaceState): WorkspaceEvent[] {
  if (cmd.type === 'CreateWorkspace') {
    if (w.exists) throw new CommandError('ALREADY_EXISTS', `workspace ${cmd.workspaceId} already exists`)
    const { type: _t, ...data } = cmd
    return [{ type: 'WorkspaceCreated', data }]
  }
  if (!w.exists || w.status === 'deleted') throw notFound()
  switch (cmd.type) {
    case 'BeginBuild':
      if (w.build) throw new CommandError('CONFLICT', `workspace ${w.name} is already running a ${w.build.transition} build; wait for it`)
      if (cmd.transition === 'start' && w.status === 'started') return []
      if (cmd.transition === 'stop' && (w.status === 'stopped' || w.status === 'pending')) return []
      return [{ type: 'WorkspaceBuildStarted', data: { buildId: cmd.buildId, transition: cmd.transition } }]
    case 'FinishBuild': {
      if (w.build?.buildId !== cmd.buildId) return []
      if (!cmd.ok) return [{ type: 'WorkspaceBuildFailed', data: { buildId: cmd.buildId, log: cmd.log, error: cmd.error ?? 'build failed' } }]
      const succeeded: WorkspaceEvent = { type: 'WorkspaceBuildSucceeded', data: { buildId: cmd.buildId, log: cmd.log } }
      if (w.build.transition === 'stop') return [succeeded, { type: 'WorkspaceStopped', data: {} }]
      if (w.build.transition === 'delete') return [succeeded, { type: 'WorkspaceDeleted', data: {} }]
      const agents = cmd.agents ?? DEFAULT_AGENTS
      const problem = agentListProblem(agents)
      if (problem) throw new CommandError('INVALID_INPUT', `the build's agents are invalid: ${problem}`)
      return [succeeded, { type: 'WorkspaceAgentsDeclared', data: { buildId: cmd.buildId, agents } }, { type: 'WorkspaceStarted', data: {} }]
    }
    case 'RecordAgentConnected':
      return [{ type: 'WorkspaceAgentConnected', data: { ...cmd.agent, agentName: cmd.agentName } }]
    case 'RecordAgentDisconnected':
      return w.connectedAgents.includes(cmd.agentName) ? [{ type: 'WorkspaceAgentDisconnected', data: { agentName: cmd.agentName } }] : []
  }
}

export function evolveWorkspace(w: WorkspaceState, e: WorkspaceEvent): WorkspaceState {
  switch (e.type) {
    case 'WorkspaceCreated': {
      const d = e.data
      return { ...w, exists: true, workspaceId: d.workspaceId, ownerId: d.ownerId, organizationId: d.organizationId, templateId: d.templateId, name: d.name, parameters: d.parameters }
    }
    case 'WorkspaceBuildStarted':
      return { ...w, status: 'building', build: { buildId: e.data.buildId, transition: e.data.transition } }
    case 'WorkspaceBuildSucceeded':
    case 'WorkspaceAgentsDeclared':
      return w
    case 'WorkspaceBuildFailed':
      return { ...w, status: 'failed', build: null }
    case 'WorkspaceStarted':
      return { ...w, status: 'started', build: null }
    case 'WorkspaceStopped':
      return { ...w, status: 'stopped', build: null }
    case 'WorkspaceDeleted':
      return { ...w, status: 'deleted', build: null }
    case 'WorkspaceAgentConnected': {
      const name = e.data.agentName ?? MAIN_AGENT
      const connectedAgents = w.connectedAgents.includes(name) ? w.connectedAgents : [...w.connectedAgents, name]
      return { ...w, agentConnected: true, connectedAgents }
    }
    case 'WorkspaceAgentDisconnected': {
      const name = e.data.agentName ?? MAIN_AGENT
      const connectedAgents = w.connectedAgents.filter((n) => n !== name)
      return { ...w, agentConnected: connectedAgents.length > 0, connectedAgents }
    }
  }
}

export const workspaceDecider: Decider<WorkspaceCommand, WorkspaceState, WorkspaceEvent> = {
  decide: decideWorkspace,
  evolve: evolveWorkspace,
  initialState: initialWorkspaceState,
}
