// Fork cost against the size of the source: the `forkChat` GraphQL mutation end to end (permission
// check, decision, append, the answer built from the stored event) on an in-process server, beside
// a bare `appendToStream` of the same ChatForked event with `forkOf` (the store's part alone).
// The mutation's time is split into the parts it is made of, each measured alone on the same
// source: the decision's fold of the source up to the cut, the store's append, and the projections
// applying the fork; and reading the fork's last event. Sources are seeded with big batched appends of whole turns.
// Database: DATABASE_URL when set; else a fresh PostgreSQL database on the test server, dropped
// afterwards; else PGlite. BENCH_FORK_SIZES=100,10000 picks the sizes.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chatDecider } from '../commands/chat/decide.ts'
import { foldStream } from '../commands/handler.ts'
import { projections } from '../projections/index.ts'
import { openDatabase, type Database } from '../src/db/database.ts'
import { migrate } from '../src/db/migrate.ts'
import { chatStream, type ChatEvent } from '../src/events/index.ts'
import type { EventMetadata, NewEvent } from '../src/eventstore/types.ts'
import { bootstrapAdmin } from '../src/identity/index.ts'
import { buildApp, createContext } from '../src/server.ts'
import type { Report } from './report.ts'

const SIZES = (process.env.BENCH_FORK_SIZES ?? '100,10000,100000').split(',').map(Number)
const FORKS_PER_SIZE = 15
const SEED_BATCH = 2000

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN
const label = (n: number) => (n >= 1000 ? `${n / 1000}k` : String(n))

async function openBenchDatabase(): Promise<{ db: Database; label: string; close(): Promise<void> }> {
  if (process.env.DATABASE_URL) {
    const db = await openDatabase({ url: process.env.DATABASE_URL })
    return { db, label: `PostgreSQL (DATABASE_URL ${new URL(process.env.DATABASE_URL).host})`, close: () => db.close() }
  }
  const { postgresAvailable, createFreshPostgresDatabase } = await import('../test/support/databases.ts')
  if (postgresAvailable) {
    const fresh = await createFreshPostgresDatabase()
    const db = await openDatabase({ url: fresh.url })
    return { db, label: `PostgreSQL (fresh database on ${new URL(fresh.url).host})`, close: async () => (await db.close(), await fresh.drop()) }
  }
  const db = await openDatabase({})
  return { db, label: 'PGlite (in memory)', close: () => db.close() }
}

/** One finished turn: a user message, the turn, one assistant step, its end. */
function turn(n: number, metadata: EventMetadata): NewEvent[] {
  const turnId = randomUUID()
  const events: ChatEvent[] = [
    { type: 'UserMessagePosted', data: { messageId: randomUUID(), parts: [{ type: 'text', text: `question ${n}: what does this function do?` }], authorId: metadata.actor.id } },
    { type: 'TurnStarted', data: { turnId, runnerId: 'bench', modelId: null } },
    {
      type: 'AssistantStepCompleted',
      data: {
        turnId,
        stepId: randomUUID(),
        modelId: null,
        parts: [{ type: 'text', text: 'It folds the stream into a state. '.repeat(6) }],
        text: 'It folds the stream into a state. '.repeat(6),
        reasoning: '',
        toolCalls: [],
        usage: { inputTokens: 1200, outputTokens: 80, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
        costUsd: 0,
        finishReason: 'stop',
        interrupted: false,
      },
    },
    { type: 'TurnCompleted', data: { turnId } },
  ]
  return events.map((e) => ({ id: randomUUID(), type: e.type, data: e.data, metadata }))
}

export async function benchFork(print: Report): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-bench-fork-'))
  const where = await openBenchDatabase()
  const { db } = where
  await migrate(db)
  const ctx = createContext({ env: { databaseUrl: undefined, dataDir, port: 0, host: '127.0.0.1', runner: false }, db, projections, log: () => {} })
  const { engine, store } = ctx
  await engine.start()
  const token = (await bootstrapAdmin(ctx)) ?? ''
  const app = await buildApp(ctx)
  const graphql = async <T>(query: string, variables: Record<string, unknown>): Promise<T> => {
    const res = await app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${token}` }, payload: { query, variables } })
    const body = res.json() as { data?: T; errors?: { message: string }[] }
    if (body.errors?.length || !body.data) throw new Error(`GraphQL: ${body.errors?.map((e) => e.message).join('; ') ?? res.body}`)
    return body.data
  }
  const caughtUp = async () => engine.waitForAll(await store.headCheckpoint(), 600_000)
  print(`database: ${where.label}; ${FORKS_PER_SIZE} forks per size at the source's last revision, median ms`)
  // Warm-up: the first fork of a process compiles its code paths.
  const { createChat: warm } = await graphql<{ createChat: { id: string } }>('mutation { createChat(input: { title: "warm-up", firstMessage: "hi" }) { id } }', {})
  for (let i = 0; i < 3; i++) await graphql('mutation($id: ID!) { forkChat(chatId: $id, atRevision: 1) { id revision } }', { id: warm.id })

  try {
    const rows: string[][] = [['source events', 'forkChat', 'bare append', 'ratio', 'fold to cut', 'projections', 'last event', 'seeded (appends + projections)']]
    for (const size of SIZES) {
      const { createChat } = await graphql<{ createChat: { id: string } }>('mutation { createChat(input: { title: "fork source" }) { id } }', {})
      const source = chatStream(createChat.id)
      const [owner] = await db.query<{ owner_id: string; organization_id: string }>('select owner_id, organization_id from chats where id = $1', [createChat.id])
      const metadata: EventMetadata = { actor: { kind: 'user', id: owner!.owner_id }, organizationId: owner!.organization_id }

      // Seed whole turns after ChatCreated up to `size` events, in big appends; top up with messages.
      const seedStart = performance.now()
      let revision = 0
      while (revision < size - 1) {
        const batch: NewEvent[] = []
        for (let n = revision; batch.length + 4 <= SEED_BATCH && revision + batch.length + 4 <= size - 1; n++) batch.push(...turn(n, metadata))
        if (!batch.length) {
          const [message] = turn(revision, metadata)
          batch.push(message!)
        }
        const result = await store.appendToStream(source, batch, { expectedRevision: BigInt(revision) })
        revision = Number(result.nextExpectedRevision)
      }
      const appendedMs = performance.now() - seedStart
      await caughtUp()
      const seededMs = performance.now() - seedStart

      const forkMs: number[] = []
      const bareMs: number[] = []
      const foldMs: number[] = []
      const projectMs: number[] = []
      const lastEventMs: number[] = []
      for (let i = 0; i < FORKS_PER_SIZE; i++) {
        await caughtUp()
        let t = performance.now()
        await graphql('mutation($id: ID!, $at: Int!) { forkChat(chatId: $id, atRevision: $at) { id revision } }', { id: createChat.id, at: revision })
        forkMs.push(performance.now() - t)

        await caughtUp()
        const chatId = randomUUID()
        const forked: NewEvent = {
          id: randomUUID(),
          type: 'ChatForked',
          data: { chatId, sourceChatId: createChat.id, atRevision: revision, ownerId: owner!.owner_id, organizationId: owner!.organization_id, title: 'fork', closedToolCallIds: [] },
          metadata,
        }
        t = performance.now()
        const appended = await store.appendToStream(chatStream(chatId), [forked], { expectedRevision: 'no_stream', forkOf: { stream: source, revision: BigInt(revision) } })
        bareMs.push(performance.now() - t)
        t = performance.now()
        await engine.waitForAll(appended.checkpoint, 600_000)
        projectMs.push(performance.now() - t)

        t = performance.now()
        await foldStream(store, source, chatDecider, { toRevision: BigInt(revision) })
        foldMs.push(performance.now() - t)

        // What a caller that needs only the head reads (a page of a chat, the last event of a fork).
        t = performance.now()
        await store.readStream(chatStream(chatId), { fromRevision: 'end', direction: 'backwards', maxCount: 1 })
        lastEventMs.push(performance.now() - t)
      }
      const fork = median(forkMs)
      const bare = median(bareMs)
      rows.push([String(size), fork.toFixed(1), bare.toFixed(2), (fork / bare).toFixed(0) + 'x', median(foldMs).toFixed(1), median(projectMs).toFixed(1), median(lastEventMs).toFixed(2), `${(appendedMs / 1000).toFixed(1)} s + ${((seededMs - appendedMs) / 1000).toFixed(1)} s`])
      print.figure(`fork_ms_${label(size)}`, fork, bare)
      print.figure(`fork_bare_append_ms_${label(size)}`, bare)
      print.figure(`fork_fold_to_cut_ms_${label(size)}`, median(foldMs))
      print.figure(`fork_projections_ms_${label(size)}`, median(projectMs))
      print.figure(`fork_last_event_read_ms_${label(size)}`, median(lastEventMs))
    }
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
    for (const row of rows) print(row.map((cell, c) => cell.padStart(widths[c]!)).join('  '))
  } finally {
    await app.close()
    await ctx.close()
    await where.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
