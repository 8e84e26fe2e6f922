/**
 * The API as one fastify plugin: GraphQL at /graphql (mercurius, held to the GraphQL-over-HTTP
 * spec by graphql-over-http.ts; GraphiQL at /graphiql;
 * subscriptions over WebSocket with the graphql-transport-ws protocol, graphql-ws.ts) and the attachment
 * upload/download routes. Register it with the server context:
 * `await app.register(apiPlugin, { ctx })`.
 */
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { createRequire } from 'node:module'
import mercurius from 'mercurius'
import { CommandError } from '../../commands/errors.ts'
import { attachmentRoutes } from '../attachments/routes.ts'
import { auditExportRoutes, auditQueryResolvers } from './audit.ts'
import { attachmentLoader } from '../attachments/blobs.ts'
import type { ToolRegistry } from '../agent/tools/registry.ts'
import type { ConfigService } from '../config/service.ts'
import { configMutationResolvers, configQueryResolvers } from './config.ts'
import { mcpApiResolvers, type McpApi } from './mcp.ts'
import { debugLogMutationResolvers, debugLogQueryResolvers } from './debug-logs.ts'
import { budgetMutationResolvers, budgetQueryResolvers } from './budgets.ts'
import { organizationMutationResolvers, organizationQueryResolvers } from './organizations.ts'
import { isConnectionError, type Database } from '../db/database.ts'
import type { EventStore } from '../eventstore/types.ts'
import { authenticateRequest, requestCredentials } from '../identity/index.ts'
import type { Projection, ProjectionEngine } from '../projections/types.ts'
import { DEFAULT_SLOW_SUBSCRIBER_MS, DEFAULT_SUBSCRIPTION_BUFFER, SubscriberTooSlowError } from '../live/bounded.ts'
import { createChatChangeFeed } from './chat-changes.ts'
import { complexityRule, MAX_QUERY_DEPTH } from './complexity.ts'
import type { ApiContext, ApiServices } from './context.ts'
import { PendingWrites } from './pending-writes.ts'
import { ChatFoldMemo } from '../asof/fold-memo.ts'
import { ephemeralFor } from '../live/ephemeral.ts'
import { mutationResolvers } from './mutations.ts'
import { chatFieldResolvers, queryResolvers } from './queries.ts'
import { subscriptionResolvers } from './subscriptions.ts'
import { serveSubscriptions } from './graphql-ws.ts'
import { chatTreeLoaders } from './chat-tree.ts'
import { workspaceApiResolvers } from './workspaces.ts'
import { followGraphqlOverHttp, graphqlOverHttpErrorFormatter } from './graphql-over-http.ts'
import type { WorkspaceService } from '../workspaces/service.ts'

// mercurius loads graphql's CommonJS build: validate with the same copy, and throw its own
// validation error (a 400 with the errors, as its built-in validation answers).
const require = createRequire(import.meta.url)
const { validate } = require('graphql') as typeof import('graphql')
const { MER_ERR_GQL_VALIDATION } = require('mercurius/lib/errors.js') as { MER_ERR_GQL_VALIDATION: new () => Error }

export const SCHEMA_PATH = new URL('../../schema.graphql', import.meta.url)

export interface ApiPluginOptions {
  ctx: {
    db: Database
    store: EventStore
    engine: ProjectionEngine
    projections: Projection[]
    env: { dataDir: string; eventStoreUrl?: string }
    config?: ConfigService
    /** The runner's tools, for `chatContext`. */
    tools?: ToolRegistry
    /** Templates and workspaces; without it the workspace fields have no resolvers. */
    workspaces?: WorkspaceService
    /** Admin MCP servers; without it their fields answer NOT_FOUND. */
    mcp?: McpApi
  }
  /** Most items one subscription may buffer before its client is disconnected (default 1000). */
  subscriptionBuffer?: number
  /** How long a subscriber with a half-full buffer may take nothing before it is disconnected (default 10 s). */
  slowSubscriberMs?: number
  readYourWriteTimeoutMs?: number
}

const databaseUnavailable = () =>
  new mercurius.ErrorWithProps('the database is not answering (it may be restarting); try again in a moment', { code: 'DATABASE_UNAVAILABLE' })

/** Turns our typed errors into GraphQL errors with `extensions.code`. */
function toApiError(err: unknown): unknown {
  if (err instanceof CommandError) return new mercurius.ErrorWithProps(err.message, { code: err.code, ...err.details })
  if (isConnectionError(err)) return databaseUnavailable()
  if (err instanceof SubscriberTooSlowError) return new mercurius.ErrorWithProps(err.message, { code: err.code })
  const code = (err as { code?: unknown })?.code
  if (err instanceof Error && code === 'PROJECTION_TIMEOUT')
    return new mercurius.ErrorWithProps('the write was stored but the read models are lagging; read it again shortly', { code })
  return err
}

type Resolver = (root: unknown, args: any, ctx: ApiContext, info: unknown) => unknown

function guard(fn: Resolver): Resolver {
  return async (root, args, ctx, info) => {
    if (ctx.databaseUnavailable) throw databaseUnavailable()
    try {
      return await fn(root, args, ctx, info)
    } catch (err) {
      throw toApiError(err)
    }
  }
}

function guardAll(resolvers: Record<string, Resolver>): Record<string, Resolver> {
  return Object.fromEntries(Object.entries(resolvers).map(([name, fn]) => [name, guard(fn)]))
}

const requestIdOf = (request: FastifyRequest) => {
  const header = request.headers['x-request-id']
  return typeof header === 'string' && /^[\w.:-]{1,100}$/.test(header) ? header : randomUUID()
}

export const apiPlugin: FastifyPluginAsync<ApiPluginOptions> = async (app, opts) => {
  const { ctx } = opts
  const chatsProjection = ctx.projections.find((p) => p.tables.includes('chats'))?.name ?? null
  const api: ApiServices = {
    db: ctx.db,
    store: ctx.store,
    logInDatabase: !ctx.env.eventStoreUrl,
    engine: ctx.engine,
    ephemeral: ephemeralFor(ctx.db),
    config: ctx.config,
    tools: ctx.tools,
    loadAttachment: attachmentLoader(ctx.db, ctx.env.dataDir),
    chatChanges: createChatChangeFeed({ db: ctx.db, store: ctx.store, engine: ctx.engine, chatsProjection }),
    chatFolds: new ChatFoldMemo(),
    subscriptionBuffer: opts.subscriptionBuffer ?? DEFAULT_SUBSCRIPTION_BUFFER,
    slowSubscriberMs: opts.slowSubscriberMs ?? DEFAULT_SLOW_SUBSCRIBER_MS,
    readYourWriteTimeoutMs: opts.readYourWriteTimeoutMs ?? 10_000,
    pendingWrites: new PendingWrites(),
  }
  app.addHook('onClose', async () => {
    await api.chatChanges.close()
  })

  const subscriptions: Record<string, Resolver> = {}
  for (const [name, s] of Object.entries(subscriptionResolvers)) subscriptions[name] = guard(s.subscribe as Resolver)
  const ws = ctx.workspaces ? workspaceApiResolvers(ctx.workspaces) : null
  if (ws) for (const [name, s] of Object.entries(ws.Subscription)) subscriptions[name] = guard(s.subscribe as Resolver)

  const mcp = mcpApiResolvers(ctx.mcp)

  followGraphqlOverHttp(app, '/graphql')
  // Subscriptions: graphql-ws's server on mercurius's GET /graphql (graphql-ws.ts).
  await serveSubscriptions(app, { path: '/graphql', api, authenticate: (params) => authenticateRequest(ctx.db, params), accessLog: ctx.store, requestId: requestIdOf, subscribe: subscriptions })
  await app.register(mercurius, {
    schema: readFileSync(SCHEMA_PATH, 'utf8'),
    resolvers: {
      Query: guardAll({ ...queryResolvers, ...auditQueryResolvers, ...configQueryResolvers, ...mcp.Query, ...debugLogQueryResolvers, ...budgetQueryResolvers, ...organizationQueryResolvers, ...ws?.Query } as Record<string, Resolver>),
      Mutation: guardAll({ ...mutationResolvers, ...configMutationResolvers, ...mcp.Mutation, ...debugLogMutationResolvers, ...budgetMutationResolvers, ...organizationMutationResolvers, ...ws?.Mutation } as Record<string, Resolver>),
      Chat: guardAll({ ...chatFieldResolvers, ...mcp.Chat } as Record<string, Resolver>),
      ...(ws ? { Workspace: guardAll(ws.Workspace as Record<string, Resolver>) } : {}),
    } as never,
    loaders: chatTreeLoaders as never,
    path: '/graphql',
    graphiql: true,
    errorFormatter: graphqlOverHttpErrorFormatter as never,
    // Parsed and validated documents are cached by their text; the cost is checked per request below.
    queryDepth: MAX_QUERY_DEPTH,
    context: async (request): Promise<ApiContext> => {
      const requestId = requestIdOf(request)
      try {
        return { api, principal: await authenticateRequest(ctx.db, requestCredentials(request.headers)), requestId }
      } catch (err) {
        // Thrown from here, mercurius's error handler would build the context again and fail the same way: a bare 500.
        if (isConnectionError(err)) return { api, principal: null, requestId, databaseUnavailable: true }
        throw err
      }
    },
  })

  // A query's cost depends on its variables (a page size given as one), so it is checked on every
  // request, on the document mercurius parsed and validated once for its text. Then the request
  // waits for its user's writes the read models do not have yet (pending-writes.ts).
  app.graphql.addHook('preExecution', async (schema, document, context, variables) => {
    const errors = validate(schema, document, [complexityRule((variables ?? {}) as Record<string, unknown>)])
    if (errors.length) throw Object.assign(new MER_ERR_GQL_VALIDATION(), { errors })
    await api.pendingWrites.settled((context as unknown as ApiContext).principal?.userId)
  })

  await app.register(attachmentRoutes, { db: ctx.db, dataDir: ctx.env.dataDir })
  await app.register(auditExportRoutes, { db: ctx.db, store: ctx.store })
}

