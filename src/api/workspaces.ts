/**
 * GraphQL resolvers for templates and workspaces. A workspace belongs to one user: a member sees
 * only their own (auditors read all, admins do everything), and a foreign one answers exactly
 * like a missing one. Admins create and change templates.
 */
import { CommandError, invalidInput } from '../../commands/errors.ts'
import type { TemplateParameter, TemplateSettings } from '../events/template.ts'
import { requireMembership, requirePrincipal, type Principal } from '../identity/permissions.ts'
import type { BuildOutcome, TemplateRow, WorkspaceRow, WorkspaceService } from '../workspaces/service.ts'
import type { ApiContext } from './context.ts'

type Resolver<A> = (root: unknown, args: A, ctx: ApiContext) => Promise<unknown>

interface TemplateInput {
  name: string
  description: string
  parameters?: { name: string; description?: string | null; type: string; default?: unknown; options?: string[] | null }[] | null
  provisioner: { kind: string; create?: string | null; start?: string | null; stop?: string | null; delete?: string | null }
  allowedRoles?: string[] | null
}

const actorOf = (p: Principal) => {
  requireMembership(p)
  return { userId: p.userId, role: p.role, organizationId: p.organizationId }
}
const notFound = () => new CommandError('NOT_FOUND', 'workspace not found')

function templateView(t: TemplateRow) {
  return {
    ...t,
    parameters: t.parameters.map((p) => ({ ...p, type: p.type.toUpperCase(), default: p.default ?? null, options: p.options ?? null })),
  }
}

function workspaceView(w: WorkspaceRow) {
  return { ...w, status: w.status.toUpperCase() }
}

function settingsFrom(input: TemplateInput): TemplateSettings {
  const kind = input.provisioner.kind.toLowerCase()
  const provisioner =
    kind === 'local'
      ? ({ kind: 'local' } as const)
      : kind === 'exec'
        ? ({
            kind: 'exec',
            create: input.provisioner.create ?? '',
            start: input.provisioner.start ?? '',
            stop: input.provisioner.stop ?? '',
            delete: input.provisioner.delete ?? '',
          } as const)
        : null
  if (!provisioner) throw invalidInput(`provisioner kind must be local or exec; got ${input.provisioner.kind}`)
  const parameters: TemplateParameter[] = (input.parameters ?? []).map((p) => ({
    name: p.name,
    description: p.description ?? '',
    type: p.type.toLowerCase() as TemplateParameter['type'],
    ...(p.default !== undefined && p.default !== null ? { default: p.default as TemplateParameter['default'] } : {}),
    ...(p.options ? { options: p.options } : {}),
  }))
  return {
    name: input.name,
    description: input.description,
    parameters,
    provisioner,
    allowedRoles: input.allowedRoles?.length ? input.allowedRoles.map((r) => r.toLowerCase()) : 'everyone',
  }
}

/** Builds run in the background; their failures land in the log and the read model, not here. */
const background = (build: Promise<BuildOutcome>) => void build.catch(() => {})

export function workspaceApiResolvers(service: WorkspaceService) {
  const actor = (ctx: ApiContext) => actorOf(requirePrincipal(ctx.principal))
  const reread = async (ctx: ApiContext, id: string) => {
    const w = await service.getWorkspace(actor(ctx), id)
    if (!w) throw notFound()
    return workspaceView(w)
  }

  const Query: Record<string, Resolver<any>> = {
    async templates(_root, _args, ctx) {
      return (await service.listTemplates(actor(ctx), { usableOnly: false })).map(templateView)
    },
    async template(_root, args: { id: string }, ctx) {
      const t = await service.getTemplate(actor(ctx), args.id)
      if (!t) throw new CommandError('NOT_FOUND', 'template not found')
      return templateView(t)
    },
    async workspaces(_root, _args, ctx) {
      return (await service.listWorkspaces(actor(ctx))).map(workspaceView)
    },
    async workspace(_root, args: { id: string }, ctx) {
      return reread(ctx, args.id)
    },
  }

  const Mutation: Record<string, Resolver<any>> = {
    async createTemplate(_root, args: { input: TemplateInput }, ctx) {
      return templateView(await service.createTemplate(actor(ctx), settingsFrom(args.input)))
    },
    async updateTemplate(_root, args: { id: string; input: TemplateInput }, ctx) {
      const settings = settingsFrom(args.input)
      // Parameters left out of the input stay as they are (a form that does not edit them keeps them).
      if (args.input.parameters == null) settings.parameters = (await service.getTemplate(actor(ctx), args.id))?.parameters ?? []
      return templateView(await service.updateTemplate(actor(ctx), args.id, settings))
    },
    async archiveTemplate(_root, args: { id: string }, ctx) {
      await service.archiveTemplate(actor(ctx), args.id)
      return true
    },
    async createWorkspace(_root, args: { input: { templateId: string; name?: string | null; parameters?: Record<string, unknown> | null } }, ctx) {
      const created = await service.createWorkspace(actor(ctx), args.input)
      background(created.build)
      return reread(ctx, created.workspace.id)
    },
    async startWorkspace(_root, args: { id: string }, ctx) {
      background((await service.startWorkspace(actor(ctx), args.id)).build)
      return reread(ctx, args.id)
    },
    async stopWorkspace(_root, args: { id: string }, ctx) {
      const { build } = await service.stopWorkspace(actor(ctx), args.id)
      await build
      return reread(ctx, args.id)
    },
    async deleteWorkspace(_root, args: { id: string }, ctx) {
      const w = await reread(ctx, args.id)
      const { build } = await service.deleteWorkspace(actor(ctx), args.id)
      const outcome = await build
      return { ...w, status: outcome.ok ? 'DELETED' : 'FAILED', lastBuildLog: outcome.log, lastError: outcome.error ?? null }
    },
  }

  const Workspace = {
    async template(w: WorkspaceRow, _args: unknown, ctx: ApiContext) {
      const t = await service.getTemplate(actor(ctx), w.templateId)
      return t ? templateView(t) : null
    },
    async agents(w: WorkspaceRow) {
      return (await service.agentsOf(w.id)).map((a) => ({ ...a, authKind: a.authKind.toUpperCase().replace(/-/g, '_') }))
    },
  }

  const Subscription = {
    workspaceBuildLog: {
      async subscribe(_root: unknown, args: { workspaceId: string }, ctx: ApiContext) {
        const w = await service.getWorkspace(actor(ctx), args.workspaceId)
        if (!w) throw notFound()
        return buildLogLines(service, w)
      },
    },
  }

  return { Query, Mutation, Subscription, Workspace }
}

type BuildLogItem = { workspaceId: string; line: string | null; done: boolean; ok: boolean | null; error: string | null }

/** Live lines of the running build, then one `done` item; a workspace with no build running ends at once with its last log. */
async function* buildLogLines(service: WorkspaceService, w: WorkspaceRow): AsyncGenerator<BuildLogItem> {
  const queue: BuildLogItem[] = []
  let wake: (() => void) | null = null
  const push = (item: BuildLogItem) => {
    queue.push(item)
    wake?.()
  }
  const onLine = (line: string) => push({ workspaceId: w.id, line, done: false, ok: null, error: null })
  const onEnd = (o: BuildOutcome) => push({ workspaceId: w.id, line: null, done: true, ok: o.ok, error: o.error ?? null })
  service.buildLogs.on(w.id, onLine)
  service.buildLogs.on(`${w.id}:end`, onEnd)
  try {
    if (w.status !== 'building') {
      for (const line of w.lastBuildLog ? w.lastBuildLog.split('\n') : []) yield { workspaceId: w.id, line, done: false, ok: null, error: null }
      yield { workspaceId: w.id, line: null, done: true, ok: w.status !== 'failed', error: w.lastError }
      return
    }
    for (;;) {
      while (queue.length) {
        const item = queue.shift()!
        yield item
        if (item.done) return
      }
      await new Promise<void>((resolve) => (wake = resolve))
      wake = null
    }
  } finally {
    service.buildLogs.off(w.id, onLine)
    service.buildLogs.off(`${w.id}:end`, onEnd)
  }
}
