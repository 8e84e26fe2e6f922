import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/db/database.ts'
import { migrate } from '../../src/db/migrate.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import { writeChatWithFork } from '../audit/chat-fixture.ts'
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'
import { cairnEnv, runCairn } from './run-cairn.ts'

const dirs: string[] = []
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

/** Writes the fixture chat through the store into the database the CLI will open, then closes it. */
async function seed(options: { url?: string; dataDir: string }) {
  const db = await openDatabase(options.url ? { url: options.url } : { dataDir: join(options.dataDir, 'pgdata') })
  try {
    await migrate(db)
    const store = createSqlEventStore(db)
    const ids = await writeChatWithFork(store)
    await store.close()
    return ids
  } finally {
    await db.close()
  }
}

async function editRow(options: { url?: string; dataDir: string }, stream: string, revision: number) {
  const db = await openDatabase(options.url ? { url: options.url } : { dataDir: join(options.dataDir, 'pgdata') })
  try {
    await db.query(`update events set data = jsonb_set(data, '{edited}', 'true') where stream = $1 and revision = $2`, [stream, revision])
  } finally {
    await db.close()
  }
}

// Each command starts Node (and PGlite's WASM) in a child process: slow on a loaded machine.
describe('cairn events on PGlite', { timeout: 300_000 }, () => {
  it('verify passes a clean log, then names the row edited by hand and exits 1', async () => {
    const dataDir = tempDir('cairn-events-')
    const env = cairnEnv({ CAIRN_DATA_DIR: dataDir, DATABASE_URL: undefined, CAIRN_ANCHOR_KEY: undefined, CAIRN_ANCHOR_PUBLIC_KEY: undefined })
    const { chatId } = await seed({ dataDir })

    const clean = await runCairn(['events', 'verify'], env)
    expect(clean.stderr).toBe('')
    expect(clean.stdout).toMatch(/^ok: 2 streams, 11 events hashed in [\d.]+ s \(\d+ events\/s\); 0 broken$/m)
    expect(clean.code).toBe(0)

    await editRow({ dataDir }, `chat-${chatId}`, 3)
    const broken = await runCairn(['events', 'verify', '--all'], env)
    expect(broken.code).toBe(1)
    expect(broken.stdout).toContain(`BROKEN chat-${chatId} revision 3 (hash_mismatch)`)
    expect(broken.stdout).toMatch(/expected hash: [0-9a-f]{64}\n\s+stored hash:\s+[0-9a-f]{64}/)
    expect(broken.stdout).toMatch(/^FAILED: 2 streams/m)
  })

  it('refuses bad options with usage and exit code 2', async () => {
    const env = cairnEnv({ CAIRN_DATA_DIR: tempDir('cairn-events-usage-'), DATABASE_URL: undefined })
    const result = await runCairn(['events', 'export', '--chat', 'not-a-uuid'], env)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/--chat must be a chat id/)
  })
})

describe.skipIf(!postgresAvailable)('cairn events on PostgreSQL', { timeout: 600_000 }, () => {
  it('anchors, exports (JSON lines and Markdown), replays, imports elsewhere, and verify catches a whole-chain rewrite', async () => {
    const source = await createFreshPostgresDatabase()
    const target = await createFreshPostgresDatabase()
    try {
      const dataDir = tempDir('cairn-events-pg-')
      const keyFile = join(tempDir('cairn-anchor-key-'), 'anchor.pem')
      const env = cairnEnv({ CAIRN_DATA_DIR: dataDir, DATABASE_URL: source.url, CAIRN_ANCHOR_KEY: keyFile, CAIRN_ANCHOR_PUBLIC_KEY: undefined })
      const { chatId, forkId } = await seed({ url: source.url, dataDir })

      const anchored = await runCairn(['events', 'anchor'], env)
      expect(anchored.stderr).toBe('')
      expect(anchored.code).toBe(0)
      expect(anchored.stdout).toMatch(/^anchored 11 events through \d{20}:\d{20}: root [0-9a-f]{64}, key [0-9a-f]{16}/m)
      expect(statSync(keyFile).mode & 0o777).toBe(0o600)
      const verified = await runCairn(['events', 'verify'], env)
      expect(verified.code).toBe(0)
      expect(verified.stdout).toMatch(/^anchors: 1 of 1 verify/m)

      const exportFile = join(dataDir, 'fork.jsonl')
      const exported = await runCairn(['events', 'export', '--chat', forkId, '--out', exportFile], env)
      expect(exported.code).toBe(0)
      const lines = readFileSync(exportFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
      expect(lines[0]).toMatchObject({ kind: 'header', chatId: forkId })
      // The fork reads the source's events 0..5 (inherited, not copied) and then its own two.
      expect(lines.filter((l) => l.kind === 'event').map((l) => `${l.stream === `chat-${chatId}` ? 'source' : 'fork'}:${l.revision}`)).toEqual([
        'source:0', 'source:1', 'source:2', 'source:3', 'source:4', 'source:5', 'fork:6', 'fork:7',
      ])
      expect(lines.at(-1)).toMatchObject({ kind: 'end', events: 8 })

      const markdown = await runCairn(['events', 'export', '--chat', chatId, '--format', 'markdown'], env)
      expect(markdown.code).toBe(0)
      expect(markdown.stdout).toContain('# Fix the build')
      expect(markdown.stdout).toContain('**Tool call** `execute` (id `call-1`)')
      expect(markdown.stdout).toContain('"command": "npm run build"')
      expect(markdown.stdout).toContain('**Tool result** `execute` (id `call-1`)')
      expect(markdown.stdout).toContain('error TS2304: Cannot find name `foo`')
      expect(markdown.stdout).toContain('## Context compacted through revision 5')

      const replay = await runCairn(['events', 'replay', '--chat', chatId], env)
      expect(replay.code).toBe(0)
      expect(replay.stdout).toContain('── step 1 (revision 3): the model was sent 1 messages')
      expect(replay.stdout).toContain('Why does the build fail?')
      expect(replay.stdout).toContain('══ revision 6: context compacted through revision 5')
      // After the compaction the model saw the summary, not the tool output it covers.
      const step2 = replay.stdout.slice(replay.stdout.indexOf('── step 2'))
      expect(step2).toContain('the context was rebuilt')
      expect(step2).toContain('Summary of the conversation so far:')
      expect(step2).not.toContain('TS2304')

      const targetEnv = cairnEnv({ CAIRN_DATA_DIR: tempDir('cairn-events-target-'), DATABASE_URL: target.url })
      const imported = await runCairn(['events', 'import', exportFile], targetEnv)
      expect(imported.stderr).toBe('')
      expect(imported.code).toBe(0)
      expect(imported.stdout).toContain(`imported chat ${forkId}: 8 events in 2 streams`)
      const importedVerify = await runCairn(['events', 'verify'], targetEnv)
      expect(importedVerify.stdout).toMatch(/^ok: 2 streams, 8 events hashed/m)
      expect(importedVerify.code).toBe(0)
      const again = await runCairn(['events', 'import', exportFile], targetEnv)
      expect(again.code).toBe(1)
      expect(again.stderr).toMatch(/STREAM_EXISTS: this database already has .*; nothing was imported/)

      // Someone with database access rewrites a stream and recomputes its hashes and head: every
      // chain verifies on its own, the signed anchor does not.
      const db = await openDatabase({ url: source.url })
      try {
        const { canonicalJson, eventHash } = await import('../../src/eventstore/hash.ts')
        const rows = await db.query<{ revision: string; id: string; type: string; data: string; metadata: string }>(
          `select revision::text as revision, id::text as id, type, data::text as data, metadata::text as metadata from events where stream = $1 order by revision`,
          [`chat-${forkId}`],
        )
        let previous = (await db.query<{ hash: string }>(`select hash from events where stream = $1 and revision = 5`, [`chat-${chatId}`]))[0]!.hash
        for (const r of rows) {
          const data = r.type === 'UserMessagePosted' ? { ...JSON.parse(r.data), parts: [{ type: 'text', text: 'Something else.' }] } : JSON.parse(r.data)
          previous = eventHash(previous, { id: r.id, type: r.type, data, metadata: JSON.parse(r.metadata), revision: BigInt(r.revision), stream: `chat-${forkId}` })
          await db.query(`update events set data = $1::jsonb, hash = $2 where stream = $3 and revision = $4`, [canonicalJson(data), previous, `chat-${forkId}`, r.revision])
        }
        await db.query(`update streams set hash = $1 where stream = $2`, [previous, `chat-${forkId}`])
      } finally {
        await db.close()
      }
      const rewritten = await runCairn(['events', 'verify'], env)
      expect(rewritten.code).toBe(1)
      expect(rewritten.stdout).toMatch(/^ok: 3 streams/m)
      expect(rewritten.stdout).toMatch(/^BROKEN anchor #0 through .*no longer matches the signed root/m)
    } finally {
      await source.drop()
      await target.drop()
    }
  })

})
