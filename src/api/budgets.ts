/** GraphQL for spend limits and usage: admins set budgets and read everyone's usage; members read their own. */
import { randomUUID } from 'node:crypto'
import { CommandError, invalidInput } from '../../commands/errors.ts'
import { budgetKey, type Budget, type BudgetScope } from '../events/budgets.ts'
import { isOrganizationAdmin, canReadUsageOf, requirePrincipal, type Principal } from '../identity/permissions.ts'
import { usageRows, usdOf, type UsageGroup } from '../budgets/usage.ts'
import { configService, eventMetadata, type ApiContext } from './context.ts'

type Resolver<A> = (root: unknown, args: A, ctx: ApiContext) => Promise<unknown>

interface BudgetInput {
  scope: string
  period?: string | null
  limitMicros?: number | null
  orgId?: string | null
  userId?: string | null
}

interface UsageFilterInput {
  from?: string | null
  to?: string | null
  userId?: string | null
  modelId?: string | null
  orgId?: string | null
}

const SCOPES: Record<string, BudgetScope> = { USER: 'user', CHAT: 'chat', ORGANIZATION: 'organization' }

const budgetView = (b: Budget & { limitMicros: number }) => ({
  scope: b.scope.toUpperCase(),
  period: b.period.toUpperCase(),
  orgId: b.organizationId,
  userId: b.userId,
  limitMicros: b.limitMicros,
  limitUsd: usdOf(b.limitMicros),
})

/** An admin of `orgId` (default: the caller's own organization). */
function requireBudgetAdmin(principal: Principal, orgId: string | null | undefined): string {
  const organizationId = orgId ?? principal.organizationId
  if (!isOrganizationAdmin(principal, organizationId)) throw new CommandError('FORBIDDEN', "only admins manage budgets, and only their own organization's")
  return organizationId
}

function parseTime(name: string, value: string | null | undefined): Date | null {
  if (value == null) return null
  const at = new Date(value)
  if (Number.isNaN(at.getTime())) throw invalidInput(`${name} is not a date-time: ${JSON.stringify(value)}; send e.g. 2025-01-31T00:00:00Z`)
  return at
}

export const budgetQueryResolvers: Record<string, Resolver<any>> = {
  async budgets(_root, { orgId }: { orgId?: string | null }, ctx) {
    const organizationId = requireBudgetAdmin(requirePrincipal(ctx.principal), orgId)
    const { budgets } = await configService(ctx).current()
    return Object.values(budgets)
      .filter((b): b is Budget & { limitMicros: number } => b.organizationId === organizationId && b.limitMicros !== null)
      .sort((a, b) => budgetKey(a).localeCompare(budgetKey(b)))
      .map(budgetView)
  },
  async usage(_root, { filter, groupBy }: { filter?: UsageFilterInput | null; groupBy?: string[] | null }, ctx) {
    const principal = requirePrincipal(ctx.principal)
    const organizationId = filter?.orgId ?? principal.organizationId
    if (organizationId !== principal.organizationId) throw new CommandError('FORBIDDEN', "you may read your own organization's usage only")
    // A member's usage is their own: without a userId the query is limited to them.
    const userId = filter?.userId ?? (principal.role === 'admin' ? null : principal.userId)
    if (userId !== null && !canReadUsageOf(principal, userId)) throw new CommandError('FORBIDDEN', "only admins read other users' usage; leave userId out to read your own")
    const from = parseTime('from', filter?.from)
    const to = parseTime('to', filter?.to)
    if (from && to && to < from) throw invalidInput(`to (${to.toISOString()}) is before from (${from.toISOString()})`)
    const groups = (groupBy ?? []).map((g) => g.toLowerCase() as UsageGroup)
    const rows = await usageRows(ctx.api.db, { organizationId, userId, modelId: filter?.modelId ?? null, from, to }, groups)
    return rows.map((r) => ({ ...r, costUsd: usdOf(r.costMicros) }))
  },
}

export const budgetMutationResolvers: Record<string, Resolver<any>> = {
  async setBudget(_root, { input }: { input: BudgetInput }, ctx) {
    const principal = requirePrincipal(ctx.principal)
    const organizationId = requireBudgetAdmin(principal, input.orgId)
    const scope = SCOPES[input.scope]
    if (!scope) throw invalidInput(`scope is USER, CHAT or ORGANIZATION; got ${JSON.stringify(input.scope)}`)
    const period = (input.period?.toLowerCase() ?? (scope === 'chat' ? 'lifetime' : '')) as Budget['period']
    const userId = input.userId ?? null
    if (userId !== null && scope === 'user' && !(await ctx.api.db.query('select 1 from user_org_roles where user_id::text = $1 and roles ? $2', [userId, organizationId])).length)
      throw invalidInput(`user ${userId} is not a member of organization ${organizationId}`)
    const budget: Budget = { scope, period, organizationId, userId, limitMicros: input.limitMicros ?? null }
    const state = await configService(ctx).execute({ type: 'SetBudget', budget }, eventMetadata(ctx, principal, randomUUID()))
    const set = state.budgets[budgetKey(budget)]
    return { budget: set && set.limitMicros !== null ? budgetView(set as Budget & { limitMicros: number }) : null }
  },
}
