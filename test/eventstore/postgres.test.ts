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
