// One server process for the fanout bench's two-process part (bench/fanout.ts forks two of a kind).
// `api`: the Cairn API as `cairn serve` builds it (createContext, projections running, buildApp) on
// the bench's database (DATABASE_URL), no runner. `raw`: the baseline, a plain `ws` server that
// sends a message to every socket when asked (`{ broadcast }`). Either sends `{ url }` once it
// listens; asked `memory`, it collects garbage and sends `{ memory }`; asked `stop`, it exits.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocketServer } from 'ws'
import { projections } from '../projections/index.ts'
import { openDatabase } from '../src/db/database.ts'
import { buildApp, createContext } from '../src/server.ts'

const send = (message: unknown) => process.send!(message)

async function api(): Promise<{ url: string; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-bench-fanout-server-'))
  const db = await openDatabase({ url: process.env.DATABASE_URL! })
  const ctx = createContext({ env: { databaseUrl: process.env.DATABASE_URL, dataDir, port: 0, host: '127.0.0.1', runner: false }, db, projections, log: () => {} })
  await ctx.engine.start()
  const app = await buildApp(ctx)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    url,
    async stop() {
      await app.close()
      await ctx.close()
      await db.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

async function raw(): Promise<{ url: string; stop(): Promise<void> }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((r) => server.once('listening', r))
  process.on('message', (message: { broadcast?: string }) => {
    if (message.broadcast !== undefined) for (const socket of server.clients) socket.send(message.broadcast)
  })
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, stop: () => new Promise((r) => server.close(() => r())) }
}

const server = process.argv[2] === 'raw' ? await raw() : await api()
send({ url: server.url })
process.on('message', async (message) => {
  if (message === 'memory') {
    for (let i = 0; i < 3; i++) globalThis.gc?.()
    send({ memory: process.memoryUsage() })
  }
  if (message === 'stop') {
    await server.stop()
    process.exit(0)
  }
})
