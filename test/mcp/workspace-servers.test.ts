// A workspace's `.mcp.json` stdio servers, run by its daemon inside the sandbox and called through the loop.
import { existsSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { serverBackends } from '../support/databases.ts'
import { readyWorkspace, startWorkspaceServer, toolResults, wireText, type WireMessage, type WorkspaceServer } from '../workspaces/harness.ts'
import { bubblewrapPath } from '../../src/workspaces/provisioners/local.ts'
import { EVERYTHING_DIST } from './servers.ts'

const backends = serverBackends

const sdk = (file: string) => createRequire(import.meta.url).resolve(`@modelcontextprotocol/sdk/${file}`)

/** A stdio MCP server that reports what its process sees: cwd, a path of the data dir, its environment. */
const PROBE = `
import { existsSync } from 'node:fs'
import { McpServer } from ${JSON.stringify(sdk('server/mcp.js'))}
import { StdioServerTransport } from ${JSON.stringify(sdk('server/stdio.js'))}
const server = new McpServer({ name: 'probe', version: '1.0.0' })
server.registerTool('probe', { description: 'What this process sees' }, async () => ({
  content: [{ type: 'text', text: JSON.stringify({ cwd: process.cwd(), secretKeyVisible: existsSync(process.env.SECRET_KEY_FILE), env: process.env }) }],
}))
await server.connect(new StdioServerTransport())
`

type Body = { messages: WireMessage[]; tools?: { function: { name: string } }[] }

for (const backend of backends) {
  describe.skipIf(!backend.available)(`workspace .mcp.json servers on ${backend.name}`, () => {
    let fake: FakeProvider
    let h: WorkspaceServer
    let drop = async () => {}

    beforeAll(async () => {
      fake = await startFakeProvider('openai-chat')
      const db = await backend.database()
      drop = db.drop
      h = await startWorkspaceServer(fake, { databaseUrl: db.url })
    }, 180_000) // a PGlite server's first start (initdb, migrations) is slow when suites run side by side
    afterAll(async () => {
      await h?.close()
      await fake?.close()
      await drop()
    }, 60_000)

    it('starts the stdio servers inside the workspace sandbox and calls their tools through the loop', async () => {
      const { userId } = await h.user('dev@example.com', 'member')
      const workspaceId = await readyWorkspace(h, userId)
      const folder = h.server.workspaces.local.folderOf(workspaceId)
      const secretKeyFile = join(h.dataDir, 'secret.key')
      expect(existsSync(secretKeyFile)).toBe(true)
      writeFileSync(join(folder, 'probe.mjs'), PROBE)
      writeFileSync(
        join(folder, '.mcp.json'),
        JSON.stringify({
          mcpServers: {
            everything: { command: process.execPath, args: [EVERYTHING_DIST, 'stdio'] },
            probe: { command: process.execPath, args: ['probe.mjs'], env: { SECRET_KEY_FILE: secretKeyFile, PROBE_SETTING: 'from .mcp.json' } },
            broken: { command: '/nonexistent/mcp-server' },
          },
        }),
      )
      // The daemon starts them on the first listing; one that is slow to start is offered on a later step.
      type Listed = { servers: { name: string; tools: unknown[] | null; error: string | null }[]; error: string | null }
      let listed: Listed
      for (let i = 0; ; i++) {
        listed = await h.server.workspaces.tunnels.requestJson<Listed>(workspaceId, { method: 'GET', path: '/mcp/servers' })
        if (listed.servers.filter((x) => x.tools).length === 2 || i > 100) break
        await new Promise((r) => setTimeout(r, 200))
      }
      expect(listed.servers.find((x) => x.name === 'broken')?.error).toMatch(/could not start or list it/)
      const prompt = 'use the workspace servers'
      h.script(prompt, [
        {
          toolCalls: [
            { id: 'w1', name: 'mcp__ws_everything__echo', arguments: { message: 'from the sandbox' } },
            { id: 'w2', name: 'mcp__ws_everything__get-env', arguments: {} },
            { id: 'w3', name: 'mcp__ws_probe__probe', arguments: {} },
          ],
        },
        { text: 'done' },
      ])
      const chatId = await h.createChat(userId, prompt, { workspaceId })
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed'), 120_000)
      expect(events.some((e) => e.type === 'TurnCompleted')).toBe(true)
      const requests = (fake.requests as Body[]).filter((b) => wireText(b.messages.find((m) => m.role === 'user') ?? { role: 'user' }) === prompt)
      const offered = (requests[0]!.tools ?? []).map((t) => t.function.name)
      expect(offered).toEqual(expect.arrayContaining(['mcp__ws_everything__echo', 'mcp__ws_everything__get-env', 'mcp__ws_probe__probe']))
      expect(offered.some((n) => n.startsWith('mcp__ws_broken__'))).toBe(false)

      const results = toolResults(events)
      expect(results.w1).toMatchObject({ result: 'Echo: from the sandbox', isError: false })
      expect(requests[1]!.messages.find((m) => m.tool_call_id === 'w1')?.content).toBe('Echo: from the sandbox')

      // The daemon's environment is not passed on: no agent token, no provider key, no CAIRN_ secret.
      const env = JSON.parse(results.w2!.result) as Record<string, string>
      expect(Object.keys(env).filter((k) => k.startsWith('CAIRN_') || /API_KEY|SECRET|TOKEN/.test(k))).toEqual([])
      expect(env.HOME).toBe(folder)

      const probe = JSON.parse(results.w3!.result) as { cwd: string; secretKeyVisible: boolean; env: Record<string, string> }
      expect(probe.cwd).toBe(folder)
      expect(probe.env.PROBE_SETTING).toBe('from .mcp.json')
      expect(probe.env.CAIRN_AGENT_TOKEN).toBeUndefined()
      // Inside bubblewrap the data dir is not there (without bwrap the server still runs in the workspace, unsandboxed).
      expect(h.server.workspaces.local.sandboxed).toBe(bubblewrapPath() !== null)
      if (h.server.workspaces.local.sandboxed) expect(probe.secretKeyVisible).toBe(false)

      // A broken .mcp.json takes the tools away; the turn still completes and the model reads why a call fails.
      writeFileSync(join(folder, '.mcp.json'), '{ not json')
      const again = 'after the config broke'
      h.script(again, [{ toolCalls: [{ id: 'b1', name: 'mcp__ws_everything__echo', arguments: { message: 'x' } }] }, { text: 'ok' }])
      const chat2 = await h.createChat(userId, again, { workspaceId })
      const events2 = await h.waitFor(chat2, (es) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed'), 60_000)
      expect(events2.some((e) => e.type === 'TurnCompleted')).toBe(true)
      expect(toolResults(events2).b1).toMatchObject({ isError: true, result: expect.stringContaining('There is no tool named mcp__ws_everything__echo') })

      const broken = await h.server.workspaces.tunnels.requestJson<{ error: string | null }>(workspaceId, { method: 'GET', path: '/mcp/servers' })
      expect(broken.error).toMatch(/\.mcp\.json is not valid JSON/)
    }, 180_000)

    it('offers no workspace servers to a chat without a workspace, and creates none for it', async () => {
      const { userId } = await h.user('nows@example.com', 'member')
      const prompt = 'no workspace here'
      h.script(prompt, [{ text: 'fine' }])
      const chatId = await h.createChat(userId, prompt)
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed'), 60_000)
      expect(events.some((e) => e.type === 'WorkspaceBound')).toBe(false)
      const request = (fake.requests as Body[]).find((b) => wireText(b.messages.find((m) => m.role === 'user') ?? { role: 'user' }) === prompt)!
      expect((request.tools ?? []).some((t) => t.function.name.startsWith('mcp__ws_'))).toBe(false)
    })
  })
}
