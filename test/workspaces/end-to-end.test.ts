import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { serverBackends } from '../support/databases.ts'
import { startWorkspaceServer, toolResults, type WorkspaceServer } from './harness.ts'

const BUGGY = 'module.exports = (a, b) => a - b\n'
const TEST = 'out=$(node -e "console.log(require(\'./sum.js\')(2, 3))")\n[ "$out" = "5" ] && echo PASS || { echo "FAIL: got $out"; exit 1; }\n'

const backends = serverBackends

for (const backend of backends) {
  describe.skipIf(!backend.available)(`a coding agent in a local workspace, end to end, on ${backend.name}`, () => {
    let fake: FakeProvider
    let h: WorkspaceServer
    let drop = async () => {}

    beforeAll(async () => {
      fake = await startFakeProvider('openai-chat')
      const db = await backend.database()
      drop = db.drop
      h = await startWorkspaceServer(fake, { databaseUrl: db.url })
    })
    afterAll(async () => {
      await h?.close()
      await fake?.close()
      await drop()
    })

    it('lists templates, creates a workspace, writes, tests, fixes, re-tests and attaches a file', async () => {
      const { userId } = await h.user('dev@example.com', 'member')
      const actor = (await h.server.workspaces.actorFor(userId))!
      const [template] = await h.server.workspaces.listTemplates(actor)
      expect(template?.name).toBe('local')
      const call = (id: string, name: string, args: unknown) => ({ toolCalls: [{ id, name, arguments: args }] })
      h.script('fix the sum function', [
        call('c1', 'list_templates', {}),
        call('c2', 'create_workspace', { template_id: template!.id, name: 'sum' }),
        call('c3', 'write_file', { path: 'sum.js', content: BUGGY }),
        call('c4', 'write_file', { path: 'test.sh', content: TEST }),
        call('c5', 'execute', { command: 'sh test.sh' }),
        call('c6', 'edit_files', { edits: [{ path: 'sum.js', old_text: 'a - b', new_text: 'a + b' }] }),
        call('c7', 'execute', { command: 'sh test.sh' }),
        call('c8', 'attach_file', { path: 'sum.js' }),
        { text: 'Fixed: sum.js adds now, and the test passes.' },
      ])
      const chatId = await h.createChat(userId, 'fix the sum function')
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed'), 120_000)
      const results = toolResults(events)
      const started = events.flatMap((e) => (e.type === 'ToolCallStarted' ? [e.data.callId] : []))
      expect(started).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8'])
      expect(Object.keys(results).sort()).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8'])

      expect(results.c1!.result).toContain('"name": "local"')
      expect(results.c2!.isError, results.c2!.result).toBe(false)
      expect(results.c5!.isError).toBe(true)
      expect(results.c5!.result).toContain('FAIL: got -1')
      expect(results.c6!.isError, results.c6!.result).toBe(false)
      expect(results.c7!.isError, results.c7!.result).toBe(false)
      expect(results.c7!.result).toContain('PASS')
      expect(results.c8!.isError, results.c8!.result).toBe(false)

      const bound = events.find((e) => e.type === 'WorkspaceBound')
      if (bound?.type !== 'WorkspaceBound') throw new Error('the chat was not bound to a workspace')
      const folder = h.server.workspaces.local.folderOf(bound.data.workspaceId)
      expect(readFileSync(join(folder, 'sum.js'), 'utf8')).toBe('module.exports = (a, b) => a + b\n')

      const attached = events.find((e) => e.type === 'AttachmentAdded')
      if (attached?.type !== 'AttachmentAdded') throw new Error('no attachment')
      expect(attached.data.source).toBe('workspace')
      expect(attached.data.name).toBe('sum.js')
      expect(existsSync(join(h.dataDir, 'attachments', attached.data.sha256))).toBe(true)

      const w = await h.server.workspaces.getWorkspace(actor, bound.data.workspaceId)
      expect(w?.status).toBe('started')
      expect(w?.agentConnected).toBe(true)
      expect((await h.server.workspaces.listTemplates(actor))[0]!.workspaceCount).toBe(1)
    }, 180_000)
  })
}
