// Budgets on the real server with the wire-faithful fake model: a limit crossed mid-turn ends the
// turn before the next provider request; usage over GraphQL and /metrics match the recorded costs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Tool } from '../../src/agent/tools/registry.ts'
import { startFakeProvider, type FakeProvider, type ScriptedResponse } from '../fakes/script.ts'
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'
import { startWorkspaceServer, wireText, type ChatLog, type WireMessage, type WorkspaceServer } from '../workspaces/harness.ts'

const backends = [
  { name: 'PGlite', available: true, database: async () => ({ url: undefined as string | undefined, drop: async () => {} }) },
  { name: 'PostgreSQL', available: postgresAvailable, database: createFreshPostgresDatabase },
]

const addTool: Tool = {
  name: 'add',
  description: 'Adds two numbers.',
  inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
  async run(args) {
    const { a, b } = args as { a: number; b: number }
    return { content: String(a + b), isError: false }
  },
}

// The fake model costs 3 / 15 USD per million input / output tokens: 1000 in + 200 out = $0.006.
const STEP_MICROS = 6000
const usage = { input: 1000, output: 200 }
const addStep = (id: string): ScriptedResponse => ({ toolCalls: [{ id, name: 'add', arguments: { a: 1, b: 2 } }], usage })
const ended = (es: ChatLog) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed' || e.type === 'TurnInterrupted')
const turnEnds = (es: ChatLog) => es.filter((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed' || e.type === 'TurnInterrupted')

const SET_BUDGET = `mutation($input: BudgetInput!) { setBudget(input: $input) { budget { scope period orgId userId limitMicros limitUsd } } }`
const USAGE = `query($filter: UsageFilter, $groupBy: [UsageGroup!]) { usage(filter: $filter, groupBy: $groupBy) { userId modelId day costMicros costUsd inputTokens outputTokens steps } }`
const SEND = `mutation($chatId: ID!, $text: String!) { sendMessage(input: { chatId: $chatId, text: $text }) { messageId } }`

for (const backend of backends) {
  describe.skipIf(!backend.available)(`budgets on ${backend.name}`, { timeout: 120_000 }, () => {
    let fake: FakeProvider
    let h: WorkspaceServer
    let drop = async () => {}
    let alice: { userId: string; token: string }
    let bob: { userId: string; token: string }
    let admin: { userId: string; token: string }

    /** Provider requests of the chat whose first message is `prompt` (titles are asked apart). */
    const requestsFor = (prompt: string) =>
      fake.requests.filter((body) => {
        const messages = (body as { messages: WireMessage[] }).messages
        return wireText(messages.find((m) => m.role === 'user') ?? { role: 'user' }) === prompt && !wireText(messages.find((m) => m.role === 'system') ?? { role: 'system' }).startsWith('Write a title')
      }).length
    const configLength = async () => (await h.server.store.readStream('config').catch(() => [])).length
    const caughtUp = async () => h.server.engine.waitForAll(await h.server.store.headCheckpoint())

    beforeAll(async () => {
      fake = await startFakeProvider('openai-chat')
      const db = await backend.database()
      drop = db.drop
      h = await startWorkspaceServer(fake, { databaseUrl: db.url })
      h.server.tools.register(addTool)
      alice = await h.user('alice@example.com', 'member')
      bob = await h.user('bob@example.com', 'member')
      admin = await h.user('platform@example.com', 'admin')
    }, 120_000)
    afterAll(async () => {
      await h?.close()
      await fake?.close()
      await drop()
    })

    it('refuses bad setBudget input with a clear error and appends nothing', async () => {
      const before = await configLength()
      const bad = async (input: Record<string, unknown>, token = admin.token) => (await h.gql(token, SET_BUDGET, { input })).errors?.[0]
      expect(await bad({ scope: 'CHAT', period: 'DAY', limitMicros: 1000 })).toMatchObject({ extensions: { code: 'INVALID_INPUT' }, message: expect.stringMatching(/whole life: leave period out/) })
      expect(await bad({ scope: 'USER', limitMicros: 1000 })).toMatchObject({ extensions: { code: 'INVALID_INPUT' }, message: expect.stringMatching(/needs a period: DAY, WEEK or MONTH/) })
      expect(await bad({ scope: 'USER', period: 'DAY', limitMicros: -5 })).toMatchObject({ extensions: { code: 'INVALID_INPUT' }, message: expect.stringMatching(/whole number of micro-dollars/) })
      expect(await bad({ scope: 'USER', period: 'DAY', limitMicros: 1.5 })).toMatchObject({ extensions: { code: 'INVALID_INPUT' } })
      expect(await bad({ scope: 'ORGANIZATION', period: 'MONTH', limitMicros: 1000, userId: alice.userId })).toMatchObject({ extensions: { code: 'INVALID_INPUT' }, message: expect.stringMatching(/userId is for USER limits only/) })
      expect(await bad({ scope: 'USER', period: 'DAY', limitMicros: 1000, userId: '00000000-0000-4000-8000-000000000000' })).toMatchObject({ extensions: { code: 'INVALID_INPUT' }, message: expect.stringMatching(/is not a member of organization/) })
      expect(await bad({ scope: 'USER', period: 'DAY', limitMicros: 1000, orgId: '00000000-0000-4000-8000-000000000009' })).toMatchObject({ extensions: { code: 'FORBIDDEN' } })
      expect(await bad({ scope: 'USER', period: 'DAY', limitMicros: 1000 }, alice.token)).toMatchObject({ extensions: { code: 'FORBIDDEN' } })
      expect((await h.gql(alice.token, '{ budgets { scope } }')).errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
      expect(await configLength()).toBe(before)
    })

    it('ends a turn whose user daily budget is crossed before the next step, then runs again once the limit is raised', async () => {
      const set = await h.gql(admin.token, SET_BUDGET, { input: { scope: 'USER', period: 'DAY', limitMicros: STEP_MICROS + 1000 } })
      expect(set.data.setBudget.budget).toMatchObject({ scope: 'USER', period: 'DAY', userId: null, limitMicros: 7000, limitUsd: 0.007 })
      const prompt = 'Add numbers for alice.'
      h.script(prompt, [addStep('a1'), addStep('a2'), { text: 'Three, twice.', usage }])
      const chatId = await h.createChat(alice.userId, prompt)
      const events = await h.waitFor(chatId, ended)
      const failed = events.find((e) => e.type === 'TurnFailed')
      if (failed?.type !== 'TurnFailed') throw new Error(`expected TurnFailed, got ${events.map((e) => e.type).join(', ')}`)
      expect(failed.data.errorKind).toBe('budget_exceeded')
      const now = new Date()
      const midnight = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString()
      expect(failed.data.message).toContain('(USER, DAY, the organization default)')
      expect(failed.data.message).toContain('$0.007')
      expect(failed.data.message).toContain(`resets at ${midnight}`)
      // The first step ran its tool, the second crossed the limit; no third request was made.
      expect(events.filter((e) => e.type === 'AssistantStepCompleted')).toHaveLength(2)
      expect(events.filter((e) => e.type === 'ToolCallCompleted')).toHaveLength(2)
      expect(requestsFor(prompt)).toBe(2)
      // The owner reads why in the chat: status ERROR, the limit in lastError.
      let chat: { status: string; lastError: string | null } | undefined
      for (let i = 0; i < 100 && chat?.status !== 'ERROR'; i++, await new Promise((r) => setTimeout(r, 50)))
        chat = (await h.gql(alice.token, 'query($id: ID!) { chat(id: $id) { status lastError } }', { id: chatId })).data?.chat
      expect(chat).toEqual({ status: 'ERROR', lastError: expect.stringContaining('budget of $0.007 (USER, DAY') })

      // A user limit of her own replaces the org default: raised, a new message runs.
      await h.gql(admin.token, SET_BUDGET, { input: { scope: 'USER', period: 'DAY', limitMicros: 1_000_000, userId: alice.userId } })
      expect((await h.gql(alice.token, SEND, { chatId, text: 'Go on.' })).errors).toBeUndefined()
      const after = await h.waitFor(chatId, (es) => turnEnds(es).length === 2)
      expect(turnEnds(after)[1]!.type).toBe('TurnCompleted')
      expect(requestsFor(prompt)).toBe(3)
    })

    it('ends a turn whose chat budget is crossed; the message says it never resets', async () => {
      // Bob has the org default (7000 a day) too: remove it, so only the chat limit applies.
      expect((await h.gql(admin.token, SET_BUDGET, { input: { scope: 'USER', period: 'DAY', limitMicros: null } })).data.setBudget).toEqual({ budget: null })
      await h.gql(admin.token, SET_BUDGET, { input: { scope: 'CHAT', limitMicros: STEP_MICROS + 500 } })
      const budgets = (await h.gql(admin.token, '{ budgets { scope period userId limitMicros } }')).data.budgets
      expect(budgets).toEqual(
        expect.arrayContaining([
          { scope: 'CHAT', period: 'LIFETIME', userId: null, limitMicros: 6500 },
          { scope: 'USER', period: 'DAY', userId: alice.userId, limitMicros: 1_000_000 },
        ]),
      )
      expect(budgets).toHaveLength(2)
      const prompt = 'Add numbers for bob.'
      h.script(prompt, [addStep('b1'), addStep('b2'), { text: 'Done.', usage }])
      const chatId = await h.createChat(bob.userId, prompt)
      const events = await h.waitFor(chatId, ended)
      const failed = events.find((e) => e.type === 'TurnFailed')
      if (failed?.type !== 'TurnFailed') throw new Error(`expected TurnFailed, got ${events.map((e) => e.type).join(', ')}`)
      expect(failed.data.errorKind).toBe('budget_exceeded')
      expect(failed.data.message).toMatch(/This chat's lifetime budget of \$0\.0065 \(CHAT, LIFETIME\) is spent: \$0\.012 used\. It resets never/)
      expect(requestsFor(prompt)).toBe(2)

      await h.gql(admin.token, SET_BUDGET, { input: { scope: 'CHAT', period: 'LIFETIME', limitMicros: 1_000_000 } })
      expect((await h.gql(bob.token, SEND, { chatId, text: 'Go on.' })).errors).toBeUndefined()
      const after = await h.waitFor(chatId, (es) => turnEnds(es).length === 2)
      expect(turnEnds(after)[1]!.type).toBe('TurnCompleted')
      expect(requestsFor(prompt)).toBe(3)
    })

    it('answers usage by user, model and day as recorded; a member reads only their own', async () => {
      // Every step is in the log as a reader of the whole log sees it (an open transaction
      // anywhere on the server holds its horizon back a moment), then in the read model.
      const stepsInLog = async () => (await h.server.store.readAll({ filter: { eventTypes: ['AssistantStepCompleted'] } })).events.length
      await expect.poll(stepsInLog, { timeout: 10_000 }).toBe(6)
      await caughtUp()
      const steps = new Map<string, { micros: number; steps: number; input: number; output: number }>()
      for (const e of (await h.server.store.readAll({ filter: { eventTypes: ['AssistantStepCompleted'] } })).events) {
        const user = e.metadata.actor.onBehalfOf!
        const d = e.data as { costUsd: number; usage: { inputTokens: number; outputTokens: number } }
        const s = steps.get(user) ?? { micros: 0, steps: 0, input: 0, output: 0 }
        steps.set(user, { micros: s.micros + Math.round(d.costUsd * 1e6), steps: s.steps + 1, input: s.input + d.usage.inputTokens, output: s.output + d.usage.outputTokens })
      }
      expect(steps.get(alice.userId)?.steps).toBe(3)
      const today = new Date().toISOString().slice(0, 10)
      const rows = (await h.gql(admin.token, USAGE, { groupBy: ['USER', 'MODEL', 'DAY'] })).data.usage
      expect(rows).toHaveLength(2)
      for (const [userId, s] of steps)
        expect(rows).toContainEqual({ userId, modelId: 'fake-model', day: today, costMicros: s.micros, costUsd: s.micros / 1e6, inputTokens: s.input, outputTokens: s.output, steps: s.steps })
      expect(steps.get(alice.userId)!.micros).toBe(3 * STEP_MICROS)

      const byModel = (await h.gql(admin.token, USAGE, { groupBy: ['MODEL'] })).data.usage
      expect(byModel).toEqual([expect.objectContaining({ userId: null, modelId: 'fake-model', day: null, costMicros: 6 * STEP_MICROS, steps: 6 })])
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString()
      expect((await h.gql(admin.token, USAGE, { filter: { from: tomorrow } })).data.usage).toEqual([])

      // A member: their own usage (the default), never another's.
      const own = (await h.gql(alice.token, USAGE, { groupBy: ['USER'] })).data.usage
      expect(own).toEqual([expect.objectContaining({ userId: alice.userId, costMicros: 3 * STEP_MICROS })])
      const other = await h.gql(alice.token, USAGE, { filter: { userId: bob.userId } })
      expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
      expect(other.data).toBeNull()
    })

    it('serves the spend per model in /metrics', async () => {
      await caughtUp()
      const text = await (await fetch(`${h.server.url}/metrics`)).text()
      expect(text).toContain('# TYPE cairn_spend_usd_total counter')
      expect(text).toContain(`cairn_spend_usd_total{model="fake-model"} ${(6 * STEP_MICROS) / 1e6}`)
      expect(text).toContain('cairn_model_steps_total{model="fake-model"} 6')
      expect(text).not.toContain(alice.userId)
    })
  })
}
