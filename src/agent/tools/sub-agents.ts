// Orchestration tools of a root chat: sub-agents are child chats that run in parallel, each on
// its own context window, on whichever runner takes them. See ARCHITECTURE.md, "Sub-agents".
import { chatDecider } from '../../../commands/chat/decide.ts'
import { CommandError } from '../../../commands/errors.ts'
import { eventIdFor, writerFor, type StreamView } from '../../../commands/handler.ts'
import type { ConfigService } from '../../config/service.ts'
import type { ChatEvent } from '../../events/chat.ts'
import { chatNeedsRunner, runnerDemandOf, type ChatState } from '../../events/chat-state.ts'
import { chatStream } from '../../events/chat.ts'
import type { EventStore, StoredEvent } from '../../eventstore/types.ts'
import type { ChatSignals } from '../chat-signals.ts'
import type { Tool, ToolContext, ToolResult } from './registry.ts'

export interface SubAgentDeps {
  store: EventStore
  config: ConfigService
  signals: ChatSignals
}

export const DEFAULT_WAIT_SECONDS = 300
const MAX_WAIT_SECONDS = 3_600
const MAX_PROMPT = 100_000

/** Only root chats orchestrate: sub-agents are one level deep. */
const rootOnly = (chat: ChatState) => chat.parentChatId === null

/** The child a spawn call creates: derived from the call, so a retried or recovered call finds the same chat. */
export const childChatIdFor = (parentChatId: string, callId: string) => eventIdFor(`spawn_agent:${parentChatId}:${callId}`, 0)

/** Whether the child has nothing more to do for now: its turn ended (or it waits for an answer, or was closed). */
export const isSettled = (child: ChatState) => !chatNeedsRunner(runnerDemandOf(child))

const fail = (content: string): ToolResult => ({ content, isError: true })

function lastAssistantText(events: readonly StoredEvent[]): string {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i] as StoredEvent & ChatEvent
    if (e.type === 'AssistantStepCompleted' && e.data.text.trim()) return e.data.text
    if (e.type === 'UserMessagePosted') break
  }
  return ''
}

const statusOf = (child: ChatState) => (child.archived ? 'closed' : child.status)

export function subAgentTools(deps: SubAgentDeps): Tool[] {
  const writer = writerFor(deps.store)

  /** Runs `fn` over the child's folded stream, with its events (kept while `fn` runs, then let go). */
  async function withChild<T>(childChatId: string, fn: (view: StreamView<ChatState>) => Promise<T>): Promise<T> {
    const view = await writer.keep(chatStream(childChatId), chatDecider)
    try {
      return await fn(view)
    } finally {
      writer.release(view)
    }
  }

  function requireChild(ctx: ToolContext, args: unknown): string {
    const id = (args as { chat_id?: unknown } | null)?.chat_id
    if (typeof id !== 'string' || !id.trim()) throw new ToolError('chat_id is required: the id spawn_agent returned')
    if (!(id in ctx.chat.subAgents)) throw new ToolError(`${id} is not one of this chat's sub-agents; list_agents shows them`)
    return id
  }

  /** Errors the model can act on (a bad chat id, an archived child) become its result. */
  const answerErrors =
    <R extends ToolResult | null>(fn: (args: unknown, ctx: ToolContext) => Promise<R>) =>
    async (args: unknown, ctx: ToolContext): Promise<R | ToolResult> => {
      try {
        return await fn(args ?? {}, ctx)
      } catch (err) {
        if (err instanceof ToolError || err instanceof CommandError) return fail(err.message)
        throw err
      }
    }
  const tool = (t: Tool): Tool => ({ ...t, availability: rootOnly, run: answerErrors(t.run), ...(t.recover ? { recover: answerErrors(t.recover) } : {}) })

  /** Spawns of one parent run one at a time, so parallel calls of a step respect the limit. */
  const spawning = new Map<string, Promise<unknown>>()
  function spawnInTurn(raw: unknown, ctx: ToolContext): Promise<ToolResult> {
    const previous = spawning.get(ctx.chatId) ?? Promise.resolve()
    const next = previous.then(() => spawn(raw, ctx))
    const tail = next.catch(() => {})
    spawning.set(ctx.chatId, tail)
    void tail.then(() => spawning.get(ctx.chatId) === tail && spawning.delete(ctx.chatId))
    return next
  }

  async function spawn(raw: unknown, ctx: ToolContext): Promise<ToolResult> {
    const args = raw as { type?: unknown; prompt?: unknown; title?: unknown; model?: unknown }
    if (args.type !== 'general' && args.type !== 'explore') return fail('type must be "general" (may change files) or "explore" (reads only)')
    if (typeof args.prompt !== 'string' || !args.prompt.trim()) return fail('prompt is required: the task for the sub-agent, with everything it needs to know')
    if (args.prompt.length > MAX_PROMPT) return fail(`prompt is ${args.prompt.length} characters; the limit is ${MAX_PROMPT}`)
    const config = await deps.config.current()
    const childChatId = childChatIdFor(ctx.chatId, ctx.callId)
    const known = ctx.chat.subAgents[childChatId] !== undefined
    if (!known) {
      const open = Object.entries(ctx.chat.subAgents).filter(([, s]) => s === 'open').map(([id]) => id)
      let active = 0
      for (const id of open) if (!isSettled((await writer.current(chatStream(id), chatDecider)).state)) active++
      if (active >= config.maxActiveSubAgents)
        return fail(`This chat already has ${active} sub-agents at work (the limit is ${config.maxActiveSubAgents}). Wait for one with wait_agent or stop one with close_agent, then spawn again.`)
    }
    // Plan mode explores only.
    const agentType = ctx.chat.planMode ? 'explore' : args.type
    const usable = (id: string | null | undefined): id is string => typeof id === 'string' && config.models[id]?.enabled === true
    const notes: string[] = []
    if (typeof args.model === 'string' && args.model && !usable(args.model)) notes.push(`model ${args.model} is not available`)
    const modelId = usable(args.model as string) ? (args.model as string) : usable(config.modelOverrides.subAgents) ? config.modelOverrides.subAgents : ctx.chat.modelId
    const title = (typeof args.title === 'string' && args.title.trim() ? args.title.trim() : args.prompt.trim().split('\n')[0]!).slice(0, 120)
    try {
      await writer.handle(
        chatStream(childChatId),
        chatDecider,
        {
          type: 'CreateChat',
          chatId: childChatId,
          ownerId: ctx.chat.ownerId,
          organizationId: ctx.chat.organizationId,
          title,
          modelId,
          workspaceId: ctx.chat.workspaceId,
          planMode: ctx.chat.planMode,
          parentChatId: ctx.chatId,
          rootChatId: ctx.chat.rootChatId ?? ctx.chatId,
          agentType,
          firstMessage: { messageId: eventIdFor(childChatId, -1), parts: [{ type: 'text', text: args.prompt }] },
        },
        { commandId: childChatId, metadata: ctx.metadata },
      )
    } catch (err) {
      // Created already by this call before a crash (the id is the call's): go on recording it.
      if (!(err instanceof CommandError && err.code === 'ALREADY_EXISTS')) throw err
      if ((await writer.current(chatStream(childChatId), chatDecider)).state.parentChatId !== ctx.chatId) throw err
    }
    await ctx.recordSubAgent({ kind: 'spawned', spawn: { childChatId, agentType, title, prompt: args.prompt, modelId, callId: ctx.callId } })
    return {
      content: [
        `Spawned ${agentType} sub-agent ${childChatId} ("${title}") on model ${modelId ?? 'the default model'}${notes.length ? ` (${notes.join('; ')})` : ''}.`,
        'It works in parallel. Call wait_agent with this chat_id for its result; message_agent steers it; close_agent stops it.',
        `chat_id: ${childChatId}`,
      ].join('\n'),
      isError: false,
    }
  }

  async function wait(raw: unknown, ctx: ToolContext): Promise<ToolResult> {
    const childChatId = requireChild(ctx, raw)
    const seconds = (raw as { timeout_seconds?: unknown }).timeout_seconds
    const timeoutS = typeof seconds === 'number' && seconds > 0 ? Math.min(seconds, MAX_WAIT_SECONDS) : DEFAULT_WAIT_SECONDS
    const deadline = Date.now() + timeoutS * 1000
    return withChild(childChatId, async (view) => {
      for (;;) {
        // Listen first, then look: a turn that ends in between still wakes us.
        const stop = new AbortController()
        const next = deps.signals.next(childChatId, deadline - Date.now(), AbortSignal.any([ctx.signal, stop.signal]))
        await writer.refresh(view)
        if (isSettled(view.state) || Date.now() >= deadline) {
          stop.abort()
          break
        }
        const outcome = await ctx.park(next)
        if (ctx.signal.aborted) return fail('Stopped waiting: the turn was interrupted.')
        if (outcome === 'timeout') {
          await writer.refresh(view)
          break
        }
      }
      const child = view.state
      if (!isSettled(child))
        return {
          content: `Sub-agent ${childChatId} is still ${child.status} after ${timeoutS} s. Call wait_agent again to keep waiting, message_agent to steer it, or close_agent to stop it.`,
          isError: false,
        }
      const text = lastAssistantText(view.events ?? [])
      const head = `Sub-agent ${childChatId} ("${child.title}") ${child.archived ? 'was closed' : child.status === 'error' ? 'failed' : 'finished'}; status: ${statusOf(child)}.`
      const error = child.status === 'error' && child.lastError ? `\nError: ${child.lastError}` : ''
      return { content: `${head}${error}\n\n${text || '(it wrote no final answer)'}`, isError: false }
    })
  }

  async function message(raw: unknown, ctx: ToolContext): Promise<ToolResult> {
    const childChatId = requireChild(ctx, raw)
    const args = raw as { message?: unknown; interrupt?: unknown }
    if (typeof args.message !== 'string' || !args.message.trim()) return fail('message is required')
    const interrupt = args.interrupt === true
    const commandId = eventIdFor(`message_agent:${ctx.chatId}:${ctx.callId}`, 0)
    const outcome = await writer.handle(
      chatStream(childChatId),
      chatDecider,
      { type: 'PostMessage', messageId: commandId, authorId: ctx.chat.ownerId, parts: [{ type: 'text', text: args.message }], busyBehavior: interrupt ? 'INTERRUPT' : 'QUEUE' },
      { commandId, metadata: ctx.metadata },
    )
    const types = outcome.events.map((e) => e.type)
    const how = types.includes('InterruptRequested')
      ? 'It was interrupted; the message is next.'
      : types.includes('MessageQueued')
        ? 'It is busy: the message is queued and delivered when its turn ends.'
        : 'It is working on it now.'
    return { content: `Sent to sub-agent ${childChatId}. ${how} Call wait_agent for its answer.`, isError: false }
  }

  async function close(raw: unknown, ctx: ToolContext): Promise<ToolResult> {
    const childChatId = requireChild(ctx, raw)
    // Archiving stops a running turn (its runner ends it as interrupted) and takes no more messages.
    await writer.handle(chatStream(childChatId), chatDecider, { type: 'ArchiveChat', cascadedFrom: ctx.chatId }, { commandId: eventIdFor(`close_agent:${ctx.callId}`, 0), metadata: ctx.metadata })
    await ctx.recordSubAgent({ kind: 'closed', childChatId })
    return { content: `Closed sub-agent ${childChatId}.`, isError: false }
  }

  async function list(_raw: unknown, ctx: ToolContext): Promise<ToolResult> {
    const ids = Object.keys(ctx.chat.subAgents)
    if (ids.length === 0) return { content: 'This chat has no sub-agents.', isError: false }
    const lines: string[] = []
    for (const id of ids) {
      const { state } = await writer.current(chatStream(id), chatDecider)
      lines.push(`${id}\t${state.agentType ?? 'general'}\t${statusOf(state)}\t${state.title}`)
    }
    return { content: `chat_id\ttype\tstatus\ttitle\n${lines.join('\n')}`, isError: false }
  }

  const chatIdArg = { type: 'string', description: 'The chat_id spawn_agent returned.' }
  return [
    tool({
      name: 'spawn_agent',
      description:
        'Delegates a task to a sub-agent: a new chat with its own context window, in this chat\'s workspace, running in parallel. "explore" sub-agents only read (files, commands, skills); "general" ones may also change files. Returns its chat_id at once; collect its result with wait_agent. Give it a complete, self-contained prompt.',
      inputSchema: {
        type: 'object',
        properties: {
          type: { type: 'string', enum: ['general', 'explore'] },
          prompt: { type: 'string', description: 'The task, with all the context the sub-agent needs.' },
          title: { type: 'string', description: 'A short title for the sub-agent chat.' },
          model: { type: 'string', description: 'A model id to use instead of the default for sub-agents.' },
        },
        required: ['type', 'prompt'],
      },
      run: spawnInTurn,
      // The child's id is the call's: running it again finds the same chat instead of making a second.
      recover: spawnInTurn,
    }),
    tool({
      name: 'wait_agent',
      description: `Waits until a sub-agent's turn ends and returns its last answer and status, or says it is still working after timeout_seconds (default ${DEFAULT_WAIT_SECONDS}).`,
      inputSchema: {
        type: 'object',
        properties: { chat_id: chatIdArg, timeout_seconds: { type: 'integer', description: `Seconds to wait (default ${DEFAULT_WAIT_SECONDS}, at most ${MAX_WAIT_SECONDS}).` } },
        required: ['chat_id'],
      },
      run: wait,
      // Waiting changes nothing: after a takeover, wait again.
      recover: wait,
    }),
    tool({
      name: 'message_agent',
      description: 'Sends a sub-agent a follow-up message: queued until its current turn ends, or with interrupt: true, it stops the turn and takes the message next.',
      inputSchema: {
        type: 'object',
        properties: { chat_id: chatIdArg, message: { type: 'string' }, interrupt: { type: 'boolean' } },
        required: ['chat_id', 'message'],
      },
      run: message,
    }),
    tool({
      name: 'close_agent',
      description: 'Stops a sub-agent (interrupting its turn) and archives its chat.',
      inputSchema: { type: 'object', properties: { chat_id: chatIdArg }, required: ['chat_id'] },
      run: close,
      recover: close,
    }),
    tool({
      name: 'list_agents',
      description: "Lists this chat's sub-agents with their status.",
      inputSchema: { type: 'object', properties: {} },
      run: list,
    }),
  ]
}

class ToolError extends Error {}
