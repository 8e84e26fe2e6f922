import { listMessages, loadChat } from '../../src/api/read-models.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatDecider } from '../../commands/chat/decide.ts'
import { foldStream, handleCommand } from '../../commands/handler.ts'
import { userDecider } from '../../commands/user/decide.ts'
import { projections } from '../../projections/index.ts'
import type { Database } from '../../src/db/database.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import type { EventMetadata, EventStore } from '../../src/eventstore/types.ts'
import { chatStream, userStream } from '../../src/events/index.ts'
import { createProjectionEngine } from '../../src/projections/index.ts'
import type { ProjectionEngine } from '../../src/projections/types.ts'
import { backends } from '../support/databases.ts'
import { ORG, OWNER } from './support.ts'

const uuid = () => crypto.randomUUID()
const asOwner: EventMetadata = { actor: { kind: 'user', id: OWNER }, organizationId: ORG }
const asAgent: EventMetadata = { actor: { kind: 'agent', id: 'runner-1', onBehalfOf: OWNER }, organizationId: ORG }

for (const backend of backends) {
  describe.skipIf(!backend.available)(`read models through the event store and engine on ${backend.name}`, () => {
    let db: Database
    let close: () => Promise<void>
    let store: EventStore
    let engine: ProjectionEngine
    beforeAll(async () => {
      ;({ db, close } = await backend.open())
      store = createSqlEventStore(db, { pollIntervalMs: 50 })
      engine = createProjectionEngine({ db, store, projections, pollIntervalMs: 50 })
      await engine.start()
    })
    afterAll(async () => {
      await engine?.stop()
      await store?.close()
      await close?.()
    })

    const send = (stream: string, command: Parameters<typeof chatDecider.decide>[0], metadata = asOwner) =>
      handleCommand(store, stream, chatDecider, command, { commandId: uuid(), metadata })
    const agentAppends = (stream: string, events: { type: string; data: unknown }[], expectedRevision: bigint) =>
      store.appendToStream(stream, events.map((e) => ({ id: uuid(), ...e, metadata: asAgent })), { expectedRevision })

    it('projects commands, agent events and a fork, and rebuilds to the same rows', async () => {
      const user = await handleCommand(store, userStream(OWNER), userDecider, { type: 'CreateUser', userId: OWNER, email: 'ada@example.com', name: 'Ada', role: 'member', organizationId: ORG }, { commandId: uuid(), metadata: asOwner })
      expect(user.result).not.toBeNull()

      const chat = uuid()
      const s = chatStream(chat)
      await send(s, {
        type: 'CreateChat',
        chatId: chat,
        ownerId: OWNER,
        organizationId: ORG,
        title: 'End to end',
        modelId: 'claude',
        workspaceId: null,
        planMode: false,
        firstMessage: { messageId: 'm1', parts: [{ type: 'text', text: 'hello' }] },
      })
      const usage = { inputTokens: 50, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }
      await agentAppends(
        s,
        [
          { type: 'TurnStarted', data: { turnId: 't1', runnerId: 'r1', modelId: 'claude' } },
          { type: 'AssistantStepCompleted', data: { turnId: 't1', stepId: 's1', modelId: 'claude', parts: [], text: 'hi', reasoning: '', toolCalls: [], usage, costUsd: 0.01, finishReason: 'tool_calls', interrupted: false } },
          { type: 'ToolCallStarted', data: { turnId: 't1', callId: 'c1', name: 'read_file', arguments: { path: 'a' } } },
        ],
        1n,
      )
      const queuedOutcome = await send(s, { type: 'PostMessage', messageId: 'q1', authorId: OWNER, parts: [{ type: 'text', text: 'later' }], busyBehavior: 'QUEUE' })
      expect(queuedOutcome.events.map((e) => e.type)).toEqual(['MessageQueued'])

      // Fork mid-turn at the open tool call (revision 4).
      const fork = uuid()
      const info = await store.streamInfo(s)
      const source = { chatId: chat, lastRevision: Number(info!.revision), title: 'Fix the build', modelId: 'claude', workspaceId: null, planMode: false }
      const { result: forked } = await handleCommand(
        store,
        chatStream(fork),
        chatDecider,
        { type: 'ForkChat', chatId: fork, ownerId: OWNER, organizationId: ORG, atRevision: 4, source },
        { commandId: uuid(), metadata: asOwner, forkOf: { stream: s, revision: 4n } },
      )
      // The call the cut leaves open is closed when the fork is folded.
      expect((await foldStream(store, chatStream(fork), chatDecider)).state.openToolCalls).toEqual({})

      await engine.waitForAll(forked!.checkpoint)
      const chatRows = await db.query<Record<string, unknown>>(
        'select id, status, queue_length, input_tokens, fork_of_chat_id, fork_of_revision, revision from chats order by created_at',
      )
      expect(chatRows).toEqual([
        { id: chat, status: 'running', queue_length: 1, input_tokens: '50', fork_of_chat_id: null, fork_of_revision: null, revision: '5' },
        // The fork's row counts its own steps only; nothing of the source is copied into it.
        { id: fork, status: 'waiting', queue_length: 0, input_tokens: '0', fork_of_chat_id: chat, fork_of_revision: '4', revision: '5' },
      ])
      expect(await db.query('select id from chat_messages where chat_id = $1', [fork])).toEqual([])
      // The read side resolves the inherited history and totals through the fork pointer.
      expect((await listMessages(db, fork, 50, null)).nodes.map((m) => [m.id, m.inherited])).toEqual([
        ['m1', true],
        ['s1', true],
      ])
      expect((await loadChat(db, fork))!.usage).toMatchObject({ inputTokens: 50, costUsd: 0.01 })
      const audit = await db.query<{ event_type: string; user_id: string; position: string }>('select event_type, user_id, position from audit_log order by position')
      expect(audit.map((r) => r.event_type)).toEqual([
        'UserCreated',
        'ChatCreated',
        'UserMessagePosted',
        'TurnStarted',
        'AssistantStepCompleted',
        'ToolCallStarted',
        'MessageQueued',
        'ChatForked',
      ])
      expect(new Set(audit.map((r) => r.user_id))).toEqual(new Set([OWNER]))
      expect(await db.query('select email from users')).toEqual([{ email: 'ada@example.com' }])

      const snapshot = async () => ({
        chats: await db.query('select * from chats order by id'),
        messages: await db.query('select * from chat_messages order by chat_id, revision'),
        queue: await db.query('select * from chat_queue order by chat_id, position'),
        audit: await db.query('select * from audit_log order by position'),
        users: await db.query('select * from users order by id'),
      })
      const before = await snapshot()
      await engine.rebuild()
      expect(await snapshot()).toEqual(before)
    })
  })
}
