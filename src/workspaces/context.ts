// The chat's workspace as part of the system prompt: its root AGENTS.md (capped) and the names
// and descriptions of its skills, read through the daemon's tunnel. Never creates or starts a
// workspace; one that is not connected adds nothing, at once.
import type { ChatInstructions } from '../agent/instructions.ts'
import { MAIN_AGENT } from '../events/workspace.ts'
import type { SkillSummary } from '../workspace-agent/skills.ts'
import type { WorkspaceService } from './service.ts'
import { WorkspaceRequestError } from './tunnel.ts'

export const MAX_AGENTS_MD_BYTES = 32 * 1024
const READ_TIMEOUT_MS = 3_000

export interface WorkspaceContext {
  agentsMd: { text: string; truncated: boolean } | null
  skills: SkillSummary[]
}

export function workspaceInstructions(ws: WorkspaceService, opts: { timeoutMs?: number; log?: (line: string) => void } = {}): ChatInstructions {
  return async (chat, signal) => {
    if (!chat.workspaceId) return null
    try {
      const context = await readWorkspaceContext(ws, chat, AbortSignal.any([signal, AbortSignal.timeout(opts.timeoutMs ?? READ_TIMEOUT_MS)]))
      return context && workspaceContextText(context)
    } catch (err) {
      opts.log?.(`chat ${chat.id}: workspace context of ${chat.workspaceId} not read: ${(err as Error).message}`)
      return null
    }
  }
}

/** Null when the workspace is not the owner's to see or no agent of it is connected. */
export async function readWorkspaceContext(
  ws: WorkspaceService,
  chat: { workspaceId: string | null; ownerId: string; organizationId: string },
  signal: AbortSignal,
): Promise<WorkspaceContext | null> {
  const workspaceId = chat.workspaceId
  if (!workspaceId) return null
  const actor = await ws.actorFor(chat.ownerId, chat.organizationId)
  if (!actor || !(await ws.getWorkspace(actor, workspaceId))) return null
  // The agent the workspace tools default to: main, else a root agent that is connected.
  const roots = (await ws.agentsOf(workspaceId)).filter((a) => a.parent === null).map((a) => a.name)
  const agent = [MAIN_AGENT, ...roots].find((name) => ws.tunnels.isConnected(workspaceId, name))
  if (!agent) return null
  const [agentsMd, skills] = await Promise.all([
    readCapped(ws, workspaceId, agent, 'AGENTS.md', MAX_AGENTS_MD_BYTES, signal),
    ws.tunnels.requestJson<SkillSummary[]>(workspaceId, { method: 'GET', path: '/skills', agent, signal }).catch(() => []),
  ])
  return { agentsMd, skills: Array.isArray(skills) ? skills : [] }
}

/** The file's first `max` bytes (whole characters), or null when there is none. */
async function readCapped(ws: WorkspaceService, workspaceId: string, agent: string, path: string, max: number, signal: AbortSignal) {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of ws.tunnels.stream(workspaceId, { method: 'GET', path: `/files/download?path=${encodeURIComponent(path)}`, agent, signal })) {
      chunks.push(chunk)
      size += chunk.length
      if (size > max) break // leaving the loop cancels the rest on the daemon
    }
  } catch (err) {
    if (err instanceof WorkspaceRequestError && err.status === 404) return null
    throw err
  }
  const bytes = Buffer.concat(chunks)
  const truncated = bytes.length > max
  // Cut on a character boundary: drop the replacement character a split sequence decodes to.
  const text = truncated ? new TextDecoder().decode(bytes.subarray(0, max)).replace(/\uFFFD$/, '') : bytes.toString('utf8')
  return { text, truncated }
}

export function workspaceContextText(context: WorkspaceContext): string | null {
  const sections: string[] = []
  if (context.agentsMd && context.agentsMd.text.trim()) {
    const note = context.agentsMd.truncated
      ? `\n\n(AGENTS.md is longer than ${MAX_AGENTS_MD_BYTES / 1024} KiB; only its beginning is shown. Read the rest with read_file.)`
      : ''
    sections.push(`# The workspace's AGENTS.md\n\nInstructions for agents from the root of the workspace:\n\n<agents_md>\n${context.agentsMd.text.trimEnd()}\n</agents_md>${note}`)
  }
  if (context.skills.length) {
    const lines = context.skills.map((s) => `- ${s.name}${s.description ? `: ${s.description}` : ''}`)
    sections.push(`# The workspace's skills\n\nRead a skill with read_skill before you do the task it describes.\n\n${lines.join('\n')}`)
  }
  return sections.length ? sections.join('\n\n') : null
}
