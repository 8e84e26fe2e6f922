/** `cairn users create` and `cairn tokens create`: identity from the command line, as events. */
import { parseArgs } from 'node:util'
import { CommandError } from '../../commands/errors.ts'
import { ROLES, type Role } from '../events/user.ts'
import type { EventStore } from '../eventstore/types.ts'
import { createUser, issueToken } from './users.ts'

export interface IdentityCliIo {
  out(line: string): void
  err(line: string): void
}

/** Runs `users create --email E --role R [--name N]` or `tokens create --email E [--label L]` against `store`. */
export async function runIdentityCommand(kind: 'users' | 'tokens', args: string[], store: EventStore, io: IdentityCliIo): Promise<number> {
  const usage = kind === 'users' ? 'usage: cairn users create --email E --role admin|auditor|member [--name N]' : 'usage: cairn tokens create --email E [--label L]'
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { email: { type: 'string' }, role: { type: 'string' }, name: { type: 'string' }, label: { type: 'string' } },
    })
  } catch (err) {
    io.err(`${err instanceof Error ? err.message : String(err)}\n${usage}`)
    return 2
  }
  const { email, role, name, label } = parsed.values
  if (parsed.positionals.join(' ') !== 'create' || !email || (kind === 'users' && !role)) {
    io.err(usage)
    return 2
  }
  if (kind === 'users' && !ROLES.includes(role as Role)) {
    io.err(`--role must be one of ${ROLES.join(', ')}; got ${role}`)
    return 2
  }
  try {
    const issued =
      kind === 'users'
        ? await createUser(store, { email, role: role as Role, ...(name ? { name } : {}) }, { actor: { kind: 'system', id: 'cli' } })
        : await issueToken(store, { email, ...(label ? { label } : {}) }, { actor: { kind: 'system', id: 'cli' } })
    io.err(kind === 'users' ? `created ${role} ${email} (user ${issued.userId}); API token, shown only once:` : `new API token for ${email}, shown only once:`)
    io.out(issued.token)
    return 0
  } catch (err) {
    if (err instanceof CommandError) {
      io.err(err.code === 'NOT_FOUND' ? `no user with email ${email}` : err.code === 'ALREADY_EXISTS' ? `a user with email ${email} already exists` : err.message)
      return 1
    }
    throw err
  }
}
