// The Prometheus text exposition format (version 0.0.4), written by hand: a few gauges and
// counters do not need a client library.
import type { EventStore } from './eventstore/types.ts'
import type { ProjectionStatus } from './projections/types.ts'
import { subscriptionBufferStats } from './live/bounded.ts'

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export interface MetricSample {
  labels?: Record<string, string>
  value: number
}

export interface MetricFamily {
  name: string
  help: string
  type: 'gauge' | 'counter'
  samples: MetricSample[]
}

export function renderMetrics(families: readonly MetricFamily[]): string {
  const lines: string[] = []
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
    lines.push(`# TYPE ${family.name} ${family.type}`)
    for (const sample of family.samples) lines.push(`${family.name}${renderLabels(sample.labels)} ${renderValue(sample.value)}`)
  }
  return lines.join('\n') + '\n'
}

function renderLabels(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {})
  if (!entries.length) return ''
  const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
  return `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}`
}

function renderValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}

/** Counts events appended through this process; Prometheus sums the counter across processes. */
export class AppendCounter {
  events = 0
  /** The same store, counting each successful append. */
  wrap(store: EventStore): EventStore {
    const countingAppend: EventStore['appendToStream'] = async (stream, events, options) => {
      const result = await store.appendToStream(stream, events, options)
      this.events += events.length
      return result
    }
    // A Proxy rather than a copy, so a class-based store keeps its private fields as `this`.
    return new Proxy(store, {
      get(target, prop) {
        if (prop === 'appendToStream') return countingAppend
        const value: unknown = Reflect.get(target, prop, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  }
}

export interface MetricsInput {
  projections: ProjectionStatus[]
  eventsAppended: number
  /** Recorded model spend per model, from the usage read model (src/budgets/usage.ts). */
  spend?: { modelId: string; costMicros: number; steps: number; inputTokens: number; outputTokens: number }[]
}

/** What `GET /metrics` serves: projection lag, appends, subscriptions, and the process's memory and uptime. */
export function cairnMetrics(input: MetricsInput): MetricFamily[] {
  const memory = process.memoryUsage()
  const byProjection = (value: (p: ProjectionStatus) => number) =>
    input.projections.map((p) => ({ labels: { projection: p.name }, value: value(p) }))
  return [
    {
      name: 'cairn_projection_lag_events',
      help: 'Events of the projection\'s types not yet applied to its read model.',
      type: 'gauge',
      samples: byProjection((p) => p.lag),
    },
    {
      name: 'cairn_projection_failing',
      help: '1 while the projection\'s handler fails and its loop retries, else 0.',
      type: 'gauge',
      samples: byProjection((p) => (p.error ? 1 : 0)),
    },
    {
      name: 'cairn_events_appended_total',
      help: 'Events appended to the log through this process.',
      type: 'counter',
      samples: [{ value: input.eventsAppended }],
    },
    ...spendFamilies(input.spend ?? []),
    { name: 'cairn_subscriptions_open', help: 'GraphQL subscriptions open on this process.', type: 'gauge', samples: [{ value: subscriptionBufferStats.open }] },
    {
      name: 'cairn_subscriptions_cut_total',
      help: 'Subscribers disconnected (close code 4008) because they fell a whole buffer behind.',
      type: 'counter',
      samples: [{ value: subscriptionBufferStats.overflows }],
    },
    {
      name: 'cairn_subscription_buffer_high_water',
      help: 'The most items any one subscription buffer has held (bounded by its capacity).',
      type: 'gauge',
      samples: [{ value: subscriptionBufferStats.highWater }],
    },
    { name: 'process_resident_memory_bytes', help: 'Resident set size in bytes.', type: 'gauge', samples: [{ value: memory.rss }] },
    { name: 'nodejs_heap_used_bytes', help: 'V8 heap in use in bytes.', type: 'gauge', samples: [{ value: memory.heapUsed }] },
    {
      name: 'process_uptime_seconds',
      help: 'Seconds since the process started.',
      type: 'gauge',
      samples: [{ value: Math.round(process.uptime() * 1000) / 1000 }],
    },
  ]
}

/** Spend, steps and tokens per model (never per user: the label set stays small). */
function spendFamilies(spend: NonNullable<MetricsInput['spend']>): MetricFamily[] {
  const byModel = (value: (s: (typeof spend)[number]) => number) => spend.map((s) => ({ labels: { model: s.modelId }, value: value(s) }))
  return [
    { name: 'cairn_spend_usd_total', help: 'Recorded model spend in USD (the price book), per model.', type: 'counter', samples: byModel((s) => s.costMicros / 1_000_000) },
    { name: 'cairn_model_steps_total', help: 'Recorded model steps, per model.', type: 'counter', samples: byModel((s) => s.steps) },
    { name: 'cairn_model_input_tokens_total', help: 'Input tokens of recorded model steps, per model.', type: 'counter', samples: byModel((s) => s.inputTokens) },
    { name: 'cairn_model_output_tokens_total', help: 'Output tokens of recorded model steps, per model.', type: 'counter', samples: byModel((s) => s.outputTokens) },
  ]
}
