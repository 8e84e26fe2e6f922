// The ephemeral channel across processes: `flushed()` waits for what was published before it,
// not for what other chats keep publishing after (a busy process must not stall one chat's step).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Database } from '../../src/db/database.ts'
import { createEphemeralPubSub, type EphemeralItem } from '../../src/live/ephemeral.ts'
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'

const delta = (seq: number): EphemeralItem => ({ kind: 'TextDelta', turnId: 't', delta: `piece ${seq}`, seq })

describe.skipIf(!postgresAvailable)('ephemeral flushes on PostgreSQL', () => {
  let fresh: { url: string; drop(): Promise<void> }
  let sender: Database
  let receiver: Database

  beforeAll(async () => {
    fresh = await createFreshPostgresDatabase()
    sender = await openDatabase({ url: fresh.url })
    receiver = await openDatabase({ url: fresh.url })
  })
  afterAll(async () => {
    await sender?.close()
    await receiver?.close()
    await fresh?.drop()
  })

  it('resolves flushed() once the earlier items went out, while other chats keep publishing', { timeout: 30_000 }, async () => {
    const publisher = createEphemeralPubSub(sender)
    const listener = createEphemeralPubSub(receiver)
    const seen: string[] = []
    const stop = listener.listenEphemeral('chat-a', (item) => seen.push((item as { delta: string }).delta))
    // The listener's LISTEN is up before the first publish (a NOTIFY before it is not delivered).
    await publisher.publishEphemeral('warm-up', delta(0))
    await new Promise((r) => setTimeout(r, 200))

    // Another chat streams without a pause, so a NOTIFY is always in flight — until flushed()
    // resolves, or for 20 s if it waited for chat-b to stop (then the race below says so)…
    let others = 0
    let done = false
    const giveUpAt = Date.now() + 20_000
    const streaming = (async () => {
      while (!done && Date.now() < giveUpAt) {
        void publisher.publishEphemeral('chat-b', delta(others++))
        await new Promise((r) => setImmediate(r))
      }
      return 'chat-b stopped first' as const
    })()
    await new Promise((r) => setTimeout(r, 50))
    // …and flushed() after chat-a's item must not wait for chat-b to stop.
    void publisher.publishEphemeral('chat-a', delta(1))
    const before = others
    const first = await Promise.race([publisher.flushed().then(() => 'flushed' as const), streaming])
    done = true
    await streaming
    expect(first).toBe('flushed')
    expect(others - before).toBeGreaterThan(0) // chat-b did stream meanwhile
    await expect.poll(() => seen).toEqual(['piece 1'])
    stop()
    await publisher.close()
    await listener.close()
  })
})
