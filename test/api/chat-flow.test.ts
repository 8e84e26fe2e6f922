import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatStream } from '../../src/events/chat.ts'
import { ephemeralFor } from '../../src/api/index.ts'
import { archiveOldChats } from '../../src/audit/retention.ts'
import { backends } from '../support/databases.ts'
import { CHAT_FIELDS, collect, sleep, startApiServer, type ApiServer } from './harness.ts'

describe.each(backends)('chats through GraphQL on $name', (backend) => {
  let server: ApiServer
  let close: () => Promise<void>
  let alice: string
  let bob: string

  beforeAll(async () => {
    if (!backend.available) return
    const opened = await backend.open()
    close = opened.close
    server = await startApiServer(opened.db)
    alice = (await server.user('alice@example.com', 'member')).token
    bob = (await server.user('bob@example.com', 'member')).token
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
  })

  const turnStarted = () => ({
    id: randomUUID(),
    type: 'TurnStarted',
    data: { turnId: randomUUID(), runnerId: 'test-runner', modelId: null },
    metadata: { actor: { kind: 'system' as const, id: 'test' } },
  })

  it.skipIf(!backend.available)('creates, sends, queues while busy, promotes, and forks at a mid-history revision', async () => {
    const created = await server.gql(
      `mutation { createChat(input: { title: "  Refactor the parser ", modelId: "claude", firstMessage: "hello" }) { ${CHAT_FIELDS} } }`,
      {},
      alice,
    )
    expect(created.body.errors).toBeUndefined()
    const chat = created.body.data.createChat
    expect(chat).toMatchObject({ title: 'Refactor the parser', status: 'PENDING', modelId: 'claude', revision: 1, queueLength: 0 })

    // The runner picks the chat up: the chat is busy now.
    await server.store.appendToStream(chatStream(chat.id), [turnStarted()], { expectedRevision: 1n })

    const send = `mutation($chatId: ID!, $text: String!) { sendMessage(input: { chatId: $chatId, text: $text, busyBehavior: QUEUE }) { queued messageId chat { ${CHAT_FIELDS} } } }`
    const first = await server.gql(send, { chatId: chat.id, text: 'second' }, alice)
    const second = await server.gql(send, { chatId: chat.id, text: 'third' }, alice)
    expect(first.body.data.sendMessage.queued).toBe(true)
    expect(second.body.data.sendMessage.queued).toBe(true)
    // The answer already shows the mutation's own write.
    expect(second.body.data.sendMessage.chat).toMatchObject({ status: 'RUNNING', queueLength: 2, revision: 4 })
    const [q1, q2] = second.body.data.sendMessage.chat.queue.map((q: { queueId: string }) => q.queueId)
    expect([q1, q2]).toEqual([first.body.data.sendMessage.messageId, second.body.data.sendMessage.messageId])

    const promoted = await server.gql(
      `mutation($chatId: ID!, $queueId: ID!) { promoteQueuedMessage(chatId: $chatId, queueId: $queueId) { ${CHAT_FIELDS} } }`,
      { chatId: chat.id, queueId: q2 },
      alice,
    )
    expect(promoted.body.data.promoteQueuedMessage.queue.map((q: { queueId: string }) => q.queueId)).toEqual([q2, q1])

    // Fork right after the first message (revision 1 of 5).
    const forked = await server.gql(`mutation($id: ID!) { forkChat(chatId: $id, atRevision: 1) { ${CHAT_FIELDS} } }`, { id: chat.id }, alice)
    expect(forked.body.errors).toBeUndefined()
    const fork = forked.body.data.forkChat
    expect(fork).toMatchObject({ title: 'Refactor the parser (fork)', status: 'WAITING', forkOf: { chatId: chat.id, revision: 1 }, revision: 2, queueLength: 0 })

    const forkSend = await server.gql(send, { chatId: fork.id, text: 'a different direction' }, alice)
    expect(forkSend.body.data.sendMessage).toMatchObject({ queued: false, chat: { status: 'PENDING', revision: 3 } })

    const events = `query($id: ID!) { chatEvents(chatId: $id) { revision type actor { kind id } } }`
    const source = (await server.gql(events, { id: chat.id }, alice)).body.data.chatEvents
    const branch = (await server.gql(events, { id: fork.id }, alice)).body.data.chatEvents
    expect(source.map((e: { type: string }) => e.type)).toEqual([
      'ChatCreated',
      'UserMessagePosted',
      'TurnStarted',
      'MessageQueued',
      'MessageQueued',
      'QueuedMessagePromoted',
    ])
    expect(branch.map((e: { revision: number; type: string }) => [e.revision, e.type])).toEqual([
      [0, 'ChatCreated'],
      [1, 'UserMessagePosted'],
      [2, 'ChatForked'],
      [3, 'UserMessagePosted'],
    ])

    const messages = `query($id: ID!) { chatMessages(chatId: $id) { nodes { role revision inherited parts } pageInfo { hasNextPage } } }`
    const forkMessages = (await server.gql(messages, { id: fork.id }, alice)).body.data.chatMessages.nodes
    expect(forkMessages.map((m: { parts: { text: string }[]; inherited: boolean }) => [m.parts[0]!.text, m.inherited])).toEqual([
      ['hello', true],
      ['a different direction', false],
    ])
    const sourceMessages = (await server.gql(messages, { id: chat.id }, alice)).body.data.chatMessages.nodes
    expect(sourceMessages.map((m: { parts: { text: string }[] }) => m.parts[0]!.text)).toEqual(['hello'])

    // Each appended event names the user, the organization, the request and the command.
    const stored = await server.store.readStream(chatStream(fork.id), { fromRevision: 2n })
    for (const e of stored) {
      expect(e.metadata).toMatchObject({ actor: { kind: 'user' }, organizationId: expect.any(String), correlationId: expect.any(String), causationId: expect.any(String) })
    }
  })

  it.skipIf(!backend.available)("answers a fork with the totals it inherits, for a fork of a fork and of an archived source, as reads of it later do", async () => {
    const FIELDS = `${CHAT_FIELDS} workspaceId lastError pendingQuestionId compactionRequested openToolCalls { callId } createdAt updatedAt historyArchivedAt
      usage { inputTokens outputTokens cacheReadTokens cacheWriteTokens reasoningTokens costUsd }`
    const fork = async (id: string, at: number) => {
      const res = await server.gql(`mutation($id: ID!, $at: Int!) { forkChat(chatId: $id, atRevision: $at) { ${FIELDS} } }`, { id, at }, alice)
      expect(res.body.errors).toBeUndefined()
      const answer = res.body.data.forkChat as { id: string; revision: number; usage: Record<string, number> }
      // What the answer shows is what the chat reads as afterwards.
      expect((await server.gql(`query($id: ID!) { chat(id: $id) { ${FIELDS} } }`, { id: answer.id }, alice)).body.data.chat).toEqual(answer)
      return answer
    }
    /** A finished turn of one step on `id` after `revision`; waits for the read model unless told not to. */
    const step = async (id: string, revision: number, inputTokens: number, costUsd: number, wait = true) => {
      const turnId = randomUUID()
      const metadata = { actor: { kind: 'system' as const, id: 'test' } }
      const events = [
        { type: 'TurnStarted', data: { turnId, runnerId: 'test-runner', modelId: null } },
        {
          type: 'AssistantStepCompleted',
          data: {
            turnId, stepId: randomUUID(), modelId: null, parts: [{ type: 'text', text: 'ok' }], text: 'ok', reasoning: '', toolCalls: [],
            usage: { inputTokens, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }, costUsd, finishReason: 'stop', interrupted: false,
          },
        },
        { type: 'TurnCompleted', data: { turnId } },
      ]
      const appended = await server.store.appendToStream(chatStream(id), events.map((e) => ({ id: randomUUID(), ...e, metadata })), { expectedRevision: BigInt(revision) })
      if (wait) await server.engine.waitForAll(appended.checkpoint)
    }
    const usage = (inputTokens: number, steps: number, costUsd: number) => ({ inputTokens, outputTokens: steps, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, costUsd })

    // source: 0 created, 1 hello, 2 turn, 3 step, 4 end
    const source = (await server.gql(`mutation { createChat(input: { title: "totals", firstMessage: "hello" }) { id } }`, {}, alice)).body.data.createChat.id
    await step(source, 1, 100, 0.5)
    const first = await fork(source, 4)
    expect(first).toMatchObject({ revision: 5, usage: usage(100, 1, 0.5) })
    expect((await fork(source, 2)).usage).toEqual(usage(0, 0, 0))
    // The fork's own step (6..8), then a fork of the fork after it and one before it.
    await step(first.id, 5, 20, 0.25)
    expect((await fork(first.id, 8)).usage).toEqual(usage(120, 2, 0.75))
    expect((await fork(first.id, 5)).usage).toEqual(usage(100, 1, 0.5))
    // Forked at once after a step the read model may not have yet: the answer still counts it.
    await step(source, 4, 1000, 2, false)
    expect((await fork(source, 7)).usage).toEqual(usage(1100, 2, 2.5))
    // A page of chats reads every fork's inherited totals at once: each as the chat reads alone.
    const USAGE = 'usage { inputTokens outputTokens cacheReadTokens cacheWriteTokens reasoningTokens costUsd }'
    const page = (await server.gql(`{ chats(first: 50) { nodes { id forkOf { chatId } ${USAGE} } } }`, {}, alice)).body.data.chats.nodes as { id: string; forkOf: unknown; usage: unknown }[]
    expect(page.filter((c) => c.forkOf).length).toBeGreaterThanOrEqual(6)
    for (const chat of page) expect(chat.usage, chat.id).toEqual((await server.gql(`query($id: ID!) { chat(id: $id) { ${USAGE} } }`, { id: chat.id }, alice)).body.data.chat.usage)
    expect(new Set(page.map((c) => JSON.stringify(c.usage))).size).toBeGreaterThanOrEqual(4)

    // Retention archived the whole lineage: a new fork of the fork brings it back, with the same totals.
    await archiveOldChats(server.db, new Date(Date.now() + 60_000))
    expect((await server.db.query('select history_archived_at from chats where id = $1', [first.id]))[0]!.history_archived_at).not.toBeNull()
    expect((await fork(first.id, 8)).usage).toEqual(usage(120, 2, 0.75))
    expect((await server.db.query('select history_archived_at from chats where id = $1', [source]))[0]!.history_archived_at).toBeNull()
  })

  it.skipIf(!backend.available)('streams every event once, in order, from revision 0 while another client appends', async () => {
    const chat = (await server.gql(`mutation { createChat(input: { title: "live" }) { id } }`, {}, alice)).body.data.createChat
    const appends = 15
    const last = appends // ChatCreated is revision 0
    const sub = collect<{ chatEvents: { revision: number; type: string } }>(
      server.ws(alice),
      `subscription($id: ID!) { chatEvents(chatId: $id, fromRevision: 0) { revision type position hash occurredAt data actor { id } } }`,
      { id: chat.id },
      (items) => items.some((i) => i.chatEvents.revision >= last),
    )
    // The other client (the admin) writes while the subscription catches up and goes live.
    for (let i = 0; i < appends; i++) {
      const res = await server.gql(`mutation($id: ID!, $t: String!) { renameChat(chatId: $id, title: $t) { revision } }`, { id: chat.id, t: `title ${i}` })
      expect(res.body.errors).toBeUndefined()
      if (i % 5 === 0) await sleep(20)
    }
    const items = await sub.done
    expect(items.map((i) => i.chatEvents.revision)).toEqual(Array.from({ length: last + 1 }, (_, i) => i))
    expect(items[0]!.chatEvents.type).toBe('ChatCreated')
  })

  it.skipIf(!backend.available)('replays a fork with its inherited events, and interleaves ephemeral items in chatStream', async () => {
    const chat = (await server.gql(`mutation { createChat(input: { title: "src", firstMessage: "one" }) { id } }`, {}, alice)).body.data.createChat
    await server.gql(`mutation($id: ID!) { renameChat(chatId: $id, title: "src 2") { id } }`, { id: chat.id }, alice)
    const fork = (await server.gql(`mutation($id: ID!) { forkChat(chatId: $id, atRevision: 1) { id } }`, { id: chat.id }, alice)).body.data.forkChat
    const sub = collect<{ chatStream: { __typename: string; event?: { revision: number; type: string }; delta?: string; status?: string } }>(
      server.ws(alice),
      `subscription($id: ID!) { chatStream(chatId: $id) { __typename ... on ChatEventItem { event { revision type } } ... on TextDelta { delta } ... on StatusChanged { status } } }`,
      { id: fork.id },
      (items) => items.some((i) => i.chatStream.__typename === 'TextDelta') && items.some((i) => i.chatStream.event?.type === 'UserMessagePosted' && i.chatStream.event.revision === 3),
    )
    await sleep(300)
    await ephemeralFor(server.db).publishEphemeral(fork.id, { kind: 'StatusChanged', turnId: 't1', status: 'running', seq: 0 })
    await ephemeralFor(server.db).publishEphemeral(fork.id, { kind: 'TextDelta', turnId: 't1', delta: 'x'.repeat(20_000), seq: 1 })
    await server.gql(`mutation($id: ID!) { sendMessage(input: { chatId: $id, text: "two" }) { queued } }`, { id: fork.id }, alice)
    const items = await sub.done
    const events = items.filter((i) => i.chatStream.event).map((i) => [i.chatStream.event!.revision, i.chatStream.event!.type])
    expect(events).toEqual([
      [0, 'ChatCreated'],
      [1, 'UserMessagePosted'],
      [2, 'ChatForked'],
      [3, 'UserMessagePosted'],
    ])
    // A 20 000-character delta does not fit one NOTIFY: it arrives split, whole and in order.
    const text = items.filter((i) => i.chatStream.__typename === 'TextDelta').map((i) => i.chatStream.delta).join('')
    await sleep(200)
    const all = sub.items.filter((i) => i.chatStream.__typename === 'TextDelta').map((i) => i.chatStream.delta).join('')
    expect(all.length >= text.length).toBe(true)
    expect(all).toBe('x'.repeat(20_000))
    expect(items.find((i) => i.chatStream.__typename === 'StatusChanged')?.chatStream.status).toBe('RUNNING')
  })

  it.skipIf(!backend.available)('tells the owner — and only the owner — about changes to their chats', async () => {
    const mine = collect<{ myChats: { kind: string; chat: { title: string } } }>(
      server.ws(alice),
      `subscription { myChats { kind chat { id title archived } } }`,
      {},
      (items) => items.some((i) => i.myChats.kind === 'ARCHIVED'),
    )
    const others: unknown[] = []
    const stopBob = server.ws(bob).subscribe({ query: `subscription { myChats { kind chat { id } } }` }, { next: (v) => others.push(v), error: () => {}, complete: () => {} })
    await sleep(500)
    const chat = (await server.gql(`mutation { createChat(input: { title: "watched" }) { id } }`, {}, alice)).body.data.createChat
    await server.gql(`mutation($id: ID!) { renameChat(chatId: $id, title: "renamed") { id } }`, { id: chat.id }, alice)
    await server.gql(`mutation($id: ID!) { archiveChat(chatId: $id) { id } }`, { id: chat.id }, alice)
    const items = await mine.done
    expect(items.map((i) => [i.myChats.kind, i.myChats.chat.title])).toEqual([
      ['CREATED', 'watched'],
      ['TITLE', 'renamed'],
      ['ARCHIVED', 'renamed'],
    ])
    stopBob()
    expect(others).toEqual([])
  })

  it.skipIf(!backend.available)('archives a root chat together with its sub-agent chats', async () => {
    const root = (await server.gql(`mutation { createChat(input: { title: "root" }) { id } }`, {}, alice)).body.data.createChat
    const aliceId = (await server.gql(`{ me { id } }`, {}, alice)).body.data.me.id
    const childId = randomUUID()
    await server.store.appendToStream(
      chatStream(childId),
      [
        {
          id: randomUUID(),
          type: 'ChatCreated',
          data: { chatId: childId, ownerId: aliceId, organizationId: '00000000-0000-4000-8000-000000000001', title: 'child', modelId: null, workspaceId: null, parentChatId: root.id, rootChatId: root.id, agentType: 'explore', planMode: false },
          metadata: { actor: { kind: 'agent', id: 'runner', onBehalfOf: aliceId } },
        },
      ],
      { expectedRevision: 'no_stream' },
    )
    await server.engine.waitForAll(await server.store.headCheckpoint())
    const archived = await server.gql(`mutation($id: ID!) { archiveChat(chatId: $id) { archived } }`, { id: root.id }, alice)
    expect(archived.body.data.archiveChat.archived).toBe(true)
    const child = await server.gql(`query($id: ID!) { chat(id: $id) { archived } }`, { id: childId }, alice)
    expect(child.body.data.chat.archived).toBe(true)
    const [childArchived] = await server.store.readStream(chatStream(childId), { fromRevision: 1n })
    expect(childArchived).toMatchObject({ type: 'ChatArchived', data: { cascadedFrom: root.id } })
  })
})
