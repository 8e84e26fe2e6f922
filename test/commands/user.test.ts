import { describe, it } from 'vitest'
import { userDecider, type UserCommand } from '../../commands/user/decide.ts'
import type { UserEvent } from '../../src/events/user.ts'
import { spec } from './spec.ts'

const ORG = '00000000-0000-4000-8000-000000000001'
const USER = '11111111-1111-4111-8111-111111111111'
const TOKEN = '22222222-2222-4222-8222-222222222222'
const user = spec(userDecider)

const created: UserEvent = { type: 'UserCreated', data: { userId: USER, email: 'ada@example.com', name: 'Ada', role: 'member', organizationId: ORG } }
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
