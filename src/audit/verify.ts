/**
 * Verifies the event log from outside the store: every stream's hash chain and revision
 * continuity, up to the head the `streams` table records, so an edited row, a deleted event, a
 * deleted tail and a stream whose events are gone are all caught. A fork's own events chain from
 * its source's stored hash at the cut; the source's chain is verified as a stream of its own.
 */
import type { Database, Sql } from '../db/database.ts'
import { eventHashOfText } from '../eventstore/hash-text.ts'
import { chainSql } from '../eventstore/postgres/read.ts'

export type BreakKind = 'hash_mismatch' | 'missing_event' | 'head_mismatch' | 'fork_source_missing'

/** The first bad event of one stream. */
export interface BrokenStream {
  stream: string
  kind: BreakKind
  /** The first revision that does not verify. */
  revision: bigint
  /** The hash the chain says this place should have ('' when there is none to compute). */
  expected: string
  /** The hash stored there ('' when the event is missing). */
  stored: string
  message: string
}

export interface VerifyOptions {
  /** Only these streams (a chat's stream and the streams it inherits from). Omit for every stream. */
  streams?: string[]
  /** Only events at or after this global position are re-hashed; earlier ones are trusted. */
  fromPosition?: bigint
}

export interface ChainVerification {
  ok: boolean
  streams: number
  events: number
  broken: BrokenStream[]
  seconds: number
}

const STREAM_PAGE = 1000
const EVENT_PAGE = 5000

interface StreamRow {
  stream: string
  revision: string
  hash: string
  fork_of_stream: string | null
  fork_of_revision: string | null
}

interface EventRow {
  stream: string
  revision: string
  id: string
  type: string
  data: string
  metadata: string
  hash: string
}

/** The streams `chat-<id>` reads through: itself, then each source it was forked from. */
export async function streamsOfChain(sql: Sql, stream: string): Promise<string[]> {
  const rows = await sql.query<{ stream: string }>(`${chainSql} select stream from chain`, [stream])
  return rows.map((r) => r.stream)
}

/**
 * Runs in one read-only repeatable-read transaction, so appends that commit meanwhile are
 * neither half seen nor reported as beyond the head. A read-only transaction takes no xid, so
 * it does not hold back readers of the log.
 */
export async function verifyChains(db: Database, options: VerifyOptions = {}): Promise<ChainVerification> {
  const started = performance.now()
  return db.transaction(async (tx) => {
    await tx.query('set transaction isolation level repeatable read, read only')
    const result: ChainVerification = { ok: true, streams: 0, events: 0, broken: [], seconds: 0 }
    let afterStream = ''
    for (;;) {
      const streams = await tx.query<StreamRow>(
        `select stream, revision::text as revision, hash, fork_of_stream, fork_of_revision::text as fork_of_revision
         from streams where stream > $1 and ($2::text[] is null or stream = any($2::text[]))
         order by stream limit $3`,
        [afterStream, options.streams ?? null, STREAM_PAGE],
      )
      if (!streams.length) break
      await verifyPage(tx, streams, options.fromPosition, result)
      afterStream = streams[streams.length - 1]!.stream
      if (streams.length < STREAM_PAGE) break
    }
    result.ok = result.broken.length === 0
    result.seconds = (performance.now() - started) / 1000
    return result
  })
}

/** Where a stream's own chain starts: revision 0 and '' for a plain stream, the cut for a fork. */
async function chainStart(tx: Sql, s: StreamRow): Promise<{ revision: bigint; hash: string } | BrokenStream> {
  if (s.fork_of_stream === null || s.fork_of_revision === null) return { revision: 0n, hash: '' }
  const cut = BigInt(s.fork_of_revision)
  const rows = await tx.query<{ hash: string }>(
    `${chainSql}
     select e.hash from chain c join events e
       on e.stream = c.stream and e.revision >= c.lo and (c.hi is null or e.revision <= c.hi)
     where e.revision = $2`,
    [s.fork_of_stream, cut.toString()],
  )
  if (!rows[0]) {
    return {
      stream: s.stream,
      kind: 'fork_source_missing',
      revision: cut,
      expected: '',
      stored: '',
      message: `forked from ${s.fork_of_stream} at revision ${cut}, which has no stored event there`,
    }
  }
  return { revision: cut + 1n, hash: rows[0].hash }
}

async function verifyPage(tx: Sql, streams: StreamRow[], fromPosition: bigint | undefined, result: ChainVerification) {
  const names = streams.map((s) => s.stream)
  const last = new Map<string, { revision: bigint; hash: string }>()
  for (const row of await tx.query<{ stream: string; revision: string; hash: string }>(
    // One index lookup per stream: `distinct on` over the streams read and sorted every event
    // (a second pass over the whole log, spilled to disk at 100k events). Qualified: a bare
    // `revision` in ORDER BY would sort the text output column ('9' > '10').
    `select s.stream, l.revision::text as revision, l.hash from unnest($1::text[]) as s (stream)
     cross join lateral (select e.revision, e.hash from events e where e.stream = s.stream order by e.revision desc limit 1) l`,
    [names],
  )) {
    last.set(row.stream, { revision: BigInt(row.revision), hash: row.hash })
  }

  const states = new Map<string, { next: bigint; previous: string; started: boolean; broken: BrokenStream | null; row: StreamRow }>()
  for (const s of streams) {
    const start = await chainStart(tx, s)
    if ('kind' in start) {
      states.set(s.stream, { next: 0n, previous: '', started: true, broken: start, row: s })
    } else {
      states.set(s.stream, { next: start.revision, previous: start.hash, started: fromPosition === undefined, broken: null, row: s })
    }
  }

  const lastName = names[names.length - 1]!
  const fetchAfter = (after: [string, string]) =>
    tx.query<EventRow>(
      `select e.stream, e.revision::text as revision, e.id::text as id, e.type, e.data::text as data, e.metadata::text as metadata, e.hash
       from events e
       where (e.stream, e.revision) > ($1, $2::bigint) and e.stream <= $3 and e.stream = any($4::text[])
         and ($5::bigint is null or e.position >= $5::bigint)
       order by e.stream, e.revision limit $6`,
      [after[0], after[1], lastName, names, fromPosition?.toString() ?? null, EVENT_PAGE],
    )
  let page: Promise<EventRow[]> | null = fetchAfter([names[0]!, '-1'])
  while (page) {
    const rows: EventRow[] = await page
    const tail = rows[rows.length - 1]
    // The database reads the next page while this one is hashed.
    page = rows.length < EVENT_PAGE || !tail ? null : fetchAfter([tail.stream, tail.revision])
    for (const row of rows) {
      const state = states.get(row.stream)!
      if (state.broken) continue
      const revision = BigInt(row.revision)
      if (!state.started) {
        // Verifying from a position: trust the stored hash just before the first event re-hashed.
        state.started = true
        if (revision > state.next) {
          const before = await tx.query<{ hash: string }>('select hash from events where stream = $1 and revision = $2', [row.stream, (revision - 1n).toString()])
          if (!before[0]) {
            state.broken = missing(row.stream, revision - 1n, `revision ${revision - 1n} is missing before revision ${revision}`)
            continue
          }
          state.next = revision
          state.previous = before[0].hash
        }
      }
      if (revision !== state.next) {
        state.broken = missing(row.stream, state.next, `revision ${state.next} is missing; the next stored event is revision ${revision}`)
        continue
      }
      // Hashed from the rows' JSON text: the same as parsing it and writing it canonically (hash-text.ts).
      const expected = eventHashOfText(state.previous, { id: row.id, type: row.type, data: row.data, metadata: row.metadata, revision, stream: row.stream })
      result.events++
      if (expected !== row.hash) {
        state.broken = {
          stream: row.stream,
          kind: 'hash_mismatch',
          revision,
          expected,
          stored: row.hash,
          message: `revision ${revision} (event ${row.id}, ${row.type}) does not match its hash: its content or an earlier event was changed`,
        }
        continue
      }
      state.previous = row.hash
      state.next = revision + 1n
    }
  }

  for (const state of states.values()) {
    result.streams++
    const broken = state.broken ?? headProblem(state.row, last.get(state.row.stream), state.started ? state.previous : null)
    if (broken) result.broken.push(broken)
  }
}

/**
 * The head row against the last stored event: a deleted tail leaves the head ahead of it, a
 * rewritten tail leaves a different hash. `chained` is the hash the re-hashed chain ended on.
 */
function headProblem(s: StreamRow, last: { revision: bigint; hash: string } | undefined, chained: string | null): BrokenStream | null {
  const head = BigInt(s.revision)
  const cut = s.fork_of_revision === null ? null : BigInt(s.fork_of_revision)
  const lastRevision = last?.revision ?? cut ?? -1n
  if (lastRevision < head) {
    return missing(s.stream, lastRevision + 1n, `the stream's head is revision ${head} but the last stored event is ${lastRevision < 0n ? 'none' : `revision ${lastRevision}`}: events were deleted`, s.hash)
  }
  if (lastRevision > head) {
    return {
      stream: s.stream,
      kind: 'head_mismatch',
      revision: head + 1n,
      expected: '',
      stored: last?.hash ?? '',
      message: `events go on to revision ${lastRevision} past the stream's recorded head ${head}: they were inserted outside the store`,
    }
  }
  const endHash = chained ?? last?.hash
  if (endHash !== undefined && endHash !== s.hash) {
    return {
      stream: s.stream,
      kind: 'head_mismatch',
      revision: head,
      expected: s.hash,
      stored: endHash,
      message: `revision ${head} ends the chain with a hash other than the one recorded for the stream's head`,
    }
  }
  return null
}

function missing(stream: string, revision: bigint, message: string, expected = ''): BrokenStream {
  return { stream, kind: 'missing_event', revision, expected, stored: '', message }
}
