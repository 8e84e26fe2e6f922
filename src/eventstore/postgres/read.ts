import type { Sql } from '../../db/database.ts'
import {
  StreamNotFoundError,
  type Checkpoint,
  type ReadAllOptions,
  type ReadAllResult,
  type ReadStreamOptions,
  type StoredEvent,
  type StreamInfo,
} from '../types.ts'
import { formatCheckpoint, parseCheckpoint } from './checkpoint.ts'
import { eventColumns, toGlobalEvent, toStoredEvent, type EventRow } from './rows.ts'

/**
 * The segments stream $1 reads as: its own events from its cut + 1, then each ancestor's stored
 * events up to the lowest cut below it. A fork of a fork chains; nothing is copied.
 */
export const chainSql = `with recursive chain (stream, lo, hi, fork_of_stream, fork_of_revision) as (
    select stream, coalesce(fork_of_revision + 1, 0), null::bigint, fork_of_stream, fork_of_revision
    from streams where stream = $1
  union all
    select s.stream, coalesce(s.fork_of_revision + 1, 0), least(c.hi, c.fork_of_revision), s.fork_of_stream, s.fork_of_revision
    from streams s join chain c on s.stream = c.fork_of_stream
)`

export async function streamInfo(sql: Sql, stream: string): Promise<StreamInfo | null> {
  const rows = await sql.query<{ revision: string; fork_of_stream: string | null; fork_of_revision: string | null }>(
    `select revision::text as revision, fork_of_stream, fork_of_revision::text as fork_of_revision
     from streams where stream = $1`,
    [stream],
  )
  const row = rows[0]
  if (!row) return null
  const info: StreamInfo = { stream, revision: BigInt(row.revision) }
  if (row.fork_of_stream !== null && row.fork_of_revision !== null) {
    info.forkOf = { stream: row.fork_of_stream, revision: BigInt(row.fork_of_revision) }
  }
  return info
}

export async function readStream(sql: Sql, stream: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
  const info = await streamInfo(sql, stream)
  if (!info) throw new StreamNotFoundError(stream)
  const backwards = options.direction === 'backwards'
  const from = options.fromRevision ?? (backwards ? 'end' : 'start')
  const fromRevision = from === 'start' ? 0n : from === 'end' ? (backwards ? info.revision : info.revision + 1n) : from
  if (options.maxCount !== undefined && options.maxCount <= 0) return []
  // Each segment of the chain is read through the (stream, revision) index with its own bounds and
  // limit, so a page, or the last event, costs the same at revision 10 as at 100,000.
  const [lower, upper] = backwards
    ? ['c.lo', 'least(coalesce(c.hi, $2::bigint), $2::bigint)']
    : ['greatest(c.lo, $2::bigint)', 'coalesce(c.hi, 9223372036854775807)']
  const order = backwards ? 'desc' : 'asc'
  const rows = await sql.query<EventRow>(
    `${chainSql}
     select ${eventColumns('e')} from chain c
     cross join lateral (
       select * from events e
       where e.stream = c.stream and e.revision >= ${lower} and e.revision <= ${upper}
       order by e.revision ${order}
       limit $3
     ) e
     order by e.revision ${order}
     limit $3`,
    [stream, fromRevision.toString(), options.maxCount ?? null],
  )
  return rows.map(toStoredEvent)
}

/**
 * Events after a checkpoint in `(xid, position)` order, taking only rows of transactions older
 * than every running one: a transaction that commits late still sorts after what was returned.
 * The page and the head come from one statement, so they share one snapshot.
 */
export async function readAll(sql: Sql, options: ReadAllOptions = {}): Promise<ReadAllResult> {
  const after = parseCheckpoint(options.after)
  const filter = options.filter ?? {}
  const limit = options.maxCount
  if (limit !== undefined && limit <= 0) return { events: [], checkpoint: options.after ?? '' }
  const rows = await sql.query<Partial<EventRow> & { head_xid: string; head_position: string }>(
    `with page as (
       select * from events e
       where e.xid < pg_snapshot_xmin(pg_current_snapshot())
         and (e.xid, e.position) > ($1::xid8, $2::bigint)
         and ($3::text is null or starts_with(e.stream, $3::text))
         and ($4::jsonb is null or e.type in (select jsonb_array_elements_text($4::jsonb)))
       order by e.xid, e.position
       limit $5
     ), head as (
       select xid, position from events
       where xid < pg_snapshot_xmin(pg_current_snapshot())
       order by events.xid desc, events.position desc
       limit 1
     )
     select h.xid::text as head_xid, h.position::text as head_position, ${eventColumns('p')}
     from head h left join page p on true
     order by p.xid, p.position`,
    [
      after.xid,
      after.position,
      filter.streamPrefix ?? null,
      filter.eventTypes ? JSON.stringify(filter.eventTypes) : null,
      limit ?? null,
    ],
  )
  const events = rows.filter((r) => r.position != null).map((r) => toGlobalEvent(r as EventRow))
  let checkpoint: Checkpoint = options.after ?? ''
  const full = limit !== undefined && events.length === limit
  if (full) {
    checkpoint = events[events.length - 1]!.checkpoint
  } else if (rows[0]) {
    // Not a full page: everything visible up to the head was scanned, filtered-out rows too.
    const head = formatCheckpoint(rows[0].head_xid, rows[0].head_position)
    if (head > checkpoint) checkpoint = head
  }
  return { events, checkpoint, atHead: !full }
}

export async function headCheckpoint(sql: Sql): Promise<Checkpoint> {
  const rows = await sql.query<{ xid: string; position: string }>(
    // Qualified: a bare name here would order by the text aliases ('9' after '10').
    `select xid::text as xid, position::text as position from events
     where xid < pg_snapshot_xmin(pg_current_snapshot())
     order by events.xid desc, events.position desc
     limit 1`,
  )
  return rows[0] ? formatCheckpoint(rows[0].xid, rows[0].position) : ''
}
