// A real Cairn server (API + agent runner) on a real port with a fake model, and a way to
// run the real `cairn` binary against it as a child process.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { projections } from '../../projections/index.ts'
import type { Tool } from '../../src/agent/tools/registry.ts'
import type { Database } from '../../src/db/database.ts'
import { bootstrapAdmin } from '../../src/identity/index.ts'
import { buildApp, createContext } from '../../src/server.ts'
import { configureFakeModel } from '../agent/harness.ts'
import type { FakeProvider } from '../fakes/script.ts'

const CAIRN_BIN = fileURLToPath(new URL('../../bin/cairn.js', import.meta.url))

export interface ChatServer {
  url: string
  adminToken: string
  dataDir: string
  close(): Promise<void>
}

export async function startChatServer(db: Database, fake: FakeProvider, tools: Tool[]): Promise<ChatServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cairn-cli-chat-'))
  const ctx = createContext({ env: { databaseUrl: undefined, dataDir, port: 0, host: '127.0.0.1', runner: true }, db, projections, log: () => {}, pollIntervalMs: 200 })
  ctx.tools.register(...tools)
  await ctx.engine.start()
  const adminToken = (await bootstrapAdmin({ ...ctx, log: () => {} })) ?? ''
  await configureFakeModel(ctx.config, fake, fake.kind)
  ctx.engine.onApplied((projection, events) => projection === 'chats' && ctx.runner.noticeApplied(events))
  ctx.runner.start()
  const app: FastifyInstance = await buildApp(ctx)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    url,
    adminToken,
    dataDir,
    async close() {
      await app.close()
      await ctx.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `node bin/cairn.js …args` with a clean environment (no token or URL inherited). */
export function runCairn(args: string[], env: Record<string, string> = {}, timeoutMs = 50_000): Promise<CliRun> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAIRN_') && k !== 'DATABASE_URL'))
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CAIRN_BIN, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`cairn ${args.join(' ')} did not exit in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
