// The Cairn web UI: sign in with an API token, then chats, a chat, the timeline and the admin screens.
import { StrictMode, useEffect, useMemo, useState } from 'react'
import { createRoot } from 'react-dom/client'
import { Provider, useQuery } from 'urql'
import { AdminScreen } from './Admin.tsx'
import { AuditScreen } from './Audit.tsx'
import { forgetToken, storedOrganization, storedToken, storeOrganization, storeToken } from './auth.ts'
import { ChatList } from './ChatList.tsx'
import { ChatScreen } from './ChatView.tsx'
import { WsContext } from './chat-stream.ts'
import { connect } from './client.ts'
import { ME, type Me } from './queries.ts'
import { linkHandler, useRoute } from './router.ts'
import './styles.css'

function SignIn({ onToken, problem }: { onToken: (token: string) => void; problem: string | null }) {
  const [token, setToken] = useState('')
  return (
    <main className="sign-in">
      <h1>Cairn</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault()
          if (token.trim()) onToken(token.trim())
        }}
      >
        <label htmlFor="token">API token</label>
        <input id="token" type="password" autoComplete="off" placeholder="cairn_…" value={token} onChange={(e) => setToken(e.target.value)} autoFocus />
        <button type="submit">Sign in</button>
        {problem && <p className="error" role="alert">{problem}</p>}
        <p className="muted">
          The first admin's token is in <code>&lt;data dir&gt;/admin-token</code>; <code>cairn tokens create --email …</code> issues others.
        </p>
      </form>
    </main>
  )
}

function Shell({ signOut, onOrganization }: { signOut: (problem?: string) => void; onOrganization: (id: string) => void }) {
  const [{ data, error }] = useQuery<{ me: Me }>({ query: ME })
  const route = useRoute()
  useEffect(() => {
    const code = (error?.graphQLErrors[0]?.extensions as { code?: string } | undefined)?.code
    if (code === 'UNAUTHENTICATED') signOut('That token is not valid (or was revoked).')
  }, [error, signOut])
  if (error && !data) return <main className="loading error">{error.message}</main>
  if (!data) return <main className="loading">Loading…</main>
  const me = data.me
  return (
    <>
      <header className="top">
        <a className="brand" href="/" onClick={linkHandler('/')}>
          Cairn
        </a>
        <nav aria-label="main">
          <a href="/" onClick={linkHandler('/')} aria-current={route.name === 'chats' ? 'page' : undefined}>
            Chats
          </a>
          {(me.role === 'ADMIN' || me.role === 'AUDITOR') && (
            <a href="/audit" onClick={linkHandler('/audit')} aria-current={route.name === 'audit' ? 'page' : undefined}>
              Audit
            </a>
          )}
          {me.role === 'ADMIN' && (
            <a href="/admin" onClick={linkHandler('/admin')} aria-current={route.name === 'admin' ? 'page' : undefined}>
              Admin
            </a>
          )}
        </nav>
        {me.organizations.length > 1 && (
          <select aria-label="organization" className="organization" value={me.organizationId} onChange={(e) => onOrganization(e.target.value)}>
            {me.organizations.map(({ organization }) => (
              <option key={organization.id} value={organization.id}>
                {organization.name}
              </option>
            ))}
          </select>
        )}
        <span className="who" title={me.email}>
          {me.email} · {me.role?.toLowerCase() ?? 'not a member'}
        </span>
        <button type="button" className="sign-out" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      {route.name === 'chat' ? (
        <ChatScreen key={route.chatId} chatId={route.chatId} tab={route.tab} me={me} />
      ) : route.name === 'admin' && me.role === 'ADMIN' ? (
        <AdminScreen instance={me.canConfigureInstance} />
      ) : route.name === 'audit' && (me.role === 'ADMIN' || me.role === 'AUDITOR') ? (
        <AuditScreen />
      ) : (
        <ChatList me={me} />
      )}
    </>
  )
}

function App() {
  const [token, setToken] = useState(storedToken)
  const [organization, setOrganization] = useState(storedOrganization)
  const [problem, setProblem] = useState<string | null>(null)
  const signOut = useMemo(
    () => (reason?: string) => {
      forgetToken()
      setProblem(reason ?? null)
      setToken(null)
      setOrganization(null)
    },
    [],
  )
  const connection = useMemo(
    () => (token ? connect(token, organization, () => signOut('That token is not valid (or was revoked).')) : null),
    [token, organization, signOut],
  )
  useEffect(() => () => connection?.close(), [connection])
  if (!connection)
    return (
      <SignIn
        problem={problem}
        onToken={(t) => {
          storeToken(t)
          setProblem(null)
          setToken(t)
        }}
      />
    )
  return (
    <Provider value={connection.client}>
      <WsContext.Provider value={connection.ws}>
        <Shell
          signOut={signOut}
          onOrganization={(id) => {
            storeOrganization(id)
            setOrganization(id)
          }}
        />
      </WsContext.Provider>
    </Provider>
  )
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
)
