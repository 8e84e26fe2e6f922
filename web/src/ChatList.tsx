// The caller's chats, kept live by the myChats subscription; a new chat with a model picker.
import { useEffect, useMemo, useState } from 'react'
import { useMutation, useQuery, useSubscription } from 'urql'
import { CHATS, CREATE_CHAT, MODELS, MY_CHATS, WORKSPACES, type ChatSummary, type Me } from './queries.ts'
import { linkHandler, navigate } from './router.ts'
import { errorMessage } from './client.ts'

export const statusLabel = (status: string) => status.toLowerCase().replace('_', ' ')

export function relativeTime(iso: string) {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000)
  if (seconds < 60) return 'just now'
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`
  return new Date(iso).toLocaleDateString()
}

function NewChat() {
  const [{ data }] = useQuery<{ models: { id: string; displayName: string; isDefault: boolean; enabled: boolean }[] }>({ query: MODELS })
  const models = (data?.models ?? []).filter((m) => m.enabled)
  const [{ data: workspaces }] = useQuery<{ workspaces: { id: string; name: string; status: string }[] }>({ query: WORKSPACES })
  const [workspaceId, setWorkspaceId] = useState('')
  const [modelId, setModelId] = useState('')
  const [planMode, setPlanMode] = useState(false)
  const [text, setText] = useState('')
  const [result, create] = useMutation<{ createChat: ChatSummary }>(CREATE_CHAT)
  useEffect(() => {
    if (!modelId && models.length) setModelId((models.find((m) => m.isDefault) ?? models[0]!).id)
  }, [models, modelId])
  async function submit(e: React.FormEvent) {
    e.preventDefault()
    if (!text.trim()) return
    const res = await create({ input: { modelId: modelId || null, workspaceId: workspaceId || null, firstMessage: text, planMode } })
    if (res.data) navigate(`/chats/${res.data.createChat.id}`)
  }
  return (
    <form className="new-chat" onSubmit={submit} aria-label="new chat">
      <textarea
        aria-label="first message"
        placeholder="What should the agent do?"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey) void submit(e)
        }}
        rows={2}
      />
      <div className="row">
        <label>
          Model{' '}
          <select aria-label="model" value={modelId} onChange={(e) => setModelId(e.target.value)}>
            {models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.displayName}
              </option>
            ))}
          </select>
        </label>
        <label>
          Workspace{' '}
          <select aria-label="workspace" value={workspaceId} onChange={(e) => setWorkspaceId(e.target.value)}>
            <option value="">made when needed</option>
            {(workspaces?.workspaces ?? [])
              .filter((w) => w.status !== 'DELETED')
              .map((w) => (
                <option key={w.id} value={w.id}>
                  {w.name} ({w.status.toLowerCase()})
                </option>
              ))}
          </select>
        </label>
        <label className={`plan-mode ${planMode ? 'on' : ''}`} title="The agent explores and writes only its plan file, then proposes the plan">
          <input type="checkbox" role="switch" aria-label="plan mode" checked={planMode} onChange={(e) => setPlanMode(e.target.checked)} /> Plan mode
        </label>
        <button type="submit" disabled={result.fetching || !text.trim()}>
          Start chat
        </button>
      </div>
      {result.error && <p className="error">{errorMessage(result.error)}</p>}
    </form>
  )
}

function ChatLink({ chat: c }: { chat: ChatSummary }) {
  return (
    <a href={`/chats/${c.id}`} onClick={linkHandler(`/chats/${c.id}`)} className="chat-link">
      <span className="title">{c.title}</span>
      <span className={`status status-${c.status.toLowerCase()}`}>{statusLabel(c.status)}</span>
      <span className="meta">
        {c.parentChatId ? `${c.agentType ?? ''} sub-agent · ` : ''}
        {c.modelId ?? 'default model'} · {relativeTime(c.updatedAt)}
        {c.forkOf ? ' · fork' : ''}
        {c.planMode ? ' · plan mode' : ''}
      </span>
    </a>
  )
}

export function ChatList({ me }: { me: Me }) {
  const [{ data, error }, refetch] = useQuery<{ chats: { nodes: ChatSummary[] } }>({ query: CHATS })
  const [changes] = useSubscription<{ myChats: { kind: string; chat: ChatSummary } }, Record<string, ChatSummary>>(
    { query: MY_CHATS },
    (prev = {}, next) => ({ ...prev, [next.myChats.chat.id]: next.myChats.chat }),
  )
  useEffect(() => {
    if (changes.error) refetch()
  }, [changes.error, refetch])
  const chats = useMemo(() => {
    const byId = new Map((data?.chats.nodes ?? []).map((c) => [c.id, c]))
    for (const chat of Object.values(changes.data ?? {})) byId.set(chat.id, chat)
    return [...byId.values()].filter((c) => !c.archived).sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))
  }, [data, changes.data])
  // Sub-agents' chats (when the list has them) go under their parent, or are marked as such.
  const { roots, childrenOf } = useMemo(() => {
    const listed = new Set(chats.map((c) => c.id))
    const childrenOf = new Map<string, ChatSummary[]>()
    const roots: ChatSummary[] = []
    for (const c of chats) {
      if (c.parentChatId && listed.has(c.parentChatId)) childrenOf.set(c.parentChatId, [...(childrenOf.get(c.parentChatId) ?? []), c])
      else roots.push(c)
    }
    return { roots, childrenOf }
  }, [chats])
  return (
    <main className="chat-list">
      {me.agentsAccess && me.role !== 'AUDITOR' && <NewChat />}
      <h1>{me.role === 'ADMIN' || me.role === 'AUDITOR' ? 'Chats' : 'Your chats'}</h1>
      {error && <p className="error">{error.message}</p>}
      {chats.length === 0 && data && <p className="muted">No chats yet.</p>}
      <ul>
        {roots.map((c) => (
          <li key={c.id}>
            <ChatLink chat={c} />
            {childrenOf.has(c.id) && (
              <ul className="children" aria-label={`sub-agents of ${c.title}`}>
                {childrenOf.get(c.id)!.map((child) => (
                  <li key={child.id}>
                    <ChatLink chat={child} />
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
    </main>
  )
}
