// Killing the control plane (SIGKILL) during an `execute` and starting it again: the new
// process takes the chat over, finds the command by its tool-call id on the workspace daemon
// and reports it, instead of running it a second time.
import { readFileSync, rmSync, mkdtempSync, existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Database } from '../../src/db/database.ts'
import { createSqlEventStore } from '../../src/eventstore/postgres/index.ts'
import type { EventStore } from '../../src/eventstore/types.ts'
import { cairnEnv, dataOf, postGraphQL, serveCairn, type ServedCairn, stopServed } from '../cli/run-cairn.ts'

const gql = async (url: string, token: string, query: string, variables: Record<string, unknown> = {}) => dataOf(await postGraphQL(url, token, query, variables))
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'

const TOKEN = /cairn_[A-Za-z0-9_-]{43}/
const COMMAND = 'echo ran >> runs.txt; sleep 4; echo finished'

describe.skipIf(!postgresAvailable)('a control plane killed during execute', { timeout: 180_000 }, () => {
  let fresh: { url: string; drop(): Promise<void> }
  let fake: FakeProvider
  let db: Database
  let store: EventStore
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-crash-'))
  const servers: ServedCairn[] = []

  beforeAll(async () => {
    fresh = await createFreshPostgresDatabase()
    fake = await startFakeProvider('openai-chat')
    // The model runs one command, then answers once it has seen the command's result.
    fake.setDefault((body) => {
      const messages = (body as { messages: { role: string }[] }).messages
      return messages.some((m) => m.role === 'tool') ? { text: 'The command finished.' } : { toolCalls: [{ id: 'call_exec', name: 'execute', arguments: { command: COMMAND } }] }
    })
    db = await openDatabase({ url: fresh.url })
    store = createSqlEventStore(db)
  })
  afterAll(async () => {
    await stopServed(servers)
    await store?.close()
    await db?.close()
    await fake?.close()
    await fresh?.drop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('does not run the command again after the restart, and the turn completes with its result', async () => {
    const env = cairnEnv({ DATABASE_URL: fresh.url, CAIRN_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', CAIRN_SECRET_KEY: 'crash-test' })
    const first = await serveCairn(env)
    servers.push(first)
    const admin = TOKEN.exec(first.output())![0]
    await gql(first.url, admin, `mutation($url: String!) { configureProvider(input: { id: "fake", kind: openai_chat, baseUrl: $url, apiKey: "sk-x" }) { id } }`, { url: fake.baseUrl })
    await gql(first.url, admin, `mutation { configureModel(input: { id: "m", providerId: "fake", modelName: "m1", isDefault: true }) { id } }`)
    const chat = (await gql(first.url, admin, `mutation { createChat(input: { title: "crash", firstMessage: "run the command" }) { id } }`)).createChat
    const stream = `chat-${chat.id}`

    // Wait until the command is running in the workspace, then kill the control plane.
    const runsFile = () => {
      const root = join(dataDir, 'workspaces')
      const [ws] = existsSync(root) ? readdirSync(root) : []
      return ws ? join(root, ws, 'runs.txt') : null
    }
    for (let i = 0; i < 600; i++) {
      const file = runsFile()
      if (file && existsSync(file)) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(runsFile() && existsSync(runsFile()!)).toBe(true)
    first.child.kill('SIGKILL')
    await new Promise((r) => first.child.once('close', r))

    const second = await serveCairn(env)
    servers.push(second)
    let events = await store.readStream(stream)
    for (let i = 0; i < 600 && !events.some((e) => e.type === 'TurnCompleted'); i++) {
      await new Promise((r) => setTimeout(r, 100))
      events = await store.readStream(stream)
    }
    const types = events.map((e) => e.type)
    expect(types, `the restarted server printed:\n${second.output()}`).toContain('TurnCompleted')
    expect(types.filter((t) => t === 'ToolCallStarted')).toHaveLength(1)
    const completed = events.filter((e) => e.type === 'ToolCallCompleted' && (e.data as { callId: string }).callId === 'call_exec')
    expect(completed).toHaveLength(1)
    // The daemon knew the run by its key: the result is the recorded process, not "unknown".
    expect((completed[0]!.data as { result: string }).result).toMatch(/^process /)
    expect(readFileSync(runsFile()!, 'utf8').trim().split('\n')).toEqual(['ran'])
    expect(await store.verifyStream(stream)).toMatchObject({ ok: true })
  })
})
