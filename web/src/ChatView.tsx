// One chat: the conversation as it streams, with the queue and composer (Composer.tsx) or the timeline (Timeline.tsx).
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react'
import { useMutation, useQuery } from 'urql'
import { BUSY, Composer, Queue } from './Composer.tsx'
import { Timeline } from './Timeline.tsx'
import { liveReasoning, liveText, type ChatView as View, type Entry } from './chat-fold.ts'
import { HISTORY_WINDOW, useChatStream } from './chat-stream.ts'
import { statusLabel } from './ChatList.tsx'
import { Markdown, StreamingMarkdown } from './Markdown.tsx'
import { CHAT_QUERY, SET_PLAN_MODE, type ChatSummary, type Me } from './queries.ts'
import { PlanCard } from './PlanCard.tsx'
import { QuestionCard } from './QuestionCard.tsx'
import { ParentBreadcrumb, SubAgentsContext, SubAgentsPanel, useSubAgents } from './SubAgents.tsx'
import { linkHandler } from './router.ts'
import { shownElsewhere, ToolCard } from './ToolCard.tsx'
import { AttachmentImage } from './attachments.tsx'
import { ApprovalContext } from './ApprovalCard.tsx'

const PAGE = 200

/** A provider error's retry, counting down to it. */
function RetryCountdown({ retry }: { retry: NonNullable<View['retry']> }) {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(timer)
  }, [])
  const seconds = Math.max(0, Math.ceil((Date.parse(retry.retryAt) - now) / 1000))
  return (
    <div className="marker info" role="status">
      {retry.message} — retry {retry.attempt} {seconds > 0 ? `in ${seconds} s` : 'now'}
    </div>
  )
}

// Memoized: while a turn streams, the finished entries above it render nothing again.
const EntryView = memo(function EntryView({
  entry,
  chatId,
  canChange,
  questionOpen,
  onRevise,
}: {
  entry: Entry
  chatId: string
  canChange: boolean
  /** This entry is the question the chat waits on (its `pendingQuestionId`). */
  questionOpen: boolean
  onRevise: () => void
}) {
  switch (entry.kind) {
    case 'user':
      return (
        <div className="msg user" data-revision={entry.revision}>
          <div className="bubble">{entry.text}</div>
          {entry.attachments.map((a) => (
            <AttachmentImage key={a.attachmentId} attachmentId={a.attachmentId} mimeType={a.mimeType} name={a.name} />
          ))}
        </div>
      )
    case 'assistant':
      // A step that only asked or proposed: its question or plan card follows.
      if (!entry.text && !entry.reasoning && entry.toolCalls.length > 0 && entry.toolCalls.every(shownElsewhere)) return null
      return (
        <div className="msg assistant" data-revision={entry.revision}>
          {entry.reasoning && (
            <details className="reasoning">
              <summary>Reasoning</summary>
              <p>{entry.reasoning}</p>
            </details>
          )}
          {entry.text && <Markdown text={entry.text} />}
          {entry.toolCalls.map((call) => (
            <ToolCard key={call.id} call={call} />
          ))}
        </div>
      )
    case 'turn-end': {
      const usage = `${entry.tokens.toLocaleString()} tokens · $${entry.costUsd.toFixed(4)}`
      if (entry.outcome === 'failed')
        return (
          <div className="marker error" role="alert">
            {entry.message} <span className="usage">({usage})</span>
          </div>
        )
      return <div className={`turn-end ${entry.outcome}`}>{entry.outcome === 'stopped' ? `Turn stopped · ${usage}` : usage}</div>
    }
    case 'marker':
      return <div className={`marker ${entry.tone}`} role={entry.tone === 'error' ? 'alert' : undefined}>{entry.text}</div>
    case 'question':
      return <QuestionCard entry={entry} chatId={chatId} open={canChange && questionOpen} />
    case 'plan':
      return <PlanCard entry={entry} chatId={chatId} canAct={canChange} onRevise={onRevise} />
  }
})

function LiveTurn({ view }: { view: View }) {
  const text = liveText(view.live)
  const reasoning = liveReasoning(view.live)
  const painted = useRef(false)
  useEffect(() => {
    // For `npm run bench -- ui`: when the first streamed character reaches the screen.
    if (text && !painted.current) {
      painted.current = true
      requestAnimationFrame(() => performance.mark('cairn:first-character-painted'))
    }
    if (!text) painted.current = false
  }, [text])
  if (!view.live) return null
  return (
    <div className="msg assistant live" aria-live="polite" aria-busy="true">
      {reasoning && (
        <details className="reasoning">
          <summary>Reasoning…</summary>
          <p>{reasoning}</p>
        </details>
      )}
      {text && <StreamingMarkdown text={text} />}
      {view.live.toolArgs.map((t) => (
        <div key={t.callId} className="tool-card streaming">
          <div className="tool-head">
            <span className="tool-name">{t.name}</span>
            <span className="badge running">writing arguments…</span>
          </div>
          <pre className="raw">{t.args.slice(-2000)}</pre>
        </div>
      ))}
      {!text && !reasoning && view.live.toolArgs.length === 0 && <div className="typing">…</div>}
    </div>
  )
}

export function ChatScreen({ chatId, tab, me }: { chatId: string; tab: 'conversation' | 'timeline'; me: Me }) {
  const [{ data, error }, refetch] = useQuery<{ chat: ChatSummary }>({ query: CHAT_QUERY, variables: { id: chatId } })
  // The stream starts at the newest HISTORY_WINDOW events of the chat as it was when the view opened.
  const [from, setFrom] = useState<number | null>(null)
  useEffect(() => {
    if (from === null && data?.chat) setFrom(Math.max(0, data.chat.revision - HISTORY_WINDOW + 1))
  }, [from, data])
  const { view, error: streamError, loadEarlier } = useChatStream(chatId, from)
  // The chat's row (status, queue, title) follows the log: read it again after each stored event.
  useEffect(() => {
    if (view.lastRevision >= 0) refetch()
  }, [view.lastRevision, view.liveStatus, refetch])
  // The read model may not have applied the newest event yet: ask again until it has.
  const rowRevision = data?.chat.revision ?? -1
  useEffect(() => {
    if (rowRevision < 0 || rowRevision >= view.lastRevision) return
    const timer = setTimeout(refetch, 200)
    return () => clearTimeout(timer)
  }, [rowRevision, view.lastRevision, data, refetch])
  const bottom = useRef<HTMLDivElement>(null)
  const stick = useRef(true)
  useLayoutEffect(() => {
    if (stick.current) bottom.current?.scrollIntoView({ block: 'end' })
  })
  useEffect(() => {
    const onScroll = () => {
      stick.current = innerHeight + scrollY >= document.documentElement.scrollHeight - 80
    }
    addEventListener('scroll', onScroll, { passive: true })
    return () => removeEventListener('scroll', onScroll)
  }, [])

  const [, setPlanMode] = useMutation(SET_PLAN_MODE)
  const subAgents = useSubAgents(view.subAgents, view.lastRevision)
  const composerInput = useRef<HTMLTextAreaElement>(null)
  const revise = useCallback(() => {
    composerInput.current?.focus()
    composerInput.current?.scrollIntoView({ block: 'nearest' })
  }, [])
  // Long chats render their newest entries; earlier ones page in on demand.
  const [shown, setShown] = useState(PAGE)
  const chat = data?.chat
  const pendingKey = chat?.pendingApprovals.map((p) => p.callId).join(' ') ?? ''
  const canChange = !!chat && (me.role === 'ADMIN' || (me.role === 'MEMBER' && chat.ownerId === me.id))
  const approvals = useMemo(() => ({ chatId, canAct: canChange, meId: me.id, pending: new Set(pendingKey.split(' ').filter(Boolean)) }), [chatId, canChange, me.id, pendingKey])
  if (error || streamError) {
    const message = error?.graphQLErrors[0]?.message ?? streamError ?? error?.message
    return (
      <main className="chat-missing">
        <h1>{message === 'chat not found' ? 'Chat not found' : 'Could not open the chat'}</h1>
        <p>{message === 'chat not found' ? 'It does not exist, or it is not yours to see.' : message}</p>
        <a href="/" onClick={linkHandler('/')}>
          Back to your chats
        </a>
      </main>
    )
  }
  if (!chat) return <main className="loading">Loading…</main>
  const status = chat.status
  return (
    <main className="chat">
      <header className="chat-head">
        {chat.parentChatId && <ParentBreadcrumb chat={chat} />}
        <h1>{chat.title}</h1>
        <div className="chat-meta">
          <span className={`status status-${status.toLowerCase()}`}>{statusLabel(status)}</span>
          <span>{chat.modelId ?? 'default model'}</span>
          <span>${chat.usage.costUsd.toFixed(4)}</span>
          {chat.forkOf && (
            <a href={`/chats/${chat.forkOf.chatId}`} onClick={linkHandler(`/chats/${chat.forkOf.chatId}`)}>
              forked at event {chat.forkOf.revision}
            </a>
          )}
          {chat.agentType && <span className="agent-type">{chat.agentType} sub-agent</span>}
          {!canChange && <span className="read-only">read-only</span>}
          {canChange ? (
            <label className={`plan-mode ${chat.planMode ? 'on' : ''}`} title="In plan mode the agent explores and writes only its plan file, then proposes the plan">
              <input type="checkbox" role="switch" checked={chat.planMode} onChange={(e) => void setPlanMode({ chatId, planMode: e.target.checked })} /> Plan mode
            </label>
          ) : (
            chat.planMode && <span className="plan-mode on">Plan mode</span>
          )}
        </div>
        <nav className="tabs" aria-label="chat views">
          <a href={`/chats/${chatId}`} aria-current={tab === 'conversation' ? 'page' : undefined} onClick={linkHandler(`/chats/${chatId}`)}>
            Conversation
          </a>
          <a href={`/chats/${chatId}/timeline`} aria-current={tab === 'timeline' ? 'page' : undefined} onClick={linkHandler(`/chats/${chatId}/timeline`)}>
            Timeline
          </a>
        </nav>
      </header>
      <SubAgentsContext.Provider value={subAgents}>
       <ApprovalContext.Provider value={approvals}>
        <SubAgentsPanel childIds={view.subAgents.map((c) => c.childChatId)} />
        {tab === 'timeline' ? (
          <Timeline view={view} chatId={chatId} canFork={me.agentsAccess && me.role !== 'AUDITOR'} canVerify={me.role === 'ADMIN' || me.role === 'AUDITOR'} loadEarlier={loadEarlier} />
        ) : (
          <>
            <section className="conversation" aria-label="conversation">
              {view.entries.length > shown ? (
                <button type="button" className="earlier" onClick={() => setShown((n) => n + PAGE)}>
                  Show {Math.min(PAGE, view.entries.length - shown)} earlier of {view.entries.length - shown}
                </button>
              ) : (
                loadEarlier && (
                  <button type="button" className="earlier" onClick={() => void loadEarlier()}>
                    Load earlier history (events before #{view.events[0]?.revision ?? from})
                  </button>
                )
              )}
              {view.entries.slice(-shown).map((entry) => (
                <EntryView
                  key={`${entry.kind}-${entry.revision}`}
                  entry={entry}
                  chatId={chatId}
                  canChange={canChange}
                  questionOpen={entry.kind === 'question' && chat.pendingQuestionId === entry.questionId}
                  onRevise={revise}
                />
              ))}
              {view.retry && <RetryCountdown retry={view.retry} />}
              <LiveTurn view={view} />
              {chat.status === 'ERROR' && chat.lastError && <div className="marker error" role="alert">{chat.lastError}</div>}
            </section>
            <Queue chat={chat} canChange={canChange} />
            {canChange && <Composer chat={chat} onSent={refetch} inputRef={composerInput} />}
            <div ref={bottom} />
          </>
        )}
       </ApprovalContext.Provider>
      </SubAgentsContext.Provider>
    </main>
  )
}
