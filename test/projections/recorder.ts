// A small projection for the engine's tests: it records every `Tick` it applies, in apply order.
// No vitest import, so the kill-test fixture (a plain child process) can use it too.
import { randomUUID } from 'node:crypto'
import type { Database } from '../../src/db/database.ts'
import type { EventStore, NewEvent, StoredEvent } from '../../src/eventstore/types.ts'
import type { Projection } from '../../src/projections/types.ts'

export interface RecorderOptions {
  /** Called before each event is applied; throw to fail the handler. */
  before?: (event: StoredEvent) => void | Promise<void>
}

export async function createRecorderTable(db: Database, table: string): Promise<void> {
  await db.query(
    `create table ${table} (
       seq serial primary key,
       event_id uuid not null,
       stream text not null,
       revision bigint not null,
       i integer not null
     )`,
  )
}

/** Appends `n` to the table for each Tick; no unique constraint, so a double apply shows as a duplicate row. */
export function recorderProjection(table: string, opts: RecorderOptions = {}): Projection {
  return {
    name: `recorder_${table}`,
    eventTypes: ['Tick'],
    tables: [table],
    async handle(tx, event) {
      await opts.before?.(event)
      const { i } = event.data as { i: number }
      await tx.query(`insert into ${table} (event_id, stream, revision, i) values ($1, $2, $3, $4)`, [
        event.id,
        event.stream,
        event.revision.toString(),
        i,
      ])
    },
  }
}

export interface RecordedRow {
  seq: number
  event_id: string
  stream: string
  revision: string
  i: number
}

export async function recordedRows(db: Database, table: string): Promise<RecordedRow[]> {
  return db.query<RecordedRow>(`select seq, event_id::text as event_id, stream, revision::text as revision, i from ${table} order by seq`)
}

export function tick(i: number): NewEvent {
  return { id: randomUUID(), type: 'Tick', data: { i }, metadata: { actor: { kind: 'system', id: 'projection-test' } } }
}

export function other(i: number): NewEvent {
  return { id: randomUUID(), type: 'Other', data: { i }, metadata: { actor: { kind: 'system', id: 'projection-test' } } }
}

/** Appends `count` Ticks spread over `streams` streams, one append each. */
export async function appendTicks(store: EventStore, count: number, opts: { streams?: number; from?: number } = {}) {
  const streams = opts.streams ?? 3
  const from = opts.from ?? 0
  let last
  for (let i = from; i < from + count; i++) last = await store.appendToStream(`tick-${i % streams}`, [tick(i)])
  return last!
}

/** The Ticks of the whole log in global order, as the projection should see them. */
export async function ticksInLogOrder(store: EventStore) {
  const page = await store.readAll({ filter: { eventTypes: ['Tick'] } })
  return page.events
}

export async function checkpointRow(db: Database, name: string): Promise<string | undefined> {
  const rows = await db.query<{ checkpoint: string }>('select checkpoint from projection_checkpoints where name = $1', [name])
  return rows[0]?.checkpoint
}

/**
 * Waits until a reader of the whole log can see `checkpoint`. On a shared PostgreSQL server a
 * transaction running in another database holds the visible head back (the xid horizon is
 * cluster-wide), so tests that count on batch boundaries wait for this first.
 */
export async function waitUntilVisible(store: EventStore, checkpoint: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await store.headCheckpoint()) < checkpoint) {
    if (Date.now() > deadline) throw new Error(`checkpoint ${checkpoint} not visible to log readers within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
