import type { StoredEvent } from '../types.ts'
import { formatCheckpoint } from './checkpoint.ts'

/** The columns every read selects, cast so `pg` and PGlite return the same JavaScript types. */
export function eventColumns(alias: string): string {
  return `${alias}.stream, ${alias}.revision::text as revision, ${alias}.id::text as id, ${alias}.type,
  ${alias}.data::text as data, ${alias}.metadata::text as metadata, ${alias}.created_at, ${alias}.hash,
  ${alias}.position::text as position, ${alias}.xid::text as xid`
}

export interface EventRow {
  stream: string
  revision: string
  id: string
  type: string
  data: string
  metadata: string
  created_at: Date | string
  hash: string
  position: string
  xid: string
}

export function toStoredEvent(row: EventRow): StoredEvent {
  return {
    stream: row.stream,
    revision: BigInt(row.revision),
    position: BigInt(row.position),
    id: row.id,
    type: row.type,
    data: JSON.parse(row.data),
    metadata: JSON.parse(row.metadata),
    createdAt: row.created_at instanceof Date ? row.created_at : new Date(row.created_at),
    hash: row.hash,
  }
}

export function toGlobalEvent(row: EventRow): StoredEvent & { checkpoint: string } {
  return { ...toStoredEvent(row), checkpoint: formatCheckpoint(row.xid, row.position) }
}
