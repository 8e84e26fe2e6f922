import type { Projection } from '../src/projections/types.ts'
import { evolveOrgRoles, ORGANIZATION_EVENT_TYPES, upcast, USER_EVENT_TYPES, type OrganizationEvent, type OrgRoles, type Stored, type UserEvent } from '../src/events/index.ts'

const MEMBERSHIP_EVENTS = new Set<string>(['UserCreated', 'UserRoleChanged', 'OrganizationRoleGranted', 'OrganizationRoleRevoked'])

/** `organizations` and `user_org_roles`: which organizations exist, and each user's roles in them. */
export const organizationsProjection: Projection = {
  name: 'organizations',
  eventTypes: [...ORGANIZATION_EVENT_TYPES, ...USER_EVENT_TYPES.filter((t) => MEMBERSHIP_EVENTS.has(t))],
  tables: ['organizations', 'user_org_roles'],
  async handle(tx, stored) {
    const event = upcast(stored) as Stored<OrganizationEvent | UserEvent>
    if (event.type === 'OrganizationCreated') {
      await tx.query('insert into organizations (id, name, created_at) values ($1, $2, $3) on conflict do nothing', [
        event.data.organizationId,
        event.data.name,
        event.createdAt,
      ])
      return
    }
    const userId = event.stream.slice('user-'.length)
    const rows = await tx.query<{ home_organization_id: string; roles: OrgRoles }>('select home_organization_id, roles from user_org_roles where user_id = $1', [userId])
    const home = event.type === 'UserCreated' ? event.data.organizationId : rows[0]?.home_organization_id
    if (!home) return
    const roles = evolveOrgRoles(rows[0]?.roles ?? {}, home, event as UserEvent)
    await tx.query(
      `insert into user_org_roles (user_id, home_organization_id, roles) values ($1, $2, $3)
       on conflict (user_id) do update set roles = excluded.roles`,
      [userId, home, JSON.stringify(roles)],
    )
  },
}
