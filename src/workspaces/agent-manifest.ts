// An exec template declares its workspace's agents by printing, as the last line of its
// create/start command's output, `{"cairn_agents": [{"name", "auth", "instance_id", "parent"?}]}`
// (the shape a Terraform output can print).
import { agentListProblem } from '../../commands/workspace/agents.ts'
import type { AgentAuthKind, WorkspaceAgentSpec } from '../events/workspace.ts'

export type ManifestOutcome = { agents: WorkspaceAgentSpec[] } | { error: string } | null

/** null: the line is not a manifest (the template declares nothing). A line naming `cairn_agents` must be a valid one. */
export function parseAgentManifest(line: string | null | undefined): ManifestOutcome {
  const text = line?.trim()
  if (!text || !text.includes('cairn_agents')) return null
  const bad = (why: string) => ({ error: `the agent manifest (the last line of the command's output) is invalid: ${why}` })
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    return bad(`it is not JSON (${(err as Error).message})`)
  }
  const list = (parsed as { cairn_agents?: unknown } | null)?.cairn_agents
  if (!Array.isArray(list)) return bad('expected {"cairn_agents": [{"name": "main", "auth": "token"}, …]}')
  const agents: WorkspaceAgentSpec[] = []
  for (const [i, raw] of list.entries()) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad(`agent ${i + 1} is not an object`)
    const r = raw as Record<string, unknown>
    const unknown = Object.keys(r).filter((k) => !['name', 'auth', 'instance_id', 'parent'].includes(k))
    if (unknown.length) return bad(`agent ${i + 1}: unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')} (fields: name, auth, instance_id, parent)`)
    if (r.instance_id !== undefined && r.instance_id !== null && typeof r.instance_id !== 'string' && typeof r.instance_id !== 'number')
      return bad(`agent ${i + 1}: instance_id must be a string`)
    agents.push({
      name: r.name as string,
      authKind: (r.auth ?? 'token') as AgentAuthKind,
      instanceId: r.instance_id === undefined || r.instance_id === null ? null : String(r.instance_id),
      parent: typeof r.parent === 'string' ? r.parent : r.parent == null ? null : (String(r.parent) as string),
    })
  }
  const problem = agentListProblem(agents)
  return problem ? bad(problem) : { agents }
}
