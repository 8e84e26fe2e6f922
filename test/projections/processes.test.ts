import { spawn } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabase, type Database } from '../../src/db/database.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import type { EventStore } from '../../src/eventstore/types.ts'
import { createProjectionEngine } from '../../src/projections/engine.ts'
import { backends } from '../support/databases.ts'
import {
  appendTicks,
  checkpointRow,
  createRecorderTable,
  recordedRows,
  recorderProjection,
  ticksInLogOrder,
  waitUntilVisible,
} from './recorder.ts'

const postgres = backends.find((b) => b.name === 'postgres')!

describe.skipIf(!postgres.available)('projection engine across processes on postgres', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
    cleanups.length = 0
  })

  async function setup(): Promise<{ db: Database; store: EventStore; url: string }> {
    const opened = await postgres.open()
    const store = createSqlEventStore(opened.db)
    cleanups.push(async () => {
      await store.close()
      await opened.close()
    })
    await createRecorderTable(opened.db, 'ticks')
    return { db: opened.db, store, url: opened.url! }
  }

  it('a process killed mid-batch leaves no partial batch, and a new engine applies each event once', async () => {
    const { db, store, url } = await setup()
    const last = await appendTicks(store, 50, { streams: 5 })
    await waitUntilVisible(store, last.checkpoint)

    const child = spawn(process.execPath, ['--import', 'tsx/esm', 'test/projections/fixtures/slow-recorder.ts'], {
      env: { ...process.env, FIXTURE_DATABASE_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)))
    // Kill it while it applies the 26th event: the third batch (events 21..30) is half done.
    await new Promise<void>((resolve, reject) => {
      let applying = 0
      let killed = false
      let buffered = ''
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString()
        const lines = buffered.split('\n')
        buffered = lines.pop()!
        applying += lines.filter((l) => l.startsWith('applying ')).length
        if (applying >= 26 && !killed) {
          killed = true
          child.kill('SIGKILL')
          resolve()
        }
      })
      child.on('exit', () => reject(new Error(`the fixture exited before it was killed: ${stderr}`)))
    })
    expect(await exited).toBe('SIGKILL')

    const log = await ticksInLogOrder(store)
    const rows = await recordedRows(db, 'ticks')
    // Whole batches only (20 unless a loaded machine delayed the kill), and the checkpoint is
    // exactly the one after those events.
    expect(rows.length % 10).toBe(0)
    expect(rows.length).toBeGreaterThanOrEqual(20)
    expect(rows.length).toBeLessThan(50)
    expect(rows.map((r) => r.event_id)).toEqual(log.slice(0, rows.length).map((e) => e.id))
    const afterRows = await store.readAll({ maxCount: rows.length, filter: { eventTypes: ['Tick'] } })
    expect(await checkpointRow(db, 'recorder_ticks')).toBe(afterRows.checkpoint)

    const engine = createProjectionEngine({ db, store, projections: [recorderProjection('ticks')], batchSize: 10 })
    cleanups.push(() => engine.stop())
    await engine.start()
    await engine.waitForAll(last.checkpoint, 20_000)
    const all = await recordedRows(db, 'ticks')
    expect(all.map((r) => r.event_id)).toEqual(log.map((e) => e.id))
  })

  it('two engines on one database apply each event exactly once', async () => {
    const { db, store, url } = await setup()
    const otherDb = await openDatabase({ url })
    const otherStore = createSqlEventStore(otherDb)
    cleanups.push(async () => {
      await otherStore.close()
      await otherDb.close()
    })
    const slow = () =>
      recorderProjection('ticks', { before: () => new Promise((resolve) => setTimeout(resolve, Math.random() * 3)) })
    const engines = [
      createProjectionEngine({ db, store, projections: [slow()], batchSize: 7, pollIntervalMs: 50 }),
      createProjectionEngine({ db: otherDb, store: otherStore, projections: [slow()], batchSize: 7, pollIntervalMs: 50 }),
    ]
    const appliedBy = [0, 0]
    engines.forEach((engine, k) => {
      cleanups.push(() => engine.stop())
      engine.onApplied((_name, events) => (appliedBy[k]! += events.length))
    })
    await Promise.all(engines.map((e) => e.start()))

    // Append from both sides while both engines run.
    const lasts = await Promise.all([
      appendTicks(store, 60, { streams: 6, from: 0 }),
      appendTicks(otherStore, 60, { streams: 6, from: 60 }),
    ])
    // What each appender would wait for to read its own write; the later one covers both.
    const head = lasts.map((l) => l.checkpoint).sort().at(-1)!
    await Promise.all(engines.map((e) => e.waitForAll(head, 20_000)))

    const log = await ticksInLogOrder(store)
    const rows = await recordedRows(db, 'ticks')
    expect(log).toHaveLength(120)
    expect(rows.map((r) => r.event_id)).toEqual(log.map((e) => e.id))
    expect(appliedBy[0]! + appliedBy[1]!).toBe(120)
  })
})
