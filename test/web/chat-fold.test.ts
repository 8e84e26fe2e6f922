// The web chat view's fold of chatStream items (web/src/chat-fold.ts): pure, so tested without a browser.
import { describe, expect, it } from 'vitest'
import { emptyChatView, foldChatItems, liveText, prependEvents, type StoredChatEvent, type StreamItem } from '../../web/src/chat-fold.ts'

let revision = 0
const event = (type: string, data: unknown): StreamItem => ({
  __typename: 'ChatEventItem',
  event: { revision: revision++, position: String(revision), type, data, actor: { kind: 'USER', id: 'u', onBehalfOf: null }, occurredAt: '2026-12-02T00:00:00Z' } as StoredChatEvent,
})
const delta = (text: string, seq: number): StreamItem => ({ __typename: 'TextDelta', turnId: 't1', delta: text, seq })
const step = (text: string, toolCalls: unknown[] = [], usage = { inputTokens: 10, outputTokens: 5 }, costUsd = 0.01) =>
  event('AssistantStepCompleted', { turnId: 't1', stepId: `s${revision}`, text, reasoning: '', toolCalls, usage, costUsd, interrupted: false })

describe('the chat view fold', () => {
  it('shows deltas as live text until the stored step that covers them arrives, in either order', () => {
    revision = 0
    let v = foldChatItems(emptyChatView(), [event('UserMessagePosted', { parts: [{ type: 'text', text: 'hi' }] }), event('TurnStarted', { turnId: 't1' })])
    v = foldChatItems(v, [delta('Hel', 0), delta('lo', 1)])
    expect(liveText(v.live)).toBe('Hello')
    // The next step's first delta arrives before the first step's event.
    v = foldChatItems(v, [delta(' again', 2), step('Hello', [{ id: 'c1', name: 'read_file', arguments: { path: 'a' } }])])
    expect(liveText(v.live)).toBe(' again')
    v = foldChatItems(v, [event('ToolCallCompleted', { turnId: 't1', callId: 'c1', name: 'read_file', result: '1\ta', isError: false })])
    expect(v.entries.map((e) => e.kind)).toEqual(['user', 'assistant'])
    expect(v.entries[1]).toMatchObject({ text: 'Hello', toolCalls: [{ id: 'c1', result: '1\ta', isError: false }] })
    v = foldChatItems(v, [step(' again'), event('TurnCompleted', { turnId: 't1' })])
    expect(v.live).toBeNull()
    expect(v.entries.at(-1)).toEqual({ kind: 'turn-end', revision: 5, outcome: 'completed', tokens: 30, costUsd: 0.02 })
  })

  it('shows the deltas of a view that joined in the middle of a turn, after a step it never saw stream', () => {
    revision = 0
    let v = foldChatItems(emptyChatView(), [event('UserMessagePosted', { parts: [] }), event('TurnStarted', { turnId: 't1' }), step('Streamed before this view opened')])
    expect(liveText(v.live)).toBe('')
    v = foldChatItems(v, [delta('New text', 0)])
    expect(liveText(v.live)).toBe('New text')
  })

  it('pages earlier history in before a view that opened on the newest events, keeping what is live', () => {
    revision = 0
    const all = [event('UserMessagePosted', { parts: [{ type: 'text', text: 'q' }] }), event('TurnStarted', { turnId: 't1' }), step('', [{ id: 'c1', name: 'execute', arguments: { command: 'ls' } }])]
    const later = [event('ToolCallCompleted', { turnId: 't1', callId: 'c1', name: 'execute', result: 'process p exited with code 0\n', isError: false })]
    // The view opened at revision 3: the call's result came before its call was known.
    let v = foldChatItems(emptyChatView(), [...later, delta('Still going', 0)])
    expect(v.entries).toEqual([])
    v = prependEvents(v, all.map((i) => (i as Extract<StreamItem, { __typename: 'ChatEventItem' }>).event))
    expect(v.events.map((e) => e.revision)).toEqual([0, 1, 2, 3])
    expect(v.entries[1]).toMatchObject({ kind: 'assistant', toolCalls: [{ id: 'c1', result: 'process p exited with code 0\n' }] })
    expect(liveText(v.live)).toBe('Still going')
  })

  it('ignores an event repeated at the seam between replay and live', () => {
    revision = 0
    const posted = event('UserMessagePosted', { parts: [{ type: 'text', text: 'once' }] })
    const v = foldChatItems(emptyChatView(), [posted, posted])
    expect(v.entries).toHaveLength(1)
    expect(v.events).toHaveLength(1)
  })

  it('ends a stopped turn with the text it had, and a failed one with what to do', () => {
    revision = 0
    let v = foldChatItems(emptyChatView(), [event('TurnStarted', { turnId: 't1' }), delta('Partial', 0)])
    v = foldChatItems(v, [step('Partial'), event('TurnInterrupted', { turnId: 't1' })])
    expect(v.entries.map((e) => e.kind)).toEqual(['assistant', 'turn-end'])
    expect(v.entries[1]).toMatchObject({ outcome: 'stopped' })
    v = foldChatItems(v, [event('TurnFailed', { turnId: 't2', errorKind: 'auth', message: 'the key was refused' })])
    expect(v.entries.at(-1)).toMatchObject({ outcome: 'failed', message: 'The turn failed (auth): the key was refused. Send a message to try again.' })
  })
})

describe('the chat view fold of questions, plans and sub-agents', () => {
  const questions = [
    { header: 'Database', question: 'Which database?', options: [{ label: 'PostgreSQL', description: 'a server' }, { label: 'SQLite', description: '' }] },
    { header: 'Tests', question: 'Unit or end to end?', options: [{ label: 'Unit', description: '' }] },
  ]

  it('shows a question with its options until it is answered, then the answers', () => {
    revision = 0
    let v = foldChatItems(emptyChatView(), [event('TurnStarted', { turnId: 't1' }), event('QuestionAsked', { questionId: 'q1', turnId: 't1', callId: 'q1', questions })])
    expect(v.entries.at(-1)).toEqual({ kind: 'question', revision: 1, questionId: 'q1', turnId: 't1', questions, answer: null, dismissed: false })
    v = foldChatItems(v, [event('QuestionAnswered', { questionId: 'q1', answers: ['SQLite', 'Unit'], freeText: false, answeredBy: 'u' })])
    expect(v.entries.at(-1)).toMatchObject({ kind: 'question', answer: { answers: ['SQLite', 'Unit'], freeText: false }, dismissed: false })
    v = foldChatItems(v, [event('TurnCompleted', { turnId: 't1' })])
    expect(v.entries.find((e) => e.kind === 'question')).toMatchObject({ dismissed: false })
  })

  it('marks a question its turn ended without an answer to as dismissed', () => {
    revision = 0
    const v = foldChatItems(emptyChatView(), [
      event('TurnStarted', { turnId: 't1' }),
      event('QuestionAsked', { questionId: 'q1', turnId: 't1', callId: 'q1', questions }),
      event('TurnInterrupted', { turnId: 't1' }),
    ])
    expect(v.entries.find((e) => e.kind === 'question')).toMatchObject({ answer: null, dismissed: true })
  })

  it('shows a proposed plan until the next message answers it', () => {
    revision = 0
    let v = foldChatItems(emptyChatView(), [event('PlanProposed', { turnId: 't1', callId: 'p1', path: '.cairn/plans/c.md', plan: '# Plan', sha256: 'abc' })])
    expect(v.entries).toEqual([{ kind: 'plan', revision: 0, path: '.cairn/plans/c.md', plan: '# Plan', sha256: 'abc', answered: false }])
    v = foldChatItems(v, [event('UserMessagePosted', { parts: [{ type: 'text', text: 'Plan approved: implement it.' }] })])
    expect(v.entries[0]).toMatchObject({ kind: 'plan', answered: true })
  })

  it('lists the sub-agents the chat spawned, and which were closed', () => {
    revision = 0
    const spawned = (childChatId: string, title: string) =>
      event('SubAgentSpawned', { childChatId, agentType: 'explore', title, prompt: `do ${title}`, modelId: null, turnId: 't1', callId: childChatId })
    const v = foldChatItems(emptyChatView(), [spawned('c1', 'Files'), spawned('c2', 'Readme'), event('SubAgentClosed', { childChatId: 'c1' })])
    expect(v.subAgents.map((c) => [c.childChatId, c.title, c.agentType, c.closed])).toEqual([
      ['c1', 'Files', 'explore', true],
      ['c2', 'Readme', 'explore', false],
    ])
    expect(v.entries).toEqual([])
  })

  it('puts a held call\'s approval on its tool call, then who decided it, and leaves one its turn ended without undecided', () => {
    revision = 0
    const rule = { tool: 'execute', commandPattern: '\\bgit\\s+push\\b' }
    const held = (callId: string) => event('ToolCallApprovalRequested', { turnId: 't1', callId, name: 'execute', arguments: {}, rule, expiresAt: '2026-12-02T01:00:00Z' })
    let v = foldChatItems(emptyChatView(), [
      event('TurnStarted', { turnId: 't1' }),
      step('', [{ id: 'a', name: 'execute', arguments: { command: 'git push' } }, { id: 'b', name: 'execute', arguments: { command: 'git push -f' } }, { id: 'c', name: 'execute', arguments: { command: 'git push x' } }]),
      held('a'),
      held('b'),
      held('c'),
    ])
    const calls = () => (v.entries[0] as { toolCalls: { id: string; approval?: unknown }[] }).toolCalls
    expect(calls()[0]!.approval).toEqual({ turnId: 't1', rule, expiresAt: '2026-12-02T01:00:00Z', decision: null, dismissed: false })
    v = foldChatItems(v, [event('ToolCallApproved', { callId: 'a', approvedBy: 'u1', forChat: true }), event('ToolCallDenied', { callId: 'b', deniedBy: 'u1', reason: 'no force', expired: false })])
    expect(calls().map((c) => (c.approval as { decision: unknown }).decision)).toEqual([{ approved: true, by: 'u1', forChat: true }, { approved: false, by: 'u1', reason: 'no force', expired: false }, null])
    v = foldChatItems(v, [event('TurnInterrupted', { turnId: 't1' })])
    expect(calls().map((c) => (c.approval as { dismissed: boolean }).dismissed)).toEqual([false, false, true])
  })
})
