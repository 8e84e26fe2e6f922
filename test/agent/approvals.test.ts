// Approvals on the real server with a real local workspace: a policy holds matching calls until
// the chat's owner approves or denies them, or the request expires.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { serverBackends } from '../support/databases.ts'
import { readyWorkspace, startWorkspaceServer, toolResults, wireText, type ChatLog, type WireMessage, type WorkspaceServer } from '../workspaces/harness.ts'

const backends = serverBackends

const call = (id: string, name: string, args: unknown) => ({ id, name, arguments: args })
const calls = (...toolCalls: ReturnType<typeof call>[]) => ({ toolCalls })
const resultFor = (messages: WireMessage[], callId: string) => wireText(messages.find((m) => m.role === 'tool' && m.tool_call_id === callId) ?? { role: 'tool' })
const ended = (es: ChatLog) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed' || e.type === 'TurnInterrupted')
const SET_POLICY = `mutation($rules: [ApprovalRuleInput!]!, $s: Int) { setApprovalPolicy(input: { rules: $rules, expiresAfterSeconds: $s }) { orgId rules { tool commandPattern } expiresAfterSeconds } }`
const CHAT = 'query($id: ID!) { chat(id: $id) { status pendingApprovals { callId toolName arguments rule { tool commandPattern } expiresAt } } }'

for (const backend of backends) {
  describe.skipIf(!backend.available)(`approvals on ${backend.name}`, { timeout: 120_000 }, () => {
    let fake: FakeProvider
    let h: WorkspaceServer
    let drop = async () => {}
    let owner: { userId: string; token: string }
    let admin: { token: string }
    let other: { token: string }
    let workspaceId: string

    async function waitingChat(chatId: string) {
      await h.waitFor(chatId, (es) => es.some((e) => e.type === 'ToolCallApprovalRequested'))
      for (let i = 0; i < 100; i++) {
        const chat = (await h.gql(owner.token, CHAT, { id: chatId })).data?.chat
        if (chat?.status === 'REQUIRES_ACTION') return chat
        await new Promise((r) => setTimeout(r, 50))
      }
      throw new Error('the chat never showed REQUIRES_ACTION')
    }

    beforeAll(async () => {
      fake = await startFakeProvider('openai-chat')
      const db = await backend.database()
      drop = db.drop
      h = await startWorkspaceServer(fake, { databaseUrl: db.url })
      owner = await h.user('dev@example.com', 'member')
      other = await h.user('someone@example.com', 'member')
      admin = await h.user('platform@example.com', 'admin')
      workspaceId = await readyWorkspace(h, owner.userId)
    }, 120_000)
    afterAll(async () => {
      await h?.close()
      await fake?.close()
      await drop()
    })

    it('refuses a bad policy and appends nothing', async () => {
      const before = (await h.server.store.readStream('config').catch(() => [])).length
      const bad = await h.gql(admin.token, SET_POLICY, { rules: [{ tool: 'execute', commandPattern: 'git (push' }] })
      expect(bad.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT')
      expect(bad.errors?.[0]?.message).toMatch(/not a regular expression/)
      const member = await h.gql(owner.token, SET_POLICY, { rules: [{ tool: 'execute' }] })
      expect(member.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
      expect((await h.server.store.readStream('config').catch(() => [])).length).toBe(before)
    })

    it('holds `git push` for approval while other calls run; a denial reaches the model with its reason', async () => {
      const set = await h.gql(admin.token, SET_POLICY, { rules: [{ tool: 'execute', commandPattern: '\\bgit\\s+push\\b' }, { tool: 'write_file' }], s: 600 })
      expect(set.data.setApprovalPolicy.rules).toEqual([{ tool: 'execute', commandPattern: '\\bgit\\s+push\\b' }, { tool: 'write_file', commandPattern: null }])
      const prompt = 'Push the branch.'
      h.script(prompt, [
        calls(call('push', 'execute', { command: 'git push origin main' }), call('safe', 'execute', { command: 'echo safe' })),
        (m) => ({ text: `Understood: ${resultFor(m, 'push')}` }),
      ])
      const chatId = await h.createChat(owner.userId, prompt, { workspaceId })
      const chat = await waitingChat(chatId)
      expect(chat.pendingApprovals).toMatchObject([{ callId: 'push', toolName: 'execute', arguments: { command: 'git push origin main' }, rule: { tool: 'execute' } }])
      let events = (await h.server.store.readStream(`chat-${chatId}`)) as ChatLog
      // The other call of the step ran; the held one did not.
      expect(toolResults(events).safe!.result).toContain('safe')
      expect(toolResults(events).push).toBeUndefined()

      const DENY = 'mutation($id: ID!, $call: ID!, $r: String) { denyToolCall(chatId: $id, callId: $call, reason: $r) { status } }'
      expect((await h.gql(other.token, DENY, { id: chatId, call: 'push', r: 'mine' })).errors?.[0]?.extensions?.code).toMatch(/NOT_FOUND|FORBIDDEN/)
      const unknown = await h.gql(owner.token, DENY, { id: chatId, call: 'nope', r: 'x' })
      expect(unknown.errors?.[0]?.extensions?.code).toBe('APPROVAL_NOT_FOUND')
      expect((await h.server.store.readStream(`chat-${chatId}`)).length).toBe(events.length)

      expect((await h.gql(owner.token, DENY, { id: chatId, call: 'push', r: 'not on Fridays' })).errors).toBeUndefined()
      events = await h.waitFor(chatId, ended)
      const last = events.findLast((e) => e.type === 'AssistantStepCompleted')!
      // (The OpenAI wire marks an error result with "Error: ".)
      expect(last.type === 'AssistantStepCompleted' && last.data.text).toBe('Understood: Error: Not run: the user denied this call. Their reason: not on Fridays')
      const denied = events.find((e) => e.type === 'ToolCallDenied')!
      if (denied.type !== 'ToolCallDenied') throw new Error('unreachable')
      expect(denied.data).toEqual({ callId: 'push', deniedBy: owner.userId, reason: 'not on Fridays', expired: false })
      expect(denied.metadata.actor).toMatchObject({ kind: 'user', id: owner.userId })
      const again = await h.gql(owner.token, DENY, { id: chatId, call: 'push', r: 'x' })
      expect(again.errors?.[0]?.extensions?.code).toBe('APPROVAL_ALREADY_DECIDED')
      // The daemon never saw the push.
      const list = await h.server.workspaces.tunnels.requestJson<{ command: string }[]>(workspaceId, { method: 'GET', path: '/processes' })
      expect(list.map((p) => p.command)).not.toContain('git push origin main')
    })

    it('an approval runs the call; approved for the chat, its rule stops asking', async () => {
      const prompt = 'Write two files.'
      h.script(prompt, [calls(call('w1', 'write_file', { path: 'one.txt', content: '1' })), calls(call('w2', 'write_file', { path: 'two.txt', content: '2' })), { text: 'Both written.' }])
      const chatId = await h.createChat(owner.userId, prompt, { workspaceId })
      await waitingChat(chatId)
      const APPROVE = 'mutation($id: ID!, $call: ID!) { approveToolCall(chatId: $id, callId: $call, forChat: true) { id } }'
      expect((await h.gql(owner.token, APPROVE, { id: chatId, call: 'w1' })).errors).toBeUndefined()
      const events = await h.waitFor(chatId, ended)
      const results = toolResults(events)
      expect(results.w1!.isError, results.w1!.result).toBe(false)
      expect(results.w2!.isError, results.w2!.result).toBe(false)
      expect(events.filter((e) => e.type === 'ToolCallApprovalRequested')).toHaveLength(1)
      expect(events.filter((e) => e.type === 'TurnStarted')).toHaveLength(1)
      expect(events.map((e) => e.type).filter((t) => t.startsWith('Turn'))).toEqual(['TurnStarted', 'TurnCompleted'])
    })

    it('an unanswered request expires: denied, and the model reads that nobody approved it', async () => {
      await h.gql(admin.token, SET_POLICY, { rules: [{ tool: 'write_file' }], s: 1 })
      const prompt = 'Write a file nobody approves.'
      h.script(prompt, [calls(call('w', 'write_file', { path: 'late.txt', content: 'x' })), (m) => ({ text: resultFor(m, 'w') })])
      const chatId = await h.createChat(owner.userId, prompt, { workspaceId })
      const events = await h.waitFor(chatId, ended, 30_000)
      const denied = events.find((e) => e.type === 'ToolCallDenied')!
      expect(denied.data).toMatchObject({ callId: 'w', deniedBy: null, expired: true })
      const last = events.findLast((e) => e.type === 'AssistantStepCompleted')!
      expect(last.type === 'AssistantStepCompleted' && last.data.text).toMatch(/^Error: Not run: nobody approved this call in time/)
      await h.gql(admin.token, SET_POLICY, { rules: [] })
    })
  })
}
