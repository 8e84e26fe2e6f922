// chat(id, asOfRevision), chatMessages(chatId, asOfRevision) and chatContext over GraphQL on a
// real server: every as-of answer must equal what the projected read model answered when it
// stood at that revision, for a chat and for a fork cut in the middle of a tool call.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NOT_EXECUTED_AFTER_FORK } from '../../src/agent/context.ts'
import { chatStream, type ChatEvent } from '../../src/events/index.ts'
import type { EventMetadata } from '../../src/eventstore/types.ts'
import { startApiServer, type ApiServer } from '../api/harness.ts'
import { backends } from '../support/databases.ts'

const CHAT = `id title status archived modelId planMode ownerId lastError pendingQuestionId compactionRequested queueLength revision
  forkOf { chatId revision } queue { queueId position parts authorId } usage { inputTokens outputTokens cacheReadTokens cacheWriteTokens reasoningTokens costUsd }
  openToolCalls { callId name } updatedAt`
const MESSAGES = `nodes { id chatId revision role parts usage costUsd compacted inherited createdAt } pageInfo { hasNextPage endCursor }`
const usage = (input: number) => ({ inputTokens: input, outputTokens: 7, cacheReadTokens: 2, cacheWriteTokens: 1, reasoningTokens: 3 })
const step = (turnId: string, stepId: string, calls: { id: string; name: string }[], input: number): ChatEvent => ({
  type: 'AssistantStepCompleted',
  data: {
    turnId, stepId, modelId: 'claude', text: stepId, reasoning: '', usage: usage(input), costUsd: 0.000123, finishReason: calls.length ? 'tool_calls' : 'stop', interrupted: false,
    parts: [{ type: 'text', text: stepId }, ...calls.map((c) => ({ type: 'tool_call' as const, id: c.id, name: c.name, arguments: { path: 'a' } }))],
    toolCalls: calls.map((c) => ({ id: c.id, name: c.name, arguments: { path: 'a' } })),
  },
})

for (const backend of backends) {
  describe.skipIf(!backend.available)(`chats as of a revision on ${backend.name}`, () => {
    let server: ApiServer
    let close: () => Promise<void>
    let alice: { token: string; userId: string }
    let bob: { token: string; userId: string }
    let audra: { token: string; userId: string }

    beforeAll(async () => {
      const opened = await backend.open()
      server = await startApiServer(opened.db)
      close = async () => {
        await server.close()
        await opened.close()
      }
      alice = await server.user('alice@example.com', 'member')
      bob = await server.user('bob@example.com', 'member')
      audra = await server.user('audra@example.com', 'auditor')
    }, 120_000)
    afterAll(() => close?.())

    const ok = async <T = any>(query: string, variables: Record<string, unknown>, token = alice.token): Promise<T> => {
      const res = await server.gql<T>(query, variables, token)
      expect(res.body.errors, res.text).toBeUndefined()
      return res.body.data!
    }
    /** What the read model answers now. */
    const snapshot = async (id: string) =>
      ok(`query($id: ID!) { chat(id: $id) { ${CHAT} } chatMessages(chatId: $id, first: 200) { ${MESSAGES} } }`, { id })
    const asOf = async (id: string, rev: number, token = alice.token) =>
      ok(`query($id: ID!, $rev: Int!) { chat(id: $id, asOfRevision: $rev) { ${CHAT} } chatMessages(chatId: $id, asOfRevision: $rev, first: 200) { ${MESSAGES} } }`, { id, rev }, token)

    it('answers, for every revision of a chat and of a fork cut mid-tool-call, what the read model answered then', async () => {
      const created = await ok(`mutation { createChat(input: { title: "Audit me", firstMessage: "fix the build" }) { id } }`, {})
      const chatId: string = created.createChat.id
      const stream = chatStream(chatId)
      const agent: EventMetadata = { actor: { kind: 'agent', id: 'runner:test', onBehalfOf: alice.userId }, runnerId: 'test' }
      const snapshots = new Map<string, Map<number, unknown>>([[chatId, new Map()]])
      /** After a mutation (which waits for its read models) or an append (whose checkpoint is waited for). */
      const record = async (id: string, checkpoint?: string) => {
        const info = (await server.store.streamInfo(chatStream(id)))!
        if (checkpoint) await server.engine.waitForAll(checkpoint)
        snapshots.get(id)!.set(Number(info.revision), await snapshot(id))
      }
      const append = async (id: string, events: ChatEvent[]) => {
        for (const e of events) {
          const info = (await server.store.streamInfo(chatStream(id)))!
          const appended = await server.store.appendToStream(chatStream(id), [{ id: randomUUID(), ...e, metadata: agent }], { expectedRevision: info.revision })
          await record(id, appended.checkpoint)
        }
      }
      await record(chatId) // revision 1: the first message
      await append(chatId, [
        { type: 'TurnStarted', data: { turnId: 't1', runnerId: 'test', modelId: 'claude' } },
        step('t1', 's1', [{ id: 'c1', name: 'read_file' }], 100),
        { type: 'ToolCallStarted', data: { turnId: 't1', callId: 'c1', name: 'read_file', arguments: { path: 'a' } } },
        { type: 'ToolCallCompleted', data: { turnId: 't1', callId: 'c1', name: 'read_file', result: '1: hello', isError: false, durationMs: 3 } },
      ])
      // A user queues a message and renames the chat while the turn runs.
      await ok(`mutation($id: ID!) { sendMessage(input: { chatId: $id, text: "and the tests", busyBehavior: QUEUE }) { queued } }`, { id: chatId })
      await record(chatId)
      await ok(`mutation($id: ID!) { renameChat(chatId: $id, title: "Build fix") { id } }`, { id: chatId })
      await record(chatId)
      await append(chatId, [
        { type: 'ContextCompacted', data: { summary: 'read a file', throughRevision: 7, tokensBefore: 900, tokensAfter: 90, manual: false } },
        step('t1', 's2', [{ id: 'c2', name: 'execute' }], 200),
        { type: 'ToolCallStarted', data: { turnId: 't1', callId: 'c2', name: 'execute', arguments: { path: 'a' } } },
      ])
      const cut = Number((await server.store.streamInfo(stream))!.revision) // c2 is open here
      await append(chatId, [
        { type: 'ToolCallCompleted', data: { turnId: 't1', callId: 'c2', name: 'execute', result: 'ok', isError: false, durationMs: 9 } },
        step('t1', 's3', [], 50),
        { type: 'TurnCompleted', data: { turnId: 't1' } },
      ])

      // A fork decided from the source's head only: no closedToolCallIds on its ChatForked.
      const forkId = randomUUID()
      snapshots.set(forkId, new Map())
      const forked = await server.store.appendToStream(
        chatStream(forkId),
        [
          {
            id: randomUUID(),
            type: 'ChatForked',
            data: { chatId: forkId, sourceChatId: chatId, atRevision: cut, ownerId: alice.userId, organizationId: await orgOf(chatId), title: 'Fork', modelId: null, workspaceId: null, planMode: false },
            metadata: { actor: { kind: 'user', id: alice.userId } },
          },
        ],
        { expectedRevision: 'no_stream', forkOf: { stream, revision: BigInt(cut) } },
      )
      await record(forkId, forked.checkpoint)
      await ok(`mutation($id: ID!) { sendMessage(input: { chatId: $id, text: "try another way" }) { queued } }`, { id: forkId })
      await record(forkId)

      for (const [id, byRevision] of snapshots)
        for (const [revision, expected] of byRevision) expect(await asOf(id, revision), `${id === chatId ? 'chat' : 'fork'} as of ${revision}`).toEqual(expected)

      // The fork as it started: the inherited history, the open call closed, its own totals plus the source's at the cut.
      const start = await asOf(forkId, cut + 1)
      expect(start.chat).toMatchObject({ status: 'WAITING', openToolCalls: [], forkOf: { chatId, revision: cut }, usage: { inputTokens: 300 }, queue: [] })
      expect(start.chatMessages.nodes.every((m: { inherited: boolean; chatId: string }) => m.inherited && m.chatId === forkId)).toBe(true)
      const atCut = await asOf(chatId, cut)
      expect(atCut.chat.openToolCalls).toEqual([{ callId: 'c2', name: 'execute' }])
      expect(atCut.chat.queue.map((q: { parts: { text: string }[] }) => q.parts[0]!.text)).toEqual(['and the tests'])

      // The model context of the fork's first step answers the open call as not executed.
      const ctx = await ok(
        `query($id: ID!, $rev: Int!) { chatContext(chatId: $id, atRevision: $rev) { atRevision modelId resolvedModelId systemPrompt summary { text throughRevision } messages tools { name } } }`,
        { id: forkId, rev: cut + 2 },
      )
      expect(ctx.chatContext.summary).toEqual({ text: 'read a file', throughRevision: 7 })
      expect(ctx.chatContext).toMatchObject({ modelId: null, resolvedModelId: 'claude' })
      expect(ctx.chatContext.tools.length).toBeGreaterThan(0)
      const roles = ctx.chatContext.messages.map((m: { role: string }) => m.role)
      expect(roles).toEqual(['user', 'assistant', 'tool', 'user'])
      expect(ctx.chatContext.messages[2].results).toEqual([{ callId: 'c2', name: 'execute', content: NOT_EXECUTED_AFTER_FORK, isError: true }])
      // Auditors may ask; another member may not see the chat at all.
      expect((await server.gql(`query($id: ID!) { chatContext(chatId: $id, atRevision: 2) { atRevision } }`, { id: chatId }, audra.token)).body.errors).toBeUndefined()
      const denied = await server.gql(`query($id: ID!) { chatContext(chatId: $id, atRevision: 2) { atRevision } }`, { id: chatId }, bob.token)
      expect(denied.body.errors?.[0]?.extensions?.code).toBe('CHAT_NOT_FOUND')
      const deniedAsOf = await server.gql(`query($id: ID!) { chat(id: $id, asOfRevision: 1) { id } }`, { id: chatId }, bob.token)
      expect(deniedAsOf.body.errors?.[0]?.extensions?.code).toBe('CHAT_NOT_FOUND')

      async function orgOf(id: string) {
        const rows = await server.db.query<{ organization_id: string }>('select organization_id from chats where id = $1', [id])
        return rows[0]!.organization_id
      }
    })

    it('reports revisions outside the chat, and a fork’s inherited ones, as REVISION_OUT_OF_RANGE with the range', async () => {
      const { createChat } = await ok(`mutation { createChat(input: { title: "small", firstMessage: "hi" }) { id } }`, {})
      const beyond = await server.gql(`query($id: ID!) { chat(id: $id, asOfRevision: 7) { id } }`, { id: createChat.id }, alice.token)
      expect(beyond.body.errors?.[0]).toMatchObject({
        message: `chat ${createChat.id} has revisions 0..1; asOfRevision 7 is out of range`,
        extensions: { code: 'REVISION_OUT_OF_RANGE', firstRevision: 0, lastRevision: 1 },
      })
      const negative = await server.gql(`query($id: ID!) { chatMessages(chatId: $id, asOfRevision: -1) { nodes { id } } }`, { id: createChat.id }, alice.token)
      expect(negative.body.errors?.[0]?.extensions?.code).toBe('REVISION_OUT_OF_RANGE')
      const { forkChat } = await ok(`mutation($id: ID!) { forkChat(chatId: $id, atRevision: 1) { id } }`, { id: createChat.id })
      const inherited = await server.gql(`query($id: ID!) { chatContext(chatId: $id, atRevision: 0) { atRevision } }`, { id: forkChat.id }, alice.token)
      expect(inherited.body.errors?.[0]?.message).toBe(
        `chat ${forkChat.id} has revisions 2..2; atRevision 0 is out of range (revisions up to 1 belong to chat ${createChat.id}, which this chat was forked from)`,
      )
    })
  })
}
