/**
 * GraphQL subscriptions over WebSocket on GET /graphql: the graphql-transport-ws protocol of the
 * `graphql-ws` client (the web UI's, the CLI's, the tests'), served by graphql-ws's own server
 * (its @fastify/websocket handler owns the protocol: init and ack, ping/pong, subscribe, next,
 * error, complete, the close codes) rather than by mercurius, whose connection reads its socket
 * through `events.on` — two 2048-slot queues, 32 KiB per idle subscriber — and executes every
 * event once per subscriber.
 *
 * What is ours:
 * - who may connect: `connection_init`'s `authorization` is an API token (none, unknown or
 *   revoked: closed with 4403);
 * - what may be subscribed: our depth and complexity limits, subscriptions only. The root
 *   field's subscribe resolver (its permission check) runs before the answer, so a refusal is an
 *   `error` message;
 * - how events go out: once per distinct selection (shared-execution.ts).
 */
import { createRequire } from 'node:module'
import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { DocumentNode, ExecutionResult, GraphQLError } from 'graphql'
import type { WebSocket } from 'ws'
import type { EventStore, StoredEvent, Subscription } from '../eventstore/types.ts'
import type { Principal } from '../identity/index.ts'
import { complexityRule, depthRule, MAX_QUERY_DEPTH } from './complexity.ts'
import type { ApiContext, ApiServices } from './context.ts'
import { graphqlOverHttpErrorFormatter } from './graphql-over-http.ts'
import { writeShared } from './shared-execution.ts'

// CommonJS builds, so graphql-ws and these resolvers share mercurius's copy of graphql (its
// GraphQLError is what graphql-ws recognises), and mercurius's loader symbols.
const require = createRequire(import.meta.url)
const graphql = require('graphql') as typeof import('graphql')
const { makeHandler } = require('graphql-ws/use/@fastify/websocket') as typeof import('graphql-ws/use/@fastify/websocket')
const { kLoaders, kSubscriptionFactory } = require('mercurius/lib/symbols.js') as { kLoaders: symbol; kSubscriptionFactory: symbol }

/** For the WebSocket server's handshake: picks `graphql-transport-ws` among the client's subprotocols. */
const { handleProtocols } = require('graphql-ws') as typeof import('graphql-ws')

/**
 * User events after which a user's live connections must not go on as they were: a revoked token,
 * and any role taken away or given (a subscription's principal is fixed at connect, so a role given
 * reaches it by the reconnect too).
 */
const ACCESS_EVENTS = ['ApiTokenRevoked', 'OrganizationRoleRevoked', 'OrganizationRoleGranted', 'UserRoleChanged']
/** Close codes: a revoked token is refused for good (4403); after a role change the client reconnects and is asked again (1012). */
const CLOSE_REVOKED = 4403
const CLOSE_ROLES_CHANGED = 1012

/** ws-level pings: a client that answers none within this long is dropped. */
const KEEP_ALIVE_MS = 15_000

type SubscribeResolver = (root: unknown, args: any, ctx: ApiContext, info: unknown) => unknown

export interface GraphqlWsOptions {
  /** The path mercurius serves GraphQL on: its GET route gets the WebSocket handler. */
  path: string
  api: ApiServices
  /** The connection_init payload: `authorization` (Bearer token) and `organization` (the one it acts in). */
  authenticate(params: { authorization?: unknown; organization?: unknown }): Promise<Principal | null>
  requestId(request: FastifyRequest): string
  /** The log whose user events end live connections (revoked tokens, roles taken away); none: no such watch. */
  accessLog?: EventStore
  /** The Subscription fields' subscribe resolvers; each field resolves to its payload as is. */
  subscribe: Record<string, SubscribeResolver>
}

/**
 * Serves subscriptions on GET `path` of `app`. Call it in the plugin that registers mercurius,
 * before mercurius: it hooks the route mercurius adds (before @fastify/websocket, registered here,
 * reads it) and, once mercurius has built the schema, puts the subscribe resolvers on it (mercurius
 * places them only for its own subscription server).
 */
export async function serveSubscriptions(app: FastifyInstance, opts: GraphqlWsOptions): Promise<void> {
  // A subscription's permission is checked when it starts; a token revoked or a role taken away
  // later ends the user's live connections: one watch of the log's user events per server, kept
  // while any connection is open.
  let watch: { sub: Subscription<StoredEvent> | null; stopped: boolean } | null = null
  const stopWatch = () => {
    if (!watch) return
    watch.stopped = true
    void watch.sub?.close().catch(() => {})
    watch = null
  }
  const connections = new ConnectionsByUser({
    first: () => {
      const log = opts.accessLog
      if (!log || watch) return
      const current: { sub: Subscription<StoredEvent> | null; stopped: boolean } = { sub: null, stopped: false }
      watch = current
      void (async () => {
        try {
          const after = await log.headCheckpoint()
          if (current.stopped) return
          const sub = (current.sub = log.subscribeToAll({ after, filter: { streamPrefix: 'user-', eventTypes: ACCESS_EVENTS } }))
          for await (const event of sub) {
            const userId = event.stream.slice('user-'.length)
            if (event.type === 'ApiTokenRevoked') connections.close(userId, CLOSE_REVOKED, 'token revoked', (p) => p.tokenId === (event.data as { tokenId: string }).tokenId)
            else connections.close(userId, CLOSE_ROLES_CHANGED, 'roles changed: reconnect')
          }
        } catch {
          // closed, or the database went away: the next first connection watches again
          if (watch === current) watch = null
        }
      })()
    },
    empty: stopWatch,
  })
  const handler = graphqlWsHandler(app, opts, connections)
  app.addHook('onClose', async () => stopWatch())
  app.addHook('onRoute', (route) => {
    if (route.url === opts.path && route.method === 'GET') route.wsHandler = handler
  })
  await app.register(websocket, { options: { maxPayload: 1_048_576, handleProtocols } })
  app.addHook('onReady', async () => {
    const fields = app.graphql.schema.getSubscriptionType()?.getFields() ?? {}
    for (const [name, subscribe] of Object.entries(opts.subscribe)) {
      if (!fields[name]) throw new Error(`no Subscription.${name} in the schema`)
      Object.assign(fields[name], { subscribe, resolve: (payload: unknown) => payload })
    }
  })
}

/** Parsed documents by query text, the newest used last: subscribers of one query share its AST (its tokens alone are ~5 KiB). */
const documents = new Map<string, DocumentNode>()
const MAX_DOCUMENTS = 500

function parseShared(query: string): DocumentNode {
  let document = documents.get(query)
  if (document) documents.delete(query)
  else if (documents.size >= MAX_DOCUMENTS) documents.delete(documents.keys().next().value!)
  documents.set(query, (document ??= graphql.parse(query)))
  return document
}

/** Open connections by the user they authenticated as. */
class ConnectionsByUser {
  readonly #byUser = new Map<string, Set<{ socket: WebSocket; principal: Principal }>>()
  #count = 0

  /** `first` when a connection opens with none open, `empty` when the last one closes. */
  constructor(private readonly on: { first(): void; empty(): void }) {}

  add(socket: WebSocket, principal: Principal): void {
    let set = this.#byUser.get(principal.userId)
    if (!set) this.#byUser.set(principal.userId, (set = new Set()))
    const entry = { socket, principal }
    set.add(entry)
    if (this.#count++ === 0) this.on.first()
    socket.once('close', () => {
      set.delete(entry)
      if (!set.size && this.#byUser.get(principal.userId) === set) this.#byUser.delete(principal.userId)
      if (--this.#count === 0) this.on.empty()
    })
  }

  close(userId: string, code: number, reason: string, which: (p: Principal) => boolean = () => true): void {
    for (const { socket, principal } of this.#byUser.get(userId) ?? []) if (which(principal)) socket.close(code, reason)
  }
}

function graphqlWsHandler(app: FastifyInstance, opts: GraphqlWsOptions, connections: ConnectionsByUser) {
  const { api } = opts
  const subscriptions = new WeakMap<object, AsyncIterableIterator<never>>()
  const formatErrors = (result: ExecutionResult) => graphqlOverHttpErrorFormatter(result as never, { app } as never).response

  return makeHandler<Record<string, unknown>, { principal: Principal }>(
    {
      async onConnect(ctx) {
        const principal = await opts.authenticate(ctx.connectionParams ?? {})
        if (!principal) return false
        ctx.extra.principal = principal
        connections.add(ctx.extra.socket, principal)
        return true
      },

      async onSubscribe(ctx, id, payload): Promise<readonly GraphQLError[] | Parameters<typeof graphql.execute>[0]> {
        const schema = app.graphql.schema
        let document
        try {
          document = parseShared(payload.query)
        } catch (err) {
          return [err as GraphQLError]
        }
        const variables = payload.variables ?? {}
        // Only our limits, as mercurius checked subscriptions: graphql's own rules would refuse
        // what clients send today (the web UI asks `turnId` as ID! and as ID in two union members).
        const invalid = graphql.validate(schema, document, [depthRule(MAX_QUERY_DEPTH), complexityRule(variables)])
        if (invalid.length) return invalid
        const operation = graphql.getOperationAST(document, payload.operationName)
        if (!operation)
          return [new graphql.GraphQLError(payload.operationName ? `the document has no operation named ${payload.operationName}` : 'the document has several operations: name the one to run')]
        if (operation.operation !== 'subscription')
          return [new graphql.GraphQLError(`only subscriptions are served over WebSocket; send a ${operation.operation} to POST /graphql`)]

        const { socket, request, principal } = ctx.extra
        const context: ApiContext & { reply: object } = { api, principal: principal ?? null, requestId: opts.requestId(request), socket, id, reply: { request } }
        // mercurius's loaders read their batch from the context, as in its own subscriptions.
        context.reply = { request, [kLoaders]: (app as unknown as Record<symbol, { create(ctx: unknown): unknown } | undefined>)[kSubscriptionFactory]?.create(context) }
        const source = await graphql.createSourceEventStream({ schema, document, variableValues: variables, operationName: payload.operationName, contextValue: context })
        if (!(Symbol.asyncIterator in source)) return source.errors!
        subscriptions.set(context, writeShared(source[Symbol.asyncIterator](), socket, id, { schema, document, operation, variables, context, principal, formatErrors }))
        return { schema, document, variableValues: variables, operationName: payload.operationName, contextValue: context }
      },

      subscribe: (args) => subscriptions.get(args.contextValue as object)!,
    },
    KEEP_ALIVE_MS,
  )
}
