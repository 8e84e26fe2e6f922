import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/db/database.ts'
import { compareCheckpoints, type EventStore, type StoredEvent } from '../../src/eventstore/index.ts'
import { appendEvents, prepareEvents } from '../../src/eventstore/postgres/append.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import { backends } from '../support/databases.ts'
import { newEvent } from './contract.ts'

const postgres = backends.find((b) => b.name === 'postgres')!

describe.skipIf(!postgres.available)('SQL event store under concurrent writers (PostgreSQL)', () => {
  let db: Database
  let store: EventStore
  let close: () => Promise<void>
  beforeAll(async () => {
    const opened = await postgres.open()
    db = opened.db
    close = opened.close
    store = createSqlEventStore(db, { pollIntervalMs: 100 })
  })
  afterAll(async () => {
    await store?.close()
    await close?.()
  })

  it('a tailing reader sees every event of 8 interleaved writers once, in the order a full read repeats', async () => {
    const writers = 8
    const perWriter = 1000
    const total = writers * perWriter
    const subscription = store.subscribeToAll()
    const seen: (StoredEvent & { checkpoint: string })[] = []
    const reading = (async () => {
      for await (const event of subscription) {
        seen.push(event)
        if (seen.length === total) break
      }
    })()
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < perWriter; i++) {
          await store.appendToStream(`writer-${w}`, [newEvent('Written', { w, i })], { expectedRevision: i === 0 ? 'no_stream' : BigInt(i - 1) })
        }
      }),
    )
    const timeout = setTimeout(() => void subscription.close(), 20_000)
    await reading
    clearTimeout(timeout)

    expect(seen).toHaveLength(total)
    expect(new Set(seen.map((e) => e.id)).size).toBe(total)
    for (let w = 0; w < writers; w++) {
      const revisions = seen.filter((e) => e.stream === `writer-${w}`).map((e) => Number(e.revision))
      expect(revisions).toEqual(Array.from({ length: perWriter }, (_, i) => i))
    }
    for (let i = 1; i < seen.length; i++) expect(compareCheckpoints(seen[i]!.checkpoint, seen[i - 1]!.checkpoint)).toBe(1)

    const replay = await store.readAll()
    expect(replay.events.map((e) => e.id)).toEqual(seen.map((e) => e.id))
    expect(replay.events.map((e) => e.checkpoint)).toEqual(seen.map((e) => e.checkpoint))
  })

  it('does not pass an event whose transaction commits after a later one', async () => {
    const start = await store.headCheckpoint()
    const tail = store.subscribeToAll({ after: start, filter: { streamPrefix: 'gap-' } })
    const tailed: StoredEvent[] = []
    const tailing = (async () => {
      for await (const event of tail) {
        tailed.push(event)
        if (tailed.length === 2) break
      }
    })()

    let inserted!: () => void
    const insertedA = new Promise<void>((resolve) => (inserted = resolve))
    let commit!: () => void
    const commitA = new Promise<void>((resolve) => (commit = resolve))
    const eventA = newEvent('A')
    // Transaction A appends through the store's own SQL, then stays open.
    const transactionA = db.transaction(async (tx) => {
      const result = await appendEvents(tx, 'gap-a', prepareEvents('gap-a', [eventA]), {})
      inserted()
      await commitA
      return result
    })
    await insertedA
    const b = await store.appendToStream('gap-b', [newEvent('B')])

    await new Promise((resolve) => setTimeout(resolve, 300))
    const whileOpen = await store.readAll({ after: start, filter: { streamPrefix: 'gap-' } })
    expect(whileOpen.events).toEqual([])
    expect(compareCheckpoints(whileOpen.checkpoint, b.checkpoint)).toBeLessThan(0)
    expect(tailed).toEqual([])

    commit()
    const a = await transactionA
    expect(a.position).toBeLessThan(b.position)
    await tailing
    const afterCommit = await store.readAll({ after: whileOpen.checkpoint, filter: { streamPrefix: 'gap-' } })
    expect(afterCommit.events.map((e) => e.stream)).toEqual(['gap-a', 'gap-b'])
    expect(afterCommit.events[0]?.id).toBe(eventA.id)
    expect(tailed.map((e) => e.stream)).toEqual(['gap-a', 'gap-b'])
  })
})
