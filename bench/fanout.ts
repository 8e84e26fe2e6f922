// Fan-out: N graphql-ws subscribers on one chat while events are appended, against a raw `ws`
// broadcast of the same payloads to N plain sockets in the same run. Reports delivery latency
// (append start → client receives) p50/p99 and the ratio graphql/raw.
// Database: DATABASE_URL when set; else a fresh PostgreSQL database on the test server
// (TEST_DATABASE_URL or 127.0.0.1:5432), dropped afterwards, when it is reachable; else PGlite.
// BENCH_PGLITE=1 forces PGlite.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createClient, type Client } from 'graphql-ws'
import WebSocket, { WebSocketServer } from 'ws'
import { projections } from '../projections/index.ts'
import { openDatabase } from '../src/db/database.ts'
import { migrate } from '../src/db/migrate.ts'
import { chatStream } from '../src/events/chat.ts'
import { bootstrapAdmin } from '../src/identity/index.ts'
import { buildApp, createContext } from '../src/server.ts'

const SIZES = [10, 100, 1000]
const EVENTS = 20

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
}

/** Calls `fn` N times with a bounded number in flight (1000 sockets at once overwhelm accept()). */
async function inBatches<T>(n: number, fn: (i: number) => Promise<T>, batch = 50): Promise<T[]> {
  const out: T[] = []
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => fn(i + j)))))
  return out
}

/** Where the bench runs, and how to clean up after it. */
async function benchDatabase(): Promise<{ url?: string; label: string; drop(): Promise<void> }> {
  const none = async () => {}
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, label: `DATABASE_URL ${withoutPassword(process.env.DATABASE_URL)}`, drop: none }
  if (process.env.BENCH_PGLITE !== '1') {
    const { postgresAvailable, createFreshPostgresDatabase } = await import('../test/support/databases.ts')
    if (postgresAvailable) {
      const fresh = await createFreshPostgresDatabase()
      return { url: fresh.url, label: `fresh database ${withoutPassword(fresh.url)} (dropped afterwards)`, drop: fresh.drop }
    }
  }
  return { label: 'in-process PGlite', drop: none }
}

function withoutPassword(url: string): string {
  const u = new URL(url)
  if (u.password) u.password = '***'
  return u.toString()
}

export async function benchFanout(print: (line: string) => void): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-bench-fanout-'))
  const where = await benchDatabase()
  const db = await openDatabase(where.url ? { url: where.url } : {})
  await migrate(db)
  const ctx = createContext({ env: { databaseUrl: undefined, dataDir, port: 0, host: '127.0.0.1', runner: false }, db, projections, log: () => {} })
  const { engine, store } = ctx
  await engine.start()
  const token = (await bootstrapAdmin(ctx)) ?? ''
  const app = await buildApp(ctx)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const raw = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((r) => raw.once('listening', r))
  const rawPort = (raw.address() as { port: number }).port
  print(`database: ${db.kind} — ${where.label}; ${EVENTS} events per size; latency = append start → client receives`)

  try {
    const res = await fetch(url + '/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { createChat(input: { title: "fanout" }) { id revision } }' }),
    })
    const chat = ((await res.json()) as { data: { createChat: { id: string; revision: number } } }).data.createChat
    let revision = chat.revision

    for (const n of SIZES) {
      // graphql-ws: one connection per subscriber, live from the next revision.
      const sentAt = new Map<number, number>()
      const latencies: number[] = []
      let received = 0
      let onReceived = () => {}
      const clients: Client[] = []
      const from = revision + 1
      await inBatches(n, async () => {
        const client = createClient({ url: url.replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: false })
        clients.push(client)
        await new Promise<void>((resolve, reject) => {
          client.on('connected', () => resolve())
          client.on('error', reject)
        })
        client.subscribe<{ chatEvents: { revision: number } }>(
          { query: 'subscription($id: ID!, $from: Int!) { chatEvents(chatId: $id, fromRevision: $from) { revision type data } }', variables: { id: chat.id, from } },
          {
            next: (v) => {
              const r = v.data!.chatEvents.revision
              const t = sentAt.get(r)
              if (t !== undefined) latencies.push(performance.now() - t)
              received++
              onReceived()
            },
            error: () => {},
            complete: () => {},
          },
        )
      })
      const appendAndWait = async (measure: boolean) => {
        const target = received + n
        const done = new Promise<void>((resolve) => {
          onReceived = () => received >= target && resolve()
        })
        const t = performance.now()
        const result = await store.appendToStream(chatStream(chat.id), [
          { id: randomUUID(), type: 'PlanProposed', data: { plan: 'step '.repeat(40) }, metadata: { actor: { kind: 'system', id: 'bench' } } },
        ])
        revision = Number(result.nextExpectedRevision)
        if (measure) sentAt.set(revision, t)
        await done
      }
      await appendAndWait(false) // every subscription is live
      for (let i = 0; i < EVENTS; i++) await appendAndWait(true)
      for (const c of clients) await c.dispose()

      // Raw ws: the same payload sizes broadcast to n plain sockets.
      const rawLatencies: number[] = []
      const sockets = await inBatches(n, () => new Promise<WebSocket>((resolve) => {
        const s = new WebSocket(`ws://127.0.0.1:${rawPort}`)
        s.on('open', () => resolve(s))
      }))
      let rawReceived = 0
      let onRaw = () => {}
      let rawSentAt = 0
      for (const s of sockets) s.on('message', () => {
        rawLatencies.push(performance.now() - rawSentAt)
        rawReceived++
        onRaw()
      })
      while (raw.clients.size < n) await new Promise((r) => setTimeout(r, 10))
      for (let i = 0; i < EVENTS; i++) {
        const target = rawReceived + n
        const done = new Promise<void>((resolve) => {
          onRaw = () => rawReceived >= target && resolve()
        })
        const payload = JSON.stringify({ id: '1', type: 'next', payload: { data: { chatEvents: { revision: i, type: 'PlanProposed', data: { plan: 'step '.repeat(40) } } } } })
        rawSentAt = performance.now()
        for (const c of raw.clients) c.send(payload)
        await done
      }
      for (const s of sockets) s.close()

      const g50 = percentile(latencies, 50)
      const g99 = percentile(latencies, 99)
      const r50 = percentile(rawLatencies, 50)
      const r99 = percentile(rawLatencies, 99)
      print(
        `N=${String(n).padStart(4)}  graphql-ws p50 ${g50.toFixed(2)} ms p99 ${g99.toFixed(2)} ms | raw ws p50 ${r50.toFixed(2)} ms p99 ${r99.toFixed(2)} ms | ratio p50 ${(g50 / r50).toFixed(1)}x p99 ${(g99 / r99).toFixed(1)}x`,
      )
    }
  } finally {
    await new Promise((r) => raw.close(r))
    await app.close()
    await engine.stop()
    await store.close()
    await db.close()
    await where.drop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
