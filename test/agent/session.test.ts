// Appends by the runner are fenced by the revision it last saw: a user's append in between is
// folded in and the append retried; another runner's append makes this one stale, and it writes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChatSession, StaleRunnerError } from '../../src/agent/session.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import type { EventStore } from '../../src/eventstore/types.ts'
import { chatStream } from '../../src/events/index.ts'
import { backends } from '../support/databases.ts'
import { startHarness, type Harness } from './harness.ts'

const pglite = backends.find((b) => b.name === 'pglite')!

describe('a runner session on one chat', () => {
  let h: Harness
  let store: EventStore
  let close: () => Promise<void>

  beforeAll(async () => {
    const opened = await pglite.open()
    close = opened.close
    h = await startHarness(opened.db)
    store = createSqlEventStore(opened.db)
  })
  afterAll(async () => {
    await store.close()
    await h.close()
    await close()
  })

  it("folds in a user's concurrent append and appends after it", async () => {
    const chatId = await h.createChat('hello', { title: 'kept' })
    const session = new ChatSession(store, chatId, 'runner-a')
    await session.refresh()
    await h.command(chatId, { type: 'RenameChat', title: 'renamed meanwhile' })
    await session.append([{ type: 'TurnStarted', data: { turnId: 't1', runnerId: 'runner-a', modelId: null } }])
    const types = (await store.readStream(chatStream(chatId))).map((e) => e.type)
    expect(types).toEqual(['ChatCreated', 'UserMessagePosted', 'ChatRenamed', 'TurnStarted'])
    expect(session.state.title).toBe('renamed meanwhile')
  })

  it('a stale runner cannot write once another runner has', async () => {
    const chatId = await h.createChat('hello', { title: 'kept' })
    const stale = new ChatSession(store, chatId, 'runner-old')
    const current = new ChatSession(store, chatId, 'runner-new')
    await stale.refresh()
    await current.refresh()
    await current.append([{ type: 'TurnStarted', data: { turnId: 't-new', runnerId: 'runner-new', modelId: null } }])
    await expect(stale.append([{ type: 'TurnStarted', data: { turnId: 't-old', runnerId: 'runner-old', modelId: null } }])).rejects.toBeInstanceOf(StaleRunnerError)
    const events = await store.readStream(chatStream(chatId))
    expect(events.filter((e) => e.type === 'TurnStarted').map((e) => (e.data as { turnId: string }).turnId)).toEqual(['t-new'])
    expect(events.every((e) => e.metadata.runnerId !== 'runner-old')).toBe(true)
  })
})
