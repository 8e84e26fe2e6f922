// Real MCP servers for the tests: a small one of our own (in process, streamable HTTP, stateless)
// and the reference `server-everything` as a child process.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { createRequire } from 'node:module'
import path from 'node:path'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { z } from 'zod'

/** 1×1 transparent PNG. */
export const PIXEL_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII='

export const LONG_TOOL = `long_${'x'.repeat(70)}`

export const EVERYTHING_DIST = path.join(path.dirname(createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/package.json')), 'dist/index.js')

export interface OwnMcpServer {
  url: string
  /** Authorization headers it received, in order. */
  authorizations: (string | undefined)[]
  /** Stops at once: open connections are cut, so the next request finds nothing there. */
  close(): Promise<void>
}

function ownServer(authorization: string | undefined): McpServer {
  const server = new McpServer({ name: 'own', version: '1.0.0' })
  // Leaks the token it was sent: the runner must redact it before it is stored.
  server.registerTool('whoami', { description: 'Says which token it got' }, async () => ({
    content: [{ type: 'text', text: `you sent ${authorization?.replace(/^Bearer /, '') ?? 'nothing'}` }],
  }))
  server.registerTool('echo', { description: 'Echoes its text', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text: `echo: ${text}` }],
  }))
  server.registerTool('picture', { description: 'A picture and a caption' }, async () => ({
    content: [
      { type: 'text', text: 'a pixel' },
      { type: 'image', data: PIXEL_PNG, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'file:///notes.txt', mimeType: 'text/plain', text: 'inline notes' } },
      { type: 'resource_link', uri: 'file:///big.bin', name: 'big.bin', mimeType: 'application/octet-stream' },
    ],
  }))
  server.registerTool('fail', { description: 'Always fails' }, async () => ({ content: [{ type: 'text', text: 'it broke' }], isError: true }))
  server.registerTool('drop_table', { description: 'Drops a table', annotations: { destructiveHint: true } }, async () => ({ content: [{ type: 'text', text: 'dropped' }] }))
  server.registerTool('read_rows', { description: 'Reads rows', annotations: { readOnlyHint: true } }, async () => ({ content: [{ type: 'text', text: 'rows' }] }))
  server.registerTool('secret', { description: 'Denied by the admin' }, async () => ({ content: [{ type: 'text', text: 'should never run' }] }))
  server.registerTool('weird.name', { description: 'A name providers refuse' }, async () => ({ content: [{ type: 'text', text: 'weird ran' }] }))
  server.registerTool(LONG_TOOL, { description: 'A name too long for providers' }, async () => ({ content: [{ type: 'text', text: 'long ran' }] }))
  return server
}

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  return text ? JSON.parse(text) : undefined
}

/** Our own server; with `token`, every request must carry `Authorization: Bearer <token>` (else 401). */
export async function startOwnMcpServer(opts: { token?: string; header?: { name: string; value: string } } = {}): Promise<OwnMcpServer> {
  const authorizations: (string | undefined)[] = []
  const http: Server = createServer(async (req, res) => {
    authorizations.push(req.headers.authorization)
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) return void res.writeHead(401).end('unauthorized')
    if (opts.header && req.headers[opts.header.name.toLowerCase()] !== opts.header.value) return void res.writeHead(403).end('forbidden')
    if (req.method !== 'POST') return void res.writeHead(405).end()
    const server = ownServer(req.headers.authorization)
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
    res.on('close', () => {
      void transport.close()
      void server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(req, res, await body(req))
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const port = (http.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    authorizations,
    close: () =>
      new Promise((resolve) => {
        http.close(() => resolve())
        http.closeAllConnections()
      }),
  }
}

export async function freePort(): Promise<number> {
  const s = createNetServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as { port: number }).port
  await new Promise((resolve) => s.close(resolve))
  return port
}

/** `server-everything streamableHttp` (or `sse`) on a free port. */
export async function startEverythingHttp(mode: 'streamableHttp' | 'sse' = 'streamableHttp'): Promise<{ url: string; close(): Promise<void> }> {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, [EVERYTHING_DIST, mode], { env: { PATH: process.env.PATH, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server-everything did not start: ${output}`)), 20_000)
    const onData = (c: Buffer) => {
      output += c.toString()
      if (/listening|running on/i.test(output)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.on('exit', (code) => reject(new Error(`server-everything exited with ${code}: ${output}`)))
  })
  return {
    url: `http://127.0.0.1:${port}/${mode === 'sse' ? 'sse' : 'mcp'}`,
    close: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
    },
  }
}
