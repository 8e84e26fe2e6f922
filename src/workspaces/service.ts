// Templates and workspaces: commands through their deciders, reads from the `workspaces`
// projection's tables, builds through a provisioner, agent credentials (agent-credentials.ts) for the tunnel.
import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { existsSync } from 'node:fs'
import { templateDecider, resolveParameters, type TemplateCommand } from '../../commands/template/decide.ts'
import { workspaceDecider, type BuildTransition, type WorkspaceCommand } from '../../commands/workspace/decide.ts'
import { handleCommand } from '../../commands/handler.ts'
import { CommandError } from '../../commands/errors.ts'
import type { Database } from '../db/database.ts'
import type { OrgRoles } from '../events/user.ts'
import { baseRole } from '../identity/users.ts'
import type { EventMetadata, EventStore } from '../eventstore/types.ts'
import { AgentCredentials, type AgentSelection } from './agent-credentials.ts'
import { parseAgentManifest } from './agent-manifest.ts'
import {
  DEFAULT_ORGANIZATION_ID,
  MAIN_AGENT,
  type AgentAuthKind,
  type WorkspaceAgentSpec,
  templateStream,
  workspaceStream,
  type ProvisionerSpec,
  type Role,
  type TemplateSettings,
} from '../events/index.ts'
import type { ProjectionEngine } from '../projections/types.ts'
import { ExecProvisioner } from './provisioners/exec.ts'
import { LocalProvisioner } from './provisioners/local.ts'
import type { Provisioner, ProvisionResult } from './provisioners/types.ts'
import { templateRow, workspaceRow, type TemplateRow, type WorkspaceAgentRow, type WorkspaceRow } from './rows.ts'
import { WorkspaceTunnels, type DaemonHello } from './tunnel.ts'

export type { TemplateRow, WorkspaceAgentRow, WorkspaceRow } from './rows.ts'

type Log = (line: string) => void

/** Who acts: a user (through the API or an agent acting for them). */
export interface Actor {
  userId: string
  /** Their role in `organizationId`; null when they are not a member of it (every rule refuses). */
  role: Role | null
  organizationId: string
}

export interface BuildOutcome {
  ok: boolean
  log: string
  error?: string
}

export const WORKSPACE_NOT_FOUND = 'workspace not found'
const workspaceNotFound = (id?: string) => new CommandError('NOT_FOUND', id ? `workspace ${id} not found` : WORKSPACE_NOT_FOUND)
const templateNotFound = (id?: string) => new CommandError('NOT_FOUND', id ? `template ${id} not found` : 'template not found')


/** A member sees only their own workspaces; auditors read all of the organization; admins do everything. */
export function canReadWorkspace(a: Actor, w: { ownerId: string; organizationId: string }): boolean {
  if (a.organizationId !== w.organizationId || !a.role) return false
  return a.role === 'admin' || a.role === 'auditor' || w.ownerId === a.userId
}
export function canChangeWorkspace(a: Actor, w: { ownerId: string; organizationId: string }): boolean {
  if (a.organizationId !== w.organizationId || !a.role) return false
  return a.role === 'admin' || w.ownerId === a.userId
}
export function canUseTemplate(a: Actor, t: { allowedRoles: string[] | 'everyone'; organizationId: string; archived: boolean }): boolean {
  if (t.archived || a.organizationId !== t.organizationId) return false
  if (!a.role || a.role === 'auditor') return false
  return a.role === 'admin' || t.allowedRoles === 'everyone' || t.allowedRoles.includes(a.role)
}

export const LOCAL_TEMPLATE: TemplateSettings = {
  name: 'local',
  description:
    'A folder on the Cairn server itself, with the tools installed there. Good for quick work that needs no special tooling. Starts in a second.',
  parameters: [],
  provisioner: { kind: 'local' },
  allowedRoles: 'everyone',
}

export class WorkspaceService {
  readonly tunnels: WorkspaceTunnels
  readonly local: LocalProvisioner
  readonly exec = new ExecProvisioner()
  /** Live build log lines per workspace, for the `workspaceBuildLog` subscription. */
  readonly buildLogs = new EventEmitter()
  readonly credentials: AgentCredentials
  #controlPlaneUrl: string | null = null
  readonly #builds = new Map<string, Promise<BuildOutcome>>()

  constructor(
    private readonly deps: { db: Database; store: EventStore; engine: ProjectionEngine; dataDir: string; log: Log; bwrap?: string | null },
  ) {
    this.buildLogs.setMaxListeners(0)
    this.credentials = new AgentCredentials(deps.db)
    this.local = new LocalProvisioner({ dataDir: deps.dataDir, log: deps.log, bwrap: deps.bwrap })
    this.tunnels = new WorkspaceTunnels({
      authenticate: (token) => this.credentials.authenticate(token),
      onConnect: (id, hello, agentName) => this.#onAgent(id, agentName, hello),
      onDisconnect: (id, agentName) => this.#onAgent(id, agentName, null),
      log: deps.log,
    })
  }

  /** The URL daemons dial; known once the server listens. */
  setControlPlaneUrl(url: string): void {
    this.#controlPlaneUrl = url
  }

  get controlPlaneUrl(): string | null {
    return this.#controlPlaneUrl
  }

  async close(): Promise<void> {
    await this.tunnels.close()
    await this.local.close()
    await this.exec.close()
  }

  // ---- actors

  /** The user as an actor in `organizationId` (default: their home organization). */
  async actorFor(userId: string, organizationId?: string): Promise<Actor | null> {
    const rows = await this.deps.db.query<{ home_organization_id: string; roles: OrgRoles }>(`select home_organization_id, roles from user_org_roles where user_id = $1`, [userId])
    const row = rows[0]
    if (!row) return null
    const org = organizationId ?? row.home_organization_id
    return { userId, role: baseRole(row.roles[org]), organizationId: org }
  }

  // ---- templates

  async createTemplate(actor: Actor, settings: TemplateSettings, metadata: EventMetadata = this.#meta(actor)): Promise<TemplateRow> {
    if (actor.role !== 'admin') throw new CommandError('FORBIDDEN', 'only an admin can create templates')
    const templateId = randomUUID()
    await this.#templateCommand(templateId, { type: 'CreateTemplate', templateId, organizationId: actor.organizationId, createdBy: actor.userId, settings }, metadata)
    return (await this.getTemplate(actor, templateId))!
  }

  async updateTemplate(actor: Actor, templateId: string, settings: TemplateSettings): Promise<TemplateRow> {
    if (actor.role !== 'admin') throw new CommandError('FORBIDDEN', 'only an admin can change templates')
    const existing = await this.getTemplate(actor, templateId)
    if (!existing) throw templateNotFound(templateId)
    await this.#templateCommand(templateId, { type: 'UpdateTemplate', settings }, this.#meta(actor))
    return (await this.getTemplate(actor, templateId))!
  }

  /** Archives a template: no new workspaces from it; existing ones keep running. */
  async archiveTemplate(actor: Actor, templateId: string): Promise<void> {
    if (actor.role !== 'admin') throw new CommandError('FORBIDDEN', 'only an admin can archive templates')
    if (!(await this.getTemplate(actor, templateId))) throw templateNotFound(templateId)
    await this.#templateCommand(templateId, { type: 'ArchiveTemplate' }, this.#meta(actor))
  }

  /** Registers the `local` template when the organization has none, so a new user can work at once. */
  async ensureDefaultTemplate(organizationId = DEFAULT_ORGANIZATION_ID): Promise<void> {
    const rows = await this.deps.db.query(`select 1 from templates where organization_id = $1 limit 1`, [organizationId])
    if (rows.length) return
    const templateId = randomUUID()
    await this.#templateCommand(
      templateId,
      { type: 'CreateTemplate', templateId, organizationId, createdBy: '00000000-0000-4000-8000-000000000000', settings: LOCAL_TEMPLATE },
      { actor: { kind: 'system', id: 'cairn' }, organizationId },
    )
    this.deps.log('registered the default "local" workspace template')
  }

  /** Templates `actor` may use (admins see all), most used first. */
  async listTemplates(actor: Actor, opts: { usableOnly?: boolean } = {}): Promise<TemplateRow[]> {
    const rows = await this.deps.db.query<Record<string, unknown>>(
      `select * from templates where organization_id = $1 and not archived order by workspace_count desc, created_at asc, id`,
      [actor.organizationId],
    )
    const all: TemplateRow[] = rows.map(templateRow)
    return opts.usableOnly === false && (actor.role === 'admin' || actor.role === 'auditor') ? all : all.filter((t) => canUseTemplate(actor, t))
  }

  /** A template the actor may use (or, for admins and auditors, see); null otherwise. */
  async getTemplate(actor: Actor, templateId: string): Promise<TemplateRow | null> {
    if (!isUuid(templateId)) return null
    const rows = await this.deps.db.query<Record<string, unknown>>(`select * from templates where id = $1`, [templateId])
    const t = rows[0] ? templateRow(rows[0]) : null
    if (!t || t.organizationId !== actor.organizationId) return null
    return canUseTemplate(actor, t) || actor.role === 'admin' || actor.role === 'auditor' ? t : null
  }

  // ---- workspaces

  async listWorkspaces(actor: Actor): Promise<WorkspaceRow[]> {
    const all = actor.role === 'admin' || actor.role === 'auditor'
    const rows = await this.deps.db.query<Record<string, unknown>>(
      `select * from workspaces where organization_id = $1 and status <> 'deleted' ${all ? '' : 'and owner_id = $2'} order by created_at desc, id`,
      all ? [actor.organizationId] : [actor.organizationId, actor.userId],
    )
    return rows.map(workspaceRow)
  }

  /** A workspace the actor may read; a foreign one answers exactly like a missing one (null). */
  async getWorkspace(actor: Actor, workspaceId: string): Promise<WorkspaceRow | null> {
    if (!isUuid(workspaceId)) return null
    const rows = await this.deps.db.query<Record<string, unknown>>(`select * from workspaces where id = $1`, [workspaceId])
    const w = rows[0] ? workspaceRow(rows[0]) : null
    return w && w.status !== 'deleted' && canReadWorkspace(actor, w) ? w : null
  }

  /** Creates the workspace and starts its create build; `build` settles when the build ends. */
  async createWorkspace(
    actor: Actor,
    input: { templateId: string; name?: string | null; parameters?: Record<string, unknown> | null },
  ): Promise<{ workspace: WorkspaceRow; build: Promise<BuildOutcome> }> {
    const template = await this.getTemplate(actor, input.templateId)
    if (!template || !canUseTemplate(actor, template)) throw templateNotFound(input.templateId)
    const parameters = resolveParameters(template.parameters, input.parameters ?? {})
    const workspaceId = randomUUID()
    const name = (input.name?.trim() || `${template.name}-${workspaceId.slice(0, 8)}`).slice(0, 100)
    await this.#workspaceCommand(
      workspaceId,
      { type: 'CreateWorkspace', workspaceId, ownerId: actor.userId, organizationId: actor.organizationId, templateId: template.id, name, parameters },
      this.#meta(actor),
    )
    const build = this.#build(actor, workspaceId, 'create')
    return { workspace: (await this.getWorkspace(actor, workspaceId))!, build }
  }

  /** Starts a stopped or failed workspace; a started one is left alone (idempotent). */
  async startWorkspace(actor: Actor, workspaceId: string): Promise<{ workspace: WorkspaceRow; build: Promise<BuildOutcome> }> {
    return this.#transition(actor, workspaceId, 'start')
  }

  async stopWorkspace(actor: Actor, workspaceId: string) {
    return this.#transition(actor, workspaceId, 'stop')
  }

  async deleteWorkspace(actor: Actor, workspaceId: string) {
    return this.#transition(actor, workspaceId, 'delete')
  }

  async #transition(actor: Actor, workspaceId: string, transition: BuildTransition) {
    const w = await this.getWorkspace(actor, workspaceId)
    if (!w || !canChangeWorkspace(actor, w)) throw workspaceNotFound()
    const running = this.#builds.get(workspaceId)
    if (running) await running
    const build = this.#build(actor, workspaceId, transition)
    return { workspace: w, build }
  }

  /** Runs one build: BuildStarted, the provisioner's steps, BuildSucceeded + the new state or BuildFailed. */
  #build(actor: Actor, workspaceId: string, transition: BuildTransition): Promise<BuildOutcome> {
    const previous = this.#builds.get(workspaceId) ?? Promise.resolve()
    const run = previous.catch(() => {}).then(() => this.#runBuild(actor, workspaceId, transition))
    this.#builds.set(workspaceId, run)
    void run.finally(() => this.#builds.get(workspaceId) === run && this.#builds.delete(workspaceId)).catch(() => {})
    return run
  }

  async #runBuild(actor: Actor, workspaceId: string, transition: BuildTransition): Promise<BuildOutcome> {
    const meta: EventMetadata = { ...this.#meta(actor), actor: { kind: 'system', id: 'provisioner', onBehalfOf: actor.userId } }
    const buildId = randomUUID()
    const begun = await this.#workspaceCommand(workspaceId, { type: 'BeginBuild', buildId, transition }, meta)
    if (begun.events.length === 0) return { ok: true, log: `workspace is already ${transition === 'start' ? 'started' : 'stopped'}` }
    const state = begun.state
    const lines: string[] = []
    const log = (line: string) => {
      lines.push(line)
      this.buildLogs.emit(workspaceId, line)
    }
    let outcome: BuildOutcome
    let agents: WorkspaceAgentSpec[] | undefined
    try {
      const template = await this.#templateById(state.templateId)
      if (!template) throw new Error(`template ${state.templateId} no longer exists`)
      const provisioner = this.#provisionerFor(template.provisioner)
      // Every build ends the previous build's sessions; a started workspace's main agent gets a fresh token.
      await this.credentials.revokeAll(workspaceId)
      const needsToken = transition === 'create' || transition === 'start'
      const agentToken = needsToken ? await this.credentials.issue(workspaceId, MAIN_AGENT) : ''
      const req = { workspaceId, controlPlaneUrl: this.#url(), agentToken, parameters: state.parameters, spec: template.provisioner, log }
      let result: ProvisionResult | void = undefined
      if (transition === 'create') {
        const created = await provisioner.create(req)
        const started = await provisioner.start(req)
        result = parseAgentManifest(started?.lastLine) ? started : created
      } else if (transition === 'start') result = await provisioner.start(req)
      else if (transition === 'stop') await provisioner.stop(req)
      else await provisioner.delete(req)
      const manifest = parseAgentManifest(result?.lastLine)
      if (manifest && 'error' in manifest) throw new Error(manifest.error)
      agents = manifest?.agents
      if (agents) log(`agents: ${agents.map((a) => `${a.parent ? `${a.parent}/` : ''}${a.name} (${a.authKind}${a.instanceId ? ` on ${a.instanceId}` : ''})`).join(', ')}`)
      outcome = { ok: true, log: lines.join('\n') }
    } catch (err) {
      log(`error: ${(err as Error).message}`)
      outcome = { ok: false, log: lines.join('\n'), error: (err as Error).message }
    }
    const finished = await this.#workspaceCommand(workspaceId, { type: 'FinishBuild', buildId, ...outcome, ...(agents ? { agents } : {}) }, meta)
    await this.deps.engine.waitForPosition('workspaces', finished.result!.checkpoint).catch(() => {})
    this.buildLogs.emit(`${workspaceId}:end`, outcome)
    return outcome
  }

  /** Brings back the daemons of local workspaces that were started when the control plane stopped. */
  async resumeStartedWorkspaces(): Promise<void> {
    const rows = await this.deps.db.query<{ id: string; owner_id: string; organization_id: string; provisioner: ProvisionerSpec | string }>(
      `select w.id, w.owner_id, w.organization_id, t.provisioner from workspaces w join templates t on t.id = w.template_id where w.status = 'started'`,
    )
    for (const row of rows) {
      const spec = typeof row.provisioner === 'string' ? (JSON.parse(row.provisioner) as ProvisionerSpec) : row.provisioner
      if (spec.kind !== 'local') continue
      // Another process's workspace (several servers on one database, each with its own data dir): not ours to run.
      if (!existsSync(this.local.folderOf(row.id))) continue
      const token = await this.credentials.issue(row.id, MAIN_AGENT)
      await this.local
        .start({ workspaceId: row.id, controlPlaneUrl: this.#url(), agentToken: token, parameters: {}, spec, log: () => {} })
        .catch((err: unknown) => this.deps.log(`workspace ${row.id}: could not resume: ${(err as Error).message}`))
    }
  }

  // ---- agents and the tunnel

  /** A daemon's token: which workspace and which of its agents it is. */
  authenticate(token: string): Promise<{ workspaceId: string; agentName: string } | null> {
    return this.credentials.authenticate(token)
  }

  /** A verified instance identity becomes a session token for the one agent it selects (see AgentCredentials.select). */
  async exchangeInstanceIdentity(
    authKind: Exclude<AgentAuthKind, 'token'>,
    instanceId: string,
    agentName?: string | null,
  ): Promise<AgentSelection & { token?: string }> {
    const selected = await this.credentials.select(authKind, instanceId, agentName)
    if (!selected.ok) return selected
    return { ...selected, token: await this.credentials.issue(selected.workspaceId, selected.agentName) }
  }

  /** The agents of the workspace's latest build, in manifest order, with their connections. */
  async agentsOf(workspaceId: string): Promise<WorkspaceAgentRow[]> {
    const rows = await this.deps.db.query<{ name: string; auth_kind: AgentAuthKind; instance_id: string | null; parent_name: string | null; connected: boolean | null }>(
      `select a.name, a.auth_kind, a.instance_id, a.parent_name, c.connected
         from workspace_agents a
         join workspaces w on w.id = a.workspace_id and w.latest_build_id = a.build_id
         left join workspace_agent_connections c on c.workspace_id = a.workspace_id and c.name = a.name
        where a.workspace_id = $1
        order by a.position`,
      [workspaceId],
    )
    return rows.map((r) => ({ name: r.name, authKind: r.auth_kind, instanceId: r.instance_id, parent: r.parent_name, connected: r.connected === true }))
  }

  async #onAgent(workspaceId: string, agentName: string, hello: DaemonHello | null): Promise<void> {
    const meta: EventMetadata = { actor: { kind: 'workspace', id: workspaceId } }
    const cmd: WorkspaceCommand = hello
      ? { type: 'RecordAgentConnected', agentName, agent: { version: hello.version, os: hello.os, arch: hello.arch, hostname: hello.hostname, workdir: hello.workdir } }
      : { type: 'RecordAgentDisconnected', agentName }
    await this.#workspaceCommand(workspaceId, cmd, meta).catch((err: unknown) => {
      if (!(err instanceof CommandError && err.code === 'NOT_FOUND')) throw err
    })
  }

  // ---- helpers

  #provisionerFor(spec: ProvisionerSpec): Provisioner {
    return spec.kind === 'local' ? this.local : this.exec
  }

  #url(): string {
    if (!this.#controlPlaneUrl) throw new Error('the control plane URL is not known yet (the server is not listening)')
    return this.#controlPlaneUrl
  }

  async #templateById(templateId: string): Promise<TemplateRow | null> {
    const rows = await this.deps.db.query<Record<string, unknown>>(`select * from templates where id = $1`, [templateId])
    return rows[0] ? templateRow(rows[0]) : null
  }

  #meta(actor: Actor): EventMetadata {
    return { actor: { kind: 'user', id: actor.userId }, organizationId: actor.organizationId }
  }

  async #templateCommand(templateId: string, cmd: TemplateCommand, metadata: EventMetadata) {
    const outcome = await handleCommand(this.deps.store, templateStream(templateId), templateDecider, cmd, { commandId: randomUUID(), metadata })
    if (outcome.result) await this.deps.engine.waitForPosition('workspaces', outcome.result.checkpoint)
    return outcome
  }

  async #workspaceCommand(workspaceId: string, cmd: WorkspaceCommand, metadata: EventMetadata) {
    const outcome = await handleCommand(this.deps.store, workspaceStream(workspaceId), workspaceDecider, cmd, { commandId: randomUUID(), metadata })
    if (outcome.result) await this.deps.engine.waitForPosition('workspaces', outcome.result.checkpoint)
    return outcome
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const isUuid = (s: string) => UUID.test(s)
