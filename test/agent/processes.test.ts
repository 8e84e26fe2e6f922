// The agent loop across real server processes on one PostgreSQL database: a chatStream
// subscriber on an API-only process sees the deltas and events of a turn run by another
// process; a runner killed with SIGKILL mid-turn is taken over; the provider key never leaks.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type Client } from 'graphql-ws'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { openDatabase, type Database } from '../../src/db/database.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import type { EventStore } from '../../src/eventstore/types.ts'
import { cairnEnv, dataOf, postGraphQL, serveCairn, type ServedCairn, stopServed } from '../cli/run-cairn.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'

const API_KEY = 'sk-ant-cairn-test-9f8e7d6c5b4a39281716'
const TOKEN = /cairn_[A-Za-z0-9_-]{43}/


const answers: string[] = []
async function gql(url: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const answer = await postGraphQL(url, token, query, variables)
  answers.push(answer.text)
  return dataOf(answer)
}
const STREAM = `subscription($chatId: ID!) { chatStream(chatId: $chatId, fromRevision: 0) {
  __typename
  ... on ChatEventItem { event { revision type data } }
  ... on TextDelta { delta }
} }`

describe.skipIf(!postgresAvailable)('the agent loop across server processes', { timeout: 240_000 }, () => {
  let fresh: { url: string; drop(): Promise<void> }
  let fake: FakeProvider
  let db: Database
  let store: EventStore
  const dirs: string[] = []
  const servers: ServedCairn[] = []
  const clients: Client[] = []
  let adminToken = ''

  const envFor = (extra: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-agent-proc-'))
    dirs.push(dir)
    // Replicas share the secret key that encrypts provider keys, not a data dir.
    return cairnEnv({ DATABASE_URL: fresh.url, CAIRN_DATA_DIR: dir, PORT: '0', HOST: '127.0.0.1', CAIRN_SECRET_KEY: 'replicas-share-this', ...extra })
  }

  beforeAll(async () => {
    fresh = await createFreshPostgresDatabase()
    fake = await startFakeProvider('anthropic')
    fake.setDefault(() => ({ text: 'Default answer.' }))
    const api = await serveCairn(envFor({ CAIRN_RUNNER: 'off' }))
    servers.push(api)
    adminToken = TOKEN.exec(api.output())![0]
    db = await openDatabase({ url: fresh.url })
    store = createSqlEventStore(db)
  })
  afterAll(async () => {
    for (const c of clients) await c.dispose()
    await stopServed(servers)
    await store?.close()
    await db?.close()
    await fake?.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
    await fresh?.drop()
  })

  it('streams a turn run on another process to a chatStream subscriber, then the committed events', async () => {
    const api = servers[0]!
    await gql(api.url, adminToken, `mutation($key: String!, $url: String!) { configureProvider(input: { id: "claude", kind: anthropic, baseUrl: $url, apiKey: $key }) { id apiKeySet keyFingerprint } }`, {
      key: API_KEY,
      url: fake.baseUrl,
    })
    await gql(api.url, adminToken, `mutation { configureModel(input: { id: "sonnet", providerId: "claude", modelName: "claude-test", isDefault: true, pricing: { input: 3, output: 15 } }) { id } }`)
    const runner = await serveCairn(envFor())
    servers.push(runner)

    const chat = (await gql(api.url, adminToken, `mutation { createChat(input: { title: "streamed" }) { id } }`)).createChat
    const client = createClient({ url: api.url.replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${adminToken}` } })
    clients.push(client)
    const items: { __typename: string; delta?: string; event?: { type: string; revision: number } }[] = []
    const completed = new Promise<void>((resolve, reject) => {
      client.subscribe(
        { query: STREAM, variables: { chatId: chat.id } },
        {
          next: (msg) => {
            const item = (msg.data as any).chatStream
            items.push(item)
            if (item.event?.type === 'TurnCompleted') resolve()
          },
          error: reject,
          complete: () => {},
        },
      )
    })
    await new Promise((r) => setTimeout(r, 500))
    fake.enqueue({ text: 'Streaming across processes works fine.', chunkDelayMs: 150, usage: { input: 100, output: 20 } })
    await gql(api.url, adminToken, `mutation($id: ID!) { sendMessage(input: { chatId: $id, text: "stream to me" }) { queued } }`, { id: chat.id })
    await completed

    const deltas = items.filter((i) => i.__typename === 'TextDelta').map((i) => i.delta).join('')
    expect(deltas).toBe('Streaming across processes works fine.')
    const firstDelta = items.findIndex((i) => i.__typename === 'TextDelta')
    const stepCommitted = items.findIndex((i) => i.event?.type === 'AssistantStepCompleted')
    expect(firstDelta).toBeGreaterThan(-1)
    expect(firstDelta).toBeLessThan(stepCommitted)
    const revisions = items.flatMap((i) => (i.event ? [i.event.revision] : []))
    expect(revisions).toEqual(revisions.map((_, i) => i))
    // The turn ran on the runner process, not the API process the subscriber is on.
    const started = (await store.readStream(`chat-${chat.id}`)).find((e) => e.type === 'TurnStarted')!
    expect(runner.output()).not.toBe('')
    expect((started.metadata as { runnerId?: string }).runnerId).toBeTruthy()
  })

  it('a runner killed with SIGKILL mid-turn is taken over by another process; nothing is lost or written twice', async () => {
    const api = servers[0]!
    const doomed = servers[1]!
    const chat = (await gql(api.url, adminToken, `mutation { createChat(input: { title: "crash" }) { id } }`)).createChat
    const stream = `chat-${chat.id}`
    fake.enqueue({ text: 'This long answer is cut off by a crash and never committed. '.repeat(3), chunkDelayMs: 200 })
    fake.setDefault(() => ({ text: 'Answer after the takeover.' }))
    await gql(api.url, adminToken, `mutation($id: ID!) { sendMessage(input: { chatId: $id, text: "survive a crash" }) { queued } }`, { id: chat.id })
    for (let i = 0; i < 200 && !(await store.readStream(stream)).some((e) => e.type === 'TurnStarted'); i++) await new Promise((r) => setTimeout(r, 100))
    await new Promise((r) => setTimeout(r, 600))
    doomed.child.kill('SIGKILL')
    await new Promise((r) => doomed.child.once('close', r))
    const killedAt = Date.now()

    const successor = await serveCairn(envFor())
    servers.push(successor)
    let events = await store.readStream(stream)
    for (let i = 0; i < 400 && !events.some((e) => e.type === 'TurnCompleted'); i++) {
      await new Promise((r) => setTimeout(r, 100))
      events = await store.readStream(stream)
    }
    const types = events.map((e) => e.type)
    expect(types.filter((t) => t === 'TurnStarted')).toHaveLength(1)
    expect(types.filter((t) => t === 'TurnCompleted')).toHaveLength(1)
    expect(Date.now() - killedAt).toBeLessThan(30_000)
    const step = events.find((e) => e.type === 'AssistantStepCompleted')!
    expect((step.data as { text: string }).text).toBe('Answer after the takeover.')
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length)
    expect(events.map((e) => Number(e.revision))).toEqual(events.map((_, i) => i))
    expect(await store.verifyStream(stream)).toMatchObject({ ok: true })
  })

  it('the configured API key appears in no event, read model, log, or GraphQL answer', async () => {
    // It did reach the provider: the fake saw it.
    expect(JSON.stringify(fake.headers)).toContain(API_KEY)
    const all = await store.readAll({ maxCount: 100_000 })
    expect(JSON.stringify(all.events, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(API_KEY)
    const client = new pg.Client({ connectionString: fresh.url })
    await client.connect()
    const tables = (await client.query(`select tablename from pg_tables where schemaname = 'public'`)).rows.map((r) => r.tablename as string)
    for (const table of tables) {
      const rows = await client.query(`select t::text as row from ${table} t`)
      expect(rows.rows.map((r) => r.row).join('\n'), `table ${table}`).not.toContain(API_KEY)
    }
    await client.end()
    await gql(servers[0]!.url, adminToken, `{ providers { id apiKeySet keyFingerprint } models { id } systemPrompt }`)
    expect(answers.join('\n')).not.toContain(API_KEY)
    for (const s of servers) expect(s.output()).not.toContain(API_KEY)
  })
})
