// Chat debug logs on the real server: the admin switch and the owner's toggle through GraphQL,
// turns against the wire-faithful fakes (the official SDKs parse them), the rows in
// chat_debug_logs, who may read them, and the retention pass.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeProvider, type FakeKind, type FakeProvider } from '../fakes/script.ts'
import { startApiServer, type ApiServer } from './harness.ts'
import { backends } from '../support/databases.ts'
import { chatStream } from '../../src/events/index.ts'
import { ChatDebugLogRetention } from '../../src/debuglog/retention.ts'

/** GraphQL provider kind, extra provider input, and what the streamed response must hold. */
const PROVIDERS: { fake: FakeKind; kind: string; extra: string; responseHas: string; requestHas: (body: any) => boolean }[] = [
  { fake: 'openai-chat', kind: 'openai_chat', extra: '', responseHas: 'data: [DONE]', requestHas: (b) => b.stream === true && Array.isArray(b.messages) },
  { fake: 'anthropic', kind: 'anthropic', extra: '', responseHas: 'event: message_start', requestHas: (b) => b.stream === true && Array.isArray(b.messages) },
  { fake: 'openai-responses', kind: 'openai_responses', extra: '', responseHas: 'event: response.completed', requestHas: (b) => b.stream === true && Array.isArray(b.input) },
  { fake: 'google', kind: 'google', extra: '', responseHas: '"candidates"', requestHas: (b) => Array.isArray(b.contents) },
  { fake: 'bedrock', kind: 'bedrock', extra: ', region: "us-east-1"', responseHas: '"type":"message_start"', requestHas: (b) => Array.isArray(b.messages) },
]

const keyOf = (fake: FakeKind) => `sk-debuglog-${fake}-9f8e7d6c5b4a3210fedcba`
const SECRET_HEADERS = ['authorization', 'x-api-key', 'x-goog-api-key', 'api-key']

const LOG = `query($id: ID!, $first: Int, $after: String) { chatDebugLog(chatId: $id, first: $first, after: $after) {
  nodes { id chatId turnId step provider method urlPath requestHeaders requestBody status responseHeaders responseBody durationMs createdAt }
  pageInfo { hasNextPage endCursor }
} }`

describe.each(backends.filter((b) => b.available))('chat debug logs on $name', (backend) => {
  let server: ApiServer
  let close: () => Promise<void>
  const fakes = new Map<FakeKind, FakeProvider>()
  let owner: { token: string; userId: string }
  let other: { token: string; userId: string }
  let auditor: { token: string; userId: string }

  beforeAll(async () => {
    const opened = await backend.open()
    close = opened.close
    server = await startApiServer(opened.db, { runner: true })
    for (const p of PROVIDERS) {
      const fake = await startFakeProvider(p.fake)
      fakes.set(p.fake, fake)
      const provider = await server.gql(
        `mutation($url: String!, $key: String!) { configureProvider(input: { id: "${p.fake}", kind: ${p.kind}, baseUrl: $url, apiKey: $key${p.extra} }) { id } }`,
        { url: fake.baseUrl, key: keyOf(p.fake) },
      )
      expect(provider.body.errors).toBeUndefined()
      const model = await server.gql(
        `mutation { configureModel(input: { id: "m-${p.fake}", providerId: "${p.fake}", modelName: "model-${p.fake}", enabled: true, isDefault: false, contextWindow: 100000, compactionThresholdPercent: 90 }) { id } }`,
      )
      expect(model.body.errors).toBeUndefined()
    }
    owner = await server.user('owner@example.com', 'member')
    other = await server.user('other@example.com', 'member')
    auditor = await server.user('auditor@example.com', 'auditor')
  }, 60_000)
  afterAll(async () => {
    await server?.close()
    await close?.()
    for (const f of fakes.values()) await f.close()
  })

  /** A chat of `token`'s user on the provider's model; its one turn ends (the provider echoes the key). */
  async function chatTurn(fake: FakeKind, token: string): Promise<string> {
    fakes.get(fake)!.enqueue({ text: `echoing ${keyOf(fake)} back`, usage: { input: 10, output: 5 } })
    const res = await server.gql(
      `mutation($m: String!, $t: String!) { createChat(input: { title: "kept", modelId: $m, firstMessage: $t }) { id } }`,
      { m: `m-${fake}`, t: `please use my key ${keyOf(fake)} and say hi` },
      token,
    )
    expect(res.body.errors).toBeUndefined()
    const chatId: string = res.body.data.createChat.id
    const deadline = Date.now() + 20_000
    for (;;) {
      const events = await server.store.readStream(chatStream(chatId))
      const end = events.find((e) => ['TurnCompleted', 'TurnFailed', 'TurnInterrupted'].includes(e.type))
      if (end) {
        expect(end.type, JSON.stringify(end.data)).toBe('TurnCompleted')
        return chatId
      }
      if (Date.now() > deadline) throw new Error(`turn did not end: ${events.map((e) => e.type).join(', ')}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  async function rowsOf(chatId: string, atLeast: number) {
    const deadline = Date.now() + (atLeast ? 5_000 : 500)
    for (;;) {
      const rows = await server.db.query<Record<string, any>>('select * from chat_debug_logs where chat_id = $1 order by id', [chatId])
      if (rows.length >= atLeast && (atLeast || Date.now() > deadline)) return rows
      if (Date.now() > deadline) return rows
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  const setAdmin = (enabled: boolean) =>
    server.gql(`mutation($e: Boolean!) { setChatDebugLogging(enabled: $e, retentionDays: 7) { enabled retentionDays } }`, { e: enabled })
  const setMine = (token: string, enabled: boolean) => server.gql(`mutation($e: Boolean!) { setMyChatDebugLogging(enabled: $e) }`, { e: enabled }, token)

  it('keeps no rows while either switch is off', async () => {
    expect((await setMine(owner.token, true)).body.data.setMyChatDebugLogging).toBe(true)
    const adminOff = await chatTurn('openai-chat', owner.token)
    expect(await rowsOf(adminOff, 0)).toHaveLength(0)

    expect((await setAdmin(true)).body.data.setChatDebugLogging).toEqual({ enabled: true, retentionDays: 7 })
    expect((await server.gql('{ myChatDebugLogging }', {}, other.token)).body.data.myChatDebugLogging).toBe(false)
    const toggleOff = await chatTurn('openai-chat', other.token)
    expect(await rowsOf(toggleOff, 0)).toHaveLength(0)
  }, 60_000)

  let openaiChat = ''
  it.each(PROVIDERS)('with both on, keeps the $fake request as the SDK sent it and the streamed response as received', async (p) => {
    await setAdmin(true)
    await setMine(owner.token, true)
    const chatId = await chatTurn(p.fake, owner.token)
    if (p.fake === 'openai-chat') openaiChat = chatId
    const [row] = await rowsOf(chatId, 1)
    expect(row).toBeDefined()
    expect(row!.method).toBe('POST')
    expect(row!.status).toBe(200)
    expect(row!.step).toBe(0)
    expect(row!.provider).toBe(p.fake)
    expect(p.requestHas(JSON.parse(row!.request_body))).toBe(true)
    // The request carried the user's text; the key in it is redacted.
    expect(row!.request_body).toContain('please use my key [redacted:provider_key] and say hi')
    expect(row!.response_body).toContain(p.responseHas)
    expect(row!.response_body).toContain('[redacted:provider_key]')
    const headers = { ...JSON.parse(JSON.stringify(row!.request_headers)), ...JSON.parse(JSON.stringify(row!.response_headers)) }
    for (const h of SECRET_HEADERS) expect(Object.keys(headers).map((k) => k.toLowerCase())).not.toContain(h)
    expect(row!.request_headers['content-type']).toContain('json')
  }, 60_000)

  it('stores no provider key anywhere in the table, and answers none over GraphQL', async () => {
    const table = JSON.stringify(await server.db.query('select * from chat_debug_logs'))
    expect(table.length).toBeGreaterThan(1000)
    for (const p of PROVIDERS) expect(table).not.toContain(keyOf(p.fake))
    // The fakes stream the echoed key in pieces across frames: no piece of its secret part is left either.
    const tail = '9f8e7d6c5b4a3210fedcba'
    for (let i = 0; i + 6 <= tail.length; i++) expect(table).not.toContain(tail.slice(i, i + 6))
    expect(table).not.toMatch(/bearer\s+sk-/i)
    const answer = await server.gql(LOG, { id: openaiChat, first: 100 })
    expect(answer.body.errors).toBeUndefined()
    for (const p of PROVIDERS) expect(answer.text).not.toContain(keyOf(p.fake))
  })

  it("lets the chat's owner and admins read its log; another member gets what a missing chat gets; an auditor is refused", async () => {
    const asOwner = await server.gql(LOG, { id: openaiChat }, owner.token)
    expect(asOwner.body.errors).toBeUndefined()
    expect(asOwner.body.data.chatDebugLog.nodes.length).toBeGreaterThanOrEqual(1)
    expect(asOwner.body.data.chatDebugLog.nodes[0].requestBody).toContain('"stream":true')
    const asAdmin = await server.gql(LOG, { id: openaiChat })
    expect(asAdmin.body.data.chatDebugLog.nodes).toEqual(asOwner.body.data.chatDebugLog.nodes)

    const asOther = await server.gql(LOG, { id: openaiChat }, other.token)
    const missing = await server.gql(LOG, { id: '5b0e1c3e-0000-4000-8000-000000000000' }, other.token)
    expect(asOther.body.errors?.[0]?.extensions?.code).toBe('CHAT_NOT_FOUND')
    expect(asOther.body.data ?? null).toEqual(missing.body.data ?? null)
    expect(asOther.body.errors![0]!.message).toBe(missing.body.errors![0]!.message)
    expect(asOther.status).toBe(missing.status)

    const asAuditor = await server.gql(LOG, { id: openaiChat }, auditor.token)
    expect(asAuditor.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    expect(asAuditor.text).not.toContain('requestBody":"')
    const anonymous = await server.gql(LOG, { id: openaiChat }, null)
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED')
    // Members may not change the admin switch.
    expect((await server.gql(`mutation { setChatDebugLogging(enabled: false) { enabled } }`, {}, owner.token)).body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
  })

  it('pages the log by cursor', async () => {
    const all = (await server.gql(LOG, { id: openaiChat, first: 100 })).body.data.chatDebugLog.nodes
    const first = (await server.gql(LOG, { id: openaiChat, first: 1 })).body.data.chatDebugLog
    expect(first.nodes).toEqual(all.slice(0, 1))
    expect(first.pageInfo.hasNextPage).toBe(all.length > 1)
    const rest = (await server.gql(LOG, { id: openaiChat, first: 100, after: first.pageInfo.endCursor })).body.data.chatDebugLog
    expect(rest.nodes).toEqual(all.slice(1))
  })

  it('deletes rows older than the retention period and keeps the rest', async () => {
    const before = Number((await server.db.query<{ n: string }>('select count(*)::text as n from chat_debug_logs'))[0]!.n)
    expect(before).toBeGreaterThanOrEqual(PROVIDERS.length)
    await server.db.query(`update chat_debug_logs set created_at = now() - interval '8 days' where chat_id = $1`, [openaiChat])
    const aged = Number((await server.db.query<{ n: string }>('select count(*)::text as n from chat_debug_logs where chat_id = $1', [openaiChat]))[0]!.n)
    const retention = new ChatDebugLogRetention({ db: server.db, config: server.config, log: () => {} })
    expect(await retention.runOnce()).toBe(aged)
    expect(await rowsOf(openaiChat, 0)).toHaveLength(0)
    const after = Number((await server.db.query<{ n: string }>('select count(*)::text as n from chat_debug_logs'))[0]!.n)
    expect(after).toBe(before - aged)
    expect(await retention.runOnce()).toBe(0)
  })
})
