// The agent's workspace tools (through the daemon) and platform tools (templates, workspaces).
// Every tool acts as the chat's owner: it sees only that user's workspaces and usable templates.
import { createHash, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { blobPath } from '../attachments/blobs.ts'
import type { Tool, ToolContext, ToolResult } from '../agent/tools/registry.ts'
import type { ChatState } from '../events/chat-state.ts'
import { planFilePath } from '../agent/instructions.ts'
import type { Database } from '../db/database.ts'
import { MAIN_AGENT } from '../events/workspace.ts'
import { WorkspaceNotConnectedError } from './tunnel.ts'
import type { Actor, WorkspaceService } from './service.ts'

const CONNECT_TIMEOUT_MS = 90_000
const RECONNECT_GRACE_MS = 10_000
const MAX_ATTACH_BYTES = 10 * 1024 * 1024

/** A tool failure the model can act on: its message becomes the tool result. */
class ToolFailure extends Error {}

export interface WorkspaceToolServices {
  db: Database
  dataDir: string
  workspaces: WorkspaceService
}

const rootOnly = (chat: { parentChatId: string | null }) => chat.parentChatId === null
/** `explore` sub-agents only read: no writes, no attachments. */
const writes = (chat: ChatState) => chat.agentType !== 'explore'
const rootInPlanMode = (chat: ChatState) => chat.parentChatId === null && chat.planMode

export const MAX_PLAN_BYTES = 32 * 1024

/** A workspace and the one of its agents (daemons) a tool call goes to. */
interface AgentTarget {
  workspaceId: string
  agent: string
}

export function registerWorkspaceTools(ctx: { tools: { register(...t: Tool[]): unknown } }, services: WorkspaceToolServices): void {
  ctx.tools.register(...workspaceTools(services))
}

export function workspaceTools(s: WorkspaceToolServices): Tool[] {
  const ws = s.workspaces

  async function actorOf(ctx: ToolContext): Promise<Actor> {
    const actor = await ws.actorFor(ctx.userId, ctx.organizationId)
    if (!actor) throw new ToolFailure(`the user this chat belongs to (${ctx.userId}) no longer exists`)
    return actor
  }

  // `ctx.chat` is the runner's live view of the chat: a call earlier in this turn may have bound one.
  const boundWorkspaceId = (ctx: ToolContext): string | null => ctx.chat.workspaceId

  /** Parallel calls of one chat that need a workspace wait for the first one's, never make two. */
  const creating = new Map<string, Promise<AgentTarget>>()

  /**
   * The agent a tool call names (its `agent` argument), else `main`, else the workspace's only root agent.
   * A name the latest build does not declare is refused with the names it does.
   */
  async function agentNameFor(workspaceId: string, requested: unknown): Promise<string> {
    const roots = (await ws.agentsOf(workspaceId)).filter((a) => a.parent === null).map((a) => a.name)
    const name = typeof requested === 'string' && requested.trim() ? requested.trim() : null
    if (name) {
      if (roots.length && !roots.includes(name)) throw new ToolFailure(`This workspace has no agent named ${JSON.stringify(name)}; its agents are: ${roots.join(', ')}.`)
      return name
    }
    if (roots.length === 1) return roots[0]!
    if (roots.length > 1 && !roots.includes(MAIN_AGENT))
      throw new ToolFailure(`This workspace has several agents (${roots.join(', ')}); say which one runs this with the agent argument.`)
    return MAIN_AGENT
  }

  /** Waits for the daemon of a created/started workspace, or says why it is not there. */
  async function connected(workspaceId: string, build: Promise<{ ok: boolean; log: string; error?: string }>, signal: AbortSignal, requestedAgent?: unknown): Promise<string> {
    const outcome = await build
    if (!outcome.ok) throw new ToolFailure(`The workspace build failed: ${outcome.error}\nBuild log:\n${outcome.log}`)
    // Without a named agent and no main among several, wait for all of them.
    const roots = (await ws.agentsOf(workspaceId)).filter((a) => a.parent === null).map((a) => a.name)
    const waitFor = requestedAgent === undefined && roots.length > 1 && !roots.includes(MAIN_AGENT) ? roots : [await agentNameFor(workspaceId, requestedAgent)]
    try {
      for (const agent of waitFor) await ws.tunnels.waitForConnection(workspaceId, CONNECT_TIMEOUT_MS, signal, agent)
      return waitFor[0]!
    } catch (err) {
      const agentOutput = ws.local.recentOutput(workspaceId).trim()
      throw new ToolFailure(`${(err as Error).message}\nBuild log:\n${outcome.log}${agentOutput ? `\nWorkspace agent output:\n${agentOutput}` : ''}`)
    }
  }

  /** The chat's workspace (created from the default template and bound the first time one is needed) and the agent the call targets. */
  async function workspaceFor(ctx: ToolContext, requestedAgent?: unknown): Promise<AgentTarget> {
    const pending = creating.get(ctx.chatId)
    if (pending) await pending.catch(() => {})
    const actor = await actorOf(ctx)
    const bound = boundWorkspaceId(ctx)
    if (bound) {
      const w = await ws.getWorkspace(actor, bound)
      if (!w) throw new ToolFailure(`Workspace ${bound} not found. Call create_workspace to make a new one.`)
      const agent = await agentNameFor(w.id, requestedAgent)
      if (ws.tunnels.isConnected(w.id, agent)) return { workspaceId: w.id, agent }
      if (w.status === 'started' || w.status === 'building') {
        // The daemon may be restarting (the local provisioner brings it back): wait briefly, never hang.
        try {
          await ws.tunnels.waitForConnection(w.id, RECONNECT_GRACE_MS, ctx.signal, agent)
          return { workspaceId: w.id, agent }
        } catch {
          // fall through to the message below
        }
      }
      const which = agent === MAIN_AGENT ? '' : `'s agent ${JSON.stringify(agent)}`
      throw new ToolFailure(`Workspace ${w.name} (${w.id})${which} is ${w.status === 'started' ? 'not reachable' : w.status}. Call start_workspace to start it, then retry.`)
    }
    if (creating.has(ctx.chatId)) return workspaceFor(ctx, requestedAgent)
    // Sub-agents work in their parent's workspace and never create one.
    if (ctx.chat.parentChatId !== null) throw new ToolFailure('This sub-agent has no workspace: its parent chat had none when it spawned it. Report that back instead of using workspace tools.')
    const creation = createDefaultWorkspace(ctx, actor, requestedAgent)
    creating.set(ctx.chatId, creation)
    try {
      return await creation
    } finally {
      creating.delete(ctx.chatId)
    }
  }

  async function createDefaultWorkspace(ctx: ToolContext, actor: Actor, requestedAgent?: unknown): Promise<AgentTarget> {
    const [template] = await ws.listTemplates(actor)
    if (!template) throw new ToolFailure('This chat has no workspace and you may use no template to create one. Ask an admin for a workspace template.')
    const created = await ws.createWorkspace(actor, { templateId: template.id })
    await ctx.bindWorkspace(created.workspace.id)
    const agent = await connected(created.workspace.id, created.build, ctx.signal, requestedAgent)
    return { workspaceId: created.workspace.id, agent }
  }

  /** The `agent` argument of the call being run (workspace tools take it; see `tool` below). */
  const requestedAgents = new WeakMap<ToolContext, unknown>()

  const request = async <T>(ctx: ToolContext, req: { method: string; path: string; body?: unknown; timeoutMs?: number }): Promise<T> => {
    const target = await workspaceFor(ctx, requestedAgents.get(ctx))
    return ws.tunnels.requestJson<T>(target.workspaceId, { ...req, agent: target.agent, signal: ctx.signal })
  }

  /** In plan mode a write may only touch the chat's plan file; anything else is refused before the daemon is asked. */
  async function requirePlanFile(ctx: ToolContext, paths: unknown[]): Promise<void> {
    if (!ctx.chat.planMode) return
    const plan = planFilePath(ctx.chatId)
    let workdir: string | null = null
    for (const raw of paths) {
      const p = typeof raw === 'string' ? raw.trim() : ''
      let relative = path.posix.normalize(p)
      if (path.posix.isAbsolute(p)) {
        workdir ??= (await request<{ workdir: string }>(ctx, { method: 'GET', path: '/info' })).workdir
        relative = path.posix.relative(workdir, path.posix.normalize(p))
      }
      if (relative !== plan)
        throw new ToolFailure(
          `Plan mode: you may only write the plan file ${plan}, not ${JSON.stringify(p)}. Explore with read_file and execute, write your plan to ${plan}, then call propose_plan with that path.`,
        )
    }
  }

  async function download(ctx: ToolContext, file: string): Promise<Buffer> {
    const target = await workspaceFor(ctx, requestedAgents.get(ctx))
    const res = await ws.tunnels.request(target.workspaceId, { method: 'GET', path: `/files/download?path=${encodeURIComponent(file)}`, agent: target.agent, signal: ctx.signal })
    if (res.status !== 200) throw new ToolFailure(`could not read ${file}: ${res.body.toString('utf8').slice(0, 500)}`)
    return res.body
  }

  const agentProperty = {
    type: 'string',
    description: "Which of the workspace's agents runs it, when it has several (default: main, or the only one).",
  }
  /** Workspace tools (those that reach a daemon) get an `agent` argument; platform tools do not. */
  const tool = (t: Omit<Tool, 'run' | 'recover'> & { run(args: any, ctx: ToolContext): Promise<string | ToolResult>; recover?: Tool['recover'] }): Tool => ({
    ...t,
    ...(t.availability === rootOnly
      ? {}
      : { inputSchema: { ...t.inputSchema, properties: { ...((t.inputSchema as { properties?: object }).properties ?? {}), agent: agentProperty } } }),
    async run(args, ctx) {
      requestedAgents.set(ctx, (args as { agent?: unknown } | null)?.agent)
      try {
        const out = await t.run(args ?? {}, ctx)
        return typeof out === 'string' ? { content: out, isError: false } : out
      } catch (err) {
        return { content: toolErrorText(err), isError: true }
      }
    },
  })

  const str = (description: string) => ({ type: 'string', description })
  const int = (description: string) => ({ type: 'integer', description })

  function processText(p: { id: string; status: string; exitCode: number | null; signal: string | null; timedOut: boolean; output: string; outputTruncated: boolean; outputBytes: number }): string {
    const head =
      p.status === 'running'
        ? `process ${p.id} is still running`
        : p.timedOut
          ? `process ${p.id} timed out and was killed`
          : `process ${p.id} exited with ${p.signal ? `signal ${p.signal}` : `code ${p.exitCode}`}`
    return `${head}${p.outputTruncated ? ` (output: last part of ${p.outputBytes} bytes)` : ''}\n${p.output}`
  }

  type ProcessAnswer = Parameters<typeof processText>[0] & { background?: boolean; replayed?: boolean }

  async function waitForProcess(ctx: ToolContext, target: AgentTarget, id: string): Promise<ProcessAnswer> {
    for (;;) {
      const p = await ws.tunnels.requestJson<ProcessAnswer>(target.workspaceId, { method: 'GET', path: `/processes/${encodeURIComponent(id)}/output?waitMs=60000`, timeoutMs: 90_000, agent: target.agent, signal: ctx.signal })
      if (p.status !== 'running') return p
    }
  }

  const execute = tool({
    name: 'execute',
    description:
      'Runs a shell command in the workspace (bash -c) and returns its exit code and output. Set run_in_background for servers and long jobs; then read them with process_output.',
    inputSchema: {
      type: 'object',
      properties: {
        command: str('The shell command.'),
        timeout: int('Seconds before the command is killed (default 120, at most 3600).'),
        workdir: str('Working directory, relative to the workspace folder.'),
        run_in_background: { type: 'boolean', description: 'Start it and return its process id at once.' },
      },
      required: ['command'],
    },
    async run(args: { command: string; timeout?: number; workdir?: string; run_in_background?: boolean }, ctx) {
      if (typeof args.command !== 'string' || !args.command.trim()) throw new ToolFailure('command is required')
      const timeoutMs = Math.min(Math.max(1, args.timeout ?? 120), 3600) * 1000
      const background = args.run_in_background === true
      const p = await request<ProcessAnswer>(ctx, {
        method: 'POST',
        path: '/processes',
        body: { command: args.command, workdir: args.workdir, timeoutMs: background ? undefined : timeoutMs, background, idempotencyKey: ctx.callId },
        timeoutMs: background ? 60_000 : timeoutMs + 30_000,
      })
      if (background && p.status === 'running') return `started background process ${p.id}; read its output with process_output {"process_id": "${p.id}"}`
      return { content: processText(p), isError: p.status !== 'running' && p.exitCode !== 0 }
    },
    async recover(rawArgs, ctx) {
      // The call started before a crash: find the run by its idempotency key instead of running it again.
      const args = (rawArgs ?? {}) as { run_in_background?: boolean; agent?: unknown }
      const target = await workspaceFor(ctx, args.agent)
      let p: ProcessAnswer
      try {
        p = await ws.tunnels.requestJson<ProcessAnswer>(target.workspaceId, { method: 'GET', path: `/processes/by-key/${encodeURIComponent(ctx.callId)}`, agent: target.agent, signal: ctx.signal })
      } catch (err) {
        if ((err as { status?: number }).status === 404) return null // never reached the daemon: the runner reports it unknown
        throw err
      }
      if (args.run_in_background) return { content: `background process ${p.id} (started before a restart) is ${p.status}`, isError: false }
      if (p.status === 'running') p = await waitForProcess(ctx, target, p.id)
      return { content: processText(p), isError: p.exitCode !== 0 }
    },
  })

  const tools: Tool[] = [
    tool({
      name: 'read_file',
      description: 'Reads a text file of the workspace with line numbers (like cat -n). Use offset and limit for long files.',
      inputSchema: {
        type: 'object',
        properties: { path: str('Path, relative to the workspace folder or absolute inside it.'), offset: int('First line, 1-based.'), limit: int('How many lines.') },
        required: ['path'],
      },
      async run(args: { path: string; offset?: number; limit?: number }, ctx) {
        const r = await request<{ content: string; startLine: number; endLine: number; totalLines: number; truncated: boolean }>(ctx, {
          method: 'POST',
          path: '/files/read',
          body: { path: args.path, offset: args.offset, limit: args.limit },
        })
        return `${r.content}${r.truncated ? `\n(lines ${r.startLine}-${r.endLine} of ${r.totalLines}; read on with offset ${r.endLine + 1})` : ''}`
      },
    }),
    tool({
      name: 'write_file',
      description: 'Writes a file in the workspace, replacing it and creating parent folders.',
      inputSchema: { type: 'object', properties: { path: str('Path of the file.'), content: str('The whole new content.') }, required: ['path', 'content'] },
      availability: writes,
      async run(args: { path: string; content: string }, ctx) {
        await requirePlanFile(ctx, [args.path])
        const r = await request<{ path: string; bytes: number }>(ctx, { method: 'POST', path: '/files/write', body: { path: args.path, content: args.content } })
        return `wrote ${r.bytes} bytes to ${r.path}`
      },
    }),
    tool({
      name: 'edit_files',
      description: 'Replaces exact text in one or more files, atomically: either every edit applies or none does. old_text must match once unless replace_all.',
      inputSchema: {
        type: 'object',
        properties: {
          edits: {
            type: 'array',
            items: {
              type: 'object',
              properties: { path: str('File.'), old_text: str('Exact text to replace.'), new_text: str('Replacement.'), replace_all: { type: 'boolean' } },
              required: ['path', 'old_text', 'new_text'],
            },
          },
        },
        required: ['edits'],
      },
      availability: writes,
      async run(args: { edits: unknown[] }, ctx) {
        if (!Array.isArray(args.edits)) throw new ToolFailure('edits must be a list of {path, old_text, new_text}')
        await requirePlanFile(ctx, args.edits.map((e) => (e as { path?: unknown } | null)?.path))
        const r = await request<{ files: { path: string; replacements: number }[] }>(ctx, { method: 'POST', path: '/files/edit', body: { edits: args.edits } })
        return r.files.map((f) => `${f.path}: ${f.replacements} replacement${f.replacements === 1 ? '' : 's'}`).join('\n')
      },
    }),
    execute,
    tool({
      name: 'process_output',
      description: 'Output and status of a process started by execute (background or not), waiting up to wait_timeout seconds for it to exit.',
      inputSchema: { type: 'object', properties: { process_id: str('The process id.'), wait_timeout: int('Seconds to wait for it to exit (default 0, at most 600).') }, required: ['process_id'] },
      async run(args: { process_id: string; wait_timeout?: number }, ctx) {
        const waitMs = Math.min(Math.max(0, args.wait_timeout ?? 0), 600) * 1000
        const p = await request<ProcessAnswer>(ctx, {
          method: 'GET',
          path: `/processes/${encodeURIComponent(args.process_id)}/output?waitMs=${waitMs}`,
          timeoutMs: waitMs + 30_000,
        })
        return processText(p)
      },
    }),
    tool({
      name: 'process_list',
      description: 'Processes started in the workspace, with status.',
      inputSchema: { type: 'object', properties: {} },
      async run(_args, ctx) {
        const list = await request<{ id: string; command: string; status: string; exitCode: number | null; background: boolean }[]>(ctx, { method: 'GET', path: '/processes' })
        if (!list.length) return 'no processes'
        return list.map((p) => `${p.id}\t${p.status}${p.exitCode !== null ? ` (${p.exitCode})` : ''}\t${p.background ? 'background\t' : ''}${p.command.slice(0, 200)}`).join('\n')
      },
    }),
    tool({
      name: 'process_signal',
      description: 'Stops a process: terminate (SIGTERM) or kill (SIGKILL).',
      inputSchema: { type: 'object', properties: { process_id: str('The process id.'), signal: { type: 'string', enum: ['terminate', 'kill'] } }, required: ['process_id', 'signal'] },
      async run(args: { process_id: string; signal: 'terminate' | 'kill' }, ctx) {
        const p = await request<{ id: string; status: string }>(ctx, { method: 'POST', path: `/processes/${encodeURIComponent(args.process_id)}/signal`, body: { signal: args.signal } })
        return `sent ${args.signal} to process ${p.id}; it is ${p.status}`
      },
    }),
    tool({
      name: 'attach_file',
      description: 'Attaches a file of the workspace to the chat so the user can download it.',
      inputSchema: { type: 'object', properties: { path: str('Path of the file.'), name: str('Name shown to the user (default: the file name).') }, required: ['path'] },
      availability: writes,
      async run(args: { path: string; name?: string }, ctx) {
        const bytes = await download(ctx, args.path)
        if (bytes.length > MAX_ATTACH_BYTES) throw new ToolFailure(`${args.path} is ${bytes.length} bytes; attachments are at most ${MAX_ATTACH_BYTES} bytes`)
        const name = (args.name?.trim() || path.basename(args.path)).replace(/[\\/\x00-\x1f]/g, '_').slice(0, 200) || 'file'
        const saved = await saveWorkspaceAttachment(s, { bytes, name, uploadedBy: ctx.userId, organizationId: ctx.organizationId })
        return { content: `attached ${name} (${saved.size} bytes) as attachment ${saved.attachmentId}`, isError: false, attachments: [{ ...saved, source: 'workspace' }] }
      },
    }),
    tool({
      name: 'propose_plan',
      description:
        'Plan mode: presents your plan (a Markdown file in the workspace, usually the plan file you wrote) to the user for review. The turn ends here; the user answers with a message.',
      inputSchema: { type: 'object', properties: { path: str('Path of the plan file.') }, required: ['path'] },
      availability: rootInPlanMode,
      async run(args: { path: string }, ctx) {
        if (typeof args.path !== 'string' || !args.path.trim()) throw new ToolFailure('path is required: the Markdown file with your plan')
        const bytes = await download(ctx, args.path)
        if (bytes.length > MAX_PLAN_BYTES) throw new ToolFailure(`${args.path} is ${bytes.length} bytes; a plan is at most ${MAX_PLAN_BYTES} bytes. Shorten it and propose it again.`)
        let plan: string
        try {
          plan = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
        } catch {
          throw new ToolFailure(`${args.path} is not UTF-8 text; a plan is a Markdown file`)
        }
        if (!plan.trim()) throw new ToolFailure(`${args.path} is empty; write your plan into it first`)
        const sha256 = createHash('sha256').update(bytes).digest('hex')
        return {
          content: `Proposed the plan in ${args.path} (${bytes.length} bytes) to the user. The turn ends here; the user will answer.`,
          isError: false,
          suspend: { kind: 'plan', path: args.path, plan, sha256 },
        }
      },
    }),
    tool({
      name: 'read_skill',
      description: 'Reads a skill of the workspace (.agents/skills/<name>/SKILL.md) and lists its files.',
      inputSchema: { type: 'object', properties: { name: str('Skill name.') }, required: ['name'] },
      async run(args: { name: string }, ctx) {
        const r = await request<{ name: string; description: string; body: string; files: string[] }>(ctx, { method: 'GET', path: `/skills/${encodeURIComponent(args.name)}` })
        return `# ${r.name}\n${r.description}\n\n${r.body}\n\nFiles: ${r.files.join(', ') || 'none'}`
      },
    }),
    tool({
      name: 'read_skill_file',
      description: 'Reads one file of a workspace skill.',
      inputSchema: { type: 'object', properties: { name: str('Skill name.'), path: str('Path inside the skill folder.') }, required: ['name', 'path'] },
      async run(args: { name: string; path: string }, ctx) {
        const r = await request<{ content: string }>(ctx, { method: 'GET', path: `/skills/${encodeURIComponent(args.name)}/file?path=${encodeURIComponent(args.path)}` })
        return r.content
      },
    }),
    // ---- platform tools: root chats only
    tool({
      name: 'list_templates',
      description: 'Workspace templates you may use, most used first. Read a description to choose; the first one is the default.',
      inputSchema: { type: 'object', properties: {} },
      availability: rootOnly,
      async run(_args, ctx) {
        const list = await ws.listTemplates(await actorOf(ctx))
        if (!list.length) return 'You may use no workspace template.'
        return JSON.stringify(
          list.map((t) => ({ template_id: t.id, name: t.name, description: t.description, parameters: t.parameters.map((p) => p.name), workspaces: t.workspaceCount })),
          null,
          2,
        )
      },
    }),
    tool({
      name: 'read_template',
      description: 'A workspace template in full: description and parameters with types and defaults.',
      inputSchema: { type: 'object', properties: { template_id: str('The template id.') }, required: ['template_id'] },
      availability: rootOnly,
      async run(args: { template_id: string }, ctx) {
        const actor = await actorOf(ctx)
        const t = await ws.getTemplate(actor, args.template_id)
        if (!t) throw new ToolFailure(`template ${args.template_id} not found; call list_templates`)
        return JSON.stringify({ template_id: t.id, name: t.name, description: t.description, parameters: t.parameters, provisioner: t.provisioner.kind }, null, 2)
      },
    }),
    tool({
      name: 'create_workspace',
      description: 'Creates a workspace from a template, waits until it is ready and binds it to this chat. Returns the build log if it fails.',
      inputSchema: {
        type: 'object',
        properties: { template_id: str('The template id.'), name: str('A short name.'), parameters: { type: 'object', description: 'Template parameter values.' } },
        required: ['template_id'],
      },
      availability: rootOnly,
      async run(args: { template_id: string; name?: string; parameters?: Record<string, unknown> }, ctx) {
        const actor = await actorOf(ctx)
        const created = await ws.createWorkspace(actor, { templateId: args.template_id, name: args.name, parameters: args.parameters })
        await ctx.bindWorkspace(created.workspace.id)
        const agent = await connected(created.workspace.id, created.build, ctx.signal)
        const hello = ws.tunnels.helloOf(created.workspace.id, agent)
        const agents = (await ws.agentsOf(created.workspace.id)).filter((a) => a.parent === null).map((a) => a.name)
        const several = agents.length > 1 ? `; its agents are ${agents.join(', ')} (pass agent to workspace tools)` : ''
        return `created workspace ${created.workspace.name} (${created.workspace.id}) and bound it to this chat; working directory ${hello?.workdir ?? '?'} (${hello?.os ?? '?'})${several}`
      },
    }),
    tool({
      name: 'start_workspace',
      description: "Starts this chat's workspace (or the given one) and waits until it is ready. Does nothing to a running workspace.",
      inputSchema: { type: 'object', properties: { workspace_id: str('Default: the workspace bound to this chat.') } },
      availability: rootOnly,
      async run(args: { workspace_id?: string }, ctx) {
        const actor = await actorOf(ctx)
        const id = args.workspace_id ?? boundWorkspaceId(ctx)
        if (!id) throw new ToolFailure('this chat has no workspace; call create_workspace')
        const w = await ws.getWorkspace(actor, id)
        if (!w) throw new ToolFailure(`Workspace ${id} not found.`)
        if (ws.tunnels.isConnected(w.id, await agentNameFor(w.id, undefined).catch(() => MAIN_AGENT))) return `workspace ${w.name} is running`
        const started = await ws.startWorkspace(actor, w.id)
        await connected(w.id, started.build, ctx.signal)
        if (!boundWorkspaceId(ctx)) await ctx.bindWorkspace(w.id)
        return `workspace ${w.name} (${w.id}) is running`
      },
    }),
  ]
  return tools
}

function toolErrorText(err: unknown): string {
  if (err instanceof ToolFailure) return err.message
  if (err instanceof WorkspaceNotConnectedError) return err.message
  const e = err as { message?: string; code?: string }
  return e.code ? `${e.code}: ${e.message}` : String(e.message ?? err)
}

const MIME_BY_EXTENSION: Record<string, string> = {
  '.txt': 'text/plain', '.md': 'text/markdown', '.js': 'text/javascript', '.ts': 'text/plain', '.json': 'application/json',
  '.html': 'text/html', '.css': 'text/css', '.csv': 'text/csv', '.sh': 'text/x-shellscript', '.py': 'text/x-python',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp', '.pdf': 'application/pdf',
}

/** Stores any file (not only images) content-addressed beside the uploads and records it in `attachments`. */
async function saveWorkspaceAttachment(
  s: WorkspaceToolServices,
  input: { bytes: Buffer; name: string; uploadedBy: string; organizationId: string },
): Promise<{ attachmentId: string; sha256: string; mimeType: string; name: string; size: number }> {
  const sha256 = createHash('sha256').update(input.bytes).digest('hex')
  const file = blobPath(s.dataDir, sha256)
  if (!existsSync(file)) {
    await mkdir(path.dirname(file), { recursive: true })
    const tmp = `${file}.${randomUUID()}.tmp`
    await writeFile(tmp, input.bytes, { mode: 0o600 })
    await rename(tmp, file)
  }
  const mimeType = MIME_BY_EXTENSION[path.extname(input.name).toLowerCase()] ?? 'application/octet-stream'
  const attachmentId = randomUUID()
  await s.db.query(
    `insert into attachments (id, organization_id, uploaded_by, sha256, mime_type, name, size, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [attachmentId, input.organizationId, input.uploadedBy, sha256, mimeType, input.name, input.bytes.length, new Date()],
  )
  return { attachmentId, sha256, mimeType, name: input.name, size: input.bytes.length }
}
