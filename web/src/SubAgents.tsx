// The sub-agent tree in a chat: its children (from SubAgentSpawned in its stream) with their live
// status, and in a child the way back to the chat that spawned it.
import { createContext, useContext, useEffect, useMemo } from 'react'
import { useQuery } from 'urql'
import type { SubAgentEntry } from './chat-fold.ts'
import { statusLabel } from './ChatList.tsx'
import { PARENT_CHAT, subAgentsQuery, type ChatSummary, type SubAgentStatus } from './queries.ts'
import { linkHandler } from './router.ts'

const SETTLED = new Set(['WAITING', 'ERROR'])

export interface SubAgentView extends SubAgentEntry {
  /** The child's row as last read; null until read (or when it cannot be). */
  row: SubAgentStatus | null
}

/** Children of the chat with their rows: read again after each of the parent's events, and every
 * second or so while one is still working (its turn does not show in the parent's stream). */
export function useSubAgents(children: SubAgentEntry[], parentRevision: number): Record<string, SubAgentView> {
  const ids = children.map((c) => c.childChatId)
  const query = useMemo(() => subAgentsQuery(ids.length), [ids.length])
  const variables = useMemo(() => Object.fromEntries(ids.map((id, i) => [`c${i}`, id])), [ids.join(',')]) // eslint-disable-line react-hooks/exhaustive-deps
  const [{ data }, refetch] = useQuery<Record<string, SubAgentStatus | null>>({ query, variables, pause: ids.length === 0 })
  useEffect(() => {
    if (ids.length) refetch()
  }, [parentRevision]) // eslint-disable-line react-hooks/exhaustive-deps
  const rows = useMemo(() => new Map(Object.values(data ?? {}).flatMap((r) => (r ? [[r.id, r] as const] : []))), [data])
  const working = children.some((c) => !c.closed && !SETTLED.has(rows.get(c.childChatId)?.status ?? 'PENDING'))
  useEffect(() => {
    if (!working) return
    const timer = setInterval(refetch, 1200)
    return () => clearInterval(timer)
  }, [working, refetch])
  return useMemo(() => Object.fromEntries(children.map((c) => [c.childChatId, { ...c, row: rows.get(c.childChatId) ?? null }])), [children, rows])
}

export const SubAgentsContext = createContext<Record<string, SubAgentView>>({})
export const useSubAgent = (childChatId: unknown) => useContext(SubAgentsContext)[String(childChatId)]

function ChildStatus({ child }: { child: SubAgentView }) {
  const status = child.closed || child.row?.archived ? 'closed' : child.row ? statusLabel(child.row.status) : 'pending'
  return <span className={`status status-${status.replace(' ', '_')}`}>{status}</span>
}

export function ChildLink({ child }: { child: SubAgentView }) {
  const path = `/chats/${child.childChatId}`
  return (
    <a href={path} onClick={linkHandler(path)} className="child-link">
      {child.row?.title && child.row.title !== 'New chat' ? child.row.title : child.title}
    </a>
  )
}

/** Where a spawn happened in the conversation: the child, its type and status, its prompt. */
export function SubAgentCard({ childChatId }: { childChatId: string }) {
  const child = useSubAgent(childChatId)
  if (!child) return null
  return (
    <div className="sub-agent-card" data-child={child.childChatId}>
      <span className="sub-agent-kind">sub-agent</span>
      <ChildLink child={child} />
      <span className="agent-type">{child.agentType}</span>
      <ChildStatus child={child} />
    </div>
  )
}

/** All the chat's children at the top of its view. */
export function SubAgentsPanel({ childIds }: { childIds: string[] }) {
  const all = useContext(SubAgentsContext)
  const children = childIds.flatMap((id) => (all[id] ? [all[id]] : []))
  if (children.length === 0) return null
  const working = children.filter((c) => !c.closed && c.row && !SETTLED.has(c.row.status)).length
  return (
    <details className="sub-agents" open>
      <summary>
        Sub-agents ({children.length}
        {working ? `, ${working} working` : ''})
      </summary>
      <ul aria-label="sub-agents">
        {children.map((child) => (
          <li key={child.childChatId} data-child={child.childChatId}>
            <ChildLink child={child} />
            <span className="agent-type">{child.agentType}</span>
            <ChildStatus child={child} />
            {child.modelId && <span className="muted">{child.modelId}</span>}
          </li>
        ))}
      </ul>
    </details>
  )
}

/** In a sub-agent's chat: the chat that spawned it. */
export function ParentBreadcrumb({ chat }: { chat: ChatSummary }) {
  const parentId = chat.parentChatId
  const [{ data }] = useQuery<{ chat: { id: string; title: string; status: string } | null }>({ query: PARENT_CHAT, variables: { id: parentId }, pause: !parentId })
  if (!parentId) return null
  const path = `/chats/${parentId}`
  return (
    <nav className="breadcrumb" aria-label="breadcrumb">
      <a href={path} onClick={linkHandler(path)}>
        {data?.chat?.title ?? 'Parent chat'}
      </a>
      <span aria-hidden="true"> › </span>
      <span aria-current="page">{chat.title}</span>
    </nav>
  )
}
