// Two `cairn serve` processes on one PostgreSQL database: each tails the log itself, so a
// subscriber on one sees what is written through the other. Also: the first start's admin
// bootstrap and the `users create` / `tokens create` commands, as a user runs them.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from 'graphql-ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { cairnEnv, postGraphQL, runCairn, serveCairn, type ServedCairn } from '../cli/run-cairn.ts'

const gql = async (url: string, token: string, query: string, variables: Record<string, unknown> = {}) => (await postGraphQL(url, token, query, variables)).body
import { createFreshPostgresDatabase, postgresAvailable } from '../support/databases.ts'
import { collect } from './harness.ts'


const TOKEN = /cairn_[A-Za-z0-9_-]{43}/

describe.skipIf(!postgresAvailable)('two server processes on one PostgreSQL database', { timeout: 180_000 }, () => {
  let fresh: { url: string; drop(): Promise<void> }
  const dirs: string[] = []
  const servers: ServedCairn[] = []

  beforeAll(async () => {
    fresh = await createFreshPostgresDatabase()
  })
  afterAll(async () => {
    for (const s of servers) {
      s.child.kill('SIGTERM')
      await new Promise((r) => s.child.once('close', r))
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
    await fresh?.drop()
  })

  const envFor = () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-proc-'))
    dirs.push(dir)
    return cairnEnv({ DATABASE_URL: fresh.url, CAIRN_DATA_DIR: dir, PORT: '0', HOST: '127.0.0.1', CAIRN_RUNNER: 'off' })
  }

  it('bootstraps one admin, creates users from the CLI, and fans events out across processes', async () => {
    const envA = envFor()
    const a = await serveCairn(envA)
    servers.push(a)
    // The first start printed the admin token once and wrote it, readable only by its owner.
    const adminToken = TOKEN.exec(a.output())![0]
    const file = join(envA.CAIRN_DATA_DIR!, 'admin-token')
    expect(readFileSync(file, 'utf8').trim()).toBe(adminToken)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect((await gql(a.url, adminToken, '{ me { email role } }')).data.me).toEqual({ email: 'admin@cairn.local', role: 'ADMIN' })

    const b = await serveCairn(envFor())
    servers.push(b)
    expect(TOKEN.test(b.output())).toBe(false) // users exist: no second admin

    const created = await runCairn(['users', 'create', '--email', 'Dev@Example.com', '--role', 'member'], envFor())
    expect(created.code, created.stderr).toBe(0)
    const memberToken = created.stdout.trim()
    expect(memberToken).toMatch(TOKEN)
    const again = await runCairn(['users', 'create', '--email', 'dev@example.com', '--role', 'admin'], envFor())
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/already exists/)
    const issued = await runCairn(['tokens', 'create', '--email', 'dev@example.com'], envFor())
    expect(issued.code, issued.stderr).toBe(0)
    const secondToken = issued.stdout.trim()
    expect(secondToken).not.toBe(memberToken)
    const nobody = await runCairn(['tokens', 'create', '--email', 'nobody@example.com'], envFor())
    expect(nobody.code).toBe(1)

    // The servers' projections pick the new user up from the log.
    await expect.poll(async () => (await gql(b.url, secondToken, '{ me { email role } }')).data?.me, { timeout: 15_000 }).toEqual({ email: 'dev@example.com', role: 'MEMBER' })

    const chat = (await gql(a.url, memberToken, 'mutation { createChat(input: { title: "shared", firstMessage: "hi" }) { id } }')).data.createChat
    const client = createClient({ url: b.url.replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${memberToken}` }, retryAttempts: 0 })
    const sub = collect<{ chatEvents: { revision: number; type: string } }>(
      client,
      'subscription($id: ID!) { chatEvents(chatId: $id) { revision type } }',
      { id: chat.id },
      (items) => items.length >= 5,
    )
    for (const title of ['one', 'two', 'three']) {
      const renamed = await gql(a.url, memberToken, 'mutation($id: ID!, $t: String!) { renameChat(chatId: $id, title: $t) { title } }', { id: chat.id, t: title })
      expect(renamed.data.renameChat.title).toBe(title)
    }
    const items = await sub.done
    expect(items.slice(0, 5).map((i) => [i.chatEvents.revision, i.chatEvents.type])).toEqual([
      [0, 'ChatCreated'],
      [1, 'UserMessagePosted'],
      [2, 'ChatRenamed'],
      [3, 'ChatRenamed'],
      [4, 'ChatRenamed'],
    ])
    await client.dispose()

    // A fork is answered from its stored event, without waiting for the read models: read at once
    // through the other process, it is there and reads as the answer said.
    const FORK = `id ownerId title status modelId planMode queueLength revision forkOf { chatId revision } createdAt updatedAt
      usage { inputTokens costUsd } openToolCalls { callId } queue { queueId }`
    for (const at of [1, 3]) {
      const forked = (await gql(a.url, memberToken, `mutation($id: ID!, $at: Int!) { forkChat(chatId: $id, atRevision: $at) { ${FORK} } }`, { id: chat.id, at })).data.forkChat
      expect(forked).toMatchObject({ forkOf: { chatId: chat.id, revision: at }, revision: at + 1, status: 'WAITING' })
      expect((await gql(b.url, memberToken, `query($id: ID!) { chat(id: $id) { ${FORK} } }`, { id: forked.id })).data.chat).toEqual(forked)
    }
  })

  it('creates organizations and grants roles from the CLI, adding to the roles a user has', async () => {
    const a = servers[0]!
    const env = envFor()
    const org = await runCairn(['orgs', 'create', '--name', 'acme'], env)
    expect(org.code, org.stderr).toBe(0)
    const ops = await runCairn(['users', 'create', '--email', 'ops@example.com', '--role', 'member', '--no-agents-access'], env)
    expect(ops.code, ops.stderr).toBe(0)
    const token = ops.stdout.trim()
    const me = async () => (await gql(a.url, token, '{ me { agentsAccess organizations { organization { name } roles } } }')).data?.me
    await expect.poll(me, { timeout: 15_000 }).toEqual({ agentsAccess: false, organizations: [{ organization: { name: 'default' }, roles: ['MEMBER'] }] })
    const refused = await gql(a.url, token, 'mutation { createChat(input: { title: "x" }) { id } }')
    expect(refused.errors?.[0]?.message).toContain('agents-access')

    for (const [orgName, role] of [['default', 'agents-access'], ['acme', 'member']]) {
      const granted = await runCairn(['users', 'grant-role', '--email', 'ops@example.com', '--org', orgName!, '--role', role!], env)
      expect(granted.code, granted.stderr).toBe(0)
    }
    await expect.poll(me, { timeout: 15_000 }).toEqual({
      agentsAccess: true,
      organizations: [
        { organization: { name: 'acme' }, roles: ['MEMBER'] },
        { organization: { name: 'default' }, roles: ['AGENTS_ACCESS', 'MEMBER'] },
      ],
    })
    const unknown = await runCairn(['users', 'grant-role', '--email', 'ops@example.com', '--org', 'nope', '--role', 'member'], env)
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/no organization nope/)
  })
})
