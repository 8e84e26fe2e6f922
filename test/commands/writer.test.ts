// The one write primitive: commands to one stream are serialized in a process, decided again on
// conflict across processes (two writers on one database stand for two processes), never
// re-append a stale decision, and refuse a runner whose turn was taken over — from the state.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChatCommand } from '../../commands/chat/commands.ts'
import { chatDecider } from '../../commands/chat/decide.ts'
import { CommandError } from '../../commands/errors.ts'
import { StreamWriter } from '../../commands/handler.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import type { EventMetadata, EventStore } from '../../src/eventstore/types.ts'
import { chatStream, type ChatEvent } from '../../src/events/index.ts'
import { backends } from '../support/databases.ts'

const OWNER = '11111111-1111-4111-8111-111111111111'
const ORG = '00000000-0000-4000-8000-000000000001'
const meta: EventMetadata = { actor: { kind: 'user', id: OWNER }, organizationId: ORG }
const text = (t: string) => [{ type: 'text' as const, text: t }]

for (const backend of backends) {
  describe.skipIf(!backend.available)(`the write primitive on ${backend.name}`, () => {
    let close: () => Promise<void>
    let stores: EventStore[]
    let a: StreamWriter
    let b: StreamWriter

    beforeAll(async () => {
      const opened = await backend.open()
      close = opened.close
      stores = [createSqlEventStore(opened.db), createSqlEventStore(opened.db)]
      a = new StreamWriter(stores[0]!)
      b = new StreamWriter(stores[1]!)
    })
    afterAll(async () => {
      for (const s of stores) await s.close()
      await close()
    })

    const run = (writer: StreamWriter, chatId: string, cmd: ChatCommand, extra: { expectedRevision?: bigint } = {}) =>
      writer.handle(chatStream(chatId), chatDecider, cmd, { commandId: randomUUID(), metadata: meta, ...extra })
    const events = async (chatId: string) => (await stores[0]!.readStream(chatStream(chatId))) as unknown as (ChatEvent & { revision: bigint })[]

    async function runningChat(writer = a): Promise<{ chatId: string; turnId: string }> {
      const chatId = randomUUID()
      const turnId = randomUUID()
      await run(writer, chatId, {
        type: 'CreateChat',
        chatId,
        ownerId: OWNER,
        organizationId: ORG,
        title: 't',
        modelId: null,
        workspaceId: null,
        planMode: false,
        firstMessage: { messageId: randomUUID(), parts: text('go') },
      })
      await run(writer, chatId, { type: 'StartTurn', runnerId: 'runner-a', turnId })
      return { chatId, turnId }
    }

    const post = (id: string): ChatCommand => ({ type: 'PostMessage', messageId: id, authorId: OWNER, parts: text(id), busyBehavior: 'QUEUE' })

    it('accepts 50 concurrent messages from two processes, each once, and delivers the queue in log order', async () => {
      const { chatId, turnId } = await runningChat()
      const ids = Array.from({ length: 50 }, () => randomUUID())
      await Promise.all(ids.map((id, i) => run(i % 2 ? a : b, chatId, post(id))))
      const queued = (await events(chatId)).flatMap((e) => (e.type === 'MessageQueued' ? [e.data.queueId] : []))
      expect(queued.sort()).toEqual([...ids].sort())
      // The turn ends: the decider delivers the queue head with it, then the runner delivers the rest in order.
      const order = (await events(chatId)).flatMap((e) => (e.type === 'MessageQueued' ? [e.data.queueId] : []))
      await run(a, chatId, { type: 'EndTurn', runnerId: 'runner-a', turnId, outcome: 'interrupted' })
      for (let i = 1; i < order.length; i++) {
        const t = randomUUID()
        await run(b, chatId, { type: 'StartTurn', runnerId: 'runner-a', turnId: t })
        await run(a, chatId, { type: 'EndTurn', runnerId: 'runner-a', turnId: t, outcome: 'interrupted' })
      }
      const delivered = (await events(chatId)).flatMap((e) => (e.type === 'UserMessagePosted' && e.data.fromQueueId ? [e.data.fromQueueId] : []))
      expect(delivered).toEqual(order)
    })

    it('decides again on conflict: a queue head removed meanwhile is never delivered', async () => {
      const { chatId, turnId } = await runningChat()
      const [first, second] = [randomUUID(), randomUUID()]
      await run(a, chatId, post(first))
      await run(a, chatId, post(second))
      // Process b removes the head; process a's view is behind and ends the turn.
      await run(b, chatId, { type: 'RemoveQueuedMessage', queueId: first })
      await run(a, chatId, { type: 'EndTurn', runnerId: 'runner-a', turnId, outcome: 'interrupted' })
      const delivered = (await events(chatId)).flatMap((e) => (e.type === 'UserMessagePosted' && e.data.fromQueueId ? [e.data.fromQueueId] : []))
      expect(delivered).toEqual([second])
    })

    it('refuses a runner whose turn another runner resumed, and appends nothing for it', async () => {
      const { chatId, turnId } = await runningChat()
      await run(b, chatId, { type: 'ResumeTurn', runnerId: 'runner-b', turnId })
      const before = (await events(chatId)).length
      const stale = run(a, chatId, { type: 'ScheduleRetry', runnerId: 'runner-a', turnId, attempt: 1, delayMs: 10, errorKind: 'overloaded', message: 'x' })
      await expect(stale).rejects.toMatchObject({ code: 'STALE_RUNNER' })
      expect((await events(chatId)).length).toBe(before)
      const resumed = (await events(chatId)).find((e) => e.type === 'TurnResumed')
      expect(resumed?.data).toEqual({ turnId, runnerId: 'runner-b', previousRunnerId: 'runner-a' })
    })

    it("folds a user's concurrent append into the runner's view and appends after it", async () => {
      const { chatId, turnId } = await runningChat()
      await run(b, chatId, { type: 'RenameChat', title: 'renamed meanwhile' })
      const outcome = await run(a, chatId, { type: 'ScheduleRetry', runnerId: 'runner-a', turnId, attempt: 1, delayMs: 10, errorKind: 'overloaded', message: 'x' })
      expect(outcome.state.title).toBe('renamed meanwhile')
      expect((await events(chatId)).map((e) => e.type).slice(-2)).toEqual(['ChatRenamed', 'RetryScheduled'])
    })

    it('appends a fork, and refuses one onto a chat another process created: the append finds it, nothing is appended', async () => {
      const { chatId: sourceId } = await runningChat(b)
      const fork = (chatId: string): ChatCommand => ({
        type: 'ForkChat',
        chatId,
        ownerId: OWNER,
        organizationId: ORG,
        atRevision: 1,
        source: { chatId: sourceId, lastRevision: 2, title: 't', modelId: null, workspaceId: null, planMode: false },
      })
      const forkOf = { stream: chatStream(sourceId), revision: 1n }
      const forked = randomUUID()
      const outcome = await a.handle(chatStream(forked), chatDecider, fork(forked), { commandId: randomUUID(), metadata: meta, forkOf })
      expect(outcome.events.map((e) => [e.type, e.revision])).toEqual([['ChatForked', 2n]])
      // Writer b made this chat; a has never read it, and finds out from the append's no_stream check.
      const { chatId: taken } = await runningChat(b)
      const before = await events(taken)
      const err = await a.handle(chatStream(taken), chatDecider, fork(taken), { commandId: randomUUID(), metadata: meta, forkOf }).catch((e: unknown) => e)
      expect((err as CommandError).code).toBe('ALREADY_EXISTS')
      expect(await events(taken)).toEqual(before)
    })

    it('answers CONFLICT only to a client that named a revision the chat has moved past', async () => {
      const { chatId } = await runningChat()
      const head = (await events(chatId)).at(-1)!.revision
      await run(b, chatId, post(randomUUID()))
      const err = await run(a, chatId, post(randomUUID()), { expectedRevision: head }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(CommandError)
      expect((err as CommandError).code).toBe('CONFLICT')
      const accepted = await run(a, chatId, post(randomUUID()), { expectedRevision: head + 1n })
      expect(accepted.events.map((e) => e.type)).toEqual(['MessageQueued'])
    })

    it('an interrupt that lands while a step streams ends the turn when the step is recorded; its calls are closed, not started', async () => {
      const { chatId, turnId } = await runningChat()
      await run(b, chatId, { type: 'InterruptChat', requestedBy: OWNER })
      const usage = { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }
      const call = { id: 'call-1', name: 'execute', arguments: { command: 'rm -rf /tmp/x' } }
      const outcome = await run(a, chatId, {
        type: 'RecordStep',
        runnerId: 'runner-a',
        turnId,
        step: { stepId: 's', modelId: null, parts: [], text: '', reasoning: '', toolCalls: [call], usage, costUsd: 0, finishReason: 'tool_use', interrupted: false },
      })
      expect(outcome.events.map((e) => e.type)).toEqual(['AssistantStepCompleted', 'ToolCallCompleted', 'TurnInterrupted'])
      expect(outcome.state.status).toBe('waiting')
      expect(outcome.state.openToolCalls).toEqual({})
    })
  })
}
