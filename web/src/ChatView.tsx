// One chat: the conversation as it streams, the queue, the composer and the timeline.
import { memo, useEffect, useLayoutEffect, useRef, useState } from 'react'
import { useMutation, useQuery } from 'urql'
import { liveReasoning, liveText, type ChatView as View, type Entry } from './chat-fold.ts'
import { HISTORY_WINDOW, useChatStream } from './chat-stream.ts'
import { statusLabel } from './ChatList.tsx'
import { Markdown, StreamingMarkdown } from './Markdown.tsx'
import { ANSWER, CHAT_QUERY, FORK, FORKS, INTERRUPT, PROMOTE_QUEUED, REMOVE_QUEUED, SEND, SET_PLAN_MODE, VERIFY_CHAT, type ChatSummary, type Me } from './queries.ts'
import { linkHandler, navigate } from './router.ts'
import { ToolCard } from './ToolCard.tsx'
import { AttachmentImage, IMAGE_TYPES, refusalOf, uploadImage, type UploadedImage } from './attachments.tsx'

const BUSY = new Set(['PENDING', 'RUNNING', 'INTERRUPTING'])
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
const EntryView = memo(function EntryView({ entry, chatId, canChange }: { entry: Entry; chatId: string; canChange: boolean }) {
  const [, answer] = useMutation(ANSWER)
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
      return (
        <div className="msg question">
          <p>{entry.question}</p>
          {canChange &&
            entry.options.map((o) => (
              <button key={o} type="button" onClick={() => void answer({ chatId, questionId: entry.questionId, answer: o })}>
                {o}
              </button>
            ))}
        </div>
      )
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

function Queue({ chat, canChange }: { chat: ChatSummary; canChange: boolean }) {
  const [, remove] = useMutation(REMOVE_QUEUED)
  const [, promote] = useMutation(PROMOTE_QUEUED)
  if (chat.queue.length === 0) return null
  return (
    <section className="queue" aria-label="queued messages">
      <h2>Queued ({chat.queue.length})</h2>
      <ol>
        {chat.queue.map((q) => (
          <li key={q.queueId}>
            <span className="queued-text">{q.parts.filter((p) => p.type === 'text').map((p) => p.text).join(' ')}</span>
            {canChange && (
              <span className="actions">
                <button type="button" onClick={() => void promote({ chatId: chat.id, queueId: q.queueId })} title="Interrupt the turn and send this next">
                  Send now
                </button>
                <button type="button" onClick={() => void remove({ chatId: chat.id, queueId: q.queueId })}>
                  Remove
                </button>
              </span>
            )}
          </li>
        ))}
      </ol>
    </section>
  )
}

function Composer({ chat, onSent }: { chat: ChatSummary; onSent: () => void }) {
  const [text, setText] = useState('')
  const [images, setImages] = useState<UploadedImage[]>([])
  const [uploading, setUploading] = useState(0)
  const [attachError, setAttachError] = useState<string | null>(null)
  const [result, send] = useMutation(SEND)
  const [, interrupt] = useMutation(INTERRUPT)
  const busy = BUSY.has(chat.status)
  async function attach(files: Iterable<File>) {
    setAttachError(null)
    for (const file of files) {
      const refusal = refusalOf(file)
      if (refusal) {
        setAttachError(refusal)
        continue
      }
      setUploading((n) => n + 1)
      try {
        const image = await uploadImage(file)
        setImages((list) => [...list, image])
      } catch (err) {
        setAttachError(`${file.name}: ${(err as Error).message}`)
      } finally {
        setUploading((n) => n - 1)
      }
    }
  }
  async function submit() {
    const message = text.trim()
    if (!message || uploading) return
    const attached = images
    setText('')
    setImages([])
    performance.mark('cairn:send')
    const res = await send({ input: { chatId: chat.id, text: message, ...(attached.length ? { attachmentIds: attached.map((i) => i.id) } : {}) } })
    if (res.error) {
      setText(message)
      setImages(attached)
    } else for (const image of attached) URL.revokeObjectURL(image.previewUrl)
    onSent()
  }
  return (
    <form
      className="composer"
      aria-label="composer"
      onSubmit={(e) => {
        e.preventDefault()
        void submit()
      }}
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault()
        void attach(e.dataTransfer.files)
      }}
    >
      {images.length > 0 && (
        <div className="attached" aria-label="attached images">
          {images.map((image) => (
            <figure key={image.id}>
              <img src={image.previewUrl} alt={image.name} />
              <button type="button" aria-label={`remove ${image.name}`} onClick={() => setImages((list) => list.filter((i) => i.id !== image.id))}>
                ×
              </button>
            </figure>
          ))}
        </div>
      )}
      <textarea
        aria-label="message"
        placeholder={busy ? 'The agent is working; a message now waits in the queue' : 'Message'}
        value={text}
        rows={2}
        onChange={(e) => setText(e.target.value)}
        onPaste={(e) => {
          if (e.clipboardData.files.length) {
            e.preventDefault()
            void attach(e.clipboardData.files)
          }
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey) {
            e.preventDefault()
            void submit()
          } else if (e.key === 'Escape' && busy) void interrupt({ chatId: chat.id })
        }}
      />
      <div className="composer-actions">
        <label className="attach">
          Attach image
          <input
            type="file"
            aria-label="attach image"
            accept={IMAGE_TYPES.join(',')}
            multiple
            onChange={(e) => {
              void attach(e.target.files ?? [])
              e.target.value = ''
            }}
          />
        </label>
        {uploading > 0 && <span className="muted">uploading…</span>}
        {busy && (
          <button type="button" className="stop" title="Stop the turn (Esc)" onClick={() => void interrupt({ chatId: chat.id })} disabled={chat.status === 'INTERRUPTING'}>
            Stop
          </button>
        )}
        <button type="submit" disabled={!text.trim() || uploading > 0}>
          {busy ? 'Queue' : 'Send'}
        </button>
      </div>
      {attachError && <p className="error" role="alert">{attachError}</p>}
      {result.error && <p className="error">{result.error.graphQLErrors[0]?.message ?? result.error.message}</p>}
    </form>
  )
}

const clip = (text: string, n = 80) => (text.length > n ? `${text.slice(0, n - 1)}…` : text)

/** One line on what an event says, for the timeline. */
function eventSummary(e: View['events'][number]): string {
  const d = e.data ?? {}
  switch (e.type) {
    case 'ChatCreated':
    case 'ChatRenamed':
      return clip(d.title ?? '')
    case 'ChatForked':
      return `from event ${d.atRevision} of another chat`
    case 'UserMessagePosted':
    case 'MessageQueued':
      return clip((d.parts ?? []).map((p: { text?: string }) => p.text ?? '').join(' '))
    case 'AssistantStepCompleted':
      return d.toolCalls?.length ? `calls ${d.toolCalls.map((c: { name: string }) => c.name).join(', ')}` : clip(d.text ?? '')
    case 'ToolCallStarted':
      return `${d.name}${d.arguments?.path ? ` ${d.arguments.path}` : d.arguments?.command ? ` ${clip(String(d.arguments.command), 50)}` : ''}`
    case 'ToolCallCompleted':
      return `${d.name}${d.isError ? ' failed' : ''} in ${d.durationMs} ms`
    case 'TurnFailed':
      return clip(d.message ?? '')
    case 'ContextCompacted':
      return `${d.tokensBefore} → ${d.tokensAfter} tokens`
    default:
      return ''
  }
}

function ChainCheck({ chatId }: { chatId: string }) {
  const [{ data, error, fetching }, verify] = useQuery<{ verifyChat: { ok: boolean; streams: number; events: number; broken: { stream: string; kind: string; revision: number; message: string }[] } }>({
    query: VERIFY_CHAT,
    variables: { chatId },
    pause: true,
  })
  return (
    <div className="chain-check">
      <button type="button" onClick={() => verify()} disabled={fetching}>
        Check the hash chain
      </button>
      {error && <span className="error">{error.graphQLErrors[0]?.message ?? error.message}</span>}
      {data &&
        (data.verifyChat.ok ? (
          <span className="ok" role="status">
            Chain intact: {data.verifyChat.events} events in {data.verifyChat.streams} stream{data.verifyChat.streams === 1 ? '' : 's'} re-hashed
          </span>
        ) : (
          <ul className="error" role="alert">
            {data.verifyChat.broken.map((b) => (
              <li key={`${b.stream}-${b.revision}`}>
                {b.kind} at {b.stream} #{b.revision}: {b.message}
              </li>
            ))}
          </ul>
        ))}
    </div>
  )
}

function Branches({ chatId }: { chatId: string }) {
  const [{ data }] = useQuery<{ chats: { nodes: { id: string; title: string; forkOf: { revision: number } }[] } }>({ query: FORKS, variables: { chatId } })
  const forks = data?.chats.nodes ?? []
  if (forks.length === 0) return null
  return (
    <nav className="branches" aria-label="forks of this chat">
      <h2>Forks</h2>
      <ul>
        {forks.map((f) => (
          <li key={f.id}>
            <a href={`/chats/${f.id}`} onClick={linkHandler(`/chats/${f.id}`)}>
              {f.title}
            </a>{' '}
            <span className="muted">at event {f.forkOf.revision}</span>
          </li>
        ))}
      </ul>
    </nav>
  )
}

function Timeline({ view, chatId, canFork, canVerify, loadEarlier }: { view: View; chatId: string; canFork: boolean; canVerify: boolean; loadEarlier: (() => Promise<void>) | null }) {
  const [fork, forkChat] = useMutation<{ forkChat: { id: string } }>(FORK)
  return (
    <section className="timeline" aria-label="timeline">
      {canVerify && <ChainCheck chatId={chatId} />}
      <Branches chatId={chatId} />
      {loadEarlier && (
        <button type="button" className="earlier" onClick={() => void loadEarlier()}>
          Load events before #{view.events[0]?.revision}
        </button>
      )}
      {fork.error && <p className="error">{fork.error.graphQLErrors[0]?.message ?? fork.error.message}</p>}
      <table>
        <thead>
          <tr>
            <th>#</th>
            <th>event</th>
            <th>what</th>
            <th>actor</th>
            <th>time</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {view.events.map((e) => (
            <tr key={e.revision} data-revision={e.revision}>
              <td>{e.revision}</td>
              <td className="type">{e.type}</td>
              <td className="what">{eventSummary(e)}</td>
              <td>
                <span title={e.actor.onBehalfOf ? `on behalf of user ${e.actor.onBehalfOf}` : e.actor.id}>{e.actor.kind.toLowerCase()}</span>
              </td>
              <td>
                <time dateTime={e.occurredAt}>{new Date(e.occurredAt).toLocaleTimeString()}</time>
              </td>
              <td>
                {canFork && (
                  <button
                    type="button"
                    aria-label={`fork at event ${e.revision}`}
                    onClick={async () => {
                      const res = await forkChat({ chatId, atRevision: e.revision })
                      if (res.data) navigate(`/chats/${res.data.forkChat.id}`)
                    }}
                  >
                    Fork here
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
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
  // Long chats render their newest entries; earlier ones page in on demand.
  const [shown, setShown] = useState(PAGE)
  const chat = data?.chat
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
  const canChange = me.role === 'ADMIN' || (me.role === 'MEMBER' && chat.ownerId === me.id)
  const status = chat.status
  return (
    <main className="chat">
      <header className="chat-head">
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
          {!canChange && <span className="read-only">read-only</span>}
          {canChange ? (
            <label className="plan-mode">
              <input type="checkbox" checked={chat.planMode} onChange={(e) => void setPlanMode({ chatId, planMode: e.target.checked })} /> plan mode
            </label>
          ) : (
            chat.planMode && <span>plan mode</span>
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
      {tab === 'timeline' ? (
        <Timeline view={view} chatId={chatId} canFork={me.role !== 'AUDITOR'} canVerify={me.role !== 'MEMBER'} loadEarlier={loadEarlier} />
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
              <EntryView key={`${entry.kind}-${entry.revision}`} entry={entry} chatId={chatId} canChange={canChange} />
            ))}
            {view.retry && <RetryCountdown retry={view.retry} />}
            <LiveTurn view={view} />
            {chat.status === 'ERROR' && chat.lastError && <div className="marker error" role="alert">{chat.lastError}</div>}
          </section>
          <Queue chat={chat} canChange={canChange} />
          {canChange && <Composer chat={chat} onSent={refetch} />}
          <div ref={bottom} />
        </>
      )}
    </main>
  )
}
