import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  compareCheckpoints,
  eventHash,
  ForkRevisionOutOfRangeError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
  type EventStore,
  type FoldEvent,
  type NewEvent,
  type StoredEvent,
  type Subscription,
} from '../../src/eventstore/index.ts'

export interface EventStoreUnderTest {
  store: EventStore
  close(): Promise<void>
  /** Changes the stored data of one event behind the store's back (for the hash-chain test). */
  tamper?(stream: string, revision: bigint): Promise<void>
}

/** Builds a new event; each call has a fresh id. */
export function newEvent(type = 'ThingHappened', data: Record<string, unknown> = {}): NewEvent {
  return { id: randomUUID(), type, data, metadata: { actor: { kind: 'system', id: 'contract-test' } } }
}

function events(count: number, type = 'ThingHappened'): NewEvent[] {
  return Array.from({ length: count }, (_, i) => newEvent(type, { n: i }))
}

function uniqueStream(kind = 'contract'): string {
  return `${kind}-${randomUUID()}`
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected the call to fail')
}

/** Reading the whole log may lag a commit while an older transaction anywhere is still open. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (done(value) || Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function take<T>(subscription: Subscription<T>, count: number, timeoutMs = 15_000): Promise<T[]> {
  const taken: T[] = []
  const iterator = subscription[Symbol.asyncIterator]()
  const timeout = setTimeout(() => void subscription.close(), timeoutMs)
  try {
    while (taken.length < count) {
      const next = await iterator.next()
      if (next.done) break
      taken.push(next.value)
    }
  } finally {
    clearTimeout(timeout)
  }
  return taken
}

async function readAllMatching(store: EventStore, prefix: string, pageSize?: number) {
  const seen: (StoredEvent & { checkpoint: string })[] = []
  let after = ''
  for (;;) {
    const page = await store.readAll({ after, maxCount: pageSize, filter: { streamPrefix: prefix } })
    seen.push(...page.events)
    after = page.checkpoint
    if (pageSize === undefined || page.events.length < pageSize) return { events: seen, checkpoint: after }
  }
}

/** One contract for every EventStore backend. `factory` is called once for the whole suite. */
export function eventStoreContract(name: string, factory: () => Promise<EventStoreUnderTest>): void {
  describe(`event store contract: ${name}`, () => {
    let subject: EventStoreUnderTest
    let store: EventStore
    beforeAll(async () => {
      subject = await factory()
      store = subject.store
    })
    afterAll(async () => {
      await subject?.close()
    })

    describe('expected revisions', () => {
      it("'no_stream' creates a stream and rejects an existing one, naming stream, expected and actual", async () => {
        const stream = uniqueStream()
        const created = await store.appendToStream(stream, events(2), { expectedRevision: 'no_stream' })
        expect(created.nextExpectedRevision).toBe(1n)
        const error = await rejection(store.appendToStream(stream, events(1), { expectedRevision: 'no_stream' }))
        expect(error).toBeInstanceOf(WrongExpectedRevisionError)
        expect(error).toMatchObject({ stream, expected: 'no_stream', actual: 1n })
      })

      it("'exists' rejects a missing stream and appends to an existing one", async () => {
        const stream = uniqueStream()
        const error = await rejection(store.appendToStream(stream, events(1), { expectedRevision: 'exists' }))
        expect(error).toBeInstanceOf(WrongExpectedRevisionError)
        expect(error).toMatchObject({ stream, expected: 'exists', actual: 'no_stream' })
        expect(await store.streamInfo(stream)).toBeNull()
        await store.appendToStream(stream, events(1))
        const appended = await store.appendToStream(stream, events(1), { expectedRevision: 'exists' })
        expect(appended.nextExpectedRevision).toBe(1n)
      })

      it("'any' (the default) creates and appends", async () => {
        const stream = uniqueStream()
        expect((await store.appendToStream(stream, events(1), { expectedRevision: 'any' })).nextExpectedRevision).toBe(0n)
        expect((await store.appendToStream(stream, events(2))).nextExpectedRevision).toBe(2n)
      })

      it('an exact revision appends only when it is the last revision', async () => {
        const stream = uniqueStream()
        const missing = await rejection(store.appendToStream(stream, events(1), { expectedRevision: 0n }))
        expect(missing).toMatchObject({ stream, expected: 0n, actual: 'no_stream' })
        await store.appendToStream(stream, events(3))
        const stale = await rejection(store.appendToStream(stream, events(1), { expectedRevision: 1n }))
        expect(stale).toBeInstanceOf(WrongExpectedRevisionError)
        expect(stale).toMatchObject({ stream, expected: 1n, actual: 2n })
        const appended = await store.appendToStream(stream, events(2), { expectedRevision: 2n })
        expect(appended.nextExpectedRevision).toBe(4n)
        expect((await store.streamInfo(stream))?.revision).toBe(4n)
      })

      it('lets exactly one of many concurrent appends with the same expected revision win', async () => {
        const stream = uniqueStream()
        await store.appendToStream(stream, events(1))
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, () => store.appendToStream(stream, events(2), { expectedRevision: 0n })),
        )
        const won = results.filter((r) => r.status === 'fulfilled')
        const lost = results.filter((r) => r.status === 'rejected')
        expect(won).toHaveLength(1)
        for (const r of lost) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedRevisionError)
        expect((await store.readStream(stream)).map((e) => e.revision)).toEqual([0n, 1n, 2n])
      })

      it("lets exactly one of many concurrent 'no_stream' appends create the stream", async () => {
        const stream = uniqueStream()
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, () => store.appendToStream(stream, events(1), { expectedRevision: 'no_stream' })),
        )
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
        expect(await store.readStream(stream)).toHaveLength(1)
      })
    })

    describe('idempotent appends', () => {
      it('re-appending stored events is a no-op returning the original result', async () => {
        const stream = uniqueStream()
        const batch = events(3)
        const first = await store.appendToStream(stream, batch, { expectedRevision: 'no_stream' })
        const retried = await store.appendToStream(stream, batch, { expectedRevision: 'no_stream' })
        expect(retried.nextExpectedRevision).toBe(first.nextExpectedRevision)
        expect(retried.position).toBe(first.position)
        expect(compareCheckpoints(retried.checkpoint, first.checkpoint)).toBe(0)
        const retriedAny = await store.appendToStream(stream, batch)
        expect(retriedAny.position).toBe(first.position)
        const more = await store.appendToStream(stream, events(1), { expectedRevision: 2n })
        const retriedAfterMore = await store.appendToStream(stream, batch, { expectedRevision: 'no_stream' })
        expect(retriedAfterMore.nextExpectedRevision).toBe(2n)
        expect(more.nextExpectedRevision).toBe(3n)
        expect(await store.readStream(stream)).toHaveLength(4)
      })

      it('concurrent retries of one append store it once', async () => {
        const stream = uniqueStream()
        const batch = events(2)
        const results = await Promise.all(Array.from({ length: 5 }, () => store.appendToStream(stream, batch)))
        for (const r of results) expect(r.position).toBe(results[0]!.position)
        expect(await store.readStream(stream)).toHaveLength(2)
      })
    })

    describe('reading a stream', () => {
      it('reads forwards and backwards from a revision, bounded by maxCount', async () => {
        const stream = uniqueStream()
        const appended = events(6)
        await store.appendToStream(stream, appended)
        const all = await store.readStream(stream)
        expect(all.map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n, 4n, 5n])
        expect(all.map((e) => e.id)).toEqual(appended.map((e) => e.id))
        const first = all[0]!
        expect(first.stream).toBe(stream)
        expect(first.type).toBe('ThingHappened')
        expect(first.data).toEqual({ n: 0 })
        expect(first.metadata).toEqual({ actor: { kind: 'system', id: 'contract-test' } })
        expect(first.createdAt).toBeInstanceOf(Date)
        expect(typeof first.position).toBe('bigint')
        expect(all.every((e, i) => i === 0 || e.position > all[i - 1]!.position)).toBe(true)

        const forwards = await store.readStream(stream, { fromRevision: 2n, maxCount: 3 })
        expect(forwards.map((e) => e.revision)).toEqual([2n, 3n, 4n])
        const backwards = await store.readStream(stream, { direction: 'backwards', maxCount: 2 })
        expect(backwards.map((e) => e.revision)).toEqual([5n, 4n])
        const fromEnd = await store.readStream(stream, { direction: 'backwards', fromRevision: 'end' })
        expect(fromEnd.map((e) => e.revision)).toEqual([5n, 4n, 3n, 2n, 1n, 0n])
        const backFrom = await store.readStream(stream, { direction: 'backwards', fromRevision: 3n, maxCount: 10 })
        expect(backFrom.map((e) => e.revision)).toEqual([3n, 2n, 1n, 0n])
        expect(await store.readStream(stream, { fromRevision: 'end' })).toEqual([])
        expect(await store.readStream(stream, { fromRevision: 10n })).toEqual([])
        expect((await store.readStream(stream, { fromRevision: 'start', maxCount: 1 }))[0]?.revision).toBe(0n)
      })

      it('keeps data and metadata as given', async () => {
        const stream = uniqueStream()
        const event: NewEvent = {
          id: randomUUID(),
          type: 'Nested',
          data: { text: 'héllo "quoted" \\ ✓', list: [1, 2.5, null, { z: true, a: 'x' }], empty: {} },
          metadata: { actor: { kind: 'agent', id: 'a1', onBehalfOf: 'u1' }, correlationId: 'c', causationId: 'k' },
        }
        await store.appendToStream(stream, [event])
        const [stored] = await store.readStream(stream)
        expect(stored?.data).toEqual(event.data)
        expect(stored?.metadata).toEqual(event.metadata)
        // Read for a fold: the data, and of the metadata at least the schema version.
        const versioned: NewEvent = { ...event, id: randomUUID(), metadata: { ...event.metadata, schemaVersion: 2 } }
        await store.appendToStream(stream, [versioned])
        const pages: FoldEvent[][] = []
        for await (const page of store.readStreamForFold(stream)) pages.push(page)
        const [first, second] = pages.flat()
        expect([first?.data, first?.metadata.schemaVersion, second?.data, second?.metadata.schemaVersion]).toEqual([event.data, undefined, event.data, 2])
      })

      it('reports a missing stream', async () => {
        const stream = uniqueStream()
        const error = await rejection(store.readStream(stream))
        expect(error).toBeInstanceOf(StreamNotFoundError)
        expect(error).toMatchObject({ stream })
        const paged = await rejection((async () => {
          for await (const _page of store.readStreamForFold(stream)) throw new Error('a missing stream has no page')
        })())
        expect(paged).toBeInstanceOf(StreamNotFoundError)
        expect(await store.streamInfo(stream)).toBeNull()
      })
    })

    describe('reading the whole log', () => {
      it('reads in global order, filtered by stream prefix and event type, in pages', async () => {
        const prefix = `log-${randomUUID()}`
        const a = `${prefix}-a`
        const b = `${prefix}-b`
        const appended: NewEvent[] = []
        for (let i = 0; i < 4; i++) {
          const forA = [newEvent('Even', { i }), newEvent('Odd', { i })]
          const forB = [newEvent('Even', { i })]
          await store.appendToStream(a, forA)
          await store.appendToStream(b, forB)
          appended.push(...forA, ...forB)
        }
        const last = await store.appendToStream(`other-${randomUUID()}`, events(1))
        const everything = await eventually(
          () => readAllMatching(store, prefix),
          (r) => r.events.length === appended.length,
        )
        expect(everything.events.map((e) => e.id)).toEqual(appended.map((e) => e.id))
        expect(everything.events.every((e, i) => i === 0 || compareCheckpoints(e.checkpoint, everything.events[i - 1]!.checkpoint) > 0)).toBe(true)

        const paged = await readAllMatching(store, prefix, 3)
        expect(paged.events.map((e) => e.id)).toEqual(appended.map((e) => e.id))

        const onlyB = await store.readAll({ filter: { streamPrefix: b } })
        expect(onlyB.events.map((e) => e.stream)).toEqual([b, b, b, b])
        const odd = await store.readAll({ filter: { streamPrefix: prefix, eventTypes: ['Odd'] } })
        expect(odd.events.map((e) => e.data)).toEqual([0, 1, 2, 3].map((i) => ({ i })))

        // The checkpoint moves past events the filter left out.
        expect(compareCheckpoints(everything.checkpoint, last.checkpoint)).toBeGreaterThanOrEqual(0)
        const after = await store.readAll({ after: everything.checkpoint, filter: { streamPrefix: prefix } })
        expect(after.events).toEqual([])
      })

      it('reaches the head when one append crosses a power of ten (positions order as numbers, not text)', async () => {
        const stream = uniqueStream('head-numeric')
        const first = await store.appendToStream(stream, events(1))
        // Positions may grow by more than one per event (EventStoreDB's are byte offsets in its log).
        let at = await store.appendToStream(stream, events(1))
        const step = at.position - first.position
        // One append whose positions run from below 10^k past 10^k: text order would put the 9s last.
        const power = 10n ** BigInt(String(at.position).length)
        // Long logs get there in appends of at most 500 events (a node caps the size of one append).
        while ((power - at.position) / step > 500n) at = await store.appendToStream(stream, events(500))
        const last = await store.appendToStream(stream, events(Number((power - at.position) / step) + 2))
        expect(last.position).toBeGreaterThanOrEqual(power)
        const head = await eventually(
          () => store.headCheckpoint(),
          (h) => compareCheckpoints(h, last.checkpoint) >= 0,
        )
        expect(compareCheckpoints(head, last.checkpoint)).toBeGreaterThanOrEqual(0)
      })

      it('continues after a checkpoint and reaches the head', async () => {
        const stream = uniqueStream('head')
        const first = await store.appendToStream(stream, events(2))
        const second = await store.appendToStream(stream, events(2))
        const head = await eventually(
          () => store.headCheckpoint(),
          (h) => compareCheckpoints(h, second.checkpoint) >= 0,
        )
        expect(compareCheckpoints(head, second.checkpoint)).toBeGreaterThanOrEqual(0)
        const rest = await store.readAll({ after: first.checkpoint, filter: { streamPrefix: stream } })
        expect(rest.events.map((e) => e.revision)).toEqual([2n, 3n])
        expect(rest.events[1]?.checkpoint).toBe(second.checkpoint)
        expect(rest.events[1]?.position).toBe(second.position)
      })
    })

    describe('forks', () => {
      async function source(count: number): Promise<string> {
        const stream = uniqueStream('source')
        await store.appendToStream(stream, events(count, 'Source'))
        return stream
      }

      it("reads as the source's events up to the cut, then its own, with revisions continuing", async () => {
        const src = await source(5)
        const fork = uniqueStream('fork')
        const result = await store.appendToStream(fork, events(2, 'Own'), { forkOf: { stream: src, revision: 2n } })
        expect(result.nextExpectedRevision).toBe(4n)
        const read = await store.readStream(fork)
        expect(read.map((e) => [e.stream, e.revision, e.type])).toEqual([
          [src, 0n, 'Source'],
          [src, 1n, 'Source'],
          [src, 2n, 'Source'],
          [fork, 3n, 'Own'],
          [fork, 4n, 'Own'],
        ])
        expect(await store.streamInfo(fork)).toEqual({ stream: fork, revision: 4n, forkOf: { stream: src, revision: 2n } })
        const backwards = await store.readStream(fork, { direction: 'backwards', fromRevision: 3n, maxCount: 2 })
        expect(backwards.map((e) => [e.stream, e.revision])).toEqual([
          [fork, 3n],
          [src, 2n],
        ])
        const middle = await store.readStream(fork, { fromRevision: 1n, maxCount: 3 })
        expect(middle.map((e) => e.revision)).toEqual([1n, 2n, 3n])

        await store.appendToStream(fork, events(1), { expectedRevision: 4n })
        await store.appendToStream(src, events(1), { expectedRevision: 4n })
        expect((await store.readStream(src)).map((e) => e.stream)).toEqual([src, src, src, src, src, src])
        expect((await store.readStream(fork)).map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n, 4n, 5n])
        expect((await store.streamInfo(src))?.revision).toBe(5n)
      })

      it('chains a fork of a fork, including one cut below the first cut', async () => {
        const src = await source(4)
        const fork = uniqueStream('fork')
        await store.appendToStream(fork, events(3, 'Fork'), { forkOf: { stream: src, revision: 2n } })
        const grandchild = uniqueStream('fork2')
        await store.appendToStream(grandchild, events(1, 'Grand'), { forkOf: { stream: fork, revision: 4n } })
        expect((await store.readStream(grandchild)).map((e) => [e.stream, e.revision])).toEqual([
          [src, 0n],
          [src, 1n],
          [src, 2n],
          [fork, 3n],
          [fork, 4n],
          [grandchild, 5n],
        ])
        const low = uniqueStream('fork2')
        await store.appendToStream(low, events(1, 'Low'), { forkOf: { stream: fork, revision: 1n } })
        expect((await store.readStream(low)).map((e) => [e.stream, e.revision])).toEqual([
          [src, 0n],
          [src, 1n],
          [low, 2n],
        ])
      })

      it('pages a fork of a fork in both directions across its cuts, skipping what the ancestors appended after them', async () => {
        const src = await source(4)
        const fork = uniqueStream('fork')
        await store.appendToStream(fork, events(3, 'Fork'), { forkOf: { stream: src, revision: 1n } })
        const grandchild = uniqueStream('fork2')
        await store.appendToStream(grandchild, events(2, 'Grand'), { forkOf: { stream: fork, revision: 3n } })
        await store.appendToStream(fork, events(2, 'Later'), { expectedRevision: 4n })
        const at = (read: { stream: string; revision: bigint }[]) => read.map((e) => [e.stream, e.revision])
        expect(at(await store.readStream(grandchild, { fromRevision: 1n, maxCount: 3 }))).toEqual([
          [src, 1n],
          [fork, 2n],
          [fork, 3n],
        ])
        expect(at(await store.readStream(grandchild, { direction: 'backwards', maxCount: 4 }))).toEqual([
          [grandchild, 5n],
          [grandchild, 4n],
          [fork, 3n],
          [fork, 2n],
        ])
        expect(at(await store.readStream(grandchild, { direction: 'backwards', fromRevision: 2n }))).toEqual([
          [fork, 2n],
          [src, 1n],
          [src, 0n],
        ])
        expect(at(await store.readStream(grandchild, { fromRevision: 'end', direction: 'backwards', maxCount: 1 }))).toEqual([[grandchild, 5n]])
        expect(await store.readStream(grandchild, { fromRevision: 6n })).toEqual([])
      })

      it('reads thousands of events across a cut in order, both ways, bounded by maxCount', async () => {
        const src = uniqueStream('source')
        for (let i = 0; i < 3; i++) await store.appendToStream(src, events(1000, 'Source'))
        const fork = uniqueStream('fork')
        await store.appendToStream(fork, events(1000, 'Own'), { forkOf: { stream: src, revision: 2400n } })
        await store.appendToStream(fork, events(500, 'Own'))
        const all = await store.readStream(fork)
        expect(all.map((e) => Number(e.revision))).toEqual(Array.from({ length: 3901 }, (_, i) => i))
        expect(all.filter((e) => e.stream === src)).toHaveLength(2401)
        const back = await store.readStream(fork, { direction: 'backwards', fromRevision: 3500n, maxCount: 2100 })
        expect(back.map((e) => Number(e.revision))).toEqual(Array.from({ length: 2100 }, (_, i) => 3500 - i))
        expect((await store.readStream(fork, { fromRevision: 1999n, maxCount: 1001 })).map((e) => Number(e.revision))).toEqual(Array.from({ length: 1001 }, (_, i) => 1999 + i))
        expect(await store.readStream(fork, { fromRevision: 1000n, maxCount: 1000 })).toHaveLength(1000)

        // As a fold reads them: the same events in the same order, whatever the options, a page at a time.
        const folded = ({ stream, revision, id, type, data, createdAt, hash, metadata }: FoldEvent) => ({ stream, revision, id, type, data, createdAt, hash, schemaVersion: metadata.schemaVersion })
        for (const options of [{}, { fromRevision: 1999n, maxCount: 1001 }, { direction: 'backwards' as const, fromRevision: 3500n, maxCount: 2100 }, { fromRevision: 2401n }]) {
          const paged: FoldEvent[] = []
          for await (const page of store.readStreamForFold(fork, options)) paged.push(...page)
          expect(paged.map(folded)).toEqual((await store.readStream(fork, options)).map(folded))
        }
        // A reader may stop after a page; the pages read ahead are dropped.
        for await (const page of store.readStreamForFold(fork)) {
          expect(page[0]?.revision).toBe(0n)
          break
        }
        expect(await store.readStream(fork, { fromRevision: 3900n })).toHaveLength(1)
      }, 120_000)

      it('cuts at revision 0', async () => {
        const src = await source(3)
        const fork = uniqueStream('fork')
        await store.appendToStream(fork, events(1), { forkOf: { stream: src, revision: 0n } })
        expect((await store.readStream(fork)).map((e) => [e.stream, e.revision])).toEqual([
          [src, 0n],
          [fork, 1n],
        ])
      })

      it('rejects a cut beyond the source, and forking an existing stream', async () => {
        const src = await source(3)
        const fork = uniqueStream('fork')
        const error = await rejection(store.appendToStream(fork, events(1), { forkOf: { stream: src, revision: 3n } }))
        expect(error).toBeInstanceOf(ForkRevisionOutOfRangeError)
        expect(error).toMatchObject({ stream: src, revision: 3n, lastRevision: 2n })
        const missing = await rejection(
          store.appendToStream(fork, events(1), { forkOf: { stream: uniqueStream(), revision: 0n } }),
        )
        expect(missing).toBeInstanceOf(ForkRevisionOutOfRangeError)
        expect(await store.streamInfo(fork)).toBeNull()
        const existing = await rejection(store.appendToStream(src, events(1), { forkOf: { stream: src, revision: 0n } }))
        expect(existing).toBeInstanceOf(WrongExpectedRevisionError)
      })
    })

    describe('hash chain', () => {
      it('chains each event to the previous one of its stream, across a fork cut', async () => {
        const stream = uniqueStream()
        await store.appendToStream(stream, events(3))
        const read = await store.readStream(stream)
        expect(read[0]!.hash).toBe(eventHash('', read[0]!))
        expect(read[2]!.hash).toBe(eventHash(read[1]!.hash, read[2]!))
        const fork = uniqueStream('fork')
        await store.appendToStream(fork, events(2), { forkOf: { stream, revision: 1n } })
        const forked = await store.readStream(fork)
        expect(forked[2]!.hash).toBe(eventHash(read[1]!.hash, forked[2]!))
        expect(await store.verifyStream(stream)).toEqual({ ok: true, checked: 3 })
        expect(await store.verifyStream(fork)).toEqual({ ok: true, checked: 4 })
      })

      it('chains a fork cut at an event its source inherited to that event, stored in an ancestor', async () => {
        const stream = uniqueStream()
        await store.appendToStream(stream, events(3))
        const fork = uniqueStream('fork')
        await store.appendToStream(fork, events(2), { forkOf: { stream, revision: 2n } })
        const low = uniqueStream('fork2')
        await store.appendToStream(low, events(1), { forkOf: { stream: fork, revision: 1n } })
        const read = await store.readStream(low)
        expect(read.map((e) => e.stream)).toEqual([stream, stream, low])
        expect(read[2]!.hash).toBe(eventHash(read[1]!.hash, read[2]!))
        expect(await store.verifyStream(low)).toEqual({ ok: true, checked: 3 })
      })

      it('names the first event whose stored content no longer matches its hash', async (ctx) => {
        if (!subject.tamper) ctx.skip()
        const stream = uniqueStream()
        await store.appendToStream(stream, events(4))
        await subject.tamper!(stream, 2n)
        const result = await store.verifyStream(stream)
        expect(result.ok).toBe(false)
        expect(result.firstBad?.revision).toBe(2n)
        const stored = (await store.readStream(stream))[2]!
        expect(result.firstBad).toMatchObject({ id: stored.id, actual: stored.hash })
        expect(result.firstBad?.expected).not.toBe(stored.hash)
        const fork = uniqueStream('fork')
        await store.appendToStream(fork, events(1), { forkOf: { stream, revision: 3n } })
        expect((await store.verifyStream(fork)).firstBad?.revision).toBe(2n)
      })
    })

    describe('subscriptions', () => {
      it('replays a stream then goes live without a gap or a duplicate', async () => {
        const stream = uniqueStream('sub')
        await store.appendToStream(stream, events(5))
        const subscription = store.subscribeToStream(stream)
        const writing = (async () => {
          for (let i = 0; i < 25; i++) await store.appendToStream(stream, events(1))
        })()
        const seen = await take(subscription, 30)
        await writing
        await subscription.close()
        expect(seen.map((e) => e.revision)).toEqual(Array.from({ length: 30 }, (_, i) => BigInt(i)))
      })

      it('starts from a revision, and waits for a stream that does not exist yet', async () => {
        const stream = uniqueStream('sub')
        const early = store.subscribeToStream(stream)
        await store.appendToStream(stream, events(3))
        expect((await take(early, 3)).map((e) => e.revision)).toEqual([0n, 1n, 2n])
        await early.close()
        const late = store.subscribeToStream(stream, { fromRevision: 2n })
        await store.appendToStream(stream, events(1))
        expect((await take(late, 2)).map((e) => e.revision)).toEqual([2n, 3n])
        await late.close()
      })

      it('starts a subscription to a fork with the inherited events', async () => {
        const src = uniqueStream('sub')
        await store.appendToStream(src, events(3))
        const fork = uniqueStream('subfork')
        await store.appendToStream(fork, events(1), { forkOf: { stream: src, revision: 1n } })
        const subscription = store.subscribeToStream(fork)
        const later = store.appendToStream(fork, events(1))
        const seen = await take(subscription, 4)
        await later
        await subscription.close()
        expect(seen.map((e) => [e.stream, e.revision])).toEqual([
          [src, 0n],
          [src, 1n],
          [fork, 2n],
          [fork, 3n],
        ])
      })

      it('catches up on the whole log then goes live, each event once and in order', async () => {
        const prefix = `suball-${randomUUID()}`
        const streams = [`${prefix}-a`, `${prefix}-b`, `${prefix}-c`]
        for (const s of streams) await store.appendToStream(s, events(3))
        const subscription = store.subscribeToAll({ filter: { streamPrefix: prefix } })
        const writing = Promise.all(
          streams.map(async (s) => {
            for (let i = 0; i < 10; i++) await store.appendToStream(s, events(1))
          }),
        )
        const seen = await take(subscription, 39)
        await writing
        await subscription.close()
        expect(seen).toHaveLength(39)
        expect(new Set(seen.map((e) => e.id)).size).toBe(39)
        for (const s of streams) {
          expect(seen.filter((e) => e.stream === s).map((e) => e.revision)).toEqual(
            Array.from({ length: 13 }, (_, i) => BigInt(i)),
          )
        }
        const replay = await readAllMatching(store, prefix)
        expect(replay.events.map((e) => e.id)).toEqual(seen.map((e) => e.id))
        expect(seen.map((e) => e.checkpoint)).toEqual(replay.events.map((e) => e.checkpoint))
      })

      it('resumes the whole log after a checkpoint', async () => {
        const prefix = `resume-${randomUUID()}`
        await store.appendToStream(`${prefix}-a`, events(2))
        const { checkpoint } = await eventually(
          () => readAllMatching(store, prefix),
          (r) => r.events.length === 2,
        )
        const subscription = store.subscribeToAll({ after: checkpoint, filter: { streamPrefix: prefix } })
        await store.appendToStream(`${prefix}-a`, events(1))
        const [next] = await take(subscription, 1)
        await subscription.close()
        expect(next?.revision).toBe(2n)
      })

      it('ends iteration when closed, also while waiting', async () => {
        const stream = uniqueStream('sub')
        await store.appendToStream(stream, events(1))
        const subscription = store.subscribeToStream(stream)
        const iterator = subscription[Symbol.asyncIterator]()
        expect((await iterator.next()).done).toBe(false)
        const waiting = iterator.next()
        await new Promise((resolve) => setTimeout(resolve, 50))
        await subscription.close()
        expect((await waiting).done).toBe(true)
        await store.appendToStream(stream, events(1))
        expect((await iterator.next()).done).toBe(true)

        const broken = store.subscribeToStream(stream)
        for await (const event of broken) {
          expect(event.revision).toBe(0n)
          break
        }
        expect((await broken[Symbol.asyncIterator]().next()).done).toBe(true)
      })
    })
  })
}
