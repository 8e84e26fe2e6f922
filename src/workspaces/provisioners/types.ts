import type { ProvisionerSpec, TemplateParameterValue } from '../../events/template.ts'

/** What a provisioner gets for one transition of one workspace. */
export interface ProvisionRequest {
  workspaceId: string
  /** The control plane's URL the daemon dials. */
  controlPlaneUrl: string
  /** A fresh agent token for the daemon (only its hash is stored). */
  agentToken: string
  parameters: Record<string, TemplateParameterValue>
  spec: ProvisionerSpec
  /** Build log: every line a provisioner writes ends up in WorkspaceBuildSucceeded/Failed. */
  log(line: string): void
}

export class ProvisionError extends Error {
  override name = 'ProvisionError'
}

/** What a create/start step reports besides its log. */
export interface ProvisionResult {
  /** The last line the step printed on stdout: it may be an agent manifest (agent-manifest.ts). */
  lastLine: string | null
}

/** Makes, starts, stops and removes the compute behind a workspace. A failure throws ProvisionError. */
export interface Provisioner {
  create(req: ProvisionRequest): Promise<ProvisionResult | void>
  start(req: ProvisionRequest): Promise<ProvisionResult | void>
  stop(req: ProvisionRequest): Promise<void>
  delete(req: ProvisionRequest): Promise<void>
  status(workspaceId: string): 'running' | 'stopped' | 'unknown'
  close(): Promise<void>
}
