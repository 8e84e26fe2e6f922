import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/db/database.ts'
import { WrongExpectedRevisionError, type EventStore } from '../../src/eventstore/index.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import { backends } from '../support/databases.ts'
import { eventStoreContract, newEvent } from './contract.ts'

for (const backend of backends) {
  describe.skipIf(!backend.available)(`SQL event store on ${backend.name}`, () => {
    eventStoreContract(backend.name, async () => {
      const opened = await backend.open()
      const store = createSqlEventStore(opened.db, { pollIntervalMs: 200 })
      return {
        store,
        async close() {
          await store.close()
          await opened.close()
        },
        async tamper(stream, revision) {
          await opened.db.query(
            `update events set data = jsonb_set(data, '{tampered}', 'true') where stream = $1 and revision = $2`,
            [stream, revision.toString()],
          )
        },
      }
    })

    describe('two stores on one database', () => {
      let db: Database
      let close: () => Promise<void>
      let first: EventStore
      let second: EventStore
      beforeAll(async () => {
        const opened = await backend.open()
        db = opened.db
        close = opened.close
        // Polling so slow that only a NOTIFY can deliver within the test's time.
        first = createSqlEventStore(db, { pollIntervalMs: 60_000 })
        second = createSqlEventStore(db, { pollIntervalMs: 60_000 })
      })
      afterAll(async () => {
        await first?.close()
        await second?.close()
        await close?.()
      })

      it("decides again when the other store moved a stream this one remembers", async () => {
        const stream = `shared-${randomUUID()}`
        await first.appendToStream(stream, [newEvent()], { expectedRevision: 'no_stream' })
        await second.appendToStream(stream, [newEvent()], { expectedRevision: 0n })
        const stale = first.appendToStream(stream, [newEvent()], { expectedRevision: 0n })
        await expect(stale).rejects.toBeInstanceOf(WrongExpectedRevisionError)
        await expect(stale).rejects.toMatchObject({ actual: 1n })
        const appended = await first.appendToStream(stream, [newEvent()])
        expect(appended.nextExpectedRevision).toBe(2n)
        await second.appendToStream(stream, [newEvent()])
        expect((await first.appendToStream(stream, [newEvent()], { expectedRevision: 'exists' })).nextExpectedRevision).toBe(4n)
        expect(await first.verifyStream(stream)).toEqual({ ok: true, checked: 5 })
      })

      it('serves readers that ask at once from one read: page by page, each sees what it would see alone', async () => {
        const prefix = `shared-read-${randomUUID()}`
        const after = await first.headCheckpoint()
        for (let i = 0; i < 7; i++) {
          await first.appendToStream(`${prefix}-a`, [newEvent(i % 2 ? 'Odd' : 'Even', { i })])
          await first.appendToStream(`${prefix}-b`, [newEvent('Other', { i })])
        }
        const filters = [{ eventTypes: ['Odd'] }, { eventTypes: ['Even', 'Other'], streamPrefix: `${prefix}-a` }, undefined, { streamPrefix: prefix }]
        const mine = (events: { stream: string; type: string; data: unknown }[]) =>
          events.filter((e) => e.stream.startsWith(prefix)).map((e) => `${e.stream.slice(-1)}:${e.type}:${JSON.stringify(e.data)}`)
        /** Every reader pages to the head; `together` asks for each round's pages in one turn of the event loop. */
        async function readToHead(together: boolean): Promise<string[][]> {
          const seen: string[][] = filters.map(() => [])
          const at = filters.map(() => after)
          const done = filters.map(() => false)
          while (done.includes(false)) {
            const ask = (i: number) => first.readAll({ after: at[i], maxCount: 3, ...(filters[i] ? { filter: filters[i] } : {}) })
            const pending = filters.map((_, i) => i).filter((i) => !done[i])
            const pages = together ? await Promise.all(pending.map(ask)) : await pending.reduce(async (acc, i) => [...(await acc), await ask(i)], Promise.resolve([] as Awaited<ReturnType<typeof ask>>[]))
            pages.forEach((page, k) => {
              const i = pending[k]!
              seen[i]!.push(...mine(page.events))
              at[i] = page.checkpoint
              done[i] = page.atHead === true
            })
          }
          return seen
        }
        // Another test's open transaction anywhere on the server can hold the log's horizon back: wait until ours are visible.
        await expect.poll(async () => mine((await first.readAll({ after, filter: { streamPrefix: prefix } })).events).length, { timeout: 30_000 }).toBe(14)
        const alone = await readToHead(false)
        expect(alone[0]).toHaveLength(3)
        expect(alone[3]).toHaveLength(14)
        expect(await readToHead(true)).toEqual(alone)
        // A shared page is the first three of everything here: the 'Odd' reader gets what passes its filter.
        const [odd, all] = await Promise.all([first.readAll({ after, maxCount: 3, filter: filters[0] }), first.readAll({ after, maxCount: 3 })])
        expect(odd.checkpoint).toBe(all.checkpoint)
        expect(odd.atHead).toBe(false)
      })

      it('a filtered subscriber that read a short page misses nothing when a type it does not want is appended first', async () => {
        const stream = `typed-wake-${randomUUID()}`
        const subscription = first.subscribeToAll({ filter: { streamPrefix: stream, eventTypes: ['Wanted'] } })
        const iterator = subscription[Symbol.asyncIterator]()
        await first.appendToStream(stream, [newEvent('Wanted', { n: 1 })])
        expect((await iterator.next()).value?.data).toEqual({ n: 1 })
        const next = iterator.next()
        await first.appendToStream(stream, [newEvent('Unwanted')])
        await first.appendToStream(stream, [newEvent('Wanted', { n: 2 })])
        // Polling is a minute away: only the wake-up of the append delivers within the test.
        expect((await next).value?.data).toEqual({ n: 2 })
        await subscription.close()
      })

      it('wakes a subscriber of one store on an append through the other (NOTIFY)', async () => {
        const stream = `notified-${randomUUID()}`
        const subscription = first.subscribeToAll({ filter: { streamPrefix: stream } })
        const streamSubscription = first.subscribeToStream(stream)
        const iterator = subscription[Symbol.asyncIterator]()
        const streamIterator = streamSubscription[Symbol.asyncIterator]()
        const nextAll = iterator.next()
        const nextInStream = streamIterator.next()
        await new Promise((resolve) => setTimeout(resolve, 200))
        const started = Date.now()
        await second.appendToStream(stream, [newEvent()])
        expect((await nextAll).value?.stream).toBe(stream)
        expect((await nextInStream).value?.revision).toBe(0n)
        expect(Date.now() - started).toBeLessThan(10_000)
        await subscription.close()
        await streamSubscription.close()
      })
    })
  })
}
