import type { Database, Sql } from '../db/database.ts'
import type { Checkpoint, EventStore, StoredEvent } from '../eventstore/types.ts'

/** An event as read from the whole log: it carries the checkpoint a reader passes with it. */
export type LoggedEvent = StoredEvent & { checkpoint: Checkpoint }

/** A read model: handlers from events to SQL on its own tables. */
export interface Projection {
  /** Unique and stable: it names the checkpoint row. */
  name: string
  /** The event types it handles (the `readAll` filter). */
  eventTypes: readonly string[]
  /** Its read-model tables, truncated on rebuild. */
  tables: readonly string[]
  /**
   * Applies one event inside the batch transaction. Use `tx`, never the outer database. The
   * engine passes a `LoggedEvent` (it carries its checkpoint); the type stays `StoredEvent` so
   * handlers can be called with events read from a stream.
   */
  handle(tx: Sql, event: StoredEvent, batch?: ProjectionBatch): Promise<void>
  /**
   * How long, once caught up, it lets appends gather before its next batch when nobody waits for
   * it (a multiple of the engine's `batchDelayMs` keeps it on the same ticks as the others, so their
   * reads stay one). A read model nobody needs within the moment (the audit log, usage totals) takes
   * fewer, larger transactions with a longer one. Default: the engine's.
   */
  batchDelayMs?: number
}

/**
 * What the handler calls of one batch transaction share: a handler may keep what it loaded
 * (the chats projection keeps each chat's row) and write it once, before the checkpoint.
 * Without one (a test applying a single event), a handler writes at once.
 */
export interface ProjectionBatch {
  /** This projection's scratch space for the transaction. */
  readonly memo: Map<string, unknown>
  /** Runs after the batch's last handler call, in order, inside the transaction. */
  beforeCommit(write: () => Promise<void>): void
}

/** A handler that works per batch; called without one (a single event), it writes at once. */
export function inBatches(apply: (tx: Sql, event: StoredEvent, batch: ProjectionBatch) => Promise<void>): Projection['handle'] {
  return async (tx, event, batch) => {
    if (batch) return apply(tx, event, batch)
    const single = createProjectionBatch()
    await apply(tx, event, single)
    await single.flush()
  }
}

/** A batch for one transaction; `flush` runs what the handlers left for the end. */
export function createProjectionBatch(): ProjectionBatch & { flush(): Promise<void> } {
  const writes: (() => Promise<void>)[] = []
  return {
    memo: new Map(),
    beforeCommit: (write) => void writes.push(write),
    async flush() {
      for (const write of writes.splice(0)) await write()
    },
  }
}

export interface ProjectionStatus {
  name: string
  checkpoint: Checkpoint
  /** Events of the projection's types between its checkpoint and the head of the log (capped). */
  lag: number
  /** The last handler failure, until a batch commits again. */
  error?: string
}

export type AppliedListener = (projection: string, events: LoggedEvent[]) => void

export interface ProjectionEngine {
  start(): Promise<void>
  stop(): Promise<void>
  /** Resolves once `projection` has committed every event up to `checkpoint`; lets a command read its own write. */
  waitForPosition(projection: string, checkpoint: Checkpoint, timeoutMs?: number): Promise<void>
  waitForAll(checkpoint: Checkpoint, timeoutMs?: number): Promise<void>
  status(): Promise<ProjectionStatus[]>
  /** Truncates the tables, resets the checkpoint to '' and replays the log up to its head. */
  rebuild(name?: string): Promise<void>
  /** Called after each committed batch that applied events. Returns an unsubscribe function. */
  onApplied(listener: AppliedListener): () => void
}

export interface ProjectionEngineOptions {
  db: Database
  store: EventStore
  projections: Projection[]
  /** Events per transaction; default 500. */
  batchSize?: number
  /** How long a caught-up projection lets appends gather before reading again; default 50 ms. */
  batchDelayMs?: number
  log?: (line: string) => void
  /** Polling fallback when no wake-up arrives (`EventStore.watchAppends`); default 250 ms on PGlite, 1 s on PostgreSQL. */
  pollIntervalMs?: number
}

export class ProjectionTimeoutError extends Error {
  readonly code = 'PROJECTION_TIMEOUT'
  constructor(
    readonly projection: string,
    readonly wanted: Checkpoint,
    readonly reached: Checkpoint,
    readonly timeoutMs: number,
    readonly lastError?: string,
  ) {
    super(
      `projection ${projection} did not reach checkpoint ${JSON.stringify(wanted)} within ${timeoutMs} ms ` +
        `(it is at ${JSON.stringify(reached)}${lastError ? `; its handler fails: ${lastError}` : ''})`,
    )
    this.name = 'ProjectionTimeoutError'
  }
}

export class UnknownProjectionError extends Error {
  readonly code = 'UNKNOWN_PROJECTION'
  constructor(
    readonly projection: string,
    readonly known: readonly string[],
  ) {
    super(`no projection named ${projection}; known: ${known.join(', ') || '(none)'}`)
    this.name = 'UnknownProjectionError'
  }
}

export class ProjectionHandlerError extends Error {
  readonly code = 'PROJECTION_HANDLER_FAILED'
  constructor(
    readonly projection: string,
    readonly event: StoredEvent,
    cause: unknown,
  ) {
    super(
      `projection ${projection} failed on ${event.type} (stream ${event.stream} revision ${event.revision}, ` +
        `position ${event.position}): ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    )
    this.name = 'ProjectionHandlerError'
  }
}
