import type { Sql } from '../src/db/database.ts'
import type { StoredEvent } from '../src/eventstore/types.ts'
import { inBatches, type Projection, type ProjectionBatch } from '../src/projections/types.ts'
import { callUsageOf } from '../src/budgets/usage.ts'
import { MODEL_CALL_EVENT_TYPES, modelCallOf } from '../src/events/model-calls.ts'
import type { ChatEvent, Stored } from '../src/events/index.ts'

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
 * stream's own spend), from every model call a chat records (`modelCallOf`: steps, compaction
 * summaries, generated titles; `steps` counts the steps). A batch sums in memory and writes each row once.
 */
export const usageProjection: Projection = {
  name: 'usage',
  eventTypes: MODEL_CALL_EVENT_TYPES,
  tables: ['usage_daily', 'usage_chats'],
  handle: inBatches(addCall),
  // Nobody reads it within the moment (a waiter cuts the pause short): fewer, larger transactions.
  batchDelayMs: 250,
}

async function addCall(tx: Sql, event: StoredEvent, batch: ProjectionBatch): Promise<void> {
  const call = modelCallOf(event as Stored<ChatEvent>)
  if (!call) return
  let memo = batch.memo.get('usage') as { days: Map<string, DayRow>; chats: Map<string, ChatRow> } | undefined
  if (!memo) {
    const m = (memo = { days: new Map<string, DayRow>(), chats: new Map<string, ChatRow>() })
    batch.memo.set('usage', m)
    batch.beforeCommit(() => writeUsage(tx, m.days, m.chats))
  }
  const used = callUsageOf(event, call)
  const steps = call.step ? 1 : 0
  const dayKey = `${used.organizationId}/${used.userId}/${used.modelId}/${used.day}`
  const day = memo.days.get(dayKey) ?? { ...used, costMicros: 0, inputTokens: 0, outputTokens: 0, steps: 0 }
  day.costMicros += used.costMicros
  day.inputTokens += used.inputTokens
  day.outputTokens += used.outputTokens
  day.steps += steps
  memo.days.set(dayKey, day)
  const chat = memo.chats.get(event.stream) ?? { costMicros: 0, steps: 0, throughRevision: event.revision }
  chat.costMicros += used.costMicros
  chat.steps += steps
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
