// Admins of the organization the UI acts in: its members and their roles. Each box adds or
// removes one role (grantRole / revokeRole); a user's other roles stay. AGENTS_ACCESS is what
// lets a member create chats and send messages.
import { useState } from 'react'
import { useMutation, useQuery } from 'urql'
import { ErrorLine } from './AdminGovernance.tsx'
import { GRANT_ROLE, MEMBERS, REVOKE_ROLE } from './queries.ts'

const ROLES = ['ADMIN', 'AUDITOR', 'MEMBER', 'AGENTS_ACCESS'] as const
const label = (role: string) => role.toLowerCase().replace('_', '-')

interface Member {
  id: string
  email: string
  name: string
  roles: string[]
}

export function Members() {
  const [{ data, error }, refetch] = useQuery<{ members: Member[] }>({ query: MEMBERS })
  const [granted, grant] = useMutation(GRANT_ROLE)
  const [revoked, revoke] = useMutation(REVOKE_ROLE)
  const [email, setEmail] = useState('')
  const [role, setRole] = useState<string>('MEMBER')
  const change = async (input: { userId?: string; email?: string; role: string }, add: boolean) => {
    const res = await (add ? grant : revoke)({ input })
    if (!res.error) refetch({ requestPolicy: 'network-only' })
  }
  const problem = granted.error ?? revoked.error ?? error
  return (
    <>
      <table aria-label="members">
        <thead>
          <tr>
            <th>member</th>
            {ROLES.map((r) => (
              <th key={r}>{label(r)}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {data?.members.map((m) => (
            <tr key={m.id}>
              <td title={m.email}>
                {m.name} <span className="muted">{m.email}</span>
              </td>
              {ROLES.map((r) => (
                <td key={r}>
                  <input
                    type="checkbox"
                    aria-label={`${m.email} ${label(r)}`}
                    checked={m.roles.includes(r)}
                    disabled={granted.fetching || revoked.fetching}
                    onChange={(e) => void change({ userId: m.id, role: r }, e.target.checked)}
                  />
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <form
        className="admin-form"
        aria-label="add a role"
        onSubmit={async (e) => {
          e.preventDefault()
          if (email.trim()) await change({ email: email.trim(), role }, true)
        }}
      >
        <input aria-label="email" type="email" placeholder="someone@example.com (an existing user)" value={email} onChange={(e) => setEmail(e.target.value)} />
        <select aria-label="role" value={role} onChange={(e) => setRole(e.target.value)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {label(r)}
            </option>
          ))}
        </select>
        <button type="submit" disabled={granted.fetching}>
          Grant
        </button>
      </form>
      <ErrorLine error={problem} />
    </>
  )
}
