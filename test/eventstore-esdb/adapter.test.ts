import { randomUUID } from 'node:crypto'
import { StreamNotFoundError as EsdbStreamNotFoundError, WrongExpectedVersionError } from '@eventstore/db-client'
import { beforeEach, describe, expect, it } from 'vitest'
import { createEventStoreDbStore } from '../../src/eventstore/eventstoredb/index.ts'
import {
  ForkRevisionOutOfRangeError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
  type EventStore,
  type NewEvent,
  type StoredEvent,
  type Subscription,
} from '../../src/eventstore/types.ts'
import { FakeEsdbClient } from './fake-client.ts'

const actor = { kind: 'user' as const, id: 'u-1' }
const event = (type = 'Noted', data: unknown = { n: 1 }): NewEvent => ({ id: randomUUID(), type, data, metadata: { actor } })
const events = (count: number, type = 'Noted') => Array.from({ length: count }, (_, i) => event(type, { n: i }))
const revisions = (list: StoredEvent[]) => list.map((e) => e.revision)

async function conflictOf(promise: Promise<unknown>): Promise<WrongExpectedRevisionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(WrongExpectedRevisionError)
  return error as WrongExpectedRevisionError
}

async function take<T>(subscription: Subscription<T>, count: number): Promise<T[]> {
  const out: T[] = []
  if (count === 0) return out
  for await (const item of subscription) {
    out.push(item)
    if (out.length === count) break
  }
  return out
}

let fake: FakeEsdbClient
let store: EventStore
beforeEach(() => {
  fake = new FakeEsdbClient()
  store = createEventStoreDbStore(fake)
})

describe('the fake speaks like @eventstore/db-client', () => {
  it('fails a missing stream while iterating, not on the call', async () => {
    const read = fake.readStream('nowhere')
    await expect((async () => { for await (const _ of read) void _ })()).rejects.toBeInstanceOf(EsdbStreamNotFoundError)
  })

  it('rejects a stale append with the library WrongExpectedVersionError', async () => {
    await fake.appendToStream('s', [{ id: randomUUID(), contentType: 'application/json', type: 'T', data: {}, metadata: undefined }], { expectedRevision: 'no_stream' })
    const error = await fake.appendToStream('s', [], { expectedRevision: 'no_stream' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WrongExpectedVersionError)
    expect((error as WrongExpectedVersionError).actualVersion).toBe(0n)
  })
})

describe('expected revisions', () => {
  it('appends with any, no_stream, exists and an exact revision, 0-based', async () => {
    expect((await store.appendToStream('s', events(2), { expectedRevision: 'no_stream' })).nextExpectedRevision).toBe(1n)
    expect((await store.appendToStream('s', events(1), { expectedRevision: 'exists' })).nextExpectedRevision).toBe(2n)
    expect((await store.appendToStream('s', events(1), { expectedRevision: 2n })).nextExpectedRevision).toBe(3n)
    expect((await store.appendToStream('s', events(1))).nextExpectedRevision).toBe(4n)
    expect((await store.appendToStream('t', events(1), { expectedRevision: 'any' })).nextExpectedRevision).toBe(0n)
    expect(revisions(await store.readStream('s'))).toEqual([0n, 1n, 2n, 3n, 4n])
  })

  it('reports each conflict with the caller’s expectation and the actual revision', async () => {
    await store.appendToStream('s', events(3))
    const noStream = await conflictOf(store.appendToStream('s', events(1), { expectedRevision: 'no_stream' }))
    expect([noStream.stream, noStream.expected, noStream.actual]).toEqual(['s', 'no_stream', 2n])
    const exists = await conflictOf(store.appendToStream('missing', events(1), { expectedRevision: 'exists' }))
    expect([exists.expected, exists.actual]).toEqual(['exists', 'no_stream'])
    const stale = await conflictOf(store.appendToStream('s', events(1), { expectedRevision: 1n }))
    expect([stale.expected, stale.actual]).toEqual([1n, 2n])
    const ahead = await conflictOf(store.appendToStream('missing', events(1), { expectedRevision: 0n }))
    expect(ahead.actual).toBe('no_stream')
    expect(fake.ownEventCount('s')).toBe(3)
  })

  it('maps a WrongExpectedVersionError from a write that lands between read and append', async () => {
    await store.appendToStream('s', events(2))
    fake.beforeAppend = async () => {
      await store.appendToStream('s', events(1)) // a rival writer
    }
    const error = await conflictOf(store.appendToStream('s', events(1), { expectedRevision: 1n }))
    expect([error.expected, error.actual]).toEqual([1n, 2n])
  })

  it('fences any on the exact head and re-chains after losing a race', async () => {
    await store.appendToStream('s', events(2))
    fake.beforeAppend = async () => {
      await store.appendToStream('s', events(1))
    }
    const result = await store.appendToStream('s', events(1), { expectedRevision: 'any' })
    expect(result.nextExpectedRevision).toBe(3n)
    expect(fake.appendCalls.every((call) => call.expectedRevision !== 'any')).toBe(true)
    expect(await store.verifyStream('s')).toMatchObject({ ok: true, checked: 4 })
  })
})

describe('reading streams', () => {
  it('maps a missing stream to StreamNotFoundError', async () => {
    await expect(store.readStream('nowhere')).rejects.toBeInstanceOf(StreamNotFoundError)
    await expect(store.readStream('nowhere', { fromRevision: 'end', direction: 'backwards' })).rejects.toBeInstanceOf(StreamNotFoundError)
    expect(await store.streamInfo('nowhere')).toBeNull()
  })

  it('returns our metadata, ids, ESDB created time and positions', async () => {
    const appended = event('Started', { a: [1, 2] })
    appended.metadata = { actor, correlationId: 'c-1' }
    const result = await store.appendToStream('s', [appended])
    const [stored] = await store.readStream('s')
    expect(stored).toMatchObject({ id: appended.id, type: 'Started', data: { a: [1, 2] }, metadata: { actor, correlationId: 'c-1' }, stream: 's', revision: 0n })
    expect(stored!.metadata).not.toHaveProperty('$cairn.hash')
    expect(fake.rawMetadata('s', 0n)).toHaveProperty(['$cairn.hash'], stored!.hash)
    expect(stored!.createdAt).toBeInstanceOf(Date)
    expect(stored!.position).toBe(result.position)
  })

  it('reads backwards and from a revision with a limit', async () => {
    await store.appendToStream('s', events(5))
    expect(revisions(await store.readStream('s', { direction: 'backwards', maxCount: 2 }))).toEqual([4n, 3n])
    expect(revisions(await store.readStream('s', { fromRevision: 1n, maxCount: 2 }))).toEqual([1n, 2n])
    expect(await store.readStream('s', { fromRevision: 'end' })).toEqual([])
    expect(revisions(await store.readStream('s', { fromRevision: 'end', direction: 'backwards', maxCount: 1 }))).toEqual([4n])
  })
})

describe('forks', () => {
  beforeEach(async () => {
    await store.appendToStream('parent', events(5))
  })

  it('reads the parent up to the cut, then its own events with continued revisions', async () => {
    const created = await store.appendToStream('child', events(2), { forkOf: { stream: 'parent', revision: 2n }, expectedRevision: 'no_stream' })
    expect(created.nextExpectedRevision).toBe(4n)
    const read = await store.readStream('child')
    expect(read.map((e) => [e.stream, e.revision])).toEqual([
      ['parent', 0n], ['parent', 1n], ['parent', 2n], ['child', 3n], ['child', 4n],
    ])
    expect(fake.ownEventCount('child')).toBe(2) // nothing copied
    expect(await store.streamInfo('child')).toEqual({ stream: 'child', revision: 4n, forkOf: { stream: 'parent', revision: 2n } })
    expect(revisions(await store.readStream('child', { direction: 'backwards', maxCount: 3 }))).toEqual([4n, 3n, 2n])
    expect(revisions(await store.readStream('child', { fromRevision: 2n, maxCount: 2 }))).toEqual([2n, 3n])
  })

  it('maps expected revisions onto the fork’s own ESDB revisions', async () => {
    await store.appendToStream('child', events(1), { forkOf: { stream: 'parent', revision: 2n } })
    expect((await store.appendToStream('child', events(1), { expectedRevision: 3n })).nextExpectedRevision).toBe(4n)
    // ours 3 = cut 2 + 1 + ESDB revision 0
    expect(fake.appendCalls.at(-1)).toEqual({ streamName: 'child', expectedRevision: 0n })
    const stale = await conflictOf(store.appendToStream('child', events(1), { expectedRevision: 3n }))
    expect(stale.actual).toBe(4n)
    const again = await conflictOf(store.appendToStream('child', events(1), { expectedRevision: 'no_stream' }))
    expect(again.actual).toBe(4n)
  })

  it('chains a fork of a fork and a cut at 0', async () => {
    await store.appendToStream('child', events(2), { forkOf: { stream: 'parent', revision: 2n } })
    await store.appendToStream('grandchild', events(1), { forkOf: { stream: 'child', revision: 3n } })
    expect((await store.readStream('grandchild')).map((e) => [e.stream, e.revision])).toEqual([
      ['parent', 0n], ['parent', 1n], ['parent', 2n], ['child', 3n], ['grandchild', 4n],
    ])
    await store.appendToStream('at-zero', events(1), { forkOf: { stream: 'grandchild', revision: 0n } })
    expect((await store.readStream('at-zero')).map((e) => [e.stream, e.revision])).toEqual([['parent', 0n], ['at-zero', 1n]])
    expect(await store.verifyStream('grandchild')).toMatchObject({ ok: true, checked: 5 })
    expect(await store.verifyStream('at-zero')).toMatchObject({ ok: true, checked: 2 })
  })

  it('exists with no events of its own, at the cut revision', async () => {
    await store.appendToStream('empty-fork', [], { forkOf: { stream: 'parent', revision: 1n } })
    expect(await store.streamInfo('empty-fork')).toMatchObject({ revision: 1n })
    expect(revisions(await store.readStream('empty-fork'))).toEqual([0n, 1n])
    expect((await store.appendToStream('empty-fork', events(1), { expectedRevision: 1n })).nextExpectedRevision).toBe(2n)
  })

  it('refuses a cut past the parent’s end, a missing parent and an existing stream', async () => {
    await expect(store.appendToStream('c', events(1), { forkOf: { stream: 'parent', revision: 5n } })).rejects.toBeInstanceOf(ForkRevisionOutOfRangeError)
    await expect(store.appendToStream('c', events(1), { forkOf: { stream: 'ghost', revision: 0n } })).rejects.toMatchObject({
      code: 'FORK_REVISION_OUT_OF_RANGE',
      lastRevision: -1n,
    })
    expect(await store.streamInfo('c')).toBeNull()
    await store.appendToStream('plain', events(1))
    const error = await conflictOf(store.appendToStream('plain', events(1), { forkOf: { stream: 'parent', revision: 0n } }))
    expect(error.actual).toBe(0n)
  })
})

describe('hash chain', () => {
  it('chains each event to the previous one and verifies', async () => {
    await store.appendToStream('s', events(3))
    await store.appendToStream('s', events(2))
    const read = await store.readStream('s')
    expect(new Set(read.map((e) => e.hash)).size).toBe(5)
    expect(await store.verifyStream('s')).toEqual({ ok: true, checked: 5 })
  })

  it('finds the first tampered event', async () => {
    await store.appendToStream('s', events(4))
    fake.tamper('s', 2n, () => ({ n: 'forged' }))
    const result = await store.verifyStream('s')
    expect(result.ok).toBe(false)
    expect(result.firstBad?.revision).toBe(2n)
    expect(result.firstBad?.actual).toBe((await store.readStream('s'))[2]!.hash)
    expect(result.firstBad?.expected).not.toBe(result.firstBad?.actual)
  })

  it('sees tampering in a parent from the fork', async () => {
    await store.appendToStream('parent', events(3))
    await store.appendToStream('child', events(2), { forkOf: { stream: 'parent', revision: 1n } })
    fake.tamper('parent', 0n, () => ({ n: 'forged' }))
    expect((await store.verifyStream('child')).firstBad).toMatchObject({ revision: 0n })
  })
})

describe('idempotent re-append', () => {
  it('returns the original result for an exact revision and writes nothing', async () => {
    await store.appendToStream('s', events(1))
    const batch = events(2)
    const first = await store.appendToStream('s', batch, { expectedRevision: 0n })
    await store.appendToStream('s', events(1)) // the stream moves on before the retry
    expect(await store.appendToStream('s', batch, { expectedRevision: 0n })).toEqual(first)
    expect(fake.ownEventCount('s')).toBe(4)
  })

  it('returns the original result for no_stream, any and a fork creation', async () => {
    const created = events(2)
    const first = await store.appendToStream('s', created, { expectedRevision: 'no_stream' })
    expect(await store.appendToStream('s', created, { expectedRevision: 'no_stream' })).toEqual(first)
    const loose = events(1)
    const looseFirst = await store.appendToStream('s', loose)
    expect(await store.appendToStream('s', loose)).toEqual(looseFirst)
    const forked = events(1)
    const forkFirst = await store.appendToStream('f', forked, { forkOf: { stream: 's', revision: 0n } })
    expect(await store.appendToStream('f', forked, { forkOf: { stream: 's', revision: 0n } })).toEqual(forkFirst)
    expect(fake.ownEventCount('s')).toBe(3)
    expect(fake.ownEventCount('f')).toBe(1)
  })

  it('accepts ids given in upper case', async () => {
    const batch = events(1).map((e) => ({ ...e, id: e.id.toUpperCase() }))
    const first = await store.appendToStream('s', batch, { expectedRevision: 'no_stream' })
    expect(await store.appendToStream('s', batch, { expectedRevision: 'no_stream' })).toEqual(first)
    expect(await store.verifyStream('s')).toMatchObject({ ok: true })
  })
})

describe('the whole log', () => {
  it('pages with checkpoints that order as strings, skipping system events', async () => {
    await store.appendToStream('chat-a', events(3, 'Posted'))
    await store.appendToStream('user-b', events(2, 'Joined'))
    await store.appendToStream('chat-a', events(2, 'Posted'))
    const seen: StoredEvent[] = []
    const checkpoints: string[] = []
    let after: string | undefined
    for (;;) {
      const page = await store.readAll({ after, maxCount: 2 })
      if (page.events.length === 0) break
      seen.push(...page.events)
      checkpoints.push(...page.events.map((e) => e.checkpoint))
      expect(page.checkpoint).toBe(page.events.at(-1)!.checkpoint)
      after = page.checkpoint
    }
    expect(seen.map((e) => e.stream)).toEqual(['chat-a', 'chat-a', 'chat-a', 'user-b', 'user-b', 'chat-a', 'chat-a'])
    expect([...checkpoints].sort()).toEqual(checkpoints)
    expect(new Set(checkpoints).size).toBe(7)
    expect(checkpoints.every((c) => /^\d{20}:\d{20}$/.test(c))).toBe(true)
    expect(await store.headCheckpoint()).toBe(after)
  })

  it('filters by stream prefix and event type and moves the checkpoint past what it skips', async () => {
    await store.appendToStream('chat-a', events(2, 'Posted'))
    await store.appendToStream('user-b', events(2, 'Joined'))
    const chats = await store.readAll({ filter: { streamPrefix: 'chat-' } })
    expect(chats.events.map((e) => e.stream)).toEqual(['chat-a', 'chat-a'])
    expect(chats.checkpoint).toBe(await store.headCheckpoint())
    const joined = await store.readAll({ filter: { eventTypes: ['Joined'] } })
    expect(joined.events.map((e) => e.type)).toEqual(['Joined', 'Joined'])
    expect((await store.readAll({ after: chats.checkpoint })).events).toEqual([])
  })

  it('numbers a fork’s own events from its cut', async () => {
    await store.appendToStream('parent', events(3))
    await store.appendToStream('child', events(1), { forkOf: { stream: 'parent', revision: 1n } })
    const { events: all } = await store.readAll({ filter: { streamPrefix: 'child' } })
    expect(all.map((e) => e.revision)).toEqual([2n])
  })

  it('starts at the beginning checkpoint on an empty store', async () => {
    const page = await store.readAll()
    expect(page.events).toEqual([])
    expect(await store.headCheckpoint() >= page.checkpoint).toBe(true)
  })
})

describe('subscriptions', () => {
  it('catches up on $all from a checkpoint, then goes live without a gap or a duplicate', async () => {
    await store.appendToStream('s', events(3))
    const { events: firstTwo } = await store.readAll({ maxCount: 2 })
    const subscription = store.subscribeToAll({ after: firstTwo[1]!.checkpoint })
    const live = take(subscription, 3)
    await store.appendToStream('s', events(2))
    const received = await live
    expect(revisions(received)).toEqual([2n, 3n, 4n])
    await subscription.close()
    expect(fake.subscriberCount).toBe(0)
  })

  it('applies the filter to live events', async () => {
    const subscription = store.subscribeToAll({ filter: { eventTypes: ['Wanted'] } })
    const received = take(subscription, 2)
    await store.appendToStream('s', [event('Unwanted'), event('Wanted')])
    await store.appendToStream('t', [event('Wanted')])
    expect((await received).map((e) => e.stream)).toEqual(['s', 't'])
    await subscription.close()
  })

  it('replays a fork from a revision in its parent, then its own events live', async () => {
    await store.appendToStream('parent', events(3))
    await store.appendToStream('child', events(1), { forkOf: { stream: 'parent', revision: 1n } })
    const subscription = store.subscribeToStream('child', { fromRevision: 1n })
    const received = take(subscription, 3)
    await store.appendToStream('child', events(1), { expectedRevision: 2n })
    expect((await received).map((e) => [e.stream, e.revision])).toEqual([['parent', 1n], ['child', 2n], ['child', 3n]])
    await subscription.close()
  })

  it('ends a waiting iteration when closed', async () => {
    const subscription = store.subscribeToStream('quiet')
    const iteration = take(subscription, 1)
    await new Promise((resolve) => setTimeout(resolve, 10))
    await subscription.close()
    expect(await iteration).toEqual([])
    expect(fake.subscriberCount).toBe(0)
  })
})
