import { describe, expect, it } from 'vitest'
import { resolveParameters, templateDecider } from '../../commands/template/decide.ts'
import { workspaceDecider, type WorkspaceCommand } from '../../commands/workspace/decide.ts'
import type { TemplateParameter, WorkspaceEvent } from '../../src/events/index.ts'

const given = (events: WorkspaceEvent[]) => events.reduce(workspaceDecider.evolve, workspaceDecider.initialState())
const when = (events: WorkspaceEvent[], cmd: WorkspaceCommand) => workspaceDecider.decide(cmd, given(events))
const created: WorkspaceEvent = {
  type: 'WorkspaceCreated',
  data: { workspaceId: 'w1', ownerId: 'u1', organizationId: 'o1', templateId: 't1', name: 'w', parameters: {} },
}

describe('workspace decider', () => {
  it('a successful create build declares its agents (one token agent named main by default) and starts the workspace', () => {
    const history: WorkspaceEvent[] = [created, { type: 'WorkspaceBuildStarted', data: { buildId: 'b1', transition: 'create' } }]
    expect(when(history, { type: 'FinishBuild', buildId: 'b1', ok: true, log: 'ok' })).toEqual([
      { type: 'WorkspaceBuildSucceeded', data: { buildId: 'b1', log: 'ok' } },
      { type: 'WorkspaceAgentsDeclared', data: { buildId: 'b1', agents: [{ name: 'main', authKind: 'token', instanceId: null, parent: null }] } },
      { type: 'WorkspaceStarted', data: {} },
    ])
    const agents = [
      { name: 'main', authKind: 'google-instance-identity' as const, instanceId: '123', parent: null },
      { name: 'dev', authKind: 'google-instance-identity' as const, instanceId: '123', parent: null },
    ]
    expect(when(history, { type: 'FinishBuild', buildId: 'b1', ok: true, log: 'ok', agents })[1]).toEqual({ type: 'WorkspaceAgentsDeclared', data: { buildId: 'b1', agents } })
  })

  it('refuses agents that break the rules, and a stop build declares none', () => {
    const history: WorkspaceEvent[] = [created, { type: 'WorkspaceBuildStarted', data: { buildId: 'b1', transition: 'start' } }]
    const twice = [
      { name: 'main', authKind: 'token' as const, instanceId: null, parent: null },
      { name: 'main', authKind: 'token' as const, instanceId: null, parent: null },
    ]
    expect(() => when(history, { type: 'FinishBuild', buildId: 'b1', ok: true, log: 'ok', agents: twice })).toThrow(/used twice/)
    const noInstance = [{ name: 'main', authKind: 'aws-instance-identity' as const, instanceId: null, parent: null }]
    expect(() => when(history, { type: 'FinishBuild', buildId: 'b1', ok: true, log: 'ok', agents: noInstance })).toThrow(/needs the instance_id/)
    const stopping: WorkspaceEvent[] = [created, { type: 'WorkspaceBuildStarted', data: { buildId: 'b2', transition: 'stop' } }]
    expect(when(stopping, { type: 'FinishBuild', buildId: 'b2', ok: true, log: '' }).map((e) => e.type)).toEqual(['WorkspaceBuildSucceeded', 'WorkspaceStopped'])
  })

  it('tracks connections per agent: one agent leaving keeps the workspace connected while another stays', () => {
    const hello = { version: '1', os: 'linux', arch: 'x64', hostname: 'h', workdir: '/w' }
    const history: WorkspaceEvent[] = [
      created,
      { type: 'WorkspaceAgentConnected', data: { ...hello, agentName: 'main' } },
      { type: 'WorkspaceAgentConnected', data: { ...hello, agentName: 'dev' } },
    ]
    expect(when(history, { type: 'RecordAgentDisconnected', agentName: 'dev' })).toEqual([{ type: 'WorkspaceAgentDisconnected', data: { agentName: 'dev' } }])
    expect(when([...history, { type: 'WorkspaceAgentDisconnected', data: { agentName: 'dev' } }], { type: 'RecordAgentDisconnected', agentName: 'dev' })).toEqual([])
    const afterDev = given([...history, { type: 'WorkspaceAgentDisconnected', data: { agentName: 'dev' } }])
    expect([afterDev.agentConnected, afterDev.connectedAgents]).toEqual([true, ['main']])
    // events from before agents had names stand for main
    expect(when([created, { type: 'WorkspaceAgentConnected', data: hello }], { type: 'RecordAgentDisconnected', agentName: 'main' })).toHaveLength(1)
  })

  it('starting a started workspace decides nothing; a second build while one runs is a conflict', () => {
    expect(when([created, { type: 'WorkspaceStarted', data: {} }], { type: 'BeginBuild', buildId: 'b2', transition: 'start' })).toEqual([])
    expect(() => when([created, { type: 'WorkspaceBuildStarted', data: { buildId: 'b1', transition: 'create' } }], { type: 'BeginBuild', buildId: 'b2', transition: 'stop' })).toThrow(/already running/)
  })

  it('a failed build keeps its log; a deleted workspace is not found', () => {
    const history: WorkspaceEvent[] = [created, { type: 'WorkspaceBuildStarted', data: { buildId: 'b1', transition: 'create' } }]
    expect(when(history, { type: 'FinishBuild', buildId: 'b1', ok: false, log: 'boom', error: 'exit 1' })).toEqual([
      { type: 'WorkspaceBuildFailed', data: { buildId: 'b1', log: 'boom', error: 'exit 1' } },
    ])
    expect(() => when([created, { type: 'WorkspaceDeleted', data: {} }], { type: 'BeginBuild', buildId: 'b', transition: 'start' })).toThrow('workspace not found')
  })
})

describe('template parameters', () => {
  const params: TemplateParameter[] = [
    { name: 'size', description: 'machine size', type: 'enum', options: ['s', 'l'], default: 's' },
    { name: 'cpus', description: 'cpus', type: 'number', default: 2 },
    { name: 'gpu', description: 'gpu', type: 'bool', default: false },
    { name: 'repo', description: 'the repository to clone', type: 'string' },
  ]
  it('fills defaults, converts types and refuses unknown or missing ones', () => {
    expect(resolveParameters(params, { repo: 'x', cpus: '4', gpu: 'true' })).toEqual({ size: 's', cpus: 4, gpu: true, repo: 'x' })
    expect(() => resolveParameters(params, {})).toThrow('parameter "repo" is required: the repository to clone')
    expect(() => resolveParameters(params, { repo: 'x', size: 'xl' })).toThrow('must be one of s, l')
    expect(() => resolveParameters(params, { repo: 'x', colour: 'red' })).toThrow('has no parameter "colour"')
  })
  it('refuses a template whose default does not fit its type', () => {
    const settings = { name: 'bad', description: '', parameters: [{ name: 'n', description: '', type: 'number' as const, default: 'many' }], provisioner: { kind: 'local' as const }, allowedRoles: 'everyone' as const }
    expect(() => templateDecider.decide({ type: 'CreateTemplate', templateId: 't', organizationId: 'o', createdBy: 'u', settings }, templateDecider.initialState())).toThrow('must be a number')
  })
})
