// The workspace tunnel's round trip: `read_file` of a 4 KB file and `execute` of `true`
// through the control plane's tunnel (fastify + WebSocket + the daemon's proxy), beside the
// same request sent straight to the daemon's local Unix socket, in the same run.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import Fastify from 'fastify'
import { WorkspaceTunnels } from '../src/workspaces/tunnel.ts'

const ROUNDS = 300
const TOKEN = 'bench-agent-token'
const WORKSPACE = 'bench-workspace'
const ROOT = resolve(import.meta.dirname, '..')

function viaSocket(socketPath: string, method: string, path: string, body: unknown): Promise<unknown> {
  return new Promise((done, fail) => {
    const payload = JSON.stringify(body)
    const req = request(
      { socketPath, method, path, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => done(JSON.parse(Buffer.concat(chunks).toString())))
      },
    )
    req.on('error', fail)
    req.end(payload)
  })
}

async function measure(run: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 20; i++) await run()
  const times: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    const start = performance.now()
    await run()
    times.push(performance.now() - start)
  }
  times.sort((a, b) => a - b)
  return { p50: times[Math.floor(times.length * 0.5)]!, p99: times[Math.floor(times.length * 0.99)]! }
}

export async function benchTunnel(print: (line: string) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-tunnel-'))
  const workdir = join(dir, 'work')
  const socketPath = join(dir, 'agent.sock')
  mkdirSync(workdir)
  const tunnels = new WorkspaceTunnels({ authenticate: async (t) => (t === TOKEN ? { workspaceId: WORKSPACE } : null) })
  const app = Fastify({ logger: false })
  await app.register(tunnels.plugin)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const daemon = spawn(process.execPath, ['--import', 'tsx/esm', 'src/workspace-agent/main.ts', '--url', url, '--dir', workdir, '--socket', socketPath], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: dir, CAIRN_AGENT_TOKEN: TOKEN },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  try {
    await tunnels.waitForConnection(WORKSPACE, 60_000)
    writeFileSync(join(workdir, 'four-k.txt'), 'x'.repeat(63).concat('\n').repeat(64))
    const read = { path: 'four-k.txt' }
    const run = { command: 'true' }
    const rows = [
      ['read_file 4 KB', () => tunnels.requestJson(WORKSPACE, { method: 'POST', path: '/files/read', body: read }), () => viaSocket(socketPath, 'POST', '/files/read', read)],
      ['execute true', () => tunnels.requestJson(WORKSPACE, { method: 'POST', path: '/processes', body: run }), () => viaSocket(socketPath, 'POST', '/processes', run)],
    ] as const
    print(`${ROUNDS} sequential requests each; ms`)
    print('operation        tunnel p50/p99     socket p50/p99     ratio p50/p99')
    for (const [name, tunnel, direct] of rows) {
      const t = await measure(tunnel)
      const d = await measure(direct)
      print(
        `${name.padEnd(16)} ${`${t.p50.toFixed(2)} / ${t.p99.toFixed(2)}`.padEnd(18)} ${`${d.p50.toFixed(2)} / ${d.p99.toFixed(2)}`.padEnd(18)} ${(t.p50 / d.p50).toFixed(2)} / ${(t.p99 / d.p99).toFixed(2)}`,
      )
    }
  } finally {
    daemon.kill('SIGTERM')
    await tunnels.close()
    await app.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchTunnel(console.log)
