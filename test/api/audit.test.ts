// The auditor's API on a real server: verifyChat, the audit log's filters and its streamed export.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatStream } from '../../src/events/chat.ts'
import { backends } from '../support/databases.ts'
import { startApiServer, type ApiServer } from './harness.ts'

for (const backend of backends) {
  describe.skipIf(!backend.available)(`the audit API on ${backend.name}`, () => {
    let server: ApiServer
    let close: () => Promise<void>
    let auditor: string
    let member: { token: string; userId: string }
    let chatId: string
    let otherChatId: string

    beforeAll(async () => {
      const opened = await backend.open()
      server = await startApiServer(opened.db)
      close = async () => {
        await server.close()
        await opened.close()
      }
      auditor = (await server.user('audrey@example.com', 'auditor')).token
      member = await server.user('mia@example.com', 'member')
      const created = await server.gql(`mutation { createChat(input: { title: "Parser", modelId: "claude", firstMessage: "Please refactor the tokenizer, carefully" }) { id } }`, {}, member.token)
      chatId = created.body.data.createChat.id
      const other = await server.gql(`mutation { createChat(input: { title: "Docs", modelId: "claude", firstMessage: "Write the README" }) { id } }`, {}, member.token)
      otherChatId = other.body.data.createChat.id
      await server.engine.waitForAll(await server.store.headCheckpoint())
    })
    afterAll(() => close())

    const AUDIT = `query($filter: AuditLogFilter, $first: Int, $after: String) {
      auditLog(filter: $filter, first: $first, after: $after) { nodes { eventType chatId userId summary } pageInfo { hasNextPage endCursor } } }`

    it('filters the audit log by message text, chat, user and type', async () => {
      const byText = await server.gql(AUDIT, { filter: { text: 'TOKENIZER' } }, auditor)
      expect(byText.body.errors).toBeUndefined()
      expect(byText.body.data.auditLog.nodes).toEqual([expect.objectContaining({ eventType: 'UserMessagePosted', chatId, userId: member.userId })])

      const byChat = await server.gql(AUDIT, { filter: { chatId: otherChatId, eventType: 'ChatCreated' } }, auditor)
      expect(byChat.body.data.auditLog.nodes).toEqual([expect.objectContaining({ eventType: 'ChatCreated', chatId: otherChatId })])

      const byUser = await server.gql(AUDIT, { filter: { userId: member.userId } }, auditor)
      const nodes = byUser.body.data.auditLog.nodes as { chatId: string | null; userId: string }[]
      expect(nodes.every((n) => n.userId === member.userId)).toBe(true)
      expect(new Set(nodes.map((n) => n.chatId))).toEqual(new Set([chatId, otherChatId]))

      const nobody = await server.gql(AUDIT, { filter: { onBehalfOf: member.userId } }, auditor)
      expect(nobody.body.data.auditLog.nodes).toEqual([])
      const badWorkspace = await server.gql(AUDIT, { filter: { workspaceId: 'nope' } }, auditor)
      expect(badWorkspace.body.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT')
    })

    it('pages with a cursor, every entry once', async () => {
      const all = await server.gql(AUDIT, { first: 200 }, auditor)
      const total = all.body.data.auditLog.nodes.length
      const seen: string[] = []
      let after: string | null = null
      for (;;) {
        const page: any = await server.gql(AUDIT, { first: 2, after }, auditor)
        seen.push(...page.body.data.auditLog.nodes.map((n: { summary: string; eventType: string }) => n.eventType + n.summary))
        if (!page.body.data.auditLog.pageInfo.hasNextPage) break
        after = page.body.data.auditLog.pageInfo.endCursor
      }
      expect(seen).toHaveLength(total)
      expect(seen).toEqual(all.body.data.auditLog.nodes.map((n: { summary: string; eventType: string }) => n.eventType + n.summary))
    })

    it('exports the filtered audit log as CSV and JSON lines to auditors only', async () => {
      const get = (query: string, token?: string) =>
        fetch(`${server.url}/api/v1/audit-log/export?${query}`, { headers: token ? { authorization: `Bearer ${token}` } : {} })
      const csv = await get(`format=csv&chatId=${chatId}`, auditor)
      expect(csv.status).toBe(200)
      expect(csv.headers.get('content-type')).toMatch(/^text\/csv/)
      const lines = (await csv.text()).trim().split('\r\n')
      expect(lines[0]).toBe('position,occurred_at,event_type,actor_kind,actor_id,on_behalf_of,user_id,chat_id,workspace_id,stream,revision,event_id,summary')
      expect(lines.slice(1).every((l) => l.includes(chatId))).toBe(true)
      expect(lines.some((l) => l.includes('UserMessagePosted') && l.includes('Please refactor the tokenizer'))).toBe(true)

      const jsonl = await get(`format=jsonl&text=readme`, auditor)
      const entries = (await jsonl.text()).trim().split('\n').map((l) => JSON.parse(l))
      expect(entries).toEqual([expect.objectContaining({ eventType: 'UserMessagePosted', chatId: otherChatId })])

      expect((await get('format=csv')).status).toBe(401)
      expect((await get('format=csv', member.token)).status).toBe(403)
      const bad = await get('format=xml', auditor)
      expect(bad.status).toBe(400)
      expect(await bad.json()).toEqual({ error: { code: 'INVALID_INPUT', message: 'format must be csv or jsonl; got xml' } })
    })

    it('verifyChat re-hashes the chain and names a row edited in the database', async () => {
      const VERIFY = 'query($chatId: ID!) { verifyChat(chatId: $chatId) { ok streams events broken { stream kind revision expectedHash storedHash message } } }'
      const clean = await server.gql(VERIFY, { chatId }, auditor)
      expect(clean.body.errors).toBeUndefined()
      expect(clean.body.data.verifyChat).toMatchObject({ ok: true, streams: 1, broken: [] })
      expect(clean.body.data.verifyChat.events).toBeGreaterThan(1)

      await server.db.query(`update events set data = jsonb_set(data, '{title}', '"Renamed in SQL"') where stream = $1 and revision = 0`, [chatStream(chatId)])
      const broken = await server.gql(VERIFY, { chatId }, auditor)
      expect(broken.body.data.verifyChat.ok).toBe(false)
      expect(broken.body.data.verifyChat.broken).toEqual([
        expect.objectContaining({ stream: chatStream(chatId), kind: 'HASH_MISMATCH', revision: 0, expectedHash: expect.stringMatching(/^[0-9a-f]{64}$/), storedHash: expect.stringMatching(/^[0-9a-f]{64}$/) }),
      ])
      // The other chat is untouched.
      expect((await server.gql(VERIFY, { chatId: otherChatId }, auditor)).body.data.verifyChat.ok).toBe(true)

      // A stream deleted outright (events and head) while the read model still lists the chat.
      await server.db.query(`delete from events where stream = $1`, [chatStream(otherChatId)])
      await server.db.query(`delete from streams where stream = $1`, [chatStream(otherChatId)])
      const gone = await server.gql(VERIFY, { chatId: otherChatId }, auditor)
      expect(gone.body.data.verifyChat).toMatchObject({ ok: false, streams: 0, broken: [expect.objectContaining({ kind: 'MISSING_EVENT', revision: 0 })] })
    })
  })
}
