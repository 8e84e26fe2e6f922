import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { workspaceStream } from '../../src/events/index.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { startWorkspaceServer, type WorkspaceServer } from './harness.ts'

type Gql = { data?: any; errors?: { message: string; extensions?: { code?: string } }[] }

const WORKSPACE_FIELDS = 'id name ownerId status agentConnected lastBuildLog lastError agent { os workdir } template { name }'

describe('workspaces through GraphQL', () => {
  let fake: FakeProvider
  let h: WorkspaceServer
  let alice: string
  let bob: string
  let auditor: string
  let admin: string
  const gql = async (token: string, query: string, variables: Record<string, unknown> = {}): Promise<Gql> => {
    const res = await fetch(`${h.server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    })
    return (await res.json()) as Gql
  }
  const until = async <T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const v = await fn()
      if (ok(v)) return v
      if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(v).slice(0, 1000)}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  beforeAll(async () => {
    fake = await startFakeProvider('openai-chat')
    h = await startWorkspaceServer(fake)
    alice = (await h.user('alice@example.com', 'member')).token
    bob = (await h.user('bob@example.com', 'member')).token
    auditor = (await h.user('audrey@example.com', 'auditor')).token
    admin = (await h.user('root@example.com', 'admin')).token
  })
  afterAll(async () => {
    await h?.close()
    await fake?.close()
  })

  it('creates a local workspace that its owner sees start; another member gets not found', async () => {
    const templates = await gql(alice, '{ templates { id name workspaceCount } }')
    const local = templates.data.templates.find((t: { name: string }) => t.name === 'local')
    const created = await gql(alice, `mutation($t: ID!) { createWorkspace(input: { templateId: $t, name: "mine" }) { ${WORKSPACE_FIELDS} } }`, { t: local.id })
    expect(created.errors).toBeUndefined()
    const id = created.data.createWorkspace.id
    const started = await until(
      () => gql(alice, `query($id: ID!) { workspace(id: $id) { ${WORKSPACE_FIELDS} } }`, { id }),
      (r) => r.data?.workspace?.status === 'STARTED' && r.data.workspace.agentConnected,
    )
    expect(started.data.workspace).toMatchObject({ name: 'mine', template: { name: 'local' } })
    // the local template yields one token agent named main
    const agents = await until(
      () => gql(alice, `query($id: ID!) { workspace(id: $id) { agents { name authKind instanceId parent connected } } }`, { id }),
      (r) => r.data?.workspace?.agents?.[0]?.connected === true,
    )
    expect(agents.data.workspace.agents).toEqual([{ name: 'main', authKind: 'TOKEN', instanceId: null, parent: null, connected: true }])
    expect(started.data.workspace.agent.workdir).toContain(id)

    const foreign = await gql(bob, `query($id: ID!) { workspace(id: $id) { id } }`, { id })
    const missing = await gql(bob, `query($id: ID!) { workspace(id: $id) { id } }`, { id: '5c0b8f57-3f4b-4a8e-9d55-0d1ad0a9b1e2' })
    expect(foreign.errors?.[0]).toMatchObject({ message: 'workspace not found', extensions: { code: 'NOT_FOUND' } })
    expect(foreign.errors?.[0]).toEqual(missing.errors?.[0])
    expect((await gql(bob, '{ workspaces { id } }')).data.workspaces).toEqual([])
    const stopByBob = await gql(bob, `mutation($id: ID!) { stopWorkspace(id: $id) { id } }`, { id })
    expect(stopByBob.errors?.[0]?.extensions?.code).toBe('NOT_FOUND')

    expect((await gql(auditor, '{ workspaces { id } }')).data.workspaces.map((w: { id: string }) => w.id)).toContain(id)
    expect((await gql(admin, '{ workspaces { id } }')).data.workspaces.map((w: { id: string }) => w.id)).toContain(id)

    const stopped = await gql(alice, `mutation($id: ID!) { stopWorkspace(id: $id) { status } }`, { id })
    expect(stopped.data.stopWorkspace.status).toBe('STOPPED')
    await until(
      () => gql(alice, `query($id: ID!) { workspace(id: $id) { agentConnected } }`, { id }),
      (r) => r.data.workspace.agentConnected === false,
    )
    expect((await gql(alice, '{ templates { name workspaceCount } }')).data.templates[0]).toMatchObject({ name: 'local', workspaceCount: 1 })
  }, 120_000)

  it('admins create exec templates; their commands get the workspace id and token and their output is the build log', async () => {
    const input = {
      name: 'exec-demo',
      description: 'Runs shell commands.',
      parameters: [{ name: 'size', type: 'ENUM', options: ['small', 'large'], default: 'small' }],
      provisioner: { kind: 'exec', create: 'echo creating $CAIRN_WORKSPACE_ID size=$CAIRN_PARAM_SIZE', start: 'echo token-length=${#CAIRN_AGENT_TOKEN}', stop: '', delete: '' },
      allowedRoles: ['MEMBER'],
    }
    const byMember = await gql(alice, 'mutation($i: TemplateInput!) { createTemplate(input: $i) { id } }', { i: input })
    expect(byMember.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    const made = await gql(admin, 'mutation($i: TemplateInput!) { createTemplate(input: $i) { id parameters { name type default options } } }', { i: input })
    expect(made.errors).toBeUndefined()
    const templateId = made.data.createTemplate.id

    const bad = await gql(alice, 'mutation($t: ID!) { createWorkspace(input: { templateId: $t, parameters: { size: "huge" } }) { id } }', { t: templateId })
    expect(bad.errors?.[0]).toMatchObject({ extensions: { code: 'INVALID_INPUT' } })
    expect(bad.errors?.[0]?.message).toContain('small, large')

    const created = await gql(alice, 'mutation($t: ID!) { createWorkspace(input: { templateId: $t, parameters: { size: "large" } }) { id } }', { t: templateId })
    const id = created.data.createWorkspace.id
    const built = await until(
      () => gql(alice, `query($id: ID!) { workspace(id: $id) { status lastBuildLog } }`, { id }),
      (r) => r.data.workspace.status === 'STARTED',
    )
    expect(built.data.workspace.lastBuildLog).toContain(`creating ${id} size=large`)
    expect(built.data.workspace.lastBuildLog).toMatch(/token-length=5\d/)

    const logged = JSON.stringify((await h.server.store.readStream(workspaceStream(id))).map((e) => [e.type, e.data, e.metadata]))
    expect(logged).toContain('WorkspaceBuildSucceeded')
    expect(logged).not.toContain('cairn_agent_')

    const client = createClient({ url: h.server.url.replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${alice}` }, retryAttempts: 0 })
    const items: any[] = []
    await new Promise<void>((resolve, reject) =>
      client.subscribe(
        { query: 'subscription($id: ID!) { workspaceBuildLog(workspaceId: $id) { line done ok } }', variables: { id } },
        { next: (v) => void items.push(v.data?.workspaceBuildLog ?? v.errors), error: reject, complete: resolve },
      ),
    )
    await client.dispose()
    expect(items.at(-1)).toMatchObject({ done: true, ok: true })
    expect(items.some((i) => i.line?.includes('creating'))).toBe(true)

    // An edit that leaves parameters out keeps them; an archived template leaves the list.
    const { parameters: _kept, ...withoutParameters } = input
    const edited = await gql(admin, 'mutation($id: ID!, $i: TemplateInput!) { updateTemplate(id: $id, input: $i) { name parameters { name } } }', {
      id: templateId,
      i: { ...withoutParameters, name: 'exec-renamed' },
    })
    expect(edited.data.updateTemplate).toEqual({ name: 'exec-renamed', parameters: [{ name: 'size' }] })
    expect((await gql(alice, 'mutation($id: ID!) { archiveTemplate(id: $id) }', { id: templateId })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
    expect((await gql(admin, 'mutation($id: ID!) { archiveTemplate(id: $id) }', { id: templateId })).data).toEqual({ archiveTemplate: true })
    const listed = await gql(admin, '{ templates { id } }')
    expect(listed.data.templates.map((t: { id: string }) => t.id)).not.toContain(templateId)
  }, 120_000)
})
