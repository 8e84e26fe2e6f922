/** Events of an `organization-<uuid>` stream. The default organization exists without one. */

export type OrganizationEvent = { type: 'OrganizationCreated'; data: { organizationId: string; name: string } }

export type OrganizationEventType = OrganizationEvent['type']
export const ORGANIZATION_EVENT_TYPES = ['OrganizationCreated'] as const satisfies readonly OrganizationEventType[]

export const organizationStream = (organizationId: string) => `organization-${organizationId}`
export const DEFAULT_ORGANIZATION_NAME = 'default'
