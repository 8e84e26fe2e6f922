// What an admin MCP server's settings must be before they are recorded (pure; used by decideConfig).
import type { McpServerSettings } from '../../src/events/config.ts'
import { invalidInput } from '../errors.ts'

export const MCP_TRANSPORTS = ['streamable-http', 'sse'] as const
export const MCP_AVAILABILITIES = ['force-on', 'default-on', 'default-off'] as const

/** Letters, digits, `_`, `-`, `.`; `ws_` is kept for workspace servers' tool names (`mcp__ws_<name>__…`). */
const SERVER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** Headers the transport sets itself; an admin's value would break the protocol. */
const RESERVED_HEADERS = ['content-type', 'accept', 'content-length', 'host', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id']

export function validateMcpServer(s: McpServerSettings): void {
  if (!SERVER_ID.test(s.serverId))
    throw invalidInput(`MCP server id "${s.serverId}" must be 1 to 64 letters, digits, "_", "-" or "." and start with a letter or digit`)
  if (s.serverId.toLowerCase().startsWith('ws_')) throw invalidInput(`MCP server id "${s.serverId}" must not start with "ws_" (kept for workspace servers)`)
  let url: URL
  try {
    url = new URL(s.url)
  } catch {
    throw invalidInput(`MCP server URL "${s.url}" is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalidInput(`MCP server URL "${s.url}" must be http or https`)
  if (url.username || url.password) throw invalidInput('MCP server URL must not carry credentials; use auth BEARER or HEADERS')
  if (!(MCP_TRANSPORTS as readonly string[]).includes(s.transport))
    throw invalidInput(`MCP transport must be one of STREAMABLE_HTTP, SSE; got ${s.transport}`)
  if (!(MCP_AVAILABILITIES as readonly string[]).includes(s.availability))
    throw invalidInput(`MCP availability must be one of FORCE_ON, DEFAULT_ON, DEFAULT_OFF; got ${s.availability}`)
  switch (s.auth.kind) {
    case 'none':
      break
    case 'bearer':
      if (!s.auth.tokenFingerprint) throw invalidInput('auth BEARER needs a token')
      break
    case 'headers': {
      if (s.auth.headers.length === 0) throw invalidInput('auth HEADERS needs at least one header')
      const seen = new Set<string>()
      for (const h of s.auth.headers) {
        if (!HEADER_NAME.test(h.name)) throw invalidInput(`"${h.name}" is not a valid HTTP header name`)
        const lower = h.name.toLowerCase()
        if (RESERVED_HEADERS.includes(lower)) throw invalidInput(`header ${h.name} is set by the MCP transport and cannot be configured`)
        if (seen.has(lower)) throw invalidInput(`header ${h.name} is given twice (header names are case-insensitive)`)
        seen.add(lower)
        if (!h.fingerprint) throw invalidInput(`header ${h.name} needs a value`)
      }
      break
    }
    default:
      throw invalidInput(`auth kind must be one of NONE, BEARER, HEADERS`)
  }
  for (const [field, list] of [['allowTools', s.allowTools], ['denyTools', s.denyTools]] as const)
    for (const t of list) if (!t.trim()) throw invalidInput(`${field} must not contain empty names`)
}
