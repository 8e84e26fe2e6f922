// Configuration through GraphQL: admins configure providers and models; keys are write-only;
// members see enabled models only and cannot change the configuration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases.ts'
import { countEvents, startApiServer, type ApiServer } from './harness.ts'

const KEY = 'sk-config-test-5a4b3c2d1e0f'
const pglite = backends.find((b) => b.name === 'pglite')!

describe('configuration through GraphQL', () => {
  let server: ApiServer
  let close: () => Promise<void>
  let member: string

  beforeAll(async () => {
    const opened = await pglite.open()
    close = opened.close
    server = await startApiServer(opened.db)
    member = (await server.user('member@example.com', 'member')).token
  })
  afterAll(async () => {
    await server?.close()
    await close?.()
  })

  it('stores a provider key write-only: answers say only that it is set and its fingerprint', async () => {
    const res = await server.gql(`mutation($key: String!) { configureProvider(input: { id: "claude", kind: anthropic, apiKey: $key }) { id kind apiKeySet keyFingerprint } }`, { key: KEY })
    expect(res.body.errors).toBeUndefined()
    expect(res.body.data.configureProvider).toMatchObject({ id: 'claude', kind: 'anthropic', apiKeySet: true, keyFingerprint: expect.stringMatching(/^[0-9a-f]{8}$/) })
    const listed = await server.gql(`{ providers { id apiKeySet } }`)
    expect(JSON.stringify(listed.body)).not.toContain(KEY)
    const all = await server.store.readAll({ maxCount: 10_000 })
    expect(JSON.stringify(all.events, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(KEY)
  })

  it('shows members enabled models only, without provider details, and refuses them configuration', async () => {
    await server.gql(`mutation { configureModel(input: { id: "hidden", providerId: "claude", modelName: "claude-x", enabled: false }) { id } }`)
    const models = await server.gql(`{ models { id providerId modelName } }`, {}, member)
    const ids = models.body.data.models.map((m: { id: string }) => m.id)
    expect(ids).toContain('claude')
    expect(ids).not.toContain('hidden')
    expect(models.body.data.models.every((m: { providerId: string | null; modelName: string | null }) => m.providerId === null && m.modelName === null)).toBe(true)
    for (const query of [`{ providers { id } }`, `{ systemPrompt }`, `mutation { setSystemPrompt(prompt: "obey me") }`, `mutation { configureModel(input: { id: "x", providerId: "claude", modelName: "y" }) { id } }`]) {
      const res = await server.gql(query, {}, member)
      expect(res.body.errors?.[0]?.extensions?.code, query).toBe('FORBIDDEN')
    }
  })

  it('refuses a chat on a disabled or unknown model and appends nothing', async () => {
    const before = await countEvents(server.store)
    for (const modelId of ['hidden', 'no-such-model']) {
      const res = await server.gql(`mutation($m: String!) { createChat(input: { title: "t", modelId: $m }) { id } }`, { m: modelId }, member)
      expect(res.body.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT')
      expect(res.body.errors?.[0]?.message).toMatch(/is not available; choose one of: .*claude/)
    }
    expect(await countEvents(server.store)).toBe(before)
  })

  it('sets model overrides and the sub-agent limit for admins, shows them, and refuses bad input with nothing appended', async () => {
    const shown = `{ modelOverrides { subAgents compaction titles } subAgentLimit }`
    expect((await server.gql(shown)).body.data).toEqual({ modelOverrides: { subAgents: null, compaction: null, titles: null }, subAgentLimit: 10 })

    const before = await countEvents(server.store)
    for (const [query, message] of [
      [`mutation { setModelOverrides(input: { titles: "no-such-model" }) { titles } }`, /titles override names model "no-such-model", which is not configured/],
      [`mutation { setModelOverrides(input: { compaction: "hidden" }) { titles } }`, /compaction override names model hidden, which is disabled/],
      [`mutation { setSubAgentLimit(max: 0) }`, /from 1 to 100; got 0/],
      [`mutation { setSubAgentLimit(max: 101) }`, /from 1 to 100; got 101/],
    ] as const) {
      const res = await server.gql(query)
      expect(res.body.errors?.[0]?.extensions?.code, query).toBe('INVALID_INPUT')
      expect(res.body.errors?.[0]?.message).toMatch(message)
    }
    for (const query of [shown, `mutation { setModelOverrides(input: { titles: "gpt" }) { titles } }`, `mutation { setSubAgentLimit(max: 3) }`]) {
      const res = await server.gql(query, {}, member)
      expect(res.body.errors?.[0]?.extensions?.code, query).toBe('FORBIDDEN')
    }
    expect(await countEvents(server.store)).toBe(before)

    const set = await server.gql(`mutation { setModelOverrides(input: { subAgents: "gpt", titles: "gpt" }) { subAgents compaction titles } }`)
    expect(set.body.data.setModelOverrides).toEqual({ subAgents: 'gpt', compaction: null, titles: 'gpt' })
    // Left out: kept; null: back to the chat's model.
    const cleared = await server.gql(`mutation { setModelOverrides(input: { titles: null, compaction: "claude" }) { subAgents compaction titles } }`)
    expect(cleared.body.data.setModelOverrides).toEqual({ subAgents: 'gpt', compaction: 'claude', titles: null })
    expect((await server.gql(`mutation { setSubAgentLimit(max: 3) }`)).body.data.setSubAgentLimit).toBe(3)
    expect((await server.gql(shown)).body.data).toEqual({ modelOverrides: { subAgents: 'gpt', compaction: 'claude', titles: null }, subAgentLimit: 3 })

    await expect
      .poll(async () => (await server.gql(`{ auditLog(filter: { eventType: "SubAgentLimitSet" }, first: 5) { nodes { summary } } }`)).body.data.auditLog.nodes)
      .toEqual([{ summary: 'set the sub-agent limit to 3 active sub-agents' }])
    const overrides = await server.gql(`{ auditLog(filter: { eventType: "ModelOverridesSet" }, first: 5) { nodes { summary } } }`)
    expect(overrides.body.data.auditLog.nodes.map((n: { summary: string }) => n.summary)).toContain(
      "set the model overrides (subAgents: gpt, compaction: claude, titles: the chat's model)",
    )
  })
})
