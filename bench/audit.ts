// The auditor's tools on 100k events on a real PostgreSQL server: `verify` (re-hash every chain and
// check every head) beside a plain SELECT of the same rows in the same order, the Merkle root an
// anchor signs, and `export` of one 10k-event chat as JSON lines.
// Run alone: node --import tsx/esm bench/audit.ts
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { anchorLog } from '../src/audit/anchor.ts'
import { exportChatJsonl } from '../src/audit/export.ts'
import { verifyChains } from '../src/audit/verify.ts'
import { openDatabase, type Database } from '../src/db/database.ts'
import { migrate } from '../src/db/migrate.ts'
import type { NewEvent } from '../src/eventstore/index.ts'
import { createSqlEventStore } from '../src/eventstore/postgres/index.ts'
import { createFreshPostgresDatabase } from '../test/support/databases.ts'
import { createReport, type Report } from './report.ts'

const EVENTS = Number(process.env.BENCH_AUDIT_EVENTS ?? 100_000)
const STREAMS = 10
const BATCH = 100
const PAGE = 5000

function stepEvent(n: number): NewEvent {
  return {
    id: randomUUID(),
    type: 'AssistantStepCompleted',
    data: {
      turnId: 'turn-1',
      stepId: randomUUID(),
      text: `Step ${n}: the quick brown fox jumps over the lazy dog. `.repeat(3),
      toolCalls: [{ id: `call-${n}`, name: 'execute', arguments: { command: 'npm test' } }],
      usage: { inputTokens: 1200, outputTokens: 80, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
      costUsd: 0.0012,
    },
    metadata: { actor: { kind: 'agent', id: 'runner-1', onBehalfOf: randomUUID() }, correlationId: randomUUID() },
  }
}

/** The baseline: the rows verify reads, in its order and page size, with no hashing. */
async function plainSelect(db: Database): Promise<number> {
  let after: [string, string] = ['', '-1']
  let rows = 0
  for (;;) {
    const page = await db.query<{ stream: string; revision: string }>(
      `select e.stream, e.revision::text as revision, e.id::text as id, e.type, e.data::text as data, e.metadata::text as metadata, e.hash
       from events e where (e.stream, e.revision) > ($1, $2::bigint) order by e.stream, e.revision limit $3`,
      [after[0], after[1], PAGE],
    )
    rows += page.length
    if (page.length < PAGE) return rows
    after = [page[page.length - 1]!.stream, page[page.length - 1]!.revision]
  }
}

const seconds = async (fn: () => Promise<unknown>) => {
  const start = performance.now()
  await fn()
  return (performance.now() - start) / 1000
}

export async function benchAudit(print: Report): Promise<void> {
  const fresh = await createFreshPostgresDatabase()
  const db = await openDatabase({ url: fresh.url })
  try {
    await migrate(db)
    const store = createSqlEventStore(db)
    const perStream = Math.ceil(EVENTS / STREAMS)
    const chats = Array.from({ length: STREAMS }, () => randomUUID())
    const loadSeconds = await seconds(() =>
      Promise.all(
        chats.map(async (chatId) => {
          for (let n = 0; n < perStream; n += BATCH) {
            await store.appendToStream(`chat-${chatId}`, Array.from({ length: Math.min(BATCH, perStream - n) }, (_, i) => stepEvent(n + i)))
          }
        }),
      ),
    )
    const total = perStream * STREAMS
    print(`loaded ${total} events in ${STREAMS} streams in ${loadSeconds.toFixed(1)} s`)
    await db.query('vacuum analyze events')

    await plainSelect(db) // warm the cache for both runs alike
    const selectSeconds = await seconds(() => plainSelect(db))
    const verified = await verifyChains(db)
    if (!verified.ok) throw new Error(`verify found a broken chain in a fresh log: ${JSON.stringify(verified.broken[0], (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`)
    const selectRate = total / selectSeconds
    const verifyRate = verified.events / verified.seconds
    print(`verify         ${Math.round(verifyRate).toLocaleString('en')} events/s (${verified.seconds.toFixed(2)} s)`)
    print(`plain SELECT   ${Math.round(selectRate).toLocaleString('en')} rows/s (${selectSeconds.toFixed(2)} s); verify is ${(verifyRate / selectRate).toFixed(2)}× of it; goal ≥ 50,000 events/s`)
    print.figure('verify_events_per_s', verifyRate, selectRate)

    const { privateKey } = generateKeyPairSync('ed25519')
    const anchorSeconds = await seconds(() => anchorLog(db, store, privateKey))
    print(`anchor         ${Math.round(total / anchorSeconds).toLocaleString('en')} events/s into the signed Merkle root (${anchorSeconds.toFixed(2)} s)`)
    print.figure('anchor_events_per_s', total / anchorSeconds)

    let bytes = 0
    const exportSeconds = await seconds(() =>
      exportChatJsonl(store, chats[0]!, (line) => void (bytes += Buffer.byteLength(line) + 1), { dataDir: '/nonexistent' }),
    )
    const mbPerS = bytes / 1e6 / exportSeconds
    print(`export         ${mbPerS.toFixed(1)} MB/s (${perStream} events, ${(bytes / 1e6).toFixed(1)} MB in ${exportSeconds.toFixed(2)} s)`)
    print.figure('export_mb_per_s', mbPerS)
    await store.close()
  } finally {
    await db.close()
    await fresh.drop()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await benchAudit(createReport('audit', console.log, process.argv.includes('--json')))
}
