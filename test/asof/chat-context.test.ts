// chatContext against the request the provider really received: a real runner drives a turn
// against a wire-faithful fake; for each step, the context rebuilt at the revision before it,
// put through the same adapter, must be byte for byte the messages and tools on the wire.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Tool } from '../../src/agent/tools/registry.ts'
import { chatContextAt } from '../../src/asof/chat-context.ts'
import { toChatParams } from '../../src/providers/openai-chat.ts'
import { backends } from '../support/databases.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { configureFakeModel, startHarness, type Harness } from '../agent/harness.ts'

const tool = (name: string): Tool => ({
  name,
  description: `The ${name} tool.`,
  inputSchema: { type: 'object', properties: { a: { type: 'number' } } },
  async run(args) {
    return { content: `${name} ran with ${JSON.stringify(args)}`, isError: false }
  },
})
const system = { actor: { kind: 'system' as const, id: 'test' } }

for (const backend of backends) {
  describe.skipIf(!backend.available)(`chatContext on ${backend.name}`, () => {
    let fake: FakeProvider
    let h: Harness
    let close: () => Promise<void>
    beforeAll(async () => {
      fake = await startFakeProvider('openai-chat')
      const opened = await backend.open()
      h = await startHarness(opened.db, [tool('add'), tool('sleep')])
      close = opened.close
      await configureFakeModel(h.config, fake, 'openai-chat')
    }, 120_000)
    afterAll(async () => {
      await h?.close()
      await close?.()
      await fake?.close()
    })

    it('rebuilds, for each step of a turn, exactly the messages, system prompt and tools the provider received', async () => {
      await h.config.execute({ type: 'SetSystemPrompt', prompt: 'You audit builds.' }, system)
      await h.config.execute({ type: 'SetDisabledTools', disabledTools: ['sleep'] }, system)
      fake.enqueue({ toolCalls: [{ id: 'call-1', name: 'add', arguments: { a: 1 } }] }, { text: 'done: 2' })
      h.startRunner()
      const chatId = await h.createChat('add one')
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
      // A prompt changed after the turn must not leak into the context rebuilt for it.
      await h.config.execute({ type: 'SetSystemPrompt', prompt: 'Something else.' }, system)

      const steps = events.filter((e) => e.type === 'AssistantStepCompleted')
      expect(steps).toHaveLength(2)
      // The runner may also have asked for a title after the turn: keep the step requests.
      const stepRequests = (fake.requests as { messages: { role: string; content: unknown }[]; tools?: unknown }[]).filter(
        (r) => r.messages[0]?.content === 'You audit builds.',
      )
      expect(stepRequests).toHaveLength(2)
      const deps = { store: h.store, config: h.config, tools: h.tools, loadAttachment: async () => null }
      for (const [i, stepEvent] of steps.entries()) {
        const at = Number(stepEvent.revision) - 1
        const ctx = await chatContextAt(deps, chatId, at)
        expect(ctx).toMatchObject({ atRevision: at, stepRevision: Number(stepEvent.revision), systemPrompt: 'You audit builds.', resolvedModelId: 'fake-model' })
        expect(ctx.tools.map((t) => t.name)).toEqual(['add'])
        const rebuilt = toChatParams(
          { model: 'fake-model-1', system: ctx.systemPrompt, messages: ctx.messages, tools: ctx.tools, maxOutputTokens: 1000 },
          { kind: 'openai-chat' },
        )
        const sent = stepRequests[i]!
        expect(JSON.parse(JSON.stringify(rebuilt.messages))).toEqual(sent.messages)
        expect(JSON.parse(JSON.stringify(rebuilt.tools))).toEqual(sent.tools)
      }
    })
  })
}
