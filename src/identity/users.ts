import { randomUUID } from 'node:crypto'
import { handleCommand } from '../../commands/handler.ts'
import { userDecider, type UserCommand } from '../../commands/user/decide.ts'
import type { Sql } from '../db/database.ts'
import { DEFAULT_ORGANIZATION_ID, userStream, type Role } from '../events/user.ts'
import type { Actor, Checkpoint, EventStore } from '../eventstore/types.ts'
import type { Principal } from './permissions.ts'
import { generateToken, hashToken, uuidFromText } from './tokens.ts'

/**
 * A user's id is derived from their email, so "one user per email" is enforced by the
 * event store itself (the second CreateUser finds the stream and is rejected).
 */
export function userIdForEmail(email: string, organizationId = DEFAULT_ORGANIZATION_ID): string {
  return uuidFromText(`cairn-user:${organizationId}:${email.trim().toLowerCase()}`)
}

export interface IdentityWriteOptions {
  /** Who does it; the CLI and the bootstrap act as the system. */
  actor?: Actor
  correlationId?: string
}

export interface IssuedToken {
  userId: string
  tokenId: string
  /** The token itself: shown once, never stored. */
  token: string
  checkpoint: Checkpoint
}

async function runUserCommand(store: EventStore, userId: string, command: UserCommand, options: IdentityWriteOptions) {
  const commandId = randomUUID()
  return handleCommand(store, userStream(userId), userDecider, command, {
    commandId,
    metadata: {
      actor: options.actor ?? { kind: 'system', id: 'cairn' },
      organizationId: DEFAULT_ORGANIZATION_ID,
      correlationId: options.correlationId ?? commandId,
      causationId: commandId,
    },
  })
}

/** Creates a user and issues their first token. */
export async function createUser(
  store: EventStore,
  input: { email: string; name?: string; role: Role },
  options: IdentityWriteOptions = {},
): Promise<IssuedToken> {
  const email = input.email.trim().toLowerCase()
  const userId = userIdForEmail(email)
  await runUserCommand(
    store,
    userId,
    { type: 'CreateUser', userId, email, name: input.name?.trim() || email.split('@')[0]!, role: input.role, organizationId: DEFAULT_ORGANIZATION_ID },
    options,
  )
  return issueToken(store, { userId, label: 'first token' }, options)
}

/** Issues another token for an existing user (NOT_FOUND when there is none). */
export async function issueToken(
  store: EventStore,
  input: { userId?: string; email?: string; label?: string },
  options: IdentityWriteOptions = {},
): Promise<IssuedToken> {
  const userId = input.userId ?? userIdForEmail(input.email ?? '')
  const token = generateToken()
  const tokenId = randomUUID()
  const outcome = await runUserCommand(
    store,
    userId,
    { type: 'IssueToken', tokenId, tokenHash: hashToken(token), label: input.label ?? 'api token' },
    options,
  )
  return { userId, tokenId, token, checkpoint: outcome.result!.checkpoint }
}

/** The user a token belongs to, from the `api_tokens` and `users` read models; null when unknown or revoked. */
export async function authenticateToken(db: Sql, token: string): Promise<Principal | null> {
  const rows = await db.query<{ id: string; email: string; name: string; role: Role; organization_id: string }>(
    `select u.id, u.email, u.name, u.role, u.organization_id
       from api_tokens t join users u on u.id = t.user_id
      where t.token_hash = $1 and not t.revoked`,
    [hashToken(token)],
  )
  const row = rows[0]
  if (!row) return null
  return { userId: row.id, email: row.email, name: row.name, role: row.role, organizationId: row.organization_id }
}
