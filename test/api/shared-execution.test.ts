// The sharing rule of src/api/shared-execution.ts on its own: subscribers with different principals
// share a result only when the selection cannot read the principal. (Sharing on the API itself, and
// that it misses no subscriber: test/api/chat-tail.test.ts.)
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { createClient, type Client } from 'graphql-ws'
import mercurius from 'mercurius'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { serveSubscriptions } from '../../src/api/graphql-ws.ts'
import { sharedExecutionStats } from '../../src/api/shared-execution.ts'
import type { ApiServices } from '../../src/api/context.ts'
import type { Principal } from '../../src/identity/index.ts'
import { boundedIterator, type BoundedSource } from '../../src/live/bounded.ts'
import { collect } from './harness.ts'

// The sharing rule on its own: a schema whose payload is one object for every subscriber and
// whose `viewer` field reads the principal, served by the same protocol server as the API.
describe('a shared execution and the principal', () => {
  let app: FastifyInstance
  let url: string
  const clients: Client[] = []
  const sources = new Set<BoundedSource<object>>()
  const principals: Record<string, Principal> = {
    alice: { userId: 'alice', email: 'alice@example.com', name: 'Alice', role: 'member', organizationId: 'org', homeOrganizationId: 'org', agentsAccess: true, orgRoles: { org: ['member'] } },
    bob: { userId: 'bob', email: 'bob@example.com', name: 'Bob', role: 'member', organizationId: 'org', homeOrganizationId: 'org', agentsAccess: true, orgRoles: { org: ['member'] } },
  }

  beforeAll(async () => {
    app = Fastify({ logger: false })
    await app.register(async (scope) => {
      await serveSubscriptions(scope, {
        path: '/graphql',
        api: {} as ApiServices,
        authenticate: async ({ authorization }) => principals[String(authorization)] ?? null,
        requestId: () => randomUUID(),
        subscribe: {
          ticks: () =>
            boundedIterator<object>({
              capacity: 100,
              start: (source) => {
                sources.add(source)
                return () => void sources.delete(source)
              },
            }),
        },
      })
      await scope.register(mercurius, {
        schema: 'type Query { ok: Boolean } type Subscription { ticks: Tick! } type Tick { n: Int! viewer: String! }',
        resolvers: { Tick: { viewer: (_tick: unknown, _args: unknown, ctx: { principal: Principal }) => ctx.principal.userId } } as never,
        path: '/graphql',
      })
    })
    url = (await app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws') + '/graphql'
  })
  afterAll(async () => {
    for (const c of clients) await c.dispose()
    await app?.close()
  })

  const as = (who: string) => {
    const client = createClient({ url, webSocketImpl: WebSocket, connectionParams: { authorization: who }, retryAttempts: 0 })
    clients.push(client)
    return client
  }

  it('shares a result between principals only when the selection cannot read the principal', async () => {
    type Tick = { ticks: { n: number; viewer?: string } }
    const twoTicks = (items: Tick[]) => items.length >= 2
    const subs = {
      aliceViewer: collect<Tick>(as('alice'), 'subscription { ticks { n viewer } }', {}, twoTicks),
      aliceViewerAgain: collect<Tick>(as('alice'), 'subscription { ticks { n viewer } }', {}, twoTicks),
      bobViewer: collect<Tick>(as('bob'), 'subscription { ticks { n viewer } }', {}, twoTicks),
      alicePlain: collect<Tick>(as('alice'), 'subscription { ticks { n } }', {}, twoTicks),
      bobPlain: collect<Tick>(as('bob'), 'subscription { ticks { n } }', {}, twoTicks),
    }
    await expect.poll(() => sources.size).toBe(5)
    const before = sharedExecutionStats.executions
    for (const n of [1, 2]) {
      const tick = { n } // one payload object for everyone, as the chat tail hands out
      for (const source of sources) source.push(tick)
    }
    expect(await subs.aliceViewer.done).toEqual([{ ticks: { n: 1, viewer: 'alice' } }, { ticks: { n: 2, viewer: 'alice' } }])
    expect(await subs.aliceViewerAgain.done).toEqual([{ ticks: { n: 1, viewer: 'alice' } }, { ticks: { n: 2, viewer: 'alice' } }])
    expect(await subs.bobViewer.done).toEqual([{ ticks: { n: 1, viewer: 'bob' } }, { ticks: { n: 2, viewer: 'bob' } }])
    for (const plain of [subs.alicePlain, subs.bobPlain]) expect(await plain.done).toEqual([{ ticks: { n: 1 } }, { ticks: { n: 2 } }])
    // Per tick: `{ n viewer }` once for alice (both her subscriptions) and once for bob; `{ n }` once for both.
    expect(sharedExecutionStats.executions - before).toBe(2 * 3)
  })
})
