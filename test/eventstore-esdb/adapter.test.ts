// What the EventStoreDB adapter does that the shared contract does not see: how it maps our
// revisions, forks, hashes and retries onto ESDB's, checked at the fake node's end of the wire.
import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { connectEventStoreDb } from '../../src/eventstore/eventstoredb/index.ts'
import { WrongExpectedRevisionError, type EventStore, type NewEvent, type StoredEvent, type Subscription } from '../../src/eventstore/types.ts'
import { startFakeEventStoreDb, type FakeEventStoreDb } from '../fakes/eventstoredb/server.ts'

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

/** The node hears of a cancelled subscription a moment after the client cancels it. */
async function untilNoSubscriptions(node: FakeEventStoreDb): Promise<number> {
  for (let i = 0; i < 200 && node.subscriptions > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  return node.subscriptions
}

const rawMetadata = (node: FakeEventStoreDb, stream: string, revision: bigint) => JSON.parse(Buffer.from(node.log.stream(stream)[Number(revision)]!.metadata).toString('utf8'))

describe.each([
  { via: 'BatchAppend', node: 'a 21.10+ node', serverFeatures: true },
  { via: 'Append', node: 'an older node', serverFeatures: false },
] as const)('the EventStoreDB adapter appending through $via ($node)', ({ via, serverFeatures }) => {
  let node: FakeEventStoreDb
  let store: EventStore
  beforeEach(async () => {
    node = await startFakeEventStoreDb({ serverFeatures })
    store = connectEventStoreDb(node.url)
  })
  afterEach(async () => {
    expect(new Set(node.appends.map((a) => a.via))).toEqual(new Set([via]))
    await store.close()
    await node.close()
  })

  it('maps the node’s wrong-expected-version answer from a write that lands between read and append', async () => {
    await store.appendToStream('s', events(2))
    node.beforeAppend = async () => {
      await store.appendToStream('s', events(1)) // a rival writer
    }
    const error = await conflictOf(store.appendToStream('s', events(1), { expectedRevision: 1n }))
    expect([error.expected, error.actual]).toEqual([1n, 2n])
    expect(node.log.stream('s')).toHaveLength(3)
  })

  it('fences any on the exact head and re-chains after losing a race', async () => {
    await store.appendToStream('s', events(2))
    node.beforeAppend = async () => {
      await store.appendToStream('s', events(1))
    }
    const result = await store.appendToStream('s', events(1), { expectedRevision: 'any' })
    expect(result.nextExpectedRevision).toBe(3n)
    expect(node.appends.map((a) => a.expected)).not.toContain('any')
    expect(await store.verifyStream('s')).toMatchObject({ ok: true, checked: 4 })
  })

  it('returns the original result of a retried append and writes nothing', async () => {
    await store.appendToStream('s', events(1))
    const batch = events(2)
    const first = await store.appendToStream('s', batch, { expectedRevision: 0n })
    await store.appendToStream('s', events(1)) // the stream moves on before the retry
    expect(await store.appendToStream('s', batch, { expectedRevision: 0n })).toEqual(first)
    const forked = events(1)
    const forkFirst = await store.appendToStream('f', forked, { forkOf: { stream: 's', revision: 0n } })
    expect(await store.appendToStream('f', forked, { forkOf: { stream: 's', revision: 0n } })).toEqual(forkFirst)
    const upper = events(1).map((e) => ({ ...e, id: e.id.toUpperCase() }))
    const upperFirst = await store.appendToStream('u', upper, { expectedRevision: 'no_stream' })
    expect(await store.appendToStream('u', upper, { expectedRevision: 'no_stream' })).toEqual(upperFirst)
    expect([node.log.stream('s').length, node.log.stream('f').length, node.log.stream('u').length]).toEqual([4, 1, 1])
  })
})

describe('the EventStoreDB adapter', () => {
  let node: FakeEventStoreDb
  let store: EventStore
  beforeEach(async () => {
    node = await startFakeEventStoreDb()
    store = connectEventStoreDb(node.url)
  })
  afterEach(async () => {
    await store.close()
    await node.close()
  })

  it('keeps the chain hash in ESDB metadata and hands back exactly the metadata appended', async () => {
    const appended = event('Started', { a: [1, 2] })
    appended.metadata = { actor, correlationId: 'c-1' }
    const result = await store.appendToStream('s', [appended])
    const [stored] = await store.readStream('s')
    expect(stored).toMatchObject({ id: appended.id, type: 'Started', data: { a: [1, 2] }, metadata: { actor, correlationId: 'c-1' }, stream: 's', revision: 0n })
    expect(stored!.metadata).not.toHaveProperty('$cairn.hash')
    expect(rawMetadata(node, 's', 0n)).toHaveProperty(['$cairn.hash'], stored!.hash)
    expect(stored!.position).toBe(result.position)
    expect(stored!.position).toBe(node.log.stream('s')[0]!.position)
  })

  it('forks by metadata: nothing copied, our revisions mapped onto the fork’s own ESDB revisions', async () => {
    await store.appendToStream('parent', events(5))
    await store.appendToStream('child', events(1), { forkOf: { stream: 'parent', revision: 2n } })
    expect(node.log.stream('child')).toHaveLength(1)
    expect(node.log.stream('$$child')).toHaveLength(1)
    expect((await store.appendToStream('child', events(1), { expectedRevision: 3n })).nextExpectedRevision).toBe(4n)
    // ours 3 = cut 2 + 1 + ESDB revision 0
    expect(node.appends.at(-1)).toMatchObject({ stream: 'child', expected: 0n })
    const stale = await conflictOf(store.appendToStream('child', events(1), { expectedRevision: 3n }))
    expect(stale.actual).toBe(4n)
    const again = await conflictOf(store.appendToStream('child', events(1), { expectedRevision: 'no_stream' }))
    expect(again.actual).toBe(4n)
  })

  it('creates a fork with no events of its own, at the cut revision', async () => {
    await store.appendToStream('parent', events(5))
    await store.appendToStream('empty-fork', [], { forkOf: { stream: 'parent', revision: 1n } })
    expect(node.log.stream('empty-fork')).toHaveLength(0)
    expect(await store.streamInfo('empty-fork')).toMatchObject({ revision: 1n })
    expect(revisions(await store.readStream('empty-fork'))).toEqual([0n, 1n])
    expect((await store.appendToStream('empty-fork', events(1), { expectedRevision: 1n })).nextExpectedRevision).toBe(2n)
  })

  it('sees tampering in a parent from the fork', async () => {
    await store.appendToStream('parent', events(3))
    await store.appendToStream('child', events(2), { forkOf: { stream: 'parent', revision: 1n } })
    node.log.tamper('parent', 0n, () => ({ n: 'forged' }))
    expect((await store.verifyStream('child')).firstBad).toMatchObject({ revision: 0n })
  })

  it('pages $all with checkpoints that order as strings, skipping the node’s system records', async () => {
    await store.appendToStream('chat-a', events(3, 'Posted'))
    await store.appendToStream('user-b', events(2, 'Joined'))
    await store.appendToStream('chat-a', events(2, 'Posted'))
    expect(node.log.all.filter((r) => r.stream.startsWith('$'))).not.toHaveLength(0)
    const seen: StoredEvent[] = []
    const checkpoints: string[] = []
    let after: string | undefined
    for (;;) {
      const page = await store.readAll({ after, maxCount: 2 })
      expect(page.atHead).toBe(page.events.length < 2)
      if (page.events.length === 0) break
      seen.push(...page.events)
      checkpoints.push(...page.events.map((e) => e.checkpoint))
      expect(page.checkpoint).toBe(page.events.at(-1)!.checkpoint)
      after = page.checkpoint
    }
    expect(seen.map((e) => e.stream)).toEqual(['chat-a', 'chat-a', 'chat-a', 'user-b', 'user-b', 'chat-a', 'chat-a'])
    expect([...checkpoints].sort()).toEqual(checkpoints)
    expect(checkpoints.every((c) => /^\d{20}:\d{20}$/.test(c))).toBe(true)
    expect(await store.headCheckpoint()).toBe(after)
  })

  it('numbers a fork’s own events in $all from its cut', async () => {
    await store.appendToStream('parent', events(3))
    await store.appendToStream('child', events(1), { forkOf: { stream: 'parent', revision: 1n } })
    const { events: all } = await store.readAll({ filter: { streamPrefix: 'child' } })
    expect(all.map((e) => e.revision)).toEqual([2n])
  })

  it('applies the event-type filter to live $all events, and cancels its subscription at the node on close', async () => {
    const subscription = store.subscribeToAll({ filter: { eventTypes: ['Wanted'] } })
    const received = take(subscription, 2)
    await store.appendToStream('s', [event('Unwanted'), event('Wanted')])
    await store.appendToStream('t', [event('Wanted')])
    expect((await received).map((e) => e.stream)).toEqual(['s', 't'])
    await subscription.close()
    expect(await untilNoSubscriptions(node)).toBe(0)
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

  it('connects with KurrentDB’s kurrentdb:// scheme as with esdb://', async () => {
    const kurrent = connectEventStoreDb(node.url.replace(/^esdb:/, 'kurrentdb:'))
    try {
      await kurrent.appendToStream('k', events(1))
      expect(await store.streamInfo('k')).toEqual({ stream: 'k', revision: 0n })
    } finally {
      await kurrent.close()
    }
  })

  it('refuses an append past the node’s maximum size with the node’s own error', async () => {
    const big = event('Big', { text: 'x'.repeat(1024 * 1024) })
    await expect(store.appendToStream('s', [big])).rejects.toMatchObject({ type: 'maximum-append-size-exceeded' })
    expect(node.log.stream('s')).toHaveLength(0)
  })
})
