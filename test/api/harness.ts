// A real Cairn API server on a real port, for the API acceptance tests: HTTP through fetch,
// subscriptions through the graphql-ws client over a real WebSocket.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { createClient, type Client } from 'graphql-ws'
import WebSocket from 'ws'
import { projections } from '../../projections/index.ts'
import { apiPlugin } from '../../src/api/index.ts'
import type { Database } from '../../src/db/database.ts'
import type { EventStore } from '../../src/eventstore/types.ts'
import { bootstrapAdmin, createUser } from '../../src/identity/index.ts'
import type { ConfigService } from '../../src/config/service.ts'
import type { Role } from '../../src/events/user.ts'
import type { ProjectionEngine } from '../../src/projections/types.ts'
import { buildApp, createContext } from '../../src/server.ts'

export interface GqlResult<T = any> {
  status: number
  text: string
  body: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] }
}

export interface ApiServer {
  url: string
  wsUrl: string
  db: Database
  store: EventStore
  engine: ProjectionEngine
  config: ConfigService
  app: FastifyInstance
  dataDir: string
  adminToken: string
  /** Creates a user (events through userDecider) and returns their token once the read models have it. */
  user(email: string, role: Role, options?: { organizationId?: string; agentsAccess?: boolean }): Promise<{ token: string; userId: string }>
  /** `organization`: the X-Cairn-Organization header (the organization the request acts in); `requestId`: X-Request-Id (the events' correlation id). */
  gql<T = any>(query: string, variables?: Record<string, unknown>, token?: string | null, headers?: { organization?: string; requestId?: string }): Promise<GqlResult<T>>
  ws(token?: string | null, organization?: string): Client
  close(): Promise<void>
}

/** Models the API tests choose ("claude", "gpt"); no turn runs here, so the endpoint is never called. */
async function configureTestModels(config: ConfigService) {
  const system = { actor: { kind: 'system' as const, id: 'test' } }
  await config.execute(
    { type: 'ConfigureProvider', settings: { providerId: 'test', kind: 'openai-compatible', displayName: 'test', baseUrl: 'http://127.0.0.1:9', apiVersion: null, deployment: null, region: null } },
    system,
  )
  for (const modelId of ['claude', 'gpt'])
    await config.execute(
      {
        type: 'ConfigureModel',
        settings: {
          modelId, providerId: 'test', modelName: modelId, displayName: modelId, enabled: true, isDefault: modelId === 'claude',
          contextWindow: 100_000, compactionThresholdPercent: 70, maxOutputTokens: 1000, pricing: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }, api: null,
        },
      },
      system,
    )
}

export async function startApiServer(
  db: Database,
  options: { subscriptionBuffer?: number; slowSubscriberMs?: number; runner?: boolean; eventStoreUrl?: string } = {},
): Promise<ApiServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-api-'))
  const env = { databaseUrl: undefined, eventStoreUrl: options.eventStoreUrl, dataDir, port: 0, host: '127.0.0.1', runner: false }
  const ctx = createContext({ env, db, projections, log: () => {}, pollIntervalMs: 200 })
  const { store, engine } = ctx
  await engine.start()
  let adminToken = ''
  const bootstrapLog: string[] = []
  adminToken = (await bootstrapAdmin({ ...ctx, log: (l) => bootstrapLog.push(l) })) ?? ''
  if (!adminToken && options.eventStoreUrl) {
    // A real node keeps the users of earlier runs, so no first admin is made: make one.
    const issued = await createUser(store, { email: `admin-${randomUUID()}@cairn.test`, role: 'admin' })
    await engine.waitForAll(issued.checkpoint)
    adminToken = issued.token
  }
  await configureTestModels(ctx.config)
  if (options.runner) {
    engine.onApplied((projection, events) => projection === 'chats' && ctx.runner.noticeApplied(events))
    ctx.runner.start()
  }
  let app: FastifyInstance
  if (options.subscriptionBuffer) {
    app = Fastify({ logger: false })
    await app.register(apiPlugin, { ctx, subscriptionBuffer: options.subscriptionBuffer, slowSubscriberMs: options.slowSubscriberMs ?? 500 })
  } else app = await buildApp(ctx)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const clients: Client[] = []
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws') + '/graphql',
    db,
    store,
    engine,
    config: ctx.config,
    app,
    dataDir,
    adminToken,
    async user(email, role, options = {}) {
      const issued = await createUser(store, { email, role, ...options })
      await engine.waitForAll(issued.checkpoint)
      return { token: issued.token, userId: issued.userId }
    },
    async gql(query, variables = {}, token = adminToken, { organization, requestId } = {}) {
      const res = await fetch(url + '/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(organization ? { 'x-cairn-organization': organization } : {}),
          ...(requestId ? { 'x-request-id': requestId } : {}),
        },
        body: JSON.stringify({ query, variables }),
      })
      const text = await res.text()
      return { status: res.status, text, body: JSON.parse(text) }
    },
    ws(token = adminToken, organization) {
      const client = createClient({
        url: url.replace(/^http/, 'ws') + '/graphql',
        webSocketImpl: WebSocket,
        connectionParams: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(organization ? { organization } : {}) },
        retryAttempts: 0,
        lazy: true,
      })
      clients.push(client)
      return client
    },
    async close() {
      for (const c of clients) await c.dispose()
      await app.close()
      await ctx.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Subscribes and collects results until `until` says stop; rejects on an error or a close. */
export function collect<T>(client: Client, query: string, variables: Record<string, unknown>, until: (items: T[]) => boolean, timeoutMs = 20_000) {
  const items: T[] = []
  let unsubscribe = () => {}
  const done = new Promise<T[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${items.length} items: ${JSON.stringify(items).slice(0, 500)}`)), timeoutMs)
    unsubscribe = client.subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          if (value.errors) {
            clearTimeout(timer)
            reject(Object.assign(new Error(value.errors[0]!.message), { errors: value.errors }))
            return
          }
          items.push(value.data as T)
          if (until(items)) {
            clearTimeout(timer)
            resolve(items)
          }
        },
        error: (err) => {
          clearTimeout(timer)
          reject(err)
        },
        complete: () => {
          clearTimeout(timer)
          if (until(items)) resolve(items)
          else reject(new Error(`completed after ${items.length} items`))
        },
      },
    )
  })
  return { items, done: done.finally(() => unsubscribe()), stop: () => unsubscribe() }
}

/** What the server answered a subscription with: its items, or the error / close it ended with. */
export function firstOutcome(client: Client, query: string, variables: Record<string, unknown>, timeoutMs = 10_000) {
  return new Promise<{ kind: 'data'; data: unknown } | { kind: 'error'; error: unknown }>((resolve) => {
    const timer = setTimeout(() => resolve({ kind: 'error', error: new Error('timeout') }), timeoutMs)
    const stop = client.subscribe(
      { query, variables },
      {
        next: (value) => {
          clearTimeout(timer)
          stop()
          resolve(value.errors ? { kind: 'error', error: value.errors } : { kind: 'data', data: value.data })
        },
        error: (error) => {
          clearTimeout(timer)
          resolve({ kind: 'error', error })
        },
        complete: () => {},
      },
    )
  })
}

export const CHAT_FIELDS = 'id title status archived modelId planMode ownerId queueLength revision forkOf { chatId revision } queue { queueId position }'

export async function countEvents(store: EventStore): Promise<number> {
  let total = 0
  let after: string | undefined
  for (;;) {
    const page = await store.readAll({ ...(after ? { after } : {}), maxCount: 1000 })
    total += page.events.length
    if (page.events.length < 1000) return total
    after = page.checkpoint
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
