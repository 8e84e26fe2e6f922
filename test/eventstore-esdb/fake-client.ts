/**
 * An in-memory EventStoreDB behind `EsdbClientLike`, faithful to `@eventstore/db-client` 6.x
 * for the calls the adapter makes:
 * - revisions are 0-based; appends check ANY / NO_STREAM / STREAM_EXISTS / exact revision and
 *   fail with the library's own `WrongExpectedVersionError`, built the way the library builds it;
 * - `readStream` never throws on the call: a missing stream fails *while iterating* with the
 *   library's `StreamNotFoundError`; a stream with only metadata counts as missing;
 * - positions are `{commit, prepare}` log offsets; `$all` also holds system records (a stats
 *   event, `$metadata` events in `$$<stream>` metastreams);
 * - `readAll({fromPosition})` includes the event at the position, `subscribeToAll({fromPosition})`
 *   and `subscribeToStream({fromRevision})` resume *after* it;
 * - subscriptions catch up then go live, and `unsubscribe()` never ends the Readable.
 */
import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import {
  StreamNotFoundError,
  WrongExpectedVersionError,
  type AllStreamRecordedEvent,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type AppendResult,
  type AppendToStreamOptions,
  type CurrentRevision,
  type Filter,
  type GetStreamMetadataResult,
  type JSONEventData,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type ResolvedEvent,
  type SetStreamMetadataOptions,
  type StreamMetadata,
  type StreamSubscription,
  type StreamingRead,
  type SubscribeToAllOptions,
  type SubscribeToStreamOptions,
} from '@eventstore/db-client'
import type { EsdbClientLike } from '../../src/eventstore/eventstoredb/index.ts'

interface LogRecord {
  streamId: string
  id: string
  revision: bigint
  type: string
  /** Bytes as the server keeps them: JSON text. */
  data: string
  metadata: string | undefined
  created: Date
  position: Position
}

interface Listener {
  deliver(record: LogRecord): void
}

class FakeRead<E> extends Readable {
  constructor() {
    super({ objectMode: true, read() {} })
  }
  async cancel(): Promise<void> {
    this.destroy()
  }
}

class FakeSubscription<E> extends Readable {
  readonly id = randomUUID()
  constructor(private readonly onUnsubscribe: () => void) {
    super({ objectMode: true, read() {} })
  }
  /** Like the real client: cancels the call, swallows the cancellation, never ends the stream. */
  async unsubscribe(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve))
    this.onUnsubscribe()
  }
}

export class FakeEsdbClient implements EsdbClientLike {
  private readonly streams = new Map<string, LogRecord[]>()
  private readonly log: LogRecord[] = []
  private readonly listeners = new Set<Listener>()
  private nextLogPosition = 0n
  disposed = false
  /** Runs after the adapter's append is sent and before the server applies it: inject races here. */
  beforeAppend: ((streamName: string) => Promise<void> | void) | undefined
  readonly appendCalls: { streamName: string; expectedRevision: AppendExpectedRevision }[] = []

  constructor() {
    // A real log starts with system records; readers must skip them.
    this.write('$stats-127.0.0.1:2113', [{ id: randomUUID(), type: '$statsCollected', contentType: 'application/json', data: {}, metadata: undefined }])
  }

  async appendToStream(streamName: string, events: JSONEventData | JSONEventData[], options: AppendToStreamOptions = {}): Promise<AppendResult> {
    const expectedRevision = options.expectedRevision ?? 'any'
    this.appendCalls.push({ streamName, expectedRevision })
    const hook = this.beforeAppend
    if (hook) {
      this.beforeAppend = undefined
      await hook(streamName)
    }
    return this.applyAppend(streamName, Array.isArray(events) ? events : [events], expectedRevision)
  }

  readStream(streamName: string, options: ReadStreamOptions = {}): StreamingRead<ResolvedEvent> {
    const { fromRevision = 'start', direction = 'forwards', maxCount = Number.MAX_SAFE_INTEGER } = options
    const records = this.streams.get(streamName) ?? []
    const read = new FakeRead<ResolvedEvent>()
    let selected: LogRecord[]
    if (direction === 'forwards') {
      const from = fromRevision === 'start' ? 0 : fromRevision === 'end' ? records.length : Number(fromRevision)
      selected = records.slice(from, from + Number(maxCount))
    } else {
      const from = fromRevision === 'end' ? records.length - 1 : fromRevision === 'start' ? 0 : Math.min(Number(fromRevision), records.length - 1)
      selected = records.slice(Math.max(0, from - Number(maxCount) + 1), from + 1).reverse()
    }
    setImmediate(() => {
      if (records.length === 0) {
        // The library destroys the gRPC stream with this while the read is being consumed.
        read.destroy(new StreamNotFoundError(undefined, streamName))
        return
      }
      for (const record of selected) read.push(resolvedOf(record))
      read.push(null)
    })
    return read as StreamingRead<ResolvedEvent>
  }

  readAll(options: ReadAllOptions = {}): StreamingRead<AllStreamResolvedEvent> {
    const { fromPosition = 'start', direction = 'forwards', maxCount = Number.MAX_SAFE_INTEGER } = options
    let selected: LogRecord[]
    if (direction === 'forwards') {
      selected =
        fromPosition === 'start' ? this.log : fromPosition === 'end' ? [] : this.log.filter((r) => comparePositions(r.position, fromPosition) >= 0)
    } else {
      selected = [...(fromPosition === 'end' ? this.log : fromPosition === 'start' ? [] : this.log.filter((r) => comparePositions(r.position, fromPosition) < 0))].reverse()
    }
    selected = selected.slice(0, Number(maxCount))
    const read = new FakeRead<AllStreamResolvedEvent>()
    setImmediate(() => {
      for (const record of selected) read.push(resolvedOf(record))
      read.push(null)
    })
    return read as StreamingRead<AllStreamResolvedEvent>
  }

  subscribeToStream(streamName: string, options: SubscribeToStreamOptions = {}): StreamSubscription {
    const { fromRevision = 'start' } = options
    const records = this.streams.get(streamName) ?? []
    const history = fromRevision === 'start' ? records : fromRevision === 'end' ? [] : records.slice(Number(fromRevision) + 1)
    return this.subscribe(history, (record) => record.streamId === streamName) as unknown as StreamSubscription
  }

  subscribeToAll(options: SubscribeToAllOptions = {}): AllStreamSubscription {
    const { fromPosition = 'start', filter } = options
    const history =
      fromPosition === 'start' ? this.log : fromPosition === 'end' ? [] : this.log.filter((r) => comparePositions(r.position, fromPosition) > 0)
    return this.subscribe(history, (record) => passes(record, filter)) as unknown as AllStreamSubscription
  }

  async getStreamMetadata(streamName: string): Promise<GetStreamMetadataResult> {
    // As the library does it: the last event of the metastream, read backwards.
    try {
      let last: ResolvedEvent | undefined
      for await (const resolved of this.readStream(`$$${streamName}`, { fromRevision: 'end', direction: 'backwards', maxCount: 1 })) {
        last = resolved
      }
      if (!last?.event) return { streamName }
      return { streamName, metadata: last.event.data as StreamMetadata, metastreamRevision: last.commitPosition }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return { streamName }
      throw error
    }
  }

  async setStreamMetadata(streamName: string, metadata: StreamMetadata, options: SetStreamMetadataOptions = {}): Promise<AppendResult> {
    const event: JSONEventData = { id: randomUUID(), contentType: 'application/json', type: '$metadata', data: metadata, metadata: undefined }
    return this.applyAppend(`$$${streamName}`, [event], options.expectedRevision ?? 'any')
  }

  async dispose(): Promise<void> {
    this.disposed = true
  }

  // ---- test controls ----

  /** Rewrites an event's stored data in place, as an attacker with disk access could. */
  tamper(streamName: string, revision: bigint, change: (data: unknown) => unknown): void {
    const record = this.streams.get(streamName)?.[Number(revision)]
    if (!record) throw new Error(`fake: ${streamName} has no event ${revision}`)
    record.data = JSON.stringify(change(JSON.parse(record.data)))
  }

  /** The raw ESDB metadata of a stored event, as the server holds it. */
  rawMetadata(streamName: string, revision: bigint): unknown {
    const record = this.streams.get(streamName)?.[Number(revision)]
    return record?.metadata === undefined ? undefined : JSON.parse(record.metadata)
  }

  ownEventCount(streamName: string): number {
    return this.streams.get(streamName)?.length ?? 0
  }

  get subscriberCount(): number {
    return this.listeners.size
  }

  // ---- server ----

  private applyAppend(streamName: string, events: JSONEventData[], expected: AppendExpectedRevision): AppendResult {
    const records = this.streams.get(streamName) ?? []
    const current: CurrentRevision = records.length === 0 ? 'no_stream' : BigInt(records.length - 1)

    // Idempotent on ids for the same expected revision (best effort with ANY: the tail).
    const from = expected === 'no_stream' ? 0 : typeof expected === 'bigint' ? Number(expected) + 1 : expected === 'any' ? records.length - events.length : -1
    if (events.length > 0 && from >= 0) {
      const stored = records.slice(from, from + events.length)
      if (stored.length === events.length && stored.every((r, i) => r.id === events[i]!.id.toLowerCase())) {
        const last = stored[stored.length - 1]!
        return { success: true, nextExpectedRevision: last.revision, position: last.position }
      }
    }

    const ok =
      expected === 'any' ||
      (expected === 'no_stream' && current === 'no_stream') ||
      (expected === 'stream_exists' && current !== 'no_stream') ||
      (typeof expected === 'bigint' && current === expected)
    if (!ok) throw new WrongExpectedVersionError(undefined, { streamName, current, expected })
    if (events.length === 0) return { success: true, nextExpectedRevision: current === 'no_stream' ? -1n : current, position: undefined }
    const written = this.write(streamName, events)
    const last = written[written.length - 1]!
    return { success: true, nextExpectedRevision: last.revision, position: last.position }
  }

  private write(streamName: string, events: JSONEventData[]): LogRecord[] {
    const records = this.streams.get(streamName) ?? []
    this.streams.set(streamName, records)
    const written = events.map((event) => {
      const data = JSON.stringify(event.data)
      const position = { commit: this.nextLogPosition, prepare: this.nextLogPosition }
      this.nextLogPosition += 128n + BigInt(data.length)
      const record: LogRecord = {
        streamId: streamName,
        id: event.id.toLowerCase(),
        revision: BigInt(records.length),
        type: event.type,
        data,
        metadata: event.metadata === undefined ? undefined : JSON.stringify(event.metadata),
        created: new Date(),
        position,
      }
      records.push(record)
      this.log.push(record)
      return record
    })
    for (const listener of this.listeners) for (const record of written) listener.deliver(record)
    return written
  }

  private subscribe(history: LogRecord[], wanted: (record: LogRecord) => boolean): FakeSubscription<AllStreamResolvedEvent> {
    const listener: Listener = { deliver: (record) => wanted(record) && subscription.push(resolvedOf(record)) }
    const subscription = new FakeSubscription<AllStreamResolvedEvent>(() => this.listeners.delete(listener))
    // History and the live listener are taken in the same tick: nothing can fall between them.
    for (const record of history) if (wanted(record)) subscription.push(resolvedOf(record))
    this.listeners.add(listener)
    setImmediate(() => subscription.emit('caughtUp'))
    return subscription
  }
}

function resolvedOf(record: LogRecord): AllStreamResolvedEvent {
  const event = {
    streamId: record.streamId,
    id: record.id,
    isJson: true,
    revision: record.revision,
    type: record.type,
    created: record.created,
    data: JSON.parse(record.data),
    metadata: record.metadata === undefined ? undefined : JSON.parse(record.metadata),
    position: record.position,
  } as AllStreamRecordedEvent
  return { event, commitPosition: record.position.commit }
}

function passes(record: LogRecord, filter: Filter | undefined): boolean {
  if (!filter) return true
  const subject = filter.filterOn === 'streamName' ? record.streamId : record.type
  if ('prefixes' in filter) return filter.prefixes.some((prefix) => subject.startsWith(prefix))
  return new RegExp(filter.regex).test(subject)
}

function comparePositions(a: Position, b: Position): number {
  return a.commit === b.commit ? Number(a.prepare - b.prepare) : a.commit < b.commit ? -1 : 1
}
