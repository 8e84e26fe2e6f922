// Retention: an admin setting archives old chats' message rows out of the hot read model. The
// log is never touched: event counts and chains stay, and the archived chat still reads the same,
// folds from its events and exports. Activity brings the rows back.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatAsOf } from '../../src/asof/chat-as-of.ts'
import { exportChatJsonl } from '../../src/audit/export.ts'
import { archiveOldChats, ChatRetention } from '../../src/audit/retention.ts'
import { streamsOfChain, verifyChains } from '../../src/audit/verify.ts'
import { listMessages, loadChat } from '../../src/api/read-models.ts'
import { chatStream } from '../../src/events/index.ts'
import { startApiServer, type ApiServer } from '../api/harness.ts'
import { backends } from '../support/databases.ts'
import { chatEvents, ORG, OWNER } from './chat-fixture.ts'

const metadata = { actor: { kind: 'user' as const, id: OWNER }, organizationId: ORG }
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

for (const backend of backends) {
  describe.skipIf(!backend.available)(`chat retention on ${backend.name}`, () => {
    let server: ApiServer
    let close: () => Promise<void>

    beforeAll(async () => {
      const opened = await backend.open()
      server = await startApiServer(opened.db)
      close = async () => {
        await server.close()
        await opened.close()
      }
    }, 180_000)
    afterAll(() => close?.())

    const db = () => server.db
    const count = async (sql: string, params: unknown[] = []) => Number((await db().query<{ n: string }>(`select count(*)::text as n from ${sql}`, params))[0]!.n)
    const messagesOf = (ids: string[]) => count('chat_messages where chat_id = any($1::uuid[])', [ids])
    const archivedOf = (ids: string[]) => count('chat_messages_archive where chat_id = any($1::uuid[])', [ids])
    /** What the read model answers for a chat, without the retention marker. */
    const readModel = async (id: string) => {
      const { historyArchivedAt: _at, ...chat } = (await loadChat(db(), id))!
      return { chat, messages: (await listMessages(db(), id, 200, null)).nodes }
    }
    const append = async (id: string, events: { type: string; data: unknown }[], forkOf?: { stream: string; revision: bigint }) => {
      const appended = await server.store.appendToStream(chatStream(id), events.map((e) => ({ id: randomUUID(), ...e, metadata })), forkOf ? { forkOf } : {})
      await server.engine.waitForAll(appended.checkpoint)
    }
    const fork = (id: string, sourceChatId: string, atRevision: number) =>
      append(
        id,
        [
          { type: 'ChatForked', data: { chatId: id, sourceChatId, atRevision, ownerId: OWNER, organizationId: ORG, title: 'a fork', closedToolCallIds: [] } },
          { type: 'UserMessagePosted', data: { messageId: randomUUID(), parts: [{ type: 'text', text: 'Try another way.' }], authorId: OWNER } },
          // A turn ends it, so the fork is idle: a chat a runner still needs is never archived.
          { type: 'TurnStarted', data: { turnId: `t-${id}`, runnerId: 'runner-1', modelId: 'claude' } },
          { type: 'TurnCompleted', data: { turnId: `t-${id}` } },
        ],
        { stream: chatStream(sourceChatId), revision: BigInt(atRevision) },
      )
    const post = (id: string, text: string) => append(id, [{ type: 'UserMessagePosted', data: { messageId: randomUUID(), parts: [{ type: 'text', text }], authorId: OWNER } }])

    it('is an admin setting: bad values are refused, members cannot set it, a pass needs it set', async () => {
      const member = await server.user('member@example.com', 'member')
      const off = await server.gql(`mutation { runChatRetention { archivedChats } }`)
      expect(off.body.errors?.[0]?.message).toMatch(/chat retention is off/)
      for (const days of [0, -3, 1.5, 40_000]) {
        const bad = await server.gql(`mutation($days: Int) { setChatRetention(days: $days) }`, { days })
        expect(bad.body.errors?.[0]?.message, bad.text).toMatch(/whole number of days from 1 to 36500|Int cannot represent non-integer/)
      }
      const forbidden = await server.gql(`mutation { setChatRetention(days: 30) }`, {}, member.token)
      expect(forbidden.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
      expect((await server.gql(`mutation { setChatRetention(days: 30) }`)).body.data).toEqual({ setChatRetention: 30 })
      expect((await server.gql(`{ chatRetentionDays }`)).body.data).toEqual({ chatRetentionDays: 30 })
      // The audit log is a read model the mutation's answer does not read: it follows within moments.
      const summaries = async () =>
        (await server.gql(`{ auditLog(filter: { eventType: "ChatRetentionSet" }, first: 5) { nodes { summary } } }`)).body.data.auditLog.nodes.map((n: { summary: string }) => n.summary)
      await expect.poll(summaries, { timeout: 5_000 }).toContain('set chat retention to 30 days')
      // Nothing here is 30 days old.
      const pass = await server.gql(`mutation { runChatRetention { days archivedChats archivedMessages } }`)
      expect(pass.body.data).toEqual({ runChatRetention: { days: 30, archivedChats: 0, archivedMessages: 0 } })
      expect((await server.gql(`mutation { setChatRetention(days: null) }`)).body.data).toEqual({ setChatRetention: null })
    })

    it('archives old chats\' message rows without touching the log; they still read, fold, verify and export; activity restores them', async () => {
      const chatId = randomUUID()
      const forkId = randomUUID()
      await append(chatId, chatEvents(chatId))
      await pause(30)
      const between = new Date()
      await pause(30)
      await fork(forkId, chatId, 5)
      const ids = [chatId, forkId]
      const before = { chat: await readModel(chatId), fork: await readModel(forkId) }
      const rows = await messagesOf(ids)
      expect(rows).toBeGreaterThan(0)
      const events = await count('events')

      // The source is old but its fork is not: the fork reads through the source's rows, so neither moves.
      expect(await archiveOldChats(db(), between)).toEqual({ chats: 0, messages: 0 })

      const pass = await archiveOldChats(db(), new Date(Date.now() + 60_000))
      expect(pass.chats).toBeGreaterThanOrEqual(2)
      expect(await messagesOf(ids)).toBe(0)
      expect(await archivedOf(ids)).toBe(rows)
      expect((await loadChat(db(), chatId))!.historyArchivedAt).not.toBeNull()
      expect((await loadChat(db(), forkId))!.historyArchivedAt).not.toBeNull()
      expect(await count('events')).toBe(events)
      expect(await archiveOldChats(db(), new Date(Date.now() + 60_000))).toEqual({ chats: 0, messages: 0 })

      // The log is whole: every chain verifies, and the chat folds from it as the read model had it.
      const verified = await verifyChains(db())
      expect(verified.broken).toEqual([])
      expect(verified.ok).toBe(true)
      expect((await verifyChains(db(), { streams: await streamsOfChain(db(), chatStream(forkId)) })).ok).toBe(true)
      expect({ chat: await readModel(chatId), fork: await readModel(forkId) }).toEqual(before)
      const head = (await server.store.streamInfo(chatStream(forkId)))!.revision
      const folded = await chatAsOf(server.store, forkId, Number(head))
      expect(folded.history.messages.map((m) => [m.revision, m.role, m.inherited])).toEqual(
        before.fork.messages.map((m) => [m.revision, m.role, m.inherited]),
      )
      const lines: string[] = []
      const exported = await exportChatJsonl(server.store, forkId, (l) => void lines.push(l), { dataDir: server.dataDir })
      expect(exported.events).toBe(Number(head) + 1)
      expect(JSON.parse(lines.at(-1)!)).toMatchObject({ kind: 'end', events: Number(head) + 1 })

      // A new message on the fork brings its rows, and its source's, back to the hot table.
      await post(forkId, 'Back again.')
      expect(await archivedOf(ids)).toBe(0)
      expect(await messagesOf(ids)).toBe(rows + 1)
      expect((await loadChat(db(), chatId))!.historyArchivedAt).toBeNull()
      const after = await readModel(forkId)
      expect(after.messages.slice(0, -1)).toEqual(before.fork.messages)
      expect(after.messages.at(-1)!.parts).toEqual([{ type: 'text', text: 'Back again.' }])

      // A new fork of an archived chat brings the source's rows back too.
      const onlyChat = randomUUID()
      await append(onlyChat, chatEvents(onlyChat))
      await archiveOldChats(db(), new Date(Date.now() + 60_000))
      expect(await messagesOf([onlyChat])).toBe(0)
      const late = randomUUID()
      await fork(late, onlyChat, 7)
      expect(await archivedOf([onlyChat])).toBe(0)
      const lateMessages = (await readModel(late)).messages
      expect(lateMessages.filter((m) => m.inherited).map((m) => m.revision)).toEqual([1, 3, 5, 6, 7])
      expect((await verifyChains(db())).ok).toBe(true)
    })

    it("the server's pass follows the admin setting: off archives nothing, N days archives chats idle for longer", async () => {
      const chatId = randomUUID()
      await append(chatId, chatEvents(chatId))
      const logs: string[] = []
      const retention = new ChatRetention({ db: db(), retentionDays: async () => (await server.config.current()).chatRetentionDays, log: (l) => logs.push(l) })
      const inThreeDays = new Date(Date.now() + 3 * 24 * 60 * 60 * 1000)
      expect((await server.gql(`mutation { setChatRetention(days: null) }`)).body.errors).toBeUndefined()
      expect(await retention.runOnce(inThreeDays)).toBeNull()
      expect((await server.gql(`mutation { setChatRetention(days: 7) }`)).body.errors).toBeUndefined()
      expect(await retention.runOnce(inThreeDays)).toEqual({ chats: 0, messages: 0 })
      expect((await server.gql(`mutation { setChatRetention(days: 2) }`)).body.errors).toBeUndefined()
      const pass = (await retention.runOnce(inThreeDays))!
      expect(pass.chats).toBeGreaterThanOrEqual(1)
      expect(await messagesOf([chatId])).toBe(0)
      expect(logs.join('\n')).toMatch(/retention: archived the messages of \d+ chats idle for over 2 days/)
      await server.gql(`mutation { setChatRetention(days: null) }`)
    })

    it('a rebuilt chats projection starts with nothing archived and the same messages', async () => {
      const chatId = randomUUID()
      await append(chatId, chatEvents(chatId))
      await archiveOldChats(db(), new Date(Date.now() + 60_000))
      const before = await readModel(chatId)
      await server.engine.rebuild('chats') // replays the log to its head
      expect(await count('chat_messages_archive')).toBe(0)
      expect(await readModel(chatId)).toEqual(before)
      expect((await loadChat(db(), chatId))!.historyArchivedAt).toBeNull()
    })
  })
}
