// Processes the agent runs. Each one is a detached process group whose stdout and
// stderr go straight into a log file, and whose record is a JSON file beside it, so
// output, exit status and idempotency keys outlive a daemon restart, and a background
// process outlives the daemon itself.
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { mkdir, open, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { AgentError, badRequest, notFound } from './errors.ts'

export type ProcessStatus = 'running' | 'exited' | 'lost'

export interface ProcessRecord {
  id: string
  command: string
  workdir: string
  pid: number
  background: boolean
  idempotencyKey: string | null
  status: ProcessStatus
  exitCode: number | null
  signal: string | null
  timedOut: boolean
  timeoutMs: number | null
  startedAt: string
  endedAt: string | null
  durationMs: number | null
  /** The last signal the daemon sent, to tell "killed by us" from a plain exit code. */
  signalSent: string | null
}

export interface StartProcessRequest {
  command: string
  workdir?: string
  env?: Record<string, string>
  timeoutMs?: number
  background?: boolean
  idempotencyKey?: string
  maxOutputBytes?: number
}

export interface ProcessOutput {
  output: string
  outputTruncated: boolean
  /** Total bytes the process has written so far. */
  outputBytes: number
}

export const DEFAULT_OUTPUT_CAP = 64 * 1024
const DEFAULT_FOREGROUND_TIMEOUT_MS = 2 * 60_000
const KILL_GRACE_MS = 2_000
const ADOPTED_POLL_MS = 250

// The wrapper shell records the command's exit status in a file, so a daemon that
// restarts can still learn how a process it no longer parents ended. It deliberately
// does not trap signals: a signal to the group must end it even before the command starts.
const WRAPPER = 'sh -c "$1"; c=$?; echo $c > "$2"; exit $c'

interface Tracked {
  record: ProcessRecord
  exited: Promise<void>
  markExited: () => void
  timeoutTimer?: NodeJS.Timeout
  killTimer?: NodeJS.Timeout
  poller?: NodeJS.Timeout
}

export class ProcessTable {
  private readonly dir: string
  private readonly byId = new Map<string, Tracked>()
  private readonly byKey = new Map<string, string>()
  private readonly writes = new Map<string, Promise<void>>()
  private closed = false

  constructor(
    private readonly workdir: string,
    stateDir: string,
  ) {
    this.dir = path.join(stateDir, 'processes')
  }

  /** Loads records from a previous run and re-attaches to processes still alive. */
  async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json')) continue
      let record: ProcessRecord
      try {
        record = JSON.parse(await readFile(path.join(this.dir, name), 'utf8')) as ProcessRecord
      } catch {
        continue // a torn write from a crash; the rename below makes this rare
      }
      const tracked = this.track(record)
      if (record.status === 'running') this.adopt(tracked)
    }
  }

  list(): ProcessRecord[] {
    return [...this.byId.values()].map((t) => t.record).sort((a, b) => a.startedAt.localeCompare(b.startedAt))
  }

  get(id: string): ProcessRecord {
    const tracked = this.byId.get(id)
    if (!tracked) throw notFound(`no process with id ${id}`)
    return tracked.record
  }

  byIdempotencyKey(key: string): ProcessRecord | null {
    const id = this.byKey.get(key)
    return id ? this.byId.get(id)!.record : null
  }

  /** Starts a process, or returns the one an earlier request with the same key started. */
  async start(req: StartProcessRequest): Promise<{ record: ProcessRecord; replayed: boolean }> {
    if (this.closed) throw new AgentError(503, 'SHUTTING_DOWN', 'the workspace agent is shutting down')
    if (req.idempotencyKey) {
      const existing = this.byIdempotencyKey(req.idempotencyKey)
      if (existing) return { record: existing, replayed: true }
    }
    const cwd = path.resolve(this.workdir, req.workdir ?? '.')
    const cwdStat = await stat(cwd).catch(() => null)
    if (!cwdStat?.isDirectory()) throw badRequest('INVALID_WORKDIR', `workdir ${req.workdir ?? cwd} is not an existing directory`)
    // The key may have been claimed while we awaited.
    if (req.idempotencyKey) {
      const existing = this.byIdempotencyKey(req.idempotencyKey)
      if (existing) return { record: existing, replayed: true }
    }

    const id = `p-${randomUUID().slice(0, 8)}`
    const logFd = openSync(this.logPath(id), 'a', 0o600)
    let child
    try {
      child = spawn('sh', ['-c', WRAPPER, 'cairn-process', req.command, this.exitPath(id)], {
        cwd,
        env: childEnv(req.env),
        detached: true,
        stdio: ['ignore', logFd, logFd],
      })
    } finally {
      closeSync(logFd)
    }
    if (child.pid === undefined) {
      const err = await new Promise<Error>((resolve) => child.once('error', resolve))
      throw new AgentError(500, 'SPAWN_FAILED', `could not start sh: ${err.message}`)
    }
    child.unref()

    const timeoutMs = req.timeoutMs ?? (req.background ? null : DEFAULT_FOREGROUND_TIMEOUT_MS)
    const record: ProcessRecord = {
      id,
      command: req.command,
      workdir: cwd,
      pid: child.pid,
      background: req.background ?? false,
      idempotencyKey: req.idempotencyKey ?? null,
      status: 'running',
      exitCode: null,
      signal: null,
      timedOut: false,
      timeoutMs,
      startedAt: new Date().toISOString(),
      endedAt: null,
      durationMs: null,
      signalSent: null,
    }
    const tracked = this.track(record)
    child.on('exit', (code, signal) => void this.finish(tracked, code, signal))
    child.on('error', () => void this.finish(tracked, null, null))
    this.armTimeout(tracked)
    await this.persist(record)
    return { record, replayed: false }
  }

  /** Resolves when the process has exited or waitMs passed, whichever is first. */
  async waitForExit(id: string, waitMs: number): Promise<ProcessRecord> {
    const tracked = this.byId.get(id)
    if (!tracked) throw notFound(`no process with id ${id}`)
    if (tracked.record.status === 'running' && waitMs > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([tracked.exited, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))])
      clearTimeout(timer)
    }
    return tracked.record
  }

  exited(id: string): Promise<void> {
    const tracked = this.byId.get(id)
    if (!tracked) throw notFound(`no process with id ${id}`)
    return tracked.exited
  }

  signal(id: string, which: 'terminate' | 'kill'): ProcessRecord {
    const tracked = this.byId.get(id)
    if (!tracked) throw notFound(`no process with id ${id}`)
    if (tracked.record.status !== 'running') {
      throw new AgentError(409, 'NOT_RUNNING', `process ${id} is not running (status ${tracked.record.status})`)
    }
    this.sendSignal(tracked, which === 'kill' ? 'SIGKILL' : 'SIGTERM')
    return tracked.record
  }

  /** The last `cap` bytes of the process's output (stdout and stderr interleaved). */
  async output(id: string, cap = DEFAULT_OUTPUT_CAP): Promise<ProcessOutput> {
    this.get(id)
    let handle
    try {
      handle = await open(this.logPath(id), 'r')
    } catch {
      return { output: '', outputTruncated: false, outputBytes: 0 }
    }
    try {
      const { size } = await handle.stat()
      const start = Math.max(0, size - cap)
      const buf = Buffer.alloc(size - start)
      const { bytesRead } = await handle.read(buf, 0, buf.length, start)
      let view = buf.subarray(0, bytesRead)
      // skip a multi-byte character cut in half by the tail window
      if (start > 0) {
        let skip = 0
        while (skip < view.length && skip < 4 && (view[skip]! & 0xc0) === 0x80) skip++
        view = view.subarray(skip)
      }
      return { output: view.toString('utf8'), outputTruncated: start > 0, outputBytes: size }
    } finally {
      await handle.close()
    }
  }

  /** Yields the log from `from` as it grows, ending once the process has exited. */
  async *follow(id: string, from = 0): AsyncGenerator<Buffer> {
    const tracked = this.byId.get(id)
    if (!tracked) throw notFound(`no process with id ${id}`)
    let offset = from
    let exited = tracked.record.status !== 'running'
    const onExit = tracked.exited.then(() => (exited = true))
    const handle = await open(this.logPath(id), 'r').catch(() => null)
    try {
      for (;;) {
        const wasExited = exited
        if (handle) {
          for (;;) {
            const buf = Buffer.alloc(64 * 1024)
            const { bytesRead } = await handle.read(buf, 0, buf.length, offset)
            if (bytesRead === 0) break
            offset += bytesRead
            yield buf.subarray(0, bytesRead)
          }
        }
        // one last drain after exit so nothing written just before it is lost
        if (wasExited) return
        let timer: NodeJS.Timeout | undefined
        await Promise.race([onExit, new Promise<void>((r) => (timer = setTimeout(r, 100)))])
        clearTimeout(timer)
      }
    } finally {
      await handle?.close()
    }
  }

  /** Stops timers; the processes themselves keep running. */
  close(): void {
    this.closed = true
    for (const t of this.byId.values()) {
      clearTimeout(t.timeoutTimer)
      clearTimeout(t.killTimer)
      clearInterval(t.poller)
    }
  }

  private track(record: ProcessRecord): Tracked {
    let markExited!: () => void
    const exited = new Promise<void>((r) => (markExited = r))
    const tracked: Tracked = { record, exited, markExited }
    if (record.status !== 'running') markExited()
    this.byId.set(record.id, tracked)
    if (record.idempotencyKey) this.byKey.set(record.idempotencyKey, record.id)
    return tracked
  }

  private armTimeout(tracked: Tracked): void {
    const { timeoutMs, startedAt } = tracked.record
    if (timeoutMs === null) return
    const remaining = Math.max(0, Date.parse(startedAt) + timeoutMs - Date.now())
    tracked.timeoutTimer = setTimeout(() => {
      if (tracked.record.status !== 'running') return
      tracked.record.timedOut = true
      this.sendSignal(tracked, 'SIGTERM')
      tracked.killTimer = setTimeout(() => {
        if (tracked.record.status === 'running') this.sendSignal(tracked, 'SIGKILL')
      }, KILL_GRACE_MS)
    }, remaining)
  }

  private sendSignal(tracked: Tracked, signal: NodeJS.Signals): void {
    tracked.record.signalSent = signal
    try {
      process.kill(-tracked.record.pid, signal) // the whole group: sh and what it started
    } catch {
      try {
        process.kill(tracked.record.pid, signal)
      } catch {
        // already gone
      }
    }
    void this.persist(tracked.record)
  }

  /** A process from a previous daemon run: no exit event, so watch its exit file and pid. */
  private adopt(tracked: Tracked): void {
    const check = () => {
      const code = this.readExitFile(tracked.record.id)
      if (code !== null) return void this.finish(tracked, code, null)
      if (pidAlive(tracked.record.pid)) return
      // Gone without an exit file: killed outright. If we sent the kill, that is the answer.
      const sent = tracked.record.signalSent as NodeJS.Signals | null
      void this.finish(tracked, null, sent, sent ? 'exited' : 'lost')
    }
    check()
    if (tracked.record.status === 'running') {
      tracked.poller = setInterval(check, ADOPTED_POLL_MS)
      tracked.poller.unref()
      this.armTimeout(tracked)
    }
  }

  private async finish(tracked: Tracked, code: number | null, signal: NodeJS.Signals | null, status: ProcessStatus = 'exited'): Promise<void> {
    const record = tracked.record
    if (record.status !== 'running') return
    clearTimeout(tracked.timeoutTimer)
    clearTimeout(tracked.killTimer)
    clearInterval(tracked.poller)
    // The wrapper exits with the command's status; 128+n after our own signal n means the signal.
    const fromFile = this.readExitFile(record.id)
    if (code === null && signal === null && fromFile !== null) code = fromFile
    if (code !== null && record.signalSent && code === 128 + (os.constants.signals[record.signalSent as NodeJS.Signals] ?? -1000)) {
      signal = record.signalSent as NodeJS.Signals
      code = null
    }
    record.status = status
    record.exitCode = code
    record.signal = signal
    record.endedAt = new Date().toISOString()
    record.durationMs = Date.parse(record.endedAt) - Date.parse(record.startedAt)
    await this.persist(record)
    tracked.markExited()
  }

  private readExitFile(id: string): number | null {
    try {
      const n = Number.parseInt(readFileSync(this.exitPath(id), 'utf8').trim(), 10)
      return Number.isFinite(n) ? n : null
    } catch {
      return null
    }
  }

  /** Writes are chained per process so an older snapshot never lands after a newer one. */
  private persist(record: ProcessRecord): Promise<void> {
    const file = path.join(this.dir, `${record.id}.json`)
    const write = async () => {
      const tmp = `${file}.${randomUUID().slice(0, 8)}.tmp`
      await writeFile(tmp, JSON.stringify(record, null, 2), { mode: 0o600 })
      await rename(tmp, file)
    }
    const next = (this.writes.get(record.id) ?? Promise.resolve()).then(write, write)
    this.writes.set(record.id, next)
    return next
  }

  private logPath(id: string): string {
    return path.join(this.dir, `${id}.log`)
  }

  private exitPath(id: string): string {
    return path.join(this.dir, `${id}.exit`)
  }
}

/** The daemon's own credentials never reach the commands the model runs. */
function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra }
  delete env.CAIRN_AGENT_TOKEN
  return env
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  // An unreaped child of a non-reaping init still answers kill(0); on Linux, look closer.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true
  }
}
