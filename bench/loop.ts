// The agent loop. (a) Overhead: one 50-step tool-calling turn through Cairn (the real AgentRunner,
// every step committed to the log, projections running) against a bare loop calling the same
// provider adapter and tool with no persistence. (b) Load: N concurrent chats, the fake model
// streaming at a realistic pace: committed events/s, TextDelta pacing as a subscriber in this
// process sees it, CPU and peak RSS of this process (server and fake provider both live here).
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { chatDecider } from '../commands/chat/decide.ts'
import { handleCommand } from '../commands/handler.ts'
import { projections } from '../projections/index.ts'
import { AgentRunner } from '../src/agent/runner.ts'
import type { Tool } from '../src/agent/tools/registry.ts'
import { ephemeralFor } from '../src/live/ephemeral.ts'
import { openDatabase, type Database } from '../src/db/database.ts'
import { migrate } from '../src/db/migrate.ts'
import { chatStream, DEFAULT_ORGANIZATION_ID } from '../src/events/index.ts'
import type { EventMetadata } from '../src/eventstore/types.ts'
import { createProvider, type AssistantPart, type ModelMessage, type ToolResultPart } from '../src/providers/index.ts'
import { createContext } from '../src/server.ts'
import { configureFakeModel } from '../test/agent/harness.ts'
import { startFakeProvider, type FakeProvider } from '../test/fakes/script.ts'
import { createFreshPostgresDatabase, postgresAvailable } from '../test/support/databases.ts'
import type { Report } from './report.ts'

const OVERHEAD_STEPS = 50
const OVERHEAD_RUNS = 7
const LOAD_SIZES = [10, 100, 500]
const LOAD_TOOL_STEPS = 3
const CHUNK_DELAY_MS = 20
/** The longest one load size may run; past it the size is reported as unfinished. */
const LOAD_DEADLINE_MS = 60_000
/** A size predicted (from the previous one) to take longer than this is scaled down. */
const LOAD_BUDGET_MS = 50_000

const OWNER = '22222222-2222-4222-8222-222222222222'
const meta: EventMetadata = { actor: { kind: 'user', id: OWNER }, organizationId: DEFAULT_ORGANIZATION_ID }

function add(args: unknown): { content: string; isError: boolean } {
  const { a, b } = args as { a: number; b: number }
  return { content: String(a + b), isError: false }
}

const addTool: Tool = {
  name: 'add',
  description: 'Adds two numbers.',
  inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
  run: async (args) => add(args),
}

/** Assistant turns so far in the request: the fake's step number within the turn. */
const stepOf = (body: unknown) => ((body as { messages?: { role: string }[] }).messages ?? []).filter((m) => m.role === 'assistant').length

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
}

const median = (values: number[]) => percentile(values, 50)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function openBenchDatabase(): Promise<{ db: Database; label: string; close(): Promise<void> }> {
  if (process.env.DATABASE_URL) {
    const db = await openDatabase({ url: process.env.DATABASE_URL })
    await migrate(db)
    return { db, label: `PostgreSQL (DATABASE_URL ${new URL(process.env.DATABASE_URL).host})`, close: () => db.close() }
  }
  if (postgresAvailable) {
    const fresh = await createFreshPostgresDatabase()
    const db = await openDatabase({ url: fresh.url })
    await migrate(db)
    return { db, label: `PostgreSQL (fresh database on ${new URL(fresh.url).host})`, close: async () => (await db.close(), await fresh.drop()) }
  }
  const db = await openDatabase({})
  await migrate(db)
  return { db, label: 'PGlite (in memory)', close: () => db.close() }
}

/** Cairn's write side on `db`: store, projections, config, a runner sized for `maxConcurrentChats`. */
async function startCairn(db: Database, fake: FakeProvider, maxConcurrentChats: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-bench-loop-'))
  const ctx = createContext({ env: { databaseUrl: undefined, dataDir, port: 0, host: '127.0.0.1', runner: true }, db, projections, log: () => {} })
  ctx.tools.register(addTool)
  await ctx.engine.start()
  await configureFakeModel(ctx.config, fake, 'anthropic')
  const ephemeral = ephemeralFor(db)
  // Our own runner rather than ctx.runner: the load test needs more than its default 200 chats at once.
  // The server's runner options (secrets redaction, approvals, budgets, debug logs, …), as `cairn serve` runs it.
  const runner = new AgentRunner({
    ...ctx.runnerOptions,
    maxConcurrentChats,
    maxStepsPerTurn: OVERHEAD_STEPS + 10,
    pollIntervalMs: 200,
  })
  ctx.engine.onApplied((projection, events) => projection === 'chats' && runner.noticeApplied(events))
  runner.start()
  return {
    ctx,
    ephemeral,
    async createChat(chatId: string, text: string) {
      await handleCommand(
        ctx.store,
        chatStream(chatId),
        chatDecider,
        {
          type: 'CreateChat',
          chatId,
          ownerId: OWNER,
          organizationId: DEFAULT_ORGANIZATION_ID,
          title: 'bench', // not the default title, so no title request is made
          modelId: null,
          workspaceId: null,
          planMode: false,
          firstMessage: { messageId: randomUUID(), parts: [{ type: 'text', text }] },
        },
        { commandId: randomUUID(), metadata: meta },
      )
    },
    async close() {
      await runner.stop()
      await ctx.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

type Cairn = Awaited<ReturnType<typeof startCairn>>

/** Resolves when the chats projection has applied the end of the chat's turn (as a client would see it). */
function turnEnded(cairn: Cairn, chatId: string, deadline: number): Promise<string> {
  const stream = chatStream(chatId)
  return new Promise((resolve) => {
    const timer = setTimeout(() => done('timeout'), deadline - performance.now())
    const stop = cairn.ctx.engine.onApplied((projection, events) => {
      if (projection !== 'chats') return
      const end = events.find((e) => e.stream === stream && (e.type === 'TurnCompleted' || e.type === 'TurnFailed' || e.type === 'TurnInterrupted'))
      if (end) done(end.type)
    })
    function done(outcome: string) {
      clearTimeout(timer)
      stop()
      resolve(outcome)
    }
  })
}

/** Median createdAt gap per `A → B` pair of consecutive event types: where a step's time goes. */
async function transitionGaps(cairn: Cairn, chatId: string): Promise<string[]> {
  const events = await cairn.ctx.store.readStream(chatStream(chatId))
  const gaps = new Map<string, number[]>()
  for (let i = 1; i < events.length; i++) {
    const key = `${events[i - 1]!.type} → ${events[i]!.type}`
    gaps.set(key, [...(gaps.get(key) ?? []), events[i]!.createdAt.getTime() - events[i - 1]!.createdAt.getTime()])
  }
  return [...gaps].filter(([, v]) => v.length > 1).map(([k, v]) => `${k} ${median(v).toFixed(0)} ms`)
}

async function bareTurn(fake: FakeProvider): Promise<number> {
  const provider = createProvider({ kind: 'anthropic', apiKey: 'sk-test-key', baseUrl: fake.baseUrl })
  const tools = [{ name: addTool.name, description: addTool.description, inputSchema: addTool.inputSchema }]
  const messages: ModelMessage[] = [{ role: 'user', parts: [{ type: 'text', text: 'add things' }] }]
  for (let step = 1; step <= OVERHEAD_STEPS + 10; step++) {
    let text = ''
    const calls: Extract<AssistantPart, { type: 'tool_call' }>[] = []
    for await (const ev of provider.stream({ model: 'fake-model-1', system: 'You add.', messages, tools, maxOutputTokens: 1000 })) {
      if (ev.type === 'text_delta') text += ev.text
      else if (ev.type === 'tool_call_end') calls.push({ type: 'tool_call', id: ev.id, name: ev.name, arguments: ev.arguments })
    }
    messages.push({ role: 'assistant', parts: [...(text ? [{ type: 'text' as const, text }] : []), ...calls] })
    if (!calls.length) return step
    const results: ToolResultPart[] = calls.map((c) => ({ callId: c.id, name: c.name, ...add(c.arguments) }))
    messages.push({ role: 'tool', results })
  }
  throw new Error('the bare loop did not finish')
}

/** Counts the queries this process sends to PostgreSQL while `on`, by what they are for. */
async function queryCounter() {
  const { Client } = (await import('pg')).default
  const counts = new Map<string, number>()
  let on = false
  const kindOf = (text: string) =>
    /cairn_append/.test(text) ? 'appends'
    : /pg_notify/.test(text) ? 'NOTIFY'
    : /^\s*(begin|commit|rollback)\b|projection_checkpoints/i.test(text) ? 'projection transactions'
    : /pg_snapshot_xmin|from events/.test(text) ? 'log reads'
    : 'other'
  const query = Client.prototype.query
  Client.prototype.query = function (this: unknown, ...args: unknown[]) {
    if (on) {
      const first = args[0] as string | { text?: string }
      const kind = kindOf(typeof first === 'string' ? first : (first?.text ?? ''))
      counts.set(kind, (counts.get(kind) ?? 0) + 1)
    }
    return (query as (...a: unknown[]) => unknown).apply(this, args)
  } as typeof query
  return {
    start: () => (counts.clear(), (on = true)),
    stop: () => ((on = false), new Map(counts)),
    restore: () => void (Client.prototype.query = query),
  }
}

async function benchOverhead(print: Report, cairn: Cairn, fake: FakeProvider): Promise<void> {
  fake.setDefault((body) =>
    stepOf(body) < OVERHEAD_STEPS - 1 ? { toolCalls: [{ name: 'add', arguments: { a: stepOf(body), b: 1 } }] } : { text: 'Done adding.' },
  )
  await bareTurn(fake) // warm the SDK and the fake
  const bare: number[] = []
  const through: number[] = []
  /** ChatCreated → TurnStarted, and TurnStarted → TurnCompleted, by the events' createdAt. */
  const pickup: number[] = []
  const inLog: number[] = []
  /** CPU of this whole process (runner, projections, fake provider) per Cairn step. */
  const cpuPerStep: number[] = []
  const bareCpuPerStep: number[] = []
  const queries = await queryCounter()
  let queriesPerStep = new Map<string, number>()
  for (let run = 0; run < OVERHEAD_RUNS; run++) {
    let t = performance.now()
    const bareCpu = process.cpuUsage()
    const steps = await bareTurn(fake)
    bare.push(performance.now() - t)
    const bareUsed = process.cpuUsage(bareCpu)
    bareCpuPerStep.push((bareUsed.user + bareUsed.system) / 1000 / OVERHEAD_STEPS)
    if (steps !== OVERHEAD_STEPS) throw new Error(`bare loop took ${steps} steps, expected ${OVERHEAD_STEPS}`)

    const chatId = randomUUID()
    const before = cairn.ctx.appends.events
    t = performance.now()
    const cpu = process.cpuUsage()
    if (run === OVERHEAD_RUNS - 1) queries.start()
    const ended = turnEnded(cairn, chatId, t + 120_000)
    await cairn.createChat(chatId, 'add things')
    const outcome = await ended
    through.push(performance.now() - t)
    const used = process.cpuUsage(cpu)
    if (run === OVERHEAD_RUNS - 1) queriesPerStep = queries.stop()
    cpuPerStep.push((used.user + used.system) / 1000 / OVERHEAD_STEPS)
    if (outcome !== 'TurnCompleted') throw new Error(`the Cairn turn ended with ${outcome}`)
    const events = await cairn.ctx.store.readStream(chatStream(chatId))
    const at = (type: string) => events.find((e) => e.type === type)!.createdAt.getTime()
    pickup.push(at('TurnStarted') - at('ChatCreated'))
    inLog.push(at('TurnCompleted') - at('TurnStarted'))
    if (run === 0) {
      print(`  a ${OVERHEAD_STEPS}-step turn commits ${cairn.ctx.appends.events - before} events; median time between them (createdAt):`)
      print(`    ${(await transitionGaps(cairn, chatId)).join('; ')}`)
    }
  }
  queries.restore()
  const b = median(bare)
  const c = median(through)
  print(`  bare loop (adapter + tool, no persistence): ${b.toFixed(0)} ms  (${(b / OVERHEAD_STEPS).toFixed(1)} ms/step)`)
  print(`  through Cairn (runner, log, projections):   ${c.toFixed(0)} ms  (${(c / OVERHEAD_STEPS).toFixed(1)} ms/step)`)
  print(`    of which ChatCreated → TurnStarted (projection + runner pickup) ${median(pickup).toFixed(0)} ms; TurnStarted → TurnCompleted ${median(inLog).toFixed(0)} ms (${(median(inLog) / OVERHEAD_STEPS).toFixed(1)} ms/step)`)
  const perStep = (n: number) => (n / OVERHEAD_STEPS).toFixed(1)
  const total = [...queriesPerStep.values()].reduce((x, y) => x + y, 0)
  print(`  PostgreSQL queries per step: ${perStep(total)} (${[...queriesPerStep].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${perStep(n)}`).join(', ')})`)
  print(`  CPU of this process per step: bare loop ${median(bareCpuPerStep).toFixed(1)} ms, through Cairn ${median(cpuPerStep).toFixed(1)} ms (runner, projections, fake provider)`)
  print(`  ratio Cairn/bare: ${(c / b).toFixed(2)}x; overhead ${((c - b) / OVERHEAD_STEPS).toFixed(1)} ms/step  (median of ${OVERHEAD_RUNS} runs each)`)
  print.figure('step_ms', c / OVERHEAD_STEPS, b / OVERHEAD_STEPS)
  print.figure('step_overhead_ms', (c - b) / OVERHEAD_STEPS)
}

interface LoadResult {
  n: number
  completed: number
  failed: number
  wallMs: number
  events: number
  gaps: number[]
  cpuMs: number
  rssPeak: number
}

async function loadRun(cairn: Cairn, n: number): Promise<LoadResult> {
  const gaps: number[] = []
  const stops: (() => void)[] = []
  const ids = Array.from({ length: n }, () => randomUUID())
  for (const chatId of ids) {
    let last: number | null = null
    // Consecutive TextDeltas of one text block are one fake chunk apart; anything else resets.
    stops.push(
      cairn.ephemeral.listenEphemeral(chatId, (item) => {
        const now = performance.now()
        if (item.kind !== 'TextDelta') return void (last = null)
        if (last !== null) gaps.push(now - last)
        last = now
      }),
    )
  }
  let rssPeak = process.memoryUsage.rss()
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 50)
  const cpu = process.cpuUsage()
  const eventsBefore = cairn.ctx.appends.events
  const t = performance.now()
  const deadline = t + LOAD_DEADLINE_MS
  try {
    for (let i = 0; i < n; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => cairn.createChat(id, 'check the sums')))
    const ended = new Map<string, string>()
    while (ended.size < n && performance.now() < deadline) {
      const rows = await cairn.ctx.db.query<{ id: string; status: string }>(
        `select id, status from chats where id = any($1::uuid[]) and status in ('waiting', 'error')`,
        [ids],
      )
      for (const r of rows) ended.set(r.id, r.status)
      if (ended.size < n) await sleep(100)
    }
    const wallMs = performance.now() - t
    const used = process.cpuUsage(cpu)
    const failed = [...ended.values()].filter((s) => s === 'error').length
    return { n, completed: ended.size - failed, failed, wallMs, events: cairn.ctx.appends.events - eventsBefore, gaps, cpuMs: (used.user + used.system) / 1000, rssPeak }
  } finally {
    clearInterval(sampler)
    for (const stop of stops) stop()
  }
}

async function benchLoad(print: Report, cairn: Cairn, fake: FakeProvider): Promise<void> {
  fake.setDefault((body) =>
    stepOf(body) < LOAD_TOOL_STEPS
      ? { text: 'Checking the next sum now.', toolCalls: [{ name: 'add', arguments: { a: 2, b: 2 } }], chunkDelayMs: CHUNK_DELAY_MS }
      : { text: 'All the sums are correct.', chunkDelayMs: CHUNK_DELAY_MS },
  )
  print(`  each chat: ${LOAD_TOOL_STEPS} tool steps + 1 text step, fake chunk every ${CHUNK_DELAY_MS} ms; deadline ${LOAD_DEADLINE_MS / 1000} s per size`)
  print(`  delta gap = time between consecutive TextDeltas of one block at a subscriber in this process (ideal: ${CHUNK_DELAY_MS} ms)`)
  print(`  CPU and RSS are this whole process: runner, projections, the fake provider and the subscribers`)
  let previous: LoadResult | null = null
  for (const size of LOAD_SIZES) {
    let n = size
    // Only the largest size is scaled: the smaller ones are latency-bound, so their rate says little.
    if (previous && size === LOAD_SIZES[LOAD_SIZES.length - 1]) {
      const predicted = (previous.wallMs / previous.n) * size
      if (predicted > LOAD_BUDGET_MS) {
        n = Math.max(previous.n, Math.floor((LOAD_BUDGET_MS / previous.wallMs) * previous.n))
        print(`  N=${size} would take ~${(predicted / 1000).toFixed(0)} s at the rate N=${previous.n} ran; scaled down to N=${n}`)
      }
    }
    const r = await loadRun(cairn, n)
    const unfinished = r.n - r.completed - r.failed
    print(
      `  N=${String(r.n).padStart(3)}: ${(r.wallMs / 1000).toFixed(1)} s, ${r.completed} completed` +
        (r.failed ? `, ${r.failed} FAILED` : '') +
        (unfinished ? `, ${unfinished} UNFINISHED at the deadline` : '') +
        `; ${r.events} events, ${((r.events / r.wallMs) * 1000).toFixed(0)} events/s` +
        `; delta gap p50 ${percentile(r.gaps, 50).toFixed(1)} ms p99 ${percentile(r.gaps, 99).toFixed(1)} ms (${r.gaps.length} gaps)` +
        `; CPU ${r.cpuMs.toFixed(0)} ms (${((r.cpuMs / r.wallMs) * 100).toFixed(0)}% of a core); RSS peak ${(r.rssPeak / 2 ** 20).toFixed(0)} MiB`,
    )
    if (size === LOAD_SIZES[LOAD_SIZES.length - 1]) {
      // Named for the size asked; the line above says when it was scaled down.
      print.figure(`chats_${size}_events_per_s`, (r.events / r.wallMs) * 1000)
      print.figure(`chats_${size}_delta_gap_p99_ms`, percentile(r.gaps, 99), CHUNK_DELAY_MS)
      print.figure(`chats_${size}_cpu_core_share`, r.cpuMs / r.wallMs)
      print.figure(`chats_${size}_rss_peak_mib`, r.rssPeak / 2 ** 20)
    }
    previous = r
    if (unfinished) {
      print('  stopping: a size did not finish in time')
      break
    }
  }
}

export async function benchLoop(print: Report): Promise<void> {
  const fake = await startFakeProvider('anthropic')
  const database = await openBenchDatabase()
  print(`database: ${database.label}; fake Anthropic provider in this process`)
  const cairn = await startCairn(database.db, fake, Math.max(...LOAD_SIZES))
  // BENCH_LOOP_ONLY=overhead|load runs one part (e.g. under --cpu-prof).
  const only = process.env.BENCH_LOOP_ONLY
  try {
    if (only !== 'load') {
      print(`(a) overhead: one ${OVERHEAD_STEPS}-step tool-calling turn`)
      await benchOverhead(print, cairn, fake)
    }
    if (only !== 'overhead') {
      print(`(b) load: N concurrent chats`)
      await benchLoad(print, cairn, fake)
    }
  } finally {
    await cairn.close()
    await database.close()
    await fake.close()
  }
}
