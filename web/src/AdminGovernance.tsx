// Admins: what the agent may do and with which models — approval policies, MCP servers (secrets
// write-only: "set" and a fingerprint, never a value), model overrides and the sub-agent limit.
import { useState } from 'react'
import { useMutation, useQuery } from 'urql'
import { errorMessage } from './client.ts'
import {
  APPROVAL_POLICIES,
  CONFIGURE_MCP_SERVER,
  MCP_SERVERS,
  MODEL_OVERRIDES,
  MODELS,
  REMOVE_MCP_SERVER,
  SET_APPROVAL_POLICY,
  SET_MODEL_OVERRIDES,
  SET_SUB_AGENT_LIMIT,
  TEMPLATES,
} from './queries.ts'

interface Rule {
  tool: string
  commandPattern: string | null
  destructiveOnly: boolean
}
type RuleDraft = { tool: string; pattern: string; destructiveOnly: boolean }
interface Policy {
  orgId: string
  templateId: string | null
  rules: Rule[]
  expiresAfterSeconds: number
}

export const ErrorLine = ({ error }: { error: Parameters<typeof errorMessage>[0] | undefined }) =>
  error ? (
    <p className="error" role="alert">
      {errorMessage(error)}
    </p>
  ) : null

function PolicyForm({ templates, editing, onSaved }: { templates: { id: string; name: string }[]; editing: Policy | null; onSaved: () => void }) {
  const [scope, setScope] = useState(editing?.templateId ?? '')
  const [rules, setRules] = useState<RuleDraft[]>(() =>
    editing
      ? editing.rules.map((r) => ({ tool: r.tool, pattern: r.commandPattern ?? '', destructiveOnly: r.destructiveOnly }))
      : [{ tool: 'execute', pattern: '', destructiveOnly: false }],
  )
  const [expires, setExpires] = useState(String(editing?.expiresAfterSeconds ?? 3600))
  const [result, save] = useMutation(SET_APPROVAL_POLICY)
  const setRule = (i: number, change: Partial<RuleDraft>) => setRules((rs) => rs.map((r, j) => (j === i ? { ...r, ...change } : r)))
  return (
    <form
      className="admin-form policy-form"
      aria-label="set an approval policy"
      onSubmit={async (e) => {
        e.preventDefault()
        const res = await save({
          input: {
            templateId: scope || null,
            rules: rules.filter((r) => r.tool.trim()).map((r) => ({ tool: r.tool.trim(), commandPattern: r.pattern || null, destructiveOnly: r.destructiveOnly })),
            expiresAfterSeconds: Number(expires),
          },
        })
        if (!res.error) onSaved()
      }}
    >
      <select aria-label="policy scope" value={scope} onChange={(e) => setScope(e.target.value)}>
        <option value="">the organization</option>
        {templates.map((t) => (
          <option key={t.id} value={t.id}>
            chats on template {t.name}
          </option>
        ))}
      </select>
      <div className="rules">
        {rules.map((r, i) => (
          <div key={i} className="rule">
            <input aria-label={`rule ${i + 1} tool`} placeholder="tool (* matches any run)" value={r.tool} onChange={(e) => setRule(i, { tool: e.target.value })} />
            <input
              aria-label={`rule ${i + 1} command pattern`}
              className="mono"
              placeholder="command pattern (regular expression, optional)"
              value={r.pattern}
              onChange={(e) => setRule(i, { pattern: e.target.value })}
            />
            <label className="inline" title="only tools their MCP server declares destructive">
              <input type="checkbox" aria-label={`rule ${i + 1} destructive tools only`} checked={r.destructiveOnly} onChange={(e) => setRule(i, { destructiveOnly: e.target.checked })} /> destructive only
            </label>
            <button type="button" className="secondary" aria-label={`remove rule ${i + 1}`} onClick={() => setRules((rs) => rs.filter((_, j) => j !== i))}>
              ×
            </button>
          </div>
        ))}
        <button type="button" className="secondary" onClick={() => setRules((rs) => [...rs, { tool: '', pattern: '', destructiveOnly: false }])}>
          Add rule
        </button>
      </div>
      <label className="price">
        expires after <input aria-label="expires after seconds" inputMode="numeric" value={expires} onChange={(e) => setExpires(e.target.value)} /> s
      </label>
      <button type="submit" disabled={result.fetching}>
        Save policy
      </button>
      <span className="muted">No rules removes the policy.</span>
      <ErrorLine error={result.error} />
    </form>
  )
}

function ApprovalPolicies() {
  const [{ data }, refetch] = useQuery<{ approvalPolicies: Policy[] }>({ query: APPROVAL_POLICIES })
  const [templates] = useQuery<{ templates: { id: string; name: string }[] }>({ query: TEMPLATES })
  const [editing, setEditing] = useState<Policy | null>(null)
  const names = new Map(templates.data?.templates.map((t) => [t.id, t.name]))
  return (
    <>
      <table aria-label="approval policies">
        <thead>
          <tr>
            <th>applies to</th>
            <th>calls that wait for approval</th>
            <th>denied after</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.approvalPolicies.map((p) => (
            <tr key={p.templateId ?? p.orgId}>
              <td>{p.templateId ? `template ${names.get(p.templateId) ?? p.templateId}` : 'the organization'}</td>
              <td>
                {p.rules.map((r, i) => (
                  <div key={i} className="rule-view">
                    <code>{r.tool}</code>
                    {r.commandPattern && (
                      <>
                        {' '}
                        matching <code>{r.commandPattern}</code>
                      </>
                    )}
                    {r.destructiveOnly && ' (tools marked destructive)'}
                  </div>
                ))}
              </td>
              <td>{formatSeconds(p.expiresAfterSeconds)}</td>
              <td>
                <button type="button" className="secondary" onClick={() => setEditing(p)}>
                  Edit
                </button>
              </td>
            </tr>
          ))}
          {data?.approvalPolicies.length === 0 && (
            <tr>
              <td colSpan={4} className="muted">
                No policy: every tool call runs without asking.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <PolicyForm
        key={editing ? (editing.templateId ?? 'org') : 'new'}
        templates={templates.data?.templates ?? []}
        editing={editing}
        onSaved={() => {
          setEditing(null)
          refetch()
        }}
      />
    </>
  )
}

export const formatSeconds = (s: number) => (s % 3600 === 0 ? `${s / 3600} h` : s % 60 === 0 ? `${s / 60} min` : `${s} s`)

interface McpServer {
  id: string
  url: string
  transport: string
  auth: { kind: 'NONE' | 'BEARER' | 'HEADERS'; tokenFingerprint: string | null; headers: { name: string; fingerprint: string }[] }
  availability: string
  allowTools: string[]
  denyTools: string[]
  allowInPlanMode: boolean
  allowInSubAgents: boolean
  lastError: string | null
}

const list = (text: string) =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)

function McpServerForm({ editing, onSaved }: { editing: McpServer | null; onSaved: () => void }) {
  const [form, setForm] = useState(() => ({
    id: editing?.id ?? '',
    url: editing?.url ?? '',
    transport: editing?.transport ?? 'STREAMABLE_HTTP',
    authKind: editing?.auth.kind ?? 'NONE',
    token: '',
    // One "Name: value" a line; a name alone keeps its stored value.
    headers: editing?.auth.headers.map((h) => h.name).join('\n') ?? '',
    availability: editing?.availability ?? 'DEFAULT_ON',
    allowTools: editing?.allowTools.join(', ') ?? '',
    denyTools: editing?.denyTools.join(', ') ?? '',
    allowInPlanMode: editing?.allowInPlanMode ?? false,
    allowInSubAgents: editing?.allowInSubAgents ?? false,
  }))
  const [result, save] = useMutation(CONFIGURE_MCP_SERVER)
  const set = (change: Partial<typeof form>) => setForm((f) => ({ ...f, ...change }))
  const auth =
    form.authKind === 'BEARER'
      ? { kind: 'BEARER', ...(form.token ? { token: form.token } : {}) }
      : form.authKind === 'HEADERS'
        ? {
            kind: 'HEADERS',
            headers: form.headers
              .split('\n')
              .filter((l) => l.trim())
              .map((line) => {
                const at = line.indexOf(':')
                return at < 0 ? { name: line.trim() } : { name: line.slice(0, at).trim(), value: line.slice(at + 1).trim() }
              }),
          }
        : { kind: 'NONE' }
  return (
    <form
      className="admin-form mcp-form"
      aria-label="configure an MCP server"
      onSubmit={async (e) => {
        e.preventDefault()
        const res = await save({
          input: {
            id: form.id,
            url: form.url,
            transport: form.transport,
            auth,
            availability: form.availability,
            allowTools: list(form.allowTools),
            denyTools: list(form.denyTools),
            allowInPlanMode: form.allowInPlanMode,
            allowInSubAgents: form.allowInSubAgents,
          },
        })
        if (!res.error) {
          set({ token: '', headers: form.headers.split('\n').map((l) => l.split(':')[0]!.trim()).filter(Boolean).join('\n') })
          onSaved()
        }
      }}
    >
      <input aria-label="MCP server id" placeholder="id" value={form.id} onChange={(e) => set({ id: e.target.value })} readOnly={!!editing} />
      <input aria-label="MCP server URL" className="wide" placeholder="https://…" value={form.url} onChange={(e) => set({ url: e.target.value })} />
      <select aria-label="transport" value={form.transport} onChange={(e) => set({ transport: e.target.value })}>
        <option value="STREAMABLE_HTTP">streamable HTTP</option>
        <option value="SSE">SSE</option>
      </select>
      <select aria-label="MCP auth" value={form.authKind} onChange={(e) => set({ authKind: e.target.value as McpServer['auth']['kind'] })}>
        <option value="NONE">no auth</option>
        <option value="BEARER">bearer token</option>
        <option value="HEADERS">headers</option>
      </select>
      {form.authKind === 'BEARER' && (
        <input
          aria-label="bearer token"
          type="password"
          autoComplete="off"
          placeholder={editing?.auth.tokenFingerprint ? 'token set: leave empty to keep it' : 'token (write-only)'}
          value={form.token}
          onChange={(e) => set({ token: e.target.value })}
        />
      )}
      {form.authKind === 'HEADERS' && (
        <textarea
          aria-label="headers"
          className="wide mono"
          rows={2}
          placeholder={'Name: value (write-only), one a line;\na name alone keeps its stored value'}
          value={form.headers}
          onChange={(e) => set({ headers: e.target.value })}
        />
      )}
      <select aria-label="availability" value={form.availability} onChange={(e) => set({ availability: e.target.value })}>
        <option value="FORCE_ON">on in every chat</option>
        <option value="DEFAULT_ON">on unless the owner turns it off</option>
        <option value="DEFAULT_OFF">off unless the owner turns it on</option>
      </select>
      <input aria-label="allowed tools" placeholder="allowed tools (comma-separated; empty: all)" value={form.allowTools} onChange={(e) => set({ allowTools: e.target.value })} />
      <input aria-label="denied tools" placeholder="denied tools (comma-separated)" value={form.denyTools} onChange={(e) => set({ denyTools: e.target.value })} />
      <label>
        <input type="checkbox" checked={form.allowInPlanMode} onChange={(e) => set({ allowInPlanMode: e.target.checked })} /> in plan mode
      </label>
      <label>
        <input type="checkbox" checked={form.allowInSubAgents} onChange={(e) => set({ allowInSubAgents: e.target.checked })} /> in sub-agents
      </label>
      <button type="submit" disabled={result.fetching}>
        Save MCP server
      </button>
      <ErrorLine error={result.error} />
    </form>
  )
}

/** What is stored of a server's secrets: never a value. */
function authSummary(auth: McpServer['auth']): string {
  if (auth.kind === 'BEARER') return auth.tokenFingerprint ? `bearer token set (${auth.tokenFingerprint})` : 'bearer token not set'
  if (auth.kind === 'HEADERS') return auth.headers.map((h) => `${h.name} set (${h.fingerprint})`).join(', ') || 'no headers'
  return 'none'
}

function McpServers() {
  const [{ data }, refetch] = useQuery<{ mcpServers: McpServer[] }>({ query: MCP_SERVERS })
  const [editing, setEditing] = useState<McpServer | null>(null)
  const [removed, remove] = useMutation(REMOVE_MCP_SERVER)
  return (
    <>
      <table aria-label="MCP servers">
        <thead>
          <tr>
            <th>id</th>
            <th>URL</th>
            <th>auth</th>
            <th>offered</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.mcpServers.map((s) => (
            <tr key={s.id}>
              <td>{s.id}</td>
              <td>
                {s.url} <span className="muted">{s.transport === 'SSE' ? 'SSE' : ''}</span>
                {s.lastError && <div className="error">last error: {s.lastError}</div>}
              </td>
              <td>{authSummary(s.auth)}</td>
              <td>
                {s.availability.toLowerCase().replace('_', ' ')}
                {s.allowInPlanMode ? ' · plan mode' : ''}
                {s.allowInSubAgents ? ' · sub-agents' : ''}
              </td>
              <td>
                <button type="button" className="secondary" onClick={() => setEditing(s)}>
                  Edit
                </button>{' '}
                <button type="button" className="secondary" aria-label={`remove ${s.id}`} onClick={async () => (await remove({ id: s.id })).error || refetch()}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
          {data?.mcpServers.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                No MCP servers.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <ErrorLine error={removed.error} />
      <McpServerForm
        key={editing?.id ?? 'new'}
        editing={editing}
        onSaved={() => {
          setEditing(null)
          refetch()
        }}
      />
    </>
  )
}

const JOBS = [
  ['subAgents', 'sub-agents'],
  ['compaction', 'compaction'],
  ['titles', 'titles'],
] as const
type Overrides = Record<(typeof JOBS)[number][0], string | null>

function ModelOverrides({ models }: { models: string[] }) {
  const [{ data }, refetch] = useQuery<{ modelOverrides: Overrides; subAgentLimit: number }>({ query: MODEL_OVERRIDES })
  const [draft, setDraft] = useState<Overrides | null>(null)
  const [limit, setLimit] = useState<string | null>(null)
  const [saved, save] = useMutation(SET_MODEL_OVERRIDES)
  const [limited, saveLimit] = useMutation(SET_SUB_AGENT_LIMIT)
  const overrides = draft ?? data?.modelOverrides
  if (!overrides || !data) return null
  return (
    <div className="overrides">
      <form
        className="admin-form"
        aria-label="model overrides"
        onSubmit={async (e) => {
          e.preventDefault()
          const res = await save({ input: overrides })
          if (!res.error) {
            setDraft(null)
            refetch()
          }
        }}
      >
        {JOBS.map(([job, label]) => (
          <label key={job}>
            {label}{' '}
            <select aria-label={`model for ${label}`} value={overrides[job] ?? ''} onChange={(e) => setDraft({ ...overrides, [job]: e.target.value || null })}>
              <option value="">the chat's model</option>
              {[...new Set([...models, ...(overrides[job] ? [overrides[job]!] : [])])].map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </label>
        ))}
        <button type="submit" disabled={draft === null || saved.fetching}>
          Save overrides
        </button>
        <ErrorLine error={saved.error} />
      </form>
      <form
        className="admin-form"
        aria-label="sub-agent limit"
        onSubmit={async (e) => {
          e.preventDefault()
          const res = await saveLimit({ max: Number(limit) })
          if (!res.error) {
            setLimit(null)
            refetch()
          }
        }}
      >
        <label className="price">
          active sub-agents per root chat{' '}
          <input aria-label="sub-agent limit" inputMode="numeric" value={limit ?? String(data.subAgentLimit)} onChange={(e) => setLimit(e.target.value)} />
        </label>
        <button type="submit" disabled={limit === null || limited.fetching}>
          Save limit
        </button>
        <ErrorLine error={limited.error} />
      </form>
    </div>
  )
}

/** The organization's approval policies. */
export function Governance() {
  return (
    <>
      <h1>Approval policies</h1>
      <p className="muted">Matching tool calls wait in their chat until its owner approves or denies them.</p>
      <ApprovalPolicies />
    </>
  )
}

/** The instance's MCP servers and model overrides (admins of the default organization). */
export function InstanceGovernance() {
  const [{ data }] = useQuery<{ models: { id: string; enabled: boolean }[] }>({ query: MODELS })
  const models = data?.models.filter((m) => m.enabled).map((m) => m.id) ?? []
  return (
    <>
      <h1>MCP servers</h1>
      <McpServers />
      <h1>Model overrides and sub-agents</h1>
      <ModelOverrides models={models} />
    </>
  )
}
