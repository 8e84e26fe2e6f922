import type { Sql } from '../src/db/database.ts'
import type { StoredEvent } from '../src/eventstore/types.ts'
import { inBatches, type Projection, type ProjectionBatch } from '../src/projections/types.ts'
import { stepUsageOf } from '../src/budgets/usage.ts'

interface DayRow {
  organizationId: string
  userId: string
  modelId: string
  day: string
  costMicros: number
  inputTokens: number
  outputTokens: number
  steps: number
}

interface ChatRow {
  costMicros: number
  steps: number
  throughRevision: bigint
}

/**
 * `usage_daily` (spend and tokens per org, user, model and UTC day) and `usage_chats` (each chat
 * stream's own spend), from `AssistantStepCompleted`. A batch sums in memory and writes each row once.
 */
export const usageProjection: Projection = {
  name: 'usage',
  eventTypes: ['AssistantStepCompleted'],
  tables: ['usage_daily', 'usage_chats'],
  handle: inBatches(addStep),
  // Nobody reads it within the moment (a waiter cuts the pause short): fewer, larger transactions.
  batchDelayMs: 250,
}

async function addStep(tx: Sql, event: StoredEvent, batch: ProjectionBatch): Promise<void> {
  if (event.type !== 'AssistantStepCompleted') return
  let memo = batch.memo.get('usage') as { days: Map<string, DayRow>; chats: Map<string, ChatRow> } | undefined
  if (!memo) {
    const m = (memo = { days: new Map<string, DayRow>(), chats: new Map<string, ChatRow>() })
    batch.memo.set('usage', m)
    batch.beforeCommit(() => writeUsage(tx, m.days, m.chats))
  }
  const step = stepUsageOf(event)
  const dayKey = `${step.organizationId}/${step.userId}/${step.modelId}/${step.day}`
  const day = memo.days.get(dayKey) ?? { ...step, costMicros: 0, inputTokens: 0, outputTokens: 0, steps: 0 }
  day.costMicros += step.costMicros
  day.inputTokens += step.inputTokens
  day.outputTokens += step.outputTokens
  day.steps += 1
  memo.days.set(dayKey, day)
  const chat = memo.chats.get(event.stream) ?? { costMicros: 0, steps: 0, throughRevision: event.revision }
  chat.costMicros += step.costMicros
  chat.steps += 1
  if (event.revision > chat.throughRevision) chat.throughRevision = event.revision
  memo.chats.set(event.stream, chat)
}

async function writeUsage(tx: Sql, days: Map<string, DayRow>, chats: Map<string, ChatRow>): Promise<void> {
  for (const d of days.values())
    await tx.query(
      `insert into usage_daily as u (organization_id, user_id, model_id, day, cost_micros, input_tokens, output_tokens, steps)
       values ($1, $2, $3, $4::date, $5, $6, $7, $8)
       on conflict (organization_id, user_id, model_id, day) do update set
         cost_micros = u.cost_micros + excluded.cost_micros, input_tokens = u.input_tokens + excluded.input_tokens,
         output_tokens = u.output_tokens + excluded.output_tokens, steps = u.steps + excluded.steps`,
      [d.organizationId, d.userId, d.modelId, d.day, d.costMicros, d.inputTokens, d.outputTokens, d.steps],
    )
  for (const [stream, c] of chats)
    await tx.query(
      `insert into usage_chats as c (stream, cost_micros, steps, through_revision) values ($1, $2, $3, $4)
       on conflict (stream) do update set cost_micros = c.cost_micros + excluded.cost_micros, steps = c.steps + excluded.steps,
         through_revision = greatest(c.through_revision, excluded.through_revision)`,
      [stream, c.costMicros, c.steps, c.throughRevision.toString()],
    )
}
