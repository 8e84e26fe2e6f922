import { afterEach, describe, expect, it } from 'vitest'
import type { Database } from '../../src/db/database.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import { connectEventStoreDb } from '../../src/eventstore/eventstoredb/index.ts'
import type { EventStore, StoredEvent } from '../../src/eventstore/types.ts'
import { createProjectionEngine } from '../../src/projections/engine.ts'
import { ProjectionTimeoutError } from '../../src/projections/types.ts'
import { backends } from '../support/databases.ts'
import { startFakeEventStoreDb } from '../fakes/eventstoredb/server.ts'
import {
  appendTicks,
  checkpointRow,
  createRecorderTable,
  other,
  recordedRows,
  recorderProjection,
  tick,
  ticksInLogOrder,
  waitUntilVisible,
} from './recorder.ts'

const setups = [
  ...backends.map((backend) => ({ name: backend.name, backend, logInEventStoreDb: false })),
  { name: 'pglite, the log in EventStoreDB (the fake node over gRPC)', backend: backends.find((b) => b.name === 'pglite')!, logInEventStoreDb: true },
]

for (const { name, backend, logInEventStoreDb } of setups) {
  describe.skipIf(!backend.available)(`projection engine on ${name}`, () => {
    const cleanups: (() => Promise<void>)[] = []
    afterEach(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup()
      cleanups.length = 0
    })

    /** `writer` is the same log opened a second time, as another process would. */
    async function setup(): Promise<{ db: Database; store: EventStore; writer: EventStore }> {
      const opened = await backend.open()
      const node = logInEventStoreDb ? await startFakeEventStoreDb() : undefined
      const open = () => (node ? connectEventStoreDb(node.url) : createSqlEventStore(opened.db))
      const store = open()
      const writer = open()
      cleanups.push(async () => {
        await writer.close()
        await store.close()
        await node?.close()
        await opened.close()
      })
      await createRecorderTable(opened.db, 'ticks')
      return { db: opened.db, store, writer }
    }

    // These check the engine's own bookkeeping (timeouts, a rebuild with no loop running, a failing
    // handler) and read the log no differently from the cases above: the EventStoreDB run leaves them out.
    const itOnSqlLog = logInEventStoreDb ? it.skip : it

    function engineFor(db: Database, store: EventStore, opts: Partial<Parameters<typeof createProjectionEngine>[0]> = {}) {
      const engine = createProjectionEngine({ db, store, projections: [recorderProjection('ticks')], ...opts })
      cleanups.push(() => engine.stop())
      return engine
    }

    it('applies events in global order, in batches, skipping types it does not handle', async () => {
      const { db, store } = await setup()
      await appendTicks(store, 5)
      await store.appendToStream('other-1', [other(0), other(1)])
      const last = await appendTicks(store, 6, { from: 5 })
      const engine = engineFor(db, store, { batchSize: 3 })
      const batches: StoredEvent[][] = []
      engine.onApplied((_name, events) => batches.push(events))
      await engine.start()
      await engine.waitForPosition('recorder_ticks', last.checkpoint)

      const log = await ticksInLogOrder(store)
      const rows = await recordedRows(db, 'ticks')
      expect(rows.map((r) => r.event_id)).toEqual(log.map((e) => e.id))
      expect(rows.map((r) => r.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      expect(batches.length).toBeGreaterThanOrEqual(4)
      expect(batches.every((b) => b.length <= 3 && b.every((e) => e.type === 'Tick'))).toBe(true)
      const [status] = await engine.status()
      expect(status).toEqual({ name: 'recorder_ticks', checkpoint: await checkpointRow(db, 'recorder_ticks'), lag: 0 })
      expect(status!.checkpoint >= last.checkpoint).toBe(true)
    })

    it('lets a command read its own write with waitForPosition', async () => {
      const { db, store } = await setup()
      const engine = engineFor(db, store)
      await engine.start()
      for (let i = 0; i < 5; i++) {
        const appended = await store.appendToStream(`own-${i}`, [tick(i)])
        await engine.waitForPosition('recorder_ticks', appended.checkpoint, 5000)
        const rows = await db.query('select 1 from ticks where stream = $1', [`own-${i}`])
        expect(rows).toHaveLength(1)
      }
      // An event the projection ignores still moves its checkpoint, so waiting on it returns.
      const ignored = await store.appendToStream('other-x', [other(1)])
      await engine.waitForAll(ignored.checkpoint, 5000)
    })

    itOnSqlLog('rejects a wait that cannot finish with a timeout naming the projection and its failure', async () => {
      const { db, store } = await setup()
      const failing = recorderProjection('ticks', {
        before: () => {
          throw new Error('boom')
        },
      })
      const engine = engineFor(db, store, { projections: [failing] })
      await engine.start()
      const appended = await appendTicks(store, 1)
      await waitUntil(async () => (await engine.status())[0]?.error !== undefined)
      const error = await engine.waitForPosition('recorder_ticks', appended.checkpoint, 600).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ProjectionTimeoutError)
      expect((error as Error).message).toMatch(/projection recorder_ticks did not reach checkpoint .* within 600 ms/)
      expect((error as Error).message).toMatch(/boom/)
      await expect(engine.waitForPosition('nope', appended.checkpoint)).rejects.toThrow(/no projection named nope/)
    })

    it('rebuild reproduces the same read model from position zero', async () => {
      const { db, store } = await setup()
      const last = await appendTicks(store, 23, { streams: 4 })
      const engine = engineFor(db, store, { batchSize: 5 })
      await engine.start()
      await engine.waitForAll(last.checkpoint)
      const before = await recordedRows(db, 'ticks')
      const checkpointBefore = await checkpointRow(db, 'recorder_ticks')

      await engine.rebuild('recorder_ticks')
      expect(await recordedRows(db, 'ticks')).toEqual(before)
      expect(await checkpointRow(db, 'recorder_ticks')).toBe(checkpointBefore)

      // And the running loop keeps going after the rebuild.
      const more = await appendTicks(store, 2, { from: 23 })
      await engine.waitForAll(more.checkpoint)
      expect(await recordedRows(db, 'ticks')).toHaveLength(25)
    })

    itOnSqlLog('rebuild works without a running engine (the CLI path)', async () => {
      const { db, store } = await setup()
      await waitUntilVisible(store, (await appendTicks(store, 7)).checkpoint)
      const engine = engineFor(db, store, { batchSize: 2 })
      await engine.rebuild()
      expect((await recordedRows(db, 'ticks')).map((r) => r.i)).toEqual([0, 1, 2, 3, 4, 5, 6])
      expect(await engine.status()).toEqual([{ name: 'recorder_ticks', checkpoint: expect.any(String), lag: 0 }])
    })

    itOnSqlLog('a handler that throws mid-batch leaves read model and checkpoint as before the batch', async () => {
      const { db, store } = await setup()
      const last = await appendTicks(store, 12)
      // All twelve visible before the engine starts, so its batches are 5, 5, 2.
      await waitUntilVisible(store, last.checkpoint)
      let failOn: number | null = 6 // the 7th event: the second event of the second batch
      let seen = 0
      const failing = recorderProjection('ticks', {
        before: (event) => {
          seen++
          if ((event.data as { i: number }).i === failOn) throw new Error(`fault injected at ${failOn}`)
        },
      })
      const first = engineFor(db, store, { projections: [failing], batchSize: 5 })
      await first.start()
      await waitUntil(async () => (await first.status())[0]?.error !== undefined)
      await first.stop()

      const status = (await first.status())[0]!
      expect(status.error).toMatch(/projection recorder_ticks failed on Tick .*fault injected at 6/)
      expect(seen).toBeGreaterThanOrEqual(7)
      const log = await ticksInLogOrder(store)
      const rows = await recordedRows(db, 'ticks')
      expect(rows.map((r) => r.event_id)).toEqual(log.slice(0, 5).map((e) => e.id))
      const afterFirstBatch = await store.readAll({ maxCount: 5, filter: { eventTypes: ['Tick'] } })
      expect(await checkpointRow(db, 'recorder_ticks')).toBe(afterFirstBatch.checkpoint)
      expect(status.lag).toBe(7)

      failOn = null
      const second = engineFor(db, store, { projections: [failing], batchSize: 5 })
      await second.start()
      await second.waitForAll(last.checkpoint)
      const all = await recordedRows(db, 'ticks')
      expect(all.map((r) => r.event_id)).toEqual(log.map((e) => e.id))
      expect(new Set(all.map((r) => r.event_id)).size).toBe(12)
      expect((await second.status())[0]).toEqual({ name: 'recorder_ticks', checkpoint: expect.any(String), lag: 0 })
    })

    it('keeps going when another process appends while it runs (woken by the store: NOTIFY, or the $all subscription)', async () => {
      const { db, store, writer } = await setup()
      // A long poll interval: only the wake-up can bring the events in time.
      const engine = engineFor(db, store, { pollIntervalMs: 60_000 })
      await engine.start()
      await new Promise((r) => setTimeout(r, 100))
      const appended = await appendTicks(writer, 3)
      const started = Date.now()
      await waitUntil(async () => (await recordedRows(db, 'ticks')).length === 3, 5000)
      expect(Date.now() - started).toBeLessThan(5000)
      await engine.waitForPosition('recorder_ticks', appended.checkpoint, 1000)
    })
  })
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
