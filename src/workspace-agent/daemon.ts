// Lifecycle of the workspace daemon: state dir, private API socket, outbound tunnel.
import { createHash } from 'node:crypto'
import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildWorkspaceApp } from './app.ts'
import { TunnelClient } from './tunnel-client.ts'
import { daemonVersion, osDescription } from './version.ts'

export interface WorkspaceAgentOptions {
  /** Control plane base URL, http(s). */
  url: string
  token: string
  /** A fresh token when the control plane rejects this one (instance-identity agents re-authenticate). */
  refreshToken?: () => Promise<string>
  workdir: string
  /** Default `<workdir>/.cairn-agent`. */
  stateDir?: string
  /** Unix socket for the local API. Default `<stateDir>/agent.sock`. */
  localSocket?: string
  log?: (msg: string) => void
}

export interface RunningWorkspaceAgent {
  /** Where the local API listens; handy for debugging with `curl --unix-socket`. */
  socketPath: string
  close(): Promise<void>
}

// sun_path is 108 bytes on Linux and 104 on macOS.
const MAX_SOCKET_PATH = 100

export async function runWorkspaceAgent(opts: WorkspaceAgentOptions): Promise<RunningWorkspaceAgent> {
  const log = opts.log ?? ((msg: string) => process.stderr.write(`[cairn-agent] ${msg}\n`))
  const workdir = path.resolve(opts.workdir)
  const stateDir = path.resolve(opts.stateDir ?? path.join(workdir, '.cairn-agent'))
  const local = await serveLocal(opts.localSocket ?? (await defaultSocketPath(stateDir)), { workdir, stateDir })

  const tunnel = new TunnelClient({
    url: opts.url,
    token: opts.token,
    refreshToken: opts.refreshToken,
    localSocket: local.socketPath,
    log,
    hello: {
      version: daemonVersion(),
      os: osDescription(),
      arch: process.arch,
      hostname: os.hostname(),
      workdir,
      pid: process.pid,
    },
  })
  tunnel.start()
  log(`serving ${workdir} (state in ${stateDir})`)

  return {
    socketPath: local.socketPath,
    async close() {
      await tunnel.close()
      await local.close()
    },
  }
}

/** The daemon's API on a Unix socket, without a tunnel: for debugging and benchmarks. */
export async function serveLocal(
  socketPath: string,
  opts: { workdir: string; stateDir?: string },
): Promise<{ socketPath: string; app: FastifyInstance; close(): Promise<void> }> {
  const workdir = path.resolve(opts.workdir)
  const info = await stat(workdir).catch(() => null)
  if (!info?.isDirectory()) throw new Error(`workspace directory ${workdir} does not exist`)
  const stateDir = path.resolve(opts.stateDir ?? path.join(workdir, '.cairn-agent'))
  await preparePrivateDir(stateDir)
  await preparePrivateDir(path.dirname(socketPath))

  const app = buildWorkspaceApp({ workdir, stateDir })
  await rm(socketPath, { force: true }) // a stale socket from a killed daemon
  await app.listen({ path: socketPath })
  await chmod(socketPath, 0o600)
  return {
    socketPath,
    app,
    async close() {
      await app.close()
      await rm(socketPath, { force: true })
    },
  }
}

async function preparePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700)
}

async function defaultSocketPath(stateDir: string): Promise<string> {
  await preparePrivateDir(stateDir)
  // keep the state dir out of the user's `git status`
  await writeFile(path.join(stateDir, '.gitignore'), '*\n', { flag: 'wx' }).catch(() => {})
  const inState = path.join(stateDir, 'agent.sock')
  if (Buffer.byteLength(inState) <= MAX_SOCKET_PATH) return inState
  const hash = createHash('sha256').update(stateDir).digest('hex').slice(0, 16)
  return path.join(os.tmpdir(), `cairn-agent-${hash}`, 'agent.sock')
}
