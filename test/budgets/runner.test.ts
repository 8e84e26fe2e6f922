// The guard as the runner uses it (RunnerOptions.budgets): a turn stopped by a daily limit, and on
// the next day (the guard's clock moved on) a new message runs normally.
import { randomUUID } from 'node:crypto'
import { afterEach, beforeAll, afterAll, beforeEach, describe, expect, it } from 'vitest'
import type { Tool } from '../../src/agent/tools/registry.ts'
import { SpendLimits } from '../../src/budgets/guard.ts'
import { DEFAULT_ORGANIZATION_ID } from '../../src/events/index.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { backends } from '../support/databases.ts'
import { configureFakeModel, OWNER, startHarness, types, type Harness } from '../agent/harness.ts'

const addTool: Tool = {
  name: 'add',
  description: 'Adds two numbers.',
  inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
  async run(args) {
    const { a, b } = args as { a: number; b: number }
    return { content: String(a + b), isError: false }
  },
}
const usage = { input: 1000, output: 200 } // $0.006 at 3 / 15 per million

for (const backend of backends) {
  describe.skipIf(!backend.available)(`budgets in the runner on ${backend.name}`, () => {
    let fake: FakeProvider
    let h: Harness
    let close: () => Promise<void>
    beforeAll(async () => {
      fake = await startFakeProvider('openai-chat')
    })
    afterAll(() => fake.close())
    beforeEach(async () => {
      const opened = await backend.open()
      close = opened.close
      h = await startHarness(opened.db, [addTool])
      fake.requests.length = 0
      await configureFakeModel(h.config, fake, 'openai-chat')
    })
    afterEach(async () => {
      await h.close()
      await close()
    })

    it('stops a turn at the daily limit and runs a new message the next day', async () => {
      let now = new Date()
      h.startRunner({ budgets: new SpendLimits(h.config, h.db, () => now) })
      await h.config.execute(
        { type: 'SetBudget', budget: { scope: 'user', period: 'day', organizationId: DEFAULT_ORGANIZATION_ID, userId: OWNER, limitMicros: 6001 } },
        { actor: { kind: 'system', id: 'test' } },
      )
      fake.enqueue({ toolCalls: [{ id: 'c1', name: 'add', arguments: { a: 1, b: 2 } }], usage }, { toolCalls: [{ id: 'c2', name: 'add', arguments: { a: 3, b: 4 } }], usage })
      const chatId = await h.createChat('add things')
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnFailed'))
      expect(types(events).slice(-3)).toEqual(['ToolCallStarted', 'ToolCallCompleted', 'TurnFailed'])
      const failed = events.at(-1)!
      if (failed.type !== 'TurnFailed') throw new Error('unreachable')
      expect(failed.data).toMatchObject({ errorKind: 'budget_exceeded' })
      expect(failed.data.message).toContain('(USER, DAY)')
      expect(fake.requests).toHaveLength(2)

      // The same day, a new message is stopped before any request; the next day it runs.
      await h.command(chatId, { type: 'PostMessage', messageId: randomUUID(), authorId: OWNER, parts: [{ type: 'text', text: 'again' }], busyBehavior: 'QUEUE' })
      let again = await h.waitFor(chatId, (es) => es.filter((e) => e.type === 'TurnFailed').length === 2)
      expect(fake.requests).toHaveLength(2)
      now = new Date(now.getTime() + 86_400_000)
      fake.enqueue({ text: 'Seven.', usage }, { text: 'Adding' })
      await h.command(chatId, { type: 'PostMessage', messageId: randomUUID(), authorId: OWNER, parts: [{ type: 'text', text: 'and now?' }], busyBehavior: 'QUEUE' })
      again = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
      const last = again.filter((e) => e.type === 'AssistantStepCompleted').at(-1)!
      expect(last.type === 'AssistantStepCompleted' && last.data.text).toBe('Seven.')
    })
  })
}
