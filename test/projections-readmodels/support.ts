import type { Database } from '../../src/db/database.ts'
import type { EventMetadata, StoredEvent } from '../../src/eventstore/types.ts'
import type { CairnEvent } from '../../src/events/index.ts'
import { createProjectionBatch, type Projection } from '../../src/projections/types.ts'

export type Delivered = StoredEvent & { checkpoint: string }

export const ORG = '00000000-0000-4000-8000-000000000001'
export const OWNER = '11111111-1111-4111-8111-111111111111'
export const userActor: EventMetadata = { actor: { kind: 'user', id: OWNER }, organizationId: ORG }
export const agentActor: EventMetadata = { actor: { kind: 'agent', id: 'runner-1', onBehalfOf: OWNER } }

/**
 * Stored events as the engine delivers them: per-stream revisions (a fork's continue from its
 * cut), global positions, checkpoints that sort in log order, and a clock one second per event.
 */
export function eventLog(start = new Date('2025-01-01T00:00:00Z')) {
  let position = 0
  const revisions = new Map<string, number>()
  let n = 0
  return {
    append(stream: string, events: CairnEvent[], metadata: EventMetadata = userActor): Delivered[] {
      return events.map((e) => {
        const revision = (revisions.get(stream) ?? -1) + 1
        revisions.set(stream, revision)
        position++
        return {
          id: crypto.randomUUID(),
          stream,
          type: e.type,
          data: e.data,
          metadata,
          revision: BigInt(revision),
          position: BigInt(position),
          createdAt: new Date(start.getTime() + 1000 * n++),
          hash: '',
          checkpoint: position.toString().padStart(20, '0'),
        }
      })
    },
    /** The fork's own events continue after the cut. */
    fork(stream: string, atRevision: number) {
      revisions.set(stream, atRevision)
    },
    revisionOf: (stream: string) => revisions.get(stream) ?? -1,
  }
}

/** Feeds events to the projections that take them, one transaction per event, as the engine would. */
export async function project(db: Database, projections: Projection[], events: StoredEvent[]) {
  for (const event of events) {
    for (const p of projections) {
      if (p.eventTypes.includes(event.type)) await db.transaction((tx) => p.handle(tx, event))
    }
  }
}

/** Feeds events as one batch per projection, in one transaction each, as the engine does with a page of the log. */
export async function projectAsOneBatch(db: Database, projections: Projection[], events: StoredEvent[]) {
  for (const p of projections) {
    await db.transaction(async (tx) => {
      const batch = createProjectionBatch()
      for (const event of events) if (p.eventTypes.includes(event.type)) await p.handle(tx, event, batch)
      await batch.flush()
    })
  }
}
