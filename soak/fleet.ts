// The `cairn serve` processes of the soak: an API process that is never killed, and runner processes
// in slots — a slot keeps its data dir (its local workspaces) across the processes that fill it.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { cairnEnv, dataOf, postGraphQL, serveCairn, type ServedCairn } from '../test/cli/run-cairn.ts'

export interface Served extends ServedCairn {
  slot: string
  /** The runner's id (TurnStarted.runnerId and chat_leases.owner), null for the API process. */
  runnerId: string | null
  alive(): boolean
  closed: Promise<void>
  /** Whether the soak ended it (kill, stop); a process that ended otherwise crashed. */
  ended: boolean
}

const TOKEN = /cairn_[A-Za-z0-9_-]{43}/

export class Fleet {
  readonly started: Served[] = []
  adminToken = ''

  constructor(
    private readonly root: string,
    private readonly databaseUrl: string,
    /** A provider stream silent this long is abandoned (the soak's silence fault). */
    private readonly silenceSeconds: number,
  ) {}

  dataDir(slot: string): string {
    return join(this.root, slot)
  }

  async start(slot: string, role: 'api' | 'runner'): Promise<Served> {
    const env = cairnEnv({
      DATABASE_URL: this.databaseUrl,
      CAIRN_DATA_DIR: this.dataDir(slot),
      PORT: '0',
      HOST: '127.0.0.1',
      CAIRN_SECRET_KEY: 'the-soak-shares-this-key',
      CAIRN_RUNNER: role === 'api' ? 'off' : 'on',
      CAIRN_STREAM_SILENCE_SECONDS: String(this.silenceSeconds),
      ANTHROPIC_API_KEY: undefined,
      OPENAI_API_KEY: undefined,
      OPENAI_BASE_URL: undefined,
      GOOGLE_API_KEY: undefined,
    })
    const served = await serveCairn(env)
    const closed = new Promise<void>((resolve) => {
      if (served.child.exitCode !== null || served.child.signalCode !== null) resolve()
      else served.child.once('close', () => resolve())
    })
    const s: Served = {
      ...served,
      slot,
      runnerId: /runner (\S+) started/.exec(served.output())?.[1] ?? null,
      alive: () => served.child.exitCode === null && served.child.signalCode === null,
      closed,
      ended: false,
    }
    this.started.push(s)
    if (!this.adminToken) this.adminToken = TOKEN.exec(served.output())?.[0] ?? ''
    return s
  }

  /** Processes that ended without the soak ending them. */
  crashed(): Served[] {
    return this.started.filter((s) => !s.alive() && !s.ended)
  }

  async kill(s: Served): Promise<void> {
    s.ended = true
    if (s.alive()) s.child.kill('SIGKILL')
    await s.closed
  }

  async stop(s: Served): Promise<void> {
    s.ended = true
    if (s.alive()) s.child.kill('SIGTERM')
    await s.closed
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.started.map((s) => this.stop(s)))
  }

  /** A GraphQL request as the admin; throws the errors' messages, or the answer when it has no data (not acknowledged). */
  async gql<T = any>(s: Served, query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const answer = await postGraphQL(s.url, this.adminToken, query, variables)
    const data = dataOf(answer)
    if (!data) throw new Error(`no data: ${answer.text.slice(0, 200)}`)
    return data as T
  }
}

/** Every process below `pid` (children, their children…), from /proc. */
export function descendantsOf(pid: number): { pid: number; cmdline: string }[] {
  const children = new Map<number, number[]>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)])
    } catch {
      // gone meanwhile
    }
  }
  const out: { pid: number; cmdline: string }[] = []
  const walk = (p: number) => {
    for (const child of children.get(p) ?? []) {
      let cmdline = ''
      try {
        cmdline = readFileSync(`/proc/${child}/cmdline`, 'utf8').replaceAll('\0', ' ')
      } catch {
        // gone meanwhile
      }
      out.push({ pid: child, cmdline })
      walk(child)
    }
  }
  walk(pid)
  return out
}

/** Processes anywhere whose command line or working directory names `folder` (the soak's own): what it left behind. */
export function processesMentioning(folder: string): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ')
      const cwd = (() => {
        try {
          return readlinkSync(`/proc/${name}/cwd`)
        } catch {
          return ''
        }
      })()
      if (cmdline.includes(folder) || cwd.startsWith(folder)) out.push({ pid: Number(name), cmdline })
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** A figure of a server's `/metrics` (NaN when it has none). */
export async function metricOf(s: Served, name: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text()
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
}

/** A process's resident memory, from /proc. */
export function residentBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024
}
