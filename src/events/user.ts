/** Events of a `user-<uuid>` stream: identity, role and API tokens (only hashes). */

export type Role = 'admin' | 'auditor' | 'member'
export const ROLES: readonly Role[] = ['admin', 'auditor', 'member']

export type UserEvent =
  | { type: 'UserCreated'; data: { userId: string; email: string; name: string; role: Role; organizationId: string } }
  | { type: 'UserRoleChanged'; data: { role: Role } }
  | { type: 'ApiTokenIssued'; data: { tokenId: string; tokenHash: string; label: string } }
  | { type: 'ApiTokenRevoked'; data: { tokenId: string } }
  /** The user's own switch for debug logs of their chats (effective only while the admin's DebugLoggingSet is on). */
  | { type: 'ChatDebugLoggingToggled'; data: { enabled: boolean } }

export type UserEventType = UserEvent['type']
export const USER_EVENT_TYPES = ['UserCreated', 'UserRoleChanged', 'ApiTokenIssued', 'ApiTokenRevoked', 'ChatDebugLoggingToggled'] as const satisfies readonly UserEventType[]

export const userStream = (userId: string) => `user-${userId}`
export const DEFAULT_ORGANIZATION_ID = '00000000-0000-4000-8000-000000000001'
