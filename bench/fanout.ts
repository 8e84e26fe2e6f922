// Fan-out: N graphql-ws subscribers on one chat while events are appended, against a raw `ws`
// broadcast of the same message to N plain sockets in the same run, one graphql event then one raw
// broadcast in turn (so the machine's load weighs on both alike). Reports delivery latency
// (append start → client receives; raw: send start → client receives) p50/p99 and the ratio
// graphql/raw. Then 10,000 subscribers across two API processes (bench/fanout-server.ts) on one
// PostgreSQL database, the events appended from this process so both get them through NOTIFY
// (the subscribers: bare graphql-transport-ws clients, see `subscribe`): latency, against a raw
// broadcast from two plain `ws` processes to 10,000 sockets; and each API process's memory per
// idle subscriber (after GC).
// Database: DATABASE_URL when set; else a fresh PostgreSQL database on the test server
// (TEST_DATABASE_URL or 127.0.0.1:5432), dropped afterwards, when it is reachable; else PGlite
// (and no two-process part). BENCH_PGLITE=1 forces PGlite.
import { fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createClient, type Client } from 'graphql-ws'
import WebSocket, { WebSocketServer } from 'ws'
import { projections } from '../projections/index.ts'
import { openDatabase } from '../src/db/database.ts'
import { migrate } from '../src/db/migrate.ts'
import type { EventStore } from '../src/eventstore/types.ts'
import { chatStream } from '../src/events/chat.ts'
import { bootstrapAdmin } from '../src/identity/index.ts'
import { buildApp, createContext } from '../src/server.ts'
import type { Report } from './report.ts'

const SIZES = [10, 100, 1000]
/** Events per size: a p99 over fewer is one unlucky event on a busy machine. */
const EVENTS = 50
/** The two-process part: this many subscribers, spread evenly over the processes. */
const WIDE = { subscribers: 10_000, processes: 2, events: 20 }
const PAYLOAD = { plan: 'step '.repeat(40) }
const QUERY = 'subscription($id: ID!, $from: Int!) { chatEvents(chatId: $id, fromRevision: $from) { revision type data } }'

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

/** Waits until `count()` reaches `target`; `poke` is called by whoever moves the count. */
function waiter(count: () => number) {
  let wake = () => {}
  return {
    poke: () => wake(),
    until: (target: number) =>
      new Promise<void>((resolve) => {
        if (count() >= target) return resolve()
        wake = () => count() >= target && resolve()
      }),
  }
}

/**
 * N subscribers (round robin over `urls`), each on its own connection, subscribed to the chat from
 * `from`: the graphql-ws client, or with `light` a bare graphql-transport-ws client (connection_init,
 * subscribe, `JSON.parse` of each message), so that the client library's own work per message does
 * not weigh on what 10,000 clients in this one process measure of the servers.
 */
async function subscribe(urls: string[], token: string, chatId: string, from: number, n: number, light = false) {
  const sentAt = new Map<number, number>()
  const latencies: number[] = []
  let received = 0
  const arrivals = waiter(() => received)
  const next = (revision: number) => {
    const t = sentAt.get(revision)
    if (t !== undefined) latencies.push(performance.now() - t)
    received++
    arrivals.poke()
  }
  const subscription = { query: QUERY, variables: { id: chatId, from } }
  const wsUrl = (i: number) => urls[i % urls.length]!.replace(/^http/, 'ws') + '/graphql'
  const clients = await inBatches(n, async (i): Promise<{ close(): Promise<void> }> => {
    if (light) {
      const socket = new WebSocket(wsUrl(i), 'graphql-transport-ws')
      await new Promise<void>((resolve, reject) => {
        socket.on('message', (data) => {
          const message = JSON.parse(String(data)) as { type: string; payload?: { data: { chatEvents: { revision: number } } } }
          if (message.type === 'next') next(message.payload!.data.chatEvents.revision)
          else if (message.type === 'connection_ack') {
            socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: subscription }))
            resolve()
          } else if (message.type === 'error') console.error('subscription failed:', message.payload)
        })
        socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })))
        socket.on('error', reject)
      })
      return { close: async () => socket.close() }
    }
    const client: Client = createClient({ url: wsUrl(i), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: false })
    await new Promise<void>((resolve, reject) => {
      client.on('connected', () => resolve())
      client.on('error', reject)
    })
    client.subscribe<{ chatEvents: { revision: number } }>(subscription, {
      next: (v) => next(v.data!.chatEvents.revision),
      error: (err) => console.error('subscription failed:', err),
      complete: () => {},
    })
    return { close: () => client.dispose() as Promise<void> }
  })
  return {
    latencies,
    /** Appends one event and waits until every subscriber has it; `measure` records its latencies. */
    async append(store: EventStore, measure: boolean): Promise<number> {
      const target = received + n
      const t = performance.now()
      const result = await store.appendToStream(chatStream(chatId), [{ id: randomUUID(), type: 'PlanProposed', data: PAYLOAD, metadata: { actor: { kind: 'system', id: 'bench' } } }])
      const revision = Number(result.nextExpectedRevision)
      if (measure) sentAt.set(revision, t)
      await arrivals.until(target)
      return revision
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()))
    },
  }
}

/** N plain sockets (round robin over `urls`) and a broadcast, by `send`, of the message the graphql path sends. */
async function rawSubscribers(urls: string[], n: number, send: (message: string) => void) {
  const latencies: number[] = []
  let received = 0
  let sentAt = 0
  const arrivals = waiter(() => received)
  const sockets = await inBatches(n, (i) => new Promise<WebSocket>((resolve, reject) => {
    const s = new WebSocket(urls[i % urls.length]!.replace(/^http/, 'ws'))
    s.on('open', () => resolve(s))
    s.on('error', reject)
    s.on('message', () => {
      latencies.push(performance.now() - sentAt)
      received++
      arrivals.poke()
    })
  }))
  return {
    latencies,
    async broadcast(revision: number) {
      const target = received + n
      sentAt = performance.now()
      send(JSON.stringify({ id: '1', type: 'next', payload: { data: { chatEvents: { revision, type: 'PlanProposed', data: PAYLOAD } } } }))
      await arrivals.until(target)
    },
    async close() {
      for (const s of sockets) s.close()
    },
  }
}

/** A raw `ws` server in this process. */
async function rawServer() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    broadcast: (message: string) => {
      for (const c of server.clients) c.send(message)
    },
    /** Resolves once the sockets of the last size have all gone. */
    async drained() {
      while (server.clients.size) await new Promise((r) => setTimeout(r, 10))
    },
    close: () => new Promise((r) => server.close(r)),
  }
}

/** A forked server process (bench/fanout-server.ts), `api` or `raw`, and its messages. */
async function startServerProcess(kind: 'api' | 'raw', databaseUrl = '') {
  const child: ChildProcess = fork(new URL('./fanout-server.ts', import.meta.url), [kind], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    execArgv: ['--import', 'tsx', '--expose-gc'],
  })
  const next = <T>(key: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (!(key in m)) return
        child.off('message', onMessage)
        child.off('exit', onExit)
        resolve(m[key] as T)
      }
      const onExit = (code: number | null) => reject(new Error(`the fanout server exited with ${code}`))
      child.on('message', onMessage)
      child.once('exit', onExit)
    })
  const url = await next<string>('url')
  return {
    url,
    broadcast: (message: string) => child.send({ broadcast: message }),
    async memory() {
      child.send('memory')
      return next<NodeJS.MemoryUsage>('memory')
    },
    async stop() {
      child.send('stop')
      await new Promise((r) => child.once('exit', r))
    },
  }
}

export async function benchFanout(report: Report): Promise<void> {
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
  report(`database: ${db.kind} — ${where.label}; ${EVENTS} events per size; latency = append start → client receives; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} cores`)

  try {
    const res = await fetch(url + '/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { createChat(input: { title: "fanout" }) { id revision } }' }),
    })
    const chat = ((await res.json()) as { data: { createChat: { id: string; revision: number } } }).data.createChat
    let revision = chat.revision

    const local = await rawServer()
    for (const n of SIZES) {
      const graphql = await subscribe([url], token, chat.id, revision + 1, n)
      const raw = await rawSubscribers([local.url], n, local.broadcast)
      revision = await graphql.append(store, false) // every subscription is live
      for (let i = 0; i < EVENTS; i++) {
        revision = await graphql.append(store, true)
        await raw.broadcast(revision)
      }
      await graphql.close()
      await raw.close()
      await local.drained()

      const [g50, g99, r50, r99] = [percentile(graphql.latencies, 50), percentile(graphql.latencies, 99), percentile(raw.latencies, 50), percentile(raw.latencies, 99)]
      report(
        `N=${String(n).padStart(4)}  graphql-ws p50 ${g50.toFixed(2)} ms p99 ${g99.toFixed(2)} ms | raw ws p50 ${r50.toFixed(2)} ms p99 ${r99.toFixed(2)} ms | ratio p50 ${(g50 / r50).toFixed(1)}x p99 ${(g99 / r99).toFixed(1)}x`,
      )
      report.figure(`subscribers_${n}_p50_ms`, g50, r50)
      report.figure(`subscribers_${n}_p99_ms`, g99, r99)
      if (n === 1000) report.figure('subscribers_1000_p99_ratio', g99 / r99)
    }
    await local.close()

    if (db.kind !== 'postgres' || !where.url) {
      report('two-process part skipped: it needs PostgreSQL')
      return
    }
    // The API processes, then (fewer sockets than the open-file limit allows both at once) the raw ones.
    const servers = await Promise.all(Array.from({ length: WIDE.processes }, () => startServerProcess('api', where.url)))
    let wide: Awaited<ReturnType<typeof subscribe>>
    let before: NodeJS.MemoryUsage[], after: NodeJS.MemoryUsage[]
    try {
      before = await Promise.all(servers.map((s) => s.memory()))
      wide = await subscribe(servers.map((s) => s.url), token, chat.id, revision + 1, WIDE.subscribers, true)
      revision = await wide.append(store, false) // every subscription is live (through NOTIFY)
      after = await Promise.all(servers.map((s) => s.memory()))
      for (let i = 0; i < WIDE.events; i++) revision = await wide.append(store, true)
      await wide.close()
    } finally {
      await Promise.all(servers.map((s) => s.stop()))
    }
    const rawServers = await Promise.all(Array.from({ length: WIDE.processes }, () => startServerProcess('raw')))
    let rawWide: Awaited<ReturnType<typeof rawSubscribers>>
    try {
      rawWide = await rawSubscribers(rawServers.map((s) => s.url), WIDE.subscribers, (m) => rawServers.forEach((s) => s.broadcast(m)))
      for (let i = 0; i < WIDE.events; i++) await rawWide.broadcast(i)
      await rawWide.close()
    } finally {
      await Promise.all(rawServers.map((s) => s.stop()))
    }

    const perServer = WIDE.subscribers / WIDE.processes
    const kib = (pick: (m: NodeJS.MemoryUsage) => number) => Math.max(...servers.map((_, i) => (pick(after[i]!) - pick(before[i]!)) / perServer / 1024))
    const heapKib = kib((m) => m.heapUsed + m.external)
    const rssKib = kib((m) => m.rss)
    const [w50, w99, r50, r99] = [percentile(wide.latencies, 50), percentile(wide.latencies, 99), percentile(rawWide.latencies, 50), percentile(rawWide.latencies, 99)]
    report(
      `N=${WIDE.subscribers} over ${WIDE.processes} processes  graphql-transport-ws (API processes, events through NOTIFY) p50 ${w50.toFixed(2)} ms p99 ${w99.toFixed(2)} ms | raw ws p50 ${r50.toFixed(2)} ms p99 ${r99.toFixed(2)} ms | ratio p50 ${(w50 / r50).toFixed(1)}x p99 ${(w99 / r99).toFixed(1)}x`,
    )
    report(`per idle subscriber (API process, after GC): heap+external ${heapKib.toFixed(1)} KiB, RSS ${rssKib.toFixed(1)} KiB (the larger of the two processes)`)
    report.figure(`subscribers_${WIDE.subscribers}_two_processes_p50_ms`, w50, r50)
    report.figure(`subscribers_${WIDE.subscribers}_two_processes_p99_ms`, w99, r99)
    report.figure('idle_subscriber_heap_kib', heapKib)
    report.figure('idle_subscriber_rss_kib', rssKib)
  } finally {
    await app.close()
    await engine.stop()
    await store.close()
    await db.close()
    await where.drop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
