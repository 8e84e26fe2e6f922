import { readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WorkspaceNotConnectedError } from '../../src/workspaces/tunnel.ts'
import { WORKSPACE, makeWorkdir, spawnDaemon, startControlPlane, type ControlPlane, type DaemonProcess } from './harness.ts'

let cp: ControlPlane
let workdir: string
const daemons: DaemonProcess[] = []

beforeAll(async () => {
  cp = await startControlPlane()
  workdir = await makeWorkdir()
})
afterAll(async () => {
  for (const d of daemons) await d.stop('SIGKILL')
  await cp?.close()
  if (workdir) await rm(workdir, { recursive: true, force: true })
})

const call = <T>(method: string, p: string, body?: unknown) =>
  cp.tunnels.requestJson<T>(WORKSPACE, { method, path: p, body, timeoutMs: 20_000 })

describe('daemon lifecycle', () => {
  it('connects and reports version, os and workdir in its hello', async () => {
    const daemon = spawnDaemon({ url: cp.url, workdir })
    daemons.push(daemon)
    await cp.tunnels.waitForConnection(WORKSPACE, 20_000)
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    expect(cp.hellos).toHaveLength(1)
    expect(cp.hellos[0]).toEqual({
      version: pkg.version,
      os: `${process.platform} ${os.release()}`,
      arch: process.arch,
      hostname: os.hostname(),
      workdir,
      pid: daemon.child.pid,
    })
    expect(await call('GET', '/info')).toMatchObject({ version: pkg.version, workdir, pid: daemon.child.pid })
  })

  it('fails an in-flight request at once when the daemon dies, and recovers its processes after a restart', async () => {
    const background = await call<{ id: string }>('POST', '/processes', {
      command: 'echo begin; sleep 1.5; echo end',
      background: true,
      idempotencyKey: 'bg-1',
    })
    const inFlight = call('POST', '/processes', { command: 'sleep 20', idempotencyKey: 'fg-1' }).catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 300))

    const killedAt = Date.now()
    await daemons[0]!.stop('SIGKILL')
    const err = await inFlight
    expect(err).toBeInstanceOf(WorkspaceNotConnectedError)
    expect((err as Error).message).toContain('start_workspace')
    expect(Date.now() - killedAt).toBeLessThan(1_000)
    expect(cp.tunnels.isConnected(WORKSPACE)).toBe(false)
    await expect(call('GET', '/info')).rejects.toBeInstanceOf(WorkspaceNotConnectedError)

    const restarted = spawnDaemon({ url: cp.url, workdir })
    daemons.push(restarted)
    await cp.tunnels.waitForConnection(WORKSPACE, 20_000)
    expect(cp.hellos.at(-1)!.pid).toBe(restarted.child.pid)

    // the background process kept running without its daemon, and its end is known
    const out = await call<{ status: string; exitCode: number; output: string }>(
      'GET',
      `/processes/${background.id}/output?waitMs=5000`,
    )
    expect(out).toMatchObject({ status: 'exited', exitCode: 0, output: 'begin\nend\n' })

    // the foreground call cut off by the crash is still known by its key, and still running
    const fg = await call<{ id: string; status: string }>('GET', '/processes/by-key/fg-1')
    expect(fg.status).toBe('running')
    const replay = await call<{ id: string; replayed: boolean }>('POST', '/processes', { command: 'echo must-not-run', idempotencyKey: 'bg-1' })
    expect(replay).toMatchObject({ id: background.id, replayed: true })
    await call('POST', `/processes/${fg.id}/signal`, { signal: 'kill' })
    expect(await call('GET', `/processes/${fg.id}/output?waitMs=5000`)).toMatchObject({ status: 'exited', signal: 'SIGKILL' })
  })

  it('lets a second connection for the workspace replace the first', async () => {
    const second = spawnDaemon({ url: cp.url, workdir })
    daemons.push(second)
    const deadline = Date.now() + 20_000
    while (cp.tunnels.helloOf(WORKSPACE)?.pid !== second.child.pid) {
      if (Date.now() > deadline) throw new Error(`second daemon never took over:\n${second.log()}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(await call('GET', '/info')).toMatchObject({ pid: second.child.pid })
    await daemons[1]!.stop()
  })

  it('drops a daemon that stops answering pings, and takes it back when it wakes', async () => {
    const strict = await startControlPlane({ pingIntervalMs: 150 })
    const dir = await makeWorkdir()
    const daemon = spawnDaemon({ url: strict.url, workdir: dir })
    try {
      await strict.tunnels.waitForConnection(WORKSPACE, 20_000)
      daemon.child.kill('SIGSTOP')
      const frozenAt = Date.now()
      while (strict.tunnels.isConnected(WORKSPACE)) {
        if (Date.now() - frozenAt > 5_000) throw new Error('frozen daemon was never dropped')
        await new Promise((r) => setTimeout(r, 25))
      }
      expect(strict.disconnects).toEqual([WORKSPACE])
      daemon.child.kill('SIGCONT')
      await strict.tunnels.waitForConnection(WORKSPACE, 15_000)
      expect(strict.hellos).toHaveLength(2)
    } finally {
      daemon.child.kill('SIGCONT')
      await daemon.stop('SIGKILL')
      await strict.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('does not connect a daemon whose token is wrong', async () => {
    const other = await startControlPlane()
    const dir = await makeWorkdir()
    const impostor = spawnDaemon({ url: other.url, workdir: dir, token: 'not-the-token' })
    try {
      const deadline = Date.now() + 15_000
      while (!impostor.log().includes('rejected the agent token')) {
        if (Date.now() > deadline) throw new Error(`no rejection logged:\n${impostor.log()}`)
        await new Promise((r) => setTimeout(r, 50))
      }
      expect(other.hellos).toHaveLength(0)
      expect(other.tunnels.isConnected(WORKSPACE)).toBe(false)
      expect(impostor.log()).not.toContain('not-the-token')
    } finally {
      await impostor.stop('SIGKILL')
      await other.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
