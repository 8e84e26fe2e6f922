// The permission matrix: every query, mutation and subscription, for each kind of caller.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatStream } from '../../src/events/chat.ts'
import { backends } from '../support/databases.ts'
import { firstOutcome, startApiServer, type ApiServer } from './harness.ts'

type Caller = 'anonymous' | 'owner' | 'otherMember' | 'auditor' | 'admin'
const CALLERS: Caller[] = ['anonymous', 'owner', 'otherMember', 'auditor', 'admin']
/** 'ok', or the extensions.code the caller gets; 'hidden' = ok but the owner's chat is not listed. */
type Expect = 'ok' | 'hidden' | 'UNAUTHENTICATED' | 'FORBIDDEN' | 'CHAT_NOT_FOUND' | 'CLOSED_4403'

const read = (anon: Expect = 'UNAUTHENTICATED'): Record<Caller, Expect> => ({ anonymous: anon, owner: 'ok', otherMember: 'CHAT_NOT_FOUND', auditor: 'ok', admin: 'ok' })
const change: Record<Caller, Expect> = { anonymous: 'UNAUTHENTICATED', owner: 'ok', otherMember: 'CHAT_NOT_FOUND', auditor: 'FORBIDDEN', admin: 'ok' }

interface Setup {
  chatId: string
  queueId: string
  questionId: string
}

interface Row {
  name: string
  query: string
  variables: (s: Setup) => Record<string, unknown>
  expect: Record<Caller, Expect>
  /** For a list query: whether the owner's chat shows in the answer. */
  lists?: (data: any, s: Setup) => boolean
  /** Needs a busy chat with a queued message / a pending question. */
  needs?: 'queue' | 'question'
}

const QUERIES: Row[] = [
  { name: 'me', query: '{ me { id role } }', variables: () => ({}), expect: { anonymous: 'UNAUTHENTICATED', owner: 'ok', otherMember: 'ok', auditor: 'ok', admin: 'ok' } },
  { name: 'chat', query: 'query($chatId: ID!) { chat(id: $chatId) { id title } }', variables: (s) => ({ chatId: s.chatId }), expect: read() },
  {
    name: 'chats',
    query: '{ chats(first: 100) { nodes { id } } }',
    variables: () => ({}),
    expect: { anonymous: 'UNAUTHENTICATED', owner: 'ok', otherMember: 'hidden', auditor: 'ok', admin: 'ok' },
    lists: (d, s) => d.chats.nodes.some((c: { id: string }) => c.id === s.chatId),
  },
  { name: 'chatMessages', query: 'query($chatId: ID!) { chatMessages(chatId: $chatId) { nodes { id } } }', variables: (s) => ({ chatId: s.chatId }), expect: read() },
  { name: 'chatEvents', query: 'query($chatId: ID!) { chatEvents(chatId: $chatId) { revision } }', variables: (s) => ({ chatId: s.chatId }), expect: read() },
  {
    name: 'auditLog',
    query: '{ auditLog(first: 10) { nodes { eventType } } }',
    variables: () => ({}),
    expect: { anonymous: 'UNAUTHENTICATED', owner: 'FORBIDDEN', otherMember: 'FORBIDDEN', auditor: 'ok', admin: 'ok' },
  },
  {
    name: 'verifyChat',
    query: 'query($chatId: ID!) { verifyChat(chatId: $chatId) { ok events } }',
    variables: (s) => ({ chatId: s.chatId }),
    expect: { anonymous: 'UNAUTHENTICATED', owner: 'FORBIDDEN', otherMember: 'FORBIDDEN', auditor: 'ok', admin: 'ok' },
  },
  { name: 'budgets', query: '{ budgets { scope } }', variables: () => ({}), expect: { anonymous: 'UNAUTHENTICATED', owner: 'FORBIDDEN', otherMember: 'FORBIDDEN', auditor: 'FORBIDDEN', admin: 'ok' } },
  {
    name: 'usage (one\'s own)',
    query: '{ usage(groupBy: [USER]) { costMicros } }',
    variables: () => ({}),
    expect: { anonymous: 'UNAUTHENTICATED', owner: 'ok', otherMember: 'ok', auditor: 'ok', admin: 'ok' },
  },
]

const m = (field: string, args: string, vars: string) => `mutation(${vars}) { ${field}(${args}) { id } }`
const MUTATIONS: Row[] = [
  {
    name: 'createChat',
    query: 'mutation { createChat(input: { title: "new" }) { id } }',
    variables: () => ({}),
    expect: { anonymous: 'UNAUTHENTICATED', owner: 'ok', otherMember: 'ok', auditor: 'FORBIDDEN', admin: 'ok' },
  },
  { name: 'sendMessage', query: 'mutation($chatId: ID!) { sendMessage(input: { chatId: $chatId, text: "hi" }) { messageId } }', variables: (s) => ({ chatId: s.chatId }), expect: change },
  { name: 'interruptChat', query: m('interruptChat', 'chatId: $chatId', '$chatId: ID!'), variables: (s) => ({ chatId: s.chatId }), expect: change },
  { name: 'forkChat', query: m('forkChat', 'chatId: $chatId, atRevision: 0', '$chatId: ID!'), variables: (s) => ({ chatId: s.chatId }), expect: change },
  { name: 'removeQueuedMessage', query: m('removeQueuedMessage', 'chatId: $chatId, queueId: $q', '$chatId: ID!, $q: ID!'), variables: (s) => ({ chatId: s.chatId, q: s.queueId }), expect: change, needs: 'queue' },
  { name: 'promoteQueuedMessage', query: m('promoteQueuedMessage', 'chatId: $chatId, queueId: $q', '$chatId: ID!, $q: ID!'), variables: (s) => ({ chatId: s.chatId, q: s.queueId }), expect: change, needs: 'queue' },
  { name: 'renameChat', query: m('renameChat', 'chatId: $chatId, title: "renamed"', '$chatId: ID!'), variables: (s) => ({ chatId: s.chatId }), expect: change },
  { name: 'archiveChat', query: m('archiveChat', 'chatId: $chatId', '$chatId: ID!'), variables: (s) => ({ chatId: s.chatId }), expect: change },
  { name: 'unarchiveChat', query: m('unarchiveChat', 'chatId: $chatId', '$chatId: ID!'), variables: (s) => ({ chatId: s.chatId }), expect: change },
  { name: 'setChatModel', query: m('setChatModel', 'chatId: $chatId, modelId: "gpt"', '$chatId: ID!'), variables: (s) => ({ chatId: s.chatId }), expect: change },
  { name: 'setPlanMode', query: m('setPlanMode', 'chatId: $chatId, planMode: true', '$chatId: ID!'), variables: (s) => ({ chatId: s.chatId }), expect: change },
  { name: 'answerQuestion', query: m('answerQuestion', 'chatId: $chatId, questionId: $q, answer: "yes"', '$chatId: ID!, $q: ID!'), variables: (s) => ({ chatId: s.chatId, q: s.questionId }), expect: change, needs: 'question' },
  { name: 'compactChat', query: m('compactChat', 'chatId: $chatId', '$chatId: ID!'), variables: (s) => ({ chatId: s.chatId }), expect: change },
  { name: 'setBudget', query: 'mutation { setBudget(input: { scope: CHAT, limitMicros: 1000000000 }) { budget { limitMicros } } }', variables: () => ({}), expect: { anonymous: 'UNAUTHENTICATED', owner: 'FORBIDDEN', otherMember: 'FORBIDDEN', auditor: 'FORBIDDEN', admin: 'ok' } },
]

const SUBSCRIPTIONS: Row[] = [
  { name: 'chatEvents', query: 'subscription($chatId: ID!) { chatEvents(chatId: $chatId) { revision } }', variables: (s) => ({ chatId: s.chatId }), expect: read('CLOSED_4403') },
  { name: 'chatStream', query: 'subscription($chatId: ID!) { chatStream(chatId: $chatId) { __typename } }', variables: (s) => ({ chatId: s.chatId }), expect: read('CLOSED_4403') },
  {
    name: 'myChats',
    query: 'subscription { myChats { kind } }',
    variables: () => ({}),
    expect: { anonymous: 'CLOSED_4403', owner: 'ok', otherMember: 'ok', auditor: 'ok', admin: 'ok' },
  },
]

describe.each(backends)('the permission matrix on $name', (backend) => {
  let server: ApiServer
  let close: () => Promise<void>
  const tokens = {} as Record<Caller, string | null>
  let ownerId = ''

  beforeAll(async () => {
    if (!backend.available) return
    const opened = await backend.open()
    close = opened.close
    server = await startApiServer(opened.db)
    const owner = await server.user('owner@example.com', 'member')
    ownerId = owner.userId
    tokens.anonymous = null
    tokens.owner = owner.token
    tokens.otherMember = (await server.user('other@example.com', 'member')).token
    tokens.auditor = (await server.user('auditor@example.com', 'auditor')).token
    tokens.admin = server.adminToken
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
  })

  /** A fresh chat of the owner's, busy with a queued message, or waiting on a question. */
  async function setup(needs?: Row['needs']): Promise<Setup> {
    const res = await server.gql('mutation { createChat(input: { title: "owned", firstMessage: "hi" }) { id } }', {}, tokens.owner)
    const chatId = res.body.data.createChat.id as string
    const s: Setup = { chatId, queueId: randomUUID(), questionId: randomUUID() }
    const system = { actor: { kind: 'system' as const, id: 'test' } }
    if (needs === 'queue') {
      await server.store.appendToStream(chatStream(chatId), [{ id: randomUUID(), type: 'TurnStarted', data: { turnId: 't', runnerId: 'r', modelId: null }, metadata: system }])
      for (const text of ['a', 'b']) {
        const sent = await server.gql('mutation($c: ID!, $t: String!) { sendMessage(input: { chatId: $c, text: $t }) { messageId } }', { c: chatId, t: text }, tokens.owner)
        s.queueId = sent.body.data.sendMessage.messageId
      }
    }
    if (needs === 'question') {
      await server.store.appendToStream(chatStream(chatId), [
        { id: randomUUID(), type: 'TurnStarted', data: { turnId: 't', runnerId: 'r', modelId: null }, metadata: system },
        { id: randomUUID(), type: 'ToolCallStarted', data: { turnId: 't', callId: s.questionId, name: 'ask_user_question', arguments: {} }, metadata: system },
        { id: randomUUID(), type: 'QuestionAsked', data: { questionId: s.questionId, turnId: 't', callId: s.questionId, questions: [{ header: 'Go', question: 'go?', options: [] }] }, metadata: system },
      ])
    }
    return s
  }

  function outcomeOf(body: { data?: any; errors?: { extensions?: { code?: string } }[] }): string {
    return body.errors?.length ? (body.errors[0]!.extensions?.code ?? 'ERROR') : 'ok'
  }

  const cases = (rows: Row[]) => rows.flatMap((row) => CALLERS.map((caller) => ({ row, caller, label: `${row.name} as ${caller}: ${row.expect[caller]}` })))

  it.skipIf(!backend.available).each(cases([...QUERIES, ...MUTATIONS]))('$label', async ({ row, caller }) => {
    const s = await setup(row.needs)
    const before = await server.store.readAll({ after: await server.store.headCheckpoint() })
    const res = await server.gql(row.query, row.variables(s), tokens[caller])
    const expected = row.expect[caller]
    if (expected === 'hidden' || (expected === 'ok' && row.lists)) {
      expect(outcomeOf(res.body)).toBe('ok')
      expect(row.lists!(res.body.data, s)).toBe(expected === 'ok')
      return
    }
    expect(outcomeOf(res.body), res.text).toBe(expected)
    if (expected !== 'ok') {
      // A refusal appends nothing…
      expect((await server.store.readAll({ after: await server.store.headCheckpoint() })).events).toEqual(before.events)
      expect(res.body.data ?? null).toBeNull()
    }
    if (expected === 'CHAT_NOT_FOUND') {
      // …and leaks nothing: byte for byte what a chat that does not exist gets.
      const missing = await server.gql(row.query, row.variables({ ...s, chatId: randomUUID() }), tokens[caller])
      expect(res.text).toBe(missing.text)
      expect(res.status).toBe(missing.status)
    }
  })

  it.skipIf(!backend.available).each(cases(SUBSCRIPTIONS))('subscription $label', async ({ row, caller }) => {
    const s = await setup()
    const expected = row.expect[caller]
    const outcome = await firstOutcome(server.ws(tokens[caller]), row.query, row.variables(s), row.name === 'myChats' ? 1500 : 10_000)
    if (expected === 'CLOSED_4403') {
      expect(outcome.kind).toBe('error')
      expect((outcome as { error: { code?: number } }).error.code).toBe(4403)
    } else if (expected === 'ok') {
      // myChats says nothing until a chat changes: no error within the wait is the pass.
      if (row.name === 'myChats' && outcome.kind === 'error') expect((outcome.error as Error).message).toBe('timeout')
      else expect(outcome.kind).toBe('data')
    } else {
      expect(outcome.kind).toBe('error')
      const errors = (outcome as { error: { extensions?: { code?: string } }[] }).error
      expect(errors[0]!.extensions?.code).toBe(expected)
      const missing = await firstOutcome(server.ws(tokens[caller]), row.query, row.variables({ ...s, chatId: randomUUID() }))
      expect(JSON.stringify(errors)).toBe(JSON.stringify((missing as { error: unknown }).error))
    }
  })

  it.skipIf(!backend.available)('lets a member list only their own chats even when asking for another owner', async () => {
    await setup()
    const res = await server.gql('query($o: ID!) { chats(filter: { ownerId: $o }, first: 200) { nodes { ownerId } } }', { o: ownerId }, tokens.otherMember)
    expect(res.body.errors).toBeUndefined()
    expect(res.body.data.chats.nodes.filter((c: { ownerId: string }) => c.ownerId === ownerId)).toEqual([])
  })
})
