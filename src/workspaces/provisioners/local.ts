// `local`: a folder under `<dataDir>/workspaces/<id>` and the workspace daemon as a child process
// of the control plane, inside bubblewrap where it is installed. The daemon gets a clean
// environment: no provider keys, no CAIRN_* secrets, no DATABASE_URL.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, lstatSync, readlinkSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ProvisionError, type Provisioner, type ProvisionRequest } from './types.ts'

const repoRoot = path.resolve(import.meta.dirname, '../../..')
const RESTART_DELAY_MS = 500
const STOP_GRACE_MS = 5_000

/** Whether `bwrap` is on PATH (checked once). */
export function bubblewrapPath(): string | null {
  try {
    return execFileSync('/bin/sh', ['-c', 'command -v bwrap'], { encoding: 'utf8' }).trim() || null
  } catch {
    return null
  }
}

export const UNSANDBOXED_WARNING = 'local workspaces are not sandboxed: the local provisioner trusts its one user (install bubblewrap to sandbox them)'

interface Daemon {
  child: ChildProcess | null
  /** Whether the workspace is started: a daemon that dies is then restarted. */
  wanted: boolean
  token: string
  url: string
  output: string
  restarts: number
  timer?: NodeJS.Timeout
}

export class LocalProvisioner implements Provisioner {
  readonly sandboxed: boolean
  readonly #bwrap: string | null
  readonly #daemons = new Map<string, Daemon>()

  constructor(
    private readonly opts: { dataDir: string; log: (line: string) => void; bwrap?: string | null },
  ) {
    this.#bwrap = opts.bwrap === undefined ? bubblewrapPath() : opts.bwrap
    this.sandboxed = this.#bwrap !== null
    if (!this.sandboxed) opts.log(`warning: ${UNSANDBOXED_WARNING}`)
  }

  folderOf(workspaceId: string): string {
    return path.join(this.opts.dataDir, 'workspaces', workspaceId)
  }

  /** The pid of the daemon's process (bwrap's, when sandboxed); for tests and operators. */
  daemonPid(workspaceId: string): number | undefined {
    return this.#daemons.get(workspaceId)?.child?.pid
  }

  async create(req: ProvisionRequest): Promise<void> {
    const folder = this.folderOf(req.workspaceId)
    await mkdir(folder, { recursive: true, mode: 0o700 })
    req.log(`created folder ${folder}`)
  }

  async start(req: ProvisionRequest): Promise<void> {
    const folder = this.folderOf(req.workspaceId)
    if (!existsSync(folder)) await mkdir(folder, { recursive: true, mode: 0o700 })
    const existing = this.#daemons.get(req.workspaceId)
    if (existing?.child) await this.#kill(existing)
    const d: Daemon = { child: null, wanted: true, token: req.agentToken, url: req.controlPlaneUrl, output: '', restarts: 0 }
    this.#daemons.set(req.workspaceId, d)
    this.#spawn(req.workspaceId, d)
    req.log(`started the workspace agent${this.sandboxed ? ' in bubblewrap' : ' (not sandboxed)'} (pid ${d.child?.pid})`)
  }

  async stop(req: ProvisionRequest): Promise<void> {
    const d = this.#daemons.get(req.workspaceId)
    if (d) {
      d.wanted = false
      clearTimeout(d.timer)
      await this.#kill(d)
      this.#daemons.delete(req.workspaceId)
    }
    req.log('stopped the workspace agent')
  }

  async delete(req: ProvisionRequest): Promise<void> {
    await this.stop(req)
    await rm(this.folderOf(req.workspaceId), { recursive: true, force: true })
    req.log(`removed folder ${this.folderOf(req.workspaceId)}`)
  }

  status(workspaceId: string): 'running' | 'stopped' {
    const child = this.#daemons.get(workspaceId)?.child
    return child && child.exitCode === null && child.signalCode === null ? 'running' : 'stopped'
  }

  /** The daemon's latest output (its last 20 KB), to explain a daemon that never connects. */
  recentOutput(workspaceId: string): string {
    return this.#daemons.get(workspaceId)?.output ?? ''
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.#daemons.values()].map((d) => {
        d.wanted = false
        clearTimeout(d.timer)
        return this.#kill(d)
      }),
    )
    this.#daemons.clear()
  }

  #spawn(workspaceId: string, d: Daemon): void {
    const folder = this.folderOf(workspaceId)
    const daemonArgs = ['--import', 'tsx/esm', path.join(repoRoot, 'src/workspace-agent/main.ts'), '--url', d.url, '--dir', folder]
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: folder,
      LANG: process.env.LANG ?? 'C.UTF-8',
      TMPDIR: this.sandboxed ? '/tmp' : tmpdir(),
      CAIRN_AGENT_TOKEN: d.token,
    }
    const [command, args] = this.#bwrap
      ? [this.#bwrap, [...this.#sandboxArgs(folder), '--', process.execPath, ...daemonArgs]]
      : [process.execPath, daemonArgs]
    const child = spawn(command, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
    d.child = child
    const keep = (chunk: Buffer) => (d.output = (d.output + chunk.toString('utf8')).slice(-20_000))
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    child.on('error', (err) => this.opts.log(`workspace ${workspaceId}: agent could not start: ${err.message}`))
    child.on('exit', (code, signal) => {
      if (d.child !== child) return
      d.child = null
      if (!d.wanted) return
      d.restarts++
      this.opts.log(`workspace ${workspaceId}: agent exited (${signal ?? `code ${code}`}); restarting`)
      d.timer = setTimeout(() => d.wanted && !d.child && this.#spawn(workspaceId, d), Math.min(RESTART_DELAY_MS * d.restarts, 10_000))
      d.timer.unref()
    })
  }

  /** Read-only system and runtime, the workspace folder read-write, nothing of the data dir. */
  #sandboxArgs(folder: string): string[] {
    // A fresh /tmp first: binds are applied in order, and the repo or the workspace may live under /tmp.
    const args: string[] = ['--tmpfs', '/tmp']
    for (const dir of ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/etc']) {
      if (!existsSync(dir)) continue
      const st = lstatSync(dir)
      if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir)
      else args.push('--ro-bind', dir, dir)
    }
    const nodeHome = path.dirname(path.dirname(process.execPath))
    if (!nodeHome.startsWith('/usr')) args.push('--ro-bind', nodeHome, nodeHome)
    for (const part of ['node_modules', 'src', 'package.json', 'tsconfig.json'])
      if (existsSync(path.join(repoRoot, part))) args.push('--ro-bind', path.join(repoRoot, part), path.join(repoRoot, part))
    args.push(
      '--bind', folder, folder,
      '--proc', '/proc',
      '--dev', '/dev',
      '--unshare-pid',
      '--die-with-parent',
      '--chdir', repoRoot,
    )
    return args
  }

  async #kill(d: Daemon): Promise<void> {
    const child = d.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    d.child = null
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
    await exited
    clearTimeout(timer)
  }
}

export { ProvisionError }
