// Who else listens on a database (src/db/presence.ts): a wake-up NOTIFY is skipped only when
// nobody could receive it, and a process that joins, or leaves, is noticed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Database } from '../../src/db/database.ts'
import { migrate } from '../../src/db/migrate.ts'
import { Presence } from '../../src/db/presence.ts'
import { EVENTS_CHANNEL } from '../../src/eventstore/postgres/notify.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'
import { newEvent } from '../eventstore/contract.ts'

const timing = { heartbeatMs: 100, ttlMs: 400, discoveryMs: 200 }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function eventually(what: string, check: () => boolean, withinMs = 5000): Promise<void> {
  const until = performance.now() + withinMs
  while (!check()) {
    if (performance.now() > until) throw new Error(`not within ${withinMs} ms: ${what}`)
    await sleep(20)
  }
}

describe.skipIf(!postgresAvailable)('presence on PostgreSQL', () => {
  let fresh: { url: string; drop(): Promise<void> }
  const opened: Database[] = []
  const open = async () => {
    const db = await openDatabase({ url: fresh.url })
    opened.push(db)
    return db
  }

  beforeAll(async () => {
    fresh = await createFreshPostgresDatabase()
  })
  afterAll(async () => {
    for (const db of opened) await db.close()
    await fresh?.drop()
  })

  it('says nobody listens once a lone process has looked, notices one that joins at once and one that left after its heartbeats stop', async () => {
    // Each Presence stands for one process; the databases' own presences are never started here.
    const a = new Presence(await open(), timing)
    a.join('chan')
    expect(a.mayReachOthers('chan')).toBe(true) // still looking
    await eventually('a lone process stops notifying', () => !a.mayReachOthers('chan'))

    const bDb = await open()
    const b = new Presence(bDb, timing)
    b.join('chan')
    // B's hello reaches A, A's answer reaches B: both know within round trips, not a heartbeat.
    await eventually('A hears B', () => a.mayReachOthers('chan'), timing.heartbeatMs * 3)
    await sleep(timing.discoveryMs + 50)
    expect(b.mayReachOthers('chan')).toBe(true)

    await b.stop()
    await eventually('A counts B gone', () => !a.mayReachOthers('chan'), timing.ttlMs * 4)
    await a.stop()
  })

  it('notifies for another member of the channel in the same process', async () => {
    const db = await open()
    const p = new Presence(db, timing)
    const leaveFirst = p.join('chan')
    await eventually('alone', () => !p.mayReachOthers('chan'))
    const leaveSecond = p.join('chan')
    expect(p.mayReachOthers('chan')).toBe(true)
    expect(p.mayReachOthers('other-chan')).toBe(false)
    leaveSecond()
    expect(p.mayReachOthers('chan')).toBe(false)
    leaveFirst()
    await p.stop()
  })

  it('lets a lone store append without NOTIFY, and wakes a store in another process once it is there', async () => {
    const aDb = await open()
    await migrate(aDb)
    const store = createSqlEventStore(aDb, { pollIntervalMs: 60_000 })
    const presence = aDb.presence!
    await eventually('the lone store stops notifying', () => !presence.mayReachOthers(EVENTS_CHANNEL), 5000)
    const heard: string[] = []
    const spy = await open()
    const stopSpy = await spy.listen(EVENTS_CHANNEL, (payload) => heard.push(payload))
    await store.appendToStream('lone-1', [newEvent('T')])
    await sleep(300)
    expect(heard).toEqual([]) // the spy is not a Cairn process: it has no presence

    const other = createSqlEventStore(await open(), { pollIntervalMs: 60_000 })
    const live = other.subscribeToStream('lone-2')
    await eventually('the first store hears of the second', () => presence.mayReachOthers(EVENTS_CHANNEL))
    const t = performance.now()
    await store.appendToStream('lone-2', [newEvent('T')])
    const next = await live[Symbol.asyncIterator]().next()
    expect(next.value?.stream).toBe('lone-2')
    expect(performance.now() - t).toBeLessThan(30_000) // woken by NOTIFY, not the minute-long poll
    expect(heard.length).toBeGreaterThan(0)
    await stopSpy()
    await live.close()
    await other.close()
    await store.close()
  })
})
