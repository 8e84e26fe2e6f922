// The agent loop end to end through GraphQL: configuration, chats and messages go through
// mutations, and a chatStream subscriber watches deltas and committed events over graphql-ws.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { collect, startApiServer, type ApiServer } from '../api/harness.ts'
import { backends } from '../support/databases.ts'
import { startFakeEventStoreDb } from '../fakes/eventstoredb/server.ts'
import { realEventStoreDb } from '../eventstore-esdb/real-server.ts'

type Item = {
  chatStream: {
    __typename: string
    delta?: string
    attempt?: number
    errorKind?: string
    status?: string
    event?: { revision: number; type: string; data: any }
  }
}

const STREAM = `subscription($id: ID!) { chatStream(chatId: $id, fromRevision: 0) {
  __typename
  ... on ChatEventItem { event { revision type data } }
  ... on TextDelta { delta }
  ... on RetryCountdown { attempt errorKind }
  ... on StatusChanged { status }
} }`

type Body = { messages: { role: string; content: unknown }[] }
const texts = (body: unknown) => (body as Body).messages.map((m) => `${m.role}: ${typeof m.content === 'string' ? m.content : JSON.stringify(m.content)}`)
const events = (items: Item[]) => items.flatMap((i) => (i.chatStream.event ? [i.chatStream.event] : []))
const ended = (n: number) => (items: Item[]) => events(items).filter((e) => ['TurnCompleted', 'TurnInterrupted', 'TurnFailed'].includes(e.type)).length >= n

/** Where the log lives besides the database's own table: EventStoreDB, the fake node or a real one. */
interface LogElsewhere {
  url: string
  close(): Promise<void>
}

const pglite = backends.find((b) => b.name === 'pglite')!
const setups = [
  ...backends.filter((b) => b.available).map((backend) => ({ name: backend.name, backend, eventStore: undefined })),
  {
    name: 'pglite, the log in EventStoreDB (the fake node over gRPC)',
    backend: pglite,
    eventStore: async (): Promise<LogElsewhere> => startFakeEventStoreDb(),
  },
  ...(realEventStoreDb
    ? [{ name: `pglite, the log in EventStoreDB at ${realEventStoreDb.display}`, backend: pglite, eventStore: async (): Promise<LogElsewhere> => ({ url: realEventStoreDb!.url, close: async () => {} }) }]
    : []),
]

describe.each(setups)('the agent loop through GraphQL on $name', ({ backend, eventStore }) => {
  let server: ApiServer
  let fake: FakeProvider
  let close: () => Promise<void>
  let log: LogElsewhere | undefined

  beforeAll(async () => {
    fake = await startFakeProvider('openai-chat')
    const opened = await backend.open()
    close = opened.close
    log = await eventStore?.()
    server = await startApiServer(opened.db, { runner: true, eventStoreUrl: log?.url })
    const provider = await server.gql(`mutation($url: String!) { configureProvider(input: { id: "fake", kind: openai_chat, baseUrl: $url, apiKey: "sk-fake" }) { id } }`, {
      url: fake.baseUrl,
    })
    expect(provider.body.errors).toBeUndefined()
    const model = await server.gql(
      `mutation { configureModel(input: { id: "fake-model", providerId: "fake", modelName: "fake-1", isDefault: true, contextWindow: 1000, compactionThresholdPercent: 50, pricing: { input: 1, output: 2 } }) { id } }`,
    )
    expect(model.body.errors).toBeUndefined()
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
    await log?.close()
    await fake?.close()
  })
  beforeEach(() => {
    fake.requests.length = 0
  })

  /**
   * Creates a chat, subscribes to its chatStream, and only then sends the first message:
   * ephemeral items reach only subscribers already listening.
   */
  async function chatWithStream(text: string, turns: number) {
    const res = await server.gql(`mutation { createChat(input: { title: "kept", modelId: "fake-model" }) { id } }`)
    expect(res.body.errors).toBeUndefined()
    const chatId: string = res.body.data.createChat.id
    const stream = collect<Item>(server.ws(), STREAM, { id: chatId }, ended(turns), 30_000)
    await until(stream.items, (items) => events(items).length > 0)
    await send(chatId, text)
    return { chatId, stream }
  }
  const send = (chatId: string, text: string, busyBehavior = 'QUEUE') =>
    server.gql(`mutation($id: ID!, $t: String!, $b: BusyBehavior) { sendMessage(input: { chatId: $id, text: $t, busyBehavior: $b }) { queued } }`, {
      id: chatId,
      t: text,
      b: busyBehavior,
    })

  async function until(items: Item[], ok: (items: Item[]) => boolean, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs
    while (!ok(items)) {
      if (Date.now() > deadline) throw new Error(`timed out; events: ${events(items).map((e) => e.type).join(', ')}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  const deltas = (items: Item[]) => items.filter((i) => i.chatStream.__typename === 'TextDelta')

  it('streams deltas before the committed step, and delivers queued follow-ups in order', async () => {
    fake.enqueue({ text: 'one two three four five', chunkDelayMs: 80, usage: { input: 10, output: 5 } }, { text: 'second reply' }, { text: 'third reply' })
    const { chatId, stream } = await chatWithStream('first', 3)
    await until(stream.items, (items) => deltas(items).length > 0)
    expect((await send(chatId, 'second')).body.data.sendMessage.queued).toBe(true)
    expect((await send(chatId, 'third')).body.data.sendMessage.queued).toBe(true)
    const items = await stream.done

    const firstDelta = items.findIndex((i) => i.chatStream.__typename === 'TextDelta')
    const firstStep = items.findIndex((i) => i.chatStream.event?.type === 'AssistantStepCompleted')
    expect(firstDelta).toBeLessThan(firstStep)
    expect(deltas(items.slice(0, firstStep)).map((i) => i.chatStream.delta).join('')).toBe('one two three four five')
    const log = events(items)
    expect(log.map((e) => e.revision)).toEqual(log.map((_, i) => i))
    const posted = log.filter((e) => e.type === 'UserMessagePosted').map((e) => e.data.parts[0].text)
    expect(posted).toEqual(['first', 'second', 'third'])
    const statuses = items.filter((i) => i.chatStream.__typename === 'StatusChanged').map((i) => i.chatStream.status)
    expect(statuses).toContain('RUNNING')
    expect(fake.requests.map((r) => texts(r).filter((t) => t.startsWith('user')).at(-1))).toEqual(['user: first', 'user: second', 'user: third'])
  })

  it('interruptChat mid-stream keeps the partial text', async () => {
    // Six seconds of words: the interrupt cuts it after two, however busy the machine (an
    // interrupted stream ends at once, so the length costs nothing when it works).
    const words = Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ')
    fake.enqueue({ text: words, textPieces: 60, chunkDelayMs: 100 })
    const { chatId, stream } = await chatWithStream('talk slowly', 1)
    await until(stream.items, (items) => deltas(items).length >= 2)
    const res = await server.gql(`mutation($id: ID!) { interruptChat(chatId: $id) { id } }`, { id: chatId })
    expect(res.body.errors).toBeUndefined()
    const log = events(await stream.done)
    const step = log.find((e) => e.type === 'AssistantStepCompleted')!
    expect(step.data.interrupted).toBe(true)
    expect(step.data.text.length).toBeGreaterThan(0)
    expect(step.data.text.length).toBeLessThan(words.length)
    expect(log.at(-1)!.type).toBe('TurnInterrupted')
    const status = async () => (await server.gql(`query($id: ID!) { chat(id: $id) { status } }`, { id: chatId })).body.data.chat.status
    for (let i = 0; i < 100 && (await status()) !== 'WAITING'; i++) await new Promise((r) => setTimeout(r, 50))
    expect(await status()).toBe('WAITING')
  })

  it('a 429 is retried: the countdown streams, RetryScheduled is recorded, the turn completes', async () => {
    fake.enqueue({ fault: { status: 429, message: 'slow down' } }, { text: 'worked the second time' })
    const { stream } = await chatWithStream('retry me', 1)
    const items = await stream.done
    expect(items.some((i) => i.chatStream.__typename === 'RetryCountdown' && i.chatStream.errorKind === 'rate_limit')).toBe(true)
    const log = events(items)
    expect(log.find((e) => e.type === 'RetryScheduled')).toMatchObject({ data: { attempt: 1, errorKind: 'rate_limit' } })
    expect(log.at(-1)!.type).toBe('TurnCompleted')
  })

  it('compacts at the threshold; the next request starts at the summary', async () => {
    fake.enqueue(
      { text: 'a long first answer', usage: { input: 600, output: 50 } },
      { text: 'SUMMARY: one was answered.' },
      { text: 'the second answer' },
    )
    const { chatId, stream } = await chatWithStream('first question', 2)
    await until(stream.items, ended(1))
    await send(chatId, 'second question')
    const log = events(await stream.done)
    expect(log.map((e) => e.type)).toContain('ContextCompacted')
    const last = texts(fake.requests.at(-1)).filter((t) => !t.startsWith('system'))
    expect(last[0]).toContain('SUMMARY: one was answered.')
    expect(last.join('\n')).not.toContain('first question')
    expect(last.at(-1)).toContain('second question')
  })

  it.runIf(eventStore)('kept every chat’s log in EventStoreDB and none in the database', async () => {
    await server.engine.waitForAll(await server.store.headCheckpoint())
    const chats = await server.db.query<{ id: string; revision: string }>('select id, revision::text as revision from chats')
    expect(chats.length).toBeGreaterThanOrEqual(4)
    for (const chat of chats) expect((await server.store.streamInfo(`chat-${chat.id}`))?.revision).toBe(BigInt(chat.revision))
    expect(await server.db.query('select 1 from events limit 1')).toEqual([])
  })
})
