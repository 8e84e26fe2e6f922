// Admins: the organization's members and roles (AdminMembers.tsx), templates (AdminTemplates.tsx) and approval policies
// (AdminGovernance.tsx); for admins of the default organization also the instance's providers (keys are write-only: "set" or
// "not set"), models with their prices, the system prompt, MCP servers and model overrides.
import { useState } from 'react'
import { useMutation, useQuery } from 'urql'
import { CONFIGURE_MODEL, CONFIGURE_PROVIDER, MODELS, PROVIDERS, SET_SYSTEM_PROMPT, SYSTEM_PROMPT } from './queries.ts'
import { errorMessage } from './client.ts'
import { Templates } from './AdminTemplates.tsx'
import { Governance, InstanceGovernance } from './AdminGovernance.tsx'
import { Members } from './AdminMembers.tsx'

const KINDS = ['anthropic', 'bedrock', 'openai_chat', 'openai_responses', 'azure_openai', 'google', 'openai_compatible']

interface Model {
  id: string
  displayName: string
  isDefault: boolean
  enabled: boolean
  contextWindow: number
  maxOutputTokens: number
  compactionThresholdPercent: number
  providerId: string | null
  modelName: string | null
  pricing: { input: number; output: number; cacheRead: number; cacheWrite: number }
}

function ProviderForm({ onSaved }: { onSaved: () => void }) {
  const [form, setForm] = useState({ id: '', kind: 'anthropic', baseUrl: '', apiKey: '' })
  const [result, save] = useMutation(CONFIGURE_PROVIDER)
  return (
    <form
      className="admin-form"
      aria-label="configure a provider"
      onSubmit={async (e) => {
        e.preventDefault()
        const res = await save({ input: { id: form.id, kind: form.kind, baseUrl: form.baseUrl || null, ...(form.apiKey ? { apiKey: form.apiKey } : {}) } })
        if (!res.error) {
          setForm({ ...form, apiKey: '' })
          onSaved()
        }
      }}
    >
      <input aria-label="provider id" placeholder="id" value={form.id} onChange={(e) => setForm({ ...form, id: e.target.value })} required />
      <select aria-label="provider kind" value={form.kind} onChange={(e) => setForm({ ...form, kind: e.target.value })}>
        {KINDS.map((k) => (
          <option key={k}>{k}</option>
        ))}
      </select>
      <input aria-label="base URL" placeholder="base URL (optional)" value={form.baseUrl} onChange={(e) => setForm({ ...form, baseUrl: e.target.value })} />
      <input aria-label="API key" type="password" autoComplete="off" placeholder="API key (write-only)" value={form.apiKey} onChange={(e) => setForm({ ...form, apiKey: e.target.value })} />
      <button type="submit" disabled={result.fetching}>Save provider</button>
      {result.error && <p className="error">{errorMessage(result.error)}</p>}
    </form>
  )
}

function ModelForm({ providers, onSaved }: { providers: string[]; onSaved: () => void }) {
  const [form, setForm] = useState({ id: '', providerId: '', modelName: '', input: '0', output: '0', isDefault: false })
  const [result, save] = useMutation(CONFIGURE_MODEL)
  return (
    <form
      className="admin-form"
      aria-label="configure a model"
      onSubmit={async (e) => {
        e.preventDefault()
        const res = await save({
          input: {
            id: form.id,
            providerId: form.providerId || providers[0],
            modelName: form.modelName,
            isDefault: form.isDefault,
            pricing: { input: Number(form.input), output: Number(form.output) },
          },
        })
        if (!res.error) onSaved()
      }}
    >
      <input aria-label="model id" placeholder="id" value={form.id} onChange={(e) => setForm({ ...form, id: e.target.value })} required />
      <select aria-label="model provider" value={form.providerId} onChange={(e) => setForm({ ...form, providerId: e.target.value })}>
        {providers.map((p) => (
          <option key={p}>{p}</option>
        ))}
      </select>
      <input aria-label="model name" placeholder="provider's model name" value={form.modelName} onChange={(e) => setForm({ ...form, modelName: e.target.value })} required />
      <label className="price">
        $ / M in <input aria-label="input price" inputMode="decimal" value={form.input} onChange={(e) => setForm({ ...form, input: e.target.value })} />
      </label>
      <label className="price">
        $ / M out <input aria-label="output price" inputMode="decimal" value={form.output} onChange={(e) => setForm({ ...form, output: e.target.value })} />
      </label>
      <label>
        <input type="checkbox" checked={form.isDefault} onChange={(e) => setForm({ ...form, isDefault: e.target.checked })} /> default
      </label>
      <button type="submit" disabled={result.fetching || providers.length === 0}>Save model</button>
      {result.error && <p className="error">{errorMessage(result.error)}</p>}
    </form>
  )
}

function SystemPrompt() {
  const [{ data }] = useQuery<{ systemPrompt: string }>({ query: SYSTEM_PROMPT })
  const [draft, setDraft] = useState<string | null>(null)
  const [result, save] = useMutation(SET_SYSTEM_PROMPT)
  const value = draft ?? data?.systemPrompt ?? ''
  return (
    <form
      className="system-prompt"
      aria-label="system prompt"
      onSubmit={async (e) => {
        e.preventDefault()
        const res = await save({ prompt: value })
        if (!res.error) setDraft(null)
      }}
    >
      <textarea aria-label="system prompt text" rows={6} value={value} onChange={(e) => setDraft(e.target.value)} />
      <button type="submit" disabled={draft === null || result.fetching}>Save system prompt</button>
      {result.error && <p className="error">{errorMessage(result.error)}</p>}
    </form>
  )
}

/** A model's row actions: configureModel again with every stored field, one changed. */
function ModelActions({ model, onSaved }: { model: Model; onSaved: () => void }) {
  const [result, save] = useMutation(CONFIGURE_MODEL)
  const change = async (patch: Partial<Pick<Model, 'enabled' | 'isDefault'>>) => {
    const m = { ...model, ...patch }
    const { cacheRead, cacheWrite, input, output } = m.pricing
    const res = await save({
      input: {
        id: m.id,
        providerId: m.providerId,
        modelName: m.modelName,
        displayName: m.displayName,
        enabled: m.enabled,
        isDefault: m.isDefault,
        contextWindow: m.contextWindow,
        maxOutputTokens: m.maxOutputTokens,
        compactionThresholdPercent: m.compactionThresholdPercent,
        pricing: { input, output, cacheRead, cacheWrite },
      },
    })
    if (!res.error) onSaved()
  }
  return (
    <>
      <label className="toggle">
        <input type="checkbox" role="switch" aria-label={`${model.id} enabled`} checked={model.enabled} disabled={result.fetching} onChange={(e) => void change({ enabled: e.target.checked })} /> enabled
      </label>{' '}
      {model.isDefault ? (
        <span className="badge ok">default</span>
      ) : (
        <button type="button" className="secondary" disabled={result.fetching || !model.enabled} onClick={() => void change({ isDefault: true })}>
          Make default
        </button>
      )}
      {result.error && <p className="error">{errorMessage(result.error)}</p>}
    </>
  )
}

/** The admin screen: the organization's members, templates and approval policies; the instance's settings only for those who administer it. */
export function AdminScreen({ instance }: { instance: boolean }) {
  return (
    <main className="admin">
      <h1>Members</h1>
      <Members />
      {instance ? (
        <InstanceModels />
      ) : (
        <p className="muted">Providers, models, the system prompt, MCP servers and model overrides are this Cairn instance's: admins of its default organization set them.</p>
      )}
      <h1>Templates</h1>
      <Templates />
      <Governance />
      {instance && <InstanceGovernance />}
    </main>
  )
}

/** The instance's providers, models and system prompt. */
function InstanceModels() {
  const [providers, refetchProviders] = useQuery<{ providers: { id: string; kind: string; displayName: string; baseUrl: string | null; apiKeySet: boolean; keyFingerprint: string | null }[] }>({ query: PROVIDERS })
  const [models, refetchModels] = useQuery<{ models: Model[] }>({ query: MODELS })
  return (
    <>
      <h1>Providers</h1>
      <table>
        <thead>
          <tr>
            <th>id</th>
            <th>kind</th>
            <th>base URL</th>
            <th>API key</th>
          </tr>
        </thead>
        <tbody>
          {providers.data?.providers.map((p) => (
            <tr key={p.id}>
              <td>{p.id}</td>
              <td>{p.kind}</td>
              <td>{p.baseUrl ?? '—'}</td>
              <td>{p.apiKeySet ? `set (${p.keyFingerprint})` : 'not set'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <ProviderForm onSaved={() => refetchProviders()} />
      <h1>Models</h1>
      <table>
        <thead>
          <tr>
            <th>id</th>
            <th>provider / name</th>
            <th>context</th>
            <th>$ / M in · out · cache read · write</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {models.data?.models.map((m) => (
            <tr key={m.id}>
              <td>{m.displayName}</td>
              <td>
                {m.providerId} / {m.modelName}
              </td>
              <td>{m.contextWindow.toLocaleString()}</td>
              <td>
                {m.pricing.input} · {m.pricing.output} · {m.pricing.cacheRead} · {m.pricing.cacheWrite}
              </td>
              <td>
                <ModelActions model={m} onSaved={() => refetchModels()} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ModelForm providers={providers.data?.providers.map((p) => p.id) ?? []} onSaved={() => refetchModels()} />
      <h1>System prompt</h1>
      <SystemPrompt />
    </>
  )
}
