// Cairn with its log in EventStoreDB: two `cairn serve` processes on one node (the fake, over
// gRPC) and one PostgreSQL database for the read models, and `cairn events` with EVENTSTORE_URL.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runEventsCommand } from '../../src/cli/events.ts'
import { openDatabase, type Database } from '../../src/db/database.ts'
import { connectEventStoreDb } from '../../src/eventstore/eventstoredb/index.ts'
import type { EventStore } from '../../src/eventstore/types.ts'
import { writeChatWithFork } from '../audit/chat-fixture.ts'
import { cairnEnv, dataOf, postGraphQL, serveCairn, stopServed, type ServedCairn } from '../cli/run-cairn.ts'
import { startFakeEventStoreDb, type FakeEventStoreDb } from '../fakes/eventstoredb/server.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'

const TOKEN = /cairn_[A-Za-z0-9_-]{43}/
const dirs: string[] = []
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

let node: FakeEventStoreDb
let store: EventStore
beforeAll(async () => {
  node = await startFakeEventStoreDb()
  store = connectEventStoreDb(node.url)
})
afterAll(async () => {
  await store?.close()
  await node?.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('cairn events with EVENTSTORE_URL', () => {
  let database: { url: string | undefined; drop(): Promise<void> } = { url: undefined, drop: async () => {} }
  let dataDir = ''
  beforeAll(async () => {
    // Export opens the database too (for attachments); PostgreSQL opens in a moment, PGlite in seconds.
    if (postgresAvailable) database = await createFreshPostgresDatabase()
    dataDir = tempDir('cairn-esdb-events-')
  })
  afterAll(() => database.drop())

  async function events(args: string[]) {
    const out: string[] = []
    const err: string[] = []
    const env = { EVENTSTORE_URL: node.url, DATABASE_URL: database.url, CAIRN_DATA_DIR: dataDir }
    const code = await runEventsCommand(args, { env, out: (l) => out.push(l), err: (l) => err.push(l) })
    return { code, out: out.join('\n'), err: err.join('\n') }
  }

  it('verifies and exports a chat through the store, and says which tools need the SQL log', async () => {
    const { chatId, forkId } = await writeChatWithFork(store)
    const clean = await events(['verify', '--chat', forkId])
    expect(clean.err).toBe('')
    expect(clean.out).toMatch(/^ok: 2 streams, 8 events hashed in [\d.]+ s \(\d+ events\/s\); 0 broken$/m)
    expect(clean.code).toBe(0)

    const file = join(tempDir('cairn-esdb-export-'), 'fork.jsonl')
    const exported = await events(['export', '--chat', forkId, '--out', file])
    expect(exported.code).toBe(0)
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.filter((l) => l.kind === 'event').map((l) => `${l.stream === `chat-${forkId}` ? 'fork' : 'source'}:${l.revision}`)).toEqual(['source:0', 'source:1', 'source:2', 'source:3', 'source:4', 'source:5', 'fork:6', 'fork:7'])

    node.log.tamper(`chat-${chatId}`, 3n, (data) => ({ ...(data as object), edited: true }))
    const broken = await events(['verify', '--chat', forkId])
    expect(broken.code).toBe(1)
    expect(broken.out).toContain(`BROKEN chat-${chatId} revision 3 (hash_mismatch)`)

    for (const args of [['verify'], ['verify', '--chat', forkId, '--from-position', '0'], ['anchor'], ['import', file]]) {
      const refused = await events(args)
      expect(refused.code).toBe(2)
      expect(refused.err).toMatch(/works on the SQL event log, and EVENTSTORE_URL keeps this installation's log in EventStoreDB/)
    }
  })
})

describe.skipIf(!postgresAvailable)('two cairn serve processes with the log in EventStoreDB', { timeout: 240_000 }, () => {
  let fresh: { url: string; drop(): Promise<void> }
  let fake: FakeProvider
  let db: Database
  const servers: ServedCairn[] = []
  let adminToken = ''

  const envFor = (extra: Record<string, string> = {}) =>
    cairnEnv({ DATABASE_URL: fresh.url, EVENTSTORE_URL: node.url, CAIRN_DATA_DIR: tempDir('cairn-esdb-serve-'), PORT: '0', HOST: '127.0.0.1', CAIRN_SECRET_KEY: 'replicas-share-this', ...extra })
  const gql = async (url: string, query: string, variables: Record<string, unknown> = {}) => dataOf(await postGraphQL(url, adminToken, query, variables))

  beforeAll(async () => {
    fresh = await createFreshPostgresDatabase()
    db = await openDatabase({ url: fresh.url })
    fake = await startFakeProvider('openai-chat')
  })
  afterAll(async () => {
    await stopServed(servers)
    await db?.close()
    await fake?.close()
    await fresh?.drop()
  })

  it('runs a turn on one process for a chat made on the other; the log is in the node, the read models in PostgreSQL', async () => {
    const api = await serveCairn(envFor({ CAIRN_RUNNER: 'off' }))
    servers.push(api)
    expect(api.output()).toMatch(/cairn listening on \S+ \(database: postgres, event store: eventstoredb esdb:\/\/127\.0\.0\.1:\d+\?tls=false\)/)
    adminToken = TOKEN.exec(api.output())![0]
    await gql(api.url, `mutation($url: String!) { configureProvider(input: { id: "fake", kind: openai_chat, baseUrl: $url, apiKey: "sk-fake" }) { id } }`, { url: fake.baseUrl })
    await gql(api.url, `mutation { configureModel(input: { id: "fake-model", providerId: "fake", modelName: "fake-1", isDefault: true, pricing: { input: 1, output: 2 } }) { id } }`)
    const runner = await serveCairn(envFor())
    servers.push(runner)
    // The runner process found the admin in the shared log: it made no second one.
    expect(TOKEN.test(runner.output())).toBe(false)

    fake.enqueue({ text: 'Answered from the other process.' })
    const chat = (await gql(api.url, `mutation { createChat(input: { title: "across" }) { id } }`)).createChat
    await gql(api.url, `mutation($id: ID!) { sendMessage(input: { chatId: $id, text: "hello" }) { queued } }`, { id: chat.id })

    const chatQuery = `query($id: ID!) { chat(id: $id) { status revision } chatMessages(chatId: $id) { nodes { role parts } } }`
    const messages = (answer: any) => answer.chatMessages.nodes.map((m: any) => `${m.role}: ${m.parts.map((p: any) => p.text ?? '').join('')}`)
    let answer: any
    for (let i = 0; i < 400; i++) {
      answer = await gql(api.url, chatQuery, { id: chat.id })
      if (answer.chat.status === 'WAITING' && messages(answer).length === 2) break
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(messages(answer)).toEqual(['user: hello', 'assistant: Answered from the other process.'])

    const logged = node.log.stream(`chat-${chat.id}`).map((r) => r.type)
    expect(logged).toEqual(expect.arrayContaining(['ChatCreated', 'UserMessagePosted', 'TurnStarted', 'AssistantStepCompleted', 'TurnCompleted']))
    expect(answer.chat.revision).toBe(logged.length - 1)
    const [{ n }] = await db.query<{ n: string }>('select count(*)::text as n from events')
    expect(n).toBe('0')
    const verified = await gql(api.url, `query($id: ID!) { verifyChat(chatId: $id) { ok streams events } }`, { id: chat.id })
    expect(verified.verifyChat).toEqual({ ok: true, streams: 1, events: logged.length })
    const health = await fetch(`${runner.url}/healthz`)
    expect(await health.json()).toEqual({ ok: true, database: 'postgres', eventStore: 'eventstoredb' })
  })
})
