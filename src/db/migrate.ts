import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Database } from './database.ts'

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url))

/** Applies numbered `migrations/NNN_name.sql` files not yet applied, each in its own transaction. */
export async function migrate(db: Database, log: (line: string) => void = () => {}): Promise<string[]> {
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort()
  const applied: string[] = []
  await db.query(
    'create table if not exists schema_migrations (name text primary key, applied_at timestamptz not null default now())',
  )
  for (const name of files) {
    const done = await db.transaction(async (tx) => {
      // Several server processes may start at once on one PostgreSQL database.
      if (db.kind === 'postgres') await tx.query('select pg_advisory_xact_lock(7247001)')
      const rows = await tx.query('select 1 from schema_migrations where name = $1', [name])
      if (rows.length) return false
      for (const statement of splitStatements(readFileSync(MIGRATIONS_DIR + name, 'utf8'))) {
        await tx.query(statement)
      }
      await tx.query('insert into schema_migrations (name) values ($1)', [name])
      return true
    })
    if (done) {
      applied.push(name)
      log(`migration applied: ${name}`)
    }
  }
  return applied
}

/**
 * Splits a migration into statements on `;` at line ends, keeping `$$ … $$` bodies whole
 * (extended-protocol queries take one statement each).
 */
function splitStatements(sqlText: string): string[] {
  const statements: string[] = []
  let current = ''
  let inDollar = false
  for (const line of sqlText.split('\n')) {
    if (/^\s*--/.test(line) && !inDollar) continue
    current += line + '\n'
    const dollars = line.match(/\$\$/g)?.length ?? 0
    if (dollars % 2 === 1) inDollar = !inDollar
    if (!inDollar && /;\s*$/.test(line)) {
      statements.push(current.trim())
      current = ''
    }
  }
  if (current.trim()) statements.push(current.trim())
  return statements
}
