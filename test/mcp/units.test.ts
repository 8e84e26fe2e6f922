import { describe, expect, it } from 'vitest'
import { decideConfig, evolveConfig, initialConfigState } from '../../commands/config/decide.ts'
import { CommandError } from '../../commands/errors.ts'
import { initialChatState } from '../../src/events/chat-state.ts'
import type { McpServerSettings } from '../../src/events/config.ts'
import { mcpToolName, workspaceMcpToolName } from '../../src/mcp/names.ts'
import { toolResultFromMcp } from '../../src/mcp/results.ts'
import { mcpServerOffered, mcpToolAllowed } from '../../src/mcp/rules.ts'
import { parseMcpConfig } from '../../src/workspace-agent/mcp.ts'

const server = (over: Partial<McpServerSettings> = {}): McpServerSettings => ({
  serverId: 'docs',
  url: 'https://mcp.example.com/mcp',
  transport: 'streamable-http',
  auth: { kind: 'none' },
  availability: 'default-on',
  allowTools: [],
  denyTools: [],
  allowInPlanMode: false,
  allowInSubAgents: false,
  ...over,
})

const VALID = /^[A-Za-z0-9_-]{1,64}$/

describe('MCP tool names', () => {
  it('keeps valid names readable and maps changed or long ones deterministically with a hash', () => {
    expect(mcpToolName('docs', 'search')).toBe('mcp__docs__search')
    expect(workspaceMcpToolName('everything', 'get-env')).toBe('mcp__ws_everything__get-env')
    const dotted = mcpToolName('docs', 'a.b')
    expect(dotted).toMatch(VALID)
    expect(dotted).not.toBe(mcpToolName('docs', 'a_b'))
    expect(mcpToolName('docs', 'a.b')).toBe(dotted)
    const long = mcpToolName('a-very-long-server-name-that-goes-on', 'x'.repeat(100))
    expect(long).toMatch(VALID)
    expect(long.startsWith('mcp__a-very-long-server-name-__x')).toBe(true)
    expect(mcpToolName('a-very-long-server-name-that-goes-on', 'x'.repeat(101))).not.toBe(long)
  })
})

describe('which servers and tools a chat is offered', () => {
  const chat = { ...initialChatState(), id: 'c' }
  it('follows availability and the chat toggles', () => {
    expect(mcpServerOffered(server({ availability: 'force-on' }), { ...chat, mcpServers: { docs: false } })).toBe(true)
    expect(mcpServerOffered(server(), chat)).toBe(true)
    expect(mcpServerOffered(server(), { ...chat, mcpServers: { docs: false } })).toBe(false)
    expect(mcpServerOffered(server({ availability: 'default-off' }), chat)).toBe(false)
    expect(mcpServerOffered(server({ availability: 'default-off' }), { ...chat, mcpServers: { docs: true } })).toBe(true)
  })
  it('keeps servers out of plan mode and sub-agents unless allowed', () => {
    expect(mcpServerOffered(server({ availability: 'force-on' }), { ...chat, planMode: true })).toBe(false)
    expect(mcpServerOffered(server({ availability: 'force-on', allowInPlanMode: true }), { ...chat, planMode: true })).toBe(true)
    expect(mcpServerOffered(server(), { ...chat, parentChatId: 'p' })).toBe(false)
    expect(mcpServerOffered(server({ allowInSubAgents: true }), { ...chat, parentChatId: 'p' })).toBe(true)
    // A plan-mode sub-agent only explores: no MCP tools at all.
    expect(mcpServerOffered(server({ allowInSubAgents: true, allowInPlanMode: true }), { ...chat, parentChatId: 'p', planMode: true })).toBe(false)
  })
  it('filters tools by allow and deny lists', () => {
    expect(mcpToolAllowed(server(), 'any')).toBe(true)
    expect(mcpToolAllowed(server({ allowTools: ['a'] }), 'b')).toBe(false)
    expect(mcpToolAllowed(server({ allowTools: ['a'], denyTools: ['a'] }), 'a')).toBe(false)
  })
})

describe('MCP results as tool results', () => {
  it('joins text, passes images, describes resources and carries isError', () => {
    const r = toolResultFromMcp({
      content: [
        { type: 'text', text: 'one' },
        { type: 'image', data: 'AAAA', mimeType: 'image/png' },
        { type: 'resource', resource: { uri: 'file:///a.txt', text: 'inline' } },
        { type: 'resource', resource: { uri: 'file:///b.bin', mimeType: 'application/zip', blob: 'AAAA' } },
        { type: 'resource_link', uri: 'https://x/y', name: 'y' },
      ],
      isError: true,
    })
    expect(r.isError).toBe(true)
    expect(r.images).toEqual([{ mimeType: 'image/png', data: 'AAAA' }])
    expect(r.content).toBe('one\n[resource file:///a.txt]\ninline\n[resource file:///b.bin (application/zip)] binary, 3 bytes\n[resource link https://x/y "y"]')
    expect(toolResultFromMcp({ content: [], structuredContent: { sum: 3 } }).content).toContain('"sum": 3')
  })
})

describe('.mcp.json', () => {
  it('parses stdio servers and keeps the unusable ones with a reason', () => {
    const { servers, error } = parseMcpConfig(JSON.stringify({ mcpServers: { ok: { command: 'node', args: ['x.js'], env: { A: '1' } }, remote: { url: 'https://x' }, bad: { command: 'x', args: 'no' } } }))
    expect(error).toBeNull()
    expect(servers.get('ok')).toEqual({ command: 'node', args: ['x.js'], env: { A: '1' } })
    expect(servers.get('remote')).toEqual({ error: expect.stringContaining('only stdio servers') })
    expect(servers.get('bad')).toEqual({ error: 'args must be an array of strings' })
    expect(parseMcpConfig('{nope').error).toMatch(/not valid JSON/)
    expect(parseMcpConfig('[]').error).toMatch(/must be/)
  })
})

describe('the config decider on MCP servers', () => {
  const refuse = (s: McpServerSettings) => {
    try {
      decideConfig({ type: 'ConfigureMcpServer', settings: s }, initialConfigState())
    } catch (err) {
      expect(err).toBeInstanceOf(CommandError)
      expect((err as CommandError).code).toBe('INVALID_INPUT')
      return (err as Error).message
    }
    throw new Error('accepted')
  }
  it('refuses bad ids, URLs, transports and headers with a message that says what to fix', () => {
    expect(refuse(server({ serverId: 'has space' }))).toMatch(/MCP server id/)
    expect(refuse(server({ serverId: 'ws_x' }))).toMatch(/ws_/)
    expect(refuse(server({ url: 'not a url' }))).toMatch(/is not a URL/)
    expect(refuse(server({ url: 'ftp://x/y' }))).toMatch(/http or https/)
    expect(refuse(server({ transport: 'websocket' as never }))).toMatch(/STREAMABLE_HTTP, SSE/)
    expect(refuse(server({ auth: { kind: 'headers', headers: [{ name: 'X-Key', fingerprint: 'a' }, { name: 'x-key', fingerprint: 'b' }] } }))).toMatch(/given twice/)
    expect(refuse(server({ auth: { kind: 'headers', headers: [{ name: 'Bad Header', fingerprint: 'a' }] } }))).toMatch(/not a valid HTTP header name/)
  })
  it('records a server, does nothing for the same settings again, and removes it', () => {
    const [configured] = decideConfig({ type: 'ConfigureMcpServer', settings: server() }, initialConfigState())
    const state = evolveConfig(initialConfigState(), configured!)
    expect(state.mcpServers.docs?.url).toBe('https://mcp.example.com/mcp')
    expect(decideConfig({ type: 'ConfigureMcpServer', settings: server() }, state)).toEqual([])
    const [removed] = decideConfig({ type: 'RemoveMcpServer', serverId: 'docs' }, state)
    expect(evolveConfig(state, removed!).mcpServers).toEqual({})
  })
})
