import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
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

const call = <T>(method: string, p: string, body?: unknown) => cp.tunnels.requestJson<T>(WORKSPACE, { method, path: p, body })
const failure = async (promise: Promise<unknown>) => {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(WorkspaceRequestError)
  return err as WorkspaceRequestError
}

interface ReadResult {
  content: string
  startLine: number
  endLine: number
  totalLines: number
  truncated: boolean
}

describe('files through the tunnel', () => {
  it('reads a window of lines numbered like cat -n', async () => {
    const lines = Array.from({ length: 10 }, (_, i) => `line ${i + 1}`)
    await writeFile(path.join(workdir, 'ten.txt'), lines.join('\n') + '\n')

    const page = await call<ReadResult>('POST', '/files/read', { path: 'ten.txt', offset: 3, limit: 4 })
    expect(page).toEqual({
      content: '     3\tline 3\n     4\tline 4\n     5\tline 5\n     6\tline 6',
      startLine: 3,
      endLine: 6,
      totalLines: 10,
      truncated: true,
    })

    const whole = await call<ReadResult>('POST', '/files/read', { path: path.join(workdir, 'ten.txt') })
    expect(whole).toMatchObject({ startLine: 1, endLine: 10, totalLines: 10, truncated: false })
    expect(whole.content.split('\n')[9]).toBe('    10\tline 10')
  })

  it('stops at the byte cap and says so', async () => {
    const page = await call<ReadResult>('POST', '/files/read', { path: 'ten.txt', maxBytes: 30 })
    // each numbered line is 14 bytes: two fit in 30
    expect(page).toMatchObject({ startLine: 1, endLine: 2, totalLines: 10, truncated: true })
    expect(Buffer.byteLength(page.content)).toBeLessThanOrEqual(30)
  })

  it('rejects an offset past the end and a missing file', async () => {
    const past = await failure(call('POST', '/files/read', { path: 'ten.txt', offset: 50 }))
    expect(past).toMatchObject({ status: 400, code: 'OFFSET_OUT_OF_RANGE' })
    expect(past.message).toContain('10 lines')
    expect(await failure(call('POST', '/files/read', { path: 'nope.txt' }))).toMatchObject({ status: 404, code: 'NOT_FOUND' })
    expect(await failure(call('POST', '/files/read', {}))).toMatchObject({ status: 400, code: 'INVALID_REQUEST' })
  })

  it('writes a file, creating its parent folders', async () => {
    const res = await call<{ bytes: number }>('POST', '/files/write', { path: 'deep/er/new.txt', content: 'héllo\n' })
    expect(res.bytes).toBe(7)
    expect(await readFile(path.join(workdir, 'deep/er/new.txt'), 'utf8')).toBe('héllo\n')
  })

  it('applies no edit at all when one of three fails, and names the failing one', async () => {
    await writeFile(path.join(workdir, 'a.ts'), 'const a = 1\nconst b = 2\n')
    await writeFile(path.join(workdir, 'b.ts'), 'export const x = 1\n')
    const edits = [
      { path: 'a.ts', old_text: 'const a = 1', new_text: 'const a = 10' },
      { path: 'b.ts', old_text: 'does not exist', new_text: 'y' },
      { path: 'b.ts', old_text: 'x = 1', new_text: 'x = 2' },
    ]
    const err = await failure(call('POST', '/files/edit', { edits }))
    expect(err).toMatchObject({ status: 400, code: 'EDIT_NO_MATCH' })
    expect(err.message).toMatch(/edit 1 \(b\.ts\).*0 times/)
    expect(await readFile(path.join(workdir, 'a.ts'), 'utf8')).toBe('const a = 1\nconst b = 2\n')
    expect(await readFile(path.join(workdir, 'b.ts'), 'utf8')).toBe('export const x = 1\n')
  })

  it('refuses an ambiguous old_text unless replace_all is set', async () => {
    await writeFile(path.join(workdir, 'dup.txt'), 'foo foo foo\n')
    const err = await failure(call('POST', '/files/edit', { edits: [{ path: 'dup.txt', old_text: 'foo', new_text: 'bar' }] }))
    expect(err).toMatchObject({ code: 'EDIT_AMBIGUOUS' })
    expect(err.message).toMatch(/edit 0 \(dup\.txt\).*3 times/)

    const ok = await call<{ files: { path: string; replacements: number }[] }>('POST', '/files/edit', {
      edits: [
        { path: 'dup.txt', old_text: 'foo', new_text: '$&bar', replace_all: true },
        { path: 'a.ts', old_text: 'const a = 1', new_text: 'const a = 10' },
        { path: 'a.ts', old_text: 'const a = 10\n', new_text: 'const a = 11\n' },
      ],
    })
    expect(ok.files).toEqual([
      { path: 'dup.txt', replacements: 3 },
      { path: 'a.ts', replacements: 2 },
    ])
    expect(await readFile(path.join(workdir, 'dup.txt'), 'utf8')).toBe('$&bar $&bar $&bar\n')
    expect(await readFile(path.join(workdir, 'a.ts'), 'utf8')).toBe('const a = 11\nconst b = 2\n')
  })

  it('downloads raw bytes', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 * 4 }, (_, i) => i % 256))
    await writeFile(path.join(workdir, 'blob.bin'), bytes)
    const res = await cp.tunnels.request(WORKSPACE, { method: 'GET', path: '/files/download?path=blob.bin' })
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/octet-stream')
    expect(res.body.equals(bytes)).toBe(true)
  })

  it('discovers skills and serves their files, refusing paths that climb out', async () => {
    const dir = path.join(workdir, '.agents/skills/deploy')
    await mkdir(path.join(dir, 'scripts'), { recursive: true })
    await writeFile(
      path.join(dir, 'SKILL.md'),
      '---\nname: deploy\ndescription: "Ship the app to staging"\n---\n# Deploy\nRun scripts/ship.sh\n',
    )
    await writeFile(path.join(dir, 'scripts/ship.sh'), 'echo shipping\n')
    await mkdir(path.join(workdir, '.agents/skills/not-a-skill'), { recursive: true })

    expect(await call('GET', '/skills')).toEqual([{ name: 'deploy', description: 'Ship the app to staging' }])
    expect(await call('GET', '/skills/deploy')).toEqual({
      name: 'deploy',
      description: 'Ship the app to staging',
      body: '# Deploy\nRun scripts/ship.sh\n',
      files: ['scripts/ship.sh'],
    })
    expect(await call('GET', '/skills/deploy/file?path=scripts/ship.sh')).toMatchObject({ content: 'echo shipping\n' })

    for (const bad of ['../../../a.ts', 'scripts/../SKILL.md', '/etc/passwd']) {
      const err = await failure(call('GET', `/skills/deploy/file?path=${encodeURIComponent(bad)}`))
      expect(err).toMatchObject({ status: 400, code: 'INVALID_PATH' })
    }
    expect(await failure(call('GET', '/skills/missing'))).toMatchObject({ status: 404, code: 'NOT_FOUND' })
  })
})
