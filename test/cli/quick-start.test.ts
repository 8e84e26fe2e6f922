// The first-run experience: `cairn serve` with OPENAI_BASE_URL set configures a provider and a
// default model by itself, and `cairn chat --send … --wait` gets a streamed answer from it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { cairnEnv, runCairn, serveCairn, type ServedCairn } from './run-cairn.ts'

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
