import { DEFAULT_ORGANIZATION_NAME, type OrganizationEvent } from '../../src/events/organization.ts'
import { CommandError, invalidInput } from '../errors.ts'
import type { Decider } from '../decider.ts'

export type OrganizationCommand = { type: 'CreateOrganization'; organizationId: string; name: string }

export interface OrganizationState {
  exists: boolean
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/

/** An organization's name is its handle: lower-case letters, digits and dashes; its id derives from it, so names are unique. */
export function decideOrganization(cmd: OrganizationCommand, state: OrganizationState): OrganizationEvent[] {
  if (state.exists) throw new CommandError('ALREADY_EXISTS', `an organization named ${cmd.name} already exists`)
  if (!NAME.test(cmd.name)) throw invalidInput(`organization name "${cmd.name}" must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit`)
  if (cmd.name === DEFAULT_ORGANIZATION_NAME) throw new CommandError('ALREADY_EXISTS', `an organization named ${cmd.name} already exists`)
  return [{ type: 'OrganizationCreated', data: { organizationId: cmd.organizationId, name: cmd.name } }]
}

export const organizationDecider: Decider<OrganizationCommand, OrganizationState, OrganizationEvent> = {
  decide: decideOrganization,
  evolve: () => ({ exists: true }),
  initialState: () => ({ exists: false }),
}
