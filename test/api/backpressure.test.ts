// A subscriber that stops reading is disconnected once its bounded buffer is full.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { subscriptionBufferStats } from '../../src/api/index.ts'
import { chatStream } from '../../src/events/chat.ts'
import { backends } from '../support/databases.ts'
import { collect, startApiServer, type ApiServer } from './harness.ts'

const BUFFER = 8
const pglite = backends.find((b) => b.name === 'pglite')!

describe('a slow subscriber', () => {
  let server: ApiServer
  let close: () => Promise<void>

  beforeAll(async () => {
    const opened = await pglite.open()
    close = opened.close
    server = await startApiServer(opened.db, { subscriptionBuffer: BUFFER, slowSubscriberMs: 500 })
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
  })

  it('lets a subscriber that keeps reading catch up on more events than its buffer holds', async () => {
    const chatId = (await server.gql('mutation { createChat(input: { title: "history" }) { id } }')).body.data.createChat.id
    const blob = 'y'.repeat(64 * 1024)
    for (let i = 0; i < 60; i++)
      await server.store.appendToStream(chatStream(chatId), [{ id: randomUUID(), type: 'PlanProposed', data: { turnId: 't', callId: 'c', path: 'plan.md', plan: blob, sha256: '' }, metadata: { actor: { kind: 'system', id: 'test' } } }])
    const overflows = subscriptionBufferStats.overflows
    const sub = collect<{ chatEvents: { revision: number } }>(server.ws(), 'subscription($id: ID!) { chatEvents(chatId: $id) { revision data } }', { id: chatId }, (i) => i.length >= 61)
    expect((await sub.done).slice(0, 61).map((i) => i.chatEvents.revision)).toEqual(Array.from({ length: 61 }, (_, i) => i))
    expect(subscriptionBufferStats.overflows).toBe(overflows)
  })

  it('is disconnected when it falls a full buffer behind, and the buffer never holds more than its cap', async () => {
    const chatId = (await server.gql('mutation { createChat(input: { title: "firehose" }) { id } }')).body.data.createChat.id

    // A raw graphql-transport-ws client that subscribes, reads the first event, then stops reading.
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws')
    const messages: { type: string }[] = []
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)))
    const firstEvent = new Promise<void>((resolve) => {
      socket.on('message', (raw) => {
        const message = JSON.parse(raw.toString()) as { type: string }
        messages.push(message)
        if (message.type === 'connection_ack')
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription { chatEvents(chatId: "${chatId}") { revision data } }` } }))
        if (message.type === 'next') resolve()
      })
    })
    await new Promise((resolve) => socket.on('open', resolve))
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${server.adminToken}` } }))
    await firstEvent
    ;(socket as unknown as { _socket: { pause(): void } })._socket.pause()

    const overflowsBefore = subscriptionBufferStats.overflows
    subscriptionBufferStats.highWater = 0
    // Fat events fill the kernel's socket buffers quickly; then the server's buffer fills.
    const blob = 'x'.repeat(256 * 1024)
    for (let i = 0; i < 200 && subscriptionBufferStats.overflows === overflowsBefore; i++) {
      await server.store.appendToStream(chatStream(chatId), [
        { id: randomUUID(), type: 'PlanProposed', data: { turnId: 't', callId: 'c', path: 'plan.md', plan: blob, sha256: '' }, metadata: { actor: { kind: 'system', id: 'test' } } },
      ])
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 50))
    }
    await expect.poll(() => subscriptionBufferStats.overflows, { timeout: 10_000 }).toBe(overflowsBefore + 1)
    expect(subscriptionBufferStats.highWater).toBeLessThanOrEqual(BUFFER)

    // The server closes the connection (4008, or a hard drop if the close frame cannot get through).
    ;(socket as unknown as { _socket: { resume(): void } })._socket.resume()
    expect([4008, 1006]).toContain(await closed)

    // Everyone else is unaffected.
    const other = collect<{ chatEvents: { revision: number } }>(server.ws(), 'subscription($id: ID!) { chatEvents(chatId: $id) { revision } }', { id: chatId }, (i) => i.length >= 3)
    expect((await other.done).slice(0, 3).map((i) => i.chatEvents.revision)).toEqual([0, 1, 2])
  })
})
