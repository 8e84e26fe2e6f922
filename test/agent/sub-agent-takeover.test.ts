// A runner killed (SIGKILL) while its parent chat waits on a sub-agent: another process takes
// over both chats, the wait goes on there, and the child is not spawned twice.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Database } from '../../src/db/database.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import type { EventStore, StoredEvent } from '../../src/eventstore/types.ts'
import type { ChatEvent } from '../../src/events/chat.ts'
import { cairnEnv, dataOf, postGraphQL, serveCairn, type ServedCairn, stopServed } from '../cli/run-cairn.ts'
import { startFakeProvider, type FakeProvider, type ScriptedResponse } from '../fakes/script.ts'
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'

const TOKEN = /cairn_[A-Za-z0-9_-]{43}/
type Block = { type: string; text?: string; tool_use_id?: string; content?: unknown }
type AnthropicMessage = { role: string; content: string | Block[] }
const blocks = (m: AnthropicMessage): Block[] => (typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content)
const textOf = (c: unknown): string => (typeof c === 'string' ? c : Array.isArray(c) ? c.map((b: Block) => b.text ?? '').join('') : '')
type Log = (StoredEvent & ChatEvent)[]

describe.skipIf(!postgresAvailable)('takeovers in the middle of wait_agent and of an approval', { timeout: 180_000 }, () => {
  let fresh: { url: string; drop(): Promise<void> }
  let fake: FakeProvider
  let db: Database
  let store: EventStore
  const dirs: string[] = []
  const servers: ServedCairn[] = []
  let token = ''
  let childRequests = 0

  const envFor = (extra: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-takeover-'))
    dirs.push(dir)
    return cairnEnv({ DATABASE_URL: fresh.url, CAIRN_DATA_DIR: dir, PORT: '0', HOST: '127.0.0.1', CAIRN_SECRET_KEY: 'replicas-share-this', ...extra })
  }
  const gql = async (query: string, variables: Record<string, unknown> = {}) => dataOf(await postGraphQL(servers[0]!.url, token, query, variables))
  const read = async (chatId: string) => (await store.readStream(`chat-${chatId}`).catch(() => [])) as Log
  async function until(chatId: string, done: (es: Log) => boolean, timeoutMs = 60_000): Promise<Log> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const es = await read(chatId)
      if (done(es)) return es
      if (Date.now() > deadline) throw new Error(`timed out on ${chatId}: ${es.map((e) => e.type).join(', ')}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  beforeAll(async () => {
    fresh = await createFreshPostgresDatabase()
    fake = await startFakeProvider('anthropic')
    fake.setDefault((raw): ScriptedResponse => {
      const body = raw as { system?: unknown; messages: AnthropicMessage[] }
      if (textOf(body.system).startsWith('Write a title')) return { text: 'A title' }
      const first = textOf(blocks(body.messages[0]!).map((b) => b.text ?? '').join(''))
      const results = body.messages.flatMap((m) => blocks(m).filter((b) => b.type === 'tool_result'))
      if (first === 'Delegate and wait.') {
        if (results.length === 0) return { toolCalls: [{ id: 'spawn1', name: 'spawn_agent', arguments: { type: 'explore', prompt: 'Take your time.' } }] }
        const childId = /chat_id: (\S+)/.exec(textOf(results[0]!.content))?.[1]
        if (results.length === 1) return { toolCalls: [{ id: 'wait1', name: 'wait_agent', arguments: { chat_id: childId } }] }
        return { text: `Parent heard: ${textOf(results[1]!.content)}` }
      }
      if (first === 'Approve my spawn.') {
        if (results.length === 0) return { toolCalls: [{ id: 'held', name: 'spawn_agent', arguments: { type: 'explore', prompt: 'Quick child.' } }] }
        return { text: `Spawned: ${textOf(results[0]!.content).split('\n')[0]}` }
      }
      if (first === 'Quick child.') return { text: 'quick' }
      if (first === 'Take your time.') {
        // The first attempt streams slowly and dies with its runner; the resumed turn answers at once.
        childRequests++
        return childRequests === 1 ? { text: 'Slow thoughts. '.repeat(100), textPieces: 100, chunkDelayMs: 300 } : { text: 'The child finished after the takeover.' }
      }
      return { text: 'unexpected' }
    })
    const api = await serveCairn(envFor({ CAIRN_RUNNER: 'off' }))
    servers.push(api)
    token = TOKEN.exec(api.output())![0]
    db = await openDatabase({ url: fresh.url })
    store = createSqlEventStore(db)
    await gql(`mutation($url: String!) { configureProvider(input: { id: "claude", kind: anthropic, baseUrl: $url, apiKey: "sk-ant-test-takeover-0123456789" }) { id } }`, { url: fake.baseUrl })
    await gql(`mutation { configureModel(input: { id: "sonnet", providerId: "claude", modelName: "claude-test", isDefault: true, pricing: { input: 3, output: 15 } }) { id } }`)
  })
  afterAll(async () => {
    await stopServed(servers)
    await store?.close()
    await db?.close()
    await fake?.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
    await fresh?.drop()
  })

  it('resumes the wait on the new runner without spawning the child twice', async () => {
    const doomed = await serveCairn(envFor())
    servers.push(doomed)
    const parentId = (await gql(`mutation { createChat(input: { title: "parent", firstMessage: "Delegate and wait." }) { id } }`)).createChat.id as string
    const waiting = await until(parentId, (es) => es.some((e) => e.type === 'ToolCallStarted' && e.data.name === 'wait_agent'))
    const spawned = waiting.find((e) => e.type === 'SubAgentSpawned')
    if (spawned?.type !== 'SubAgentSpawned') throw new Error('no SubAgentSpawned')
    const childId = spawned.data.childChatId
    await until(childId, (es) => es.some((e) => e.type === 'TurnStarted'))
    await new Promise((r) => setTimeout(r, 500))
    doomed.child.kill('SIGKILL')
    await new Promise((r) => doomed.child.once('close', r))

    servers.push(await serveCairn(envFor()))
    const parent = await until(parentId, (es) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed'), 90_000)
    const types = parent.map((e) => e.type)
    expect(types).toContain('TurnResumed')
    expect(types).toContain('TurnCompleted')
    expect(parent.filter((e) => e.type === 'SubAgentSpawned')).toHaveLength(1)
    // The wait was resumed, not run as a second call; its result is the child's answer.
    expect(parent.filter((e) => e.type === 'ToolCallStarted').map((e) => e.type === 'ToolCallStarted' && e.data.name)).toEqual(['spawn_agent', 'wait_agent'])
    const waited = parent.find((e) => e.type === 'ToolCallCompleted' && e.data.callId === 'wait1')
    expect(waited?.type === 'ToolCallCompleted' && waited.data.result).toContain('The child finished after the takeover.')
    const last = parent.findLast((e) => e.type === 'AssistantStepCompleted')
    expect(last?.type === 'AssistantStepCompleted' && last.data.text).toContain('The child finished after the takeover.')
    // One child chat exists for the parent: the log has one ChatCreated naming it as parent.
    const created = (await store.readAll({ maxCount: 100_000, filter: { eventTypes: ['ChatCreated'] } })).events.filter(
      (e) => (e.data as { parentChatId?: string }).parentChatId === parentId,
    )
    expect(created.map((e) => e.stream)).toEqual([`chat-${childId}`])
    const child = await read(childId)
    expect(child.map((e) => e.type)).toContain('TurnResumed')
    expect(await store.verifyStream(`chat-${parentId}`)).toMatchObject({ ok: true })
  })

  it('an approval request survives a SIGKILL of its runner; approved, the call runs once on the next', async () => {
    await gql(`mutation { setApprovalPolicy(input: { rules: [{ tool: "spawn_agent" }], expiresAfterSeconds: 600 }) { orgId } }`)
    const runner = servers.at(-1)!
    const chatId = (await gql(`mutation { createChat(input: { title: "held", firstMessage: "Approve my spawn." }) { id } }`)).createChat.id as string
    await until(chatId, (es) => es.some((e) => e.type === 'ToolCallApprovalRequested'))
    runner.child.kill('SIGKILL')
    await new Promise((r) => runner.child.once('close', r))
    servers.push(await serveCairn(envFor()))
    await gql(`mutation($id: ID!) { approveToolCall(chatId: $id, callId: "held") { id } }`, { id: chatId })
    const events = await until(chatId, (es) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed'), 90_000)
    const types = events.map((e) => e.type)
    expect(types.filter((t) => t === 'ToolCallApprovalRequested')).toHaveLength(1)
    expect(types.filter((t) => t === 'SubAgentSpawned')).toHaveLength(1)
    expect(types).toContain('TurnResumed')
    const held = events.find((e) => e.type === 'ToolCallCompleted' && e.data.callId === 'held')
    expect(held?.type === 'ToolCallCompleted' && held.data.isError).toBe(false)
    const created = (await store.readAll({ maxCount: 100_000, filter: { eventTypes: ['ChatCreated'] } })).events.filter(
      (e) => (e.data as { parentChatId?: string }).parentChatId === chatId,
    )
    expect(created).toHaveLength(1)
    await gql(`mutation { setApprovalPolicy(input: { rules: [] }) { orgId } }`)
  })
})
