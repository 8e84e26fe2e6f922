import type { JSONEventData, JSONType, Position, RecordedEvent } from '@eventstore/db-client'
import type { EventMetadata, NewEvent, StoredEvent } from '../types.ts'

/**
 * EventStoreDB has no hash column: each event's chain hash rides in its ESDB metadata under
 * this key and is stripped on read, so callers see exactly the metadata they appended.
 */
export const HASH_KEY = '$cairn.hash'

export function toEventData(event: NewEvent, hash: string): JSONEventData {
  return {
    id: event.id,
    contentType: 'application/json',
    type: event.type,
    // ESDB JSON events hold any JSON value; the client only JSON.stringifies it.
    data: (event.data ?? null) as JSONType,
    metadata: { ...event.metadata, [HASH_KEY]: hash },
  }
}

/**
 * An ESDB record as one of our events. `offset` maps the ESDB revision to ours: 0 for a plain
 * stream, `cut + 1` for a fork's own events. `position` is the commit position (on 20+ servers an
 * appended event's commit position is its own log position); checkpoints carry commit and
 * prepare both, so they order exactly as `$all` does either way.
 */
export function toStoredEvent(record: RecordedEvent, offset: bigint, fallbackCommit?: bigint): StoredEvent {
  const commit = record.position?.commit ?? fallbackCommit
  if (commit === undefined) {
    throw new Error(
      `EventStoreDbTooOld: event ${record.id} in ${record.streamId} came back without a log position; ` +
        'EventStoreDB/KurrentDB 22.6 or later is required',
    )
  }
  const { [HASH_KEY]: hash, ...metadata } = metadataOf(record)
  return {
    id: record.id,
    type: record.type,
    data: record.data,
    metadata: metadata as EventMetadata,
    stream: record.streamId,
    revision: offset + record.revision,
    position: commit,
    createdAt: record.created,
    hash: typeof hash === 'string' ? hash : '',
  }
}

export function positionOfRecord(record: RecordedEvent): Position {
  if (!record.position) {
    throw new Error(`EventStoreDbTooOld: event ${record.id} came back without a log position`)
  }
  return record.position
}

/** System streams (`$…`, metastreams `$$…`) and system event types (`$metadata`, `$>` links…). */
export function isSystemRecord(record: RecordedEvent): boolean {
  return record.streamId.startsWith('$') || record.type.startsWith('$')
}

function metadataOf(record: RecordedEvent): Record<string, unknown> {
  const metadata: unknown = record.metadata
  if (metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata) && !(metadata instanceof Uint8Array)) {
    return metadata as Record<string, unknown>
  }
  return {}
}
