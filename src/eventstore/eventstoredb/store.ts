import {
  BACKWARDS,
  END,
  FORWARDS,
  NO_STREAM,
  START,
  StreamNotFoundError as EsdbStreamNotFoundError,
  WrongExpectedVersionError,
} from '@eventstore/db-client'
import type {
  AllStreamRecordedEvent,
  AppendExpectedRevision,
  Direction,
  ReadStreamOptions as EsdbReadStreamOptions,
  RecordedEvent,
  ResolvedEvent,
  StreamingRead,
} from '@eventstore/db-client'
import { eventHash } from '../hash.ts'
import {
  ForkRevisionOutOfRangeError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
  type AppendOptions,
  type AppendResult,
  type AppendWatch,
  type Checkpoint,
  type EventStore,
  type ExpectedRevision,
  type FoldEvent,
  type NewEvent,
  type ReadAllOptions,
  type ReadAllResult,
  type ReadStreamOptions,
  type StoredEvent,
  type StreamInfo,
  type Subscription,
  type VerifyResult,
} from '../types.ts'
import type { EsdbClientLike } from './client.ts'
import { isSystemRecord, positionOfRecord, toEventData, toStoredEvent } from './events.ts'
import { matches, serverFilter, type LogFilter } from './log-filter.ts'
import { forkMetadata, forkOriginIn, forkSegments, sameOrigin, type ForkOrigin, type Segment } from './forks.ts'
import { BEGINNING, checkpointOf, comparePositions, positionOf } from './positions.ts'
import { clientSubscription } from './subscription.ts'
import { watchAppends } from './watch.ts'
import { sharedReadAll } from '../shared-read.ts'

/** `any`/`exists` appends that lose a race re-read the head and re-chain; this bounds it. */
const MAX_APPEND_ATTEMPTS = 10
/** Events per `$all` read while paging and filtering on this side. */
const MAX_LOG_CHUNK = 1000n

/** What an append needs to know about a stream's head. Revisions are ours unless named `esdb`. */
interface StreamHead {
  exists: boolean
  /** Ours; -1n when the stream does not exist; the cut for a fork with no events of its own. */
  revision: bigint
  fork?: ForkOrigin
  /** ours = offset + esdbRevision for this stream's own events. */
  offset: bigint
  /** ESDB revision of the stream's own last event; undefined when it has none (ESDB: no stream). */
  esdbRevision?: bigint
  lastHash: string
  lastId?: string
}

export class EventStoreDbStore implements EventStore {
  /** Fork origins are immutable once written; `null` = a stream seen with events and no fork. */
  private readonly origins = new Map<string, ForkOrigin | null>()
  /** Every projection wakes on the same append: one `$all` read serves those asking from one checkpoint. */
  private readonly readAllShared = sharedReadAll((options) => this.readAllNow(options))
  private readonly watches = new Set<AppendWatch>()

  constructor(private readonly client: EsdbClientLike) {}

  async appendToStream(stream: string, events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    const expected = options.expectedRevision ?? 'any'
    // ESDB hands event ids back lowercase; hashing and idempotency compare what it stores.
    const batch = events.map((event) => ({ ...event, id: event.id.toLowerCase() }))

    for (let attempt = 1; ; attempt++) {
      const head = await this.head(stream)
      const original = await this.originalAppend(stream, head, batch, expected, options.forkOf)
      if (original) return original
      checkExpected(stream, expected, head)
      if (options.forkOf && head.exists) throw new WrongExpectedRevisionError(stream, 'no_stream', head.revision)

      const target = options.forkOf ? await this.claimFork(stream, options.forkOf, expected) : head
      if (batch.length === 0) return this.resultAt(stream, target.revision)

      // The hash chain needs the exact predecessor, so the ESDB append is always fenced on the head
      // just read (never ESDB's ANY/STREAM_EXISTS): for exact and no_stream that is the caller's own
      // fence shifted by the fork offset; for any/exists a lost race re-reads and re-chains below.
      const fence: AppendExpectedRevision = target.esdbRevision ?? NO_STREAM
      try {
        await this.client.appendToStream(stream, this.chain(stream, batch, target), { expectedRevision: fence })
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error
        if ((expected === 'any' || expected === 'exists') && attempt < MAX_APPEND_ATTEMPTS) continue
        // A concurrent retry of this very append may have landed first: that is success, not conflict.
        const landed = await this.originalAppend(stream, await this.head(stream), batch, expected, options.forkOf)
        if (landed) return landed
        throw new WrongExpectedRevisionError(stream, expected, actualRevision(error, target))
      }
      const lastEsdbRevision = (target.esdbRevision ?? -1n) + BigInt(batch.length)
      return this.resultAtOwn(stream, target.offset, lastEsdbRevision)
    }
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    const direction = options.direction ?? 'forwards'
    const maxCount = options.maxCount === undefined ? undefined : BigInt(options.maxCount)
    const from = options.fromRevision ?? (direction === 'forwards' ? 'start' : 'end')
    if (from === 'end' || maxCount === 0n) {
      const info = await this.streamInfo(stream)
      if (!info) throw new StreamNotFoundError(stream)
      // Forwards from the end there is nothing yet, as in ESDB.
      if (maxCount === 0n || (from === 'end' && direction === 'forwards')) return []
      return this.readLineage(stream, from === 'end' ? info.revision : from === 'start' ? 0n : from, direction, maxCount)
    }
    return this.readLineage(stream, from === 'start' ? 0n : from, direction, maxCount)
  }

  /** One page, the events whole: the client reads a stream whole. */
  async *readStreamForFold(stream: string, options: ReadStreamOptions = {}): AsyncGenerator<FoldEvent[]> {
    yield await this.readStream(stream, options)
  }

  async streamInfo(stream: string): Promise<StreamInfo | null> {
    const head = await this.head(stream)
    if (!head.exists) return null
    return head.fork ? { stream, revision: head.revision, forkOf: head.fork } : { stream, revision: head.revision }
  }

  /**
   * Reads `$all` (needs a user allowed to: admin by default). The 6.x client's `readAll` takes no
   * server-side filter, so system events and the caller's filter are applied here, reading in
   * chunks; the returned checkpoint moves past everything examined, filtered out or not.
   */
  readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    return this.readAllShared(options)
  }

  private async readAllNow(options: ReadAllOptions): Promise<ReadAllResult> {
    const limit = options.maxCount ?? Number.POSITIVE_INFINITY
    const events: ReadAllResult['events'] = []
    let checkpoint = options.after ?? BEGINNING
    let after = positionOf(checkpoint)
    const chunk = Number.isFinite(limit) ? clamp(BigInt(limit), 16n, MAX_LOG_CHUNK) : MAX_LOG_CHUNK

    let atHead = false
    while (events.length < limit) {
      // ESDB reads $all from a position inclusively: the event at `after` comes back and is skipped.
      const page = await collect(this.client.readAll({ fromPosition: after ?? START, maxCount: chunk }))
      let progressed = false
      for (const { event: record } of page) {
        if (!record || (after && comparePositions(record.position, after) <= 0)) continue
        progressed = true
        after = record.position
        checkpoint = checkpointOf(record.position)
        if (isSystemRecord(record) || !matches(record, options.filter)) continue
        events.push({ ...(await this.storedFromLog(record)), checkpoint })
        if (events.length >= limit) break
      }
      if (events.length >= limit) break
      if (!progressed || BigInt(page.length) < chunk) {
        atHead = true
        break
      }
    }
    return { events, checkpoint, atHead }
  }

  async headCheckpoint(): Promise<Checkpoint> {
    const [last] = await collect(this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1n }))
    return last?.event ? checkpointOf(last.event.position) : BEGINNING
  }

  /**
   * Replays from `fromRevision` (inclusive) and goes live. A fork's inherited events are read first
   * (they can no longer change); its own events come from one ESDB catch-up subscription, which
   * ESDB itself takes from history to live without a gap or a duplicate.
   */
  subscribeToStream(stream: string, options: { fromRevision?: bigint } = {}): Subscription<StoredEvent> {
    const store = this
    return clientSubscription(async function* (scope) {
      const from = options.fromRevision ?? 0n
      const segments = await store.segments(stream)
      const own = segments[segments.length - 1]!
      if (from < own.offset) {
        for (const event of await store.readLineage(stream, from, 'forwards', own.offset - from)) {
          if (scope.closed) return
          yield event
        }
      }
      const firstOwn = from > own.offset ? from - own.offset : 0n
      // ESDB resumes *after* fromRevision.
      const source = store.client.subscribeToStream(stream, { fromRevision: firstOwn === 0n ? START : firstOwn - 1n })
      for await (const resolved of scope.follow(source)) {
        if (resolved.event) yield toStoredEvent(resolved.event, own.offset, resolved.commitPosition)
      }
    })
  }

  /**
   * One ESDB catch-up subscription to `$all` from `after` (ESDB resumes after the position, as our
   * `after` means). The server filters on stream prefix, else on event types, else drops system
   * events; the full filter is applied here too, since ESDB takes only one of them.
   */
  subscribeToAll(options: { after?: Checkpoint; filter?: LogFilter } = {}): Subscription<StoredEvent & { checkpoint: Checkpoint }> {
    const store = this
    return clientSubscription(async function* (scope) {
      const after = positionOf(options.after ?? BEGINNING)
      const source = store.client.subscribeToAll({ fromPosition: after ?? START, filter: serverFilter(options.filter) })
      for await (const { event: record } of scope.follow(source)) {
        if (!record || isSystemRecord(record) || !matches(record, options.filter)) continue
        if (after && comparePositions(record.position, after) <= 0) continue
        yield { ...(await store.storedFromLog(record)), checkpoint: checkpointOf(record.position) }
      }
    })
  }

  /** Recomputes the chain over the stream as read (a fork's inherited events included). */
  async verifyStream(stream: string): Promise<VerifyResult> {
    const events = await this.readStream(stream)
    let previous = ''
    for (const [index, event] of events.entries()) {
      const expected = eventHash(previous, event)
      if (expected !== event.hash) {
        return { ok: false, checked: index + 1, firstBad: { revision: event.revision, id: event.id, expected, actual: event.hash } }
      }
      previous = event.hash
    }
    return { ok: true, checked: events.length }
  }

  async watchAppends(onAppend: (streams: readonly string[]) => void): Promise<AppendWatch> {
    const watch = watchAppends(this.client, onAppend)
    this.watches.add(watch)
    return {
      visibleLate: watch.visibleLate,
      stop: async () => {
        this.watches.delete(watch)
        await watch.stop()
      },
    }
  }

  async close(): Promise<void> {
    // A watch left running would subscribe again after the client's streams are cancelled.
    await Promise.all([...this.watches].map((watch) => watch.stop()))
    this.watches.clear()
    await this.client.dispose()
  }

  // ---- streams and forks ----

  private async head(stream: string): Promise<StreamHead> {
    // The tail is read before the fork origin: a stream seen with events and no origin is plain for good.
    const [tail] = (await this.readOwn(stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1n })) ?? []
    const last = tail?.event
    const fork = await this.forkOrigin(stream, last !== undefined)
    const offset = fork ? fork.revision + 1n : 0n
    if (last) {
      const event = toStoredEvent(last, offset, tail?.commitPosition)
      return { exists: true, revision: event.revision, fork, offset, esdbRevision: last.revision, lastHash: event.hash, lastId: event.id }
    }
    if (fork) {
      const cut = await this.eventAt(fork.stream, fork.revision)
      return { exists: true, revision: fork.revision, fork, offset, lastHash: cut.hash, lastId: cut.id }
    }
    return { exists: false, revision: -1n, offset: 0n, lastHash: '' }
  }

  private async forkOrigin(stream: string, seenWithEvents: boolean): Promise<ForkOrigin | undefined> {
    const known = this.origins.get(stream)
    if (known !== undefined) return known ?? undefined
    const origin = forkOriginIn((await this.client.getStreamMetadata(stream)).metadata)
    if (origin || seenWithEvents) this.origins.set(stream, origin ?? null)
    return origin
  }

  /** Writes the fork's metadata, fenced on the metastream not existing (see forks.ts). */
  private async claimFork(stream: string, origin: ForkOrigin, expected: ExpectedRevision): Promise<StreamHead> {
    // A missing source has no revision to cut at: out of range, with -1n as its last revision.
    const last = (await this.streamInfo(origin.stream))?.revision ?? -1n
    if (origin.revision < 0n || origin.revision > last) throw new ForkRevisionOutOfRangeError(origin.stream, origin.revision, last)
    const cut = await this.eventAt(origin.stream, origin.revision)
    try {
      await this.client.setStreamMetadata(stream, forkMetadata(origin), { expectedRevision: NO_STREAM })
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw error
      // Metadata is already there: our own earlier claim (a retried append) is fine, anything else is not.
      const existing = forkOriginIn((await this.client.getStreamMetadata(stream)).metadata)
      if (!sameOrigin(existing, origin)) throw new WrongExpectedRevisionError(stream, expected, existing?.revision ?? 'no_stream')
    }
    this.origins.set(stream, origin)
    return { exists: true, revision: origin.revision, fork: origin, offset: origin.revision + 1n, lastHash: cut.hash, lastId: cut.id }
  }

  /** The ESDB streams that make up `stream`'s history, oldest first. */
  private async segments(stream: string, depth = 0): Promise<Segment[]> {
    if (depth > 256) throw new Error(`ForkCycle: the fork origins of ${stream} loop`)
    const origin = await this.forkOrigin(stream, false)
    if (!origin) return [{ esdbStream: stream, offset: 0n }]
    return forkSegments(stream, origin, await this.segments(origin.stream, depth + 1))
  }

  /** Reads our revisions across a lineage; each segment is one bounded ESDB stream read. */
  private async readLineage(stream: string, from: bigint, direction: 'forwards' | 'backwards', maxCount?: bigint): Promise<StoredEvent[]> {
    const segments = await this.segments(stream)
    const own = segments[segments.length - 1]!
    const out: StoredEvent[] = []
    let remaining = maxCount

    const read = async (segment: Segment, start: bigint, count: bigint | undefined, esdbDirection: Direction) => {
      const resolved = await this.readOwn(segment.esdbStream, {
        fromRevision: start - segment.offset,
        direction: esdbDirection,
        ...(count === undefined ? {} : { maxCount: count }),
      })
      if (resolved === undefined) {
        if (segment === own && segments.length > 1) return // a fork with no events of its own yet
        throw new StreamNotFoundError(segment === own ? stream : segment.esdbStream)
      }
      for (const { event, commitPosition } of resolved) if (event) out.push(toStoredEvent(event, segment.offset, commitPosition))
      if (remaining !== undefined) remaining -= BigInt(resolved.length)
    }

    if (direction === 'forwards') {
      for (const segment of segments) {
        if (remaining !== undefined && remaining <= 0n) break
        if (segment.upTo !== undefined && segment.upTo < from) continue
        const start = from > segment.offset ? from : segment.offset
        await read(segment, start, minOf(remaining, segment.upTo === undefined ? undefined : segment.upTo - start + 1n), FORWARDS)
      }
    } else {
      for (const segment of [...segments].reverse()) {
        if (remaining !== undefined && remaining <= 0n) break
        if (segment.offset > from) continue
        const start = segment.upTo !== undefined && segment.upTo < from ? segment.upTo : from
        await read(segment, start, minOf(remaining, segment === own ? undefined : start - segment.offset + 1n), BACKWARDS)
      }
    }
    return out
  }

  private async eventAt(stream: string, revision: bigint): Promise<StoredEvent> {
    const [event] = await this.readLineage(stream, revision, 'forwards', 1n)
    if (!event || event.revision !== revision) throw new Error(`EventMissing: ${stream} has no event at revision ${revision}`)
    return event
  }

  /** One ESDB stream read, drained; undefined when ESDB reports the stream missing (while iterating). */
  private async readOwn(stream: string, options: EsdbReadStreamOptions): Promise<ResolvedEvent[] | undefined> {
    try {
      return await collect(this.client.readStream(stream, options))
    } catch (error) {
      if (error instanceof EsdbStreamNotFoundError) return undefined
      throw error
    }
  }

  private async storedFromLog(record: AllStreamRecordedEvent): Promise<StoredEvent> {
    const origin = await this.forkOrigin(record.streamId, true)
    return toStoredEvent(record, origin ? origin.revision + 1n : 0n)
  }

  // ---- appends ----

  private chain(stream: string, batch: NewEvent[], target: StreamHead) {
    let previous = target.lastHash
    return batch.map((event, index) => {
      const revision = target.revision + 1n + BigInt(index)
      const hash = eventHash(previous, { id: event.id, type: event.type, data: event.data, metadata: event.metadata, revision, stream })
      previous = hash
      return toEventData(event, hash)
    })
  }

  /**
   * Idempotency. ESDB only dedupes ids reliably for an exact expected revision, and we always
   * fence exactly on the head we read, so a retry would be appended again. Instead: when the head
   * says this could be a retry, read where the original would sit — right after the caller's
   * expected revision; at the fork's first own revision for no_stream; at the tail for any/exists
   * (only when the last stored id is the batch's last id) — and if the ids match in order, answer
   * with the original result. Costs no extra read on the normal path.
   */
  private async originalAppend(
    stream: string,
    head: StreamHead,
    batch: NewEvent[],
    expected: ExpectedRevision,
    forkOf: ForkOrigin | undefined,
  ): Promise<AppendResult | undefined> {
    if (!head.exists || batch.length === 0 || head.esdbRevision === undefined) return undefined
    if (forkOf && !sameOrigin(forkOf, head.fork)) return undefined
    const count = BigInt(batch.length)
    let first: bigint
    if (typeof expected === 'bigint') {
      if (head.revision <= expected) return undefined
      first = expected + 1n
    } else if (expected === 'no_stream') {
      first = head.offset
    } else {
      if (head.lastId !== batch[batch.length - 1]!.id) return undefined
      first = head.revision - count + 1n
    }
    if (first < head.offset || first + count - 1n > head.revision) return undefined
    const stored = (await this.readOwn(stream, { fromRevision: first - head.offset, maxCount: count })) ?? []
    const records = stored.flatMap(({ event }) => (event ? [event] : []))
    if (records.length !== batch.length || records.some((record, i) => record.id !== batch[i]!.id)) return undefined
    return resultOf(records[records.length - 1]!, head.offset)
  }

  private async resultAtOwn(stream: string, offset: bigint, esdbRevision: bigint): Promise<AppendResult> {
    // Read back the last event: its own log position is what a log reader passes, whatever
    // position the append response reports for the write as a whole.
    const [resolved] = (await this.readOwn(stream, { fromRevision: esdbRevision, maxCount: 1n })) ?? []
    const record = resolved?.event
    if (!record || record.revision !== esdbRevision) throw new Error(`EventMissing: ${stream} has no event at ESDB revision ${esdbRevision} after appending it`)
    return resultOf(record, offset)
  }

  /** An append of no events: the stream's head as it is. */
  private async resultAt(stream: string, revision: bigint): Promise<AppendResult> {
    if (revision < 0n) return { nextExpectedRevision: -1n, position: 0n, checkpoint: BEGINNING }
    const head = await this.head(stream)
    if (head.esdbRevision !== undefined) return this.resultAtOwn(stream, head.offset, head.esdbRevision)
    const cut = await this.eventAt(stream, revision)
    return { nextExpectedRevision: revision, position: cut.position, checkpoint: await this.checkpointAt(cut) }
  }

  private async checkpointAt(event: StoredEvent): Promise<Checkpoint> {
    const origin = await this.forkOrigin(event.stream, true)
    const offset = origin ? origin.revision + 1n : 0n
    return (await this.resultAtOwn(event.stream, offset, event.revision - offset)).checkpoint
  }
}

function checkExpected(stream: string, expected: ExpectedRevision, head: StreamHead): void {
  const actual = head.exists ? head.revision : 'no_stream'
  if (expected === 'any') return
  if (expected === 'no_stream' ? head.exists : expected === 'exists' ? !head.exists : actual !== expected) {
    throw new WrongExpectedRevisionError(stream, expected, actual)
  }
}

/** ESDB's actual revision is the stream's own; ours continues from a fork's cut. */
function actualRevision(error: WrongExpectedVersionError, target: StreamHead): bigint | 'no_stream' {
  if (typeof error.actualVersion === 'bigint') return target.offset + error.actualVersion
  return target.fork ? target.fork.revision : 'no_stream'
}

function resultOf(record: RecordedEvent, offset: bigint): AppendResult {
  const position = positionOfRecord(record)
  return { nextExpectedRevision: offset + record.revision, position: position.commit, checkpoint: checkpointOf(position) }
}

async function collect<E>(read: StreamingRead<E>): Promise<E[]> {
  const out: E[] = []
  for await (const item of read) out.push(item)
  return out
}

function minOf(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return a < b ? a : b
}

function clamp(value: bigint, low: bigint, high: bigint): bigint {
  return value < low ? low : value > high ? high : value
}
