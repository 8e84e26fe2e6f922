import type { OrgRole, OrgRoles, Role, UserEvent } from '../../src/events/user.ts'
import { evolveOrgRoles, ORG_ROLES, ROLES } from '../../src/events/user.ts'
import { CommandError, invalidInput } from '../errors.ts'
import type { Decider } from '../decider.ts'

export type UserCommand =
  | { type: 'CreateUser'; userId: string; email: string; name: string; role: Role; organizationId: string; agentsAccess?: boolean }
  | { type: 'ChangeRole'; role: Role }
  /** Adds a role in an organization; never replaces the user's other roles. */
  | { type: 'GrantRole'; organizationId: string; role: OrgRole }
  | { type: 'RevokeRole'; organizationId: string; role: OrgRole }
  | { type: 'IssueToken'; tokenId: string; tokenHash: string; label: string }
  | { type: 'RevokeToken'; tokenId: string }
  | { type: 'SetChatDebugLogging'; enabled: boolean }

export interface UserState {
  exists: boolean
  userId: string
  email: string
  role: Role
  organizationId: string
  /** Roles by organization (the home organization's included). */
  orgRoles: OrgRoles
  tokens: Record<string, { revoked: boolean }>
  chatDebugLogging: boolean
}

export const initialUserState = (): UserState => ({
  exists: false,
  userId: '',
  email: '',
  role: 'member',
  organizationId: '',
  orgRoles: {},
  tokens: {},
  chatDebugLogging: false,
})

const EMAIL = /^[^\s@]+@[^\s@]+$/

export function decideUser(cmd: UserCommand, user: UserState): UserEvent[] {
  switch (cmd.type) {
    case 'CreateUser':
      if (user.exists) throw new CommandError('ALREADY_EXISTS', `user ${cmd.userId} already exists`)
      if (!EMAIL.test(cmd.email)) throw invalidInput(`"${cmd.email}" is not an email address`)
      if (!ROLES.includes(cmd.role)) throw invalidInput(`role must be one of ${ROLES.join(', ')}`)
      return [
        {
          type: 'UserCreated',
          data: {
            userId: cmd.userId,
            email: cmd.email.toLowerCase(),
            name: cmd.name,
            role: cmd.role,
            organizationId: cmd.organizationId,
            agentsAccess: cmd.agentsAccess ?? true,
          },
        },
      ]
    case 'ChangeRole':
      if (!user.exists) throw new CommandError('NOT_FOUND', 'user not found')
      if (!ROLES.includes(cmd.role)) throw invalidInput(`role must be one of ${ROLES.join(', ')}`)
      return cmd.role === user.role ? [] : [{ type: 'UserRoleChanged', data: { role: cmd.role } }]
    case 'GrantRole':
    case 'RevokeRole': {
      if (!user.exists) throw new CommandError('NOT_FOUND', 'user not found')
      if (!ORG_ROLES.includes(cmd.role)) throw invalidInput(`role must be one of ${ORG_ROLES.join(', ')}`)
      const held = (user.orgRoles[cmd.organizationId] ?? []).includes(cmd.role)
      if (cmd.type === 'GrantRole') return held ? [] : [{ type: 'OrganizationRoleGranted', data: { organizationId: cmd.organizationId, role: cmd.role } }]
      return held ? [{ type: 'OrganizationRoleRevoked', data: { organizationId: cmd.organizationId, role: cmd.role } }] : []
    }
    case 'IssueToken':
      if (!user.exists) throw new CommandError('NOT_FOUND', 'user not found')
      return [{ type: 'ApiTokenIssued', data: { tokenId: cmd.tokenId, tokenHash: cmd.tokenHash, label: cmd.label } }]
    case 'RevokeToken':
      if (!user.tokens[cmd.tokenId]) throw new CommandError('NOT_FOUND', `token ${cmd.tokenId} not found`)
      return user.tokens[cmd.tokenId]!.revoked ? [] : [{ type: 'ApiTokenRevoked', data: { tokenId: cmd.tokenId } }]
    case 'SetChatDebugLogging':
      if (!user.exists) throw new CommandError('NOT_FOUND', 'user not found')
      return user.chatDebugLogging === cmd.enabled ? [] : [{ type: 'ChatDebugLoggingToggled', data: { enabled: cmd.enabled } }]
  }
}

export function evolveUser(user: UserState, event: UserEvent): UserState {
  const orgRoles = evolveOrgRoles(user.orgRoles, user.organizationId, event)
  switch (event.type) {
    case 'UserCreated':
      return { ...user, exists: true, userId: event.data.userId, email: event.data.email, role: event.data.role, organizationId: event.data.organizationId, orgRoles }
    case 'UserRoleChanged':
      return { ...user, role: event.data.role, orgRoles }
    case 'OrganizationRoleGranted':
    case 'OrganizationRoleRevoked':
      return { ...user, orgRoles }
    case 'ApiTokenIssued':
      return { ...user, tokens: { ...user.tokens, [event.data.tokenId]: { revoked: false } } }
    case 'ApiTokenRevoked':
      return { ...user, tokens: { ...user.tokens, [event.data.tokenId]: { revoked: true } } }
    case 'ChatDebugLoggingToggled':
      return { ...user, chatDebugLogging: event.data.enabled }
  }
}

export const userDecider: Decider<UserCommand, UserState, UserEvent> = {
  decide: decideUser,
  evolve: evolveUser,
  initialState: initialUserState,
}
