import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Tool } from '../../src/agent/tools/registry.ts'
import { ChatRenderer } from '../../src/cli/chat-render.ts'
import { backends } from '../support/databases.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { runCairn, startChatServer, type ChatServer } from './harness.ts'

const echoTool: Tool = {
  name: 'echo',
  description: 'Echoes its text back.',
  inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
  async run(args) {
    return { content: `echo: ${(args as { text: string }).text}\nsecond line`, isError: false }
  },
}

for (const backend of backends) {
  describe.skipIf(!backend.available)(`cairn chat against a real server on ${backend.name}`, () => {
    let fake: FakeProvider
    let server: ChatServer
    let closeDb: () => Promise<void>

    beforeAll(async () => {
      fake = await startFakeProvider('anthropic')
      fake.setDefault(() => ({ text: 'A title' }))
      const opened = await backend.open()
      closeDb = opened.close
      server = await startChatServer(opened.db, fake, [echoTool])
    })
    afterAll(async () => {
      await server?.close()
      await closeDb?.()
      await fake?.close()
    })

    it('--send --wait prints the streamed answer and the tool calls, then exits 0 when the turn completes', async () => {
      fake.enqueue(
        { toolCalls: [{ name: 'echo', arguments: { text: 'hi' } }] },
        { text: 'Hello from the fake model, streamed in pieces.', chunkDelayMs: 30 },
      )
      const run = await runCairn(['chat', '--send', 'hello', '--wait', '--url', server.url, '--token', server.adminToken])
      expect(run.stderr).toBe('')
      expect(run.code).toBe(0)
      expect(run.stdout).toContain('⚙ echo(text="hi")')
      expect(run.stdout).toContain('✓ ok echo')
      expect(run.stdout).toContain('echo: hi')
      expect(run.stdout).toContain('Hello from the fake model, streamed in pieces.')
      // Streamed once, not again from the committed step.
      expect(run.stdout.split('Hello from the fake model').length).toBe(2)
    })

    it('--send --wait exits non-zero with the provider error when the turn fails', async () => {
      fake.enqueue({ fault: { status: 401, message: 'invalid x-api-key (fake)' } })
      const run = await runCairn(['chat', '--send', 'hello', '--wait', '--url', server.url, '--token', server.adminToken])
      expect(run.code).toBe(1)
      expect(run.stderr).toContain('the turn failed')
      expect(run.stderr).toContain('invalid x-api-key (fake)')
    })

    it('finds the admin token in CAIRN_DATA_DIR and sends without waiting', async () => {
      const run = await runCairn(['chat', '--send', 'fire and forget', '--url', server.url], { CAIRN_DATA_DIR: server.dataDir })
      expect(run.stderr).toBe('')
      expect(run.code).toBe(0)
      expect(run.stdout).toMatch(/^chat [0-9a-f-]{36}: message [0-9a-f-]{36} posted/)
    })

    it('refuses a bad token with a message and a non-zero exit', async () => {
      const run = await runCairn(['chat', '--send', 'hi', '--wait', '--url', server.url, '--token', 'cairn_nope'])
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(/cairn chat: .*UNAUTHENTICATED/)
    })
  })
}

describe('chat renderer', () => {
  const render = () => {
    let out = ''
    return { r: new ChatRenderer({ write: (t) => (out += t), verbose: true }), out: () => out }
  }

  it('prints the committed step text only when no deltas streamed for it', () => {
    const a = render()
    a.r.render({ __typename: 'TextDelta', turnId: 't', stepId: 's', delta: 'Hel' })
    a.r.render({ __typename: 'TextDelta', turnId: 't', stepId: 's', delta: 'lo' })
    a.r.render({ __typename: 'ChatEventItem', event: { revision: 3, type: 'AssistantStepCompleted', data: { text: 'Hello' } } })
    expect(a.out()).toBe('Hello')
    const b = render()
    b.r.render({ __typename: 'ChatEventItem', event: { revision: 3, type: 'AssistantStepCompleted', data: { text: 'Hello' } } })
    expect(b.out()).toBe('Hello')
  })

  it('shows a queued message, a tool call with short args and the first lines of its result', () => {
    const a = render()
    a.r.render({ __typename: 'ChatEventItem', event: { revision: 1, type: 'MessageQueued', data: { parts: [{ type: 'text', text: 'next' }] } } })
    a.r.render({ __typename: 'ChatEventItem', event: { revision: 2, type: 'ToolCallStarted', data: { name: 'read', arguments: { path: 'a.ts' } } } })
    a.r.render({
      __typename: 'ChatEventItem',
      event: { revision: 3, type: 'ToolCallCompleted', data: { name: 'read', isError: true, durationMs: 4, result: '1\n2\n3\n4\n5' } },
    })
    expect(a.out()).toBe('(queued: next)\n⚙ read(path="a.ts")\n  ✗ error read (4 ms): 1\n    2\n    3\n    … (2 more lines)\n')
  })
})
