// Sub-agents, plan mode and questions on the real server (startServer, a local workspace with its
// daemon) with the wire-faithful fake model: each chat's steps are scripted by its first message.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { planFilePath } from '../../src/agent/instructions.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { serverBackends } from '../support/databases.ts'
import { readyWorkspace, startWorkspaceServer, toolResults, wireText, type ChatLog, type WireMessage, type WorkspaceServer } from '../workspaces/harness.ts'

const backends = serverBackends

const call = (id: string, name: string, args: unknown) => ({ id, name, arguments: args })
const calls = (...toolCalls: ReturnType<typeof call>[]) => ({ toolCalls })
/** The result the model was sent for `callId`. */
const resultFor = (messages: WireMessage[], callId: string) => wireText(messages.find((m) => m.role === 'tool' && m.tool_call_id === callId) ?? { role: 'tool' })
const childIdIn = (result: string) => /chat_id: (\S+)/.exec(result)?.[1] ?? 'missing'
const ended = (es: ChatLog) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed' || e.type === 'TurnInterrupted')
const at = (es: ChatLog, type: string) => es.find((e) => e.type === type)!.createdAt.getTime()
const childrenOf = (es: ChatLog) => es.flatMap((e) => (e.type === 'SubAgentSpawned' ? [e.data.childChatId] : []))
const SLOW = { text: 'I am still thinking about this, one careful word at a time. '.repeat(8), textPieces: 120, chunkDelayMs: 200 }

for (const backend of backends) {
  describe.skipIf(!backend.available)(`sub-agents, plan mode and questions on ${backend.name}`, { timeout: 180_000 }, () => {
    let fake: FakeProvider
    let h: WorkspaceServer
    let drop = async () => {}
    let user: { userId: string; token: string }
    let workspaceId: string

    beforeAll(async () => {
      fake = await startFakeProvider('openai-chat')
      const db = await backend.database()
      drop = db.drop
      h = await startWorkspaceServer(fake, { databaseUrl: db.url })
      user = await h.user('lead@example.com', 'member')
      workspaceId = await readyWorkspace(h, user.userId)
      writeFileSync(join(h.server.workspaces.local.folderOf(workspaceId), 'README.md'), '# Demo\n')
    }, 120_000)
    afterAll(async () => {
      await h?.close()
      await fake?.close()
      await drop()
    })

    it('a parent spawns two explore children that run at once, waits for both, and finishes with their results', async () => {
      h.script('Survey the repository with two helpers.', [
        calls(
          call('s1', 'spawn_agent', { type: 'explore', prompt: 'CHILD A: list the files.', title: 'Files' }),
          call('s2', 'spawn_agent', { type: 'explore', prompt: 'CHILD B: read the README.', title: 'Readme' }),
        ),
        (m) => calls(call('w1', 'wait_agent', { chat_id: childIdIn(resultFor(m, 's1')) }), call('w2', 'wait_agent', { chat_id: childIdIn(resultFor(m, 's2')) })),
        { text: 'Both helpers reported back.' },
      ])
      h.script('CHILD A: list the files.', [
        calls(call('a1', 'execute', { command: 'ls' }), call('a2', 'spawn_agent', { type: 'general', prompt: 'grandchild' })),
        { ...SLOW, text: 'A: the repository has README.md.', textPieces: 10, chunkDelayMs: 150 },
      ])
      h.script('CHILD B: read the README.', [
        calls(call('b1', 'read_file', { path: 'README.md' }), call('b2', 'write_file', { path: 'x.txt', content: 'no' })),
        { ...SLOW, text: 'B: the README says Demo.', textPieces: 10, chunkDelayMs: 150 },
      ])
      const parentId = await h.createChat(user.userId, 'Survey the repository with two helpers.', { workspaceId })
      const parent = await h.waitFor(parentId, ended, 120_000)
      expect(parent.map((e) => e.type)).toContain('TurnCompleted')
      const [a, b] = childrenOf(parent)
      const childA = await h.waitFor(a!, ended)
      const childB = await h.waitFor(b!, ended)

      // Each child is a chat of its own: created for the same owner, in the parent's workspace.
      for (const child of [childA, childB]) {
        const created = child[0]!
        if (created.type !== 'ChatCreated') throw new Error('no ChatCreated')
        expect(created.data).toMatchObject({ parentChatId: parentId, rootChatId: parentId, ownerId: user.userId, workspaceId, agentType: 'explore' })
      }
      // Their turns overlapped in time.
      expect(at(childA, 'TurnStarted')).toBeLessThan(at(childB, 'TurnCompleted'))
      expect(at(childB, 'TurnStarted')).toBeLessThan(at(childA, 'TurnCompleted'))
      // wait_agent brought each result into the parent's context.
      const results = toolResults(parent)
      expect(results.w1!.result).toContain('A: the repository has README.md.')
      expect(results.w2!.result).toContain('B: the README says Demo.')
      const sawResults = fake.requests.find((r) => (r as { messages: WireMessage[] }).messages.some((m) => m.tool_call_id === 'w2'))
      expect(resultFor((sawResults as { messages: WireMessage[] }).messages, 'w1')).toContain('A: the repository has README.md.')
      expect(resultFor((sawResults as { messages: WireMessage[] }).messages, 'w2')).toContain('B: the README says Demo.')

      // A child cannot spawn, and an explore child cannot write: neither is offered nor run.
      const childRequest = fake.requests.find((r) => wireText((r as { messages: WireMessage[] }).messages.find((m) => m.role === 'user')!) === 'CHILD B: read the README.')
      const offered = ((childRequest as { tools: { function: { name: string } }[] }).tools ?? []).map((t) => t.function.name)
      expect(offered).toContain('read_file')
      expect(offered).toContain('execute')
      for (const name of ['spawn_agent', 'wait_agent', 'write_file', 'edit_files', 'create_workspace', 'ask_user_question']) expect(offered).not.toContain(name)
      expect(toolResults(childA).a2).toMatchObject({ isError: true, result: expect.stringContaining('not available') })
      expect(toolResults(childB).b2).toMatchObject({ isError: true, result: expect.stringContaining('not available') })
      expect(toolResults(childB).b1!.result).toContain('# Demo')
      expect(parent.filter((e) => e.type === 'SubAgentSpawned')).toHaveLength(2)
    })

    it('wait_agent times out with a result the model can act on; close_agent stops the child', async () => {
      h.script('Start a slow helper, then stop it.', [
        calls(call('s1', 'spawn_agent', { type: 'general', prompt: 'CHILD SLOW: ponder.' })),
        (m) => calls(call('w1', 'wait_agent', { chat_id: childIdIn(resultFor(m, 's1')), timeout_seconds: 1 })),
        (m) => calls(call('c1', 'close_agent', { chat_id: childIdIn(resultFor(m, 's1')) })),
        (m) => calls(call('l1', 'list_agents', {}), call('m1', 'message_agent', { chat_id: childIdIn(resultFor(m, 's1')), message: 'hello?' })),
        { text: 'Stopped it.' },
      ])
      h.script('CHILD SLOW: ponder.', [SLOW])
      const parentId = await h.createChat(user.userId, 'Start a slow helper, then stop it.', { workspaceId })
      const parent = await h.waitFor(parentId, ended, 60_000)
      const results = toolResults(parent)
      expect(results.w1!.result).toMatch(/still running after 1 s/)
      expect(results.c1!.isError).toBe(false)
      const [childId] = childrenOf(parent)
      expect(parent.filter((e) => e.type === 'SubAgentClosed').map((e) => e.data)).toEqual([{ childChatId: childId }])
      const child = await h.waitFor(childId!, (es) => es.some((e) => e.type === 'TurnInterrupted'))
      expect(child.map((e) => e.type)).toContain('ChatArchived')
      expect(child.map((e) => e.type)).not.toContain('TurnCompleted')
      expect(results.l1!.result).toContain(`${childId}\tgeneral\tclosed`)
      expect(results.m1).toMatchObject({ isError: true, result: expect.stringContaining('archived') })
    })

    it('past the admin\'s limit of active sub-agents, spawn_agent answers with an error', async () => {
      const admin = await h.user('admin@example.com', 'admin')
      const limit = await h.gql(admin.token, 'mutation { setSubAgentLimit(max: 1) }')
      expect(limit.errors).toBeUndefined()
      h.script('Spawn two at once.', [
        calls(call('s1', 'spawn_agent', { type: 'general', prompt: 'CHILD LIMIT 1' }), call('s2', 'spawn_agent', { type: 'general', prompt: 'CHILD LIMIT 2' })),
        (m) => calls(call('c1', 'close_agent', { chat_id: childIdIn(resultFor(m, 's1') + resultFor(m, 's2')) })),
        { text: 'done' },
      ])
      h.script('CHILD LIMIT 1', [SLOW])
      h.script('CHILD LIMIT 2', [SLOW])
      const parentId = await h.createChat(user.userId, 'Spawn two at once.', { workspaceId })
      const parent = await h.waitFor(parentId, ended, 60_000)
      const results = toolResults(parent)
      const outcomes = [results.s1!, results.s2!].map((r) => r.isError).sort()
      expect(outcomes).toEqual([false, true])
      expect([results.s1!.result, results.s2!.result].join('\n')).toContain('the limit is 1')
      expect(childrenOf(parent)).toHaveLength(1)
      await h.gql(admin.token, 'mutation { setSubAgentLimit(max: 10) }')
    })

    it('interrupting the root interrupts its running children', async () => {
      h.script('Wait on a slow helper.', [
        calls(call('s1', 'spawn_agent', { type: 'general', prompt: 'CHILD SLOW 2: ponder longer.' })),
        (m) => calls(call('w1', 'wait_agent', { chat_id: childIdIn(resultFor(m, 's1')) })),
        { text: 'never reached' },
      ])
      h.script('CHILD SLOW 2: ponder longer.', [SLOW])
      const rootId = await h.createChat(user.userId, 'Wait on a slow helper.', { workspaceId })
      const root = await h.waitFor(rootId, (es) => es.some((e) => e.type === 'ToolCallStarted' && e.data.name === 'wait_agent'))
      const [childId] = childrenOf(root)
      await h.waitFor(childId!, (es) => es.some((e) => e.type === 'TurnStarted'))
      const answer = await h.gql(user.token, 'mutation($id: ID!) { interruptChat(chatId: $id) { id } }', { id: rootId })
      expect(answer.errors).toBeUndefined()
      const after = await h.waitFor(rootId, ended)
      expect(after.map((e) => e.type)).toContain('TurnInterrupted')
      expect(toolResults(after).w1!.isError).toBe(true)
      const child = await h.waitFor(childId!, ended)
      expect(child.map((e) => e.type)).toContain('TurnInterrupted')
    })

    it('plan mode refuses writes outside the plan file, proposes the plan, asks a question and goes on with the answer', async () => {
      const prompt = 'Plan the database work.'
      h.script(prompt, [
        calls(call('p1', 'write_file', { path: 'src/db.js', content: 'nope' })),
        (m) => {
          const plan = /plan file (\S+),/.exec(resultFor(m, 'p1'))?.[1] ?? 'missing'
          return calls(call('p2', 'write_file', { path: plan, content: '# Plan\n\n1. Add a database.\n' }), call('p3', 'spawn_agent', { type: 'general', prompt: 'CHILD PLAN: look around.' }))
        },
        (m) => calls(call('p4', 'propose_plan', { path: /wrote \d+ bytes to (\S+)/.exec(resultFor(m, 'p2'))?.[1] ?? 'missing' })),
        calls(call('q1', 'ask_user_question', { questions: [{ header: 'Database', question: 'Which database?', options: [{ label: 'PostgreSQL', description: 'a server' }, { label: 'SQLite' }] }] })),
        (m) => ({ text: `Going ahead. (${resultFor(m, 'q1')})` }),
      ])
      h.script('CHILD PLAN: look around.', [{ text: 'Looked.' }])
      const chatId = await h.createChat(user.userId, prompt, { workspaceId, planMode: true })
      const first = await h.waitFor(chatId, ended, 60_000)
      const results = toolResults(first)
      expect(results.p1).toMatchObject({ isError: true, result: expect.stringContaining(`only write the plan file ${planFilePath(chatId)}`) })
      expect(results.p2!.isError, results.p2!.result).toBe(false)
      const folder = h.server.workspaces.local.folderOf(workspaceId)
      const planned = first.find((e) => e.type === 'PlanProposed')
      if (planned?.type !== 'PlanProposed') throw new Error(`no PlanProposed: ${first.map((e) => e.type).join(', ')}`)
      expect(planned.data.plan).toBe('# Plan\n\n1. Add a database.\n')
      expect(planned.data.sha256).toMatch(/^[0-9a-f]{64}$/)
      expect(first.at(-1)!.type).toBe('TurnCompleted')
      expect(first.findIndex((e) => e.type === 'PlanProposed')).toBeGreaterThan(first.findIndex((e) => e.type === 'ToolCallCompleted' && e.data.callId === 'p4'))
      const { readFileSync, existsSync } = await import('node:fs')
      expect(existsSync(join(folder, 'src/db.js'))).toBe(false)
      expect(readFileSync(join(folder, planFilePath(chatId)), 'utf8')).toContain('Add a database')
      // A child spawned in plan mode explores only.
      const [childId] = childrenOf(first)
      const child = await h.waitFor(childId!, ended)
      expect(child[0]!.data).toMatchObject({ agentType: 'explore', planMode: true })

      const sent = await h.gql(user.token, 'mutation($id: ID!) { sendMessage(input: { chatId: $id, text: "Approved. Ask me what you need." }) { queued } }', { id: chatId })
      expect(sent.errors).toBeUndefined()
      const asking = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'QuestionAsked'))
      const asked = asking.find((e) => e.type === 'QuestionAsked')!
      if (asked.type !== 'QuestionAsked') throw new Error('unreachable')
      expect(asked.data.questions).toEqual([{ header: 'Database', question: 'Which database?', options: [{ label: 'PostgreSQL', description: 'a server' }, { label: 'SQLite', description: '' }] }])
      const chatQuery = 'query($id: ID!) { chat(id: $id) { status pendingQuestionId } }'
      for (let i = 0; i < 50 && (await h.gql(user.token, chatQuery, { id: chatId })).data?.chat.status !== 'REQUIRES_ACTION'; i++) await new Promise((r) => setTimeout(r, 100))
      expect((await h.gql(user.token, chatQuery, { id: chatId })).data.chat).toEqual({ status: 'REQUIRES_ACTION', pendingQuestionId: asked.data.questionId })

      // Bad answers are clear errors and append nothing.
      const before = (await h.server.store.readStream(`chat-${chatId}`)).length
      const answerQ = 'mutation($id: ID!, $q: ID!, $a: [String!]) { answerQuestion(chatId: $id, questionId: $q, answers: $a) { status } }'
      const unknown = await h.gql(user.token, answerQ, { id: chatId, q: 'no-such-question', a: ['PostgreSQL'] })
      expect(unknown.errors?.[0]?.extensions?.code).toBe('QUESTION_NOT_FOUND')
      const tooMany = await h.gql(user.token, answerQ, { id: chatId, q: asked.data.questionId, a: ['PostgreSQL', 'SQLite'] })
      expect(tooMany.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT')
      expect((await h.server.store.readStream(`chat-${chatId}`)).length).toBe(before)

      const answered = await h.gql(user.token, answerQ, { id: chatId, q: asked.data.questionId, a: ['PostgreSQL'] })
      expect(answered.errors).toBeUndefined()
      const done = await h.waitFor(chatId, (es) => es.filter((e) => e.type === 'TurnCompleted').length === 2)
      const answerStep = done.findLast((e) => e.type === 'AssistantStepCompleted')!
      expect(answerStep.type === 'AssistantStepCompleted' && answerStep.data.text).toBe('Going ahead. (The user answered:\n1. Database: PostgreSQL)')
      // The same turn went on: one TurnStarted for the question and the answer.
      const secondTurn = done.slice(done.findIndex((e) => e.type === 'TurnCompleted') + 1)
      expect(secondTurn.filter((e) => e.type === 'TurnStarted')).toHaveLength(1)
      const again = await h.gql(user.token, answerQ, { id: chatId, q: asked.data.questionId, a: ['SQLite'] })
      expect(again.errors?.[0]?.extensions?.code).toBe('QUESTION_ALREADY_ANSWERED')
    })
  })
}
