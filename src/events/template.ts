/** Events of a `template-<uuid>` stream: how a kind of workspace is made and who may make one. */

export type TemplateParameterType = 'string' | 'number' | 'bool' | 'enum'
export type TemplateParameterValue = string | number | boolean

export interface TemplateParameter {
  name: string
  description: string
  type: TemplateParameterType
  /** Absent means the parameter is required. */
  default?: TemplateParameterValue
  /** Only for `enum`. */
  options?: string[]
}

/** `local`: a folder on the control plane's host. `exec`: shell commands an admin wrote. */
export type ProvisionerSpec =
  | { kind: 'local' }
  | { kind: 'exec'; create: string; start: string; stop: string; delete: string }

export interface TemplateSettings {
  name: string
  description: string
  parameters: TemplateParameter[]
  provisioner: ProvisionerSpec
  /** Roles that may create workspaces from it, or 'everyone'. */
  allowedRoles: string[] | 'everyone'
}

export type TemplateEvent =
  | { type: 'TemplateCreated'; data: TemplateSettings & { templateId: string; organizationId: string; createdBy: string } }
  | { type: 'TemplateUpdated'; data: TemplateSettings }
  | { type: 'TemplateArchived'; data: Record<string, never> }

export type TemplateEventType = TemplateEvent['type']
export const TEMPLATE_EVENT_TYPES = ['TemplateCreated', 'TemplateUpdated', 'TemplateArchived'] as const satisfies readonly TemplateEventType[]

export const templateStream = (templateId: string) => `template-${templateId}`
export const templateIdOfStream = (stream: string) => stream.slice('template-'.length)
