// The as-of fold over a fork of a fork, as the store reads it (inherited events first): pure, no database.
import { describe, expect, it } from 'vitest'
import { foldChatAsOf } from '../../src/asof/chat-as-of.ts'
import { chatStream, type ChatEvent } from '../../src/events/index.ts'
import { eventLog, ORG, OWNER } from '../projections-readmodels/support.ts'

const usage = { inputTokens: 100, outputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }
const step = (stepId: string, calls: string[] = []): ChatEvent => ({
  type: 'AssistantStepCompleted',
  data: {
    turnId: 't', stepId, modelId: 'm', parts: [{ type: 'text', text: stepId }], text: stepId, reasoning: '', usage, costUsd: 0.25, finishReason: 'stop', interrupted: false,
    toolCalls: calls.map((id) => ({ id, name: 'execute', arguments: {} })),
  },
})
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
