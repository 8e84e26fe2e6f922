/** Spend limits (issue 13): recorded on the `config` stream as `BudgetSet`, enforced before each model step. */

/** Whose spend a limit counts: one user's (in an org), one chat's (its own steps), or a whole org's. */
export type BudgetScope = 'user' | 'chat' | 'organization'
/** UTC calendar periods (weeks start on Monday); a chat's limit is for its lifetime. */
export type BudgetPeriod = 'day' | 'week' | 'month' | 'lifetime'

export interface Budget {
  scope: BudgetScope
  period: BudgetPeriod
  organizationId: string
  /** scope `user` only: this user's limit; null: the org's default for each of its users. */
  userId: string | null
  /** Micro-units of the price book: USD × 1,000,000. Null removes the limit. */
  limitMicros: number | null
}

/** One limit per (scope, period, org, user). */
export const budgetKey = (b: Pick<Budget, 'scope' | 'period' | 'organizationId' | 'userId'>) => `${b.scope}/${b.period}/${b.organizationId}/${b.userId ?? '*'}`
