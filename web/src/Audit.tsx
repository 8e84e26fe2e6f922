// Auditors and admins: the audit log with filters, each row linking to the chat it is about.
import { useState } from 'react'
import { useQuery } from 'urql'
import { AUDIT_LOG } from './queries.ts'
import { linkHandler } from './router.ts'
import { errorMessage } from './client.ts'

interface AuditEntry {
  position: string
  eventId: string
  eventType: string
  actor: { kind: string; id: string; onBehalfOf: string | null }
  userId: string | null
  chatId: string | null
  stream: string
  revision: number
  summary: string
  occurredAt: string
}

const FIELDS = [
  ['userId', 'user id'],
  ['chatId', 'chat id'],
  ['eventType', 'event type'],
  ['text', 'message text'],
] as const

export function AuditScreen() {
  const [draft, setDraft] = useState<Record<string, string>>({})
  const [filter, setFilter] = useState<Record<string, string>>({})
  const [after, setAfter] = useState<string | null>(null)
  const [{ data, error, fetching }] = useQuery<{ auditLog: { nodes: AuditEntry[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>({
    query: AUDIT_LOG,
    variables: { filter, after },
  })
  return (
    <main className="audit">
      <h1>Audit log</h1>
      <form
        className="admin-form"
        aria-label="audit log filters"
        onSubmit={(e) => {
          e.preventDefault()
          const next: Record<string, string> = {}
          for (const [k, v] of Object.entries(draft)) if (v.trim()) next[k] = k === 'from' || k === 'to' ? new Date(v).toISOString() : v.trim()
          setAfter(null)
          setFilter(next)
        }}
      >
        {FIELDS.map(([key, label]) => (
          <input key={key} aria-label={label} placeholder={label} value={draft[key] ?? ''} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} />
        ))}
        <label>
          from <input type="datetime-local" aria-label="from" value={draft.from ?? ''} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
        </label>
        <label>
          to <input type="datetime-local" aria-label="to" value={draft.to ?? ''} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
        </label>
        <button type="submit">Filter</button>
      </form>
      {error && <p className="error">{errorMessage(error)}</p>}
      <div className="table-scroll">
        <table>
          <thead>
            <tr>
              <th>time</th>
              <th>event</th>
              <th>actor</th>
              <th>summary</th>
              <th>chat</th>
            </tr>
          </thead>
          <tbody>
            {data?.auditLog.nodes.map((e) => (
              <tr key={e.eventId}>
                <td>
                  <time dateTime={e.occurredAt}>{new Date(e.occurredAt).toLocaleString()}</time>
                </td>
                <td className="type">{e.eventType}</td>
                <td>
                  {e.actor.kind.toLowerCase()}
                  {e.actor.onBehalfOf ? ' for a user' : ''}
                </td>
                <td>{e.summary}</td>
                <td>
                  {e.chatId && (
                    <a href={`/chats/${e.chatId}/timeline`} onClick={linkHandler(`/chats/${e.chatId}/timeline`)}>
                      #{e.revision}
                    </a>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {data?.auditLog.nodes.length === 0 && <p className="muted">No entries match.</p>}
      <div className="pager">
        {after && <button type="button" onClick={() => setAfter(null)}>First page</button>}
        {data?.auditLog.pageInfo.hasNextPage && (
          <button type="button" disabled={fetching} onClick={() => setAfter(data.auditLog.pageInfo.endCursor)}>
            Next page
          </button>
        )}
      </div>
    </main>
  )
}
