// The per-process MCP client pool against real SDK servers: list_changed, reconnects, timeouts.
import { createServer, type Socket } from 'node:net'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { describe, expect, it } from 'vitest'
import { McpConnections, type McpEndpoint } from '../../src/mcp/connections.ts'

const until = async (check: () => boolean | Promise<boolean>, ms = 5_000) => {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** An in-memory server per connection, as a reconnect would find a restarted one. */
function inMemory(setup: (server: McpServer) => void) {
  const servers: McpServer[] = []
  const endpoint: McpEndpoint = {
    id: 'mem',
    key: 'mem',
    label: 'MCP server mem',
    transport: async () => {
      const [client, serverSide] = InMemoryTransport.createLinkedPair()
      const server = new McpServer({ name: 'mem', version: '1.0.0' })
      setup(server)
      servers.push(server)
      await server.connect(serverSide)
      return client
    },
  }
  return { endpoint, servers }
}

describe('McpConnections', () => {
  it('keeps one client, serves the cached list, and takes the new one on tools/list_changed', async () => {
    const pool = new McpConnections({ listTtlMs: 60_000 })
    const { endpoint, servers } = inMemory((s) => s.registerTool('first', { description: 'one' }, async () => ({ content: [{ type: 'text', text: '1' }] })))
    expect((await pool.tools(endpoint))?.map((t) => t.name)).toEqual(['first'])
    expect((await pool.tools(endpoint))?.map((t) => t.name)).toEqual(['first'])
    expect(servers).toHaveLength(1)
    // Registering on a connected server sends notifications/tools/list_changed.
    servers[0]!.registerTool('second', { description: 'two' }, async () => ({ content: [{ type: 'text', text: '2' }] }))
    await until(async () => (await pool.tools(endpoint))?.length === 2)
    expect(servers).toHaveLength(1)
    await pool.close()
  })

  it('reconnects after the connection closed, and answers a clear error while it cannot', async () => {
    const pool = new McpConnections()
    const { endpoint, servers } = inMemory((s) => s.registerTool('ping', { description: 'pong' }, async () => ({ content: [{ type: 'text', text: 'pong' }] })))
    expect(await pool.call(endpoint, 'ping', {})).toEqual({ content: 'pong', isError: false })
    await servers[0]!.close()
    await until(async () => (await pool.call(endpoint, 'ping', {})).content === 'pong')
    expect(servers.length).toBeGreaterThan(1)
    const failing: McpEndpoint = { ...endpoint, id: 'failing', transport: () => Promise.reject(new Error('spawn ENOENT')) }
    expect(await pool.call(failing, 'ping', {})).toEqual({ content: 'MCP server mem is unreachable: spawn ENOENT', isError: true })
    await pool.close()
  })

  it('gives up listing a server that accepts connections but never answers, logs it once, and retries later', async () => {
    const sockets: Socket[] = []
    const silent = createServer((s) => void sockets.push(s))
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    const url = new URL(`http://127.0.0.1:${(silent.address() as { port: number }).port}/mcp`)
    const logs: string[] = []
    const pool = new McpConnections({ listTimeoutMs: 300, retryAfterMs: 200, log: (l) => logs.push(l) })
    const endpoint: McpEndpoint = { id: 'silent', key: 'silent', label: 'MCP server silent', transport: () => new StreamableHTTPClientTransport(url) }
    const began = Date.now()
    expect(await pool.tools(endpoint)).toBeNull()
    expect(Date.now() - began).toBeLessThan(3_000)
    const again = Date.now()
    expect(await pool.tools(endpoint)).toBeNull() // within the pause: answered at once
    expect(Date.now() - again).toBeLessThan(50)
    await new Promise((r) => setTimeout(r, 250))
    expect(await pool.tools(endpoint)).toBeNull()
    expect(logs.filter((l) => l.startsWith('MCP server silent is unreachable'))).toHaveLength(1)
    await pool.close()
    for (const s of sockets) s.destroy()
    await new Promise((r) => silent.close(r))
  })
})
