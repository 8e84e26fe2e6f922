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

/** The channel appends notify on. The payload is the stream name: a wake-up, never the data. */
export const EVENTS_CHANNEL = 'cairn_events'
// NOTIFY payloads must stay under 8000 bytes; an empty payload wakes every reader.
const MAX_PAYLOAD_BYTES = 7000

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

interface PreparedEvent {
  id: string
  type: string
  data: unknown
  metadata: unknown
}

interface StreamState {
  revision: bigint
  hash: string
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

export function notifyPayload(stream: string): string {
  return Buffer.byteLength(stream) > MAX_PAYLOAD_BYTES ? '' : stream
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
): Promise<AppendResult> {
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
    if (locked.alreadyStored === events.length) return originalResult(tx, stream, ids)
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

async function insertEvents(tx: Sql, stream: string, state: StreamState, events: PreparedEvent[]): Promise<AppendResult> {
  let previous = state.hash
  const rows = events.map((event, i) => {
    const revision = state.revision + 1n + BigInt(i)
    previous = eventHash(previous, { ...event, revision, stream })
    return { ...event, revision: revision.toString(), hash: previous }
  })
  const last = rows[rows.length - 1]!
  const result = await tx.query<{ revision: string; position: string; xid: string }>(
    `with inserted as (
       insert into events (stream, revision, id, type, data, metadata, hash)
       select $1, (e->>'revision')::bigint, (e->>'id')::uuid, e->>'type', e->'data', e->'metadata', e->>'hash'
       from jsonb_array_elements($2::jsonb) with ordinality as t(e, n)
       order by n
       returning revision, position, xid
     ), moved as (
       update streams set revision = $3, hash = $4 where stream = $1
     ), woken as (
       select pg_notify($5, $6)
     )
     select i.revision::text as revision, i.position::text as position, i.xid::text as xid
     from inserted i cross join woken
     order by i.revision desc limit 1`,
    [stream, JSON.stringify(rows), last.revision, last.hash, EVENTS_CHANNEL, notifyPayload(stream)],
  )
  return toResult(result[0]!)
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
