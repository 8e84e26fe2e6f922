import http from 'node:http'
import { rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serveLocal } from '../../src/workspace-agent/index.ts'
import { makeWorkdir } from './harness.ts'

let workdir: string
let local: Awaited<ReturnType<typeof serveLocal>>

beforeAll(async () => {
  workdir = await makeWorkdir()
  local = await serveLocal(path.join(workdir, '.cairn-agent', 'api.sock'), { workdir })
})
afterAll(async () => {
  await local?.close()
  if (workdir) await rm(workdir, { recursive: true, force: true })
})

function overSocket(method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = http.request(
      { socketPath: local.socketPath, method, path: p, headers: payload ? { 'content-type': 'application/json' } : {} },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString()) }))
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

describe('serveLocal', () => {
  it('serves the same API on a private Unix socket', async () => {
    expect((await stat(path.join(workdir, '.cairn-agent'))).mode & 0o777).toBe(0o700)
    expect((await stat(local.socketPath)).mode & 0o777).toBe(0o600)

    const info = await overSocket('GET', '/info')
    expect(info).toMatchObject({ status: 200, json: { workdir, pid: process.pid } })

    expect(await overSocket('POST', '/files/write', { path: 'x/y.txt', content: 'one\ntwo\n' })).toMatchObject({
      status: 200,
      json: { bytes: 8 },
    })
    const run = await overSocket('POST', '/processes', { command: 'cat x/y.txt | wc -l' })
    expect(run).toMatchObject({ status: 200, json: { exitCode: 0 } })
    expect(run.json.output.trim()).toBe('2')

    expect(await overSocket('GET', '/nowhere')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND' } } })
  })
})
