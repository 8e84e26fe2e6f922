// The timeline: every stored event with its revision, type, actor and time; fork here; a chat's
// forks; the hash chain check for auditors and admins.
import { useMutation, useQuery } from 'urql'
import type { ChatView as View } from './chat-fold.ts'
import { FORK, FORKS, VERIFY_CHAT } from './queries.ts'
import { linkHandler, navigate } from './router.ts'
import { errorMessage } from './client.ts'

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
      {error && <span className="error">{errorMessage(error)}</span>}
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

export function Timeline({ view, chatId, canFork, canVerify, loadEarlier }: { view: View; chatId: string; canFork: boolean; canVerify: boolean; loadEarlier: (() => Promise<void>) | null }) {
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
      {fork.error && <p className="error">{errorMessage(fork.error)}</p>}
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

