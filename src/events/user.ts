/** Events of a `user-<uuid>` stream: identity, role and API tokens (only hashes). */

export type Role = 'admin' | 'auditor' | 'member'
export const ROLES: readonly Role[] = ['admin', 'auditor', 'member']

/** The role that may use agents (create chats, send messages) in an organization. */
export const AGENTS_ACCESS = 'agents-access'
/** A role a user holds in one organization; holding any makes them a member of it. */
export type OrgRole = Role | typeof AGENTS_ACCESS
export const ORG_ROLES: readonly OrgRole[] = [...ROLES, AGENTS_ACCESS]

export type UserEvent =
  /**
   * `role` (and agents-access unless `agentsAccess` is false) in `organizationId`, the user's home
   * organization. Users created before the agents-access role existed have no `agentsAccess` and
   * hold it: an upgrade locks nobody out.
   */
  | { type: 'UserCreated'; data: { userId: string; email: string; name: string; role: Role; organizationId: string; agentsAccess?: boolean } }
  /** Replaces the user's admin/auditor/member role in their home organization. */
  | { type: 'UserRoleChanged'; data: { role: Role } }
  /** Adds a role in an organization (the first one makes the user a member of it). */
  | { type: 'OrganizationRoleGranted'; data: { organizationId: string; role: OrgRole } }
  /** Removes one role in an organization (the last one ends the membership). */
  | { type: 'OrganizationRoleRevoked'; data: { organizationId: string; role: OrgRole } }
  | { type: 'ApiTokenIssued'; data: { tokenId: string; tokenHash: string; label: string } }
  | { type: 'ApiTokenRevoked'; data: { tokenId: string } }
  /** The user's own switch for debug logs of their chats (effective only while the admin's DebugLoggingSet is on). */
  | { type: 'ChatDebugLoggingToggled'; data: { enabled: boolean } }

export type UserEventType = UserEvent['type']
export const USER_EVENT_TYPES = [
  'UserCreated',
  'UserRoleChanged',
  'OrganizationRoleGranted',
  'OrganizationRoleRevoked',
  'ApiTokenIssued',
  'ApiTokenRevoked',
  'ChatDebugLoggingToggled',
] as const satisfies readonly UserEventType[]

export const userStream = (userId: string) => `user-${userId}`
export const DEFAULT_ORGANIZATION_ID = '00000000-0000-4000-8000-000000000001'

/** Roles by organization id. */
export type OrgRoles = Record<string, OrgRole[]>

/** What a user's events say about their roles in each organization: the one fold the decider and the read model share. */
export function evolveOrgRoles(roles: OrgRoles, home: string, event: UserEvent): OrgRoles {
  const set = (org: string, next: OrgRole[]): OrgRoles => {
    const copy = { ...roles }
    if (next.length) copy[org] = [...next].sort()
    else delete copy[org]
    return copy
  }
  switch (event.type) {
    case 'UserCreated': {
      const d = event.data
      return set(d.organizationId, d.agentsAccess === false ? [d.role] : [d.role, AGENTS_ACCESS])
    }
    case 'UserRoleChanged':
      return set(home, [...(roles[home] ?? []).filter((r) => !(ROLES as readonly string[]).includes(r)), event.data.role])
    case 'OrganizationRoleGranted': {
      const current = roles[event.data.organizationId] ?? []
      return current.includes(event.data.role) ? roles : set(event.data.organizationId, [...current, event.data.role])
    }
    case 'OrganizationRoleRevoked':
      return set(event.data.organizationId, (roles[event.data.organizationId] ?? []).filter((r) => r !== event.data.role))
    default:
      return roles
  }
}
