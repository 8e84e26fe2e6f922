// What a model step cost, and the spend the usage read model (projections/usage.ts) answers with.
import type { Sql } from '../db/database.ts'
import type { StoredEvent } from '../eventstore/types.ts'
import type { ModelCall } from '../events/chat.ts'

/** USD to micro-units of the price book (USD × 1,000,000), the unit every sum and limit is kept in. */
export const microsOf = (usd: number) => Math.round((Number.isFinite(usd) ? usd : 0) * 1_000_000)
export const usdOf = (micros: number) => micros / 1_000_000

/** A model call an event records (`modelCallOf`) as a usage row: whose (the chat owner the runner acted for), which org, model and UTC day. */
export function callUsageOf(event: StoredEvent, call: ModelCall) {
  const { actor, organizationId } = event.metadata
  return {
    organizationId: organizationId ?? '',
    userId: actor.onBehalfOf ?? (actor.kind === 'user' ? actor.id : ''),
    modelId: call.modelId ?? '',
    day: event.createdAt.toISOString().slice(0, 10),
    costMicros: microsOf(call.costUsd ?? 0),
    inputTokens: call.usage?.inputTokens ?? 0,
    outputTokens: call.usage?.outputTokens ?? 0,
  }
}

export type UsageGroup = 'user' | 'model' | 'day'

export interface UsageFilter {
  organizationId: string
  /** Days whose start lies in [from's UTC day, to). */
  from?: Date | null
  to?: Date | null
  userId?: string | null
  modelId?: string | null
}

export interface UsageRow {
  userId: string | null
  modelId: string | null
  day: string | null
  costMicros: number
  inputTokens: number
  outputTokens: number
  steps: number
}

const GROUP_COLUMNS: Record<UsageGroup, string> = { user: 'user_id', model: 'model_id', day: `to_char(day, 'YYYY-MM-DD')` }

/** Sums of `usage_daily` under the filter, one row per combination of the group keys (one row in all without any). */
export async function usageRows(db: Sql, filter: UsageFilter, groupBy: readonly UsageGroup[]): Promise<UsageRow[]> {
  const where = ['organization_id = $1']
  const params: unknown[] = [filter.organizationId]
  const add = (sql: string, value: unknown) => where.push(sql.replace('?', `$${params.push(value)}`))
  if (filter.from) add('day >= ?::date', filter.from.toISOString().slice(0, 10))
  if (filter.to) add('day::timestamp < ?::timestamp', filter.to.toISOString().replace('Z', ''))
  if (filter.userId) add('user_id = ?', filter.userId)
  if (filter.modelId) add('model_id = ?', filter.modelId)
  const groups = [...new Set(groupBy)]
  const keys = groups.map((g) => `${GROUP_COLUMNS[g]} as ${g}`)
  const rows = await db.query<{ user?: string; model?: string; day?: string; cost: number; input: number; output: number; steps: number }>(
    `select ${[...keys, ''].join(', ')}
       coalesce(sum(cost_micros), 0)::float8 as cost, coalesce(sum(input_tokens), 0)::float8 as input,
       coalesce(sum(output_tokens), 0)::float8 as output, coalesce(sum(steps), 0)::float8 as steps
     from usage_daily where ${where.join(' and ')}
     ${groups.length ? `group by ${groups.map((g) => GROUP_COLUMNS[g]).join(', ')} order by ${groups.map((_, i) => i + 1).join(', ')}` : ''}`,
    params,
  )
  return rows
    .filter((r) => groups.length > 0 || r.steps > 0)
    .map((r) => ({
      userId: r.user ?? null,
      modelId: r.model ?? null,
      day: r.day ?? null,
      costMicros: Number(r.cost),
      inputTokens: Number(r.input),
      outputTokens: Number(r.output),
      steps: Number(r.steps),
    }))
}

/** Spend and steps per model over every organization, for `/metrics` (few labels: models, not users). */
export async function spendByModel(db: Sql): Promise<{ modelId: string; costMicros: number; steps: number; inputTokens: number; outputTokens: number }[]> {
  const rows = await db.query<{ model_id: string; cost: number; steps: number; input: number; output: number }>(
    `select model_id, sum(cost_micros)::float8 as cost, sum(steps)::float8 as steps, sum(input_tokens)::float8 as input, sum(output_tokens)::float8 as output
     from usage_daily group by model_id order by model_id`,
  )
  return rows.map((r) => ({ modelId: r.model_id, costMicros: Number(r.cost), steps: Number(r.steps), inputTokens: Number(r.input), outputTokens: Number(r.output) }))
}

/** A user's (or, without userId, the whole org's) spend on days from `since`. */
export async function spentSince(db: Sql, organizationId: string, userId: string | null, since: string): Promise<number> {
  const [row] = await db.query<{ cost: number }>(
    `select coalesce(sum(cost_micros), 0)::float8 as cost from usage_daily where organization_id = $1 and day >= $2::date${userId === null ? '' : ' and user_id = $3'}`,
    userId === null ? [organizationId, since] : [organizationId, since, userId],
  )
  return Number(row?.cost ?? 0)
}

/** A chat stream's own recorded spend and the last revision it covers (-1: none yet). */
export async function chatSpend(db: Sql, stream: string): Promise<{ costMicros: number; throughRevision: bigint }> {
  const [row] = await db.query<{ cost: number; through: string }>(`select cost_micros::float8 as cost, through_revision::text as through from usage_chats where stream = $1`, [stream])
  return row ? { costMicros: Number(row.cost), throughRevision: BigInt(row.through) } : { costMicros: 0, throughRevision: -1n }
}
