/** `cairn users …`, `cairn tokens …` and `cairn orgs …`: identity from the command line, as events. */
import { parseArgs } from 'node:util'
import { CommandError } from '../../commands/errors.ts'
import { DEFAULT_ORGANIZATION_ID, DEFAULT_ORGANIZATION_NAME, organizationStream, ORG_ROLES, ROLES, type OrgRole, type Role } from '../events/index.ts'
import type { EventStore } from '../eventstore/types.ts'
import { changeOrganizationRole, createOrganization, createUser, issueToken, organizationIdForName, userIdForEmail } from './users.ts'

export interface IdentityCliIo {
  out(line: string): void
  err(line: string): void
}

const USAGE = {
  users: [
    'usage: cairn users create --email E --role admin|auditor|member [--name N] [--org O] [--no-agents-access]',
    '       cairn users grant-role --email E --org O --role R     (adds R to the user\'s roles in O; never replaces them)',
    '       cairn users revoke-role --email E --org O --role R',
    `       roles: ${ORG_ROLES.join(', ')}; O: an organization's name or id ("${DEFAULT_ORGANIZATION_NAME}" for the default one)`,
  ].join('\n'),
  tokens: 'usage: cairn tokens create --email E [--label L]',
  orgs: 'usage: cairn orgs create --name N     (lower-case letters, digits and dashes)',
}

const SYSTEM = { actor: { kind: 'system', id: 'cli' } } as const

/**
 * The id of an existing organization named by `nameOrId`, read from the log (its stream), so the
 * command works with no server running; null when there is none.
 */
export async function organizationFromLog(store: EventStore, nameOrId: string): Promise<string | null> {
  const key = nameOrId.trim().toLowerCase()
  if (key === DEFAULT_ORGANIZATION_NAME || key === DEFAULT_ORGANIZATION_ID) return DEFAULT_ORGANIZATION_ID
  for (const id of [key, organizationIdForName(key)]) if (await store.streamInfo(organizationStream(id))) return id
  return null
}

/** Runs one `users`, `tokens` or `orgs` command against `store`; answers the exit code. */
export async function runIdentityCommand(kind: 'users' | 'tokens' | 'orgs', args: string[], store: EventStore, io: IdentityCliIo): Promise<number> {
  const usage = USAGE[kind]
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        email: { type: 'string' },
        role: { type: 'string' },
        name: { type: 'string' },
        label: { type: 'string' },
        org: { type: 'string' },
        'no-agents-access': { type: 'boolean' },
      },
    })
  } catch (err) {
    io.err(`${err instanceof Error ? err.message : String(err)}\n${usage}`)
    return 2
  }
  const { email, role, name, label, org } = parsed.values
  const action = `${kind} ${parsed.positionals.join(' ')}`
  const fail = (line: string, code = 2) => {
    io.err(line)
    return code
  }
  try {
    switch (action) {
      case 'users create': {
        if (!email || !role) return fail(usage)
        if (!ROLES.includes(role as Role)) return fail(`--role must be one of ${ROLES.join(', ')}; got ${role}`)
        const organizationId = org ? await organizationFromLog(store, org) : DEFAULT_ORGANIZATION_ID
        if (!organizationId) return fail(`no organization ${org}`, 1)
        const agentsAccess = !parsed.values['no-agents-access']
        const issued = await createUser(store, { email, role: role as Role, organizationId, agentsAccess, ...(name ? { name } : {}) }, SYSTEM)
        io.err(`created ${role} ${email} (user ${issued.userId})${agentsAccess ? ' with agents-access' : ''}; API token, shown only once:`)
        io.out(issued.token)
        return 0
      }
      case 'users grant-role':
      case 'users revoke-role': {
        if (!email || !role || !org) return fail(usage)
        if (!ORG_ROLES.includes(role as OrgRole)) return fail(`--role must be one of ${ORG_ROLES.join(', ')}; got ${role}`)
        const organizationId = await organizationFromLog(store, org)
        if (!organizationId) return fail(`no organization ${org}`, 1)
        const grant = action === 'users grant-role'
        const changed = await changeOrganizationRole(store, { userId: userIdForEmail(email), organizationId, role: role as OrgRole, grant }, SYSTEM)
        io.err(
          changed
            ? `${grant ? 'granted' : 'revoked'} ${role} ${grant ? 'to' : 'from'} ${email} in ${org}`
            : `${email} ${grant ? 'already holds' : 'does not hold'} ${role} in ${org}; nothing changed`,
        )
        return 0
      }
      case 'tokens create': {
        if (!email) return fail(usage)
        const issued = await issueToken(store, { email, ...(label ? { label } : {}) }, SYSTEM)
        io.err(`new API token for ${email}, shown only once:`)
        io.out(issued.token)
        return 0
      }
      case 'orgs create': {
        if (!name) return fail(usage)
        const created = await createOrganization(store, name.trim().toLowerCase(), SYSTEM)
        io.err(`created organization ${name} (${created.organizationId}); grant its first admin: cairn users grant-role --email E --org ${name} --role admin`)
        io.out(created.organizationId)
        return 0
      }
      default:
        return fail(usage)
    }
  } catch (err) {
    if (err instanceof CommandError) {
      const message =
        err.code === 'NOT_FOUND' && email
          ? `no user with email ${email}`
          : err.code === 'ALREADY_EXISTS' && kind === 'users'
            ? `a user with email ${email} already exists`
            : err.message
      return fail(message, 1)
    }
    throw err
  }
}
