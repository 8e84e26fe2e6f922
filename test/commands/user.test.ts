import { describe, expect, it } from 'vitest'
import { userDecider, type UserCommand } from '../../commands/user/decide.ts'
import { evolveOrgRoles, type OrgRoles, type UserEvent } from '../../src/events/user.ts'
import { spec } from './spec.ts'

const ORG = '00000000-0000-4000-8000-000000000001'
const USER = '11111111-1111-4111-8111-111111111111'
const TOKEN = '22222222-2222-4222-8222-222222222222'
const user = spec(userDecider)

const OTHER_ORG = '33333333-3333-4333-8333-333333333333'
const created: UserEvent = { type: 'UserCreated', data: { userId: USER, email: 'ada@example.com', name: 'Ada', role: 'member', organizationId: ORG, agentsAccess: true } }
/** As users created before agents-access existed were recorded. */
const createdBeforeAgentsAccess: UserEvent = { type: 'UserCreated', data: { userId: USER, email: 'ada@example.com', name: 'Ada', role: 'member', organizationId: ORG } }
const withoutAgents: UserEvent = { type: 'UserCreated', data: { ...created.data, agentsAccess: false } as Extract<UserEvent, { type: 'UserCreated' }>['data'] }
const rolesAfter = (events: UserEvent[]) => events.reduce((roles, e) => evolveOrgRoles(roles, ORG, e), {} as OrgRoles)
const issued: UserEvent = { type: 'ApiTokenIssued', data: { tokenId: TOKEN, tokenHash: 'ab'.repeat(32), label: 'laptop' } }
const create: UserCommand = { type: 'CreateUser', userId: USER, email: 'Ada@Example.com', name: 'Ada', role: 'member', organizationId: ORG }

describe('user decider', () => {
  it('creates a user with a lower-cased email', () => user.given([]).when(create).then([created]))
  it('rejects creating a user twice', () => user.given([created]).when(create).thenThrows('ALREADY_EXISTS'))
  it('rejects an address without an @', () => user.given([]).when({ ...create, email: 'ada' }).thenThrows('INVALID_INPUT', /not an email/))
  it('rejects an unknown role', () =>
    user.given([]).when({ ...create, role: 'owner' as never }).thenThrows('INVALID_INPUT', /role must be one of/))

  it('changes the role', () =>
    user.given([created]).when({ type: 'ChangeRole', role: 'admin' }).then([{ type: 'UserRoleChanged', data: { role: 'admin' } }]))
  it('appends nothing when the role is already that', () => user.given([created]).when({ type: 'ChangeRole', role: 'member' }).then([]))
  it('changes the role only of an existing user', () => user.given([]).when({ type: 'ChangeRole', role: 'admin' }).thenThrows('NOT_FOUND'))

  it('gives a new user agents-access in their home organization unless told not to', () => {
    expect(rolesAfter([created])).toEqual({ [ORG]: ['agents-access', 'member'] })
    expect(rolesAfter([withoutAgents])).toEqual({ [ORG]: ['member'] })
    user.given([]).when({ ...create, agentsAccess: false }).then([withoutAgents])
  })
  it('keeps agents-access for users created before the role existed', () => expect(rolesAfter([createdBeforeAgentsAccess])).toEqual({ [ORG]: ['agents-access', 'member'] }))

  it('adds a role in an organization and never replaces the others', () => {
    const granted: UserEvent = { type: 'OrganizationRoleGranted', data: { organizationId: ORG, role: 'admin' } }
    user.given([created]).when({ type: 'GrantRole', organizationId: ORG, role: 'admin' }).then([granted])
    expect(rolesAfter([created, granted])).toEqual({ [ORG]: ['admin', 'agents-access', 'member'] })
  })
  it('makes a user a member of another organization with their first role there', () => {
    const granted: UserEvent = { type: 'OrganizationRoleGranted', data: { organizationId: OTHER_ORG, role: 'agents-access' } }
    user.given([created]).when({ type: 'GrantRole', organizationId: OTHER_ORG, role: 'agents-access' }).then([granted])
    expect(rolesAfter([created, granted])).toEqual({ [ORG]: ['agents-access', 'member'], [OTHER_ORG]: ['agents-access'] })
  })
  it('appends nothing when granting a role held or revoking one not held', () => {
    user.given([created]).when({ type: 'GrantRole', organizationId: ORG, role: 'agents-access' }).then([])
    user.given([withoutAgents]).when({ type: 'RevokeRole', organizationId: ORG, role: 'agents-access' }).then([])
  })
  it('revokes one role; the last one ends the membership', () => {
    const revoked = (role: 'agents-access' | 'member'): UserEvent => ({ type: 'OrganizationRoleRevoked', data: { organizationId: ORG, role } })
    user.given([created]).when({ type: 'RevokeRole', organizationId: ORG, role: 'agents-access' }).then([revoked('agents-access')])
    expect(rolesAfter([created, revoked('agents-access')])).toEqual({ [ORG]: ['member'] })
    expect(rolesAfter([created, revoked('agents-access'), revoked('member')])).toEqual({})
  })
  it('replaces only the admin/auditor/member role on a role change, keeping agents-access', () =>
    expect(rolesAfter([created, { type: 'UserRoleChanged', data: { role: 'auditor' } }])).toEqual({ [ORG]: ['agents-access', 'auditor'] }))
  it('rejects an unknown organization role', () =>
    user.given([created]).when({ type: 'GrantRole', organizationId: ORG, role: 'owner' as never }).thenThrows('INVALID_INPUT', /role must be one of/))
  it('grants roles only to an existing user', () => user.given([]).when({ type: 'GrantRole', organizationId: ORG, role: 'member' }).thenThrows('NOT_FOUND'))

  it('issues a token recording only its hash', () =>
    user.given([created]).when({ type: 'IssueToken', tokenId: TOKEN, tokenHash: 'ab'.repeat(32), label: 'laptop' }).then([issued]))
  it('issues tokens only to an existing user', () =>
    user.given([]).when({ type: 'IssueToken', tokenId: TOKEN, tokenHash: 'x', label: 'l' }).thenThrows('NOT_FOUND'))
  it('revokes a token once', () => {
    user.given([created, issued]).when({ type: 'RevokeToken', tokenId: TOKEN }).then([{ type: 'ApiTokenRevoked', data: { tokenId: TOKEN } }])
    user.given([created, issued, { type: 'ApiTokenRevoked', data: { tokenId: TOKEN } }]).when({ type: 'RevokeToken', tokenId: TOKEN }).then([])
  })
  it('rejects revoking a token it never issued', () => user.given([created]).when({ type: 'RevokeToken', tokenId: TOKEN }).thenThrows('NOT_FOUND'))
})
