// A real control plane (fastify + the tunnel plugin on a loopback port) and the real
// daemon as a child process. Nothing of ours is mocked.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, realpath } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { WorkspaceTunnels, type DaemonHello } from '../../src/workspaces/tunnel.ts'

export const TOKEN = 'agent-token-for-ws-1'
export const WORKSPACE = 'ws-1'
const repoRoot = path.resolve(import.meta.dirname, '../..')

export interface ControlPlane {
  url: string
  app: FastifyInstance
  tunnels: WorkspaceTunnels
  hellos: DaemonHello[]
  disconnects: string[]
  close(): Promise<void>
}

export async function startControlPlane(opts: { pingIntervalMs?: number } = {}): Promise<ControlPlane> {
  const hellos: DaemonHello[] = []
  const disconnects: string[] = []
  const tunnels = new WorkspaceTunnels({
    authenticate: async (token) => (token === TOKEN ? { workspaceId: WORKSPACE } : null),
    onConnect: (_id, hello) => void hellos.push(hello),
    onDisconnect: (id) => void disconnects.push(id),
    pingIntervalMs: opts.pingIntervalMs,
  })
  const app = Fastify()
  await app.register(tunnels.plugin)
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  return {
    url: address,
    app,
    tunnels,
    hellos,
    disconnects,
    async close() {
      await tunnels.close()
      await app.close()
    },
  }
}

export interface DaemonProcess {
  child: ChildProcess
  log(): string
  exited: Promise<void>
  stop(signal?: NodeJS.Signals): Promise<void>
}

export function spawnDaemon(opts: { url: string; workdir: string; token?: string }): DaemonProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx/esm', 'src/workspace-agent/main.ts', '--url', opts.url, '--dir', opts.workdir],
    {
      cwd: repoRoot,
      env: { ...process.env, CAIRN_AGENT_TOKEN: opts.token ?? TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    child,
    log: () => output,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
  }
}

export async function makeWorkdir(): Promise<string> {
  // realpath: macOS tmpdir is a symlink, and the daemon reports resolved paths
  return realpath(await mkdtemp(path.join(os.tmpdir(), 'cairn-ws-')))
}

export async function startWorkspace(): Promise<{ cp: ControlPlane; daemon: DaemonProcess; workdir: string }> {
  const cp = await startControlPlane()
  const workdir = await makeWorkdir()
  const daemon = spawnDaemon({ url: cp.url, workdir })
  await cp.tunnels.waitForConnection(WORKSPACE, 20_000)
  return { cp, daemon, workdir }
}
