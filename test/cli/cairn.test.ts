import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'
import { cairnEnv, runCairn, spawnCairn } from './run-cairn.ts'

const dataDir = mkdtempSync(join(tmpdir(), 'cairn-cli-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))
const pgliteEnv = cairnEnv({ CAIRN_DATA_DIR: dataDir, DATABASE_URL: undefined })

// Each case starts Node and PGlite (WASM) in a child process: slow on a loaded machine.
describe('the cairn command', { timeout: 180_000 }, () => {
  it('prints usage for an unknown command and exits 2', async () => {
    const result = await runCairn(['frobnicate'], pgliteEnv)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/unknown command: frobnicate/)
    expect(result.stderr).toMatch(/usage: cairn <command>/)
    for (const command of ['serve', 'migrate', 'projections status', 'bench']) expect(result.stderr).toContain(command)
  })

  it('migrate creates the embedded database in CAIRN_DATA_DIR, then reports it up to date', async () => {
    const first = await runCairn(['migrate'], pgliteEnv)
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/migration applied: 001_event_store\.sql/)
    expect(first.stdout).toMatch(/migration applied: 002_projections\.sql/)
    expect(first.stdout).toContain(`PGlite in ${dataDir}/pgdata`)

    const second = await runCairn(['migrate'], pgliteEnv)
    expect(second.code).toBe(0)
    expect(second.stdout).toMatch(/is up to date/)
  })

  it("projections status prints each projection's checkpoint and lag", async () => {
    const result = await runCairn(['projections', 'status'], pgliteEnv)
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const lines = result.stdout.trim().split('\n')
    const header = lines.findIndex((l) => /^PROJECTION\s+CHECKPOINT\s+LAG/.test(l))
    if (header === -1) {
      expect(result.stdout).toMatch(/no projections are registered/)
    } else {
      for (const row of lines.slice(header + 1)) expect(row).toMatch(/^\S+\s+\(start\)\s+0\b/)
    }
  })

  it('projections with a wrong action prints its usage', async () => {
    const result = await runCairn(['projections', 'explode'], pgliteEnv)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/usage: cairn projections status \| projections rebuild \[name\]/)
  })

  it('serve answers /healthz and /metrics, and SIGTERM closes it cleanly', async () => {
    await serveAndProbe(cairnEnv({ CAIRN_DATA_DIR: dataDir, DATABASE_URL: undefined }), 'pglite')
  })

  it.skipIf(!postgresAvailable)('serve runs on PostgreSQL when DATABASE_URL is set', async () => {
    const fresh = await createFreshPostgresDatabase()
    try {
      const env = cairnEnv({ CAIRN_DATA_DIR: dataDir, DATABASE_URL: fresh.url })
      const migrated = await runCairn(['migrate'], env)
      expect(migrated.code).toBe(0)
      expect(migrated.stdout).toMatch(/applied \d+ migration\(s\) to PostgreSQL/)
      await serveAndProbe(env, 'postgres')
    } finally {
      await fresh.drop()
    }
  })
})

async function serveAndProbe(env: NodeJS.ProcessEnv, database: string) {
  const child = spawnCairn(['serve'], { ...env, PORT: '0', HOST: '127.0.0.1' })
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString()
        const match = /cairn listening on (http:\/\/\S+)/.exec(stdout)
        if (match) resolve(match[1]!)
      })
      child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${stdout}${stderr}`)))
    })

    const health = await fetch(`${url}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ ok: true, database })

    const metrics = await fetch(`${url}/metrics`)
    expect(metrics.status).toBe(200)
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await metrics.text()
    expect(text).toMatch(/^# TYPE cairn_events_appended_total counter$/m)
    expect(text).toMatch(/^cairn_events_appended_total \d+$/m)
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m)
    expect(text).toMatch(/^process_uptime_seconds [\d.]+$/m)
  } finally {
    child.kill('SIGTERM')
  }
  expect(await exited).toBe(0)
  expect(stdout).toMatch(/SIGTERM: closing/)
  expect(stderr).toBe('')
}
