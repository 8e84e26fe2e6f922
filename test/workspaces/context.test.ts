// The chat's workspace in the system prompt: its AGENTS.md and skills, read through the real
// daemon of a local workspace, seen again on the next turn; nothing without a reachable workspace.
import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatDecider } from '../../commands/chat/decide.ts'
import { handleCommand } from '../../commands/handler.ts'
import { DEFAULT_SYSTEM_PROMPT } from '../../src/config/service.ts'
import { chatStream, DEFAULT_ORGANIZATION_ID } from '../../src/events/index.ts'
import { MAX_AGENTS_MD_BYTES } from '../../src/workspaces/context.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { serverBackends } from '../support/databases.ts'
import { readyWorkspace, startWorkspaceServer, wireText, type WireMessage, type WorkspaceServer } from './harness.ts'

const backends = serverBackends

const systemOf = (messages: WireMessage[]) => wireText(messages.find((m) => m.role === 'system') ?? { role: 'system' })
const ended = (types: string[]) => (events: { type: string }[]) => events.filter((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed').length >= types.length

for (const backend of backends) {
  describe.skipIf(!backend.available)(`workspace context in the system prompt on ${backend.name}`, () => {
    let fake: FakeProvider
    let h: WorkspaceServer
    let drop = async () => {}
    let userId: string

    beforeAll(async () => {
      fake = await startFakeProvider('openai-chat')
      const db = await backend.database()
      drop = db.drop
      h = await startWorkspaceServer(fake, { databaseUrl: db.url })
      userId = (await h.user(`ctx-${randomUUID()}@example.com`, 'member')).userId
    }, 180_000)
    afterAll(async () => {
      await h?.close()
      await fake?.close()
      await drop()
    })

    async function post(chatId: string, text: string) {
      await handleCommand(
        h.server.store,
        chatStream(chatId),
        chatDecider,
        { type: 'PostMessage', messageId: randomUUID(), authorId: userId, parts: [{ type: 'text', text }], busyBehavior: 'QUEUE' },
        { commandId: randomUUID(), metadata: { actor: { kind: 'user', id: userId }, organizationId: DEFAULT_ORGANIZATION_ID } },
      )
    }

    it("adds the workspace's AGENTS.md and skills, and sees a change on the next turn", async () => {
      const workspaceId = await readyWorkspace(h, userId)
      const folder = h.server.workspaces.local.folderOf(workspaceId)
      writeFileSync(join(folder, 'AGENTS.md'), '# House rules\nRun `npm test` before you report.\n')
      mkdirSync(join(folder, '.agents', 'skills', 'release'), { recursive: true })
      writeFileSync(join(folder, '.agents', 'skills', 'release', 'SKILL.md'), '---\nname: release\ndescription: Cut a release and tag it\n---\nSteps…\n')

      const systems: string[] = []
      const capture = (text: string) => (messages: WireMessage[]) => (systems.push(systemOf(messages)), { text })
      h.script('what are the rules?', [capture('first'), capture('second')])
      const chatId = await h.createChat(userId, 'what are the rules?', { workspaceId })
      await h.waitFor(chatId, ended(['first']))

      expect(systems[0]).toContain(DEFAULT_SYSTEM_PROMPT)
      expect(systems[0]).toContain('Run `npm test` before you report.')
      expect(systems[0]).toContain('- release: Cut a release and tag it')
      expect(systems[0]).not.toContain('longer than')

      writeFileSync(join(folder, 'AGENTS.md'), '# House rules\nUse pnpm, never npm.\n')
      await post(chatId, 'and now?')
      await h.waitFor(chatId, ended(['first', 'second']))
      expect(systems[1]).toContain('Use pnpm, never npm.')
      expect(systems[1]).not.toContain('Run `npm test`')
    })

    it('caps a long AGENTS.md and says so', async () => {
      const workspaceId = await readyWorkspace(h, userId)
      const folder = h.server.workspaces.local.folderOf(workspaceId)
      writeFileSync(join(folder, 'AGENTS.md'), 'start\n' + 'é'.repeat(MAX_AGENTS_MD_BYTES) + '\nTHE END\n')
      const systems: string[] = []
      h.script('a long AGENTS.md', [(messages) => (systems.push(systemOf(messages)), { text: 'ok' })])
      const chatId = await h.createChat(userId, 'a long AGENTS.md', { workspaceId })
      await h.waitFor(chatId, ended(['ok']))
      expect(systems[0]).toContain('start\néé')
      expect(systems[0]).not.toContain('THE END')
      expect(systems[0]).not.toContain('\uFFFD')
      expect(systems[0]).toMatch(/AGENTS\.md is longer than 32 KiB/)
      expect(Buffer.byteLength(systems[0]!)).toBeLessThan(MAX_AGENTS_MD_BYTES + 2_000)
    })

    it('sends the plain system prompt without a workspace, or when the workspace is stopped', async () => {
      const systems: string[] = []
      h.script('no workspace here', [(messages) => (systems.push(systemOf(messages)), { text: 'ok' })])
      const plain = await h.createChat(userId, 'no workspace here')
      await h.waitFor(plain, ended(['ok']))
      expect(systems[0]).toBe(DEFAULT_SYSTEM_PROMPT)

      const workspaceId = await readyWorkspace(h, userId)
      writeFileSync(join(h.server.workspaces.local.folderOf(workspaceId), 'AGENTS.md'), 'unreachable rules\n')
      const actor = (await h.server.workspaces.actorFor(userId))!
      const stopped = await h.server.workspaces.stopWorkspace(actor, workspaceId)
      expect((await stopped.build).ok).toBe(true)
      h.script('a stopped workspace', [(messages) => (systems.push(systemOf(messages)), { text: 'ok' })])
      const began = Date.now()
      const chatId = await h.createChat(userId, 'a stopped workspace', { workspaceId })
      await h.waitFor(chatId, ended(['ok']))
      expect(systems[1]).toBe(DEFAULT_SYSTEM_PROMPT)
      expect(Date.now() - began).toBeLessThan(10_000)
    })
  })
}
