// The database going away under a running server (a restart, a terminated session): the LISTEN
// session comes back and its readers catch up, a transaction cut off fails instead of ending the
// process, a subscription reads on from where it was, and deltas published meanwhile are dropped
// without ending the process.
import { randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LISTENER_APPLICATION_NAME, openDatabase, type Database } from '../../src/db/database.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import { PagedSubscription, Wakeups } from '../../src/eventstore/postgres/subscription.ts'
import type { EventStore } from '../../src/eventstore/types.ts'
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'
import { createEphemeralPubSub } from '../../src/live/ephemeral.ts'
import { loadEnv } from '../../src/config/env.ts'
import { buildApp, createContext } from '../../src/server.ts'
import { newEvent } from '../eventstore/contract.ts'
import { freePort } from '../../soak/cluster.ts'

/** A subscription over pages from `fetchPage`, polling every 20 ms. */
const pagedOver = (fetchPage: () => Promise<number[]>) =>
  new PagedSubscription<number>({ fetchPage, ready: Promise.resolve(), wakeups: new Wakeups(), matches: () => true, pollIntervalMs: 20, pageSize: 2, onClose: () => {} })

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 50))
}

describe.skipIf(!postgresAvailable)('the database session lost under a running store', () => {
  let fresh: { url: string; drop(): Promise<void> }
  let db: Database
  let admin: Database
  let reader: EventStore
  let writer: EventStore
  const listeners = async () =>
    (await admin.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = $1`, [LISTENER_APPLICATION_NAME]))[0]!.n

  beforeAll(async () => {
    fresh = await createFreshPostgresDatabase()
    db = await openDatabase({ url: fresh.url })
    admin = await openDatabase({ url: fresh.url })
    const { migrate } = await import('../../src/db/migrate.ts')
    await migrate(db)
    // Polling so slow that only a NOTIFY, or the catch-up after the session is back, delivers within the test.
    reader = createSqlEventStore(db, { pollIntervalMs: 60_000 })
    writer = createSqlEventStore(admin, { pollIntervalMs: 60_000 })
  })
  afterAll(async () => {
    await reader?.close()
    await writer?.close()
    await db?.close()
    await admin?.close()
    await fresh?.drop()
  })

  it('LISTENs again after its session is terminated, and its readers catch up on what was notified meanwhile', async () => {
    const stream = `relisten-${randomUUID()}`
    const subscription = reader.subscribeToStream(stream)
    const events = subscription[Symbol.asyncIterator]()
    const first = events.next()
    // The reader's LISTEN session, and the writer's (each process says it is there: src/db/presence.ts).
    await until(async () => (await listeners()) === 2)
    await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name = $1`, [LISTENER_APPLICATION_NAME])
    await until(async () => (await listeners()) === 0)
    // Notified while nobody listens: only the catch-up after the session is back can deliver it.
    await writer.appendToStream(stream, [newEvent('Missed', { n: 1 })])
    expect((await first).value?.data).toEqual({ n: 1 })
    await until(async () => (await listeners()) === 2)
    const second = events.next()
    await writer.appendToStream(stream, [newEvent('Notified', { n: 2 })])
    expect((await second).value?.data).toEqual({ n: 2 })
    await subscription.close()
  })

  it('a transaction whose session is terminated fails with an error, the process goes on, and the database answers again', async () => {
    const cut = db.transaction(async (tx) => {
      const [{ pid }] = await tx.query<{ pid: number }>('select pg_backend_pid() as pid')
      await admin.query('select pg_terminate_backend($1)', [pid])
      await until(async () => (await admin.query('select 1 from pg_stat_activity where pid = $1', [pid])).length === 0)
      await new Promise((r) => setTimeout(r, 100)) // the client sees its socket close (an 'error' event) while idle in the transaction
      await tx.query('select 1')
    })
    await expect(cut).rejects.toThrow()
    expect(await db.query<{ one: number }>('select 1 as one')).toEqual([{ one: 1 }])
  })

  it('a subscription waits out a lost connection and reads on from where it was', async () => {
    const pages = [[1, 2], 'lost' as const, [3]]
    let reads = 0
    const subscription = pagedOver(async () => {
      const page = pages[reads++] ?? []
      if (page === 'lost') throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })
      return page
    })
    const seen: number[] = []
    for await (const n of subscription) {
      seen.push(n)
      if (n === 3) break
    }
    expect(seen).toEqual([1, 2, 3])
    const refused = pagedOver(async () => {
      throw new Error('relation "events" does not exist')
    })
    await expect(refused.next()).rejects.toThrow(/does not exist/)
  })

  it('deltas published while the database refuses connections fail their NOTIFY, and the process goes on', async () => {
    const away = await openDatabase({ url: `postgres://postgres@127.0.0.1:${await freePort()}/nothing` })
    const pubsub = createEphemeralPubSub(away)
    const delta = (seq: number) => ({ kind: 'TextDelta' as const, turnId: 't', delta: 'x', seq })
    // Deltas keep coming while each NOTIFY fails: those published meanwhile go out in a flush nobody awaits.
    const first = pubsub.publishEphemeral('c', delta(0))
    for (let seq = 1; seq < 100; seq++) {
      void pubsub.publishEphemeral('c', delta(seq)).catch(() => {})
      await new Promise((r) => setTimeout(r, 2))
    }
    await expect(first).rejects.toThrow()
    // Let that flush fail too (a refused connection fails at once); an unhandled rejection would end the run.
    await new Promise((r) => setTimeout(r, 300))
    await pubsub.close()
    await away.close()
  })

  it('GraphQL answers DATABASE_UNAVAILABLE (not a bare 500) and /healthz 503 while the database refuses connections', async () => {
    const away = await openDatabase({ url: `postgres://postgres@127.0.0.1:${await freePort()}/nothing` })
    const ctx = createContext({ env: loadEnv({ CAIRN_DATA_DIR: mkdtempSync(join(tmpdir(), 'cairn-away-')) }), db: away, projections: [], log: () => {} })
    const app = await buildApp(ctx)
    const answer = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { authorization: 'Bearer cairn_whatever', 'content-type': 'application/json' },
      payload: { query: 'mutation { sendMessage(input: { chatId: "00000000-0000-4000-8000-000000000000", text: "hi" }) { messageId } }' },
    })
    expect(answer.json()).toMatchObject({ data: null, errors: [{ extensions: { code: 'DATABASE_UNAVAILABLE' } }] })
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(503)
    await app.close()
    await ctx.close()
    await away.close()
  })
})
