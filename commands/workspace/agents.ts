import { AGENT_AUTH_KINDS, type WorkspaceAgentSpec } from '../../src/events/workspace.ts'

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/

/**
 * What is wrong with the agents a build declares, or null. Names are unique; an instance-identity
 * agent names its instance; only `main` may use a token (the build hands out that one token);
 * a parent is a root agent of the same build.
 */
export function agentListProblem(agents: WorkspaceAgentSpec[]): string | null {
  if (agents.length === 0) return 'it declares no agents'
  const byName = new Map(agents.map((a) => [a.name, a]))
  const seen = new Set<string>()
  for (const [i, a] of agents.entries()) {
    const which = `agent ${i + 1}${typeof a.name === 'string' && a.name ? ` (${JSON.stringify(a.name)})` : ''}`
    if (typeof a.name !== 'string' || !NAME.test(a.name)) return `${which}: name must be 1-64 letters, digits, - or _, starting with a letter or digit`
    if (seen.has(a.name)) return `${which}: the name ${JSON.stringify(a.name)} is used twice; agent names are unique within a workspace`
    seen.add(a.name)
    if (!AGENT_AUTH_KINDS.includes(a.authKind)) return `${which}: auth must be one of ${AGENT_AUTH_KINDS.join(', ')}; got ${JSON.stringify(a.authKind)}`
    if (a.authKind === 'token') {
      if (a.instanceId !== null) return `${which}: a token agent has no instance_id`
      if (a.name !== 'main' && a.parent === null) return `${which}: only the agent named "main" can use token auth (the build's CAIRN_AGENT_TOKEN is main's); give it an instance identity`
    } else if (typeof a.instanceId !== 'string' || !a.instanceId.trim()) return `${which}: auth ${a.authKind} needs the instance_id of the instance it runs on`
    if (a.parent !== null) {
      const parent = byName.get(a.parent)
      if (!parent) return `${which}: parent ${JSON.stringify(a.parent)} is not an agent of this manifest`
      if (parent.parent !== null) return `${which}: parent ${JSON.stringify(a.parent)} is itself a sub-agent; sub-agents belong to a root agent`
    }
  }
  if (!agents.some((a) => a.parent === null)) return 'it declares only sub-agents; at least one root agent is needed'
  return null
}

/** What a workspace gets when its template declares nothing: one token agent named main. */
export const DEFAULT_AGENTS: WorkspaceAgentSpec[] = [{ name: 'main', authKind: 'token', instanceId: null, parent: null }]
