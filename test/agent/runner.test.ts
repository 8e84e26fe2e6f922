import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { UNKNOWN_OUTCOME } from '../../src/agent/driver.ts'
import type { Tool } from '../../src/agent/tools/registry.ts'
import { chatStream } from '../../src/events/index.ts'
import { backends } from '../support/databases.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { configureFakeModel, startHarness, types, type Harness } from './harness.ts'

type ChatMessage = { role: string; content?: unknown; tool_calls?: { id: string; function: { name: string; arguments: string } }[]; tool_call_id?: string }
const messagesOf = (body: unknown) => (body as { messages: ChatMessage[] }).messages
const textOf = (m: ChatMessage) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content))

let slowToolAborted = false
const slowTool: Tool = {
  name: 'sleep',
  description: 'Waits a long time.',
  inputSchema: { type: 'object', properties: {} },
  run(_args, ctx) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ content: 'slept', isError: false }), 30_000)
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer)
        slowToolAborted = true
        resolve({ content: 'stopped early', isError: true })
      })
    })
  },
}

let hiddenRuns = 0
/** Registered, but never offered in any chat. */
const hiddenTool: Tool = {
  name: 'hidden',
  description: 'Not for this chat.',
  inputSchema: { type: 'object', properties: {} },
  availability: () => false,
  async run() {
    hiddenRuns++
    return { content: 'ran', isError: false }
  },
}

let addRuns = 0
const addTool: Tool = {
  name: 'add',
  description: 'Adds two numbers.',
  inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
  async run(args) {
    addRuns++
    const { a, b } = args as { a: number; b: number }
    await new Promise((r) => setTimeout(r, 20))
    return { content: String(a + b), isError: false }
  },
}

for (const backend of backends) {
  describe.skipIf(!backend.available)(`agent runner on ${backend.name}`, () => {
    let fake: FakeProvider
    let h: Harness
    let close: () => Promise<void>

    beforeAll(async () => {
      fake = await startFakeProvider('openai-chat')
    })
    afterAll(async () => {
      await fake.close()
    })
    beforeEach(async () => {
      const opened = await backend.open()
      close = opened.close
      h = await startHarness(opened.db, [addTool, slowTool, hiddenTool])
      fake.requests.length = 0
      await configureFakeModel(h.config, fake, 'openai-chat')
    })
    afterEach(async () => {
      await h.close()
      await close()
    })

    it('runs a turn: streams deltas, commits the step with usage and cost, completes, titles the chat', async () => {
      fake.enqueue({ text: 'Hello there, friend.', usage: { input: 1000, output: 200 } }, { text: 'Greeting' })
      h.startRunner()
      const chatId = await h.createChat('say hello')
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'ChatRenamed'))
      expect(types(events)).toEqual(['ChatCreated', 'UserMessagePosted', 'TurnStarted', 'AssistantStepCompleted', 'TurnCompleted', 'ChatRenamed'])
      const step = events.find((e) => e.type === 'AssistantStepCompleted')!
      if (step.type !== 'AssistantStepCompleted') throw new Error('unreachable')
      expect(step.data.text).toBe('Hello there, friend.')
      expect(step.data.usage.inputTokens).toBe(1000)
      expect(step.data.usage.outputTokens).toBe(200)
      expect(step.data.costUsd).toBeCloseTo((1000 * 3 + 200 * 15) / 1e6, 9)
      const streamed = h.deltas.filter((d) => d.chatId === chatId && d.delta.kind === 'TextDelta').map((d) => (d.delta as { delta: string }).delta)
      expect(streamed.length).toBeGreaterThan(1)
      expect(streamed.join('')).toBe('Hello there, friend.')
      expect((await h.store.verifyStream(chatStream(chatId))).ok).toBe(true)
    })

    it('runs two parallel tool calls and sends both results back', async () => {
      fake.enqueue(
        { toolCalls: [{ id: 'call_1', name: 'add', arguments: { a: 1, b: 2 } }, { id: 'call_2', name: 'add', arguments: { a: 3, b: 4 } }] },
        { text: 'The sums are 3 and 7.' },
        { text: 'Sums' },
      )
      h.startRunner()
      const chatId = await h.createChat('add things')
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
      expect(types(events).filter((t) => t.startsWith('ToolCall'))).toEqual(['ToolCallStarted', 'ToolCallStarted', 'ToolCallCompleted', 'ToolCallCompleted'])
      const second = messagesOf(fake.requests[1])
      const toolMessages = second.filter((m) => m.role === 'tool')
      expect(toolMessages.map((m) => [m.tool_call_id, textOf(m)]).sort()).toEqual([
        ['call_1', '3'],
        ['call_2', '7'],
      ])
    })

    it('never runs a tool an admin disabled, one not offered in the chat, or one that does not exist: the model reads why', async () => {
      await h.config.execute({ type: 'SetDisabledTools', disabledTools: ['add'] }, { actor: { kind: 'system', id: 'test' } })
      addRuns = 0
      hiddenRuns = 0
      fake.enqueue(
        {
          toolCalls: [
            { id: 'call_d', name: 'add', arguments: { a: 1, b: 2 } },
            { id: 'call_h', name: 'hidden', arguments: {} },
            { id: 'call_u', name: 'rm_everything', arguments: {} },
          ],
        },
        { text: 'I cannot use those.' },
      )
      h.startRunner()
      // Titled, so no title request follows the turn (the fake's queue is shared by the tests).
      const chatId = await h.createChat('try the tools', { title: 'tools' })
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
      expect(addRuns + hiddenRuns).toBe(0)
      const results = Object.fromEntries(events.flatMap((e) => (e.type === 'ToolCallCompleted' ? [[e.data.callId, e.data]] : [])))
      expect(results.call_d).toMatchObject({ isError: true, result: expect.stringMatching(/add is not available in this chat/) })
      expect(results.call_h).toMatchObject({ isError: true, result: expect.stringMatching(/hidden is not available in this chat/) })
      expect(results.call_u).toMatchObject({ isError: true, result: expect.stringMatching(/no tool named rm_everything/) })
      // Neither is offered to the model in the first place.
      const offered = ((fake.requests[0] as { tools?: { function: { name: string } }[] }).tools ?? []).map((t) => t.function.name)
      expect(offered).not.toContain('add')
      expect(offered).not.toContain('hidden')
    })

    it('delivers queued follow-ups in order, each as its own turn, without the user doing anything', async () => {
      fake.enqueue({ text: 'first answer, streamed slowly', chunkDelayMs: 60 }, { text: 'title' }, { text: 'second answer' }, { text: 'third answer' })
      h.startRunner()
      const chatId = await h.createChat('one')
      await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnStarted'))
      for (const text of ['two', 'three'])
        await h.command(chatId, { type: 'PostMessage', messageId: randomUUID(), authorId: '11111111-1111-4111-8111-111111111111', parts: [{ type: 'text', text }], busyBehavior: 'QUEUE' })
      const events = await h.waitFor(chatId, (es) => es.filter((e) => e.type === 'TurnCompleted').length === 3)
      const posted = events.flatMap((e) => (e.type === 'UserMessagePosted' ? [(e.data.parts[0] as { text: string }).text] : []))
      expect(posted).toEqual(['one', 'two', 'three'])
      expect(types(events).filter((t) => t === 'MessageQueued')).toHaveLength(2)
      // The first turn is titled even though the queue head was delivered with its end.
      // The title's call is recorded as spend (the fake's default usage, at the fake model's prices).
      expect(events.find((e) => e.type === 'ChatRenamed')?.data).toEqual({
        title: 'title',
        generated: true,
        call: { modelId: 'fake-model', usage: { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }, costUsd: 0.000105 },
      })
    })

    it('interrupt mid-stream keeps the partial text as an interrupted step', async () => {
      // Long enough that a loaded machine's interrupt still lands mid-stream (it ends the turn early when it works).
      const FULL = Array.from({ length: 120 }, (_, i) => `w${i}`).join(' ')
      fake.enqueue({ text: FULL, textPieces: 60, chunkDelayMs: 100 })
      h.startRunner()
      const chatId = await h.createChat('talk slowly')
      await h.waitFor(chatId, () => h.deltas.filter((d) => d.chatId === chatId && d.delta.kind === 'TextDelta').length >= 2)
      await h.command(chatId, { type: 'InterruptChat', requestedBy: '11111111-1111-4111-8111-111111111111' })
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnInterrupted'))
      const step = events.find((e) => e.type === 'AssistantStepCompleted')
      if (step?.type !== 'AssistantStepCompleted') throw new Error('no partial step')
      expect(step.data.interrupted).toBe(true)
      expect(step.data.text.length).toBeGreaterThan(0)
      expect(step.data.text.length).toBeLessThan(FULL.length)
      expect(types(events).slice(-2)).toEqual(['AssistantStepCompleted', 'TurnInterrupted'])
    })

    it('retries a 429 after recording RetryScheduled, then succeeds', async () => {
      fake.enqueue({ fault: { status: 429, message: 'slow down' } }, { text: 'ok now' }, { text: 't' })
      h.startRunner({ retryBaseMs: 1_000 })
      const chatId = await h.createChat('hi')
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
      const retry = events.find((e) => e.type === 'RetryScheduled')
      if (retry?.type !== 'RetryScheduled') throw new Error('no retry recorded')
      expect(retry.data).toMatchObject({ attempt: 1, delayMs: 1_000, errorKind: 'rate_limit' })
      expect(h.deltas.some((d) => d.chatId === chatId && d.delta.kind === 'RetryCountdown')).toBe(true)
    })

    it('fails the turn with a message a user can act on when the provider rejects the key', async () => {
      fake.enqueue({ fault: { status: 401, message: 'invalid key' } })
      h.startRunner()
      const chatId = await h.createChat('hi')
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnFailed'))
      const failed = events.at(-1)!
      expect(failed).toMatchObject({ type: 'TurnFailed', data: { errorKind: 'auth' } })
      expect(JSON.stringify(events, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('sk-test-key')
    })

    it('compacts at the threshold and starts the next request from the summary', async () => {
      await configureFakeModel(h.config, fake, 'openai-chat', { contextWindow: 1000, thresholdPercent: 50 })
      fake.enqueue(
        { toolCalls: [{ id: 'call_9', name: 'add', arguments: { a: 2, b: 2 } }], usage: { input: 800, output: 10 } },
        { text: 'SUMMARY: the user asked to add 2 and 2; it is 4.' },
        { text: 'Done: 4.' },
        { text: 't' },
      )
      h.startRunner()
      const chatId = await h.createChat('add 2 and 2, the long way')
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
      expect(types(events)).toContain('ContextCompacted')
      // The summary replaces the steps it covers; the request that started the turn is kept verbatim.
      const afterSummary = messagesOf(fake.requests[2]).filter((m) => m.role !== 'system')
      expect(afterSummary).toHaveLength(1)
      expect(textOf(afterSummary[0]!)).toContain('SUMMARY: the user asked to add 2 and 2')
      expect(textOf(afterSummary[0]!)).toContain('the long way')
      expect(afterSummary.some((m) => m.role === 'tool' || m.role === 'assistant')).toBe(false)
    })

    it('ends a runaway loop at the step cap with a clear error', async () => {
      fake.setDefault(() => ({ toolCalls: [{ name: 'add', arguments: { a: 1, b: 1 } }] }))
      h.startRunner({ maxStepsPerTurn: 3 })
      const chatId = await h.createChat('loop forever')
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnFailed'))
      expect(events.at(-1)).toMatchObject({ type: 'TurnFailed', data: { errorKind: 'step_limit' } })
      expect(types(events).filter((t) => t === 'AssistantStepCompleted')).toHaveLength(3)
      fake.setDefault(() => ({ text: 'default' }))
    })

    it('an interrupt during a tool call aborts the tool and ends the turn', async () => {
      fake.enqueue({ toolCalls: [{ id: 'call_s', name: 'sleep', arguments: {} }] })
      slowToolAborted = false
      h.startRunner()
      const chatId = await h.createChat('wait for a while')
      await h.waitFor(chatId, (es) => es.some((e) => e.type === 'ToolCallStarted'))
      await h.command(chatId, { type: 'InterruptChat', requestedBy: '11111111-1111-4111-8111-111111111111' })
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnInterrupted'))
      expect(slowToolAborted).toBe(true)
      expect(events.find((e) => e.type === 'ToolCallCompleted')).toMatchObject({ data: { callId: 'call_s', isError: true } })
      expect(types(events).slice(-2)).toEqual(['ToolCallCompleted', 'TurnInterrupted'])
    })

    it('a message sent with INTERRUPT stops the running turn and is delivered next', async () => {
      fake.enqueue({ text: 'this answer is slow and will be cut short by the user', chunkDelayMs: 100 }, { text: 'answer to the interruption' })
      h.startRunner()
      const chatId = await h.createChat('first', { title: 'kept' })
      await h.waitFor(chatId, () => h.deltas.some((d) => d.chatId === chatId && d.delta.kind === 'TextDelta'))
      await h.command(chatId, {
        type: 'PostMessage',
        messageId: randomUUID(),
        authorId: '11111111-1111-4111-8111-111111111111',
        parts: [{ type: 'text', text: 'stop, do this instead' }],
        busyBehavior: 'INTERRUPT',
      })
      const events = await h.waitFor(chatId, (es) => es.filter((e) => e.type === 'TurnStarted').length === 2 && es.at(-1)?.type === 'TurnCompleted')
      const order = types(events)
      expect(order.indexOf('TurnInterrupted')).toBeLessThan(order.lastIndexOf('UserMessagePosted'))
      const last = fake.requests.at(-1)
      expect(messagesOf(last).some((m) => m.role === 'user' && textOf(m).includes('stop, do this instead'))).toBe(true)
    })

    it('a context-window error triggers a compaction and one retry', async () => {
      fake.enqueue(
        { text: 'first answer' },
        { fault: { status: 400, message: "This model's maximum context length is 1000 tokens. However, your messages resulted in 5000 tokens." } },
        { text: 'SUMMARY: one question answered.' },
        { text: 'second answer, after compaction' },
      )
      h.startRunner()
      const chatId = await h.createChat('one', { title: 'kept' })
      await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
      await h.command(chatId, { type: 'PostMessage', messageId: randomUUID(), authorId: '11111111-1111-4111-8111-111111111111', parts: [{ type: 'text', text: 'two' }], busyBehavior: 'QUEUE' })
      const events = await h.waitFor(chatId, (es) => es.filter((e) => e.type === 'TurnCompleted').length === 2)
      expect(types(events).filter((t) => t === 'ContextCompacted')).toHaveLength(1)
      expect(types(events)).not.toContain('TurnFailed')
      expect(textOf(messagesOf(fake.requests.at(-1)).filter((m) => m.role !== 'system')[0]!)).toContain('SUMMARY: one question answered.')
    })

    it('a requested compaction summarizes an idle chat; the next turn starts from the summary', async () => {
      fake.enqueue({ text: 'an answer' }, { text: 'SUMMARY: greeted.' }, { text: 'second answer' })
      h.startRunner()
      const chatId = await h.createChat('hello', { title: 'kept' })
      await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
      await h.command(chatId, { type: 'RequestCompaction', requestedBy: '11111111-1111-4111-8111-111111111111' })
      const compacted = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'ContextCompacted'))
      expect(compacted.find((e) => e.type === 'ContextCompacted')).toMatchObject({ data: { manual: true, summary: 'SUMMARY: greeted.' } })
      await h.command(chatId, { type: 'PostMessage', messageId: randomUUID(), authorId: '11111111-1111-4111-8111-111111111111', parts: [{ type: 'text', text: 'again' }], busyBehavior: 'QUEUE' })
      await h.waitFor(chatId, (es) => es.filter((e) => e.type === 'TurnCompleted').length === 2)
      const context = messagesOf(fake.requests.at(-1)).filter((m) => m.role !== 'system')
      expect(textOf(context[0]!)).toContain('SUMMARY: greeted.')
      expect(context.some((m) => textOf(m).includes('hello'))).toBe(false)
    })

    it('a requested compaction that cannot run is dropped with the reason instead of waiting forever', async () => {
      fake.enqueue({ text: 'an answer' }, { fault: { status: 401, message: 'key revoked' } })
      h.startRunner()
      const chatId = await h.createChat('hello', { title: 'kept' })
      await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
      await h.command(chatId, { type: 'RequestCompaction', requestedBy: '11111111-1111-4111-8111-111111111111' })
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'CompactionFailed'))
      expect(events.at(-1)).toMatchObject({ type: 'CompactionFailed', data: { errorKind: 'auth' } })
      expect(types(events)).not.toContain('ContextCompacted')
    })

    it('resumes a turn left mid-tool-call by a dead runner: asks the tool, and the model continues', async () => {
      const chatId = await h.createChat('resume me')
      const stream = chatStream(chatId)
      const dead = { actor: { kind: 'agent' as const, id: 'runner:dead' }, runnerId: 'dead-runner' }
      await h.store.appendToStream(
        stream,
        [
          { id: randomUUID(), type: 'TurnStarted', data: { turnId: 't1', runnerId: 'dead-runner', modelId: null }, metadata: dead },
          {
            id: randomUUID(),
            type: 'AssistantStepCompleted',
            data: {
              turnId: 't1', stepId: 's1', modelId: 'fake-model', parts: [{ type: 'tool_call', id: 'call_a', name: 'add', arguments: { a: 5, b: 5 } }],
              text: '', reasoning: '', toolCalls: [{ id: 'call_a', name: 'add', arguments: { a: 5, b: 5 } }],
              usage: { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }, costUsd: 0, finishReason: 'tool_calls', interrupted: false,
            },
            metadata: dead,
          },
          { id: randomUUID(), type: 'ToolCallStarted', data: { turnId: 't1', callId: 'call_a', name: 'add', arguments: { a: 5, b: 5 } }, metadata: dead },
        ],
        { expectedRevision: 1n },
      )
      addRuns = 0
      fake.enqueue({ text: 'I will check whether it ran.' })
      h.startRunner()
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
      const completed = events.find((e) => e.type === 'ToolCallCompleted')
      expect(completed).toMatchObject({ data: { callId: 'call_a', isError: true, result: UNKNOWN_OUTCOME } })
      expect(addRuns).toBe(0)
      expect(events.find((e) => e.type === 'TurnResumed')?.data).toMatchObject({ turnId: 't1', previousRunnerId: 'dead-runner' })
      const continued = fake.requests.find((r) => messagesOf(r).some((m) => m.role === 'tool'))
      expect(messagesOf(continued).some((m) => m.role === 'tool' && textOf(m).includes('cannot tell'))).toBe(true)
    })

    it("takes a dead runner's chat over when its lease runs out, not at the next poll, and never before", async () => {
      const chatId = await h.createChat('take me over')
      const dead = { actor: { kind: 'agent' as const, id: 'runner:dead' }, runnerId: 'dead-runner' }
      await h.store.appendToStream(chatStream(chatId), [{ id: randomUUID(), type: 'TurnStarted', data: { turnId: 't1', runnerId: 'dead-runner', modelId: null }, metadata: dead }], {
        expectedRevision: 1n,
      })
      const [lease] = await h.db.query<{ expires_at: Date }>(
        `insert into chat_leases (chat_id, owner, expires_at) values ($1, 'dead-runner', now() + interval '1500 milliseconds') returning expires_at`,
        [chatId],
      )
      fake.enqueue({ text: 'Taken over.' })
      // Polling every ten minutes: only the scan at the lease's expiry can take the chat within the test.
      h.startRunner({ pollIntervalMs: 600_000 })
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
      const resumed = events.find((e) => e.type === 'TurnResumed')!
      expect(resumed.data).toMatchObject({ turnId: 't1', previousRunnerId: 'dead-runner' })
      expect(resumed.createdAt.getTime()).toBeGreaterThanOrEqual(new Date(lease!.expires_at).getTime())
    })
  })
}
