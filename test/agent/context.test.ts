// The runner's model context, kept and extended step by step (ModelContextCache), against the same
// context built from every event (buildModelContext): equal after every event of a chat with tool
// calls, compactions mid-turn, a user message after a summary that repeated the request, a fork
// that closes an open call, and a re-read of the events; and an answer never changes afterwards.
import { describe, expect, it } from 'vitest'
import { buildModelContext, ModelContextCache } from '../../src/agent/context.ts'
import type { ChatEvent } from '../../src/events/chat.ts'
import type { StoredEvent } from '../../src/eventstore/types.ts'

const usage = { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }
const noAttachments = async () => null

function stored(events: ChatEvent[], stream = 'chat-1', from = 0): StoredEvent[] {
  return events.map((e, i) => ({ ...e, id: `00000000-0000-4000-8000-${String(from + i).padStart(12, '0')}`, stream, revision: BigInt(from + i), position: BigInt(from + i), createdAt: new Date(0), hash: '', metadata: { actor: { kind: 'user' as const, id: 'u' } } }))
}

const user = (text: string): ChatEvent => ({ type: 'UserMessagePosted', data: { messageId: text, parts: [{ type: 'text', text }], authorId: 'u' } })
const step = (turnId: string, text: string, calls: string[] = []): ChatEvent => ({
  type: 'AssistantStepCompleted',
  data: {
    turnId, stepId: `${turnId}-${text}`, modelId: null, text, reasoning: '', usage, costUsd: 0, finishReason: calls.length ? 'tool_calls' : 'stop', interrupted: false,
    parts: [{ type: 'text', text }, ...calls.map((id) => ({ type: 'tool_call' as const, id, name: 'read_file', arguments: { path: id } }))],
    toolCalls: calls.map((id) => ({ id, name: 'read_file', arguments: { path: id } })),
  },
})
const started = (turnId: string, callId: string): ChatEvent => ({ type: 'ToolCallStarted', data: { turnId, callId, name: 'read_file', arguments: { path: callId } } })
const result = (turnId: string, callId: string): ChatEvent => ({ type: 'ToolCallCompleted', data: { turnId, callId, name: 'read_file', result: `contents of ${callId}`, isError: false, durationMs: 1 } })
const turn = (turnId: string, event: 'TurnStarted' | 'TurnCompleted'): ChatEvent =>
  event === 'TurnStarted' ? { type: 'TurnStarted', data: { turnId, runnerId: 'r', modelId: null } } : { type: 'TurnCompleted', data: { turnId } }
const compacted = (throughRevision: number, summary: string): ChatEvent => ({ type: 'ContextCompacted', data: { summary, throughRevision, tokensBefore: 10, tokensAfter: 2, manual: false } })

/** Pushes the events one at a time into one array (as the runner's view grows), checking the cache against a full build after each. */
async function grow(all: StoredEvent[]): Promise<void> {
  const cache = new ModelContextCache()
  const events: StoredEvent[] = []
  const answers: { answer: unknown; json: string }[] = []
  for (const event of all) {
    events.push(event)
    const answer = await cache.build(events, noAttachments)
    expect(answer, `after ${event.type}@${event.revision}`).toEqual(await buildModelContext(events, noAttachments))
    answers.push({ answer, json: JSON.stringify(answer) })
  }
  // Later steps extended the kept messages; what each step was given stayed as it was.
  for (const { answer, json } of answers) expect(JSON.stringify(answer)).toBe(json)
  // Another array (the view read again): the same context.
  expect(await cache.build([...events], noAttachments)).toEqual(await buildModelContext(events, noAttachments))
}

describe('the model context kept across steps', () => {
  it('equals a full build after every event, through tool calls and compactions mid-turn', async () => {
    await grow(
      stored([
        { type: 'ChatCreated', data: { chatId: '1', ownerId: 'u', organizationId: 'o', title: 't', modelId: null, workspaceId: null, parentChatId: null, rootChatId: null, agentType: null, planMode: false } },
        user('first question'),
        turn('t1', 'TurnStarted'),
        step('t1', 'reading', ['a', 'b']),
        started('t1', 'a'),
        started('t1', 'b'),
        result('t1', 'a'),
        result('t1', 'b'),
        step('t1', 'done'),
        turn('t1', 'TurnCompleted'),
        user('second question'),
        user('and another thing'),
        turn('t2', 'TurnStarted'),
        step('t2', 'looking', ['c']),
        started('t2', 'c'),
        // Compacted mid-turn: the summary covers the request, so it is repeated after the summary.
        compacted(13, 'the story so far'),
        result('t2', 'c'),
        step('t2', 'found it'),
        turn('t2', 'TurnCompleted'),
        // A user message after it: the repeated request is no longer the latest, the context starts over.
        user('third question'),
        turn('t3', 'TurnStarted'),
        step('t3', 'again', ['d']),
        started('t3', 'd'),
        result('t3', 'd'),
        compacted(23, 'the story, shorter'),
        step('t3', 'finished'),
        turn('t3', 'TurnCompleted'),
      ]),
    )
  })

  it('equals a full build on a fork that closes a call open at its cut', async () => {
    const inherited = stored([
      { type: 'ChatCreated', data: { chatId: '1', ownerId: 'u', organizationId: 'o', title: 't', modelId: null, workspaceId: null, parentChatId: null, rootChatId: null, agentType: null, planMode: false } },
      user('question'),
      turn('t1', 'TurnStarted'),
      step('t1', 'reading', ['a']),
      started('t1', 'a'),
    ])
    const fork = stored(
      [
        { type: 'ChatForked', data: { chatId: '2', sourceChatId: '1', atRevision: 4, ownerId: 'u', organizationId: 'o', title: 'fork', closedToolCallIds: ['a'] } },
        user('a different direction'),
        turn('t2', 'TurnStarted'),
        step('t2', 'ok'),
        turn('t2', 'TurnCompleted'),
      ],
      'chat-2',
      5,
    )
    await grow([...inherited, ...fork])
  })
})
