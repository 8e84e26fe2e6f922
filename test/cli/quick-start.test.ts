// The first-run experience: `cairn serve` with OPENAI_BASE_URL set configures a provider and a
// default model by itself, and `cairn chat --send … --wait` gets a streamed answer from it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'
import { cairnEnv, dataOf, postGraphQL, runCairn, serveCairn, type ServedCairn } from './run-cairn.ts'

describe('quick start from the environment', { timeout: 120_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-quick-'))
  let fake: FakeProvider | undefined
  let server: ServedCairn | undefined

  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM')
      await new Promise((r) => server!.child.once('close', r))
    }
    await fake?.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('configures an OpenAI-compatible endpoint at start and answers a scripted chat', async () => {
    fake = await startFakeProvider('openai-chat')
    fake.setDefault(() => ({ text: 'Hello from the local model.' }))
    const env = cairnEnv({ DATABASE_URL: undefined, CAIRN_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', OPENAI_BASE_URL: fake.baseUrl, OPENAI_MODEL: 'local-llm', OPENAI_API_KEY: undefined, ANTHROPIC_API_KEY: undefined, GOOGLE_API_KEY: undefined })
    server = await serveCairn(env)
    expect(server.output()).toMatch(/configured provider openai-compatible and model local-llm from OPENAI_BASE_URL/)

    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()
    const chat = await runCairn(['chat', '--url', server.url, '--token', token, '--send', 'say hello', '--wait'], env)
    expect(chat.stderr).toBe('')
    expect(chat.code).toBe(0)
    expect(chat.stdout).toContain('Hello from the local model.')
    expect((fake.requests.at(0) as { model: string }).model).toBe('local-llm')
  })
})

// The official SDKs read OPENAI_API_KEY and OPENAI_BASE_URL together: so does the quick start.
for (const backend of ['pglite', 'postgres'] as const) {
  describe.skipIf(backend === 'postgres' && !postgresAvailable)(`quick start from OPENAI_API_KEY and OPENAI_BASE_URL together on ${backend}`, { timeout: 120_000 }, () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cairn-quick-'))
    let fake: FakeProvider | undefined
    let server: ServedCairn | undefined
    let fresh: { url: string; drop(): Promise<void> } | undefined

    afterAll(async () => {
      if (server && server.child.exitCode === null) {
        server.child.kill('SIGTERM')
        await new Promise((r) => server!.child.once('close', r))
      }
      await fake?.close()
      await fresh?.drop()
      rmSync(dataDir, { recursive: true, force: true })
    })

    it('configures one provider at that base URL with that key, and chats go there', async () => {
      fake = await startFakeProvider('openai-chat')
      fake.setDefault(() => ({ text: 'Hello through the gateway.' }))
      if (backend === 'postgres') fresh = await createFreshPostgresDatabase()
      const key = 'sk-gateway-test-4c1f9a'
      const env = cairnEnv({ DATABASE_URL: fresh?.url, CAIRN_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', OPENAI_BASE_URL: fake.baseUrl, OPENAI_API_KEY: key, OPENAI_MODEL: 'gateway-model', ANTHROPIC_API_KEY: undefined, GOOGLE_API_KEY: undefined })
      server = await serveCairn(env)
      expect(server.output().match(/configured provider/g)).toHaveLength(1)
      expect(server.output()).toMatch(/configured provider openai-compatible and model gateway-model from OPENAI_BASE_URL and OPENAI_API_KEY/)

      const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()
      const config = dataOf(await postGraphQL(server.url, token, `{ providers { id kind baseUrl apiKeySet } models { id providerId isDefault } }`))
      expect(config.providers).toEqual([{ id: 'openai-compatible', kind: 'openai_compatible', baseUrl: fake.baseUrl, apiKeySet: true }])
      expect(config.models).toEqual([{ id: 'gateway-model', providerId: 'openai-compatible', isDefault: true }])

      const chat = await runCairn(['chat', '--url', server.url, '--token', token, '--send', 'say hello', '--wait'], env)
      expect(chat.code).toBe(0)
      expect(chat.stdout).toContain('Hello through the gateway.')
      expect(fake.headers.at(0)?.authorization).toBe(`Bearer ${key}`)
      expect(server.output()).not.toContain(key)
    })
  })
}
