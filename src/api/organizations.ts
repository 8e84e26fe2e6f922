/**
 * Organizations, memberships and API tokens over GraphQL. Roles are granted and revoked by the
 * organization's admins and only ever add to or remove from a user's roles; tokens are revoked by
 * their user or an admin of the user's home organization. A token or user the caller may not
 * manage answers exactly like one that does not exist.
 */
import { CommandError, invalidInput } from '../../commands/errors.ts'
import { DEFAULT_ORGANIZATION_ID, DEFAULT_ORGANIZATION_NAME, ORG_ROLES, type OrgRole, type OrgRoles } from '../events/index.ts'
import type { Checkpoint } from '../eventstore/types.ts'
import { canConfigure, isOrganizationAdmin, requirePrincipal, type Principal } from '../identity/permissions.ts'
import { changeOrganizationRole, createOrganization, findOrganization, issueToken, revokeToken, userIdForEmail } from '../identity/users.ts'
import type { ApiContext } from './context.ts'

interface UserRow {
  id: string
  email: string
  name: string
  roles: OrgRoles | null
}

const toGraphqlRole = (r: OrgRole) => r.toUpperCase().replace('-', '_')
const fromGraphqlRole = (r: string): OrgRole => {
  const role = r.toLowerCase().replace('_', '-') as OrgRole
  if (!ORG_ROLES.includes(role)) throw invalidInput(`role must be one of ${ORG_ROLES.map(toGraphqlRole).join(', ')}`)
  return role
}

const memberView = (u: UserRow, organizationId: string) => ({ id: u.id, email: u.email, name: u.name, roles: (u.roles?.[organizationId] ?? []).map(toGraphqlRole) })
const tokenView = (t: { token_id: string; label: string; created_at: Date; revoked: boolean }) => ({ id: t.token_id, label: t.label, createdAt: t.created_at, revoked: t.revoked })

const identityWrite = (ctx: ApiContext, p: Principal) => ({ actor: { kind: 'user' as const, id: p.userId }, correlationId: ctx.requestId })

async function waitForRead(ctx: ApiContext, checkpoint: Checkpoint | null) {
  if (checkpoint) await ctx.api.engine.waitForAll(checkpoint, ctx.api.readYourWriteTimeoutMs)
}

async function organizationNames(ctx: ApiContext, ids: string[]): Promise<Map<string, string>> {
  const rows = ids.length ? await ctx.api.db.query<{ id: string; name: string }>('select id::text as id, name from organizations where id::text = any($1)', [ids]) : []
  return new Map([[DEFAULT_ORGANIZATION_ID, DEFAULT_ORGANIZATION_NAME], ...rows.map((r) => [r.id, r.name] as const)])
}

/** The organization an admin-only call is about: `orgId` or the one the request acts in; NOT_FOUND unless the caller administers it. */
async function administeredOrganization(ctx: ApiContext, p: Principal, orgId: string | null | undefined): Promise<string> {
  const organizationId = orgId ? await findOrganization(ctx.api.db, orgId) : p.organizationId
  if (organizationId && isOrganizationAdmin(p, organizationId)) return organizationId
  // Not an admin there: whether the organization exists is none of the caller's business.
  if (organizationId && p.orgRoles[organizationId]) throw new CommandError('FORBIDDEN', 'only admins of the organization manage its members')
  throw new CommandError('NOT_FOUND', 'organization not found')
}

async function userRow(ctx: ApiContext, userId: string): Promise<UserRow | null> {
  const rows = await ctx.api.db.query<UserRow>(
    'select u.id::text as id, u.email, u.name, r.roles from users u left join user_org_roles r on r.user_id = u.id where u.id::text = $1',
    [userId],
  )
  return rows[0] ?? null
}

async function changeRole(ctx: ApiContext, input: { userId?: string | null; email?: string | null; orgId?: string | null; role: string }, grant: boolean) {
  const p = requirePrincipal(ctx.principal)
  const organizationId = await administeredOrganization(ctx, p, input.orgId)
  const role = fromGraphqlRole(input.role)
  if ((input.userId == null) === (input.email == null)) throw invalidInput('name the user by userId or by email (one of them)')
  const userId = input.userId ?? userIdForEmail(input.email!)
  const user = await userRow(ctx, userId)
  if (!user) throw new CommandError('NOT_FOUND', 'user not found')
  // Revoking a role of someone outside the organization: they are not the admin's to see.
  if (!grant && !user.roles?.[organizationId]) throw new CommandError('NOT_FOUND', 'user not found')
  if (!grant && role === 'admin' && userId === p.userId) throw invalidInput('you cannot revoke your own admin role; ask another admin of the organization')
  const checkpoint = await changeOrganizationRole(ctx.api.store, { userId, organizationId, role, grant }, identityWrite(ctx, p))
  await waitForRead(ctx, checkpoint)
  return memberView((await userRow(ctx, userId))!, organizationId)
}

export const organizationQueryResolvers = {
  async organizations(_root: unknown, _args: unknown, ctx: ApiContext) {
    return (await membershipsOf(ctx, requirePrincipal(ctx.principal))).map((m) => m.organization)
  },

  async members(_root: unknown, args: { orgId?: string | null }, ctx: ApiContext) {
    const p = requirePrincipal(ctx.principal)
    const organizationId = await administeredOrganization(ctx, p, args.orgId)
    const rows = await ctx.api.db.query<UserRow>(
      `select u.id::text as id, u.email, u.name, r.roles from user_org_roles r join users u on u.id = r.user_id
        where r.roles ? $1 order by u.email`,
      [organizationId],
    )
    return rows.map((u) => memberView(u, organizationId))
  },

  async apiTokens(_root: unknown, args: { userId?: string | null }, ctx: ApiContext) {
    const p = requirePrincipal(ctx.principal)
    const userId = args.userId ?? p.userId
    if (userId !== p.userId && !(await administersHomeOf(ctx, p, userId))) throw new CommandError('NOT_FOUND', 'user not found')
    const rows = await ctx.api.db.query<{ token_id: string; label: string; created_at: Date; revoked: boolean }>(
      'select token_id::text as token_id, label, created_at, revoked from api_tokens where user_id::text = $1 order by created_at',
      [userId],
    )
    return rows.map(tokenView)
  },
}

/** Whether `p` is an admin of `userId`'s home organization (who may list and revoke their tokens). */
async function administersHomeOf(ctx: ApiContext, p: Principal, userId: string): Promise<boolean> {
  const rows = await ctx.api.db.query<{ organization_id: string }>('select organization_id::text as organization_id from users where id::text = $1', [userId])
  return !!rows[0] && isOrganizationAdmin(p, rows[0].organization_id)
}

export const organizationMutationResolvers = {
  async createOrganization(_root: unknown, args: { name: string }, ctx: ApiContext) {
    const p = requirePrincipal(ctx.principal)
    if (!canConfigure(p)) throw new CommandError('FORBIDDEN', 'only admins of the default organization create organizations')
    const name = args.name.trim().toLowerCase()
    const created = await createOrganization(ctx.api.store, name, identityWrite(ctx, p))
    await waitForRead(ctx, created.checkpoint)
    return { id: created.organizationId, name }
  },

  grantRole: (_root: unknown, args: { input: Parameters<typeof changeRole>[1] }, ctx: ApiContext) => changeRole(ctx, args.input, true),
  revokeRole: (_root: unknown, args: { input: Parameters<typeof changeRole>[1] }, ctx: ApiContext) => changeRole(ctx, args.input, false),

  async issueApiToken(_root: unknown, args: { label?: string | null }, ctx: ApiContext) {
    const p = requirePrincipal(ctx.principal)
    const label = (args.label ?? 'api token').trim()
    if (!label || label.length > 200) throw invalidInput('a token label is 1-200 characters')
    const issued = await issueToken(ctx.api.store, { userId: p.userId, label }, identityWrite(ctx, p))
    await waitForRead(ctx, issued.checkpoint)
    return { token: issued.token, apiToken: { id: issued.tokenId, label, createdAt: new Date(), revoked: false } }
  },

  async revokeApiToken(_root: unknown, args: { tokenId: string }, ctx: ApiContext) {
    const p = requirePrincipal(ctx.principal)
    const notFound = () => new CommandError('NOT_FOUND', 'token not found')
    const rows = await ctx.api.db.query<{ user_id: string; token_id: string; label: string; created_at: Date; revoked: boolean }>(
      'select user_id::text as user_id, token_id::text as token_id, label, created_at, revoked from api_tokens where token_id::text = $1',
      [args.tokenId],
    )
    const token = rows[0]
    if (!token || (token.user_id !== p.userId && !(await administersHomeOf(ctx, p, token.user_id)))) throw notFound()
    const checkpoint = await revokeToken(ctx.api.store, { userId: token.user_id, tokenId: token.token_id }, identityWrite(ctx, p))
    await waitForRead(ctx, checkpoint)
    return tokenView({ ...token, revoked: true })
  },
}

/** `me.organizations`: the caller's memberships with their organizations' names, by name. */
export async function membershipsOf(ctx: ApiContext, p: Principal) {
  const names = await organizationNames(ctx, Object.keys(p.orgRoles))
  return Object.entries(p.orgRoles)
    .filter(([id]) => names.has(id))
    .map(([id, roles]) => ({ organization: { id, name: names.get(id)! }, roles: roles.map(toGraphqlRole) }))
    .sort((a, b) => a.organization.name.localeCompare(b.organization.name))
}
