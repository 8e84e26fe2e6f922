// Many writers on one chat, as users meet them: 50 messages sent at once from 5 connections
// while a turn runs are all accepted, each once, and delivered in log order — on PGlite and
// PostgreSQL in one process, and across two server processes on one PostgreSQL database.
// Deltas a runner publishes reach a subscriber on another process in order, with no repeat.
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type Client } from 'graphql-ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { openDatabase, type Database } from '../../src/db/database.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import type { EventStore, StoredEvent } from '../../src/eventstore/types.ts'
import { chatStream, type ChatEvent } from '../../src/events/index.ts'
import { startApiServer, type ApiServer } from '../api/harness.ts'
import { cairnEnv, dataOf, postGraphQL, serveCairn, type ServedCairn, stopServed } from '../cli/run-cairn.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { backends, createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'
import { configureFakeModel } from './harness.ts'

const SEND = `mutation($id: ID!, $text: String!) { sendMessage(input: { chatId: $id, text: $text }) { messageId queued } }`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
type Chat = StoredEvent & ChatEvent

/** One client connection (a keep-alive socket of its own) that POSTs GraphQL to `url`. */
function connection(url: string, token: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  return {
    agent,
    post(query: string, variables: Record<string, unknown>): Promise<any> {
      const body = JSON.stringify({ query, variables })
      return new Promise((resolve, reject) => {
        const req = http.request(`${url}/graphql`, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } }, (res) => {
          let text = ''
          res.on('data', (c: Buffer) => (text += c.toString()))
          res.on('end', () => {
            const answer = JSON.parse(text) as { data?: unknown; errors?: unknown }
            if (answer.errors) reject(new Error(JSON.stringify(answer.errors)))
            else resolve(answer.data)
          })
        })
        req.on('error', reject)
        req.end(body)
      })
    },
  }
}

async function waitUntil<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/**
 * Every message accepted once (queued while the turn ran — or posted directly if it landed
 * between turns); the queue delivered in the order the log queued it; the chat settles idle.
 */
async function expectEachOnceInOrder(store: EventStore, chatId: string, texts: string[]) {
  const textOf = (e: { data: { parts: { type: string; text?: string }[] } }) => e.data.parts.map((p) => p.text ?? '').join('')
  const events = (await waitUntil('the queue to drain', async () => {
    const es = (await store.readStream(chatStream(chatId))) as Chat[]
    const queued = es.filter((e) => e.type === 'MessageQueued').length
    const delivered = es.filter((e) => e.type === 'UserMessagePosted' && e.data.fromQueueId).length
    return delivered === queued && es.at(-1)?.type === 'TurnCompleted' ? es : null
  })) as Chat[]
  const queued = events.flatMap((e) => (e.type === 'MessageQueued' ? [{ id: e.data.queueId, text: textOf(e) }] : []))
  const direct = events.flatMap((e) => (e.type === 'UserMessagePosted' && !e.data.fromQueueId ? [textOf(e)] : []))
  expect([...queued.map((q) => q.text), ...direct.filter((t) => texts.includes(t))].sort()).toEqual([...texts].sort())
  expect(queued.length).toBeGreaterThan(texts.length / 2)
  const delivered = events.flatMap((e) => (e.type === 'UserMessagePosted' && e.data.fromQueueId ? [e.data.fromQueueId] : []))
  expect(delivered).toEqual(queued.map((q) => q.id))
}

/** A turn that streams for a minute unless interrupted: long enough for any machine to send 50 messages into it. */
const LONG_TURN = { text: 'working on it, slowly. '.repeat(60), textPieces: 600, chunkDelayMs: 100 }

for (const backend of backends) {
  describe.skipIf(!backend.available)(`concurrent messages to one chat on ${backend.name}`, { timeout: 240_000 }, () => {
    let server: ApiServer
    let fake: FakeProvider
    let close: () => Promise<void>

    beforeAll(async () => {
      fake = await startFakeProvider('anthropic')
      fake.setDefault(() => ({ text: 'ok' }))
      const opened = await backend.open()
      close = opened.close
      server = await startApiServer(opened.db, { runner: true })
      await configureFakeModel(server.config, fake, 'anthropic')
    })
    afterAll(async () => {
      await server?.close()
      await close?.()
      await fake?.close()
    })

    it('accepts 50 messages sent at once from 5 connections while a turn runs, each once, and delivers them in log order', async () => {
      fake.enqueue(LONG_TURN)
      const chat = (await server.gql(`mutation { createChat(input: { title: "busy", modelId: "fake-model", firstMessage: "start" }) { id } }`)).body.data.createChat
      await waitUntil('the turn to run', async () => (await server.store.readStream(chatStream(chat.id))).some((e) => e.type === 'TurnStarted'))
      const connections = Array.from({ length: 5 }, () => connection(server.url, server.adminToken))
      const texts = Array.from({ length: 50 }, (_, i) => `follow-up ${i}`)
      const answers = await Promise.all(texts.map((text, i) => connections[i % 5]!.post(SEND, { id: chat.id, text })))
      for (const c of connections) c.agent.destroy()
      expect(answers.every((a) => a.sendMessage.queued)).toBe(true)
      await server.gql(`mutation($id: ID!) { interruptChat(chatId: $id) { id } }`, { id: chat.id })
      await expectEachOnceInOrder(server.store, chat.id, texts)
    })
  })
}

describe.skipIf(!postgresAvailable)('concurrent writers across two server processes', { timeout: 300_000 }, () => {
  let fresh: { url: string; drop(): Promise<void> }
  let fake: FakeProvider
  let db: Database
  let store: EventStore
  let api: ServedCairn
  let runner: ServedCairn
  let token = ''
  const dirs: string[] = []
  const clients: Client[] = []

  const envFor = (extra: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-writers-'))
    dirs.push(dir)
    return cairnEnv({ DATABASE_URL: fresh.url, CAIRN_DATA_DIR: dir, PORT: '0', HOST: '127.0.0.1', CAIRN_SECRET_KEY: 'replicas-share-this', ...extra })
  }
  const gql = async (url: string, query: string, variables: Record<string, unknown> = {}) => dataOf(await postGraphQL(url, token, query, variables))
  const ws = (url: string) => {
    const client = createClient({ url: url.replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` } })
    clients.push(client)
    return client
  }

  beforeAll(async () => {
    fresh = await createFreshPostgresDatabase()
    fake = await startFakeProvider('anthropic')
    fake.setDefault(() => ({ text: 'ok' }))
    api = await serveCairn(envFor({ CAIRN_RUNNER: 'off' }))
    token = /cairn_[A-Za-z0-9_-]{43}/.exec(api.output())![0]
    await gql(api.url, `mutation($url: String!) { configureProvider(input: { id: "fake", kind: anthropic, baseUrl: $url, apiKey: "sk-test" }) { id } }`, { url: fake.baseUrl })
    await gql(api.url, `mutation { configureModel(input: { id: "fake-model", providerId: "fake", modelName: "fake-1", isDefault: true, pricing: { input: 0, output: 0 } }) { id } }`)
    runner = await serveCairn(envFor())
    db = await openDatabase({ url: fresh.url })
    store = createSqlEventStore(db)
  })
  afterAll(async () => {
    for (const c of clients) await c.dispose()
    await stopServed([api, runner])
    await store?.close()
    await db?.close()
    await fake?.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
    await fresh?.drop()
  })

  it('accepts 50 messages sent at once to both processes while the runner appends, each once, in log order', async () => {
    fake.enqueue(LONG_TURN)
    const chat = (await gql(api.url, `mutation { createChat(input: { title: "busy", firstMessage: "start" }) { id } }`)).createChat
    await waitUntil('the turn to run', async () => (await store.readStream(chatStream(chat.id))).some((e) => e.type === 'TurnStarted'))
    const connections = [...Array.from({ length: 3 }, () => connection(api.url, token)), ...Array.from({ length: 2 }, () => connection(runner.url, token))]
    const texts = Array.from({ length: 50 }, (_, i) => `follow-up ${i}`)
    const answers = await Promise.all(texts.map((text, i) => connections[i % 5]!.post(SEND, { id: chat.id, text })))
    for (const c of connections) c.agent.destroy()
    expect(answers.every((a) => a.sendMessage.queued)).toBe(true)
    // Through the API process: the runner learns of it by its one watch on interrupts.
    await gql(api.url, `mutation($id: ID!) { interruptChat(chatId: $id) { id } }`, { id: chat.id })
    await expectEachOnceInOrder(store, chat.id, texts)
  })

  it('delivers 2,000 deltas published on the runner process to a subscriber on the API process in order, once each', async () => {
    // Whole words (a digit and a space): the secret redactor holds back only an unfinished word.
    const text = Array.from({ length: 2000 }, (_, i) => `${i % 10} `).join('')
    fake.enqueue({ text, textPieces: 2000 })
    const chat = (await gql(api.url, `mutation { createChat(input: { title: "deltas" }) { id } }`)).createChat
    const items: { __typename: string; seq?: number; turnId?: string; delta?: string; event?: { type: string } }[] = []
    const client = ws(api.url)
    const done = new Promise<void>((resolve, reject) =>
      client.subscribe(
        {
          query: `subscription($id: ID!) { chatStream(chatId: $id) { __typename
            ... on ChatEventItem { event { type } }
            ... on TextDelta { seq turnId delta }
            ... on StatusChanged { seq turnId } } }`,
          variables: { id: chat.id },
        },
        {
          next: (msg) => {
            const item = (msg.data as any).chatStream
            items.push(item)
            if (item.event?.type === 'TurnCompleted') resolve()
          },
          error: reject,
          complete: () => {},
        },
      ),
    )
    await sleep(500)
    await gql(api.url, SEND, { id: chat.id, text: 'count to 2000' })
    await done
    const deltas = items.filter((i) => i.__typename === 'TextDelta')
    expect(deltas.map((d) => d.delta).join('')).toBe(text)
    expect(deltas.length).toBe(2000)
    const turn = deltas[0]!.turnId
    const seqs = items.filter((i) => i.seq !== undefined && i.turnId === turn).map((i) => i.seq!)
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i))
  })
})
