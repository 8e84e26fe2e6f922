import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { openDatabase, type Database } from '../../src/db/database.ts'
import { migrate } from '../../src/db/migrate.ts'

/** The server the Postgres suites create their fresh databases on. */
export const POSTGRES_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 2000 })
  try {
    await client.connect()
    await client.end()
    return true
  } catch {
    return false
  }
}

export const postgresAvailable = await postgresReachable()
if (!postgresAvailable) {
  if (process.env.CI) throw new Error(`CI is set but PostgreSQL is not reachable at ${POSTGRES_ADMIN_URL}`)
  console.warn(`\n*** PostgreSQL not reachable at ${POSTGRES_ADMIN_URL}: the PostgreSQL suites are SKIPPED ***\n`)
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url)
  u.pathname = '/' + name
  return u.toString()
}

/** Creates a new, empty database on the test server and returns its URL and a drop function. */
export async function createFreshPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `cairn_test_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  return {
    url: withDatabase(POSTGRES_ADMIN_URL, name),
    async drop() {
      const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL })
      await client.connect()
      await client.query(`drop database if exists ${name} with (force)`)
      await client.end()
    },
  }
}

let pgliteImage: Promise<Blob> | null = null
/** initdb and the migrations run once per test process; each PGlite test database starts from their image. */
function migratedPGliteImage(): Promise<Blob> {
  pgliteImage ??= (async () => {
    const db = await openDatabase({})
    await migrate(db)
    const image = await db.dumpImage!()
    await db.close()
    return image
  })()
  return pgliteImage
}

export interface TestBackend {
  name: 'pglite' | 'postgres'
  available: boolean
  /** A migrated, empty database of this backend. Call the returned close when done. */
  open(): Promise<{ db: Database; url?: string; close(): Promise<void> }>
}

export const backends: TestBackend[] = [
  {
    name: 'pglite',
    available: true,
    async open() {
      const db = await openDatabase({ pgliteImage: await migratedPGliteImage() })
      await migrate(db)
      return { db, close: () => db.close() }
    },
  },
  {
    name: 'postgres',
    available: postgresAvailable,
    async open() {
      const fresh = await createFreshPostgresDatabase()
      const db = await openDatabase({ url: fresh.url })
      await migrate(db)
      return {
        db,
        url: fresh.url,
        async close() {
          await db.close()
          await fresh.drop()
        },
      }
    },
  },
]

/**
 * Where a test's real server keeps its data: PGlite in its data dir (no URL), or a fresh
 * PostgreSQL database (`url`), dropped after. For suites that start the whole server.
 */
export const serverBackends = [
  { name: 'PGlite', available: true, database: async () => ({ url: undefined as string | undefined, drop: async () => {} }) },
  { name: 'PostgreSQL', available: postgresAvailable, database: createFreshPostgresDatabase },
]
