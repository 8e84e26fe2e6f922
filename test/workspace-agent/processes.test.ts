import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WorkspaceRequestError } from '../../src/workspaces/tunnel.ts'
import { WORKSPACE, startWorkspace, type ControlPlane, type DaemonProcess } from './harness.ts'

let cp: ControlPlane
let daemon: DaemonProcess
let workdir: string

beforeAll(async () => {
  ;({ cp, daemon, workdir } = await startWorkspace())
})
afterAll(async () => {
  await daemon?.stop()
  await cp?.close()
  if (workdir) await rm(workdir, { recursive: true, force: true })
})

interface Run {
  id: string
  status: string
  exitCode: number | null
  signal: string | null
  output: string
  outputTruncated: boolean
  outputBytes: number
  durationMs: number
  timedOut: boolean
  replayed: boolean
}

const call = <T>(method: string, p: string, body?: unknown) =>
  cp.tunnels.requestJson<T>(WORKSPACE, { method, path: p, body, timeoutMs: 20_000 })
const exec = (body: Record<string, unknown>) => call<Run>('POST', '/processes', body)

describe('processes through the tunnel', () => {
  it('runs a foreground command and reports exit code and interleaved output', async () => {
    const run = await exec({ command: 'echo out; echo err >&2; pwd; exit 3' })
    expect(run).toMatchObject({ status: 'exited', exitCode: 3, signal: null, timedOut: false, outputTruncated: false })
    expect(run.output).toBe(`out\nerr\n${workdir}\n`)
    expect(run.durationMs).toBeGreaterThanOrEqual(0)
  })

  it('passes env to the command but never the agent token', async () => {
    const run = await exec({ command: 'echo "$GREETING:${CAIRN_AGENT_TOKEN:-unset}"', env: { GREETING: 'hi' } })
    expect(run.output).toBe('hi:unset\n')
  })

  it('keeps the tail of long output and reports the total', async () => {
    const run = await exec({ command: "head -c 200000 /dev/zero | tr '\\0' a; echo END" })
    expect(run.exitCode).toBe(0)
    expect(run.outputTruncated).toBe(true)
    expect(run.outputBytes).toBe(200_004)
    expect(run.output.length).toBe(64 * 1024)
    expect(run.output.endsWith('aEND\n')).toBe(true)
  })

  it('kills a command that outlives its timeout', async () => {
    const started = Date.now()
    const run = await exec({ command: 'echo before; sleep 30', timeoutMs: 300 })
    expect(run).toMatchObject({ status: 'exited', timedOut: true, signal: 'SIGTERM', exitCode: null })
    expect(run.output).toContain('before')
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('starts a background process and waits for its output', async () => {
    const started = await exec({ command: 'echo start; sleep 0.4; echo done', background: true })
    expect(started).toMatchObject({ status: 'running' })
    const early = await call<Run>('GET', `/processes/${started.id}/output`)
    expect(early.status).toBe('running')
    const final = await call<Run>('GET', `/processes/${started.id}/output?waitMs=5000`)
    expect(final).toMatchObject({ status: 'exited', exitCode: 0, output: 'start\ndone\n' })
    const list = await call<{ id: string }[]>('GET', '/processes')
    expect(list.map((p) => p.id)).toContain(started.id)
  })

  it('streams output while the process runs', async () => {
    const { id } = await exec({ command: 'for i in 1 2 3 4; do echo line$i; sleep 0.2; done', background: true })
    const chunks: { at: number; text: string }[] = []
    for await (const chunk of cp.tunnels.stream(WORKSPACE, { method: 'GET', path: `/processes/${id}/output/stream` })) {
      chunks.push({ at: Date.now(), text: chunk.toString() })
    }
    expect(chunks.map((c) => c.text).join('')).toBe('line1\nline2\nline3\nline4\n')
    expect(chunks.length).toBeGreaterThan(1)
    // the first line arrived well before the last: it was streamed, not buffered
    expect(chunks.at(-1)!.at - chunks[0]!.at).toBeGreaterThan(300)
  })

  it('interleaves a small request with a long-running stream', async () => {
    const { id } = await exec({ command: 'sleep 1; echo finished', background: true })
    const streamed = (async () => {
      let text = ''
      for await (const c of cp.tunnels.stream(WORKSPACE, { method: 'GET', path: `/processes/${id}/output/stream` })) text += c
      return { text, at: Date.now() }
    })()
    const info = await call<{ pid: number }>('GET', '/info')
    const infoAt = Date.now()
    expect(info.pid).toBeGreaterThan(0)
    const { text, at } = await streamed
    expect(text).toBe('finished\n')
    expect(infoAt).toBeLessThan(at)
  })

  it('abandons an exchange on timeout or an early break without disturbing the tunnel', async () => {
    const { id } = await exec({ command: 'echo first; sleep 2; echo second', background: true })
    const slow = cp.tunnels.requestJson(WORKSPACE, { method: 'GET', path: `/processes/${id}/output?waitMs=5000`, timeoutMs: 200 })
    await expect(slow).rejects.toMatchObject({ code: 'TIMEOUT', status: 504 })

    for await (const chunk of cp.tunnels.stream(WORKSPACE, { method: 'GET', path: `/processes/${id}/output/stream` })) {
      expect(chunk.toString()).toBe('first\n')
      break
    }
    expect(await call<{ pid: number }>('GET', '/info')).toMatchObject({ pid: daemon.child.pid })
    await call('POST', `/processes/${id}/signal`, { signal: 'kill' })
  })

  it('terminates a process group on request', async () => {
    const { id } = await exec({ command: 'sleep 30 & sleep 30; echo unreachable', background: true })
    const signalled = await call<{ status: string }>('POST', `/processes/${id}/signal`, { signal: 'terminate' })
    expect(signalled.status).toBe('running')
    const final = await call<Run>('GET', `/processes/${id}/output?waitMs=5000`)
    expect(final).toMatchObject({ status: 'exited', signal: 'SIGTERM' })
    expect(final.output).not.toContain('unreachable')
    const again = await call('POST', `/processes/${id}/signal`, { signal: 'kill' }).catch((e: unknown) => e)
    expect(again).toMatchObject({ status: 409, code: 'NOT_RUNNING' })
  })

  it('runs a command once per idempotency key', async () => {
    const body = { command: 'echo ran >> count.txt; echo ok', idempotencyKey: 'toolcall-1' }
    const first = await exec(body)
    const second = await exec(body)
    expect(second.id).toBe(first.id)
    expect(first.replayed).toBe(false)
    expect(second).toMatchObject({ replayed: true, exitCode: 0, output: 'ok\n' })
    expect(await readFile(path.join(workdir, 'count.txt'), 'utf8')).toBe('ran\n')

    // concurrent repeats of a still-running foreground call wait for the one run
    const slow = { command: 'sleep 0.3; echo ran >> count2.txt', idempotencyKey: 'toolcall-2' }
    const [a, b] = await Promise.all([exec(slow), exec(slow)])
    expect(a.id).toBe(b.id)
    expect(a.status).toBe('exited')
    expect(b.status).toBe('exited')
    expect(await readFile(path.join(workdir, 'count2.txt'), 'utf8')).toBe('ran\n')
  })

  it('answers whether a key ran, and what happened', async () => {
    const byKey = await call<Run>('GET', '/processes/by-key/toolcall-1')
    expect(byKey).toMatchObject({ exitCode: 0, status: 'exited', output: 'ok\n' })
    const missing = await call('GET', '/processes/by-key/never-sent').catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(WorkspaceRequestError)
    expect(missing).toMatchObject({ status: 404, code: 'NOT_FOUND' })
  })

  it('answers a malformed request path with an error instead of dying', async () => {
    const bad = await call('GET', '/files/download?path=has space').catch((e: unknown) => e)
    expect(bad).toMatchObject({ code: 'AGENT_ERROR', status: 502 })
    expect(await call('GET', '/info')).toMatchObject({ pid: daemon.child.pid })
  })

  it('rejects a missing working directory and an unknown process', async () => {
    const bad = await exec({ command: 'true', workdir: 'no/such/dir' }).catch((e: unknown) => e)
    expect(bad).toMatchObject({ status: 400, code: 'INVALID_WORKDIR' })
    const unknown = await call('GET', '/processes/p-nope/output').catch((e: unknown) => e)
    expect(unknown).toMatchObject({ status: 404, code: 'NOT_FOUND' })
  })
})
