// Chat subscriptions share one live tail per chat: many subscribers, seams at any revision,
// a slow subscriber that does not hold up the others, and a tail that stops with its last subscriber.
// And one execution per distinct selection (src/api/shared-execution.ts): every subscriber of a
// shared execution gets every event, and the subscribe-time permission check still decides who joins.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { subscriptionBufferStats } from '../../src/api/index.ts'
import { activeChatTails } from '../../src/api/chat-tail.ts'
import { sharedExecutionStats } from '../../src/api/shared-execution.ts'
import { handleCommand } from '../../commands/handler.ts'
import { userDecider } from '../../commands/user/decide.ts'
import { userStream } from '../../src/events/user.ts'
import { issueToken } from '../../src/identity/index.ts'
import { chatStream } from '../../src/events/chat.ts'
import type { EventStore } from '../../src/eventstore/types.ts'
import { backends } from '../support/databases.ts'
import { collect, firstOutcome, sleep, startApiServer, type ApiServer } from './harness.ts'

type Item = { chatEvents: { revision: number } }
const EVENTS_QUERY = 'subscription($id: ID!, $from: Int) { chatEvents(chatId: $id, fromRevision: $from) { revision type } }'

function plan(text: string) {
  return [{ id: randomUUID(), type: 'PlanProposed', data: { turnId: 't', callId: 'c', path: 'plan.md', plan: text, sha256: '' }, metadata: { actor: { kind: 'system' as const, id: 'test' } } }]
}

async function append(store: EventStore, chatId: string, text = 'step'): Promise<number> {
  return Number((await store.appendToStream(chatStream(chatId), plan(text))).nextExpectedRevision)
}

const tailsOf = (chatId: string) => activeChatTails().filter((t) => t.chatId === chatId)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe.each(backends)('shared chat tails on $name', (backend) => {
  let server: ApiServer
  let close: () => Promise<void>

  beforeAll(async () => {
    if (!backend.available) return
    const opened = await backend.open()
    close = opened.close
    server = await startApiServer(opened.db)
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
  })

  it.skipIf(!backend.available)('delivers every event once and in order to 50 subscribers that join mid-append at different revisions', async () => {
    const chatId = (await server.gql('mutation { createChat(input: { title: "crowd" }) { id } }')).body.data.createChat.id
    const TOTAL = 60
    const subs: { from: number; sub: ReturnType<typeof collect<Item>> }[] = []
    let head = 0
    const appending = (async () => {
      while (head < TOTAL) {
        head = await append(server.store, chatId, `step ${head}`)
        if (head % 3 === 0) await sleep(5)
      }
    })()
    for (let i = 0; i < 50; i++) {
      // Behind the head, at it, and just past it: catch-up seams land everywhere.
      const from = Math.max(0, head - (i % 7) + (i % 3))
      subs.push({ from, sub: collect<Item>(server.ws(), EVENTS_QUERY, { id: chatId, from }, (items) => items.at(-1)?.chatEvents.revision === TOTAL) })
      if (i % 5 === 4) await sleep(10)
    }
    await appending
    for (const { from, sub } of subs) expect((await sub.done).map((i) => i.chatEvents.revision)).toEqual(range(from, TOTAL))
  })

  it.skipIf(!backend.available)('joins a running tail from before, at and after its head without a gap or a duplicate', async () => {
    const chatId = (await server.gql('mutation { createChat(input: { title: "seams" }) { id } }')).body.data.createChat.id
    let start = 0
    for (let i = 0; i < 5; i++) start = await append(server.store, chatId)
    // A first subscriber starts the tail; once it has seen `head`, so has the tail.
    const first = collect<Item>(server.ws(), EVENTS_QUERY, { id: chatId, from: start }, (items) => items.at(-1)?.chatEvents.revision === start + 2)
    const head = await append(server.store, chatId)
    await expect.poll(() => first.items.length, { timeout: 10_000 }).toBe(2)
    const joiners = range(0, head + 1).map((from) => ({ from, sub: collect<Item>(server.ws(), EVENTS_QUERY, { id: chatId, from }, (items) => items.at(-1)?.chatEvents.revision === head + 1) }))
    await expect.poll(() => tailsOf(chatId)[0]?.subscribers ?? 0, { timeout: 10_000 }).toBe(joiners.length + 1)
    await append(server.store, chatId)
    expect((await first.done).map((i) => i.chatEvents.revision)).toEqual(range(start, head + 1))
    for (const { from, sub } of joiners) expect((await sub.done).map((i) => i.chatEvents.revision)).toEqual(range(from, head + 1))
  })

  it.skipIf(!backend.available)('feeds every subscriber of a chat from one tail, and stops it when the last one leaves', async () => {
    const chatId = (await server.gql('mutation { createChat(input: { title: "one tail" }) { id } }')).body.data.createChat.id
    const subs = Array.from({ length: 20 }, () => collect<Item>(server.ws(), EVENTS_QUERY, { id: chatId, from: 0 }, (items) => items.length >= 3))
    await expect.poll(() => tailsOf(chatId)[0]?.subscribers ?? 0, { timeout: 10_000 }).toBe(20)
    await append(server.store, chatId)
    await append(server.store, chatId)
    for (const sub of subs) expect((await sub.done).map((i) => i.chatEvents.revision)).toEqual([0, 1, 2])
    // Unsubscribing travels over each socket: the tail stops once the last `complete` has arrived.
    await expect.poll(() => tailsOf(chatId).length, { timeout: 10_000 }).toBe(0)

    // A new subscriber starts a new tail, from where the chat is now.
    const again = collect<Item>(server.ws(), EVENTS_QUERY, { id: chatId, from: 2 }, (items) => items.length >= 2)
    await expect.poll(() => tailsOf(chatId).length, { timeout: 10_000 }).toBe(1)
    await append(server.store, chatId)
    expect((await again.done).map((i) => i.chatEvents.revision)).toEqual([2, 3])
    await expect.poll(() => tailsOf(chatId).length, { timeout: 10_000 }).toBe(0)
  })

  it.skipIf(!backend.available)('replays a fork’s inherited events before its own, then goes live', async () => {
    const chatId = (await server.gql('mutation { createChat(input: { title: "parent" }) { id } }')).body.data.createChat.id
    for (let i = 0; i < 3; i++) await append(server.store, chatId)
    const forked = await server.gql('mutation($id: ID!) { forkChat(chatId: $id, atRevision: 2) { id revision } }', { id: chatId })
    expect(forked.body.errors).toBeUndefined()
    const fork = forked.body.data.forkChat as { id: string; revision: number }
    const live = collect<Item>(server.ws(), EVENTS_QUERY, { id: fork.id, from: fork.revision + 1 }, (items) => items.length >= 1)
    const replay = collect<Item>(server.ws(), EVENTS_QUERY, { id: fork.id, from: 0 }, (items) => items.at(-1)?.chatEvents.revision === fork.revision + 1)
    await expect.poll(() => tailsOf(fork.id)[0]?.subscribers ?? 0, { timeout: 10_000 }).toBe(2)
    await append(server.store, chatId) // the parent's new event is not the fork's
    const next = await append(server.store, fork.id)
    expect(next).toBe(fork.revision + 1)
    expect((await live.done).map((i) => i.chatEvents.revision)).toEqual([next])
    expect((await replay.done).map((i) => i.chatEvents.revision)).toEqual(range(0, next))
  })

  it.skipIf(!backend.available)('executes each event once per distinct selection, for every principal, and delivers it to every subscriber in order', async () => {
    const owner = await server.user('shared-owner@example.com', 'member')
    const auditor = await server.user('shared-auditor@example.com', 'auditor')
    const other = await server.user('shared-other@example.com', 'member')
    const chatId = (await server.gql('mutation { createChat(input: { title: "shared" }) { id } }', {}, owner.token)).body.data.createChat.id as string
    await append(server.store, chatId)
    const caughtUp = await append(server.store, chatId) // the first subscribers read up to here from the store
    const warmUp = caughtUp + 1
    const final = warmUp + 4
    const leaveAt = warmUp + 2

    type Events = { chatEvents: { revision: number; type: string } }
    const revision = (items: Events[]) => items.at(-1)?.chatEvents.revision
    const toFinal = (items: Events[]) => revision(items) === final
    // One selection for four principals' subscribers (one from a later revision, one leaving
    // early), the same field under an alias, and chatStream: three distinct selections.
    const admin = collect<Events>(server.ws(), EVENTS_QUERY, { id: chatId, from: 0 }, toFinal)
    const ownerSub = collect<Events>(server.ws(owner.token), EVENTS_QUERY, { id: chatId, from: 0 }, toFinal)
    const auditorSub = collect<Events>(server.ws(auditor.token), EVENTS_QUERY, { id: chatId, from: caughtUp }, toFinal)
    const leaver = collect<Events>(server.ws(auditor.token), EVENTS_QUERY, { id: chatId, from: 0 }, (items) => revision(items) === leaveAt)
    const aliased = collect<{ e: { revision: number } }>(server.ws(), 'subscription($id: ID!) { e: chatEvents(chatId: $id) { revision } }', { id: chatId }, (items) => items.at(-1)?.e.revision === final)
    const stream = collect<{ chatStream: { event?: { revision: number } } }>(
      server.ws(owner.token),
      'subscription($id: ID!) { chatStream(chatId: $id) { __typename ... on ChatEventItem { event { revision } } } }',
      { id: chatId },
      (items) => items.at(-1)?.chatStream.event?.revision === final,
    )
    const latest = [admin, ownerSub, auditorSub, leaver].map((s) => () => revision(s.items))
    latest.push(() => aliased.items.at(-1)?.e.revision, () => stream.items.at(-1)?.chatStream.event?.revision)
    await expect.poll(() => latest.map((at) => at()), { timeout: 20_000 }).toEqual(latest.map(() => caughtUp))
    // Once each has the next event, each has joined the chat's live tail.
    expect(await append(server.store, chatId)).toBe(warmUp)
    await expect.poll(() => latest.map((at) => at()), { timeout: 20_000 }).toEqual(latest.map(() => warmUp))

    const before = sharedExecutionStats.executions
    while ((await append(server.store, chatId)) < final);
    const revisions = (items: Events[]) => items.map((i) => i.chatEvents.revision)
    expect(revisions(await admin.done)).toEqual(range(0, final))
    expect(revisions(await ownerSub.done)).toEqual(range(0, final))
    expect(revisions(await auditorSub.done)).toEqual(range(caughtUp, final))
    // (the leaver may take an event or two more while its `complete` travels)
    const left = await leaver.done
    expect(revisions(left)).toEqual(range(0, Math.max(leaveAt, revision(left)!)))
    expect((await aliased.done).map((i) => i.e.revision)).toEqual(range(0, final))
    expect((await stream.done).map((i) => i.chatStream.event?.revision)).toEqual(range(0, final))
    expect(admin.items.at(-1)).toEqual({ chatEvents: { revision: final, type: 'PlanProposed' } })
    expect(sharedExecutionStats.executions - before).toBe(3 * (final - warmUp))

    // Joining a running shared execution is still decided by the subscribe-time check.
    const watched = collect<Events>(server.ws(owner.token), EVENTS_QUERY, { id: chatId, from: final + 1 }, (items) => items.length >= 2)
    const refused = await firstOutcome(server.ws(other.token), EVENTS_QUERY, { id: chatId, from: 0 })
    expect(refused.kind).toBe('error')
    expect((refused as { error: { extensions?: { code?: string } }[] }).error[0]!.extensions?.code).toBe('CHAT_NOT_FOUND')

    const second = await issueToken(server.store, { userId: owner.userId, label: 'revoked soon' })
    const revoked = await handleCommand(server.store, userStream(owner.userId), userDecider, { type: 'RevokeToken', tokenId: second.tokenId }, {
      commandId: randomUUID(),
      metadata: { actor: { kind: 'system', id: 'test' }, correlationId: randomUUID() },
    })
    await server.engine.waitForAll(revoked.result!.checkpoint)
    const closed = await firstOutcome(server.ws(second.token), EVENTS_QUERY, { id: chatId, from: 0 })
    expect((closed as { error: { code?: number } }).error.code).toBe(4403)

    // An archived chat stays readable by whoever could read it, and only by them.
    await server.gql('mutation($id: ID!) { archiveChat(chatId: $id) { id } }', { id: chatId }, owner.token)
    const afterArchive = await append(server.store, chatId)
    expect(revisions(await watched.done)).toEqual([final + 1, afterArchive])
    expect((await firstOutcome(server.ws(other.token), EVENTS_QUERY, { id: chatId, from: 0 })).kind).toBe('error')
  })

  it.skipIf(!backend.available)('runs the sub-agent tree loaders in a shared myChats selection, within the depth limit', async () => {
    const owner = await server.user('tree-owner@example.com', 'member')
    const mine = collect<{ myChats: { chat: { title: string; children: unknown[]; parent: unknown } } }>(
      server.ws(owner.token),
      'subscription { myChats { kind chat { title children { id } parent { id } } } }',
      {},
      (items) => items.length >= 1,
    )
    await sleep(300) // myChats answers nothing until a change: let it listen
    await server.gql('mutation { createChat(input: { title: "tree" }) { id } }', {}, owner.token)
    expect((await mine.done)[0]!.myChats.chat).toEqual({ title: 'tree', children: [], parent: null })
    // The tree nests without end: the depth limit holds for subscriptions too.
    const deep = await firstOutcome(server.ws(owner.token), 'subscription { myChats { chat { children { children { children { children { children { children { id } } } } } } } } }', {})
    expect((deep as { error: { extensions?: { code?: string } }[] }).error[0]!.extensions?.code).toBe('QUERY_TOO_DEEP')
  })
})

describe('a slow subscriber on a shared tail', () => {
  const BUFFER = 8
  const pglite = backends.find((b) => b.name === 'pglite')!
  let server: ApiServer
  let close: () => Promise<void>

  beforeAll(async () => {
    const opened = await pglite.open()
    close = opened.close
    server = await startApiServer(opened.db, { subscriptionBuffer: BUFFER, slowSubscriberMs: 500 })
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
  })

  it('is disconnected while a fast subscriber on the same chat receives everything', async () => {
    const chatId = (await server.gql('mutation { createChat(input: { title: "mixed" }) { id } }')).body.data.createChat.id

    // A raw graphql-transport-ws client that subscribes, reads the first event, then stops reading.
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws')
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)))
    const firstEvent = new Promise<void>((resolve) => {
      socket.on('message', (raw) => {
        const message = JSON.parse(raw.toString()) as { type: string }
        if (message.type === 'connection_ack')
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription { chatEvents(chatId: "${chatId}") { revision data } }` } }))
        if (message.type === 'next') resolve()
      })
    })
    await new Promise((resolve) => socket.on('open', resolve))
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${server.adminToken}` } }))
    await firstEvent
    ;(socket as unknown as { _socket: { pause(): void } })._socket.pause()

    const fast = collect<Item>(server.ws(), 'subscription($id: ID!) { chatEvents(chatId: $id) { revision } }', { id: chatId }, () => false, 60_000)
    fast.done.catch(() => {}) // it never finishes by itself; we stop it below
    await expect.poll(() => tailsOf(chatId)[0]?.subscribers ?? 0, { timeout: 10_000 }).toBe(2)

    const overflowsBefore = subscriptionBufferStats.overflows
    subscriptionBufferStats.highWater = 0
    const blob = 'x'.repeat(256 * 1024)
    let last = 0
    for (let i = 0; i < 200 && subscriptionBufferStats.overflows === overflowsBefore; i++) {
      last = await append(server.store, chatId, blob)
      if (i % 10 === 9) await sleep(50)
    }
    await expect.poll(() => subscriptionBufferStats.overflows, { timeout: 10_000 }).toBe(overflowsBefore + 1)
    expect(subscriptionBufferStats.highWater).toBeLessThanOrEqual(BUFFER)
    ;(socket as unknown as { _socket: { resume(): void } })._socket.resume()
    expect([4008, 1006]).toContain(await closed)

    // The fast one got every event, once, in order — including those appended after the slow one left.
    for (let i = 0; i < 3; i++) last = await append(server.store, chatId)
    await expect.poll(() => fast.items.at(-1)?.chatEvents.revision, { timeout: 20_000 }).toBe(last)
    expect(fast.items.map((i) => i.chatEvents.revision)).toEqual(range(0, last))
    expect(tailsOf(chatId)[0]?.subscribers).toBe(1)
    fast.stop()
    await expect.poll(() => tailsOf(chatId).length, { timeout: 10_000 }).toBe(0)
  })
})
