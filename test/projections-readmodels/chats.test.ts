import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatsProjection } from '../../projections/chats.ts'
import type { Database } from '../../src/db/database.ts'
import { chatStream, type ChatEvent, type MessagePart, type TokenUsage } from '../../src/events/index.ts'
import { backends } from '../support/databases.ts'
import { agentActor, eventLog, ORG, OWNER, project, projectAsOneBatch, type Delivered } from './support.ts'
import { listMessages, loadChat, type Connection, type MessageView } from '../../src/api/read-models.ts'
import { chatsReferencing } from '../../src/attachments/blobs.ts'
import { foldChatAsOf } from '../../src/asof/chat-as-of.ts'
import { archiveOldChats } from '../../src/audit/retention.ts'
import { addCost, addUsage } from '../../projections/chat-row.ts'

const FORKER = '22222222-2222-4222-8222-222222222222'
const readMessages = (c: Connection<MessageView>) => c.nodes.map((m) => [m.revision, m.id, m.compacted, m.inherited])

const uuid = () => crypto.randomUUID()
const text = (t: string): MessagePart[] => [{ type: 'text', text: t }]
const usage = (input: number, output: number): TokenUsage => ({ inputTokens: input, outputTokens: output, cacheReadTokens: 5, cacheWriteTokens: 1, reasoningTokens: 2 })

const created = (chatId: string, title = 'Fix the build'): ChatEvent => ({
  type: 'ChatCreated',
  data: { chatId, ownerId: OWNER, organizationId: ORG, title, modelId: 'claude', workspaceId: null, parentChatId: null, rootChatId: null, agentType: null, planMode: false },
})
const posted = (id: string, parts: MessagePart[] = text(id), fromQueueId?: string): ChatEvent => ({
  type: 'UserMessagePosted',
  data: { messageId: id, parts, authorId: OWNER, ...(fromQueueId ? { fromQueueId } : {}) },
})
const turn = (turnId = 't1'): ChatEvent => ({ type: 'TurnStarted', data: { turnId, runnerId: 'r1', modelId: 'claude' } })
const step = (stepId: string, u = usage(100, 10), costUsd = 0.5): ChatEvent => ({
  type: 'AssistantStepCompleted',
  data: { turnId: 't1', stepId, modelId: 'claude', parts: [{ type: 'text', text: stepId }], text: stepId, reasoning: '', toolCalls: [], usage: u, costUsd, finishReason: 'stop', interrupted: false },
})
const toolStarted = (callId: string): ChatEvent => ({ type: 'ToolCallStarted', data: { turnId: 't1', callId, name: 'execute', arguments: {} } })
const toolDone = (callId: string, isError = false): ChatEvent => ({
  type: 'ToolCallCompleted',
  data: { turnId: 't1', callId, name: 'execute', result: 'exit 0', isError, durationMs: 12 },
})
const completed: ChatEvent = { type: 'TurnCompleted', data: { turnId: 't1' } }
const queued = (queueId: string, atHead = false): ChatEvent => ({ type: 'MessageQueued', data: { queueId, parts: text(queueId), authorId: OWNER, atHead } })
const compacted = (throughRevision: number): ChatEvent => ({
  type: 'ContextCompacted',
  data: { summary: `through ${throughRevision}`, throughRevision, tokensBefore: 900, tokensAfter: 90, manual: false },
})

// Each case applies its events one transaction per event, and again as one batch (a row loaded once, written once).
for (const [backend, batched] of backends.flatMap((b) => [[b, false] as const, [b, true] as const])) {
  describe.skipIf(!backend.available)(`chats projection on ${backend.name}, ${batched ? 'each apply as one batch' : 'one event per transaction'}`, () => {
    let db: Database
    let close: () => Promise<void>
    beforeAll(async () => {
      ;({ db, close } = await backend.open())
    })
    afterAll(() => close?.())

    const apply = (events: Delivered[]) => (batched ? projectAsOneBatch : project)(db, [chatsProjection], events)
    const chatRow = async (id: string) => (await db.query<Record<string, unknown>>('select * from chats where id = $1', [id]))[0]
    const messages = (id: string) =>
      db.query<{ revision: string; id: string; role: string; compacted: boolean; inherited: boolean; parts: unknown }>(
        'select revision, id, role, compacted, inherited, parts from chat_messages where chat_id = $1 order by revision',
        [id],
      )
    const queueOf = async (id: string) =>
      (await db.query<{ queue_id: string }>('select queue_id from chat_queue where chat_id = $1 order by position', [id])).map((r) => r.queue_id)

    it('follows the status through a turn, a question, an answer and a failure', async () => {
      const log = eventLog()
      const chat = uuid()
      const s = chatStream(chat)
      const statuses: unknown[] = []
      const steps: ChatEvent[][] = [
        [created(chat)],
        [posted('m1')],
        [turn(), step('s1'), toolStarted('c1'), toolDone('c1', true)],
        [{ type: 'QuestionAsked', data: { questionId: 'q1', turnId: 't1', callId: 'q1', questions: [{ header: 'Branch', question: 'Which branch?', options: [] }] } }],
        [
          { type: 'QuestionAnswered', data: { questionId: 'q1', answers: ['main'], freeText: false, answeredBy: OWNER } },
          { type: 'ToolCallCompleted', data: { turnId: 't1', callId: 'q1', name: 'ask_user_question', result: 'main', isError: false, durationMs: 0 } },
        ],
        [completed],
        [turn('t2')],
        [{ type: 'InterruptRequested', data: { requestedBy: OWNER } }],
        [{ type: 'TurnInterrupted', data: { turnId: 't2' } }],
        [posted('m2')],
        [turn('t3'), { type: 'TurnFailed', data: { turnId: 't3', errorKind: 'provider', message: 'overloaded' } }],
      ]
      for (const events of steps) {
        await apply(log.append(s, events, agentActor))
        const row = (await chatRow(chat))!
        statuses.push([row.status, row.pending_question_id, row.last_error])
      }
      expect(statuses).toEqual([
        ['waiting', null, null],
        ['pending', null, null],
        ['running', null, null],
        ['requires_action', 'q1', null],
        ['running', null, null],
        ['waiting', null, null],
        ['running', null, null],
        ['interrupting', null, null],
        ['waiting', null, null],
        ['pending', null, null],
        ['error', null, 'overloaded'],
      ])
      await apply(log.append(s, [posted('m3')]))
      expect(await chatRow(chat)).toMatchObject({ status: 'pending', last_error: null, revision: String(log.revisionOf(s)) })
      expect((await messages(chat)).map((m) => [m.role, m.id])).toEqual([
        ['user', 'm1'],
        ['assistant', 's1'],
        ['tool', 'c1'],
        ['tool', 'q1'],
        ['user', 'm2'],
        ['user', 'm3'],
      ])
      const [tool] = (await messages(chat)).filter((m) => m.role === 'tool')
      expect(tool!.parts).toEqual([{ type: 'tool_result', callId: 'c1', name: 'execute', result: 'exit 0', isError: true, durationMs: 12 }])
    })

    it('sums tokens and cost over the steps', async () => {
      const log = eventLog()
      const chat = uuid()
      await apply(log.append(chatStream(chat), [created(chat), posted('m1'), turn(), step('s1', usage(100, 10), 0.25), step('s2', usage(300, 30), 0.125), completed]))
      expect(await chatRow(chat)).toMatchObject({
        status: 'waiting',
        input_tokens: '400',
        output_tokens: '40',
        cache_read_tokens: '10',
        cache_write_tokens: '2',
        reasoning_tokens: '4',
      })
      expect(Number((await chatRow(chat))!.cost_usd)).toBe(0.375)
    })

    it('orders the queue: tail, head, promote, send from the queue, remove', async () => {
      const log = eventLog()
      const chat = uuid()
      const s = chatStream(chat)
      await apply(log.append(s, [created(chat), posted('m1'), turn(), queued('q1'), queued('q2'), queued('q3', true)]))
      expect(await queueOf(chat)).toEqual(['q3', 'q1', 'q2'])
      await apply(log.append(s, [{ type: 'QueuedMessagePromoted', data: { queueId: 'q2' } }]))
      expect(await queueOf(chat)).toEqual(['q2', 'q3', 'q1'])
      expect((await chatRow(chat))!.queue_length).toBe(3)
      await apply(log.append(s, [completed, posted('q2', text('q2'), 'q2')]))
      expect(await queueOf(chat)).toEqual(['q3', 'q1'])
      await apply(log.append(s, [{ type: 'QueuedMessageRemoved', data: { queueId: 'q1' } }]))
      expect(await queueOf(chat)).toEqual(['q3'])
      expect(await chatRow(chat)).toMatchObject({ queue_length: 1, status: 'pending' })
    })

    it('keeps metadata: rename, model, plan mode, workspace, archive and unarchive, attachments, compaction request', async () => {
      const log = eventLog()
      const chat = uuid()
      const workspace = uuid()
      const attachment = uuid()
      const s = chatStream(chat)
      await apply(
        log.append(s, [
          created(chat),
          { type: 'ChatRenamed', data: { title: 'Renamed', generated: true } },
          { type: 'ChatModelChanged', data: { modelId: 'gpt' } },
          { type: 'PlanModeChanged', data: { planMode: true } },
          { type: 'WorkspaceBound', data: { workspaceId: workspace } },
          { type: 'AttachmentAdded', data: { attachmentId: attachment, sha256: 'f'.repeat(64), mimeType: 'image/png', name: 'a.png', size: 3, source: 'upload' } },
          { type: 'CompactionRequested', data: { requestedBy: OWNER } },
          { type: 'ChatArchived', data: {} },
        ]),
      )
      expect(await chatRow(chat)).toMatchObject({
        title: 'Renamed',
        model_id: 'gpt',
        plan_mode: true,
        workspace_id: workspace,
        archived: true,
        compaction_requested: true,
        revision: '7',
        organization_id: ORG,
        owner_id: OWNER,
      })
      expect(await db.query('select attachment_id from chat_attachments where chat_id = $1', [chat])).toEqual([{ attachment_id: attachment }])
      await apply(log.append(s, [{ type: 'ChatUnarchived', data: {} }, compacted(0)]))
      const row = (await chatRow(chat))!
      expect(row).toMatchObject({ archived: false, compaction_requested: false })
      expect((row.updated_at as Date).getTime()).toBeGreaterThan((row.created_at as Date).getTime())
    })

    it('marks messages a summary covers as compacted', async () => {
      const log = eventLog()
      const chat = uuid()
      const s = chatStream(chat)
      // revisions: 0 created, 1 m1, 2 turn, 3 s1, 4 completed, 5 m2, 6 summary through 4, 7 m3
      await apply(log.append(s, [created(chat), posted('m1'), turn(), step('s1'), completed, posted('m2'), compacted(4), posted('m3')]))
      expect((await messages(chat)).map((m) => [m.revision, m.role, m.compacted])).toEqual([
        ['1', 'user', true],
        ['3', 'assistant', true],
        ['5', 'user', false],
        ['6', 'summary', false],
        ['7', 'user', false],
      ])
      const summary = (await messages(chat)).find((m) => m.role === 'summary')!
      expect(summary.parts).toEqual([{ type: 'summary', text: 'through 4', throughRevision: 4, tokensBefore: 900, tokensAfter: 90, manual: false }])
    })

    it('builds a fork from its ChatForked alone and reads the source up to the cut through the fork pointer, for a fork of the fork too', async () => {
      const log = eventLog()
      const source = uuid()
      const fork = uuid()
      const forkOfFork = uuid()
      const attachment = uuid()
      const later = uuid()
      const src = chatStream(source)
      const image: MessagePart = { type: 'attachment', attachmentId: attachment, sha256: '0'.repeat(64), mimeType: 'image/png', name: 'x.png', size: 1 }
      // source revisions: 0 created, 1 attachment, 2 m1, 3 turn, 4 s1, 5 tool start, 6 tool done, 7 completed,
      // 8 summary through 4, 9 m2, 10 turn, 11 s2, 12 model change, 13 queued
      await apply(
        log.append(src, [
          created(source),
          { type: 'AttachmentAdded', data: { ...image, source: 'upload' } as never },
          posted('m1', [...text('look'), image]),
          turn(),
          step('s1', usage(100, 10), 0.5),
          toolStarted('c1'),
          toolDone('c1'),
          completed,
          compacted(4),
          posted('m2'),
          turn('t2'),
          step('s2', usage(1000, 100), 2),
          { type: 'ChatModelChanged', data: { modelId: 'gpt' } },
          queued('q1'),
          // revision 14: after the fork's cut, so not the fork's to read
          { type: 'AttachmentAdded', data: { ...image, attachmentId: later, source: 'upload' } as never },
        ]),
      )
      log.fork(chatStream(fork), 9)
      await apply(
        log.append(chatStream(fork), [
          {
            type: 'ChatForked',
            data: { chatId: fork, sourceChatId: source, atRevision: 9, ownerId: FORKER, organizationId: ORG, title: 'Fork', closedToolCallIds: [], modelId: 'claude', workspaceId: null, planMode: false },
          },
          posted('f1'),
        ]),
      )
      expect(await chatRow(fork)).toMatchObject({
        title: 'Fork',
        status: 'pending',
        model_id: 'claude',
        fork_of_chat_id: source,
        fork_of_revision: '9',
        // The row counts only the fork's own steps: nothing of the source is folded or copied.
        input_tokens: '0',
        queue_length: 0,
        revision: '11',
        parent_chat_id: null,
      })
      expect((await messages(fork)).map((m) => m.id)).toEqual(['f1'])
      expect(await queueOf(fork)).toEqual([])
      // Read through the fork pointer: the source's messages up to the cut, then the fork's own.
      const view = (await loadChat(db, fork))!
      expect(view.usage).toMatchObject({ inputTokens: 100, outputTokens: 10, costUsd: 0.5 })
      expect(readMessages(await listMessages(db, fork, 50, null))).toEqual([
        [2, 'm1', true, true],
        [4, 's1', true, true],
        [6, 'c1', false, true],
        [8, expect.any(String), false, true],
        [9, 'm2', false, true],
        [11, 'f1', false, false],
      ])
      // Pages continue across the seam between inherited and own messages.
      const page = await listMessages(db, fork, 3, null)
      expect(readMessages(await listMessages(db, fork, 3, page.pageInfo.endCursor)).map((m) => m[1])).toEqual([expect.any(String), 'm2', 'f1'])
      // Whoever may read the fork may read the attachment its inherited history references.
      expect(new Set((await chatsReferencing(db, attachment)).map((c) => c.ownerId))).toEqual(new Set([OWNER, FORKER]))
      expect((await chatsReferencing(db, later)).map((c) => c.ownerId)).toEqual([OWNER])

      // A fork of the fork at a revision before the source's compaction: nothing compacted yet.
      log.fork(chatStream(forkOfFork), 6)
      await apply(
        log.append(chatStream(forkOfFork), [
          // An early ChatForked without the settings: they come from the source's row.
          { type: 'ChatForked', data: { chatId: forkOfFork, sourceChatId: fork, atRevision: 6, ownerId: OWNER, organizationId: ORG, title: 'Again', closedToolCallIds: [] } },
          compacted(2),
        ]),
      )
      expect(readMessages(await listMessages(db, forkOfFork, 50, null))).toEqual([
        [2, 'm1', true, true],
        [4, 's1', false, true],
        [6, 'c1', false, true],
        [8, expect.any(String), false, false],
      ])
      expect(await chatRow(forkOfFork)).toMatchObject({ fork_of_chat_id: fork, fork_of_revision: '6', model_id: 'claude', input_tokens: '0', status: 'waiting' })
      expect((await loadChat(db, forkOfFork))!.usage).toMatchObject({ inputTokens: 100 })
      // The source is untouched by its forks.
      expect((await messages(source)).every((m) => !m.inherited)).toBe(true)
      expect(await chatRow(source)).toMatchObject({ model_id: 'gpt', queue_length: 1, input_tokens: '1100' })
    })

    it("adds each source's totals up to its cut to a fork's own, for forks of forks, archived sources and new forks of archived ones", async () => {
      const log = eventLog()
      const [source, fork, forkOfFork, atStep, atUserMessage, late] = [uuid(), uuid(), uuid(), uuid(), uuid(), uuid()]
      const forked = (chatId: string, sourceChatId: string, atRevision: number): ChatEvent => ({
        type: 'ChatForked',
        data: { chatId, sourceChatId, atRevision, ownerId: OWNER, organizationId: ORG, title: 'Fork', closedToolCallIds: [], modelId: 'claude', workspaceId: null, planMode: false },
      })
      const forkAt = (chatId: string, sourceChatId: string, atRevision: number, own: ChatEvent[] = []) => {
        log.fork(chatStream(chatId), atRevision)
        return log.append(chatStream(chatId), [forked(chatId, sourceChatId, atRevision), ...own])
      }
      const totals = (steps: [input: number, cost: number][]) => ({
        inputTokens: steps.reduce((n, [input]) => n + input, 0),
        outputTokens: steps.reduce((n, [input]) => n + input / 10, 0),
        cacheReadTokens: 5 * steps.length,
        cacheWriteTokens: steps.length,
        reasoningTokens: 2 * steps.length,
        costUsd: steps.reduce((n, [, cost]) => n + cost, 0),
      })
      const usageOf = async (id: string) => (await loadChat(db, id))!.usage
      // source: 0 created, 1 m1, 2 turn, 3 s1, 4 completed, 5 m2, 6 turn, 7 s2, 8 completed
      const sourceEvents = log.append(chatStream(source), [created(source), posted('m1'), turn(), step('s1', usage(100, 10), 0.5), completed, posted('m2'), turn('t2'), step('s2', usage(1000, 100), 2), completed])
      // fork at 4: 5 forked, 6 f1, 7 turn, 8 fs1, 9 completed, 10 f2, 11 turn, 12 fs2, 13 completed
      const forkEvents = forkAt(fork, source, 4, [posted('f1'), turn(), step('fs1', usage(20, 2), 0.25), completed, posted('f2'), turn('t2'), step('fs2', usage(40, 4), 0.125), completed])
      // fork of the fork at 10 (after fs1, before fs2): 11 forked, 12 g1, 13 turn, 14 gs1, 15 completed
      const forkOfForkEvents = forkAt(forkOfFork, fork, 10, [posted('g1'), turn(), step('gs1', usage(70, 7), 0.0625), completed])
      await apply([...sourceEvents, ...forkEvents, ...forkOfForkEvents])
      // A cut at a step counts it; a cut past it at a user message counts what that message's row carries.
      await apply([...forkAt(atStep, source, 7), ...forkAt(atUserMessage, source, 5)])

      const expected = {
        [source]: totals([[100, 0.5], [1000, 2]]),
        [fork]: totals([[100, 0.5], [20, 0.25], [40, 0.125]]),
        [forkOfFork]: totals([[100, 0.5], [20, 0.25], [70, 0.0625]]),
        [atStep]: totals([[100, 0.5], [1000, 2]]),
        [atUserMessage]: totals([[100, 0.5]]),
      }
      const read = async () => Object.fromEntries(await Promise.all(Object.keys(expected).map(async (id) => [id, await usageOf(id)])))
      expect(await read()).toEqual(expected)
      // The as-of fold of the same events, with the read model's own functions, agrees.
      const folded = foldChatAsOf([...sourceEvents.slice(0, 5), ...forkEvents.slice(0, 6), ...forkOfForkEvents])
      expect({ ...addUsage(folded.row.usage, folded.inherited!.usage), costUsd: addCost(folded.row.costUsd, folded.inherited!.costUsd) }).toEqual(expected[forkOfFork])

      // Retention moves the whole lineage to the archive (forks first): the totals read the same from there.
      const archived = await archiveOldChats(db, new Date())
      expect(archived.chats).toBeGreaterThanOrEqual(5)
      expect(await db.query('select chat_id from chat_messages where chat_id = any($1::uuid[])', [Object.keys(expected)])).toEqual([])
      expect(await read()).toEqual(expected)

      // A new fork of an archived fork brings its lineage's rows back and inherits the same totals.
      await apply(forkAt(late, forkOfFork, 14))
      expect((await chatRow(forkOfFork))!.history_archived_at).toBeNull()
      expect(await usageOf(late)).toEqual(totals([[100, 0.5], [20, 0.25], [70, 0.0625]]))
      expect(await read()).toEqual(expected)
    })
  })
}
