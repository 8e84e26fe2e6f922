// One MCP client per server per process: connected on first use, its tool list cached (refreshed
// on `notifications/tools/list_changed` and after a TTL), dropped and reconnected after a failure.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import { ErrorCode, McpError, type CallToolResult, type Tool as McpTool } from '@modelcontextprotocol/sdk/types.js'
import type { ToolResult } from '../agent/tools/registry.ts'
import { toolResultFromMcp } from './results.ts'

export type { McpTool }

/** How to reach one server. A changed `key` (new URL, auth, command) closes the old client. */
export interface McpEndpoint {
  id: string
  key: string
  /** What messages call it: `MCP server docs`. */
  label: string
  transport(): Promise<Transport> | Transport
}

export interface McpConnectionOptions {
  log?(line: string): void
  /** How long a tool list is used without asking again (list_changed refreshes it sooner). Default 60 s. */
  listTtlMs?: number
  /** After a failure, how long listing answers "unreachable" at once instead of trying again (doubling per failure, up to 60 s). Default 5 s. */
  retryAfterMs?: number
  /** Connecting and listing. Default 5 s. */
  listTimeoutMs?: number
  /** One tool call. Default 10 min (progress notifications extend it). */
  callTimeoutMs?: number
}

interface Connection {
  key: string
  client: Client | null
  connecting: Promise<Client> | null
  tools: McpTool[] | null
  listedAt: number
  refreshing: Promise<McpTool[] | null> | null
  failedAt: number
  failure: string | null
  /** Failed listings in a row: the pause before trying again doubles with each, up to a minute. */
  failures: number
}

export class McpUnreachableError extends Error {
  override name = 'McpUnreachableError'
}

export const errorResult = (text: string): CallToolResult => ({ content: [{ type: 'text', text }], isError: true })

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err))
/** Errors that say nothing about the request itself: the connection is gone or never answered. */
const isConnectionFailure = (err: unknown) =>
  !(err instanceof McpError) || err.code === ErrorCode.ConnectionClosed || err.code === ErrorCode.RequestTimeout

export class McpConnections {
  readonly #connections = new Map<string, Connection>()
  readonly #opts: Required<Omit<McpConnectionOptions, 'log'>> & { log: (line: string) => void }
  #closed = false

  constructor(opts: McpConnectionOptions = {}) {
    this.#opts = {
      log: opts.log ?? (() => {}),
      listTtlMs: opts.listTtlMs ?? 60_000,
      retryAfterMs: opts.retryAfterMs ?? 5_000,
      listTimeoutMs: opts.listTimeoutMs ?? 5_000,
      callTimeoutMs: opts.callTimeoutMs ?? 10 * 60_000,
    }
  }

  /**
   * The server's tools, or null when it cannot be reached (logged once per outage). Fast on a
   * step: a fresh list is the cached one; a stale one is answered while it refreshes behind.
   */
  async tools(endpoint: McpEndpoint): Promise<McpTool[] | null> {
    const conn = this.#connection(endpoint)
    const now = Date.now()
    if (conn.tools && now - conn.listedAt < this.#opts.listTtlMs) return conn.tools
    if (conn.tools) {
      void this.#refresh(endpoint, conn)
      return conn.tools
    }
    if (conn.failure && now - conn.failedAt < Math.min(this.#opts.retryAfterMs * 2 ** (conn.failures - 1), 60_000)) return null
    return this.#refresh(endpoint, conn)
  }

  /** The last reason listing failed, if it did. */
  failureOf(id: string): string | null {
    return this.#connections.get(id)?.failure ?? null
  }

  /** Calls a tool; every outcome is a result the model can read (an unreachable server included). */
  async call(endpoint: McpEndpoint, tool: string, args: unknown, signal?: AbortSignal): Promise<ToolResult> {
    return toolResultFromMcp(await this.callRaw(endpoint, tool, args, signal))
  }

  /** `call` as an MCP CallToolResult (what the workspace daemon answers with). */
  async callRaw(endpoint: McpEndpoint, tool: string, args: unknown, signal?: AbortSignal): Promise<CallToolResult> {
    const conn = this.#connection(endpoint)
    let client: Client
    try {
      client = await this.#client(endpoint, conn)
    } catch (err) {
      return errorResult(`${endpoint.label} is unreachable: ${messageOf(err)}`)
    }
    try {
      return (await client.callTool({ name: tool, arguments: (args ?? {}) as Record<string, unknown> }, undefined, {
        signal,
        timeout: this.#opts.callTimeoutMs,
        resetTimeoutOnProgress: true,
      })) as CallToolResult
    } catch (err) {
      if (signal?.aborted) throw err
      if (!isConnectionFailure(err)) return errorResult(`${endpoint.label} answered the call of ${tool} with an error: ${messageOf(err)}`)
      this.#drop(conn, client)
      return errorResult(`${endpoint.label} is unreachable: ${messageOf(err)}`)
    }
  }

  /** Closes and forgets connections whose ids are not in `keep` (servers removed from the config). */
  async retain(keep: ReadonlySet<string>): Promise<void> {
    await Promise.all([...this.#connections.keys()].filter((id) => !keep.has(id)).map((id) => this.#forget(id)))
  }

  async close(): Promise<void> {
    this.#closed = true
    await Promise.all([...this.#connections.keys()].map((id) => this.#forget(id)))
  }

  async #forget(id: string): Promise<void> {
    const conn = this.#connections.get(id)
    this.#connections.delete(id)
    const client = conn?.client ?? (await conn?.connecting?.catch(() => null))
    if (conn) conn.client = null
    await client?.close().catch(() => {})
  }

  #connection(endpoint: McpEndpoint): Connection {
    let conn = this.#connections.get(endpoint.id)
    if (conn && conn.key !== endpoint.key) {
      void this.#forget(endpoint.id)
      conn = undefined
    }
    if (!conn) {
      conn = { key: endpoint.key, client: null, connecting: null, tools: null, listedAt: 0, refreshing: null, failedAt: 0, failure: null, failures: 0 }
      this.#connections.set(endpoint.id, conn)
    }
    return conn
  }

  #client(endpoint: McpEndpoint, conn: Connection): Promise<Client> {
    if (this.#closed) return Promise.reject(new McpUnreachableError('the control plane is shutting down'))
    if (conn.client) return Promise.resolve(conn.client)
    conn.connecting ??= (async () => {
      const client = new Client(
        { name: 'cairn', version: '1.0.0' },
        {
          listChanged: {
            tools: {
              debounceMs: 100,
              onChanged: (err, tools) => {
                if (err || !tools) conn.listedAt = 0
                else {
                  conn.tools = tools
                  conn.listedAt = Date.now()
                }
              },
            },
          },
        },
      )
      client.onclose = () => {
        if (conn.client === client) conn.client = null
      }
      try {
        await client.connect(await endpoint.transport(), { timeout: this.#opts.listTimeoutMs })
      } catch (err) {
        await client.close().catch(() => {})
        throw err
      }
      if (this.#connections.get(endpoint.id) !== conn || this.#closed) {
        await client.close().catch(() => {})
        throw new McpUnreachableError('its settings changed while connecting')
      }
      conn.client = client
      return client
    })().finally(() => {
      conn.connecting = null
    })
    return conn.connecting
  }

  #refresh(endpoint: McpEndpoint, conn: Connection): Promise<McpTool[] | null> {
    conn.refreshing ??= (async () => {
      let client: Client | null = null
      try {
        client = await this.#client(endpoint, conn)
        const tools: McpTool[] = []
        let cursor: string | undefined
        do {
          const page = await client.listTools(cursor ? { cursor } : undefined, { timeout: this.#opts.listTimeoutMs })
          tools.push(...page.tools)
          cursor = page.nextCursor
        } while (cursor && tools.length < 10_000)
        if (conn.failure) this.#opts.log(`${endpoint.label} is reachable again (${tools.length} tools)`)
        conn.tools = tools
        conn.listedAt = Date.now()
        conn.failure = null
        conn.failures = 0
        return tools
      } catch (err) {
        if (!conn.failure) this.#opts.log(`${endpoint.label} is unreachable; its tools are not offered until it answers: ${messageOf(err)}`)
        conn.failure = messageOf(err)
        conn.failedAt = Date.now()
        conn.failures++
        conn.tools = null
        if (client) this.#drop(conn, client)
        return null
      }
    })().finally(() => {
      conn.refreshing = null
    })
    return conn.refreshing
  }

  #drop(conn: Connection, client: Client): void {
    if (conn.client === client) conn.client = null
    void client.close().catch(() => {})
  }
}
