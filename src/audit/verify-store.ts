/**
 * Verifies one chat's hash chain through the EventStore interface, for a log kept outside the
 * database (EventStoreDB/KurrentDB): the chat's stream as read, a fork's inherited events
 * included, re-hashed in order. The SQL log's `verifyChains` also compares each stream's recorded
 * head with its last event (a deleted tail); an EventStoreDB stream has no head record apart from
 * its events, so here only changed or missing events show.
 */
import type { EventStore } from '../eventstore/types.ts'
import type { ChainVerification } from './verify.ts'

/** The streams `stream` reads through, itself first; [] when it does not exist. */
export async function streamsOfChainIn(store: EventStore, stream: string): Promise<string[]> {
  const streams: string[] = []
  for (let info = await store.streamInfo(stream); info; info = info.forkOf ? await store.streamInfo(info.forkOf.stream) : null) {
    streams.push(info.stream)
  }
  return streams
}

export async function verifyChainIn(store: EventStore, stream: string): Promise<ChainVerification> {
  const started = performance.now()
  const streams = await streamsOfChainIn(store, stream)
  const result = await store.verifyStream(stream)
  const seconds = (performance.now() - started) / 1000
  if (result.ok || !result.firstBad) return { ok: true, streams: streams.length, events: result.checked, broken: [], seconds }
  const { revision, id, expected, actual } = result.firstBad
  // Which stream of the lineage stores the bad event: a fork's inherited ones are its sources'.
  const [bad] = await store.readStream(stream, { fromRevision: revision, maxCount: 1 })
  return {
    ok: false,
    streams: streams.length,
    events: result.checked,
    broken: [
      {
        stream: bad?.stream ?? stream,
        kind: 'hash_mismatch',
        revision,
        expected,
        stored: actual,
        message: `revision ${revision} (event ${id}) does not match its hash: its content or an earlier event was changed`,
      },
    ],
    seconds,
  }
}
