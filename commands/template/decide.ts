import type { TemplateEvent, TemplateParameter, TemplateParameterValue, TemplateSettings } from '../../src/events/template.ts'
import { CommandError, invalidInput } from '../errors.ts'
import type { Decider } from '../decider.ts'

export type TemplateCommand =
  | { type: 'CreateTemplate'; templateId: string; organizationId: string; createdBy: string; settings: TemplateSettings }
  | { type: 'UpdateTemplate'; settings: TemplateSettings }
  | { type: 'ArchiveTemplate' }

export interface TemplateState {
  exists: boolean
  archived: boolean
  templateId: string
  organizationId: string
  settings: TemplateSettings | null
}

export const initialTemplateState = (): TemplateState => ({ exists: false, archived: false, templateId: '', organizationId: '', settings: null })

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/i
const PARAMETER_TYPES = ['string', 'number', 'bool', 'enum'] as const

/** Throws INVALID_INPUT naming the first thing wrong with the settings. */
export function validateTemplateSettings(s: TemplateSettings): void {
  if (!s.name.trim() || s.name.length > 100) throw invalidInput('a template needs a name of 1 to 100 characters')
  if (s.description.length > 4000) throw invalidInput('a template description is at most 4000 characters')
  const seen = new Set<string>()
  for (const p of s.parameters) {
    if (!NAME.test(p.name)) throw invalidInput(`parameter name "${p.name}" must be letters, digits, _ or -`)
    if (seen.has(p.name)) throw invalidInput(`parameter "${p.name}" is declared twice`)
    seen.add(p.name)
    if (!PARAMETER_TYPES.includes(p.type)) throw invalidInput(`parameter "${p.name}" has unknown type ${p.type}; use ${PARAMETER_TYPES.join(', ')}`)
    if (p.type === 'enum' && (!p.options || p.options.length === 0)) throw invalidInput(`enum parameter "${p.name}" needs options`)
    if (p.default !== undefined) checkValue(p, p.default)
  }
  if (s.provisioner.kind === 'exec') {
    for (const step of ['create', 'start', 'stop', 'delete'] as const)
      if (typeof s.provisioner[step] !== 'string') throw invalidInput(`an exec provisioner needs a ${step} command (may be empty)`)
  } else if (s.provisioner.kind !== 'local') throw invalidInput('provisioner must be local or exec')
  if (s.allowedRoles !== 'everyone' && (!Array.isArray(s.allowedRoles) || s.allowedRoles.length === 0))
    throw invalidInput("allowedRoles must be 'everyone' or a non-empty list of roles")
}

function checkValue(p: TemplateParameter, v: unknown): TemplateParameterValue {
  switch (p.type) {
    case 'string':
      if (typeof v !== 'string') throw invalidInput(`parameter "${p.name}" must be a string`)
      return v
    case 'number': {
      const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v
      if (typeof n !== 'number' || !Number.isFinite(n)) throw invalidInput(`parameter "${p.name}" must be a number`)
      return n
    }
    case 'bool':
      if (v === 'true' || v === 'false') return v === 'true'
      if (typeof v !== 'boolean') throw invalidInput(`parameter "${p.name}" must be true or false`)
      return v
    case 'enum':
      if (typeof v !== 'string' || !p.options!.includes(v)) throw invalidInput(`parameter "${p.name}" must be one of ${p.options!.join(', ')}`)
      return v
  }
}

/** The parameters a workspace gets: given values checked by type, defaults filled in, unknown names refused. */
export function resolveParameters(parameters: TemplateParameter[], given: Record<string, unknown>): Record<string, TemplateParameterValue> {
  const out: Record<string, TemplateParameterValue> = {}
  for (const name of Object.keys(given))
    if (!parameters.some((p) => p.name === name)) throw invalidInput(`the template has no parameter "${name}"; it has: ${parameters.map((p) => p.name).join(', ') || 'none'}`)
  for (const p of parameters) {
    const v = given[p.name]
    if (v === undefined || v === null) {
      if (p.default === undefined) throw invalidInput(`parameter "${p.name}" is required: ${p.description}`)
      out[p.name] = p.default
    } else out[p.name] = checkValue(p, v)
  }
  return out
}

export function decideTemplate(cmd: TemplateCommand, t: TemplateState): TemplateEvent[] {
  switch (cmd.type) {
    case 'CreateTemplate':
      if (t.exists) throw new CommandError('ALREADY_EXISTS', `template ${cmd.templateId} already exists`)
      validateTemplateSettings(cmd.settings)
      return [{ type: 'TemplateCreated', data: { ...cmd.settings, templateId: cmd.templateId, organizationId: cmd.organizationId, createdBy: cmd.createdBy } }]
    case 'UpdateTemplate':
      if (!t.exists || t.archived) throw new CommandError('NOT_FOUND', 'template not found')
      validateTemplateSettings(cmd.settings)
      return [{ type: 'TemplateUpdated', data: cmd.settings }]
    case 'ArchiveTemplate':
      if (!t.exists) throw new CommandError('NOT_FOUND', 'template not found')
      return t.archived ? [] : [{ type: 'TemplateArchived', data: {} }]
  }
}

export function evolveTemplate(t: TemplateState, e: TemplateEvent): TemplateState {
  switch (e.type) {
    case 'TemplateCreated': {
      const { templateId, organizationId, createdBy: _c, ...settings } = e.data
      return { ...t, exists: true, templateId, organizationId, settings }
    }
    case 'TemplateUpdated':
      return { ...t, settings: e.data }
    case 'TemplateArchived':
      return { ...t, archived: true }
  }
}

export const templateDecider: Decider<TemplateCommand, TemplateState, TemplateEvent> = {
  decide: decideTemplate,
  evolve: evolveTemplate,
  initialState: initialTemplateState,
}
