// As-of fold time: the chat read model at revision 10,000 of one chat, folded from the log with
// the projection's own functions, beside a plain SELECT of the same 10,001 rows on the same
// server. As the server answers it (its memo has a checkpoint every 1000 revisions, left by an
// earlier question about the chat), the first time in a process (a fresh memo: all 10,001
// events read and folded), and at revisions 9,999, 9,998, … (about 1000 events past the nearest
// checkpoint, the farthest a revision is from one). The read alone, a page at a time with only the
// columns the fold needs, is the floor of the first.
// Run alone: node --import tsx/esm bench/audit-asof.ts [--json]
import { randomUUID } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { chatAsOf, foldChatAsOf } from '../src/asof/chat-as-of.ts'
import { ChatFoldMemo } from '../src/asof/fold-memo.ts'
import { openDatabase } from '../src/db/database.ts'
import { migrate } from '../src/db/migrate.ts'
import { chatStream, type ChatEvent } from '../src/events/index.ts'
import type { NewEvent } from '../src/eventstore/index.ts'
import { createSqlEventStore } from '../src/eventstore/postgres/index.ts'
import { createFreshPostgresDatabase } from '../test/support/databases.ts'
import { createReport, type Report } from './report.ts'

const REVISION = 10_000
const RUNS = Number(process.env.BENCH_RUNS ?? 15)
const OWNER = '11111111-1111-4111-8111-111111111111'
const ORG = '00000000-0000-4000-8000-000000000001'

/** A realistic turn: a message, a step with a tool call, its start and result, a closing step. */
function turn(n: number): ChatEvent[] {
  const turnId = `t${n}`
  const usage = { inputTokens: 1200 + n, outputTokens: 80, cacheReadTokens: 900, cacheWriteTokens: 0, reasoningTokens: 0 }
  const callId = `call-${n}`
  return [
    { type: 'UserMessagePosted', data: { messageId: `m${n}`, parts: [{ type: 'text', text: `Please look at file ${n} and fix what is broken.` }], authorId: OWNER } },
    { type: 'TurnStarted', data: { turnId, runnerId: 'bench', modelId: 'model' } },
    {
      type: 'AssistantStepCompleted',
      data: {
        turnId, stepId: `s${n}a`, modelId: 'model', text: 'Reading the file first.', reasoning: '', usage, costUsd: 0.0042, finishReason: 'tool_calls', interrupted: false,
        parts: [{ type: 'text', text: 'Reading the file first.' }, { type: 'tool_call', id: callId, name: 'read_file', arguments: { path: `src/f${n}.ts` } }],
        toolCalls: [{ id: callId, name: 'read_file', arguments: { path: `src/f${n}.ts` } }],
      },
    },
    { type: 'ToolCallStarted', data: { turnId, callId, name: 'read_file', arguments: { path: `src/f${n}.ts` } } },
    { type: 'ToolCallCompleted', data: { turnId, callId, name: 'read_file', result: '1: export const x = 1\n'.repeat(20), isError: false, durationMs: 4 } },
    {
      type: 'AssistantStepCompleted',
      data: {
        turnId, stepId: `s${n}b`, modelId: 'model', text: 'Fixed.', reasoning: '', usage, costUsd: 0.0021, finishReason: 'stop', interrupted: false,
        parts: [{ type: 'text', text: 'Fixed.' }], toolCalls: [],
      },
    },
    { type: 'TurnCompleted', data: { turnId } },
  ]
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

export async function benchAsOf(report: Report): Promise<void> {
  const fresh = await createFreshPostgresDatabase()
  const db = await openDatabase({ url: fresh.url })
  const plain = new pg.Pool({ connectionString: fresh.url, max: 2 })
  try {
    await migrate(db)
    const store = createSqlEventStore(db)
    const chatId = randomUUID()
    const stream = chatStream(chatId)
    const events: ChatEvent[] = [
      { type: 'ChatCreated', data: { chatId, ownerId: OWNER, organizationId: ORG, title: 'Long chat', modelId: 'model', workspaceId: null, parentChatId: null, rootChatId: null, agentType: null, planMode: false } },
    ]
    for (let n = 0; events.length <= REVISION + 20; n++) events.push(...turn(n))
    const metadata = { actor: { kind: 'agent' as const, id: 'bench', onBehalfOf: OWNER } }
    for (let i = 0; i < events.length; i += 500) {
      const batch: NewEvent[] = events.slice(i, i + 500).map((e) => ({ id: randomUUID(), type: e.type, data: e.data, metadata }))
      await store.appendToStream(stream, batch, { expectedRevision: i === 0 ? 'no_stream' : BigInt(i - 1) })
    }
    report(`one chat of ${events.length} events; as of revision ${REVISION}, median of ${RUNS} runs`)

    const select = () => plain.query('select * from events where stream = $1 and revision <= $2 order by revision', [stream, REVISION])
    const memo = new ChatFoldMemo()
    const asOf = () => chatAsOf(store, chatId, REVISION, memo)
    const cold = () => chatAsOf(store, chatId, REVISION, new ChatFoldMemo())
    // Each time a revision further down (the memo keeps the last answer's fold too): ~1000 events past checkpoint 9,000.
    let below = 0
    const near = () => chatAsOf(store, chatId, REVISION - 1 - below++, memo)
    await select()
    await asOf()
    // The read alone, as the fold reads it: what a cold fold cannot beat.
    const readForFold = async () => {
      let count = 0
      for await (const page of store.readStreamForFold(stream, { maxCount: REVISION + 1 })) count += page.length
      return count
    }
    const runs = { select: [] as number[], asOf: [] as number[], cold: [] as number[], near: [] as number[], fold: [] as number[], read: [] as number[] }
    const read = await store.readStream(stream, { maxCount: REVISION + 1 })
    for (let i = 0; i < RUNS; i++) {
      runs.select.push(await timed(select))
      runs.asOf.push(await timed(asOf))
      runs.cold.push(await timed(cold))
      runs.near.push(await timed(near))
      runs.fold.push(await timed(async () => foldChatAsOf(read)))
      runs.read.push(await timed(readForFold))
    }
    const result = await asOf()
    if (JSON.stringify(result) !== JSON.stringify(await cold())) throw new Error('the memoized as-of differs from a fold from the first event')
    report(`  folded: ${result.history.messages.length} messages, ${result.row.usage.inputTokens} input tokens, status ${result.row.status}`)
    report(`  plain SELECT of the rows               ${median(runs.select).toFixed(1)} ms`)
    report(`  as-of (read + fold), folded before     ${median(runs.asOf).toFixed(1)} ms   (goal <= 50 ms)`)
    report(`  as-of at 9,999.., ~1000 past 9,000     ${median(runs.near).toFixed(1)} ms`)
    report(`  as-of, first in the process            ${median(runs.cold).toFixed(1)} ms   (every event read and folded)`)
    report(`  read alone, as the fold reads it       ${median(runs.read).toFixed(1)} ms`)
    report(`  fold alone (rows in memory)            ${median(runs.fold).toFixed(1)} ms`)
    report.figure('asof_fold_ms_10k', median(runs.asOf), median(runs.select))
    report.figure('asof_fold_near_ms_10k', median(runs.near), median(runs.select))
    report.figure('asof_fold_cold_ms_10k', median(runs.cold), median(runs.select))
    report.figure('asof_fold_only_ms_10k', median(runs.fold))
    report.figure('asof_read_only_ms_10k', median(runs.read), median(runs.select))
    await store.close()
  } finally {
    await plain.end()
    await db.close()
    await fresh.drop()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchAsOf(createReport('audit', (line) => console.log(line), process.argv.includes('--json')))
}
