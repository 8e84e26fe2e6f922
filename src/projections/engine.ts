import type { Database } from '../db/database.ts'
import { compareCheckpoints } from '../eventstore/index.ts'
import { EAGER_POLL_MS, EAGER_POLLS } from '../eventstore/postgres/subscription.ts'
import type { AppendWatch, Checkpoint, EventStore } from '../eventstore/types.ts'
import {
  createProjectionBatch,
  ProjectionHandlerError,
  ProjectionTimeoutError,
  UnknownProjectionError,
  type AppliedListener,
  type Projection,
  type ProjectionEngine,
  type ProjectionEngineOptions,
  type ProjectionStatus,
} from './types.ts'

const DEFAULT_BATCH_SIZE = 500
/** Read-model lag a steady stream of appends may see, traded for one transaction per batch. */
const DEFAULT_BATCH_DELAY_MS = 50
const DEFAULT_WAIT_MS = 10_000
const RETRY_MIN_MS = 200
const RETRY_MAX_MS = 10_000
/** `status()` counts at most this many unapplied events per projection. */
export const LAG_COUNT_CAP = 10_000

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/

export function createProjectionEngine(opts: ProjectionEngineOptions): ProjectionEngine {
  const { db, store } = opts
  const log = opts.log ?? (() => {})
  const listeners = new Set<AppliedListener>()
  const names = opts.projections.map((p) => p.name)
  if (new Set(names).size !== names.length) throw new Error(`projection names must be unique: ${names.join(', ')}`)
  for (const p of opts.projections) {
    for (const table of p.tables) {
      if (!IDENTIFIER.test(table)) throw new Error(`projection ${p.name}: table name ${JSON.stringify(table)} is not a plain identifier`)
    }
  }
  const deps: RunnerDeps = {
    db,
    store,
    batchSize: opts.batchSize ?? DEFAULT_BATCH_SIZE,
    batchDelayMs: opts.batchDelayMs ?? DEFAULT_BATCH_DELAY_MS,
    pollMs: opts.pollIntervalMs ?? (db.kind === 'pglite' ? 250 : 1000),
    visibleLate: true,
    log,
    emit(projection, events) {
      for (const listener of listeners) {
        try {
          listener(projection, events)
        } catch (err) {
          log(`projection ${projection}: an onApplied listener threw: ${messageOf(err)}`)
        }
      }
    },
  }
  const runners = new Map(opts.projections.map((p) => [p.name, new ProjectionRunner(p, deps)]))
  let loops: Promise<void>[] | null = null
  let watch: AppendWatch | null = null
  let rowsReady: Promise<void> | null = null

  function runner(name: string): ProjectionRunner {
    const found = runners.get(name)
    if (!found) throw new UnknownProjectionError(name, names)
    return found
  }

  /** Every projection gets its checkpoint row once, so batches can lock it `for update`. */
  function ensureRows(): Promise<void> {
    rowsReady ??= (async () => {
      for (const name of names) {
        await db.query('insert into projection_checkpoints (name) values ($1) on conflict (name) do nothing', [name])
      }
    })().catch((err) => {
      rowsReady = null
      throw err
    })
    return rowsReady
  }

  async function loadCheckpoints(): Promise<Map<string, { checkpoint: string; error: string | null }>> {
    await ensureRows()
    const rows = await db.query<{ name: string; checkpoint: string; last_error: string | null }>(
      'select name, checkpoint, last_error from projection_checkpoints',
    )
    return new Map(rows.map((r) => [r.name, { checkpoint: r.checkpoint, error: r.last_error }]))
  }

  return {
    async start() {
      if (loops) return
      const saved = await loadCheckpoints()
      for (const r of runners.values()) r.reset(saved.get(r.projection.name)?.checkpoint ?? '')
      try {
        // Appends by any process sharing the log: NOTIFY on PostgreSQL (this process's own at the
        // append, with their types), a `$all` subscription on EventStoreDB.
        watch = await store.watchAppends((_streams, types) => {
          for (const r of runners.values()) if (!types || types.some((t) => r.projection.eventTypes.includes(t))) r.wake()
        })
        deps.visibleLate = watch.visibleLate
      } catch (err) {
        log(`projections: watching the log for appends failed, polling only: ${messageOf(err)}`)
      }
      loops = [...runners.values()].map((r) => r.run())
      log(`projections: started ${names.join(', ') || '(none)'}`)
    },

    async stop() {
      if (!loops) return
      for (const r of runners.values()) r.stop()
      await Promise.all(loops)
      loops = null
      await watch?.stop().catch(() => {})
      watch = null
    },

    async waitForPosition(projection, checkpoint, timeoutMs = DEFAULT_WAIT_MS) {
      await runner(projection).waitFor(checkpoint, timeoutMs)
    },

    async waitForAll(checkpoint, timeoutMs = DEFAULT_WAIT_MS) {
      await Promise.all([...runners.values()].map((r) => r.waitFor(checkpoint, timeoutMs)))
    },

    async status() {
      const saved = await loadCheckpoints()
      const head = await store.headCheckpoint()
      const result: ProjectionStatus[] = []
      for (const r of runners.values()) {
        const row = saved.get(r.projection.name)
        const checkpoint = row?.checkpoint ?? ''
        const lag = compareCheckpoints(checkpoint, head) >= 0 ? 0 : await r.countAfter(checkpoint)
        const error = row?.error ?? r.error
        result.push({ name: r.projection.name, checkpoint, lag, ...(error ? { error } : {}) })
      }
      return result
    },

    async rebuild(name) {
      await ensureRows()
      const targets = name === undefined ? [...runners.values()] : [runner(name)]
      for (const r of targets) {
        await r.truncate()
        log(`projection ${r.projection.name}: truncated, replaying from the beginning`)
        await r.catchUp()
        log(`projection ${r.projection.name}: rebuilt to ${JSON.stringify(r.checkpoint)}`)
      }
    },

    onApplied(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}

interface RunnerDeps {
  db: Database
  store: EventStore
  batchSize: number
  /** How long a caught-up projection lets appends gather before its next read (0: none). */
  batchDelayMs: number
  pollMs: number
  /** The store's `AppendWatch.visibleLate`; true until a watch says otherwise. */
  visibleLate: boolean
  log: (line: string) => void
  emit: AppliedListener
}

interface Waiter {
  checkpoint: Checkpoint
  resolve(): void
}

/** One projection's loop. Its steps run one at a time (the loop, rebuild and catch-up share them). */
class ProjectionRunner {
  /** The checkpoint this process last saw committed. */
  checkpoint: Checkpoint = ''
  error: string | undefined
  #waiters = new Set<Waiter>()
  #exclusive: Promise<unknown> = Promise.resolve()
  #stopped = false
  #woken = false
  #eagerPolls = 0
  #interrupt: (() => void) | null = null
  /** Whether the last read filled a whole batch (more may be waiting right behind it). */
  #lastPageFull = false

  constructor(
    readonly projection: Projection,
    private readonly deps: RunnerDeps,
  ) {}

  reset(checkpoint: Checkpoint) {
    this.checkpoint = checkpoint
    this.#stopped = false
  }

  async run(): Promise<void> {
    let retryMs = RETRY_MIN_MS
    while (!this.#stopped) {
      this.#woken = false
      try {
        const moved = await this.step()
        retryMs = RETRY_MIN_MS
        if (moved && !this.#lastPageFull && this.#waiters.size === 0 && this.deps.batchDelayMs > 0) {
          // Caught up, and nobody waits for this read model: let the next appends gather for a
          // moment, so a steady stream of them costs one transaction per batch, not per append.
          // Every projection wakes on the same tick, so their reads are one (sharedReadAll).
          const tick = this.projection.batchDelayMs ?? this.deps.batchDelayMs
          await this.#sleep(tick - (Date.now() % tick), 'waiters')
        } else if (!moved) {
          const eager = this.#eagerPolls > 0 || this.#waiters.size > 0
          if (this.#eagerPolls > 0) this.#eagerPolls--
          await this.#sleep(eager ? Math.min(EAGER_POLL_MS, this.deps.pollMs) : this.deps.pollMs, true)
          // Woken by an append: a projection that declared it tolerates lag (its own batchDelayMs)
          // and that nobody waits for reads on its tick, out of the way of the read models a
          // mutation's answer waits for (they would share the append's moment otherwise).
          const tick = this.projection.batchDelayMs
          if (tick && this.#woken && this.#waiters.size === 0) await this.#sleep(tick - (Date.now() % tick), 'waiters')
        }
      } catch (err) {
        await this.#recordError(err)
        await this.#sleep(retryMs, false)
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS)
      }
    }
  }

  stop() {
    this.#stopped = true
    this.#interrupt?.()
  }

  /**
   * An append or a waiter: look for events now instead of at the next poll, and, when the store's
   * appends may not be visible at once (`visibleLate`), again soon after a read that found nothing.
   */
  wake() {
    this.#woken = true
    if (this.deps.visibleLate) this.#eagerPolls = EAGER_POLLS
    this.#interrupt?.()
  }

  /** Reads one batch after the checkpoint and commits it. True when the checkpoint moved. */
  step(): Promise<boolean> {
    return this.#serialized(() => this.#step())
  }

  async catchUp(): Promise<void> {
    while (await this.step()) {}
  }

  truncate(): Promise<void> {
    const { name, tables } = this.projection
    return this.#serialized(async () => {
      await this.deps.db.transaction(async (tx) => {
        await tx.query('select checkpoint from projection_checkpoints where name = $1 for update', [name])
        if (tables.length) await tx.query(`truncate table ${tables.join(', ')} restart identity`)
        await tx.query(
          "update projection_checkpoints set checkpoint = '', last_error = null, updated_at = now() where name = $1",
          [name],
        )
      })
      this.error = undefined
      this.#advance('')
    })
  }

  async countAfter(checkpoint: Checkpoint): Promise<number> {
    const page = await this.deps.store.readAll({
      ...(checkpoint ? { after: checkpoint } : {}),
      maxCount: LAG_COUNT_CAP,
      filter: { eventTypes: [...this.projection.eventTypes] },
    })
    return page.events.length
  }

  waitFor(checkpoint: Checkpoint, timeoutMs: number): Promise<void> {
    if (compareCheckpoints(this.checkpoint, checkpoint) >= 0) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        checkpoint,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter)
        reject(new ProjectionTimeoutError(this.projection.name, checkpoint, this.checkpoint, timeoutMs, this.error))
      }, timeoutMs)
      this.#waiters.add(waiter)
      this.wake()
    })
  }

  async #step(): Promise<boolean> {
    const { db, store, batchSize } = this.deps
    const { name } = this.projection
    const from = this.checkpoint
    const page = await store.readAll({
      ...(from ? { after: from } : {}),
      maxCount: batchSize,
      filter: { eventTypes: [...this.projection.eventTypes] },
    })
    this.#lastPageFull = page.atHead === undefined ? page.events.length >= batchSize : !page.atHead
    if (page.events.length === 0) {
      if (compareCheckpoints(page.checkpoint, from) <= 0) return false
      // Nothing of this projection's types: move on in memory only. Re-reading these after a
      // restart is harmless, and it spares a transaction per projection on every append.
      this.#advance(page.checkpoint)
      return true
    }

    const committed = await db.transaction(async (tx) => {
      // The checkpoint moves first, in the batch's transaction, on the condition that it is still
      // where this batch read from: its row lock makes processes sharing one database take turns,
      // and the one that waited (or a rebuild moved) drops its batch instead of applying it twice.
      // A read model is rebuilt from the log: its commit need not wait for a WAL flush. A crash
      // loses the last batches and their checkpoint together, and they are applied again.
      const moved = await tx.query(
        `update projection_checkpoints set checkpoint = $2, last_error = null, updated_at = now()
         where name = $1 and checkpoint = $3
         returning set_config('synchronous_commit', 'off', true)`,
        [name, page.checkpoint, from],
      )
      if (!moved.length) {
        const [row] = await tx.query<{ checkpoint: string }>('select checkpoint from projection_checkpoints where name = $1', [name])
        if (!row) await tx.query('insert into projection_checkpoints (name) values ($1) on conflict (name) do nothing', [name])
        return { movedTo: row?.checkpoint ?? '' }
      }
      const batch = createProjectionBatch()
      for (const event of page.events) {
        try {
          await this.projection.handle(tx, event, batch)
        } catch (err) {
          throw new ProjectionHandlerError(name, event, err)
        }
      }
      try {
        await batch.flush()
      } catch (err) {
        throw new ProjectionHandlerError(name, page.events[page.events.length - 1]!, err)
      }
      return null
    })

    if (committed) {
      // Another process (or a rebuild) moved it: continue from there.
      this.#advance(committed.movedTo)
      return true
    }
    this.error = undefined
    this.#advance(page.checkpoint)
    if (page.events.length) this.deps.emit(name, page.events)
    return true
  }

  #advance(checkpoint: Checkpoint) {
    this.checkpoint = checkpoint
    for (const waiter of this.#waiters) {
      if (compareCheckpoints(checkpoint, waiter.checkpoint) >= 0) {
        this.#waiters.delete(waiter)
        waiter.resolve()
      }
    }
  }

  async #recordError(err: unknown) {
    const message = messageOf(err)
    this.error = message
    this.deps.log(`projection ${this.projection.name}: ${message} (retrying)`)
    try {
      await this.deps.db.query('update projection_checkpoints set last_error = $2, updated_at = now() where name = $1', [
        this.projection.name,
        message,
      ])
    } catch {
      // The database itself may be what failed; the in-memory error still shows in status().
    }
  }

  #serialized<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#exclusive.then(fn)
    this.#exclusive = result.catch(() => {})
    return result
  }

  /** Waits `ms`, or less when stopped, or when woken (`true`), or when someone waits for a checkpoint (`'waiters'`). */
  #sleep(ms: number, wakeable: boolean | 'waiters'): Promise<void> {
    const hurry = () => (wakeable === 'waiters' ? this.#waiters.size > 0 : wakeable && this.#woken)
    if (this.#stopped || hurry()) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#interrupt = null
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#interrupt = () => {
        if (this.#stopped || hurry()) done()
      }
    })
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
