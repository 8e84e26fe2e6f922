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
})
