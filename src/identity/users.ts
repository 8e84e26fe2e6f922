import { randomUUID } from 'node:crypto'
import { handleCommand } from '../../commands/handler.ts'
import { userDecider, type UserCommand } from '../../commands/user/decide.ts'
import type { Sql } from '../db/database.ts'
import { organizationDecider } from '../../commands/organization/decide.ts'
import { organizationStream } from '../events/organization.ts'
import { AGENTS_ACCESS, DEFAULT_ORGANIZATION_ID, userStream, type OrgRole, type OrgRoles, type Role } from '../events/user.ts'
import type { Actor, Checkpoint, EventStore } from '../eventstore/types.ts'
import type { Principal } from './permissions.ts'
import { bearerToken, generateToken, hashToken, uuidFromText } from './tokens.ts'

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
  /** The organization the change is about (its auditors see it); default: the default organization. */
  organizationId?: string
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
      organizationId: options.organizationId ?? DEFAULT_ORGANIZATION_ID,
      correlationId: options.correlationId ?? commandId,
      causationId: commandId,
    },
  })
}

/** Creates a user and issues their first token. */
export async function createUser(
  store: EventStore,
  input: { email: string; name?: string; role: Role; organizationId?: string; agentsAccess?: boolean },
  options: IdentityWriteOptions = {},
): Promise<IssuedToken> {
  const email = input.email.trim().toLowerCase()
  const userId = userIdForEmail(email)
  await runUserCommand(
    store,
    userId,
    {
      type: 'CreateUser',
      userId,
      email,
      name: input.name?.trim() || email.split('@')[0]!,
      role: input.role,
      organizationId: input.organizationId ?? DEFAULT_ORGANIZATION_ID,
      agentsAccess: input.agentsAccess ?? true,
    },
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

/** Adds (`GrantRole`) or removes (`RevokeRole`) one role of a user in one organization; the user's other roles stay. */
export async function changeOrganizationRole(
  store: EventStore,
  input: { userId: string; organizationId: string; role: OrgRole; grant: boolean },
  options: IdentityWriteOptions = {},
): Promise<Checkpoint | null> {
  const outcome = await runUserCommand(
    store,
    input.userId,
    { type: input.grant ? 'GrantRole' : 'RevokeRole', organizationId: input.organizationId, role: input.role },
    { organizationId: input.organizationId, ...options },
  )
  return outcome.result?.checkpoint ?? null
}

/** Revokes one of a user's tokens (NOT_FOUND when the user has no such token). */
export async function revokeToken(store: EventStore, input: { userId: string; tokenId: string }, options: IdentityWriteOptions = {}): Promise<Checkpoint | null> {
  const outcome = await runUserCommand(store, input.userId, { type: 'RevokeToken', tokenId: input.tokenId }, options)
  return outcome.result?.checkpoint ?? null
}

/** An organization's id derives from its name, so the event store itself keeps names unique. */
export const organizationIdForName = (name: string) => uuidFromText(`cairn-organization:${name}`)

export async function createOrganization(store: EventStore, name: string, options: IdentityWriteOptions = {}): Promise<{ organizationId: string; checkpoint: Checkpoint }> {
  const organizationId = organizationIdForName(name)
  const commandId = randomUUID()
  const outcome = await handleCommand(store, organizationStream(organizationId), organizationDecider, { type: 'CreateOrganization', organizationId, name }, {
    commandId,
    metadata: {
      actor: options.actor ?? { kind: 'system', id: 'cairn' },
      organizationId,
      correlationId: options.correlationId ?? commandId,
      causationId: commandId,
    },
  })
  return { organizationId, checkpoint: outcome.result!.checkpoint }
}

/** The admin/auditor/member role `roles` amount to (admin over auditor over member), or null for none. */
export function baseRole(roles: readonly OrgRole[] | undefined): Role | null {
  return (['admin', 'auditor', 'member'] as const).find((r) => roles?.includes(r)) ?? (roles?.length ? 'member' : null)
}

/** An organization by id or name: its id, or null when there is none. */
export async function findOrganization(db: Sql, idOrName: string): Promise<string | null> {
  const key = idOrName.trim().toLowerCase()
  if (key === DEFAULT_ORGANIZATION_ID || key === 'default') return DEFAULT_ORGANIZATION_ID
  const rows = await db.query<{ id: string }>('select id::text as id from organizations where id::text = $1 or name = $1', [key])
  return rows[0]?.id ?? null
}

/**
 * The user a token belongs to, acting in `organization` (an id or name; default: their home
 * organization, else the first they belong to), from the `api_tokens`, `users` and
 * `user_org_roles` read models; null when the token is unknown or revoked. A caller who is not
 * a member of that organization gets a principal with no role there: every rule refuses it.
 */
export async function authenticateToken(db: Sql, token: string, organization?: string | null): Promise<Principal | null> {
  const rows = await db.query<{ id: string; email: string; name: string; organization_id: string; roles: OrgRoles | null; token_id: string }>(
    `select u.id, u.email, u.name, u.organization_id, r.roles, t.token_id::text as token_id
       from api_tokens t join users u on u.id = t.user_id left join user_org_roles r on r.user_id = u.id
      where t.token_hash = $1 and not t.revoked`,
    [hashToken(token)],
  )
  const row = rows[0]
  if (!row) return null
  const orgRoles = row.roles ?? {}
  const active = organization
    ? ((await findOrganization(db, organization)) ?? '')
    : orgRoles[row.organization_id]?.length
      ? row.organization_id
      : (Object.keys(orgRoles).sort()[0] ?? row.organization_id)
  const roles = orgRoles[active]
  return {
    userId: row.id,
    email: row.email,
    name: row.name,
    organizationId: active,
    homeOrganizationId: row.organization_id,
    role: baseRole(roles),
    agentsAccess: roles?.includes(AGENTS_ACCESS) ?? false,
    orgRoles,
    tokenId: row.token_id,
  }
}


/** The caller of an HTTP request or WebSocket connection: its bearer token, acting in the organization it names (an id or name), else their home one. */
export async function authenticateRequest(db: Sql, headers: { authorization?: unknown; organization?: unknown }): Promise<Principal | null> {
  const token = bearerToken(headers.authorization)
  const organization = typeof headers.organization === 'string' && headers.organization.trim() ? headers.organization : null
  return token ? authenticateToken(db, token, organization) : null
}

/** The organization header of an HTTP request. */
export const ORGANIZATION_HEADER = 'x-cairn-organization'

/** The credentials of an HTTP request: its Authorization and X-Cairn-Organization headers. */
export const requestCredentials = (headers: Record<string, unknown>) => ({ authorization: headers.authorization, organization: headers[ORGANIZATION_HEADER] })
