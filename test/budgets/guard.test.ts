// The spend guard on its own: periods, the config decider's budget rules, and what it reads — the
// usage projection plus the chat's own steps the projection has not applied yet, each counted once.
import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { configDecider } from '../../commands/config/decide.ts'
import { SpendLimits, formatUsd, periodOf } from '../../src/budgets/guard.ts'
import { SecretStore } from '../../src/config/secrets.ts'
import { ConfigService } from '../../src/config/service.ts'
import type { Budget } from '../../src/events/budgets.ts'
import { initialChatState } from '../../src/events/chat-state.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import type { EventMetadata, EventStore } from '../../src/eventstore/types.ts'
import { createProjectionEngine } from '../../src/projections/engine.ts'
import type { ProjectionEngine } from '../../src/projections/types.ts'
import { usageProjection } from '../../projections/usage.ts'
import { spec } from '../commands/spec.ts'
import { backends } from '../support/databases.ts'

const ORG = '00000000-0000-4000-8000-000000000001'
const ALICE = '00000000-0000-4000-8000-0000000000aa'
const BOB = '00000000-0000-4000-8000-0000000000bb'
const budget = (b: Partial<Budget>): Budget => ({ scope: 'user', period: 'day', organizationId: ORG, userId: null, limitMicros: 1000, ...b })

describe('budget periods', () => {
  it('reckons UTC days, Monday weeks and calendar months, and a lifetime that never resets', () => {
    const sunday = new Date('2026-12-06T23:59:59Z')
    expect(periodOf('day', sunday)).toEqual({ start: new Date('2026-12-06T00:00:00Z'), resetsAt: new Date('2026-12-07T00:00:00Z') })
    expect(periodOf('week', sunday)).toEqual({ start: new Date('2026-11-30T00:00:00Z'), resetsAt: new Date('2026-12-07T00:00:00Z') })
    expect(periodOf('week', new Date('2026-12-07T00:00:00Z')).start).toEqual(new Date('2026-12-07T00:00:00Z'))
    expect(periodOf('month', sunday)).toEqual({ start: new Date('2026-12-01T00:00:00Z'), resetsAt: new Date('2027-01-01T00:00:00Z') })
    expect(periodOf('lifetime', sunday)).toEqual({ start: null, resetsAt: null })
  })

  it('writes amounts in dollars, at least cents, at most micro-dollars', () => {
    expect([formatUsd(7000), formatUsd(1_000_000), formatUsd(12_345), formatUsd(0)]).toEqual(['$0.007', '$1.00', '$0.012345', '$0.00'])
  })
})

describe('SetBudget', () => {
  const config = spec(configDecider)
  it('records a limit, decides nothing for the same one again, and removes it with null', () => {
    config.given([]).when({ type: 'SetBudget', budget: budget({}) }).then([{ type: 'BudgetSet', data: budget({}) }])
    config.given([{ type: 'BudgetSet', data: budget({}) }]).when({ type: 'SetBudget', budget: budget({}) }).then([])
    config.given([{ type: 'BudgetSet', data: budget({}) }]).when({ type: 'SetBudget', budget: budget({ limitMicros: null }) }).then([{ type: 'BudgetSet', data: budget({ limitMicros: null }) }])
    config.given([{ type: 'BudgetSet', data: budget({}) }, { type: 'BudgetSet', data: budget({ limitMicros: null }) }]).when({ type: 'SetBudget', budget: budget({ limitMicros: null }) }).then([])
  })
  it('refuses a period the scope does not have, a user on a non-user limit, and amounts that are not whole micro-dollars', () => {
    const refused = (b: Partial<Budget>, message: RegExp) => config.given([]).when({ type: 'SetBudget', budget: budget(b) }).thenThrows('INVALID_INPUT', message)
    refused({ scope: 'chat', period: 'day' }, /leave period out/)
    refused({ scope: 'organization', period: 'lifetime' }, /needs a period/)
    refused({ scope: 'chat', period: 'lifetime', userId: ALICE }, /userId is for USER limits only/)
    refused({ limitMicros: -1 }, /whole number of micro-dollars/)
    refused({ limitMicros: 0.5 }, /whole number of micro-dollars/)
    refused({ limitMicros: 2e15 }, /whole number of micro-dollars/)
    refused({ organizationId: ' ' }, /organization id/)
  })
})

for (const backend of backends) {
  describe.skipIf(!backend.available)(`SpendLimits on ${backend.name}`, () => {
    let store: EventStore
    let engine: ProjectionEngine
    let config: ConfigService
    let close: () => Promise<void>
    let guard: SpendLimits
    const admin: EventMetadata = { actor: { kind: 'system', id: 'test' } }
    const chatOf = (ownerId: string) => ({ ...initialChatState(), exists: true, ownerId, organizationId: ORG })
    const setBudget = (b: Partial<Budget>) => config.execute({ type: 'SetBudget', budget: budget(b) }, admin)
    async function step(chatId: string, ownerId: string, costUsd: number) {
      const meta: EventMetadata = { actor: { kind: 'agent', id: 'runner:test', onBehalfOf: ownerId }, organizationId: ORG }
      const usage = { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }
      const data = { turnId: 't', stepId: randomUUID(), modelId: 'm', parts: [], text: '', reasoning: '', toolCalls: [], usage, costUsd, finishReason: 'stop', interrupted: false }
      return store.appendToStream(`chat-${chatId}`, [{ id: randomUUID(), type: 'AssistantStepCompleted', data, metadata: meta }])
    }
    const check = async (chatId: string, ownerId: string, now?: Date) => guard.check(chatOf(ownerId), `chat-${chatId}`, await store.readStream(`chat-${chatId}`), now)

    beforeEach(async () => {
      const opened = await backend.open()
      store = createSqlEventStore(opened.db)
      engine = createProjectionEngine({ db: opened.db, store, projections: [usageProjection] })
      config = new ConfigService(store, new SecretStore(opened.db, Buffer.alloc(32, 7)), { streamSilenceMs: 5_000 })
      guard = new SpendLimits(config, opened.db)
      close = async () => {
        await engine.stop()
        await config.close()
        await store.close()
        await opened.close()
      }
    })
    afterEach(() => close())

    it("counts the chat's own steps before the projection applies them, and each step once after", async () => {
      await setBudget({ scope: 'chat', period: 'lifetime', limitMicros: 1500 })
      const chat = randomUUID()
      await step(chat, ALICE, 0.001)
      expect(await check(chat, ALICE)).toBeNull()
      const last = await step(chat, ALICE, 0.001)
      // Not projected yet (the engine has not started): the fold's steps alone cross the limit.
      expect(await check(chat, ALICE)).toMatchObject({ budget: { scope: 'chat' }, spentMicros: 2000, resetsAt: null })
      await engine.start()
      // The append's own checkpoint, not the head as a reader sees it now (an open transaction
      // anywhere on the server may hold that back before this step).
      await engine.waitForAll(last.checkpoint)
      expect(await check(chat, ALICE)).toMatchObject({ spentMicros: 2000 })
      // A fork counts its own steps: the inherited ones are the source's.
      const fork = randomUUID()
      await store.appendToStream(`chat-${fork}`, [{ id: randomUUID(), type: 'ChatForked', data: { chatId: fork, sourceChatId: chat }, metadata: admin }], {
        forkOf: { stream: `chat-${chat}`, revision: 1n },
      })
      expect((await store.readStream(`chat-${fork}`)).filter((e) => e.type === 'AssistantStepCompleted')).toHaveLength(2)
      expect(await check(fork, ALICE)).toBeNull()
    })

    it("sums a user's and the organization's spend per period; a user's own limit replaces the default", async () => {
      await engine.start()
      const [a, b] = [randomUUID(), randomUUID()]
      const first = await step(a, ALICE, 0.002)
      const second = await step(b, BOB, 0.003)
      await engine.waitForAll(first.checkpoint)
      await engine.waitForAll(second.checkpoint)
      await setBudget({ scope: 'user', period: 'week', limitMicros: 2500 })
      expect(await check(a, ALICE)).toBeNull()
      expect(await check(b, BOB)).toMatchObject({ budget: { scope: 'user', period: 'week', userId: null }, spentMicros: 3000 })
      await setBudget({ scope: 'user', period: 'week', userId: BOB, limitMicros: 10_000 })
      expect(await check(b, BOB)).toBeNull()
      await setBudget({ scope: 'organization', period: 'month', limitMicros: 5000 })
      const over = await check(a, ALICE)
      expect(over).toMatchObject({ budget: { scope: 'organization', period: 'month' }, spentMicros: 5000 })
      expect(over!.message).toMatch(/The organization's monthly budget of \$0\.005 \(ORGANIZATION, MONTH\) is spent: \$0\.005 used since \d{4}-\d\d-01T00:00:00\.000Z\. It resets at \d{4}-\d\d-01T00:00:00\.000Z/)
      // Next month the period starts again.
      const now = new Date()
      expect(await check(a, ALICE, new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)))).toBeNull()
    })
  })
}
