// End to end on the real server: an exec template declares two agents on one Google instance;
// its start command runs two real daemons (`--agent-name main`, `--agent-name dev`) that get
// their identity from a fake metadata service, trade it for session tokens and dial in; a
// scripted model's tool calls reach each by its `agent` argument.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeCloudIdentities, startFakeMetadataService, type CloudIdentities } from '../fakes/cloud-identity.ts'
import { startFakeProvider, type FakeProvider } from '../fakes/script.ts'
import { serverBackends } from '../support/databases.ts'
import { toolResults, type WorkspaceServer } from '../workspaces/harness.ts'
import { startIdentityServer } from './support.ts'

const REPO = resolve(import.meta.dirname, '../..')
const INSTANCE = '1234567890'
const DAEMON = `${JSON.stringify(process.execPath)} --import tsx/esm src/workspace-agent/main.ts`

/** What a platform team writes: start the VM's daemons (here: on this machine), then print the manifest. */
function startCommand(): string {
  const daemon = (name: string) =>
    `mkdir -p "$CAIRN_PARAM_ROOT/${name}" && (cd ${JSON.stringify(REPO)} && env -u CAIRN_AGENT_TOKEN CAIRN_METADATA_URL="$CAIRN_PARAM_METADATA_URL" ` +
    `nohup ${DAEMON} --url "$CAIRN_URL" --auth google-instance-identity --agent-name ${name} --dir "$CAIRN_PARAM_ROOT/${name}" ` +
    `> "$CAIRN_PARAM_ROOT/${name}.log" 2>&1 & echo $! > "$CAIRN_PARAM_ROOT/${name}.pid")`
  const manifest = JSON.stringify({
    cairn_agents: [
      { name: 'main', auth: 'google-instance-identity', instance_id: INSTANCE },
      { name: 'dev', auth: 'google-instance-identity', instance_id: INSTANCE },
    ],
  })
  return [daemon('main'), daemon('dev'), `echo '${manifest}'`].join('\n')
}
const STOP = 'for n in main dev; do [ -f "$CAIRN_PARAM_ROOT/$n.pid" ] && kill "$(cat "$CAIRN_PARAM_ROOT/$n.pid")" 2>/dev/null; rm -f "$CAIRN_PARAM_ROOT/$n.pid"; done; true'

const backends = serverBackends

for (const backend of backends) {
  describe.skipIf(!backend.available)(`two daemons on one instance, by instance identity, on ${backend.name}`, () => {
    let ids: CloudIdentities
    let fake: FakeProvider
    let metadata: Awaited<ReturnType<typeof startFakeMetadataService>>
    let h: WorkspaceServer
    let drop = async () => {}
    const root = mkdtempSync(join(tmpdir(), 'cairn-vm-'))

    beforeAll(async () => {
      ids = await makeCloudIdentities()
      fake = await startFakeProvider('openai-chat')
      metadata = await startFakeMetadataService(ids, INSTANCE)
      const db = await backend.database()
      drop = db.drop
      // no audience configured: the control plane's URL, which is what the daemons ask their token for
      h = await startIdentityServer(fake, ids, { databaseUrl: db.url })
    }, 120_000)

    afterAll(async () => {
      await new Promise<void>((done) => spawn('/bin/sh', ['-c', STOP], { env: { CAIRN_PARAM_ROOT: root }, stdio: 'ignore' }).on('exit', () => done()))
      await h?.close()
      await metadata?.close()
      await fake?.close()
      await drop()
      rmSync(root, { recursive: true, force: true })
    })

    it('both daemons connect by name, the workspace lists them, and tool calls reach each', async () => {
      const admin = await h.user('platform@example.com', 'admin')
      const dev = await h.user('dev@example.com', 'member')
      const ws = h.server.workspaces
      const template = await ws.createTemplate((await ws.actorFor(admin.userId))!, {
        name: 'gce-two-agents',
        description: 'One VM with a main and a dev agent.',
        parameters: [
          { name: 'root', description: 'where the VM keeps its folders', type: 'string' },
          { name: 'metadata_url', description: 'the metadata service', type: 'string' },
        ],
        provisioner: { kind: 'exec', create: 'echo creating the VM', start: startCommand(), stop: STOP, delete: STOP },
        allowedRoles: 'everyone',
      })
      const actor = (await ws.actorFor(dev.userId))!
      const created = await ws.createWorkspace(actor, { templateId: template.id, name: 'vm', parameters: { root, metadata_url: metadata.url } })
      const outcome = await created.build
      expect(outcome.ok, outcome.log).toBe(true)
      const workspaceId = created.workspace.id
      const daemonLogs = () => ['main', 'dev'].map((n) => `${n}: ${readFileSync(join(root, `${n}.log`), 'utf8')}`).join('\n')
      try {
        await ws.tunnels.waitForConnection(workspaceId, 60_000, undefined, 'main')
        await ws.tunnels.waitForConnection(workspaceId, 60_000, undefined, 'dev')
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${daemonLogs()}`)
      }
      expect(ws.tunnels.helloOf(workspaceId, 'dev')?.workdir).toBe(join(root, 'dev'))
      expect(metadata.requests.filter((r) => r.includes('/identity')).length).toBeGreaterThanOrEqual(2)

      // GraphQL shows the two agents of the latest build, connected
      const gql = async (query: string, variables: Record<string, unknown>) =>
        (await (await fetch(`${h.server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${dev.token}` }, body: JSON.stringify({ query, variables }) })).json()) as any
      const until = async () => {
        for (let i = 0; i < 100; i++) {
          const r = await gql('query($id: ID!) { workspace(id: $id) { agentConnected agents { name authKind instanceId connected } } }', { id: workspaceId })
          if (r.data?.workspace?.agents?.every((a: { connected: boolean }) => a.connected)) return r
          await new Promise((r) => setTimeout(r, 100))
        }
        throw new Error('the agents never showed as connected')
      }
      expect((await until()).data.workspace).toEqual({
        agentConnected: true,
        agents: [
          { name: 'main', authKind: 'GOOGLE_INSTANCE_IDENTITY', instanceId: INSTANCE, connected: true },
          { name: 'dev', authKind: 'GOOGLE_INSTANCE_IDENTITY', instanceId: INSTANCE, connected: true },
        ],
      })

      const call = (id: string, name: string, args: unknown) => ({ toolCalls: [{ id, name, arguments: args }] })
      h.script('where am I', [
        call('c1', 'execute', { command: 'echo "on $(basename "$PWD")"', agent: 'main' }),
        call('c2', 'execute', { command: 'echo "on $(basename "$PWD")"', agent: 'dev' }),
        call('c3', 'write_file', { path: 'note.txt', content: 'dev only\n', agent: 'dev' }),
        call('c4', 'execute', { command: 'cat note.txt' }),
        call('c5', 'read_file', { path: 'note.txt', agent: 'qa' }),
        { text: 'Both agents answered.' },
      ])
      const chatId = await h.createChat(dev.userId, 'where am I', { workspaceId })
      const events = await h.waitFor(chatId, (es) => es.some((e) => e.type === 'TurnCompleted' || e.type === 'TurnFailed'), 120_000)
      const results = toolResults(events)
      expect(results.c1?.result).toContain('on main')
      expect(results.c2?.result).toContain('on dev')
      expect(results.c3?.isError, results.c3?.result).toBe(false)
      expect(readFileSync(join(root, 'dev', 'note.txt'), 'utf8')).toBe('dev only\n')
      // no agent named: main
      expect(results.c4?.isError).toBe(true)
      expect(results.c4?.result).toContain('No such file')
      expect(results.c5).toMatchObject({ isError: true, result: 'This workspace has no agent named "qa"; its agents are: main, dev.' })
    }, 240_000)

    it('a third daemon on the instance without a name prints the 409 and exits non-zero', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'cairn-third-'))
      const child = spawn(process.execPath, ['--import', 'tsx/esm', 'src/workspace-agent/main.ts', '--url', h.server.url, '--auth', 'google-instance-identity', '--dir', dir], {
        cwd: REPO,
        env: { PATH: process.env.PATH, CAIRN_METADATA_URL: metadata.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)))
      rmSync(dir, { recursive: true, force: true })
      expect(code).toBe(1)
      expect(stderr).toContain(`several agents share instance ${INSTANCE}; set CAIRN_AGENT_NAME to one of: dev, main`)
    }, 60_000)
  })
}
