import { describe, it } from 'vitest'
import { configDecider } from '../../commands/config/decide.ts'
import { userDecider } from '../../commands/user/decide.ts'
import type { UserEvent } from '../../src/events/user.ts'
import { spec } from './spec.ts'

const config = spec(configDecider)
const user = spec(userDecider)
const created: UserEvent = {
  type: 'UserCreated',
  data: { userId: '11111111-1111-4111-8111-111111111111', email: 'ada@example.com', name: 'Ada', role: 'member', organizationId: '00000000-0000-4000-8000-000000000001' },
}

describe('chat debug logging deciders', () => {
  it('turns the admin switch on with a retention period', () =>
    config.given([]).when({ type: 'SetDebugLogging', enabled: true, retentionDays: 3 }).then([{ type: 'DebugLoggingSet', data: { enabled: true, retentionDays: 3 } }]))
  it('appends nothing when the switch is already so', () =>
    config
      .given([{ type: 'DebugLoggingSet', data: { enabled: true, retentionDays: 3 } }])
      .when({ type: 'SetDebugLogging', enabled: true, retentionDays: 3 })
      .then([]))
  it('rejects a retention period out of range', () =>
    config.given([]).when({ type: 'SetDebugLogging', enabled: true, retentionDays: 0 }).thenThrows('INVALID_INPUT', /from 1 to 365/))

  it("records the user's own toggle", () =>
    user.given([created]).when({ type: 'SetChatDebugLogging', enabled: true }).then([{ type: 'ChatDebugLoggingToggled', data: { enabled: true } }]))
  it('appends nothing when the toggle is already so', () => user.given([created]).when({ type: 'SetChatDebugLogging', enabled: false }).then([]))
  it('toggles only for an existing user', () => user.given([]).when({ type: 'SetChatDebugLogging', enabled: true }).thenThrows('NOT_FOUND'))
})
