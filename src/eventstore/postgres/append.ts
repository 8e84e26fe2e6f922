import type { Sql } from '../../db/database.ts'
import { canonicalJson, eventHash } from '../hash.ts'
import {
  ForkRevisionOutOfRangeError,
  WrongExpectedRevisionError,
  type AppendOptions,
  type AppendResult,
  type ExpectedRevision,
  type NewEvent,
} from '../types.ts'
import { formatCheckpoint } from './checkpoint.ts'
import { chainSql } from './read.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface PreparedEvent {
  id: string
  type: string
  data: unknown
  metadata: unknown
}

export interface StreamState {
  revision: bigint
  hash: string
}

/** An append's result and the stream's head after it. */
export interface Appended {
  result: AppendResult
  head: StreamState
}

/** Validates and normalizes events before the transaction: ids lower-case, data as JSON gives it back. */
export function prepareEvents(stream: string, events: NewEvent[]): PreparedEvent[] {
  if (events.length === 0) throw new RangeError(`appendToStream(${stream}): nothing to append; pass at least one event`)
  const ids = new Set<string>()
  return events.map((event) => {
    if (!UUID.test(event.id)) throw new TypeError(`event id ${JSON.stringify(event.id)} is not a UUID`)
    const id = event.id.toLowerCase()
    if (ids.has(id)) throw new TypeError(`event id ${id} appears twice in one append to ${stream}`)
    ids.add(id)
    return {
      id,
      type: event.type,
      data: JSON.parse(canonicalJson(event.data)),
      metadata: JSON.parse(canonicalJson(event.metadata)),
    }
  })
}

/**
 * Appends inside `tx`. The stream row is locked (or created with insert … on conflict) before
 * any check, so expected revisions, idempotent retries and forks are decided atomically.
 */
export async function appendInTransaction(
  tx: Sql,
  stream: string,
  events: PreparedEvent[],
  options: AppendOptions,
): Promise<Appended> {
  const expected: ExpectedRevision = options.expectedRevision ?? 'any'
  const ids = JSON.stringify(events.map((e) => e.id))

  let locked = await lockStream(tx, stream, ids)
  if (!locked) {
    if (expected === 'exists' || (typeof expected === 'bigint' && expected >= 0n)) {
      throw new WrongExpectedRevisionError(stream, expected, 'no_stream')
    }
    const created = await createStream(tx, stream, options.forkOf)
    if (created) return insertEvents(tx, stream, created, events)
    // Another transaction created it first and has committed: decide against its state.
    locked = await lockStream(tx, stream, ids)
    if (!locked) throw new Error(`stream ${stream} vanished while appending`)
  }

  if (locked.alreadyStored > 0) {
    if (locked.alreadyStored === events.length) return { result: await originalResult(tx, stream, ids), head: locked }
    throw new WrongExpectedRevisionError(stream, expected, locked.revision)
  }
  if (options.forkOf) throw new WrongExpectedRevisionError(stream, 'no_stream', locked.revision)
  if (expected === 'no_stream' || (typeof expected === 'bigint' && expected !== locked.revision)) {
    throw new WrongExpectedRevisionError(stream, expected, locked.revision)
  }
  return insertEvents(tx, stream, locked, events)
}

async function lockStream(
  tx: Sql,
  stream: string,
  ids: string,
): Promise<(StreamState & { alreadyStored: number }) | null> {
  const rows = await tx.query<{ revision: string; hash: string; already_stored: number }>(
    `select s.revision::text as revision, s.hash,
       (select count(*) from events e
         where e.stream = s.stream and e.id in (select value::uuid from jsonb_array_elements_text($2::jsonb)))::int
         as already_stored
     from streams s where s.stream = $1 for update of s`,
    [stream, ids],
  )
  const row = rows[0]
  return row ? { revision: BigInt(row.revision), hash: row.hash, alreadyStored: Number(row.already_stored) } : null
}

/** Creates the stream row; null when a concurrent append created it first. */
async function createStream(tx: Sql, stream: string, forkOf: AppendOptions['forkOf']): Promise<StreamState | null> {
  let start: StreamState = { revision: -1n, hash: '' }
  if (forkOf) {
    const source = await tx.query<{ revision: string }>('select revision::text as revision from streams where stream = $1', [
      forkOf.stream,
    ])
    const last = source[0] ? BigInt(source[0].revision) : -1n
    if (forkOf.revision < 0n || forkOf.revision > last) {
      throw new ForkRevisionOutOfRangeError(forkOf.stream, forkOf.revision, last)
    }
    start = { revision: forkOf.revision, hash: await hashAt(tx, forkOf.stream, forkOf.revision) }
  }
  const rows = await tx.query(
    `insert into streams (stream, revision, fork_of_stream, fork_of_revision, hash)
     values ($1, $2, $3, $4, $5) on conflict (stream) do nothing returning stream`,
    [stream, start.revision.toString(), forkOf?.stream ?? null, forkOf?.revision.toString() ?? null, start.hash],
  )
  return rows.length ? start : null
}

/** The hash of `stream`'s event at `revision`, following the fork chain to where it is stored. */
async function hashAt(tx: Sql, stream: string, revision: bigint): Promise<string> {
  const rows = await tx.query<{ hash: string }>(
    `${chainSql}
     select e.hash from chain c join events e
       on e.stream = c.stream and e.revision >= c.lo and (c.hi is null or e.revision <= c.hi)
     where e.revision = $2`,
    [stream, revision.toString()],
  )
  if (!rows[0]) throw new Error(`stream ${stream} has no stored event at revision ${revision}`)
  return rows[0].hash
}

/** Revisions and the hash chain for events appended after `state`. */
function chain(stream: string, state: StreamState, events: PreparedEvent[]) {
  let previous = state.hash
  const rows = events.map((event, i) => {
    const revision = state.revision + 1n + BigInt(i)
    previous = eventHash(previous, { ...event, revision, stream })
    return { ...event, revision: revision.toString(), hash: previous }
  })
  return { rows: JSON.stringify(rows), head: { revision: state.revision + BigInt(events.length), hash: previous } }
}

async function insertEvents(tx: Sql, stream: string, state: StreamState, events: PreparedEvent[]): Promise<Appended> {
  const { rows, head } = chain(stream, state, events)
  const result = await tx.query<{ revision: string; position: string; xid: string }>(
    `with inserted as (
       insert into events (stream, revision, id, type, data, metadata, hash)
       select $1, (e->>'revision')::bigint, (e->>'id')::uuid, e->>'type', e->'data', e->'metadata', e->>'hash'
       from jsonb_array_elements($2::jsonb) with ordinality as t(e, n)
       order by n
       returning revision, position, xid
     ), moved as (
       update streams set revision = $3, hash = $4 where stream = $1
     )
     select i.revision::text as revision, i.position::text as position, i.xid::text as xid
     from inserted i
     order by i.revision desc limit 1`,
    [stream, rows, head.revision.toString(), head.hash],
  )
  return { result: toResult(result[0]!), head }
}

/**
 * The append as one statement, for when this process knows the stream's head (it appended last,
 * or the stream is new): lock, check, insert, move the head and notify without BEGIN and COMMIT
 * round trips. Returns null when the stream is not as assumed; the caller then takes the full path.
 */
export async function appendInOneStatement(
  sql: Sql,
  stream: string,
  events: PreparedEvent[],
  assumed: StreamState | 'new',
): Promise<Appended | null> {
  const { rows, head } = chain(stream, assumed === 'new' ? { revision: -1n, hash: '' } : assumed, events)
  const ids = JSON.stringify(events.map((e) => e.id))
  const decided =
    assumed === 'new'
      ? `created as (
           insert into streams (stream, revision, hash) values ($1, $3, $4) on conflict (stream) do nothing returning stream
         ), ok as (select 1 from created)`
      : `head as (
           select revision, hash from streams where stream = $1 for update
         ), ok as (
           select 1 from head where revision = $5::bigint and hash = $6
             and not exists (select 1 from events e where e.stream = $1
               and e.id in (select value::uuid from jsonb_array_elements_text($7::jsonb)))
         )`
  const params: unknown[] = [stream, rows, head.revision.toString(), head.hash]
  if (assumed !== 'new') params.push(assumed.revision.toString(), assumed.hash, ids)
  try {
    const result = await sql.query<{ revision: string; position: string; xid: string }>(
      `with ${decided}, inserted as (
         insert into events (stream, revision, id, type, data, metadata, hash)
         select $1, (e->>'revision')::bigint, (e->>'id')::uuid, e->>'type', e->'data', e->'metadata', e->>'hash'
         from jsonb_array_elements($2::jsonb) with ordinality as t(e, n)
         where exists (select 1 from ok)
         order by n
         returning revision, position, xid
       ), moved as (
         -- A new stream's row is inserted with its head above; this moves an existing one.
         update streams set revision = $3, hash = $4 where stream = $1 and exists (select 1 from ok)
       )
       select i.revision::text as revision, i.position::text as position, i.xid::text as xid
       from inserted i
       order by i.revision desc limit 1`,
      params,
    )
    return result[0] ? { result: toResult(result[0]), head } : null
  } catch (error) {
    // A unique violation means the assumption was stale in a way the check missed: decide again.
    if ((error as { code?: string }).code === '23505') return null
    throw error
  }
}

async function originalResult(tx: Sql, stream: string, ids: string): Promise<AppendResult> {
  const rows = await tx.query<{ revision: string; position: string; xid: string }>(
    `select revision::text as revision, position::text as position, xid::text as xid from events
     where stream = $1 and id in (select value::uuid from jsonb_array_elements_text($2::jsonb))
     order by revision desc limit 1`,
    [stream, ids],
  )
  return toResult(rows[0]!)
}

function toResult(row: { revision: string; position: string; xid: string }): AppendResult {
  return {
    nextExpectedRevision: BigInt(row.revision),
    position: BigInt(row.position),
    checkpoint: formatCheckpoint(row.xid, row.position),
  }
}
