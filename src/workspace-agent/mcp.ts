// Workspace MCP servers: `<workdir>/.mcp.json` names stdio servers the daemon starts inside the
// workspace (cwd = the workspace root, env = the SDK's safe defaults plus the server's own `env`,
// never the daemon's) and proxies for the control plane.
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import type { FastifyPluginAsync } from 'fastify'
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { errorResult, McpConnections, type McpEndpoint } from '../mcp/connections.ts'
import { badRequest, notFound } from './errors.ts'

export const MCP_CONFIG_FILE = '.mcp.json'

export interface StdioServerConfig {
  command: string
  args: string[]
  env: Record<string, string>
}

export interface WorkspaceMcpServerView {
  name: string
  /** null when the server could not be started or listed (see error). */
  tools: { name: string; title?: string; description?: string; inputSchema: Record<string, unknown>; annotations?: unknown }[] | null
  error: string | null
}

export interface WorkspaceMcpList {
  servers: WorkspaceMcpServerView[]
  /** Why `.mcp.json` could not be used at all; null when it is fine or absent. */
  error: string | null
}

/** Parses `.mcp.json`; servers it cannot use are kept with an error, so the model and the user see why. */
export function parseMcpConfig(text: string): { servers: Map<string, StdioServerConfig | { error: string }>; error: string | null } {
  const servers = new Map<string, StdioServerConfig | { error: string }>()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    return { servers, error: `${MCP_CONFIG_FILE} is not valid JSON: ${(err as Error).message}` }
  }
  const entries = (json as { mcpServers?: unknown })?.mcpServers
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries))
    return { servers, error: `${MCP_CONFIG_FILE} must be {"mcpServers": {"<name>": {"command": …, "args": […], "env": {…}}}}` }
  for (const [name, raw] of Object.entries(entries as Record<string, unknown>)) {
    const s = raw as { command?: unknown; args?: unknown; env?: unknown; url?: unknown }
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) servers.set(name, { error: 'server names are 1 to 64 letters, digits, "_", "-" or "."' })
    else if (typeof s?.command !== 'string' || !s.command.trim())
      servers.set(name, { error: s?.url ? 'only stdio servers (command, args, env) are started from .mcp.json; ask an admin to add a remote server' : 'command must be a non-empty string' })
    else if (s.args !== undefined && !(Array.isArray(s.args) && s.args.every((a) => typeof a === 'string'))) servers.set(name, { error: 'args must be an array of strings' })
    else if (s.env !== undefined && (typeof s.env !== 'object' || s.env === null || Object.values(s.env).some((v) => typeof v !== 'string')))
      servers.set(name, { error: 'env must be an object of strings' })
    else servers.set(name, { command: s.command, args: (s.args as string[]) ?? [], env: (s.env as Record<string, string>) ?? {} })
  }
  return { servers, error: null }
}

const STDERR_TAIL = 4000
const STARTING = 'starting' as const
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())

export class WorkspaceMcpServers {
  readonly #file: string
  readonly #connections: McpConnections
  #stamp = ''
  #parsed: ReturnType<typeof parseMcpConfig> = { servers: new Map(), error: null }
  readonly #stderr = new Map<string, string>()
  readonly #startWaitMs: number

  constructor(
    private readonly workdir: string,
    opts: { listTimeoutMs?: number; startWaitMs?: number } = {},
  ) {
    this.#startWaitMs = opts.startWaitMs ?? 3_000
    this.#file = path.join(workdir, MCP_CONFIG_FILE)
    // A stdio server starts slower than an HTTP one answers: give it time, and retry soon after a crash.
    this.#connections = new McpConnections({ listTimeoutMs: opts.listTimeoutMs ?? 20_000, retryAfterMs: 2_000, listTtlMs: 5 * 60_000 })
  }

  /** Re-reads `.mcp.json` when its size or mtime changed; servers removed from it are stopped. */
  async #config(): Promise<ReturnType<typeof parseMcpConfig>> {
    const st = await stat(this.#file).catch(() => null)
    const stamp = st ? `${st.size}:${st.mtimeMs}` : 'absent'
    if (stamp === this.#stamp) return this.#parsed
    this.#stamp = stamp
    const text = st ? await readFile(this.#file, 'utf8').catch((err: Error) => err) : null
    this.#parsed =
      text === null ? { servers: new Map(), error: null } : text instanceof Error ? { servers: new Map(), error: `could not read ${MCP_CONFIG_FILE}: ${text.message}` } : parseMcpConfig(text)
    await this.#connections.retain(new Set([...this.#parsed.servers].flatMap(([name, s]) => ('error' in s ? [] : [name]))))
    return this.#parsed
  }

  #endpoint(name: string, s: StdioServerConfig): McpEndpoint {
    return {
      id: name,
      key: JSON.stringify(s),
      label: `Workspace MCP server ${name}`,
      transport: () => {
        this.#stderr.set(name, '')
        const transport = new StdioClientTransport({
          command: s.command,
          args: s.args,
          // Never the daemon's own environment: the SDK's safe variables (PATH, HOME, …) and the server's.
          env: { ...getDefaultEnvironment(), ...s.env },
          cwd: this.workdir,
          stderr: 'pipe',
        })
        transport.stderr?.on('data', (chunk: Buffer) => this.#stderr.set(name, ((this.#stderr.get(name) ?? '') + chunk.toString('utf8')).slice(-STDERR_TAIL)))
        return transport
      },
    }
  }

  #withStderr(name: string, message: string): string {
    const tail = this.#stderr.get(name)?.trim()
    return tail ? `${message}\nIts stderr ends with:\n${tail}` : message
  }

  async list(): Promise<WorkspaceMcpList> {
    const config = await this.#config()
    const servers = await Promise.all(
      [...config.servers].map(async ([name, s]): Promise<WorkspaceMcpServerView> => {
        if ('error' in s) return { name, tools: null, error: `${MCP_CONFIG_FILE}: server ${name}: ${s.error}` }
        // A server still starting does not hold the others back: it is listed on a later step.
        const listing = this.#connections.tools(this.#endpoint(name, s))
        const tools = await Promise.race([listing, sleep(this.#startWaitMs).then((): typeof STARTING => STARTING)])
        if (tools === STARTING) return { name, tools: null, error: `it is still starting (no answer within ${this.#startWaitMs} ms); its tools are offered once it answers` }
        if (!tools) return { name, tools: null, error: this.#withStderr(name, `could not start or list it: ${this.#connections.failureOf(name) ?? 'unknown error'}`) }
        return {
          name,
          tools: tools.map((t) => ({ name: t.name, title: t.title, description: t.description, inputSchema: t.inputSchema as Record<string, unknown>, annotations: t.annotations })),
          error: null,
        }
      }),
    )
    return { servers, error: config.error }
  }

  async call(name: string, tool: string, args: unknown, signal: AbortSignal) {
    const config = await this.#config()
    const s = config.servers.get(name)
    if (!s) throw notFound(`no MCP server named ${name} in ${MCP_CONFIG_FILE}${config.error ? ` (${config.error})` : ''}`)
    if ('error' in s) return errorResult(`${MCP_CONFIG_FILE}: server ${name}: ${s.error}`)
    const result = await this.#connections.callRaw(this.#endpoint(name, s), tool, args, signal)
    if (result.isError && Array.isArray(result.content) && result.content.length === 1) {
      const only = result.content[0] as { type: string; text?: string }
      if (only.type === 'text' && only.text?.startsWith(`Workspace MCP server ${name} is unreachable`)) return errorResult(this.#withStderr(name, only.text))
    }
    return result
  }

  close(): Promise<void> {
    return this.#connections.close()
  }
}

export const mcpRoutes =
  (servers: WorkspaceMcpServers): FastifyPluginAsync =>
  async (app) => {
    app.get('/mcp/servers', async () => servers.list())
    app.post<{ Params: { name: string }; Body: { tool?: unknown; arguments?: unknown } }>('/mcp/servers/:name/call', async (req, reply) => {
      const tool = req.body?.tool
      if (typeof tool !== 'string' || !tool) throw badRequest('INVALID_REQUEST', 'body must be {"tool": "<name>", "arguments": {…}}')
      // The control plane cancelling (an interrupted turn) closes the request: cancel the call.
      const abort = new AbortController()
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) abort.abort()
      })
      return servers.call(req.params.name, tool, req.body?.arguments ?? {}, abort.signal)
    })
  }
