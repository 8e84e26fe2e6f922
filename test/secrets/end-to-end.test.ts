// Secrets never stored, end to end on the real server: a command in a real local workspace
// prints the configured provider key and an AWS-style key, and the model repeats both in its
// streamed answer. No event, read model row, GraphQL answer, delta or log line may hold either.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatDecider } from '../../commands/chat/decide.ts'
import { handleCommand } from '../../commands/handler.ts'
import { ephemeralFor, type EphemeralItem } from '../../src/live/ephemeral.ts'
import { chatStream, DEFAULT_ORGANIZATION_ID } from '../../src/events/index.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { serverBackends } from '../support/databases.ts'
import { readyWorkspace, startWorkspaceServer, toolResults, type WorkspaceServer } from '../workspaces/harness.ts'

const PROVIDER_KEY = `sk-proj-${randomUUID().replaceAll('-', '')}Xy7`
const AWS_KEY = 'AKIAZ7QK3MVB5RXN2P4T'
const b64 = (s: string) => Buffer.from(s).toString('base64')
const SECRETS = [PROVIDER_KEY, AWS_KEY]
const holdsSecret = (text: string) => SECRETS.some((s) => text.includes(s))
const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))

const backends = serverBackends

for (const backend of backends) {
  describe.skipIf(!backend.available)(`secrets never stored, end to end, on ${backend.name}`, () => {
    let fake: FakeProvider
    let h: WorkspaceServer
    let drop = async () => {}

    beforeAll(async () => {
      fake = await startFakeProvider('openai-chat')
      const db = await backend.database()
      drop = db.drop
      h = await startWorkspaceServer(fake, { databaseUrl: db.url })
      await h.server.config.setProviderApiKey('fake', PROVIDER_KEY, { actor: { kind: 'system', id: 'test' } })
    }, 120_000)
    afterAll(async () => {
      await h?.close()
      await fake?.close()
      await drop()
    })

    it('redacts a workspace command’s output and the model’s streamed text before they reach the log, the read models, deltas and logs', async () => {
      const alice = await h.user('alice@example.com', 'member')
      const workspaceId = await readyWorkspace(h, alice.userId)
      const prompt = 'print the deployment keys'
      h.script(prompt, [
        { toolCalls: [{ id: 'c1', name: 'execute', arguments: { command: `printf %s ${b64(PROVIDER_KEY)} | base64 -d; echo; printf %s ${b64(AWS_KEY)} | base64 -d; echo` } }] },
        { text: `The provider key is ${PROVIDER_KEY} and the AWS key is ${AWS_KEY}. Rotate both.` },
      ])

      const chatId = randomUUID()
      const deltas: EphemeralItem[] = []
      const sub = ephemeralFor(h.server.db).subscribeEphemeral(chatId)
      const reading = (async () => {
        for await (const item of sub) deltas.push(item)
      })()
      const meta = { actor: { kind: 'user' as const, id: alice.userId }, organizationId: DEFAULT_ORGANIZATION_ID }
      await handleCommand(
        h.server.store,
        chatStream(chatId),
        chatDecider,
        { type: 'CreateChat', chatId, ownerId: alice.userId, organizationId: DEFAULT_ORGANIZATION_ID, title: 'New chat', modelId: null, workspaceId, planMode: false },
        { commandId: randomUUID(), metadata: meta },
      )
      await handleCommand(
        h.server.store,
        chatStream(chatId),
        chatDecider,
        { type: 'PostMessage', messageId: randomUUID(), authorId: alice.userId, parts: [{ type: 'text', text: prompt }], busyBehavior: 'QUEUE' },
        { commandId: randomUUID(), metadata: meta },
      )
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed'), 120_000)
      // The turn completed (a generated title may follow it).
      expect(events.filter((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed').map((e) => e.type)).toEqual(['TurnCompleted'])

      // The command really printed both keys; the stored result holds only markers.
      const result = toolResults(events).c1!
      expect(result.isError, result.result).toBe(false)
      expect(result.result).toContain('[redacted:provider_key]')
      expect(result.result).toContain('[redacted:aws_access_key]')
      const completed = events.find((e) => e.type === 'ToolCallCompleted')!
      expect(completed.metadata.redactions).toEqual([
        { kind: 'provider_key', count: 1 },
        { kind: 'aws_access_key', count: 1 },
      ])
      const answer = events.findLast((e) => e.type === 'AssistantStepCompleted')
      expect(answer?.type === 'AssistantStepCompleted' && answer.data.text).toBe(
        'The provider key is [redacted:provider_key] and the AWS key is [redacted:aws_access_key]. Rotate both.',
      )
      for (const e of events) expect(holdsSecret(json(e)), `${e.type} at ${e.revision}`).toBe(false)

      // Every table of the database: the log, the read models, the audit log.
      await h.server.engine.waitForAll(await h.server.store.headCheckpoint())
      const tables = await h.server.db.query<{ table_name: string }>(
        `select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`,
      )
      expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['events', 'chats', 'chat_messages', 'audit_log']))
      for (const { table_name } of tables) {
        const rows = await h.server.db.query(`select * from "${table_name}"`)
        expect(holdsSecret(json(rows)), table_name).toBe(false)
      }

      // What GraphQL answers the owner: events, messages, the chat as of its last revision.
      const gql = async (query: string) => {
        const res = await fetch(h.server.url + '/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.token}` },
          body: JSON.stringify({ query, variables: { id: chatId, rev: Number(events.at(-1)!.revision) } }),
        })
        return res.text()
      }
      const answers = await Promise.all([
        gql(`query($id: ID!) { chatEvents(chatId: $id) { type data } }`),
        gql(`query($id: ID!) { chatMessages(chatId: $id) { nodes { parts } } }`),
        gql(`query($id: ID!, $rev: Int!) { chatMessages(chatId: $id, asOfRevision: $rev) { nodes { parts } } }`),
      ])
      for (const a of answers) {
        expect(a).toContain('[redacted:')
        expect(holdsSecret(a)).toBe(false)
      }

      // The deltas: the streamed answer arrived redacted, with nothing of either key in any chunk.
      const deadline = Date.now() + 10_000
      while (!deltas.some((d) => d.kind === 'StatusChanged' && d.status === 'waiting') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      await sub.close()
      await reading
      const streamed = deltas.flatMap((d) => (d.kind === 'TextDelta' ? [d.delta] : [])).join('')
      expect(streamed).toContain('[redacted:provider_key]')
      for (const d of deltas) expect(holdsSecret(JSON.stringify(d))).toBe(false)
      for (const s of SECRETS) expect(deltas.some((d) => JSON.stringify(d).includes(s.slice(0, 10)))).toBe(false)

      expect(h.logs.filter(holdsSecret)).toEqual([])
    }, 180_000)
  })
}
