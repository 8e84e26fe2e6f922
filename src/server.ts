import { join } from 'node:path'
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import { AgentRunner, type RunnerOptions } from './agent/runner.ts'
import { ToolRegistry } from './agent/tools/registry.ts'
import { ChatSignals } from './agent/chat-signals.ts'
import { ApprovalPolicies } from './agent/approvals.ts'
import { askUserQuestion } from './agent/tools/questions.ts'
import { subAgentTools } from './agent/tools/sub-agents.ts'
import { SecretScanner } from './secrets/scanner.ts'
import { apiPlugin } from './api/index.ts'
import { ephemeralFor, stampSequence } from './live/ephemeral.ts'
import { attachmentLoader, saveAttachment } from './attachments/blobs.ts'
import { loadSecretKey, SecretStore } from './config/secrets.ts'
import { ConfigService, configureFromEnvironment } from './config/service.ts'
import type { CairnEnv } from './config/env.ts'
import { openDatabase, type Database } from './db/database.ts'
import { migrate } from './db/migrate.ts'
import { bootstrapAdmin } from './identity/index.ts'
import { createSqlEventStore, type SqlEventStoreOptions } from './eventstore/postgres/index.ts'
import { connectEventStoreDb, describeEventStoreDbUrl } from './eventstore/eventstoredb/index.ts'
import type { EventStore } from './eventstore/types.ts'
import { AppendCounter, cairnMetrics, METRICS_CONTENT_TYPE, renderMetrics } from './metrics.ts'
import { createProjectionEngine } from './projections/engine.ts'
import { registerMcpTools, type McpTools } from './mcp/index.ts'
import { WorkspaceService } from './workspaces/service.ts'
import { registerWorkspaceTools } from './workspaces/tools.ts'
import { workspaceInstructions } from './workspaces/context.ts'
import { agentAuthRoutes } from './workspaces/agent-auth-routes.ts'
import { webPlugin } from './web/plugin.ts'
import { loadInstanceIdentityTrust } from './workspaces/identity/trust.ts'
import type { Projection, ProjectionEngine } from './projections/types.ts'
import { ChatRetention } from './audit/retention.ts'
import { ChatDebugLogRecorder } from './debuglog/recorder.ts'
import { ChatDebugLogRetention } from './debuglog/retention.ts'
import { SpendLimits } from './budgets/guard.ts'
import { spendByModel } from './budgets/usage.ts'

type Log = (line: string) => void

/** What every part of the server shares. Plugins take it as their option. */
export interface ServerContext {
  env: CairnEnv
  db: Database
  /** The event store; appends through it are counted for `/metrics`. */
  store: EventStore
  engine: ProjectionEngine
  projections: Projection[]
  appends: AppendCounter
  /** Providers, models, system prompt and tool policy (the `config` stream). */
  config: ConfigService
  /** The tools the agent may call; workspace and platform tools register here. */
  tools: ToolRegistry
  /** Drives chats that need a turn; started by startServer. */
  runner: AgentRunner
  /** What `runner` was made with: another runner of this process (a benchmark's) takes the same and overrides limits. */
  runnerOptions: RunnerOptions
  /** Templates, workspaces, provisioners and the workspace tunnel. */
  workspaces: WorkspaceService
  /** Admin MCP servers and the tool sources of theirs and of workspaces' `.mcp.json` (src/mcp/). */
  mcp: McpTools
  /** Chat debug logs: the runner's capture of provider exchanges (src/debuglog/). */
  debugLogs: ChatDebugLogRecorder
  log: Log
}

export interface RunningServer extends ServerContext {
  app: FastifyInstance
  /** Where it listens, e.g. http://127.0.0.1:8080. */
  url: string
  close(): Promise<void>
}

/** PGlite in `<dataDir>/pgdata` unless DATABASE_URL names a PostgreSQL server. */
export function openDatabaseFor(env: CairnEnv): Promise<Database> {
  return env.databaseUrl ? openDatabase({ url: env.databaseUrl }) : openDatabase({ dataDir: join(env.dataDir, 'pgdata') })
}

/** The log: in EventStoreDB/KurrentDB when EVENTSTORE_URL names one, else the database's `events` table. */
export function eventStoreFor(env: CairnEnv, db: Database, options: SqlEventStoreOptions = {}): EventStore {
  return env.eventStoreUrl ? connectEventStoreDb(env.eventStoreUrl) : createSqlEventStore(db, options)
}

/** Where the log lives, for logs and `/healthz`. */
export function eventStoreKind(env: CairnEnv): string {
  return env.eventStoreUrl ? `eventstoredb ${describeEventStoreDbUrl(env.eventStoreUrl)}` : 'sql'
}

/** Opens and migrates the database and creates the context on it; nothing is started. */
export async function openContext(opts: { env: CairnEnv; projections: Projection[]; log: Log }): Promise<ServerContext & { close(): Promise<void> }> {
  const db = await openDatabaseFor(opts.env)
  try {
    await migrate(db, opts.log)
    const ctx = createContext({ ...opts, db })
    return {
      ...ctx,
      async close() {
        await ctx.close()
        await db.close()
      },
    }
  } catch (err) {
    await db.close().catch(() => {})
    throw err
  }
}

/**
 * The store, projection engine, config, tools and runner on an open, migrated database.
 * Nothing is started; `close` stops them and leaves the database open (its owner closes it).
 */
export function createContext(opts: {
  env: CairnEnv
  db: Database
  projections: Projection[]
  log: Log
  pollIntervalMs?: number
}): ServerContext & { close(): Promise<void> } {
  const { env, db, projections, log } = opts
  const appends = new AppendCounter()
  const store = appends.wrap(eventStoreFor(env, db, { pollIntervalMs: opts.pollIntervalMs }))
  const engine = createProjectionEngine({ db, store, projections, log, pollIntervalMs: opts.pollIntervalMs })
  // One store of encrypted secrets: provider keys and MCP server credentials.
  const secretStore = new SecretStore(db, loadSecretKey(env.dataDir))
  const config = new ConfigService(store, secretStore, { streamSilenceMs: env.streamSilenceMs })
  const signals = new ChatSignals()
  const tools = new ToolRegistry().register(askUserQuestion, ...subAgentTools({ store, config, signals }))
  const ephemeral = ephemeralFor(db)
  // Secrets never stored: the runner's appends, deltas and log lines are redacted (src/secrets/).
  // Every secret the server knows (provider keys, MCP server tokens): what redaction looks for.
  const knownSecrets = { knownSecrets: async () => [...(await config.knownSecrets()), ...(await mcp.admin.knownSecrets())] }
  const secrets = new SecretScanner(knownSecrets)
  const debugLogs = new ChatDebugLogRecorder({ db, config, secrets: knownSecrets, log: (line) => log(secrets.redactor.redact(line).text) })
  const runnerOptions: RunnerOptions = {
    db,
    store,
    config,
    tools,
    publish: secrets.sink(stampSequence((chatId, item, source) => void ephemeral.publishEphemeral(chatId, item, source).catch(() => {}))),
    loadAttachment: attachmentLoader(db, env.dataDir),
    log: (line) => log(secrets.redactor.redact(line).text),
    secrets,
    signals,
    approvals: new ApprovalPolicies(config, db),
    publishFlushed: () => ephemeral.flushed(),
    saveImage: async (chat, image) => {
      const row = await saveAttachment(db, env.dataDir, { bytes: Buffer.from(image.data, 'base64'), name: 'tool-image', uploadedBy: chat.ownerId, organizationId: chat.organizationId })
      return { attachmentId: row.id, sha256: row.sha256, mimeType: row.mimeType, name: row.name, size: row.size }
    },
    // The chat's workspace (AGENTS.md, skills) in the system prompt; `workspaces` is made below.
    instructions: (chat, signal) => workspaceContext(chat, signal),
    debugLogs,
    budgets: new SpendLimits(config, db),
  }
  const runner = new AgentRunner(runnerOptions)
  const workspaces = new WorkspaceService({ db, store, engine, dataDir: env.dataDir, log })
  const mcp = registerMcpTools({ tools }, { config, secrets: secretStore, tunnels: workspaces.tunnels, log })
  registerWorkspaceTools({ tools }, { db, dataDir: env.dataDir, workspaces })
  const workspaceContext = workspaceInstructions(workspaces, { log })
  return {
    env,
    db,
    store,
    engine,
    projections,
    appends,
    config,
    tools,
    runner,
    runnerOptions,
    workspaces,
    mcp,
    debugLogs,
    log,
    async close() {
      await runner.stop()
      await mcp.close()
      await debugLogs.flush()
      await workspaces.close()
      await config.close()
      await engine.stop()
      await store.close()
    },
  }
}

const HEALTH_QUERY_TIMEOUT_MS = 2000

/** `GET /healthz` and `GET /metrics`. */
export const operationsRoutes: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.get('/healthz', async (_request, reply) => {
    const kinds = { database: ctx.db.kind, ...(ctx.env.eventStoreUrl ? { eventStore: 'eventstoredb' } : {}) }
    try {
      await withTimeout(ctx.db.query('select 1'), HEALTH_QUERY_TIMEOUT_MS, 'the database did not answer in time')
      // A log outside the database is a second thing that must answer.
      if (ctx.env.eventStoreUrl) await withTimeout(ctx.store.headCheckpoint(), HEALTH_QUERY_TIMEOUT_MS, 'the event store did not answer in time')
      return { ok: true, ...kinds }
    } catch (err) {
      return reply.code(503).send({ ok: false, ...kinds, error: err instanceof Error ? err.message : String(err) })
    }
  })

  app.get('/metrics', async (_request, reply) => {
    const projections = await ctx.engine.status().catch(() => [])
    reply.type(METRICS_CONTENT_TYPE)
    const spend = await spendByModel(ctx.db).catch(() => [])
    return renderMetrics(cairnMetrics({ projections, eventsAppended: ctx.appends.events, spend }))
  })
}

/** The HTTP app. Each concern is a plugin registered here: operations, GraphQL, the tunnel, agent auth, the web UI. */
export async function buildApp(ctx: ServerContext, opts: { buildWebIfMissing?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(operationsRoutes, { ctx })
  await app.register(apiPlugin, { ctx })
  await app.register(ctx.workspaces.tunnels.plugin)
  await app.register(agentAuthRoutes, { workspaces: ctx.workspaces, trust: loadInstanceIdentityTrust(ctx.env.instanceIdentity) })
  await app.register(webPlugin, { log: ctx.log, buildIfMissing: opts.buildWebIfMissing })
  return app
}

/** Opens everything, starts the projections and listens on HOST:PORT. */
export async function startServer(opts: { env: CairnEnv; projections: Projection[]; log: Log }): Promise<RunningServer> {
  const ctx = await openContext(opts)
  let app: FastifyInstance | undefined
  try {
    await ctx.engine.start()
    await bootstrapAdmin(ctx)
    await configureFromEnvironment(ctx.config, process.env, ctx.log)
    if (ctx.env.runner) {
      ctx.engine.onApplied((projection, events) => projection === 'chats' && ctx.runner.noticeApplied(events))
      ctx.runner.start()
      ctx.log(`runner ${ctx.runner.runnerId} started`)
    }
    // `npm install` built the UI; a checkout that skipped install scripts builds it on its first start.
    app = await buildApp(ctx, { buildWebIfMissing: true })
    const address = await app.listen({ port: ctx.env.port, host: ctx.env.host })
    ctx.workspaces.setControlPlaneUrl(address.replace('//0.0.0.0', '//127.0.0.1').replace('//[::]', '//127.0.0.1'))
    await ctx.workspaces.ensureDefaultTemplate()
    await ctx.workspaces.resumeStartedWorkspaces()
    // The admin's retention setting (setChatRetention), applied now and hourly.
    const retention = new ChatRetention({ db: ctx.db, retentionDays: async () => (await ctx.config.current()).chatRetentionDays, log: ctx.log })
    retention.start()
    // Chat debug log rows past the admin's retentionDays, deleted now and hourly.
    const debugLogRetention = new ChatDebugLogRetention({ db: ctx.db, config: ctx.config, log: ctx.log })
    debugLogRetention.start()
    // Last: scripts and tests take this line to mean the server is fully up.
    ctx.log(`cairn listening on ${address} (database: ${ctx.db.kind}, event store: ${eventStoreKind(ctx.env)})`)
    const listening = app
    let closing: Promise<void> | null = null
    return {
      ...ctx,
      app: listening,
      url: address,
      close() {
        closing ??= (async () => {
          await retention.stop()
          await debugLogRetention.stop()
          await listening.close()
          await ctx.close()
        })()
        return closing
      },
    }
  } catch (err) {
    await app?.close().catch(() => {})
    await ctx.close().catch(() => {})
    throw err
  }
}

/** SIGINT/SIGTERM close the server and exit; a second signal exits at once. */
export function closeOnSignals(server: { close(): Promise<void> }, log: Log): void {
  let closing = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) process.exit(1)
    closing = true
    log(`${signal}: closing`)
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log(`close failed: ${err instanceof Error ? err.message : String(err)}`)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
