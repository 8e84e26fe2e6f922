import { randomUUID } from 'node:crypto'
import type { AttachmentRef, RunnerCommand } from '../../commands/chat/commands.ts'
import type { ConfigService, ResolvedModel } from '../config/service.ts'
import type { EventStore, StoredEvent } from '../eventstore/types.ts'
import { CommandError } from '../../commands/errors.ts'
import type { ChatEvent, ModelCall, ToolCall } from '../events/chat.ts'
import { chatNeedsRunner, runnerDemandOf, type ChatState } from '../events/chat-state.ts'
import { classifyProviderError } from '../providers/index.ts'
import { ProviderError, type Usage } from '../providers/types.ts'
import { ModelContextCache, type AttachmentLoader } from './context.ts'
import type { EphemeralBody, EphemeralSink } from '../live/ephemeral.ts'
import { compactionDue, summarize } from './compaction.ts'
import type { ApprovalPolicies } from './approvals.ts'
import type { BudgetGuard } from '../budgets/guard.ts'
import type { SecretScanner } from '../secrets/scanner.ts'
import { ChatSession } from './session.ts'
import { chatRoleInstructions, withInstructions, type ChatInstructions } from './instructions.ts'
import { StepAccumulator, type StreamedStep } from './step.ts'
import type { ChatDebugLogs } from '../debuglog/recorder.ts'
import type { Tool, ToolContext, ToolRegistry, ToolResult } from './tools/registry.ts'

export interface DriverOptions {
  runnerId: string
  config: ConfigService
  tools: ToolRegistry
  publish: EphemeralSink
  loadAttachment: AttachmentLoader
  maxStepsPerTurn: number
  maxRetries: number
  /** First retry delay; doubles up to retryMaxMs. */
  retryBaseMs: number
  retryMaxMs: number
  log: (line: string) => void
  /** Redacts secrets from every move the driver records (src/secrets/scanner.ts). */
  secrets?: SecretScanner
  /** Stores an image a tool returned (an MCP server's) as an attachment of the chat's owner; null when it is not a usable image. */
  saveImage?: (chat: ChatState, image: { mimeType: string; data: string }) => Promise<AttachmentRef | null>
  /**
   * Resolves when the items published so far have reached the other processes: awaited before a
   * step is recorded, so a subscriber elsewhere gets a step's deltas before the step.
   */
  publishFlushed?: () => Promise<void>
  /** Which calls wait for a person's approval (none without it). */
  approvals?: ApprovalPolicies
  /** What the system prompt gains from outside the log (the chat's workspace); read once per turn. */
  instructions?: ChatInstructions
  /** Chat debug logs: whether a step's provider exchange is kept (src/debuglog/recorder.ts); none without it. */
  debugLogs?: ChatDebugLogs
  /** Spend limits checked before each model step (none without it). */
  budgets?: BudgetGuard
}

export const DEFAULT_TITLE = 'New chat'

export const UNKNOWN_OUTCOME =
  'The control plane restarted while this tool call was running and cannot tell whether it finished. Check its effects before running it again.'

type Chat = StoredEvent & ChatEvent

export function costOf(usage: Usage, model: ResolvedModel['model']): number {
  // inputTokens includes the cached parts (see src/providers/types.ts); each part has its own price.
  const p = model.pricing
  const uncached = Math.max(0, usage.inputTokens - usage.cacheReadTokens - usage.cacheWriteTokens)
  const usd =
    (uncached * p.input + usage.outputTokens * p.output + usage.cacheReadTokens * p.cacheRead + usage.cacheWriteTokens * p.cacheWrite) /
    1_000_000
  return Math.round(usd * 1_000_000) / 1_000_000
}

/** A call around the steps (a summary, a title) as its event records it. */
function modelCall(usage: Usage, model: ResolvedModel['model']): ModelCall {
  return { modelId: model.modelId, usage, costUsd: costOf(usage, model) }
}

class TurnFailure extends Error {
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message)
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })

/**
 * Drives one chat while this runner holds its lease: starts turns, streams steps, runs
 * tools, retries, compacts — each move a command to the chat decider, which decides what
 * may be recorded and what follows (the queue head after a turn's end). Every decision here
 * is made from the folded stream, so the same path serves a fresh turn and a resumed one.
 */
export class ChatDriver {
  #session: ChatSession | null = null
  #interrupt = new AbortController()
  #stopped = false
  /** Tool calls this driver started; any other started call without a result is recovered. */
  readonly #startedHere = new Set<string>()
  /** The turn ephemeral items belong to: the current one, or the one that just ended. */
  #turnKey: string | null = null
  /** This drive of the chat as a publisher of ephemeral items (a takeover is another). */
  readonly #source = randomUUID()
  /** The revision at which the chat, as folded here, needed nothing more from the runner; null until then. */
  settledAt: bigint | null = null
  /** Tool calls waiting in `park` (wait_agent): while any is, the driver takes no runner slot. */
  #parked = 0
  #instructions: { key: string; text: Promise<string | null> } | null = null
  /** The model context of the last step, extended with each step's events. */
  readonly #context = new ModelContextCache()

  constructor(
    private readonly store: EventStore,
    readonly chatId: string,
    private readonly opts: DriverOptions,
  ) {}

  get session(): ChatSession {
    if (!this.#session) throw new Error(`chat ${this.chatId}: the driver has not started`)
    return this.#session
  }

  /** Whether the driver only waits (on a sub-agent): the runner does not count it against its concurrency. */
  get parked(): boolean {
    return this.#parked > 0
  }

  /** Stop at once (lease lost or shutdown): aborts the provider stream and tools, writes nothing more. */
  stop(): void {
    this.#stopped = true
    this.#interrupt.abort()
  }

  /** Another process appended to the chat (an interrupt, an archive): fold it in now. */
  async notice(): Promise<void> {
    await this.#session?.refresh()
  }

  /** Runs until the chat needs nothing more from the runner. */
  async drive(): Promise<void> {
    const session = (this.#session = await ChatSession.open(this.store, this.chatId, this.opts.runnerId, this.opts.secrets, this.opts.publishFlushed))
    const unwatch = session.view.onApply((event, before) => {
      const s = session.state
      if (s.currentTurnId) this.#turnKey = s.currentTurnId
      if (s.status !== before.status) this.#publish({ kind: 'StatusChanged', turnId: this.#turnKey, status: s.status })
      if (event.type === 'InterruptRequested' || (event.type === 'ChatArchived' && s.currentTurnId)) this.#interrupt.abort()
    })
    try {
      await this.#loop()
    } finally {
      unwatch()
      session.close()
    }
  }

  async #loop(): Promise<void> {
    const runnerId = this.opts.runnerId
    while (!this.#stopped) {
      const s = this.session.state
      if (!s.exists || !chatNeedsRunner(runnerDemandOf(s))) return void (this.settledAt = this.session.revision)
      const before = this.session.revision
      const turnId = s.currentTurnId
      if (turnId && s.turnRunnerId !== runnerId) await this.session.run({ type: 'ResumeTurn', runnerId, turnId })
      else if (turnId && s.status === 'interrupting') await this.session.run({ type: 'EndTurn', runnerId, turnId, outcome: 'interrupted' })
      else if (turnId) await this.#runTurn(turnId)
      else if (s.compactionRequested) await this.#compact(null)
      else if (s.status === 'pending') await this.session.run({ type: 'StartTurn', runnerId, turnId: randomUUID() })
      else await this.session.run({ type: 'DeliverQueueHead', runnerId })
      // A move the decider turned down leaves the chat as it was: stop rather than spin (and
      // until something new is appended, the runner does not take it again).
      if (this.session.revision === before && !this.#stopped && (await this.session.refresh()) === 0) return void (this.settledAt = before)
    }
  }

  #publish(item: EphemeralBody): void {
    this.opts.publish(this.chatId, item, this.#source)
  }

  /** Sends a move of the current turn; false when the turn is over (ended here, or no longer ours). */
  async #run(command: RunnerCommand & { turnId: string }, causationId?: string): Promise<boolean> {
    await this.session.run(command, causationId)
    return this.session.state.currentTurnId === command.turnId && !this.#stopped
  }

  #turnEvents(turnId: string): Chat[] {
    const events = this.session.events as Chat[]
    const start = events.findLastIndex((e) => e.type === 'TurnStarted' && e.data.turnId === turnId)
    return events.slice(start) as Chat[]
  }

  async #runTurn(turnId: string): Promise<void> {
    const runnerId = this.opts.runnerId
    this.#interrupt = new AbortController()
    if (this.session.state.status === 'interrupting') this.#interrupt.abort()
    const fail = (kind: string, message: string) => this.#run({ type: 'EndTurn', runnerId, turnId, outcome: 'failed', errorKind: kind, message })
    let resolved: ResolvedModel
    try {
      resolved = await this.opts.config.resolveModel(this.session.state.modelId)
    } catch (err) {
      await fail('config', (err as Error).message)
      return
    }
    try {
      for (;;) {
        if (this.#stopped) return
        if (this.#interrupt.signal.aborted) return void (await this.#run({ type: 'EndTurn', runnerId, turnId, outcome: 'interrupted' }))
        const turn = this.#turnEvents(turnId)
        const steps = turn.filter((e) => e.type === 'AssistantStepCompleted')
        const lastStep = steps[steps.length - 1]
        if (lastStep && lastStep.data.toolCalls.length > 0 && !(await this.#runToolCalls(turnId, lastStep.data.toolCalls, turn))) return
        if (steps.length >= this.opts.maxStepsPerTurn)
          return void (await fail('step_limit', `The turn reached the limit of ${this.opts.maxStepsPerTurn} model steps and was stopped. Send a message to continue.`))
        const over = await this.opts.budgets?.check(this.session.state, this.session.stream, this.session.events)
        if (over) return void (await fail('budget_exceeded', over.message))
        if (compactionDue(this.session.events, resolved.model) && !(await this.#compact(turnId))) return
        const step = await this.#streamStepWithRetries(turnId, resolved, steps.length)
        if (this.#stopped) return
        const appended = await this.session.run({
          type: 'RecordStep',
          runnerId,
          turnId,
          step: {
            stepId: randomUUID(),
            modelId: resolved.model.modelId,
            parts: step.parts,
            text: step.parts.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join(''),
            reasoning: step.parts.flatMap((p) => (p.type === 'reasoning' ? [p.text] : [])).join(''),
            toolCalls: step.toolCalls,
            usage: step.usage,
            costUsd: costOf(step.usage, resolved.model),
            finishReason: step.finishReason,
            interrupted: step.interrupted,
          },
        })
        for (const e of appended) if (e.type === 'ToolCallStarted') this.#startedHere.add((e as Chat & { type: 'ToolCallStarted' }).data.callId)
        if (this.session.state.currentTurnId !== turnId) {
          if (appended.some((e) => e.type === 'TurnCompleted')) await this.#maybeTitle()
          return
        }
      }
    } catch (err) {
      if (this.#stopped) return
      if (err instanceof TurnFailure) return void (await fail(err.kind, err.message))
      throw err
    }
  }

  /**
   * Runs the step's tool calls that have no result yet, concurrently. A call that was
   * started before a crash is not run again blindly: its tool is asked whether it ran.
   * Returns false when the turn is over.
   */
  async #runToolCalls(turnId: string, calls: ToolCall[], turn: Chat[]): Promise<boolean> {
    const runnerId = this.opts.runnerId
    const started = new Set(turn.flatMap((e) => (e.type === 'ToolCallStarted' ? [e.data.callId] : [])))
    const pending = calls.filter((c) => c.id in this.session.state.openToolCalls)
    if (pending.length === 0) return true
    const fresh = pending.filter((c) => !started.has(c.id))
    if (fresh.length) {
      const appended = await this.session.run({ type: 'StartToolCalls', runnerId, turnId, calls: fresh })
      for (const e of appended) this.#startedHere.add((e as Chat & { type: 'ToolCallStarted' }).data.callId)
    }
    const config = await this.opts.config.current()
    const offered = new Map((await this.opts.tools.offered(this.session.state, config.disabledTools)).map((t) => [t.name, t]))
    const suspended: { call: ToolCall; suspend: NonNullable<ToolResult['suspend']>; content: string }[] = []
    const approvals: Extract<RunnerCommand, { type: 'RequestApprovals' }>['requests'] = []
    await Promise.all(
      pending.map(async (call) => {
        // A call a person approved runs now, on whichever runner goes on with the turn.
        const approved = call.id in this.session.state.approvedCalls
        // Started by an earlier runner (a crash or takeover): ask the tool, do not run it blindly.
        const orphaned = started.has(call.id) && !this.#startedHere.has(call.id) && !approved
        if (!orphaned && !approved && !this.#startedHere.has(call.id)) return // the decider did not start it (interrupted)
        // A call a policy holds has never run, wherever it was started: it waits for approval.
        const wait = approved ? null : await this.opts.approvals?.check(this.session.state, call, offered.get(call.name))
        if (wait) return void approvals.push({ callId: call.id, name: call.name, arguments: call.arguments, ...wait })
        const began = Date.now()
        const result = orphaned ? await this.#recoverTool(call, turnId) : await this.#runTool(call, turnId, offered)
        if (this.#stopped) return
        if (result.suspend) return void suspended.push({ call, suspend: result.suspend, content: result.content })
        await this.#complete(turnId, call, result, Date.now() - began)
      }),
    )
    if (this.#stopped || this.session.state.currentTurnId !== turnId) return false
    if (this.#interrupt.signal.aborted) {
      await this.#run({ type: 'EndTurn', runnerId, turnId, outcome: 'interrupted' })
      return false
    }
    if (approvals.length) {
      // The turn waits for a person; a question or plan of the same step is not run.
      for (const { call } of suspended) await this.#complete(turnId, call, { content: `Not run: another call of this step waits for approval. Call ${call.name} again later if you still need to.`, isError: true }, 0)
      await this.#run({ type: 'RequestApprovals', runnerId, turnId, requests: approvals })
      return false
    }
    if (suspended.length === 0) return true
    // One question or plan per step ends the turn (the first the model asked for); others are answered as not run.
    suspended.sort((a, b) => calls.indexOf(a.call) - calls.indexOf(b.call))
    const [first, ...rest] = suspended
    for (const { call } of rest)
      await this.#complete(turnId, call, { content: `Not run: ${first!.call.name} in the same step ends the turn. Ask again after it if you still need to.`, isError: true }, 0)
    const { call, suspend } = first!
    if (suspend.kind === 'question') await this.#run({ type: 'AskQuestion', runnerId, turnId, callId: call.id, questions: suspend.questions })
    else await this.#run({ type: 'ProposePlan', runnerId, turnId, callId: call.id, ...suspend, result: first!.content })
    return false
  }

  async #complete(turnId: string, call: ToolCall, result: ToolResult, durationMs: number): Promise<StoredEvent[]> {
    // Images a tool returned are stored as attachments: the result names them, the model sees them.
    const images: AttachmentRef[] = []
    if (result.images?.length && this.opts.saveImage)
      for (const image of result.images) {
        const saved = await this.opts.saveImage(this.session.state, image).catch(() => null)
        if (saved) images.push(saved)
      }
    const attachments = [...(result.attachments ?? []), ...images.map((a) => ({ ...a, source: 'tool' as const }))]
    return this.session.run(
      {
        type: 'CompleteToolCall',
        runnerId: this.opts.runnerId,
        turnId,
        callId: call.id,
        name: call.name,
        result: result.content,
        isError: result.isError,
        durationMs,
        ...(attachments.length ? { attachments } : {}),
        ...(images.length ? { images: images.map(({ attachmentId, mimeType, sha256 }) => ({ attachmentId, mimeType, sha256 })) } : {}),
      },
      call.id,
    )
  }

  #toolContext(call: ToolCall, turnId: string): ToolContext {
    const session = this.session
    const runnerId = this.opts.runnerId
    return {
      chatId: this.chatId,
      userId: session.state.ownerId,
      organizationId: session.state.organizationId,
      get chat() {
        return session.state
      },
      callId: call.id,
      get metadata() {
        return session.metadata(call.id)
      },
      signal: this.#interrupt.signal,
      bindWorkspace: async (workspaceId) => {
        await session.run({ type: 'BindWorkspace', runnerId, turnId, workspaceId }, call.id)
      },
      recordSubAgent: async (record) => {
        if (record.kind === 'spawned') await session.run({ type: 'RecordSubAgentSpawned', runnerId, turnId, spawn: record.spawn }, call.id)
        else await session.run({ type: 'RecordSubAgentClosed', runnerId, turnId, childChatId: record.childChatId }, call.id)
      },
      park: async (work) => {
        this.#parked++
        try {
          return await work
        } finally {
          this.#parked--
        }
      },
    }
  }

  /** A tool that is unknown, disabled by an admin or not offered in this chat is never run: the model reads why. */
  async #runTool(call: ToolCall, turnId: string, offered: ReadonlyMap<string, Tool>): Promise<ToolResult> {
    const tool = offered.get(call.name)
    if (!tool && !this.opts.tools.get(call.name)) return { content: `There is no tool named ${call.name}. Use only the tools you were given.`, isError: true }
    if (!tool) return { content: `The tool ${call.name} is not available in this chat. Use only the tools you were given.`, isError: true }
    try {
      return await tool.run(call.arguments, this.#toolContext(call, turnId))
    } catch (err) {
      if (this.#interrupt.signal.aborted) return { content: 'Interrupted by the user before the tool finished.', isError: true }
      return { content: `Tool ${call.name} failed: ${(err as Error).message}`, isError: true }
    }
  }

  async #recoverTool(call: ToolCall, turnId: string): Promise<ToolResult> {
    const tool = this.opts.tools.get(call.name)
    try {
      const known = tool?.recover ? await tool.recover(call.arguments, this.#toolContext(call, turnId)) : null
      return known ?? { content: UNKNOWN_OUTCOME, isError: true }
    } catch (err) {
      return { content: `${UNKNOWN_OUTCOME} (${(err as Error).message})`, isError: true }
    }
  }

  async #streamStepWithRetries(turnId: string, resolved: ResolvedModel, stepIndex: number): Promise<StreamedStep> {
    let compactedForWindow = false
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#streamStep(turnId, resolved, stepIndex)
      } catch (raw) {
        if (this.#stopped) throw raw
        const err = raw instanceof ProviderError ? raw : classifyProviderError(raw)
        if (err.kind === 'context_window_exceeded' && !compactedForWindow) {
          compactedForWindow = true
          await this.#compact(turnId)
          continue
        }
        if (!err.retryable || attempt > this.opts.maxRetries)
          throw new TurnFailure(err.kind, attempt > this.opts.maxRetries ? `${err.message} (gave up after ${attempt} attempts)` : err.message)
        const backoff = Math.min(this.opts.retryBaseMs * 2 ** (attempt - 1), this.opts.retryMaxMs)
        const delayMs = Math.min(Math.max(backoff, err.retryAfterMs ?? 0), this.opts.retryMaxMs)
        const retry = { turnId, attempt, delayMs, errorKind: err.kind, message: err.message }
        if (!(await this.#run({ type: 'ScheduleRetry', runnerId: this.opts.runnerId, ...retry }))) return new StepAccumulator(turnId).result(true)
        this.#publish({ kind: 'RetryCountdown', ...retry, retryAt: new Date(Date.now() + delayMs).toISOString() })
        await sleep(delayMs, this.#interrupt.signal)
        if (this.#interrupt.signal.aborted) return new StepAccumulator(turnId).result(true)
      }
    }
  }

  async #streamStep(turnId: string, resolved: ResolvedModel, stepIndex: number): Promise<StreamedStep> {
    const config = await this.opts.config.current()
    const tools = await this.opts.tools.offered(this.session.state, config.disabledTools, this.#interrupt.signal)
    const step = new StepAccumulator(turnId)
    const debug = await this.#debugCapture(turnId, resolved, stepIndex)
    try {
      const stream = resolved.client.stream({
        model: resolved.model.modelName,
        system: withInstructions(
          withInstructions(await this.opts.config.systemPrompt(config), chatRoleInstructions(this.session.state)),
          await this.#instructionsFor(turnId),
        ),
        messages: await this.#context.build(this.session.events, this.opts.loadAttachment),
        tools: this.opts.tools.definitions(tools),
        maxOutputTokens: resolved.model.maxOutputTokens,
        signal: this.#interrupt.signal,
        ...(debug ? { debug } : {}),
      })
      for await (const ev of stream) {
        const item = step.apply(ev)
        if (item) this.#publish(item)
        // The text is over: a word the redactor held back (it could have begun a secret) goes out now, not with the step.
        else if (ev.type === 'usage' || ev.type === 'finish') this.opts.secrets?.release(this.chatId)
      }
    } catch (err) {
      // An interrupt keeps what had streamed, as a partial step.
      if (this.#interrupt.signal.aborted && !this.#stopped) return step.result(true)
      throw err
    }
    const result = step.result(false)
    if (result.finishReason === 'content_filter' && result.parts.length === 0)
      throw new TurnFailure('content_filter', 'The provider blocked the response with its content filter. Rephrase the request and try again.')
    return result
  }

  /** Where this step's provider exchange goes when the chat's debug logging is on; undefined (the usual case) otherwise. */
  #debugCapture(turnId: string, resolved: ResolvedModel, step: number) {
    if (!this.opts.debugLogs) return undefined
    return this.opts.debugLogs.captureFor({ chatId: this.chatId, ownerId: this.session.state.ownerId, turnId, step, provider: resolved.client.kind })
  }

  /** The instructions from outside the log, read at a turn's first step (again if the turn binds another workspace). */
  #instructionsFor(turnId: string): Promise<string | null> {
    const source = this.opts.instructions
    if (!source) return Promise.resolve(null)
    const key = `${turnId}/${this.session.state.workspaceId}`
    if (this.#instructions?.key !== key) this.#instructions = { key, text: source(this.session.state, this.#interrupt.signal).catch(() => null) }
    return this.#instructions.text
  }

  /**
   * Summarizes the context and records it: in a turn (`turnId`) before a step whose input
   * passed the threshold, or between turns when a user asked, with the admin's compaction model
   * if one is set. Returns false when the turn is over.
   */
  async #compact(turnId: string | null): Promise<boolean> {
    const runnerId = this.opts.runnerId
    const through = this.session.revision
    let result: Awaited<ReturnType<typeof summarize>>
    let model: ResolvedModel
    try {
      model = await this.opts.config.resolveModelFor('compaction', this.session.state.modelId)
      result = await summarize(model, await this.#context.build(this.session.events, this.opts.loadAttachment), this.session.events, this.#interrupt.signal)
    } catch (err) {
      // An automatic compaction that fails lets the step go on (the provider may still take it);
      // a requested one is dropped with the reason, so the chat does not wait for it forever.
      if (turnId !== null || this.#stopped) return true
      const failure = err instanceof ProviderError ? err : err instanceof CommandError ? null : classifyProviderError(err)
      await this.session.run({ type: 'FailCompaction', runnerId, errorKind: failure?.kind ?? 'config', message: (err as Error).message })
      return true
    }
    const compacted = {
      summary: result.summary,
      throughRevision: Number(through),
      tokensBefore: result.tokensBefore,
      tokensAfter: result.tokensAfter,
      ...(result.usage ? { call: modelCall(result.usage, model.model) } : {}),
    }
    if (turnId !== null) return this.#run({ type: 'CompactContext', runnerId, turnId, ...compacted, manual: false })
    await this.session.run({ type: 'CompactContext', runnerId, turnId, ...compacted, manual: true })
    return true
  }

  /** After the first exchange, a short generated title (the admin's titles model, else the chat's) replaces the default one (unless someone renamed it meanwhile). */
  async #maybeTitle(): Promise<void> {
    // After the first turn, even when a queued message was delivered with its end.
    const turns = this.session.events.filter((e) => e.type === 'TurnStarted').length
    if (this.session.state.title !== DEFAULT_TITLE || turns !== 1) return
    try {
      const first = (this.session.events as Chat[]).find((e) => e.type === 'UserMessagePosted')
      const prompt = first?.type === 'UserMessagePosted' ? first.data.parts.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('\n') : ''
      if (!prompt) return
      let title = ''
      let usage: Usage | null = null
      const titles = await this.opts.config.resolveModelFor('titles', this.session.state.modelId)
      for await (const ev of titles.client.stream({
        model: titles.model.modelName,
        system: 'Write a title of at most six words for a chat that starts with the user message below. Answer with the title only.',
        messages: [{ role: 'user', parts: [{ type: 'text', text: prompt.slice(0, 4000) }] }],
        tools: [],
        maxOutputTokens: 30,
      })) {
        if (ev.type === 'text_delta') title += ev.text
        if (ev.type === 'usage') usage = ev.usage
      }
      title = title.trim().replace(/^["']|["']$/g, '').slice(0, 80)
      if (title) await this.session.run({ type: 'RenameChat', title, generated: { replaces: DEFAULT_TITLE, ...(usage ? { call: modelCall(usage, titles.model) } : {}) } })
    } catch (err) {
      this.opts.log(`title for chat ${this.chatId} not generated: ${(err as Error).message}`)
    }
  }
}
