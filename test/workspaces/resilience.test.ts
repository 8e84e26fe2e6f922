import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chatStream } from '../../src/events/index.ts'
import { bubblewrapPath } from '../../src/workspaces/provisioners/local.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { readyWorkspace, startWorkspaceServer, toolResults, wireText, type WorkspaceServer } from './harness.ts'

type Msg = { role: string; content?: unknown; tool_call_id?: string }
const messagesOf = (body: unknown) => (body as { messages: Msg[] }).messages
const FAKE_PROVIDER_KEY = 'sk-ant-FAKE-provider-key-must-not-leak'
const sandboxed = bubblewrapPath() !== null
if (!sandboxed) console.warn('\n*** bubblewrap (bwrap) is not installed: the sandbox test is SKIPPED ***\n')

describe('workspaces under failure, and their boundaries', () => {
  let fake: FakeProvider
  let h: WorkspaceServer
  let member: string
  const saved = { anthropic: process.env.ANTHROPIC_API_KEY, openai: process.env.OPENAI_API_KEY }

  beforeAll(async () => {
    process.env.ANTHROPIC_API_KEY = FAKE_PROVIDER_KEY
    process.env.OPENAI_API_KEY = FAKE_PROVIDER_KEY
    fake = await startFakeProvider('openai-chat')
    h = await startWorkspaceServer(fake)
    member = (await h.user('alice@example.com', 'member')).userId
  })
  afterAll(async () => {
    await h?.close()
    await fake?.close()
    process.env.ANTHROPIC_API_KEY = saved.anthropic
    process.env.OPENAI_API_KEY = saved.openai
    if (saved.anthropic === undefined) delete process.env.ANTHROPIC_API_KEY
    if (saved.openai === undefined) delete process.env.OPENAI_API_KEY
  })

  it('after a runner dies mid-execute, the next one finds the run by its call id instead of running it again', async () => {
    const workspaceId = await readyWorkspace(h, member)
    const callId = `call_${randomUUID()}`
    const command = 'echo ran >> counter.txt; sleep 1; echo output-of-the-one-run'
    // The dead runner got as far as the daemon: the command runs (and is still running) under the call id.
    const firstRun = h.server.workspaces.tunnels.requestJson(workspaceId, { method: 'POST', path: '/processes', body: { command, idempotencyKey: callId } })
    const chatId = randomUUID()
    await h.server.store.appendToStream(chatStream(chatId), [
      {
        id: randomUUID(),
        type: 'ChatCreated',
        data: { chatId, ownerId: member, organizationId: '00000000-0000-4000-8000-000000000001', title: 't', modelId: null, workspaceId, parentChatId: null, rootChatId: null, agentType: null, planMode: false },
        metadata: { actor: { kind: 'user', id: member } },
      },
    ])
    const dead = { actor: { kind: 'agent' as const, id: 'runner:dead', onBehalfOf: member }, runnerId: 'dead-runner' }
    const args = { command }
    h.script('count', [{ text: 'It ran once.' }])
    await h.server.store.appendToStream(
      chatStream(chatId),
      [
        { id: randomUUID(), type: 'UserMessagePosted', data: { messageId: randomUUID(), parts: [{ type: 'text', text: 'count' }], authorId: member }, metadata: { actor: { kind: 'user', id: member } } },
        { id: randomUUID(), type: 'TurnStarted', data: { turnId: 't1', runnerId: 'dead-runner', modelId: null }, metadata: dead },
        {
          id: randomUUID(),
          type: 'AssistantStepCompleted',
          data: {
            turnId: 't1', stepId: 's1', modelId: 'fake-model', parts: [{ type: 'tool_call', id: callId, name: 'execute', arguments: args }],
            text: '', reasoning: '', toolCalls: [{ id: callId, name: 'execute', arguments: args }],
            usage: { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }, costUsd: 0, finishReason: 'tool_calls', interrupted: false,
          },
          metadata: dead,
        },
        { id: randomUUID(), type: 'ToolCallStarted', data: { turnId: 't1', callId, name: 'execute', arguments: args }, metadata: dead },
      ],
      { expectedRevision: 0n },
    )
    const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
    await firstRun
    const completed = toolResults(events)[callId]!
    expect(completed.isError, completed.result).toBe(false)
    expect(completed.result).toContain('output-of-the-one-run')
    const counter = readFileSync(join(h.server.workspaces.local.folderOf(workspaceId), 'counter.txt'), 'utf8')
    expect(counter).toBe('ran\n')
  }, 90_000)

  it('a daemon killed mid-execute is a tool error the model sees; after the restart a background process is readable by id', async () => {
    const workspaceId = await readyWorkspace(h, member)
    const chatId = await h.createChat(member, 'run things', { workspaceId })
    h.script('run things', [
      { toolCalls: [{ id: 'bg', name: 'execute', arguments: { command: 'echo bg-output-line; sleep 120', run_in_background: true } }] },
      { toolCalls: [{ id: 'long', name: 'execute', arguments: { command: 'sleep 60' } }] },
      (msgs) => {
        const bg = msgs.find((m) => m.role === 'tool' && m.tool_call_id === 'bg')
        const id = bg ? /background process (\S+);/.exec(wireText(bg))?.[1] : undefined
        return { toolCalls: [{ id: 'out', name: 'process_output', arguments: { process_id: id ?? 'missing' } }] }
      },
      { text: 'done' },
    ])
    await h.waitFor(chatId, (es) => es.some((e) => e.type === 'ToolCallStarted' && e.data.callId === 'long'))
    await new Promise((r) => setTimeout(r, 700))
    const pid = h.server.workspaces.local.daemonPid(workspaceId)!
    process.kill(pid, 'SIGKILL')
    const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'), 60_000)
    const results = toolResults(events)
    expect(results.long!.isError).toBe(true)
    expect(results.long!.result).toMatch(/disconnected|unavailable/)
    expect(results.long!.result).toContain('start_workspace')
    const sentBack = fake.requests.some((r) => messagesOf(r).some((m) => m.role === 'tool' && m.tool_call_id === 'long' && wireText(m).includes('start_workspace')))
    expect(sentBack).toBe(true)
    expect(results.out!.isError, results.out!.result).toBe(false)
    expect(results.out!.result).toContain('bg-output-line')
    expect(h.server.workspaces.local.daemonPid(workspaceId)).not.toBe(pid)
  }, 120_000)

  it('the daemon environment holds no provider key, no agent token and no database URL', async () => {
    const workspaceId = await readyWorkspace(h, member)
    const chatId = await h.createChat(member, 'show env', { workspaceId })
    h.script('show env', [{ toolCalls: [{ id: 'env', name: 'execute', arguments: { command: 'env' } }] }])
    const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
    const env = toolResults(events).env!
    expect(env.isError, env.result).toBe(false)
    expect(env.result).toContain('PATH=')
    expect(env.result).not.toContain(FAKE_PROVIDER_KEY)
    expect(env.result).not.toMatch(/ANTHROPIC|OPENAI|CAIRN_AGENT_TOKEN|DATABASE_URL|CAIRN_DATA_DIR/)
  }, 90_000)

  it.skipIf(!sandboxed)('a command in a local workspace cannot read the data dir (bubblewrap installed)', async () => {
    expect(existsSync(join(h.dataDir, 'secret.key'))).toBe(true)
    expect(existsSync(join(h.dataDir, 'pgdata'))).toBe(true)
    const workspaceId = await readyWorkspace(h, member)
    const chatId = await h.createChat(member, 'snoop', { workspaceId })
    const snoop = `cat ${h.dataDir}/secret.key && echo READ-SECRET; ls ${h.dataDir}/pgdata && echo LISTED-PGDATA; ls ${h.dataDir}/workspaces; true`
    h.script('snoop', [{ toolCalls: [{ id: 'snoop', name: 'execute', arguments: { command: snoop } }] }])
    const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
    const out = toolResults(events).snoop!.result
    expect(out).not.toContain('READ-SECRET')
    expect(out).not.toContain('LISTED-PGDATA')
    expect(out).toMatch(/No such file/)
  }, 90_000)

  it("a member's chat cannot reach another member's workspace by tool", async () => {
    const theirs = await readyWorkspace(h, member)
    const bob = (await h.user('bob@example.com', 'member')).userId
    const chatId = await h.createChat(bob, 'use alice workspace', { workspaceId: theirs })
    h.script('use alice workspace', [{ toolCalls: [{ id: 'steal', name: 'read_file', arguments: { path: 'counter.txt' } }] }])
    const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
    const r = toolResults(events).steal!
    expect(r.isError).toBe(true)
    expect(r.result).toBe(`Workspace ${theirs} not found. Call create_workspace to make a new one.`)
    const bobActor = (await h.server.workspaces.actorFor(bob))!
    expect(await h.server.workspaces.getWorkspace(bobActor, theirs)).toBeNull()
  }, 90_000)

  it('creates a workspace lazily on first need and binds it; a chat that needs none creates none', async () => {
    const carol = (await h.user('carol@example.com', 'member')).userId
    const carolActor = (await h.server.workspaces.actorFor(carol))!
    h.script('just talk', [{ text: 'hello' }])
    const talk = await h.createChat(carol, 'just talk')
    await h.waitFor(talk, (es) => es.some((e) => e.type === 'TurnCompleted'))
    expect(await h.server.workspaces.listWorkspaces(carolActor)).toEqual([])

    h.script('lazy', [{ toolCalls: [{ id: 'w', name: 'write_file', arguments: { path: 'a.txt', content: 'hi' } }] }])
    const chatId = await h.createChat(carol, 'lazy')
    const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
    expect(toolResults(events).w!.isError, toolResults(events).w!.result).toBe(false)
    const bound = events.find((e) => e.type === 'WorkspaceBound')
    if (bound?.type !== 'WorkspaceBound') throw new Error('not bound')
    const mine = await h.server.workspaces.listWorkspaces(carolActor)
    expect(mine.map((w) => w.id)).toEqual([bound.data.workspaceId])
    expect(readFileSync(join(h.server.workspaces.local.folderOf(bound.data.workspaceId), 'a.txt'), 'utf8')).toBe('hi')
  }, 90_000)

  it('a stopped workspace makes tools say to call start_workspace, which brings it back', async () => {
    const workspaceId = await readyWorkspace(h, member)
    const actor = (await h.server.workspaces.actorFor(member))!
    await (await h.server.workspaces.stopWorkspace(actor, workspaceId)).build
    h.script('after stop', [
      { toolCalls: [{ id: 'e1', name: 'execute', arguments: { command: 'echo one' } }] },
      { toolCalls: [{ id: 's', name: 'start_workspace', arguments: {} }] },
      { toolCalls: [{ id: 'e2', name: 'execute', arguments: { command: 'echo two' } }] },
    ])
    const chatId = await h.createChat(member, 'after stop', { workspaceId })
    const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted'))
    const r = toolResults(events)
    expect(r.e1!.isError).toBe(true)
    expect(r.e1!.result).toContain('is stopped. Call start_workspace')
    expect(r.s!.isError, r.s!.result).toBe(false)
    expect(r.e2!.isError, r.e2!.result).toBe(false)
    expect(r.e2!.result).toContain('two')
  }, 90_000)
})
