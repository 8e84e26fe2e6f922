// Admins: the workspace templates, created and changed from one form (createTemplate / updateTemplate).
import { useState } from 'react'
import { useMutation, useQuery } from 'urql'
import { errorMessage } from './client.ts'
import { ARCHIVE_TEMPLATE, CREATE_TEMPLATE, TEMPLATES, UPDATE_TEMPLATE } from './queries.ts'

const ROLES = ['ADMIN', 'AUDITOR', 'MEMBER'] as const
const EXEC_STEPS = ['create', 'start', 'stop', 'delete'] as const

export interface Template {
  id: string
  name: string
  description: string
  provisioner: { kind: string; create?: string; start?: string; stop?: string; delete?: string }
  allowedRoles: string[] | 'everyone'
  workspaceCount: number
}

interface Draft {
  name: string
  description: string
  kind: 'local' | 'exec'
  steps: Record<(typeof EXEC_STEPS)[number], string>
  roles: string[]
}

const emptyDraft = (): Draft => ({ name: '', description: '', kind: 'local', steps: { create: '', start: '', stop: '', delete: '' }, roles: [] })

function draftOf(t: Template): Draft {
  const p = t.provisioner
  return {
    name: t.name,
    description: t.description,
    kind: p.kind === 'exec' ? 'exec' : 'local',
    steps: { create: p.create ?? '', start: p.start ?? '', stop: p.stop ?? '', delete: p.delete ?? '' },
    roles: Array.isArray(t.allowedRoles) ? t.allowedRoles.map((r) => r.toUpperCase()) : [],
  }
}

/** The TemplateInput of a draft: exec's commands only for exec, no roles for everyone. */
function inputOf(d: Draft) {
  const steps = d.kind === 'exec' ? Object.fromEntries(EXEC_STEPS.filter((s) => d.steps[s].trim()).map((s) => [s, d.steps[s]])) : {}
  return { name: d.name, description: d.description, provisioner: { kind: d.kind, ...steps }, allowedRoles: d.roles.length ? d.roles : null }
}

function TemplateForm({ editing, onDone }: { editing: Template | null; onDone: () => void }) {
  const [draft, setDraft] = useState<Draft>(() => (editing ? draftOf(editing) : emptyDraft()))
  const [created, create] = useMutation(CREATE_TEMPLATE)
  const [updated, update] = useMutation(UPDATE_TEMPLATE)
  const result = editing ? updated : created
  const set = (change: Partial<Draft>) => setDraft((d) => ({ ...d, ...change }))
  return (
    <form
      className="admin-form template-form"
      aria-label={editing ? `edit template ${editing.name}` : 'create a template'}
      onSubmit={async (e) => {
        e.preventDefault()
        const res = editing ? await update({ id: editing.id, input: inputOf(draft) }) : await create({ input: inputOf(draft) })
        if (!res.error) {
          setDraft(emptyDraft())
          onDone()
        }
      }}
    >
      <input aria-label="template name" placeholder="name" value={draft.name} onChange={(e) => set({ name: e.target.value })} />
      <input aria-label="template description" className="wide" placeholder="description (the agent reads it to choose)" value={draft.description} onChange={(e) => set({ description: e.target.value })} />
      <select aria-label="provisioner" value={draft.kind} onChange={(e) => set({ kind: e.target.value as Draft['kind'] })}>
        <option value="local">local</option>
        <option value="exec">exec</option>
      </select>
      {draft.kind === 'exec' &&
        EXEC_STEPS.map((step) => (
          <input
            key={step}
            className="wide mono"
            aria-label={`${step} command`}
            placeholder={`${step}: shell command${step === 'create' ? '' : ' (optional)'}`}
            value={draft.steps[step]}
            onChange={(e) => set({ steps: { ...draft.steps, [step]: e.target.value } })}
          />
        ))}
      <fieldset className="roles">
        <legend>who may use it (none checked: everyone)</legend>
        {ROLES.map((role) => (
          <label key={role}>
            <input
              type="checkbox"
              checked={draft.roles.includes(role)}
              onChange={(e) => set({ roles: e.target.checked ? [...draft.roles, role] : draft.roles.filter((r) => r !== role) })}
            />{' '}
            {role.toLowerCase()}
          </label>
        ))}
      </fieldset>
      <button type="submit" disabled={result.fetching}>
        {editing ? 'Save template' : 'Create template'}
      </button>
      {editing && (
        <button type="button" className="secondary" onClick={onDone}>
          Cancel
        </button>
      )}
      {result.error && (
        <p className="error" role="alert">
          {errorMessage(result.error)}
        </p>
      )}
    </form>
  )
}

export function Templates() {
  const [{ data }, refetch] = useQuery<{ templates: Template[] }>({ query: TEMPLATES })
  const [editing, setEditing] = useState<Template | null>(null)
  const [archived, archive] = useMutation(ARCHIVE_TEMPLATE)
  return (
    <>
      {archived.error && (
        <p className="error" role="alert">
          {errorMessage(archived.error)}
        </p>
      )}
      <table aria-label="templates">
        <thead>
          <tr>
            <th>name</th>
            <th>provisioner</th>
            <th>who may use it</th>
            <th>workspaces</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.templates.map((t) => (
            <tr key={t.id}>
              <td title={t.description}>{t.name}</td>
              <td>{t.provisioner.kind}</td>
              <td>{Array.isArray(t.allowedRoles) ? t.allowedRoles.join(', ').toLowerCase() : String(t.allowedRoles)}</td>
              <td>{t.workspaceCount}</td>
              <td>
                <button type="button" className="secondary" aria-label={`edit ${t.name}`} onClick={() => setEditing(t)}>
                  Edit
                </button>{' '}
                <button
                  type="button"
                  className="secondary"
                  aria-label={`archive ${t.name}`}
                  disabled={archived.fetching}
                  onClick={() => {
                    if (!window.confirm(`Archive ${t.name}? No new workspaces can be made from it; its workspaces keep running.`)) return
                    void archive({ id: t.id }).then(() => refetch({ requestPolicy: 'network-only' }))
                  }}
                >
                  Archive
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <TemplateForm
        key={editing?.id ?? 'new'}
        editing={editing}
        onDone={() => {
          setEditing(null)
          refetch()
        }}
      />
    </>
  )
}
