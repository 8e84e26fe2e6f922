import type { Sql } from '../../db/database.ts'
import {
  StreamNotFoundError,
  type Checkpoint,
  type ReadAllOptions,
  type ReadAllResult,
  type FoldEvent,
  type ReadStreamOptions,
  type StoredEvent,
  type StreamInfo,
} from '../types.ts'
import { formatCheckpoint, parseCheckpoint } from './checkpoint.ts'
import { eventColumns, foldColumns, toFoldEvent, toGlobalEvent, toStoredEvent, type EventRow } from './rows.ts'

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

/** Rows per query when reading a stream: small enough that the planner walks the index in order. */
const READ_CHUNK = 1000
/**
 * Chunk queries in flight at once, on as many pooled connections. Most of a long read is the
 * server's (turning 10,000 events' JSON into text is about two thirds of it), and the reader's
 * turning the rows into events and folding them runs beside it: with two chunks asked for, the
 * server works on the next while the reader is busy with this one, on both cores. In a
 * transaction, or on PGlite, they run one after another.
 */
const CHUNKS_AHEAD = 2

interface Segment {
  stream: string
  lo: bigint
  /** null: the stream itself, up to its head. */
  hi: bigint | null
}

export async function readStream(sql: Sql, stream: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
  const out: StoredEvent[] = []
  for await (const page of readChunks(sql, stream, options, eventColumns('e'), toStoredEvent)) for (const event of page) out.push(event)
  return out
}

/** A chunk at a time, and only the columns a fold reads (`foldColumns`). */
export function readStreamForFold(sql: Sql, stream: string, options: ReadStreamOptions = {}): AsyncGenerator<FoldEvent[]> {
  return readChunks(sql, stream, options, foldColumns('e'), toFoldEvent)
}

/**
 * The stream's events a chunk at a time, each row selected as `columns` and turned into an event
 * by `toEvent`. Each segment is read through the (stream, revision) index in chunks of revisions
 * with their own bounds, in order: a page or the last event costs the same at revision 10 as at
 * 100,000, and the planner keeps the index order instead of sorting the rows' JSON (10,000
 * events' spilled to disk). A stream's revisions have no gaps (each append takes the next ones),
 * so every chunk's bounds are known before any is read and `CHUNKS_AHEAD` are asked for at once.
 */
async function* readChunks<Row, Event>(
  sql: Sql,
  stream: string,
  options: ReadStreamOptions,
  columns: string,
  toEvent: (row: Row, stream: string) => Event,
): AsyncGenerator<Event[]> {
  // The chain and the head in one round trip; the stream itself first, then each source.
  const chain = await sql.query<{ stream: string; lo: string; hi: string | null; head: string }>(
    `${chainSql}
     select c.stream, c.lo::text as lo, c.hi::text as hi, (select revision::text from streams where stream = $1) as head from chain c`,
    [stream],
  )
  if (!chain[0]) throw new StreamNotFoundError(stream)
  const head = BigInt(chain[0].head)
  const backwards = options.direction === 'backwards'
  const from = options.fromRevision ?? (backwards ? 'end' : 'start')
  const fromRevision = from === 'start' ? 0n : from === 'end' ? (backwards ? head : head + 1n) : from
  if (options.maxCount !== undefined && options.maxCount <= 0) return
  const segments: Segment[] = chain.map((c) => ({ stream: c.stream, lo: BigInt(c.lo), hi: c.hi === null ? null : BigInt(c.hi) }))
  if (!backwards) segments.reverse()

  const chunks: { stream: string; lower: bigint; upper: bigint }[] = []
  const size = BigInt(READ_CHUNK)
  let left = options.maxCount === undefined ? null : BigInt(options.maxCount)
  for (const segment of segments) {
    if (left !== null && left <= 0n) break
    const hi = segment.hi ?? head
    let [lower, upper] = backwards ? [segment.lo, fromRevision < hi ? fromRevision : hi] : [fromRevision > segment.lo ? fromRevision : segment.lo, hi]
    if (lower > upper) continue
    if (left !== null && upper - lower + 1n > left) {
      if (backwards) lower = upper - left + 1n
      else upper = lower + left - 1n
    }
    if (left !== null) left -= upper - lower + 1n
    if (backwards) for (let top = upper; top >= lower; top -= size) chunks.push({ stream: segment.stream, lower: top - size + 1n > lower ? top - size + 1n : lower, upper: top })
    else for (let bottom = lower; bottom <= upper; bottom += size) chunks.push({ stream: segment.stream, lower: bottom, upper: bottom + size - 1n < upper ? bottom + size - 1n : upper })
  }

  const pending: { stream: string; rows: Promise<Row[]> }[] = []
  let next = 0
  const ask = () => {
    while (next < chunks.length && pending.length < CHUNKS_AHEAD) {
      const chunk = chunks[next++]!
      const rows = sql.query<Row>(
        `select ${columns} from events e
         where e.stream = $1 and e.revision >= $2::bigint and e.revision <= $3::bigint
         order by e.revision ${backwards ? 'desc' : 'asc'}
         limit $4`,
        [chunk.stream, chunk.lower.toString(), chunk.upper.toString(), Number(chunk.upper - chunk.lower + 1n)],
      )
      // Handled here too: a chunk may fail while an earlier one is awaited, or after the reader stopped.
      rows.catch(() => {})
      pending.push({ stream: chunk.stream, rows })
    }
  }
  ask()
  while (pending.length > 0) {
    const chunk = pending.shift()!
    const rows = await chunk.rows
    ask() // before these rows are turned into events
    yield rows.map((row) => toEvent(row, chunk.stream))
  }
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
     select h.xid::text as head_xid, h.position::text as head_position, ${eventColumns('p', { xid: true })}
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
