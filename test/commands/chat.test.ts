import { describe, expect, it } from 'vitest'
import { LIMITS, type ChatCommand, type StepRecord } from '../../commands/chat/commands.ts'
import { chatDecider, DENIED_RESULT, QUESTION_DISMISSED } from '../../commands/chat/decide.ts'
import { chatNeedsRunner, chatStatusAfter, evolveChat, initialChatState, runnerDemandOf } from '../../src/events/chat-state.ts'
import { toolCallsClosedByFork as callsClosedByFork } from '../../src/events/open-tool-calls.ts'
import { CommandError } from '../../commands/errors.ts'
import type { ChatEvent, MessagePart, TokenUsage } from '../../src/events/chat.ts'
import { spec } from './spec.ts'

const ORG = '00000000-0000-4000-8000-000000000001'
const OWNER = '11111111-1111-4111-8111-111111111111'
const CHAT = '33333333-3333-4333-8333-333333333333'
const FORK = '44444444-4444-4444-8444-444444444444'
const chat = spec(chatDecider)

const text = (t: string): MessagePart[] => [{ type: 'text', text: t }]
const usage: TokenUsage = { inputTokens: 100, outputTokens: 20, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }

const created: ChatEvent = {
  type: 'ChatCreated',
  data: {
    chatId: CHAT,
    ownerId: OWNER,
    organizationId: ORG,
    title: 'Fix the build',
    modelId: 'claude',
    workspaceId: null,
    parentChatId: null,
    rootChatId: null,
    agentType: null,
    planMode: false,
  },
}
const posted = (id: string, t = 'hello'): ChatEvent => ({ type: 'UserMessagePosted', data: { messageId: id, parts: text(t), authorId: OWNER } })
const queued = (id: string, atHead = false): ChatEvent => ({ type: 'MessageQueued', data: { queueId: id, parts: text(id), authorId: OWNER, atHead } })
const turnStarted: ChatEvent = { type: 'TurnStarted', data: { turnId: 't1', runnerId: 'r1', modelId: 'claude' } }
const toolStarted = (callId: string): ChatEvent => ({ type: 'ToolCallStarted', data: { turnId: 't1', callId, name: 'execute', arguments: { command: 'ls' } } })
const toolDone = (callId: string): ChatEvent => ({
  type: 'ToolCallCompleted',
  data: { turnId: 't1', callId, name: 'execute', result: 'ok', isError: false, durationMs: 5 },
})
const step: ChatEvent = {
  type: 'AssistantStepCompleted',
  data: { turnId: 't1', stepId: 's1', modelId: 'claude', parts: [], text: '', reasoning: '', toolCalls: [], usage, costUsd: 0.01, finishReason: 'stop', interrupted: false },
}
const running = [created, posted('m1'), turnStarted]
const archived: ChatEvent = { type: 'ChatArchived', data: {} }

const post = (id: string, busyBehavior: 'QUEUE' | 'INTERRUPT' = 'QUEUE', t = 'more'): Extract<ChatCommand, { type: 'PostMessage' }> => ({
  type: 'PostMessage',
  messageId: id,
  authorId: OWNER,
  parts: text(t),
  busyBehavior,
})

describe('chat decider: create', () => {
  const create: Extract<ChatCommand, { type: 'CreateChat' }> = {
    type: 'CreateChat',
    chatId: CHAT,
    ownerId: OWNER,
    organizationId: ORG,
    title: '  Fix the build  ',
    modelId: 'claude',
    workspaceId: null,
    planMode: false,
  }
  it('creates a chat with a trimmed title', () => chat.given([]).when(create).then([created]))
  it('posts the first message after its attachments', () => {
    const attachment = { attachmentId: 'a1', sha256: 'f'.repeat(64), mimeType: 'image/png', name: 'shot.png', size: 10 }
    chat
      .given([])
      .when({ ...create, firstMessage: { messageId: 'm1', parts: text('hi') }, attachments: [attachment] })
      .then([created, { type: 'AttachmentAdded', data: { ...attachment, source: 'upload' } }, posted('m1', 'hi')])
  })
  it('rejects an empty title', () => chat.given([]).when({ ...create, title: '   ' }).thenThrows('INVALID_INPUT', /title must not be empty/))
  it('rejects a title over the limit', () =>
    chat.given([]).when({ ...create, title: 'x'.repeat(LIMITS.titleLength + 1) }).thenThrows('INVALID_INPUT', /limit is 200/))
  it('rejects a first message with no parts', () =>
    chat.given([]).when({ ...create, firstMessage: { messageId: 'm1', parts: [] } }).thenThrows('INVALID_INPUT'))
  it('rejects creating the same chat twice', () => chat.given([created]).when(create).thenThrows('ALREADY_EXISTS'))
})

describe('chat decider: posting', () => {
  it('posts a message to a waiting chat', () => chat.given([created]).when(post('m1', 'QUEUE', 'hi')).then([posted('m1', 'hi')]))
  it('posts rather than queues while a turn is only pending', () =>
    chat.given([created, posted('m1')]).when(post('m2')).then([posted('m2', 'more')]))
  it('queues at the tail while running with QUEUE', () =>
    chat.given(running).when(post('m2', 'QUEUE')).then([{ type: 'MessageQueued', data: { queueId: 'm2', parts: text('more'), authorId: OWNER, atHead: false } }]))
  it('queues at the head and interrupts while running with INTERRUPT', () =>
    chat
      .given(running)
      .when(post('m2', 'INTERRUPT'))
      .then([
        { type: 'MessageQueued', data: { queueId: 'm2', parts: text('more'), authorId: OWNER, atHead: true } },
        { type: 'InterruptRequested', data: { requestedBy: OWNER } },
      ]))
  it('does not interrupt twice while already interrupting', () =>
    chat
      .given([...running, { type: 'InterruptRequested', data: { requestedBy: OWNER } }])
      .when(post('m2', 'INTERRUPT'))
      .then([{ type: 'MessageQueued', data: { queueId: 'm2', parts: text('more'), authorId: OWNER, atHead: true } }]))
  it('posts after the turn completed', () =>
    chat.given([...running, { type: 'TurnCompleted', data: { turnId: 't1' } }]).when(post('m2')).then([posted('m2', 'more')]))
  it('posts to a chat in error, clearing it', () => {
    const failed: ChatEvent = { type: 'TurnFailed', data: { turnId: 't1', errorKind: 'provider', message: 'boom' } }
    chat.given([...running, failed]).when(post('m2')).then([posted('m2', 'more')])
  })
  it('rejects a message with no parts', () =>
    chat.given([created]).when({ ...post('m1'), parts: [] }).thenThrows('INVALID_INPUT', /needs text or at least one attachment/))
  it('rejects an empty text part', () => chat.given([created]).when(post('m1', 'QUEUE', '')).thenThrows('INVALID_INPUT'))
  it('rejects oversized text', () =>
    chat.given([created]).when(post('m1', 'QUEUE', 'x'.repeat(LIMITS.messageTextLength + 1))).thenThrows('INVALID_INPUT', /limit is 100000/))
  it('rejects too many attachments', () => {
    const parts: MessagePart[] = Array.from({ length: LIMITS.attachmentsPerMessage + 1 }, (_, i) => ({
      type: 'attachment',
      attachmentId: `a${i}`,
      sha256: '0',
      mimeType: 'image/png',
      name: 'a.png',
      size: 1,
    }))
    chat.given([created]).when({ ...post('m1'), parts }).thenThrows('INVALID_INPUT', /attachments/)
  })
  it('rejects posting to a chat that does not exist', () => chat.given([]).when(post('m1')).thenThrows('CHAT_NOT_FOUND'))
  it('rejects posting to an archived chat', () => chat.given([created, archived]).when(post('m1')).thenThrows('CHAT_ARCHIVED', /unarchive it first/))
})

describe('chat decider: queue', () => {
  const withQueue = [...running, queued('q1'), queued('q2')]
  it('removes a queued message', () =>
    chat.given(withQueue).when({ type: 'RemoveQueuedMessage', queueId: 'q1' }).then([{ type: 'QueuedMessageRemoved', data: { queueId: 'q1' } }]))
  it('rejects removing a message that is not queued', () =>
    chat.given([...withQueue, { type: 'QueuedMessageRemoved', data: { queueId: 'q1' } }]).when({ type: 'RemoveQueuedMessage', queueId: 'q1' }).thenThrows('QUEUED_MESSAGE_NOT_FOUND'))
  it('promotes a queued message to the head', () =>
    chat.given(withQueue).when({ type: 'PromoteQueuedMessage', queueId: 'q2' }).then([{ type: 'QueuedMessagePromoted', data: { queueId: 'q2' } }]))
  it('appends nothing when promoting the head', () => chat.given(withQueue).when({ type: 'PromoteQueuedMessage', queueId: 'q1' }).then([]))
  it('promotes and interrupts the running turn when asked to', () =>
    chat
      .given(withQueue)
      .when({ type: 'PromoteQueuedMessage', queueId: 'q2', interrupt: { requestedBy: OWNER } })
      .then([
        { type: 'QueuedMessagePromoted', data: { queueId: 'q2' } },
        { type: 'InterruptRequested', data: { requestedBy: OWNER } },
      ]))
  it('interrupts for the head without moving it', () =>
    chat
      .given(withQueue)
      .when({ type: 'PromoteQueuedMessage', queueId: 'q1', interrupt: { requestedBy: OWNER } })
      .then([{ type: 'InterruptRequested', data: { requestedBy: OWNER } }]))
  it('promotes only queued messages', () => chat.given(withQueue).when({ type: 'PromoteQueuedMessage', queueId: 'nope' }).thenThrows('QUEUED_MESSAGE_NOT_FOUND'))
  it('keeps the queue order the events say', () => {
    const state = [...withQueue, queued('q3', true), { type: 'QueuedMessagePromoted', data: { queueId: 'q2' } } as ChatEvent, posted('q3')].reduce(
      evolveChat,
      initialChatState(),
    )
    expect(state.queue.map((q) => q.queueId)).toEqual(['q2', 'q3', 'q1'])
    const sent: ChatEvent = { type: 'UserMessagePosted', data: { messageId: 'q2', parts: text('q2'), authorId: OWNER, fromQueueId: 'q2' } }
    expect(evolveChat(state, sent).queue.map((q) => q.queueId)).toEqual(['q3', 'q1'])
  })
  it('rejects queue changes on an archived chat', () =>
    chat.given([...withQueue, archived]).when({ type: 'RemoveQueuedMessage', queueId: 'q1' }).thenThrows('CHAT_ARCHIVED'))
})

describe('chat decider: interrupt, metadata, compaction', () => {
  it('interrupts a running chat', () =>
    chat.given(running).when({ type: 'InterruptChat', requestedBy: OWNER }).then([{ type: 'InterruptRequested', data: { requestedBy: OWNER } }]))
  it('appends nothing when interrupting an idle chat', () => chat.given([created]).when({ type: 'InterruptChat', requestedBy: OWNER }).then([]))
  it('renames, trimming, and not to the same title', () => {
    chat.given([created]).when({ type: 'RenameChat', title: ' New ' }).then([{ type: 'ChatRenamed', data: { title: 'New', generated: false } }])
    chat.given([created]).when({ type: 'RenameChat', title: 'Fix the build' }).then([])
    chat.given([created]).when({ type: 'RenameChat', title: '' }).thenThrows('INVALID_INPUT')
  })
  it('archives and unarchives once each', () => {
    chat.given([created]).when({ type: 'ArchiveChat' }).then([archived])
    chat.given([created, archived]).when({ type: 'ArchiveChat' }).then([])
    chat.given([created, archived]).when({ type: 'UnarchiveChat', cascadedFrom: 'p' }).then([{ type: 'ChatUnarchived', data: { cascadedFrom: 'p' } }])
    chat.given([created]).when({ type: 'UnarchiveChat' }).then([])
    chat.given([]).when({ type: 'ArchiveChat' }).thenThrows('CHAT_NOT_FOUND')
  })
  it('rejects changes to an archived chat other than unarchiving', () => {
    chat.given([created, archived]).when({ type: 'RenameChat', title: 'x' }).thenThrows('CHAT_ARCHIVED')
    chat.given([created, archived]).when({ type: 'ChangeModel', modelId: 'gpt' }).thenThrows('CHAT_ARCHIVED')
    chat.given([created, archived]).when({ type: 'RequestCompaction', requestedBy: OWNER }).thenThrows('CHAT_ARCHIVED')
  })
  it('changes the model, rejecting an empty id', () => {
    chat.given([created]).when({ type: 'ChangeModel', modelId: 'gpt' }).then([{ type: 'ChatModelChanged', data: { modelId: 'gpt' } }])
    chat.given([created]).when({ type: 'ChangeModel', modelId: 'claude' }).then([])
    chat.given([created]).when({ type: 'ChangeModel', modelId: ' ' }).thenThrows('INVALID_INPUT')
  })
  it('sets plan mode only when it changes', () => {
    chat.given([created]).when({ type: 'SetPlanMode', planMode: true }).then([{ type: 'PlanModeChanged', data: { planMode: true } }])
    chat.given([created]).when({ type: 'SetPlanMode', planMode: false }).then([])
  })
  it('requests compaction once until it happens', () => {
    const requested: ChatEvent = { type: 'CompactionRequested', data: { requestedBy: OWNER } }
    chat.given([created]).when({ type: 'RequestCompaction', requestedBy: OWNER }).then([requested])
    chat.given([created, requested]).when({ type: 'RequestCompaction', requestedBy: OWNER }).then([])
    const compacted: ChatEvent = { type: 'ContextCompacted', data: { summary: 's', throughRevision: 0, tokensBefore: 9, tokensAfter: 1, manual: true } }
    chat.given([created, requested, compacted]).when({ type: 'RequestCompaction', requestedBy: OWNER }).then([requested])
  })
})

describe('chat decider: questions', () => {
  const questions = [
    { header: 'Branch', question: 'Which branch?', options: [{ label: 'main', description: 'the default' }, { label: 'dev', description: '' }] },
    { header: 'Tests', question: 'Run the slow tests?', options: [] },
  ]
  const askStep: ChatEvent = {
    type: 'AssistantStepCompleted',
    data: { ...step.data, stepId: 'ask', toolCalls: [{ id: 'q1', name: 'ask_user_question', arguments: { questions } }] },
  }
  const askStarted: ChatEvent = { type: 'ToolCallStarted', data: { turnId: 't1', callId: 'q1', name: 'ask_user_question', arguments: { questions } } }
  const beforeAsk = [...running, askStep, askStarted]
  const asked: ChatEvent = { type: 'QuestionAsked', data: { questionId: 'q1', turnId: 't1', callId: 'q1', questions } }
  const waitingForAnswer = [...beforeAsk, asked]
  const answer = (answers: string[], questionId = 'q1'): ChatCommand => ({ type: 'AnswerQuestion', questionId, answers, answeredBy: OWNER })
  const answeredResult = 'The user answered:\n1. Branch: main\n2. Tests: no'

  it('the runner asks for an open call of its turn; the turn waits in requires_action', () => {
    chat.given(beforeAsk).when({ type: 'AskQuestion', runnerId: 'r1', turnId: 't1', callId: 'q1', questions }).then([asked])
    chat.given(beforeAsk).when({ type: 'AskQuestion', runnerId: 'r2', turnId: 't1', callId: 'q1', questions }).thenThrows('STALE_RUNNER')
    const state = waitingForAnswer.reduce(evolveChat, initialChatState())
    expect(state).toMatchObject({ status: 'requires_action', currentTurnId: 't1', pendingQuestion: { questionId: 'q1', callId: 'q1' } })
    expect(chatNeedsRunner(runnerDemandOf(state))).toBe(false)
  })
  it('an answer completes the call with it and the turn goes on', () => {
    const events: ChatEvent[] = [
      { type: 'QuestionAnswered', data: { questionId: 'q1', answers: ['main', 'no'], freeText: false, answeredBy: OWNER } },
      { type: 'ToolCallCompleted', data: { turnId: 't1', callId: 'q1', name: 'ask_user_question', result: answeredResult, isError: false, durationMs: 0 } },
    ]
    chat.given(waitingForAnswer).when(answer(['main', 'no'])).then(events)
    const after = [...waitingForAnswer, ...events].reduce(evolveChat, initialChatState())
    expect(after).toMatchObject({ status: 'running', currentTurnId: 't1', pendingQuestion: null, openToolCalls: {} })
    expect(chatNeedsRunner(runnerDemandOf(after))).toBe(true)
  })
  it('tells an unknown question from an answered one, and checks the answers', () => {
    chat.given(waitingForAnswer).when(answer(['main', 'no'], 'q9')).thenThrows('QUESTION_NOT_FOUND')
    const answered = [...waitingForAnswer, ...chatDecider.decide(answer(['main', 'no']), waitingForAnswer.reduce(evolveChat, initialChatState()))]
    chat.given(answered).when(answer(['main', 'no'])).thenThrows('QUESTION_ALREADY_ANSWERED')
    chat.given(waitingForAnswer).when(answer(['main'])).thenThrows('INVALID_INPUT')
    chat.given(waitingForAnswer).when(answer(['main', '  '])).thenThrows('INVALID_INPUT')
    chat.given(waitingForAnswer).when(answer(['main', 'x'.repeat(LIMITS.answerLength + 1)])).thenThrows('INVALID_INPUT')
  })
  it('a plain message answers in free text', () => {
    chat
      .given(waitingForAnswer)
      .when(post('m2'))
      .then([
        { type: 'QuestionAnswered', data: { questionId: 'q1', answers: ['more'], freeText: true, answeredBy: OWNER } },
        {
          type: 'ToolCallCompleted',
          data: { turnId: 't1', callId: 'q1', name: 'ask_user_question', result: 'The user answered in their own words:\nmore', isError: false, durationMs: 0 },
        },
      ])
  })
  it('an interrupt dismisses the question and ends the turn', () => {
    chat
      .given(waitingForAnswer)
      .when({ type: 'InterruptChat', requestedBy: OWNER })
      .then([
        { type: 'ToolCallCompleted', data: { turnId: 't1', callId: 'q1', name: 'ask_user_question', result: QUESTION_DISMISSED, isError: true, durationMs: 0 } },
        { type: 'TurnInterrupted', data: { turnId: 't1' } },
      ])
  })
})

describe('chat decider: approvals', () => {
  const rule = { tool: 'execute', commandPattern: 'git push' }
  const held = [...running, step, toolStarted('c1'), toolStarted('c2')]
  const request = (callId: string, expiresAt = '2026-01-01T00:00:00.000Z') => ({ callId, name: 'execute', arguments: { command: 'git push' }, rule, expiresAt })
  const requested = (callId: string, expiresAt = '2026-01-01T00:00:00.000Z'): ChatEvent => ({ type: 'ToolCallApprovalRequested', data: { turnId: 't1', ...request(callId, expiresAt) } })
  const waiting = [...held, requested('c1'), requested('c2')]
  const state = (events: ChatEvent[]) => events.reduce(evolveChat, initialChatState())

  it('the runner holds open calls of its turn; the turn waits in requires_action', () => {
    chat.given(held).when({ type: 'RequestApprovals', runnerId: 'r1', turnId: 't1', requests: [request('c1'), request('c2')] }).then([requested('c1'), requested('c2')])
    chat.given(waiting).when({ type: 'RequestApprovals', runnerId: 'r1', turnId: 't1', requests: [request('c1')] }).then([])
    expect(state(waiting)).toMatchObject({ status: 'requires_action', currentTurnId: 't1' })
    expect(chatNeedsRunner(runnerDemandOf(state(waiting)))).toBe(false)
  })
  it('the turn goes on once every held call is decided', () => {
    const approved: ChatEvent = { type: 'ToolCallApproved', data: { callId: 'c1', approvedBy: OWNER, forChat: true } }
    chat.given(waiting).when({ type: 'ApproveToolCall', callId: 'c1', approvedBy: OWNER, forChat: true }).then([approved])
    expect(state([...waiting, approved]).status).toBe('requires_action')
    const denial: ChatEvent[] = [
      { type: 'ToolCallDenied', data: { callId: 'c2', deniedBy: OWNER, reason: 'no', expired: false } },
      { type: 'ToolCallCompleted', data: { turnId: 't1', callId: 'c2', name: 'execute', result: DENIED_RESULT('no', false), isError: true, durationMs: 0 } },
    ]
    chat.given([...waiting, approved]).when({ type: 'DenyToolCall', callId: 'c2', deniedBy: OWNER, reason: ' no ' }).then(denial)
    const after = state([...waiting, approved, ...denial])
    expect(after).toMatchObject({ status: 'running', approvedCalls: { c1: true }, approvedRules: [rule], pendingApprovals: {} })
    expect(chatNeedsRunner(runnerDemandOf(after))).toBe(true)
  })
  it('refuses unknown and decided requests, and denies only what expired', () => {
    chat.given(waiting).when({ type: 'ApproveToolCall', callId: 'nope', approvedBy: OWNER, forChat: false }).thenThrows('APPROVAL_NOT_FOUND')
    const approved: ChatEvent = { type: 'ToolCallApproved', data: { callId: 'c1', approvedBy: OWNER, forChat: false } }
    chat.given([...waiting, approved]).when({ type: 'DenyToolCall', callId: 'c1', deniedBy: OWNER, reason: 'x' }).thenThrows('APPROVAL_ALREADY_DECIDED')
    const mixed = [...held, requested('c1', '2026-01-01T00:00:00.000Z'), requested('c2', '2026-01-02T00:00:00.000Z')]
    const expired = chatDecider.decide({ type: 'ExpireApprovals', now: Date.parse('2026-01-01T12:00:00.000Z') }, state(mixed))
    expect(expired.map((e) => [e.type, (e.data as { callId: string }).callId])).toEqual([
      ['ToolCallDenied', 'c1'],
      ['ToolCallCompleted', 'c1'],
    ])
  })
  it('messages queue behind a held turn; an interrupt ends it', () => {
    chat.given(waiting).when(post('m2')).then([queued('m2')].map((e) => ({ ...e, data: { ...(e.data as object), parts: text('more') } }) as ChatEvent))
    const ended = chatDecider.decide({ type: 'InterruptChat', requestedBy: OWNER }, state(waiting))
    expect(ended.map((e) => e.type)).toEqual(['ToolCallCompleted', 'ToolCallCompleted', 'TurnInterrupted'])
  })
})

describe('chat decider: plans and sub-agents', () => {
  const planStep: ChatEvent = { type: 'AssistantStepCompleted', data: { ...step.data, stepId: 'plan', toolCalls: [{ id: 'p1', name: 'propose_plan', arguments: { path: 'x' } }] } }
  const planStarted: ChatEvent = { type: 'ToolCallStarted', data: { turnId: 't1', callId: 'p1', name: 'propose_plan', arguments: { path: 'x' } } }
  it('a proposed plan completes the call and ends the turn, delivering the queue head', () => {
    chat
      .given([...running, planStep, planStarted, queued('q')])
      .when({ type: 'ProposePlan', runnerId: 'r1', turnId: 't1', callId: 'p1', path: 'x', plan: '# Plan', sha256: 'ab', result: 'proposed' })
      .then([
        { type: 'ToolCallCompleted', data: { turnId: 't1', callId: 'p1', name: 'propose_plan', result: 'proposed', isError: false, durationMs: 0 } },
        { type: 'PlanProposed', data: { turnId: 't1', callId: 'p1', path: 'x', plan: '# Plan', sha256: 'ab' } },
        { type: 'TurnCompleted', data: { turnId: 't1' } },
        { type: 'UserMessagePosted', data: { messageId: 'q', parts: text('q'), authorId: OWNER, fromQueueId: 'q' } },
      ])
  })
  it('records a spawned child once and closes it once', () => {
    const spawn = { childChatId: FORK, agentType: 'explore' as const, title: 't', prompt: 'look', modelId: null, callId: 'c1' }
    const spawned: ChatEvent = { type: 'SubAgentSpawned', data: { ...spawn, turnId: 't1' } }
    chat.given(running).when({ type: 'RecordSubAgentSpawned', runnerId: 'r1', turnId: 't1', spawn }).then([spawned])
    chat.given([...running, spawned]).when({ type: 'RecordSubAgentSpawned', runnerId: 'r1', turnId: 't1', spawn }).then([])
    const close: ChatCommand = { type: 'RecordSubAgentClosed', runnerId: 'r1', turnId: 't1', childChatId: FORK }
    chat.given([...running, spawned]).when(close).then([{ type: 'SubAgentClosed', data: { childChatId: FORK } }])
    chat.given([...running, spawned, { type: 'SubAgentClosed', data: { childChatId: FORK } }]).when(close).then([])
    chat.given(running).when(close).then([])
  })
})

describe('chat status', () => {
  const statusAfter = (events: ChatEvent[]) => events.reduce(evolveChat, initialChatState()).status
  it('follows a turn from pending to waiting', () => {
    expect(statusAfter([created])).toBe('waiting')
    expect(statusAfter([created, posted('m1')])).toBe('pending')
    expect(statusAfter(running)).toBe('running')
    expect(statusAfter([...running, { type: 'InterruptRequested', data: { requestedBy: OWNER } }])).toBe('interrupting')
    expect(statusAfter([...running, { type: 'InterruptRequested', data: { requestedBy: OWNER } }, { type: 'TurnInterrupted', data: { turnId: 't1' } }])).toBe('waiting')
    expect(statusAfter([...running, { type: 'TurnFailed', data: { turnId: 't1', errorKind: 'x', message: 'm' } }])).toBe('error')
  })
  it('interrupting only applies to a running chat', () => expect(chatStatusAfter('pending', { type: 'InterruptRequested', data: { requestedBy: OWNER } })).toBe('pending'))
})

describe('forks', () => {
  const source = [created, posted('m1'), turnStarted, step, toolStarted('c1'), toolDone('c1'), toolStarted('c2'), { type: 'TurnCompleted', data: { turnId: 't1' } } as ChatEvent]
  const atCut = (revision: number) => source.slice(0, revision + 1).reduce(evolveChat, initialChatState())
  // Decided from the source's head alone: its last revision and its current settings.
  const head = { chatId: CHAT, lastRevision: source.length - 1, title: 'Fix the build', modelId: 'claude', workspaceId: null, planMode: false }
  const fork = (atRevision: number, title?: string, fork = initialChatState()) =>
    chatDecider.decide({ type: 'ForkChat', chatId: FORK, ownerId: OWNER, organizationId: ORG, atRevision, source: head, ...(title === undefined ? {} : { title }) }, fork)
  const rejection = (f: () => unknown) => {
    try {
      f()
    } catch (err) {
      return err as CommandError
    }
    throw new Error('expected a rejection')
  }

  it("forks with the source's settings, without folding the source", () =>
    expect(fork(5)).toEqual([
      {
        type: 'ChatForked',
        data: { chatId: FORK, sourceChatId: CHAT, atRevision: 5, ownerId: OWNER, organizationId: ORG, title: 'Fix the build (fork)', modelId: 'claude', workspaceId: null, planMode: false },
      },
    ]))
  it('closes, when folded, exactly the tool calls a mid-turn cut leaves open', () => {
    const [forked] = fork(6, 'Try again')
    expect(forked!.type === 'ChatForked' && forked!.data).toMatchObject({ title: 'Try again', atRevision: 6 })
    expect(callsClosedByFork(forked as Extract<ChatEvent, { type: 'ChatForked' }>, atCut(6).openToolCalls)).toEqual(['c2'])
    expect(callsClosedByFork(fork(5)[0] as Extract<ChatEvent, { type: 'ChatForked' }>, atCut(5).openToolCalls)).toEqual([])
  })
  it('starts a fork cut mid-turn waiting, with an empty queue', () => {
    const state = [...source.slice(0, 7), queued('q1'), ...fork(6)].reduce(evolveChat, initialChatState())
    expect(state).toMatchObject({ id: FORK, status: 'waiting', queue: [], openToolCalls: {}, currentTurnId: null, userMessages: 1 })
  })
  it('rejects a revision past the end, a negative one and a fraction', () => {
    const past = rejection(() => fork(8))
    expect(past.code).toBe('FORK_REVISION_OUT_OF_RANGE')
    expect(past.message).toBe(`chat ${CHAT} has 8 events; revision 8 does not exist`)
    expect(rejection(() => fork(-1)).code).toBe('FORK_REVISION_OUT_OF_RANGE')
    expect(rejection(() => fork(1.5)).code).toBe('FORK_REVISION_OUT_OF_RANGE')
  })
  it('rejects a fork whose stream already exists', () => expect(rejection(() => fork(1, undefined, evolveChat(initialChatState(), created))).code).toBe('ALREADY_EXISTS'))
  it('rejects an oversized fork title', () => expect(rejection(() => fork(5, 'x'.repeat(LIMITS.titleLength + 1))).code).toBe('INVALID_INPUT'))
})

describe("chat decider: the runner's moves", () => {
  const r1 = { runnerId: 'r1', turnId: 't1' }
  const stepWith = (toolCalls: { id: string; name: string; arguments: unknown }[]): StepRecord => ({
    stepId: 's1',
    modelId: 'claude',
    parts: [],
    text: '',
    reasoning: '',
    toolCalls,
    usage,
    costUsd: 0.01,
    finishReason: 'stop',
    interrupted: false,
  })
  const headOf = (id: string): ChatEvent => ({ type: 'UserMessagePosted', data: { messageId: id, parts: text(id), authorId: OWNER, fromQueueId: id } })

  it('starts a turn only for a pending chat', () => {
    chat.given([created, posted('m1')]).when({ type: 'StartTurn', ...r1 }).then([turnStarted])
    chat.given(running).when({ type: 'StartTurn', runnerId: 'r2', turnId: 't2' }).then([])
    chat.given([created]).when({ type: 'StartTurn', ...r1 }).then([])
  })
  it('a step without tool calls completes the turn and delivers the queue head with it', () =>
    chat
      .given([...running, queued('q1'), queued('q2')])
      .when({ type: 'RecordStep', ...r1, step: stepWith([]) })
      .then([{ type: 'AssistantStepCompleted', data: { ...stepWith([]), turnId: 't1' } }, { type: 'TurnCompleted', data: { turnId: 't1' } }, headOf('q1')]))
  it('a step with tool calls starts them in the same append', () => {
    const call = { id: 'c1', name: 'execute', arguments: { command: 'ls' } }
    chat.given(running).when({ type: 'RecordStep', ...r1, step: stepWith([call]) }).then([{ type: 'AssistantStepCompleted', data: { ...stepWith([call]), turnId: 't1' } }, toolStarted('c1')])
  })
  it('ending a turn closes the calls still open, so the model context stays valid', () =>
    chat
      .given([...running, toolStarted('c1')])
      .when({ type: 'EndTurn', ...r1, outcome: 'failed', errorKind: 'step_limit', message: 'too many steps' })
      .then([
        { type: 'ToolCallCompleted', data: { turnId: 't1', callId: 'c1', name: 'execute', result: 'The turn failed before this call finished.', isError: true, durationMs: 0 } },
        { type: 'TurnFailed', data: { turnId: 't1', errorKind: 'step_limit', message: 'too many steps' } },
      ]))
  it('records a result only for a call of the current turn that is still open', () => {
    const done = { type: 'CompleteToolCall', ...r1, callId: 'c1', name: 'execute', result: 'ok', isError: false, durationMs: 5 } as const
    chat.given([...running, toolStarted('c1')]).when(done).then([toolDone('c1')])
    chat.given([...running, toolStarted('c1'), toolDone('c1')]).when(done).then([])
    chat.given([...running, toolStarted('c1'), { type: 'TurnInterrupted', data: { turnId: 't1' } }]).when(done).then([])
  })
  it('refuses every move of a runner whose turn another runner resumed', () => {
    const resumed: ChatEvent = { type: 'TurnResumed', data: { turnId: 't1', runnerId: 'r2', previousRunnerId: 'r1' } }
    chat.given([...running, resumed]).when({ type: 'EndTurn', ...r1, outcome: 'interrupted' }).thenThrows('STALE_RUNNER', /runner r2 took over/)
    chat.given([...running, resumed]).when({ type: 'BindWorkspace', ...r1, workspaceId: 'w1' }).thenThrows('STALE_RUNNER')
    chat.given(running).when({ type: 'ResumeTurn', runnerId: 'r2', turnId: 't1' }).then([resumed])
  })
  it('delivers the queue head only to a waiting chat', () => {
    const waitingWithQueue = [...running, queued('q1'), { type: 'TurnInterrupted', data: { turnId: 't1' } } as ChatEvent, { type: 'QueuedMessagePromoted', data: { queueId: 'q1' } } as ChatEvent]
    chat.given([...running, queued('q1')]).when({ type: 'DeliverQueueHead', runnerId: 'r1' }).then([])
    chat.given([...running, queued('q1'), { type: 'TurnInterrupted', data: { turnId: 't1' } }]).when({ type: 'DeliverQueueHead', runnerId: 'r1' }).then([headOf('q1')])
    chat.given(waitingWithQueue).when({ type: 'DeliverQueueHead', runnerId: 'r1' }).then([headOf('q1')])
  })
  it('drops a generated title when someone renamed the chat meanwhile', () => {
    chat.given([created]).when({ type: 'RenameChat', title: 'Generated', generated: { replaces: 'Fix the build' } }).then([{ type: 'ChatRenamed', data: { title: 'Generated', generated: true } }])
    chat
      .given([created, { type: 'ChatRenamed', data: { title: 'Mine', generated: false } }])
      .when({ type: 'RenameChat', title: 'Generated', generated: { replaces: 'Fix the build' } })
      .then([])
  })
})
