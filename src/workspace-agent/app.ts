// The daemon's HTTP API. It only ever listens on a private Unix socket; the control
// plane reaches it through the tunnel, so it carries no authentication of its own.
import os from 'node:os'
import path from 'node:path'
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import { AgentError } from './errors.ts'
import { fileRoutes } from './files.ts'
import { mcpRoutes, WorkspaceMcpServers } from './mcp.ts'
import { processRoutes } from './process-routes.ts'
import { ProcessTable } from './processes.ts'
import { skillRoutes } from './skills.ts'
import { daemonVersion, osDescription } from './version.ts'

export interface WorkspaceAppOptions {
  workdir: string
  stateDir: string
}

const startedAt = Date.now()

export function buildWorkspaceApp(opts: WorkspaceAppOptions): FastifyInstance {
  const workdir = path.resolve(opts.workdir)
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 })
  const processes = new ProcessTable(workdir, path.resolve(opts.stateDir))

  app.setErrorHandler((err: FastifyError | AgentError, _req, reply) => {
    if (err instanceof AgentError) {
      return reply.status(err.status).send({ error: { code: err.code, message: err.message, ...err.details } })
    }
    if (err.validation) {
      return reply.status(400).send({ error: { code: 'INVALID_REQUEST', message: err.message } })
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500
    return reply.status(status).send({ error: { code: err.code ?? 'INTERNAL', message: err.message } })
  })
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` } }),
  )

  app.addHook('onReady', () => processes.load())
  app.addHook('onClose', () => processes.close())
  const mcp = new WorkspaceMcpServers(workdir)
  app.addHook('onClose', () => mcp.close())

  app.get('/info', async () => ({
    version: daemonVersion(),
    os: osDescription(),
    platform: process.platform,
    arch: process.arch,
    hostname: os.hostname(),
    workdir,
    pid: process.pid,
    uptimeMs: Date.now() - startedAt,
  }))
  app.register(fileRoutes(workdir))
  app.register(processRoutes(processes))
  app.register(skillRoutes(workdir))
  app.register(mcpRoutes(mcp))
  return app
}
