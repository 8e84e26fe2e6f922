// The soak's own PostgreSQL: a cluster made with initdb in its temporary folder, on a free port of
// 127.0.0.1, so restarting it touches nobody else's server. Where that cannot be done (no initdb,
// root without a postgres user), a fresh database on the shared server instead, and no restarts.
import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'

const run = promisify(execFile)

export interface SoakDatabase {
  /** postgres://… of the soak's database. */
  url: string
  /** Stops the cluster (`fast`: a clean shutdown; `immediate`: a crash) and starts it again; absent when the soak does not own the server. */
  restart?(mode: 'fast' | 'immediate', downMs: number, onDown?: () => void): Promise<void>
  /** Why restart is absent. */
  noRestartReason?: string
  close(): Promise<void>
}

/** initdb and pg_ctl of the newest PostgreSQL installed, or null. */
function postgresBinaries(): { initdb: string; pgCtl: string } | null {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : []
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0]
  if (newest) return { initdb: join(root, newest, 'bin', 'initdb'), pgCtl: join(root, newest, 'bin', 'pg_ctl') }
  return null
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Runs a PostgreSQL binary as the current user, or as `postgres` when we are root (initdb refuses root). */
async function asPostgresUser(bin: string, args: string[]): Promise<void> {
  const root = process.getuid?.() === 0
  const [command, argv] = root ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args]
  await run(command, argv, { timeout: 120_000 })
}

export async function openSoakDatabase(dir: string, sharedAdminUrl: string): Promise<SoakDatabase> {
  let reason: string
  try {
    return await ownCluster(dir)
  } catch (err) {
    reason = `could not run a PostgreSQL cluster of its own (${(err as Error).message.split('\n')[0]})`
  }
  const name = `cairn_soak_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: sharedAdminUrl })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  const url = new URL(sharedAdminUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    noRestartReason: reason,
    async close() {
      const client = new pg.Client({ connectionString: sharedAdminUrl })
      await client.connect()
      await client.query(`drop database if exists ${name} with (force)`)
      await client.end()
    },
  }
}

async function ownCluster(dir: string): Promise<SoakDatabase> {
  const bins = postgresBinaries()
  if (!bins) throw new Error('no initdb under /usr/lib/postgresql')
  const data = join(dir, 'pgdata')
  const socketDir = join(dir, 'pgsocket')
  mkdirSync(socketDir, { recursive: true })
  if (process.getuid?.() === 0) {
    for (const d of [dir, socketDir]) chownSync(d, ...postgresIds())
  }
  await asPostgresUser(bins.initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'])
  const port = await freePort()
  // Loopback only; fsync off (a restart here is a process crash, not the machine's: the OS keeps the writes).
  const options = `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`
  const pgCtl = (...args: string[]) => asPostgresUser(bins.pgCtl, ['-D', data, ...args])
  await pgCtl('-o', options, '-l', join(dir, 'postgres.log'), '-w', 'start')
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query('create database soak')
  await admin.end()
  let stopped = false
  return {
    url: `postgres://postgres@127.0.0.1:${port}/soak`,
    async restart(mode, downMs, onDown) {
      await pgCtl('-m', mode, '-w', 'stop')
      onDown?.()
      await new Promise((r) => setTimeout(r, downMs))
      await pgCtl('-o', options, '-l', join(dir, 'postgres.log'), '-w', 'start')
    },
    async close() {
      if (stopped) return
      stopped = true
      await pgCtl('-m', 'immediate', '-w', 'stop').catch(() => {})
    },
  }
}

function postgresIds(): [number, number] {
  // `id` fails clearly when there is no such user.
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
  return [uid, gid]
}
