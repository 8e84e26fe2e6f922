// Tool names the providers accept (letters, digits, `_`, `-`, at most 64) for MCP tools, deterministically.
import { createHash } from 'node:crypto'

export const MAX_TOOL_NAME = 64
const INVALID = /[^A-Za-z0-9_-]/g

const shortHash = (...parts: string[]) => createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 8)

/**
 * `mcp__<server>__<tool>`. A name that is valid as it is stays readable; one that had to be
 * changed (characters replaced, or too long) gets a hash of the original names at its end, so two
 * tools never map to one name (`a.b` and `a_b` differ) and the same tool always maps the same way.
 */
export function mcpToolName(server: string, tool: string): string {
  const s = server.replace(INVALID, '_')
  const t = tool.replace(INVALID, '_')
  const plain = `mcp__${s}__${t}`
  if (s === server && t === tool && plain.length <= MAX_TOOL_NAME) return plain
  const suffix = `_${shortHash(server, tool)}`
  const room = MAX_TOOL_NAME - suffix.length
  const head = `mcp__${s.slice(0, 24)}__`
  return `${head}${t}`.slice(0, room) + suffix
}

/** A workspace `.mcp.json` server's tools: `mcp__ws_<name>__<tool>`. */
export const workspaceMcpToolName = (server: string, tool: string) => mcpToolName(`ws_${server}`, tool)
