import { randomUUID } from 'node:crypto'
import type { ConfigService, ResolvedModel } from '../config/service.ts'
import type { EventStore, StoredEvent } from '../eventstore/types.ts'
import { CommandError } from '../../commands/errors.ts'
import type { ChatEvent, ToolCall } from '../events/chat.ts'
import { classifyProviderError } from '../providers/index.ts'
import { ProviderError, type Usage } from '../providers/types.ts'
import { buildModelContext, type AttachmentLoader } from './context.ts'
import type { EphemeralSink } from './ephemeral.ts'
import { compactionDue, summarize } from './compaction.ts'
import { ChatSession } from './session.ts'
import type { SecretScanner } from '../secrets/scanner.ts'
import { StepAccumulator, type StreamedStep } from './step.ts'
import type { ToolContext, ToolRegistry, ToolResult } from './tools/registry.ts'

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
  /** Redacts secrets from every event this driver appends. */
  secrets?: SecretScanner
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
 * tools, retries, compacts, delivers the queue — and resumes from the last committed
 * event after a crash. Each decision is made from the folded stream, so the same code
 * path serves a fresh turn and a resumed one.
 */
export class ChatDriver {
  readonly session: ChatSession
  #interrupt = new AbortController()
  #stopped = false
  #loaded = false
  /** Tool calls this driver started; any other started call without a result is recovered. */
  readonly #startedHere = new Set<string>()

  constructor(
    private readonly store: EventStore,
    readonly chatId: string,
    private readonly opts: DriverOptions,
  ) {
    this.session = new ChatSession(store, chatId, opts.runnerId, (status) => {
      if (this.#loaded) opts.publish(chatId, { kind: 'StatusChanged', status })
    }, opts.secrets)
  }

  /** Stop at once (lease lost or shutdown): aborts the provider stream and tools, writes nothing more. */
  stop(): void {
    this.#stopped = true
    this.#interrupt.abort()
  }

  /** Runs until the chat needs nothing more from the runner. */
  async drive(): Promise<void> {
    await this.session.refresh()
    this.#loaded = true
    while (!this.#stopped) {
      const s = this.session.state
      if (!s.exists || s.archived) return
      if (s.status === 'interrupting') await this.#endTurn([{ type: 'TurnInterrupted', data: { turnId: s.currentTurnId ?? 'unknown' } }])
      else if (s.status === 'running') await this.#runTurn()
      else if (s.compactionRequested) await this.#compact(true)
      else if (s.status === 'pending') {
        await this.session.append([{ type: 'TurnStarted', data: { turnId: randomUUID(), runnerId: this.opts.runnerId, modelId: s.modelId } }])
      } else if (s.status === 'waiting' && s.queue.length > 0) await this.session.append(this.#deliverQueueHead())
      else return
    }
  }

  #deliverQueueHead(): ChatEvent[] {
    const head = this.session.state.queue[0]
    if (!head) return []
    return [{ type: 'UserMessagePosted', data: { messageId: head.queueId, parts: head.parts, authorId: head.authorId, fromQueueId: head.queueId } }]
  }

  /** Ends the turn and, in the same append, delivers the queue head so the next turn starts by itself. */
  async #endTurn(events: ChatEvent[]): Promise<void> {
    const queued = this.session.state.queue.length > 0
    await this.session.append([...events, ...(queued ? this.#deliverQueueHead() : [])])
  }

  #turnEvents(): Chat[] {
    const events = this.session.events as Chat[]
    const turnId = this.session.state.currentTurnId
    const start = events.findLastIndex((e) => e.type === 'TurnStarted' && e.data.turnId === turnId)
    return events.slice(start) as Chat[]
  }

  async #runTurn(): Promise<void> {
    const turnId = this.session.state.currentTurnId!
    this.#interrupt = new AbortController()
    const watcher = this.#watchForInterrupt()
    try {
      let resolved: ResolvedModel
      try {
        resolved = await this.opts.config.resolveModel(this.session.state.modelId)
      } catch (err) {
        throw new TurnFailure('config', (err as Error).message)
      }
      for (;;) {
        if (this.#stopped) return
        if (this.#interrupt.signal.aborted) return await this.#endTurn([{ type: 'TurnInterrupted', data: { turnId } }])
        const turn = this.#turnEvents()
        const steps = turn.filter((e) => e.type === 'AssistantStepCompleted')
        const lastStep = steps[steps.length - 1]
        if (lastStep && lastStep.data.toolCalls.length > 0) {
          const done = await this.#runToolCalls(turnId, lastStep.data.toolCalls, turn)
          if (!done) return
        }
        if (steps.length >= this.opts.maxStepsPerTurn)
          throw new TurnFailure(
            'step_limit',
            `The turn reached the limit of ${this.opts.maxStepsPerTurn} model steps and was stopped. Send a message to continue.`,
          )
        if (compactionDue(this.session.events, resolved.model)) await this.#compact(false, resolved)
        const step = await this.#streamStepWithRetries(turnId, resolved)
        if (this.#stopped) return
        const stepEvent: ChatEvent = {
          type: 'AssistantStepCompleted',
          data: {
            turnId,
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
        }
        if (step.interrupted) return await this.#endTurn([stepEvent, { type: 'TurnInterrupted', data: { turnId } }])
        if (step.toolCalls.length === 0) {
          await this.#endTurn([stepEvent, { type: 'TurnCompleted', data: { turnId } }])
          await this.#maybeTitle(resolved)
          return
        }
        // The step and its calls' ToolCallStarted go in one append: one commit fewer per step.
        for (const call of step.toolCalls) this.#startedHere.add(call.id)
        await this.session.append([
          stepEvent,
          ...step.toolCalls.map((c): ChatEvent => ({ type: 'ToolCallStarted', data: { turnId, callId: c.id, name: c.name, arguments: c.arguments } })),
        ])
      }
    } catch (err) {
      if (this.#stopped) return
      if (err instanceof TurnFailure) {
        await this.#endTurn([{ type: 'TurnFailed', data: { turnId, errorKind: err.kind, message: err.message } }])
        return
      }
      throw err
    } finally {
      await watcher.close()
    }
  }

  /** Aborts the running step or tools when a user asks for an interrupt. */
  #watchForInterrupt(): { close(): Promise<void> } {
    const sub = this.store.subscribeToStream(this.session.stream, { fromRevision: this.session.revision + 1n })
    const done = (async () => {
      for await (const e of sub) if (e.type === 'InterruptRequested') this.#interrupt.abort()
    })().catch(() => {})
    return {
      async close() {
        await sub.close()
        await done
      },
    }
  }

  /**
   * Runs the step's tool calls that have no result yet, concurrently. A call that was
   * started before a crash is not run again blindly: its tool is asked whether it ran.
   * Returns false when the turn ended (interrupt).
   */
  async #runToolCalls(turnId: string, calls: ToolCall[], turn: Chat[]): Promise<boolean> {
    const completed = new Set(turn.flatMap((e) => (e.type === 'ToolCallCompleted' ? [e.data.callId] : [])))
    const started = new Set(turn.flatMap((e) => (e.type === 'ToolCallStarted' ? [e.data.callId] : [])))
    const pending = calls.filter((c) => !completed.has(c.id))
    if (pending.length === 0) return true
    // Started by an earlier runner (a crash or takeover): ask the tool, do not run it blindly.
    const orphaned = new Set([...started].filter((id) => !this.#startedHere.has(id)))
    const fresh = pending.filter((c) => !started.has(c.id))
    if (fresh.length) {
      for (const c of fresh) this.#startedHere.add(c.id)
      await this.session.append(fresh.map((c) => ({ type: 'ToolCallStarted', data: { turnId, callId: c.id, name: c.name, arguments: c.arguments } })))
    }
    await Promise.all(
      pending.map(async (call) => {
        const began = Date.now()
        const result = orphaned.has(call.id) ? await this.#recoverTool(call) : await this.#runTool(call)
        if (this.#stopped) return
        await this.session.append([
          {
            type: 'ToolCallCompleted',
            data: { turnId, callId: call.id, name: call.name, result: result.content, isError: result.isError, durationMs: Date.now() - began },
          },
        ])
      }),
    )
    if (this.#interrupt.signal.aborted && !this.#stopped) {
      await this.#endTurn([{ type: 'TurnInterrupted', data: { turnId } }])
      return false
    }
    return !this.#stopped
  }

  #toolContext(call: ToolCall): ToolContext {
    const s = this.session.state
    return { chatId: this.chatId, userId: s.ownerId, organizationId: s.organizationId, chat: s, callId: call.id, signal: this.#interrupt.signal }
  }

  async #runTool(call: ToolCall): Promise<ToolResult> {
    const tool = this.opts.tools.get(call.name)
    if (!tool) return { content: `There is no tool named ${call.name}.`, isError: true }
    try {
      return await tool.run(call.arguments, this.#toolContext(call))
    } catch (err) {
      if (this.#interrupt.signal.aborted) return { content: 'Interrupted by the user before the tool finished.', isError: true }
      return { content: `Tool ${call.name} failed: ${(err as Error).message}`, isError: true }
    }
  }

  async #recoverTool(call: ToolCall): Promise<ToolResult> {
    const tool = this.opts.tools.get(call.name)
    try {
      const known = tool?.recover ? await tool.recover(call.arguments, this.#toolContext(call)) : null
      return known ?? { content: UNKNOWN_OUTCOME, isError: true }
    } catch (err) {
      return { content: `${UNKNOWN_OUTCOME} (${(err as Error).message})`, isError: true }
    }
  }

  async #streamStepWithRetries(turnId: string, resolved: ResolvedModel): Promise<StreamedStep> {
    let compactedForWindow = false
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#streamStep(turnId, resolved)
      } catch (raw) {
        if (this.#stopped) throw raw
        const err = raw instanceof ProviderError ? raw : classifyProviderError(raw)
        if (err.kind === 'context_window_exceeded' && !compactedForWindow) {
          compactedForWindow = true
          await this.#compact(false, resolved)
          continue
        }
        if (!err.retryable || attempt > this.opts.maxRetries)
          throw new TurnFailure(err.kind, attempt > this.opts.maxRetries ? `${err.message} (gave up after ${attempt} attempts)` : err.message)
        const backoff = Math.min(this.opts.retryBaseMs * 2 ** (attempt - 1), this.opts.retryMaxMs)
        const delayMs = Math.min(Math.max(backoff, err.retryAfterMs ?? 0), this.opts.retryMaxMs)
        await this.session.append([{ type: 'RetryScheduled', data: { turnId, attempt, delayMs, errorKind: err.kind, message: err.message } }])
        this.opts.publish(this.chatId, {
          kind: 'RetryCountdown',
          turnId,
          attempt,
          delayMs,
          retryAt: new Date(Date.now() + delayMs).toISOString(),
          errorKind: err.kind,
          message: err.message,
        })
        await sleep(delayMs, this.#interrupt.signal)
        if (this.#interrupt.signal.aborted) return new StepAccumulator(turnId).result(true)
      }
    }
  }

  async #streamStep(turnId: string, resolved: ResolvedModel): Promise<StreamedStep> {
    const config = await this.opts.config.current()
    const tools = this.opts.tools.available(this.session.state, config.disabledTools)
    const step = new StepAccumulator(turnId)
    try {
      const stream = resolved.client.stream({
        model: resolved.model.modelName,
        system: await this.opts.config.systemPrompt(config),
        messages: await buildModelContext(this.session.events, this.opts.loadAttachment),
        tools: this.opts.tools.definitions(tools),
        maxOutputTokens: resolved.model.maxOutputTokens,
        signal: this.#interrupt.signal,
      })
      for await (const ev of stream) {
        const item = step.apply(ev)
        if (item) this.opts.publish(this.chatId, item)
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

  async #compact(manual: boolean, resolved?: ResolvedModel): Promise<void> {
    const through = this.session.revision
    let result: Awaited<ReturnType<typeof summarize>>
    try {
      const model = resolved ?? (await this.opts.config.resolveModel(this.session.state.modelId))
      result = await summarize(model, await buildModelContext(this.session.events, this.opts.loadAttachment), this.session.events, this.#interrupt.signal)
    } catch (err) {
      // An automatic compaction that fails lets the step go on (the provider may still take it);
      // a requested one is dropped with the reason, so the chat does not wait for it forever.
      if (!manual || this.#stopped) return
      const failure = err instanceof ProviderError ? err : err instanceof CommandError ? null : classifyProviderError(err)
      await this.session.append([
        { type: 'CompactionFailed', data: { errorKind: failure?.kind ?? 'config', message: (err as Error).message } },
      ])
      return
    }
    await this.session.append([
      {
        type: 'ContextCompacted',
        data: { summary: result.summary, throughRevision: Number(through), tokensBefore: result.tokensBefore, tokensAfter: result.tokensAfter, manual },
      },
    ])
  }

  /** After the first exchange, a short generated title replaces the default one. */
  async #maybeTitle(resolved: ResolvedModel): Promise<void> {
    const s = this.session.state
    if (s.title !== DEFAULT_TITLE || s.userMessages !== 1) return
    try {
      const first = (this.session.events as Chat[]).find((e) => e.type === 'UserMessagePosted')
      const prompt = first?.type === 'UserMessagePosted' ? first.data.parts.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('\n') : ''
      if (!prompt) return
      let title = ''
      for await (const ev of resolved.client.stream({
        model: resolved.model.modelName,
        system: 'Write a title of at most six words for a chat that starts with the user message below. Answer with the title only.',
        messages: [{ role: 'user', parts: [{ type: 'text', text: prompt.slice(0, 4000) }] }],
        tools: [],
        maxOutputTokens: 30,
      }))
        if (ev.type === 'text_delta') title += ev.text
      title = title.trim().replace(/^["']|["']$/g, '').slice(0, 80)
      if (title) await this.session.append([{ type: 'ChatRenamed', data: { title, generated: true } }])
    } catch (err) {
      this.opts.log(`title for chat ${this.chatId} not generated: ${(err as Error).message}`)
    }
  }
}
