import type { Projection } from '../src/projections/types.ts'
import { upcast, USER_EVENT_TYPES, type Stored, type UserEvent } from '../src/events/index.ts'
import { readModels } from './read-models.ts'

const userIdOfStream = (stream: string) => stream.slice('user-'.length)

/** `users` and `api_tokens` from the `user-<id>` streams. Token rows hold only the hash. */
export const usersProjection: Projection = {
  name: 'users',
  eventTypes: USER_EVENT_TYPES,
  tables: ['api_tokens', 'users'],
  async handle(tx, stored) {
    const event = upcast(stored) as Stored<UserEvent>
    const db = readModels(tx)
    const userId = userIdOfStream(event.stream)
    const at = event.createdAt
    switch (event.type) {
      case 'UserCreated': {
        const d = event.data
        // Email uniqueness across users is checked by the API, not by one user's decider: a
        // duplicate that slipped through must not wedge the projection, so it is skipped.
        await db
          .insertInto('users')
          .values({ id: d.userId, organization_id: d.organizationId, email: d.email, name: d.name, role: d.role, created_at: at, updated_at: at })
          .onConflict((oc) => oc.doNothing())
          .execute()
        return
      }
      case 'UserRoleChanged':
        await db.updateTable('users').set({ role: event.data.role, updated_at: at }).where('id', '=', userId).execute()
        return
      case 'ApiTokenIssued': {
        // Only for a user the read model holds (see the duplicate email above): the foreign key must not wedge us.
        const d = event.data
        await tx.query(
          `insert into api_tokens (token_hash, token_id, user_id, label, created_at)
           select $1, $2, id, $3, $4 from users where id = $5
           on conflict do nothing`,
          [d.tokenHash, d.tokenId, d.label, at, userId],
        )
        return
      }
      case 'ApiTokenRevoked':
        await db.updateTable('api_tokens').set({ revoked: true }).where('token_id', '=', event.data.tokenId).execute()
        return
      case 'ChatDebugLoggingToggled':
        await tx.query('update users set chat_debug_logging = $1, updated_at = $2 where id = $3', [event.data.enabled, at, userId])
        return
    }
  },
}
