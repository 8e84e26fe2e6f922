// Spend limits, checked by the driver before each model step (see ARCHITECTURE.md, "Budgets").
import type { ConfigService } from '../config/service.ts'
import type { Sql } from '../db/database.ts'
import { budgetKey, type Budget, type BudgetPeriod } from '../events/budgets.ts'
import type { ChatState } from '../events/chat-state.ts'
import type { StoredEvent } from '../eventstore/types.ts'
import { chatSpend, microsOf, spentSince } from './usage.ts'
import { modelCallOf } from '../events/model-calls.ts'
import type { ChatEvent, Stored } from '../events/index.ts'

/** The limit a chat's next step would go past. */
export interface BudgetExceeded {
  budget: Budget & { limitMicros: number }
  spentMicros: number
  /** When the period's spend starts again from zero; null for a chat's lifetime limit. */
  resetsAt: Date | null
  /** For the user, in `TurnFailed.message`: which limit, how much, when it resets. */
  message: string
}

/** What the driver asks before each model step; null: the step may run. */
export interface BudgetGuard {
  check(chat: ChatState, stream: string, events: readonly StoredEvent[], now?: Date): Promise<BudgetExceeded | null>
}

/** The UTC calendar period `now` falls in (weeks start on Monday); a lifetime never resets. */
export function periodOf(period: BudgetPeriod, now: Date): { start: Date | null; resetsAt: Date | null } {
  const y = now.getUTCFullYear()
  const m = now.getUTCMonth()
  const d = now.getUTCDate()
  switch (period) {
    case 'day':
      return { start: new Date(Date.UTC(y, m, d)), resetsAt: new Date(Date.UTC(y, m, d + 1)) }
    case 'week': {
      const sinceMonday = (now.getUTCDay() + 6) % 7
      return { start: new Date(Date.UTC(y, m, d - sinceMonday)), resetsAt: new Date(Date.UTC(y, m, d - sinceMonday + 7)) }
    }
    case 'month':
      return { start: new Date(Date.UTC(y, m, 1)), resetsAt: new Date(Date.UTC(y, m + 1, 1)) }
    case 'lifetime':
      return { start: null, resetsAt: null }
  }
}

/** $0.01, $1.50, $0.012345: at least cents, at most micro-dollars. */
export const formatUsd = (micros: number) => `$${(micros / 1_000_000).toFixed(6).replace(/(\.\d\d\d*?)0+$/, '$1')}`

const PERIOD_WORDS: Record<BudgetPeriod, string> = { day: 'daily', week: 'weekly', month: 'monthly', lifetime: 'lifetime' }

export function exceededMessage(budget: Budget & { limitMicros: number }, spentMicros: number, start: Date | null, resetsAt: Date | null): string {
  const whose = budget.scope === 'chat' ? "This chat's" : budget.scope === 'user' ? "The chat owner's" : "The organization's"
  const which = `${whose} ${PERIOD_WORDS[budget.period]} budget of ${formatUsd(budget.limitMicros)} (${budget.scope.toUpperCase()}, ${budget.period === 'lifetime' ? 'LIFETIME' : budget.period.toUpperCase()}${budget.scope === 'user' && budget.userId === null ? ', the organization default' : ''})`
  const used = `${formatUsd(spentMicros)} used${start ? ` since ${start.toISOString()}` : ''}`
  return `${which} is spent: ${used}. It resets ${resetsAt ? `at ${resetsAt.toISOString()}` : 'never'}; an admin can raise it (setBudget).`
}

/**
 * Reads the admin's limits from the config service and the spend from the usage read model
 * (projections/usage.ts), plus the chat's own steps that the projection has not applied yet
 * (from the driver's fold). Steps of the user's or org's other chats still in flight are not
 * seen: a limit may be overshot by those.
 */
export class SpendLimits implements BudgetGuard {
  constructor(
    private readonly config: ConfigService,
    private readonly db: Sql,
    /** The clock periods are reckoned by (tests move it to the next day). */
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async check(chat: ChatState, stream: string, events: readonly StoredEvent[], now = this.clock()): Promise<BudgetExceeded | null> {
    const { budgets } = await this.config.current()
    const org = chat.organizationId
    const find = (scope: Budget['scope'], period: BudgetPeriod, userId: string | null) =>
      budgets[budgetKey({ scope, period, organizationId: org, userId })] as (Budget & { limitMicros: number }) | undefined
    const limits: (Budget & { limitMicros: number })[] = []
    const chatLimit = find('chat', 'lifetime', null)
    if (chatLimit) limits.push(chatLimit)
    for (const period of ['day', 'week', 'month'] as const) {
      const user = find('user', period, chat.ownerId) ?? find('user', period, null)
      if (user) limits.push(user)
      const organization = find('organization', period, null)
      if (organization) limits.push(organization)
    }
    if (limits.length === 0) return null

    const recorded = await chatSpend(this.db, stream)
    const unapplied = events.flatMap((e) => {
      const call = e.stream === stream && e.revision > recorded.throughRevision ? modelCallOf(e as Stored<ChatEvent>) : null
      return call ? [{ at: e.createdAt, micros: microsOf(call.costUsd) }] : []
    })
    for (const budget of limits) {
      const { start, resetsAt } = periodOf(budget.period, now)
      const pending = unapplied.filter((s) => start === null || s.at >= start).reduce((sum, s) => sum + s.micros, 0)
      const spent =
        pending +
        (budget.scope === 'chat'
          ? recorded.costMicros
          : await spentSince(this.db, org, budget.scope === 'user' ? chat.ownerId : null, start!.toISOString().slice(0, 10)))
      if (spent >= budget.limitMicros) return { budget, spentMicros: spent, resetsAt, message: exceededMessage(budget, spent, start, resetsAt) }
    }
    return null
  }
}
