import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CommandError } from '../../commands/errors.ts'
import type { Checkpoint, EventStore } from '../eventstore/types.ts'
import { createUser } from './users.ts'

export const BOOTSTRAP_ADMIN_EMAIL = 'admin@cairn.local'

export interface BootstrapContext {
  store: EventStore
  env: { dataDir: string }
  engine: { waitForAll(checkpoint: Checkpoint, timeoutMs?: number): Promise<void> }
  log: (line: string) => void
}

/**
 * On a log with no users, creates an admin, prints its token once and writes it (mode 0600)
 * to `<dataDir>/admin-token`. Returns the token when it created one. Safe when several
 * processes start at once: the admin's stream can be created only once.
 */
export async function bootstrapAdmin(ctx: BootstrapContext): Promise<string | null> {
  const existing = await ctx.store.readAll({ filter: { eventTypes: ['UserCreated'] }, maxCount: 1 })
  if (existing.events.length) return null
  let issued
  try {
    issued = await createUser(ctx.store, { email: BOOTSTRAP_ADMIN_EMAIL, name: 'admin', role: 'admin' }, { actor: { kind: 'system', id: 'bootstrap' } })
  } catch (err) {
    if (err instanceof CommandError && (err.code === 'ALREADY_EXISTS' || err.code === 'CONFLICT')) return null
    throw err
  }
  const file = join(ctx.env.dataDir, 'admin-token')
  mkdirSync(ctx.env.dataDir, { recursive: true })
  writeFileSync(file, issued.token + '\n', { mode: 0o600 })
  chmodSync(file, 0o600)
  ctx.log(`created the first admin (${BOOTSTRAP_ADMIN_EMAIL}); its API token, shown only this once (also in ${file}):`)
  ctx.log(`  ${issued.token}`)
  await ctx.engine.waitForAll(issued.checkpoint)
  return issued.token
}
