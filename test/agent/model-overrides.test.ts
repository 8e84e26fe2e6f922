// Admin model overrides: compaction and titles go to the override model (another provider
// here, so the request is seen arriving there), a disabled override falls back to the chat's
// model, and a bad override or limit appends nothing.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { CommandError } from '../../commands/errors.ts'
import type { ModelSettings } from '../../src/events/config.ts'
import { CONFIG_STREAM } from '../../src/events/config.ts'
import { backends } from '../support/databases.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { configureFakeModel, OWNER, startHarness, type Harness } from './harness.ts'
import { microsOf, usageRows } from '../../src/budgets/usage.ts'
import { SpendLimits } from '../../src/budgets/guard.ts'
import { chatDecider } from '../../commands/chat/decide.ts'
import { foldStream } from '../../commands/handler.ts'
import { chatStream, DEFAULT_ORGANIZATION_ID } from '../../src/events/index.ts'

type WireMessage = { role: string; content?: unknown }
const systemOf = (body: unknown) => {
  const m = (body as { messages: WireMessage[] }).messages.find((x) => x.role === 'system')
  return typeof m?.content === 'string' ? m.content : JSON.stringify(m?.content ?? '')
}
const isTitle = (body: unknown) => systemOf(body).startsWith('Write a title')
const isSummary = (body: unknown) => systemOf(body).startsWith('You write faithful, compact summaries')
const admin = { actor: { kind: 'system' as const, id: 'test' } }

const helperModel = (enabled: boolean): ModelSettings => ({
  modelId: 'helper',
  providerId: 'other',
  modelName: 'helper-1',
  displayName: 'Helper',
  enabled,
  isDefault: false,
  contextWindow: 100_000,
  compactionThresholdPercent: 70,
  maxOutputTokens: 500,
  // Priced, so its calls' costs show (per million tokens).
  pricing: { input: 1, output: 10, cacheRead: 0, cacheWrite: 0 },
  api: null,
})

for (const backend of backends) {
  describe.skipIf(!backend.available)(`admin model overrides on ${backend.name}`, () => {
    let chatFake: FakeProvider
    let helperFake: FakeProvider
    let h: Harness
    let close: () => Promise<void>

    // The helper's summary reads 2000 tokens and writes 300, its title 100 and 5: what their events must record.
    const answer = (who: string) => (body: unknown) => ({
      text: isTitle(body) ? `${who} title` : isSummary(body) ? `${who} summary` : `${who} answer`,
      ...(who === 'helper' ? { usage: isSummary(body) ? { input: 2000, output: 300 } : { input: 100, output: 5 } } : {}),
    })

    beforeAll(async () => {
      chatFake = await startFakeProvider('openai-chat')
      helperFake = await startFakeProvider('openai-chat')
      chatFake.setDefault(answer('chat'))
      helperFake.setDefault(answer('helper'))
    })
    afterAll(async () => {
      await chatFake.close()
      await helperFake.close()
    })
    beforeEach(async () => {
      const opened = await backend.open()
      close = opened.close
      h = await startHarness(opened.db)
      chatFake.requests.length = 0
      helperFake.requests.length = 0
      await configureFakeModel(h.config, chatFake, 'openai-chat')
      await h.config.execute(
        { type: 'ConfigureProvider', settings: { providerId: 'other', kind: 'openai-chat', displayName: 'Other', baseUrl: helperFake.baseUrl, apiVersion: null, deployment: null, region: null } },
        admin,
      )
      await h.config.setProviderApiKey('other', 'sk-other-key', admin)
      await h.config.execute({ type: 'ConfigureModel', settings: helperModel(true) }, admin)
    })
    afterEach(async () => {
      await h.close()
      await close()
    })

    async function titledAndCompacted(): Promise<string> {
      h.startRunner()
      const chatId = await h.createChat('hello there')
      await h.waitFor(chatId, (es) => es.some((e) => e.type === 'ChatRenamed'))
      await h.command(chatId, { type: 'RequestCompaction', requestedBy: OWNER })
      await h.waitFor(chatId, (es) => es.some((e) => e.type === 'ContextCompacted' || e.type === 'CompactionFailed'))
      return chatId
    }

    it('generates titles and compaction summaries with the override models', async () => {
      await h.config.execute({ type: 'SetModelOverrides', overrides: { compaction: 'helper', titles: 'helper' } }, admin)
      const chatId = await titledAndCompacted()
      const events = await h.events(chatId)
      expect(events.find((e) => e.type === 'ChatRenamed')?.data).toMatchObject({ title: 'helper title' })
      expect(events.find((e) => e.type === 'ContextCompacted')?.data).toMatchObject({ summary: 'helper summary' })
      expect(helperFake.requests.map((b) => (isTitle(b) ? 'title' : isSummary(b) ? 'summary' : 'step')).sort()).toEqual(['summary', 'title'])
      expect((helperFake.requests as { model: string }[]).every((b) => b.model === 'helper-1')).toBe(true)
      // The turn itself stays on the chat's model.
      expect(chatFake.requests.filter((b) => isTitle(b) || isSummary(b))).toHaveLength(0)
      expect(chatFake.requests).toHaveLength(1)

      // The two calls are spend like the step: on their events, in the chat's totals, in the usage read model.
      const tokens = (inputTokens: number, outputTokens: number) => ({ inputTokens, outputTokens, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 })
      expect(events.find((e) => e.type === 'ChatRenamed')?.data).toMatchObject({ call: { modelId: 'helper', usage: tokens(100, 5), costUsd: 0.00015 } })
      expect(events.find((e) => e.type === 'ContextCompacted')?.data).toMatchObject({ call: { modelId: 'helper', usage: tokens(2000, 300), costUsd: 0.005 } })
      const step = events.find((e) => e.type === 'AssistantStepCompleted')!.data as { usage: { inputTokens: number; outputTokens: number }; costUsd: number }
      // (Polled: an open transaction elsewhere on the server can hold the log's head back from a waiter.)
      const chatRow = async () => {
        const [row] = await h.db.query<{ input_tokens: string; output_tokens: string; cost_usd: string }>('select input_tokens, output_tokens, cost_usd from chats where id = $1', [chatId])
        return [Number(row!.input_tokens), Number(row!.output_tokens), Number(row!.cost_usd)]
      }
      await expect.poll(chatRow).toEqual([step.usage.inputTokens + 2100, step.usage.outputTokens + 305, Math.round((step.costUsd + 0.00515) * 1e6) / 1e6])
      const byModel = async () => usageRows(h.db, { organizationId: DEFAULT_ORGANIZATION_ID }, ['model'])
      await expect.poll(async () => (await byModel()).find((r) => r.modelId === 'helper')).toMatchObject({ costMicros: 5150, inputTokens: 2100, outputTokens: 305, steps: 0 })
      expect((await byModel()).find((r) => r.modelId !== 'helper')).toMatchObject({ steps: 1, inputTokens: step.usage.inputTokens })
      // A chat budget that the step alone stays under is spent with them.
      const limitMicros = microsOf(step.costUsd) + 5000
      await h.config.execute({ type: 'SetBudget', budget: { scope: 'chat', period: 'lifetime', organizationId: DEFAULT_ORGANIZATION_ID, userId: null, limitMicros } }, admin)
      const { state } = await foldStream(h.store, chatStream(chatId), chatDecider)
      expect(await new SpendLimits(h.config, h.db).check(state, chatStream(chatId), [])).toMatchObject({ spentMicros: limitMicros + 150 })
    })

    it("falls back to the chat's model when the override model is disabled", async () => {
      await h.config.execute({ type: 'SetModelOverrides', overrides: { compaction: 'helper', titles: 'helper' } }, admin)
      await h.config.execute({ type: 'ConfigureModel', settings: helperModel(false) }, admin)
      const chatId = await titledAndCompacted()
      const events = await h.events(chatId)
      expect(events.find((e) => e.type === 'ChatRenamed')?.data).toMatchObject({ title: 'chat title' })
      expect(events.find((e) => e.type === 'ContextCompacted')?.data).toMatchObject({ summary: 'chat summary' })
      expect(helperFake.requests).toHaveLength(0)
    })

    it('refuses an unknown or disabled override model and a limit outside 1..100, appending nothing', async () => {
      await h.config.execute({ type: 'ConfigureModel', settings: { ...helperModel(false), modelId: 'off' } }, admin)
      const before = (await h.store.readStream(CONFIG_STREAM)).length
      const refusals: [Parameters<Harness['config']['execute']>[0], RegExp][] = [
        [{ type: 'SetModelOverrides', overrides: { titles: 'no-such-model' } }, /titles override names model "no-such-model", which is not configured; use one of: .*fake-model/],
        [{ type: 'SetModelOverrides', overrides: { compaction: 'helper', subAgents: 'off' } }, /subAgents override names model off, which is disabled/],
        [{ type: 'SetSubAgentLimit', maxActive: 0 }, /from 1 to 100; got 0/],
        [{ type: 'SetSubAgentLimit', maxActive: 101 }, /from 1 to 100; got 101/],
        [{ type: 'SetSubAgentLimit', maxActive: 2.5 }, /got 2.5/],
      ]
      for (const [command, message] of refusals) {
        const err = await h.config.execute(command, admin).then(() => null, (e: unknown) => e)
        expect(err, JSON.stringify(command)).toBeInstanceOf(CommandError)
        expect((err as CommandError).code).toBe('INVALID_INPUT')
        expect((err as Error).message).toMatch(message)
      }
      expect((await h.store.readStream(CONFIG_STREAM)).length).toBe(before)
      const state = await h.config.current()
      expect(state.modelOverrides).toEqual({ subAgents: null, compaction: null, titles: null })
      expect(state.maxActiveSubAgents).toBe(10)

      // A job left out keeps its override; null clears it; the same settings again append nothing.
      await h.config.execute({ type: 'SetModelOverrides', overrides: { compaction: 'helper', titles: 'helper' } }, admin)
      await h.config.execute({ type: 'SetModelOverrides', overrides: { titles: null } }, admin)
      expect((await h.config.current()).modelOverrides).toEqual({ subAgents: null, compaction: 'helper', titles: null })
      await h.config.execute({ type: 'SetSubAgentLimit', maxActive: 3 }, admin)
      const after = (await h.store.readStream(CONFIG_STREAM)).length
      await h.config.execute({ type: 'SetModelOverrides', overrides: { compaction: 'helper' } }, admin)
      await h.config.execute({ type: 'SetSubAgentLimit', maxActive: 3 }, admin)
      expect((await h.store.readStream(CONFIG_STREAM)).length).toBe(after)
      expect((await h.config.current()).maxActiveSubAgents).toBe(3)
    })
  })
}
