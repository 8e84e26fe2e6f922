import type { Sql } from '../../db/database.ts'
import { canonicalJson } from '../hash.ts'
import {
  ForkRevisionOutOfRangeError,
  WrongExpectedRevisionError,
  type AppendOptions,
  type AppendResult,
  type NewEvent,
} from '../types.ts'
import { formatCheckpoint } from './checkpoint.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** An event as `cairn_append` takes it: data and metadata as canonical JSON, the text its hash covers. */
export interface PreparedEvent {
  id: string
  type: string
  data: string
  metadata: string
  /** The end of the hashed content after the revision: `"stream":…,"type":…}` (keys sorted). */
  tail: string
}

/** Validates and normalizes events before the round trip: ids lower-case, data as JSON gives it back. */
export function prepareEvents(stream: string, events: NewEvent[]): PreparedEvent[] {
  if (events.length === 0) throw new RangeError(`appendToStream(${stream}): nothing to append; pass at least one event`)
  const ids = new Set<string>()
  const streamJson = JSON.stringify(stream)
  return events.map((event) => {
    if (!UUID.test(event.id)) throw new TypeError(`event id ${JSON.stringify(event.id)} is not a UUID`)
    const id = event.id.toLowerCase()
    if (ids.has(id)) throw new TypeError(`event id ${id} appears twice in one append to ${stream}`)
    ids.add(id)
    return {
      id,
      type: event.type,
      data: canonicalJson(event.data),
      metadata: canonicalJson(event.metadata),
      tail: `"stream":${streamJson},"type":${JSON.stringify(event.type)}}`,
    }
  })
}

/**
 * Appends with one call of `cairn_append` (migrations/040_append_function.sql), on the pool (one
 * round trip, its own transaction) or inside a caller's transaction. Every expected-revision mode,
 * idempotent retries, fork creation and the hash chain are decided there under the stream's row
 * lock, so there is no read-then-write race and no head for this process to remember.
 */
export async function appendEvents(
  sql: Sql,
  stream: string,
  events: PreparedEvent[],
  options: AppendOptions,
): Promise<AppendResult> {
  const expected = options.expectedRevision ?? 'any'
  // now(): the transaction's start, which is what the inserted rows' created_at defaults to.
  const rows = await sql.query<{ outcome: string; revision: string | null; position: string | null; xid: string | null; created_at: Date | string }>(
    `select outcome, revision::text as revision, "position"::text as "position", xid::text as xid, now() as created_at
     from cairn_append($1, $2, $3, $4, $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[])`,
    [
      stream,
      String(expected),
      options.forkOf?.stream ?? null,
      options.forkOf?.revision.toString() ?? null,
      events.map((e) => e.id),
      events.map((e) => e.type),
      events.map((e) => e.data),
      events.map((e) => e.metadata),
      events.map((e) => e.tail),
    ],
  )
  const row = rows[0]!
  switch (row.outcome) {
    case 'appended':
    case 'stored':
      return {
        nextExpectedRevision: BigInt(row.revision!),
        position: BigInt(row.position!),
        checkpoint: formatCheckpoint(row.xid!, row.position!),
        ...(row.outcome === 'appended' ? { createdAt: new Date(row.created_at) } : {}),
      }
    case 'wrong_expected':
      throw new WrongExpectedRevisionError(
        stream,
        options.forkOf && row.revision !== null ? 'no_stream' : expected,
        row.revision === null ? 'no_stream' : BigInt(row.revision),
      )
    case 'fork_out_of_range':
      throw new ForkRevisionOutOfRangeError(options.forkOf!.stream, options.forkOf!.revision, BigInt(row.revision!))
    default:
      throw new Error(`cairn_append answered ${row.outcome} for ${stream}`)
  }
}
