// The as-of fold over a fork of a fork, as the store reads it (inherited events first): pure, no
// database. Then the memo: folds kept at checkpoints must answer exactly what a fold from the
// first event answers, in any order of questions, for a chat and its fork, and never from a log
// they were not taken from. The memo only calls the store's readStreamPages, the same SQL on both
// backends: it runs on PostgreSQL when it is there (PGlite's first database in a process is slow).
import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chatAsOf, foldChatAsOf } from '../../src/asof/chat-as-of.ts'
import { ChatFoldMemo } from '../../src/asof/fold-memo.ts'
import type { Database } from '../../src/db/database.ts'
import { chatStream, type ChatEvent } from '../../src/events/index.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import type { EventStore } from '../../src/eventstore/types.ts'
import { backends } from '../support/databases.ts'
import { eventLog, ORG, OWNER } from '../projections-readmodels/support.ts'

const usage = { inputTokens: 100, outputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }
const step = (stepId: string, calls: string[] = []): ChatEvent => ({
  type: 'AssistantStepCompleted',
  data: {
    turnId: 't', stepId, modelId: 'm', parts: [{ type: 'text', text: stepId }], text: stepId, reasoning: '', usage, costUsd: 0.25, finishReason: 'stop', interrupted: false,
    toolCalls: calls.map((id) => ({ id, name: 'execute', arguments: {} })),
  },
})
const posted = (messageId: string, fromQueueId?: string): ChatEvent => ({ type: 'UserMessagePosted', data: { messageId, parts: [{ type: 'text', text: messageId }], authorId: OWNER, fromQueueId } })
const queued = (queueId: string, atHead = false): ChatEvent => ({ type: 'MessageQueued', data: { queueId, parts: [{ type: 'text', text: queueId }], authorId: OWNER, atHead } })
const created = (chatId: string, title: string): ChatEvent => ({
  type: 'ChatCreated',
  data: { chatId, ownerId: OWNER, organizationId: ORG, title, modelId: 'm', workspaceId: null, parentChatId: null, rootChatId: null, agentType: null, planMode: false },
})

/** A turn with a tool call, the queue moved around, compactions and a rename: every kind of history change. */
const sourceEvents = (chatId: string): ChatEvent[] => [
  created(chatId, 'A'),
  posted('m1'),
  { type: 'TurnStarted', data: { turnId: 't', runnerId: 'r', modelId: 'm' } },
  step('s1', ['c1']),
  queued('q1'),
  queued('q2', true),
  { type: 'ToolCallStarted', data: { turnId: 't', callId: 'c1', name: 'execute', arguments: {} } },
  { type: 'ToolCallCompleted', data: { turnId: 't', callId: 'c1', name: 'execute', result: 'ok', isError: false, durationMs: 1 } },
  { type: 'QueuedMessagePromoted', data: { queueId: 'q1' } },
  { type: 'ContextCompacted', data: { summary: 'first', throughRevision: 5, tokensBefore: 9, tokensAfter: 1, manual: false } },
  step('s2'),
  { type: 'TurnCompleted', data: { turnId: 't' } },
  posted('m2', 'q1'),
  { type: 'ChatRenamed', data: { title: 'A renamed', generated: false } },
  { type: 'QueuedMessageRemoved', data: { queueId: 'q2' } },
  { type: 'TurnStarted', data: { turnId: 't2', runnerId: 'r', modelId: 'm' } },
  step('s3', ['c2']),
  { type: 'ContextCompacted', data: { summary: 'second', throughRevision: 14, tokensBefore: 9, tokensAfter: 1, manual: true } },
]

const forked = (chatId: string, sourceChatId: string, atRevision: number): ChatEvent => ({
  type: 'ChatForked',
  data: { chatId, sourceChatId, atRevision, ownerId: OWNER, organizationId: ORG, title: `fork of ${sourceChatId}`, modelId: 'm', workspaceId: null, planMode: false },
})

describe('the as-of fold', () => {
  it('folds a fork of a fork: inherited history up to each cut, totals added, open calls closed, the queue not inherited', () => {
    const log = eventLog()
    const [a, b, c] = ['aaaaaaaa-0000-4000-8000-000000000001', 'bbbbbbbb-0000-4000-8000-000000000002', 'cccccccc-0000-4000-8000-000000000003']
    // a: 0 created, 1 m1, 2 turn, 3 s1 (asks c1), 4 queued, 5 c1 started | b forks a at 5
    const source = log.append(chatStream(a), [
      { type: 'ChatCreated', data: { chatId: a, ownerId: OWNER, organizationId: ORG, title: 'A', modelId: 'm', workspaceId: null, parentChatId: null, rootChatId: null, agentType: null, planMode: false } },
      { type: 'UserMessagePosted', data: { messageId: 'm1', parts: [{ type: 'text', text: 'hi' }], authorId: OWNER } },
      { type: 'TurnStarted', data: { turnId: 't', runnerId: 'r', modelId: 'm' } },
      step('s1', ['c1']),
      { type: 'MessageQueued', data: { queueId: 'q1', parts: [{ type: 'text', text: 'later' }], authorId: OWNER, atHead: false } },
      { type: 'ToolCallStarted', data: { turnId: 't', callId: 'c1', name: 'execute', arguments: {} } },
    ])
    log.fork(chatStream(b), 5)
    // b: 6 forked, 7 m2, 8 turn, 9 s2, 10 compacted through 7 | c forks b at 9
    const fork = log.append(chatStream(b), [
      forked(b, a, 5),
      { type: 'UserMessagePosted', data: { messageId: 'm2', parts: [{ type: 'text', text: 'again' }], authorId: OWNER } },
      { type: 'TurnStarted', data: { turnId: 't2', runnerId: 'r', modelId: 'm' } },
      step('s2'),
      { type: 'ContextCompacted', data: { summary: 'sum', throughRevision: 7, tokensBefore: 1, tokensAfter: 1, manual: true } },
    ])
    log.fork(chatStream(c), 9)
    const forkOfFork = log.append(chatStream(c), [forked(c, b, 9)])

    const atSource = foldChatAsOf(source)
    expect(atSource.row.openToolCalls).toEqual({ c1: 'execute' })
    expect(atSource.history.queue.map((q) => q.queueId)).toEqual(['q1'])

    const atB = foldChatAsOf([...source, ...fork])
    expect(atB.row).toMatchObject({ id: b, status: 'running', forkOfChatId: a, forkOfRevision: 5, openToolCalls: {}, usage: { inputTokens: 100 } })
    expect(atB.inherited).toEqual({ usage: { ...usage }, costUsd: 0.25 })
    expect(atB.history.queue).toEqual([])
    expect(atB.history.messages.map((m) => [m.revision, m.id, m.inherited, m.compacted, m.chatId])).toEqual([
      [1, 'm1', true, true, b],
      [3, 's1', true, true, b],
      [7, 'm2', false, true, b],
      [9, 's2', false, false, b],
      [10, expect.any(String), false, false, b],
    ])

    // c is cut at 9, before b's compaction: nothing compacted; a's and b's steps both inherited.
    const atC = foldChatAsOf([...source, ...fork.slice(0, 4), ...forkOfFork])
    expect(atC.row).toMatchObject({ id: c, status: 'waiting', forkOfChatId: b, usage: { inputTokens: 0 } })
    expect(atC.inherited?.usage.inputTokens).toBe(200)
    expect(atC.inherited?.costUsd).toBe(0.5)
    expect(atC.history.messages.map((m) => [m.id, m.inherited, m.compacted])).toEqual([
      ['m1', true, false],
      ['s1', true, false],
      ['m2', true, false],
      ['s2', true, false],
    ])
  })
})

const backend = backends.find((b) => b.name === 'postgres' && b.available) ?? backends[0]!

describe(`the as-of memo on ${backend.name}`, () => {
  let db: Database
  let store: EventStore
  let close: () => Promise<void>

  beforeEach(async () => {
    const opened = await backend.open()
    db = opened.db
    store = createSqlEventStore(db)
    close = async () => {
      await store.close()
      await opened.close()
    }
  }, 180_000)
  afterEach(() => close())

  const append = (chatId: string, events: ChatEvent[], options = {}) =>
    store.appendToStream(chatStream(chatId), events.map((e) => ({ id: randomUUID(), type: e.type, data: e.data, metadata: { actor: { kind: 'system' as const, id: 'test' } } })), options)

  it('answers every revision of a chat and of its fork, asked in any order, as a fold from the first event does', async () => {
    const [a, b] = [randomUUID(), randomUUID()]
    const source = sourceEvents(a)
    await append(a, source)
    const cut = 11 // after s2, before the turn completed
    await append(b, [forked(b, a, cut)], {
      expectedRevision: 'no_stream',
      forkOf: { stream: chatStream(a), revision: BigInt(cut) },
    })
    await append(b, [posted('b1'), queued('bq'), { type: 'TurnStarted', data: { turnId: 'tb', runnerId: 'r', modelId: 'm' } }, step('bs1'), { type: 'ContextCompacted', data: { summary: 'b', throughRevision: 14, tokensBefore: 9, tokensAfter: 1, manual: false } }, step('bs2')])

    // Small checkpoints, few per chat and a small budget, so every path is taken: thinning and eviction too.
    const memo = new ChatFoldMemo({ every: 2, perChat: 3, revisions: 20 })
    const questions: [string, number][] = [
      ...Array.from({ length: source.length }, (_, r) => [a, r] as [string, number]),
      ...Array.from({ length: 7 }, (_, i) => [b, cut + 1 + i] as [string, number]),
    ]
    let seed = 5
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647
    const shuffled = [...questions, ...questions].map((q) => [random(), q] as const).sort((x, y) => x[0] - y[0]).map(([, q]) => q)
    for (const [chatId, revision] of shuffled) {
      const fromMemo = await chatAsOf(store, chatId, revision, memo)
      expect(fromMemo, `${chatId === a ? 'source' : 'fork'} at ${revision}`).toEqual(await chatAsOf(store, chatId, revision))
      // What a caller may change of an answer changes no later answer; the memo's rows are frozen.
      for (const m of fromMemo.history.messages) {
        if (Object.isFrozen(m)) expect(() => (m.compacted = !m.compacted)).toThrow(TypeError)
        else [m.compacted, m.inherited] = [!m.compacted, !m.inherited]
      }
      fromMemo.history.messages.push(fromMemo.history.messages[0]!)
      fromMemo.history.queue.length = 0
    }
    const last = await chatAsOf(store, b, cut + 7, memo)
    expect(last.history.messages.map((m) => [m.id, m.inherited, m.compacted])).toEqual([
      ['m1', true, true], ['s1', true, true], ['c1', true, true], [expect.any(String), true, true], ['s2', true, true],
      ['b1', false, true], ['bs1', false, false], [expect.any(String), false, false], ['bs2', false, false],
    ])
    expect(last.history.queue.map((q) => q.queueId)).toEqual(['bq'])
  })

  it('folds chats longer than a page of the store as it reads them, from the first event and from checkpoints', async () => {
    const [a, b] = [randomUUID(), randomUUID()]
    const long = (prefix: string, count: number): ChatEvent[] =>
      Array.from({ length: count }, (_, i) =>
        i === 700 ? { type: 'ContextCompacted', data: { summary: prefix, throughRevision: 650, tokensBefore: 9, tokensAfter: 1, manual: false } }
        : i % 2 ? step(`${prefix}s${i}`) : posted(`${prefix}m${i}`),
      )
    const source = [created(a, 'A'), ...long('a', 2399)]
    for (let i = 0; i < source.length; i += 500) await append(a, source.slice(i, i + 500))
    const cut = 1800
    await append(b, [forked(b, a, cut), ...long('b', 699)], { expectedRevision: 'no_stream', forkOf: { stream: chatStream(a), revision: BigInt(cut) } })

    const memo = new ChatFoldMemo()
    const fromFirst = async (chatId: string, revision: number) => foldChatAsOf(await store.readStream(chatStream(chatId), { maxCount: revision + 1 }))
    for (const [chatId, revision] of [[a, 2300], [a, 999], [a, 1000], [a, 2299], [a, 1001], [b, 2450], [b, 2001], [b, cut + 1]] as const) {
      expect(await chatAsOf(store, chatId, revision, memo), `${chatId === a ? 'source' : 'fork'} at ${revision}`).toEqual(await fromFirst(chatId, revision))
    }
    expect(await chatAsOf(store, b, 2499)).toEqual(await fromFirst(b, 2499))
    // Checkpoints were left every 1000 revisions on the way through the pages.
    expect(memo.latest(chatStream(a), 2299)?.revision).toBe(2000)
    expect(memo.latest(chatStream(a), 1999)?.revision).toBe(1001)
    expect(memo.latest(chatStream(b), 2449)?.revision).toBe(2000)
  }, 120_000)

  it('does not answer from a checkpoint whose event the log no longer has', async () => {
    const chatId = randomUUID()
    await append(chatId, sourceEvents(chatId))
    const memo = new ChatFoldMemo({ every: 4 })
    expect((await chatAsOf(store, chatId, 17, memo)).row.title).toBe('A renamed')
    // The stream is replaced by hand with another history as long (so other hashes at each checkpoint).
    await db.query('delete from events where stream = $1', [chatStream(chatId)])
    await db.query('delete from streams where stream = $1', [chatStream(chatId)])
    await append(chatId, [created(chatId, 'Other'), ...Array.from({ length: 17 }, (_, i) => posted(`n${i}`))])
    const answer = await chatAsOf(store, chatId, 17, memo)
    expect(answer).toEqual(await chatAsOf(store, chatId, 17))
    expect(answer.row.title).toBe('Other')
    expect(answer.history.messages).toHaveLength(17)
  })
})
