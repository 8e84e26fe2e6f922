// Event store throughput on a real PostgreSQL server, each figure beside a plain-INSERT baseline
// (same table shape, same durability, no store logic) and beside Emmett's PostgreSQL event store.
// Run alone: node --import tsx/esm bench/eventstore.ts
import { randomUUID } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql'
import pg from 'pg'
import { openDatabase } from '../src/db/database.ts'
import { migrate } from '../src/db/migrate.ts'
import type { NewEvent } from '../src/eventstore/index.ts'
import { createSqlEventStore } from '../src/eventstore/postgres/index.ts'
import { createFreshPostgresDatabase } from '../test/support/databases.ts'
import { createReport, type Report } from './report.ts'

/** How long each system runs each append scenario. */
const SECONDS_PER_RUN = Number(process.env.BENCH_SECONDS ?? 3)
const WRITERS = 8
const BATCH = 100
const READ_PAGE = 1000

// The baseline: the events table without streams, expected revisions, hashes or notifications.
const BASELINE_TABLE = `create table baseline_events (
  position bigserial primary key, stream text not null, revision bigint not null, id uuid not null,
  type text not null, data jsonb not null, metadata jsonb not null, created_at timestamptz not null default now(),
  hash text not null, xid xid8 not null default pg_current_xact_id(),
  unique (stream, revision), unique (stream, id));
create index baseline_global_order on baseline_events (xid, position);
create index baseline_type_order on baseline_events (type, xid, position)`

function newEvent(n: number): NewEvent {
  return {
    id: randomUUID(),
    type: 'AssistantStepCompleted',
    data: { n, text: 'The quick brown fox jumps over the lazy dog. '.repeat(4), usage: { input: 1200, output: 80 } },
    metadata: { actor: { kind: 'agent', id: 'agent-1', onBehalfOf: 'user-1' }, correlationId: randomUUID() },
  }
}

/** Slices each system's time is cut into, alternating between systems, so load from other processes falls on all of them alike. */
const SLICES = Number(process.env.BENCH_SLICES ?? 6)

/** Totals of one system over its slices. */
class Rate {
  events = 0
  ms = 0
  get perSecond(): number {
    return this.events / (this.ms / 1000)
  }
}

/** Appends with one writer loop per stream for one slice; `append` returns how many events it wrote. */
async function slice(total: Rate, writers: number, append: (writer: number) => Promise<number>): Promise<void> {
  const start = performance.now()
  const deadline = start + (SECONDS_PER_RUN * 1000) / SLICES
  const counts = await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      let events = 0
      while (performance.now() < deadline) events += await append(writer)
      return events
    }),
  )
  total.events += counts.reduce((a, b) => a + b, 0)
  total.ms += performance.now() - start
}

export async function benchEventStore(print: Report): Promise<void> {
  const fresh = await createFreshPostgresDatabase()
  const db = await openDatabase({ url: fresh.url })
  const baseline = new pg.Pool({ connectionString: fresh.url, max: 10 })
  const emmett = getPostgreSQLEventStore(fresh.url)
  try {
    await migrate(db)
    const store = createSqlEventStore(db)
    for (const statement of BASELINE_TABLE.split(';')) await baseline.query(statement)
    const { rows } = await baseline.query<{ synchronous_commit: string }>('show synchronous_commit')
    await emmett.appendToStream('warm-up', [{ type: 'WarmUp', data: {} }])

    let run = 0
    const scenario = async (label: string, writers: number, batch: number) => {
      run++
      const stream = (system: string, writer: number) => `${system}-${run}-${writer}`
      const revisions = new Map<string, bigint>()
      const appendCairn = async (writer: number) => {
        const name = stream('cairn', writer)
        const expected = revisions.get(name) ?? 'no_stream'
        const events = Array.from({ length: batch }, (_, i) => newEvent(i))
        const result = await store.appendToStream(name, events, { expectedRevision: expected })
        revisions.set(name, result.nextExpectedRevision)
        return batch
      }
      const plainRevisions = new Map<number, number>()
      const appendPlain = async (writer: number) => {
        const first = plainRevisions.get(writer) ?? 0
        plainRevisions.set(writer, first + batch)
        const events = Array.from({ length: batch }, (_, i) => newEvent(i))
        const values = events.map((_, i) => `($${i * 7 + 1}, $${i * 7 + 2}, $${i * 7 + 3}, $${i * 7 + 4}, $${i * 7 + 5}, $${i * 7 + 6}, $${i * 7 + 7})`)
        const params = events.flatMap((e, i) => [
          stream('plain', writer),
          first + i,
          e.id,
          e.type,
          JSON.stringify(e.data),
          JSON.stringify(e.metadata),
          'hash',
        ])
        // One statement outside an explicit transaction commits on its own, as one append does.
        await baseline.query(
          `insert into baseline_events (stream, revision, id, type, data, metadata, hash) values ${values.join(', ')}`,
          params,
        )
        return batch
      }
      const appendEmmett = async (writer: number) => {
        const events = Array.from({ length: batch }, (_, i) => newEvent(i))
        await emmett.appendToStream(
          stream('emmett', writer),
          events.map((e) => ({ type: e.type, data: e.data as Record<string, unknown>, metadata: e.metadata })),
        )
        return batch
      }
      const cairn = new Rate()
      const plain = new Rate()
      const emmettRate = new Rate()
      for (let i = 0; i < SLICES; i++) {
        await slice(cairn, writers, appendCairn)
        await slice(plain, writers, appendPlain)
        await slice(emmettRate, writers, appendEmmett)
      }
      return { label, cairn: cairn.perSecond, plain: plain.perSecond, emmett: emmettRate.perSecond as number | null }
    }

    type Scenario = Awaited<ReturnType<typeof scenario>>
    const results = [
      await scenario('append 1 event, 1 writer', 1, 1),
      await scenario(`append 1 event, ${WRITERS} writers`, WRITERS, 1),
      await scenario(`append ${BATCH} events, 1 writer`, 1, BATCH),
    ]

    // Read the whole log: the store's gap-safe readAll against a keyset scan of the baseline.
    const readStart = performance.now()
    let read = 0
    for (let after = ''; ; ) {
      const page = await store.readAll({ after, maxCount: READ_PAGE })
      read += page.events.length
      after = page.checkpoint
      if (page.events.length < READ_PAGE) break
    }
    const cairnRead = read / ((performance.now() - readStart) / 1000)
    const plainStart = performance.now()
    let plainRead = 0
    for (let after = '0'; ; ) {
      const page = await baseline.query<{ position: string }>(
        `select position, stream, revision, id, type, data, metadata, created_at, hash
         from baseline_events where position > $1 order by position limit ${READ_PAGE}`,
        [after],
      )
      plainRead += page.rows.length
      if (page.rows.length < READ_PAGE) break
      after = page.rows[page.rows.length - 1]!.position
    }
    const plainReadRate = plainRead / ((performance.now() - plainStart) / 1000)
    results.push({ label: `readAll (${read} events, pages of ${READ_PAGE})`, cairn: cairnRead, plain: plainReadRate, emmett: null })

    print(
      `event store on PostgreSQL (synchronous_commit=${rows[0]?.synchronous_commit}, ${SECONDS_PER_RUN}s per system and scenario in ${SLICES} alternating slices), events/s`,
    )
    const table = [
      ['scenario', 'cairn', 'plain INSERT', 'cairn/plain', 'emmett', 'cairn/emmett'],
      ...results.map((r) => [
        r.label,
        r.cairn.toFixed(0),
        r.plain.toFixed(0),
        (r.cairn / r.plain).toFixed(2),
        r.emmett === null ? '-' : r.emmett.toFixed(0),
        r.emmett === null ? '-' : (r.cairn / r.emmett).toFixed(2),
      ]),
    ]
    const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)))
    for (const row of table) print(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '))
    const [one, eight, batch] = results as [Scenario, Scenario, Scenario]
    print.figure('appends_per_s_1_writer', one.cairn, one.emmett!)
    print.figure('emmett_ratio_1_writer', one.cairn / one.emmett!)
    print.figure('appends_per_s_8_writers', eight.cairn, eight.emmett!)
    print.figure('emmett_ratio_8_writers', eight.cairn / eight.emmett!)
    print.figure('batch_events_per_s', batch.cairn, batch.plain)
    print.figure('batch_insert_ratio', batch.cairn / batch.plain)
    await store.close()
  } finally {
    await emmett.close().catch(() => {})
    await baseline.end()
    await db.close()
    await fresh.drop()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchEventStore(createReport('eventstore', (line) => console.log(line), process.argv.includes('--json')))
}
