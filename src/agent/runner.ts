import { randomUUID } from 'node:crypto'
import type { ConfigService } from '../config/service.ts'
import type { Database } from '../db/database.ts'
import type { Checkpoint, EventStore, StoredEvent, Subscription } from '../eventstore/types.ts'
import { chatIdOfStream } from '../events/chat.ts'
import type { AttachmentLoader } from './context.ts'
import { ChatDriver, type DriverOptions } from './driver.ts'
import type { EphemeralSink } from '../live/ephemeral.ts'
import { ChatLeases } from './leases.ts'
import { StaleRunnerError } from './session.ts'
import type { ToolRegistry } from './tools/registry.ts'
import { ChatSignals } from './chat-signals.ts'
import { chatDecider } from '../../commands/chat/decide.ts'
import { handleCommand } from '../../commands/handler.ts'
import { chatStream } from '../events/chat.ts'

/** What the runner hands each driver as it is (see DriverOptions). */
type DriverPassThrough = Pick<DriverOptions, 'secrets' | 'approvals' | 'saveImage' | 'publishFlushed' | 'instructions' | 'debugLogs' | 'budgets'>

export interface RunnerOptions extends DriverPassThrough {
  db: Database
  store: EventStore
  config: ConfigService
  tools: ToolRegistry
  publish: EphemeralSink
  loadAttachment: AttachmentLoader
  runnerId?: string
  /** How often to look for chats that need a turn (also woken by `wake()`). */
  pollIntervalMs?: number
  /** Lease length (DEFAULT_LEASE_TTL_MS); renewed every quarter of it. A dead runner's chats are taken over when it runs out. */
  leaseTtlMs?: number
  maxConcurrentChats?: number
  maxStepsPerTurn?: number
  maxRetries?: number
  retryBaseMs?: number
  retryMaxMs?: number
  log?: (line: string) => void
  /** Told when any chat's turn ends or it is archived, on any process (wait_agent waits on these). */
  signals?: ChatSignals
}

/**
 * A killed runner's chats are taken over this long after its last renewal. Renewing every
 * quarter of it is one UPDATE a second per process, whatever its number of chats; a process
 * that misses three renewals in a row (a stalled event loop, the database away) loses its
 * leases, and the decider refuses its moves once another runner resumed the turn.
 */
export const DEFAULT_LEASE_TTL_MS = 4_000

/** Chats remembered as settled (see AgentRunner.#settled); the oldest are forgotten first. */
const MAX_SETTLED = 10_000

/** What users append that a driver must act on at once, whichever process it came through. */
const INTERRUPTING_EVENTS = new Set(['InterruptRequested', 'ChatArchived'])
/** What the process watches the log for: interrupts for its drivers, turn ends for ChatSignals. */
const WATCHED_EVENTS = [...new Set([...INTERRUPTING_EVENTS, ...ChatSignals.TYPES])]

/** Events after which a chat may need the runner: a message to answer, a queue, a request. */
const WORK_EVENTS = new Set(['ChatCreated', 'ChatForked', 'UserMessagePosted', 'MessageQueued', 'InterruptRequested', 'QuestionAnswered', 'ToolCallApproved', 'ToolCallDenied', 'CompactionRequested', 'ChatUnarchived', 'TurnCompleted', 'TurnInterrupted', 'TurnFailed'])

/**
 * The process manager: finds chats whose status needs a turn, leases each one, and
 * drives it with a ChatDriver. Several server processes can run one each.
 */
export class AgentRunner {
  readonly runnerId: string
  readonly #leases: ChatLeases
  readonly #drivers = new Map<string, ChatDriver>()
  /**
   * Chats a driver here left needing nothing, at the revision it had folded: until the chats
   * projection has applied past it, the row's needs_runner is stale and the chat is not taken again.
   */
  readonly #settled = new Map<string, bigint>()
  readonly #driverOptions: DriverOptions
  #timer: NodeJS.Timeout | null = null
  /** A scan at the moment the first lease another runner holds on a chat needing work runs out. */
  #expiryTimer: NodeJS.Timeout | null = null
  #expiryAt = Infinity
  #interrupts: Subscription<unknown> | null = null
  #heartbeat: NodeJS.Timeout | null = null
  #scanning: Promise<void> | null = null
  #rescan = false
  #expiring = false
  #stopped = false

  get #leaseTtlMs(): number {
    return this.opts.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS
  }

  constructor(private readonly opts: RunnerOptions) {
    this.runnerId = opts.runnerId ?? randomUUID()
    this.#leases = new ChatLeases(opts.db, this.runnerId, this.#leaseTtlMs)
    const { secrets, approvals, saveImage, publishFlushed, instructions, debugLogs, budgets } = opts
    this.#driverOptions = {
      secrets,
      approvals,
      saveImage,
      publishFlushed,
      instructions,
      debugLogs,
      budgets,
      runnerId: this.runnerId,
      config: opts.config,
      tools: opts.tools,
      publish: opts.publish,
      loadAttachment: opts.loadAttachment,
      maxStepsPerTurn: opts.maxStepsPerTurn ?? 100,
      maxRetries: opts.maxRetries ?? 5,
      retryBaseMs: opts.retryBaseMs ?? 1_000,
      retryMaxMs: opts.retryMaxMs ?? 60_000,
      log: opts.log ?? (() => {}),
    }
  }

  start(): void {
    const poll = this.opts.pollIntervalMs ?? 1_000
    this.#timer = setInterval(() => {
      this.wake()
      if (this.opts.approvals) void this.#expireApprovals()
    }, poll)
    this.#heartbeat = setInterval(() => void this.#renewLeases(), this.#leaseTtlMs / 4)
    void this.#watchInterrupts()
    this.wake()
  }

  /**
   * One watch per process for interrupts and archives of the chats it drives, appended on any
   * process: the driver folds them in and aborts its stream and tools. (Appends through this
   * process reach the driver's view directly, before this.)
   */
  async #watchInterrupts(): Promise<void> {
    let after: Checkpoint | null = null
    for (let pauseMs = 100; !this.#stopped; pauseMs = Math.min(pauseMs * 2, 5_000)) {
      try {
        after ??= await this.opts.store.headCheckpoint()
        if (this.#stopped) return
        const sub: Subscription<StoredEvent & { checkpoint: Checkpoint }> = (this.#interrupts = this.opts.store.subscribeToAll({ after, filter: { streamPrefix: 'chat-', eventTypes: WATCHED_EVENTS } }))
        for await (const event of sub) {
          after = event.checkpoint
          pauseMs = 100
          const chatId = chatIdOfStream(event.stream)
          if (INTERRUPTING_EVENTS.has(event.type)) void this.#drivers.get(chatId)?.notice().catch(() => {})
          this.opts.signals?.notify(chatId)
        }
        return // closed: the runner stopped
      } catch (err) {
        // Without the watch, interrupts from other processes would go unseen: start it again where it was.
        if (this.#stopped) return
        this.opts.log?.(`runner interrupt watch failed, restarting: ${(err as Error).message}`)
        await new Promise((resolve) => setTimeout(resolve, pauseMs))
      }
    }
  }

  /** Wakes the runner when applied events can give it work (not for its own steps and tool calls). */
  noticeApplied(events: readonly { type: string }[]): void {
    if (events.some((e) => WORK_EVENTS.has(e.type))) this.wake()
  }

  /** Look for work now. */
  wake(): void {
    if (this.#stopped) return
    if (this.#scanning) {
      this.#rescan = true
      return
    }
    this.#scanning = this.#scan()
      .catch((err) => this.opts.log?.(`runner scan failed: ${(err as Error).message}`))
      .finally(() => {
        this.#scanning = null
        if (this.#rescan) {
          this.#rescan = false
          this.wake()
        }
      })
  }

  get activeChats(): string[] {
    return [...this.#drivers.keys()]
  }

  /** Approval requests nobody answered in time are denied (any process may do it; the decider denies each once). */
  async #expireApprovals(): Promise<void> {
    if (this.#expiring) return
    this.#expiring = true
    try {
      await this.#expireDue()
    } catch (err) {
      this.opts.log?.(`expiring approvals failed: ${(err as Error).message}`)
    } finally {
      this.#expiring = false
    }
  }

  async #expireDue(): Promise<void> {
    const rows = await this.opts.db.query<{ id: string }>('select id from chats where approval_expires_at <= now() and not archived limit 100')
    for (const { id } of rows) {
      const commandId = randomUUID()
      await handleCommand(this.opts.store, chatStream(id), chatDecider, { type: 'ExpireApprovals', now: Date.now() }, {
        commandId,
        metadata: { actor: { kind: 'system', id: `runner:${this.runnerId}` }, causationId: commandId },
      }).catch((err) => this.opts.log?.(`chat ${id}: expiring approvals failed: ${(err as Error).message}`))
    }
  }

  async #scan(): Promise<void> {
    // A driver parked in wait_agent holds its chat's lease but not a slot.
    const busy = [...this.#drivers.values()].filter((d) => !d.parked).length
    const capacity = (this.opts.maxConcurrentChats ?? 200) - busy
    if (capacity <= 0) return
    // needs_runner is chatNeedsRunner (src/events/chat-state.ts) as the chats projection last applied it;
    // held_ms: how long another runner's lease on the chat still runs (those chats come last).
    const rows = await this.opts.db.query<{ id: string; revision: string; held_ms: number | null }>(
      `select id, revision, held_ms from (
         select c.id, c.revision, c.updated_at,
                case when l.owner <> $2 and l.expires_at > now() then ceil(extract(epoch from l.expires_at - now()) * 1000)::int end as held_ms
           from chats c left join chat_leases l on l.chat_id = c.id
          where c.needs_runner) wanted
        order by held_ms is not null, updated_at limit $1`,
      [capacity + this.#drivers.size + this.#settled.size, this.runnerId],
    )
    let firstExpiryMs = Infinity
    for (const { id, revision, held_ms } of rows) {
      if (this.#stopped || this.#drivers.has(id)) continue
      if (held_ms !== null) {
        firstExpiryMs = Math.min(firstExpiryMs, held_ms)
        continue
      }
      const settledAt = this.#settled.get(id)
      if (settledAt !== undefined) {
        if (BigInt(revision) <= settledAt) continue
        this.#settled.delete(id)
      }
      if (!(await this.#leases.acquire(id))) continue
      this.#drive(id)
    }
    if (firstExpiryMs !== Infinity) this.#wakeAtExpiry(firstExpiryMs)
  }

  /** A dead runner's chats are taken over when its lease runs out, not at the next poll after. */
  #wakeAtExpiry(inMs: number): void {
    const at = Date.now() + inMs
    if (this.#stopped || at >= this.#expiryAt) return
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer)
    this.#expiryAt = at
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = null
      this.#expiryAt = Infinity
      this.wake()
    }, inMs + 5)
  }

  #drive(chatId: string): void {
    const driver = new ChatDriver(this.opts.store, chatId, this.#driverOptions)
    this.#drivers.set(chatId, driver)
    void driver
      .drive()
      .then(() => {
        // Left needing nothing (a stop or a failure leaves the chat to be looked at again).
        if (driver.settledAt === null) return
        this.#settled.delete(chatId)
        this.#settled.set(chatId, driver.settledAt)
        if (this.#settled.size > MAX_SETTLED) this.#settled.delete(this.#settled.keys().next().value!)
      })
      .catch((err) => {
        if (!(err instanceof StaleRunnerError)) this.opts.log?.(`chat ${chatId}: runner error: ${(err as Error).stack ?? err}`)
      })
      .finally(async () => {
        this.#drivers.delete(chatId)
        if (!this.#stopped) {
          await this.#leases.release(chatId).catch(() => {})
          // The chat may have received a message while we were finishing.
          this.wake()
        }
      })
  }

  async #renewLeases(): Promise<void> {
    try {
      const lost = await this.#leases.renew([...this.#drivers.keys()])
      for (const chatId of lost) {
        this.opts.log?.(`lost the lease on chat ${chatId}; stopping`)
        this.#drivers.get(chatId)?.stop()
      }
    } catch (err) {
      this.opts.log?.(`lease renewal failed: ${(err as Error).message}`)
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer) clearInterval(this.#timer)
    if (this.#heartbeat) clearInterval(this.#heartbeat)
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer)
    await this.#interrupts?.close()
    await this.#scanning
    for (const driver of this.#drivers.values()) driver.stop()
    for (const chatId of this.#drivers.keys()) await this.#leases.release(chatId).catch(() => {})
  }
}
