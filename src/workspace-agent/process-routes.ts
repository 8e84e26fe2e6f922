// HTTP surface of the process table: execute, process_output, process_list, process_signal.
import { Readable } from 'node:stream'
import type { FastifyPluginAsync } from 'fastify'
import { notFound } from './errors.ts'
import { DEFAULT_OUTPUT_CAP, type ProcessRecord, type ProcessTable, type StartProcessRequest } from './processes.ts'

const MAX_WAIT_MS = 10 * 60_000

export interface ProcessView {
  id: string
  pid: number
  command: string
  workdir: string
  background: boolean
  idempotencyKey: string | null
  status: ProcessRecord['status']
  exitCode: number | null
  signal: string | null
  timedOut: boolean
  startedAt: string
  endedAt: string | null
  durationMs: number | null
}

function view(r: ProcessRecord): ProcessView {
  return {
    id: r.id,
    pid: r.pid,
    command: r.command,
    workdir: r.workdir,
    background: r.background,
    idempotencyKey: r.idempotencyKey,
    status: r.status,
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: r.timedOut,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    durationMs: r.durationMs,
  }
}

export const processRoutes = (table: ProcessTable): FastifyPluginAsync => async (app) => {
  const withOutput = async (r: ProcessRecord, cap = DEFAULT_OUTPUT_CAP) => ({ ...view(r), ...(await table.output(r.id, cap)) })

  app.post<{ Body: StartProcessRequest }>(
    '/processes',
    {
      schema: {
        body: {
          type: 'object',
          required: ['command'],
          properties: {
            command: { type: 'string', minLength: 1 },
            workdir: { type: 'string' },
            env: { type: 'object', additionalProperties: { type: 'string' } },
            timeoutMs: { type: 'integer', minimum: 1 },
            background: { type: 'boolean' },
            idempotencyKey: { type: 'string', minLength: 1 },
            maxOutputBytes: { type: 'integer', minimum: 1 },
          },
        },
      },
    },
    async (req) => {
      const { record, replayed } = await table.start(req.body)
      const cap = req.body.maxOutputBytes ?? DEFAULT_OUTPUT_CAP
      // A repeated foreground call waits for the first run, as the first caller would have.
      if (!record.background) await table.exited(record.id)
      else if (!replayed) return { id: record.id, pid: record.pid, status: record.status, replayed }
      return { ...(await withOutput(record, cap)), replayed }
    },
  )

  app.get('/processes', async () => table.list().map(view))

  app.get<{ Params: { key: string }; Querystring: { maxBytes?: number } }>('/processes/by-key/:key', async (req) => {
    const record = table.byIdempotencyKey(req.params.key)
    if (!record) throw notFound(`no process was started with idempotency key ${req.params.key}`)
    return withOutput(record, req.query.maxBytes)
  })

  app.get<{ Params: { id: string } }>('/processes/:id', async (req) => withOutput(table.get(req.params.id)))

  app.get<{ Params: { id: string }; Querystring: { waitMs?: number; maxBytes?: number } }>(
    '/processes/:id/output',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { waitMs: { type: 'integer', minimum: 0 }, maxBytes: { type: 'integer', minimum: 1 } },
        },
      },
    },
    async (req) => {
      const record = await table.waitForExit(req.params.id, Math.min(req.query.waitMs ?? 0, MAX_WAIT_MS))
      const out = await table.output(record.id, req.query.maxBytes)
      return {
        id: record.id,
        status: record.status,
        exitCode: record.exitCode,
        signal: record.signal,
        timedOut: record.timedOut,
        ...out,
      }
    },
  )

  app.get<{ Params: { id: string }; Querystring: { from?: number } }>(
    '/processes/:id/output/stream',
    { schema: { querystring: { type: 'object', properties: { from: { type: 'integer', minimum: 0 } } } } },
    async (req, reply) => {
      table.get(req.params.id) // 404 before the stream starts
      reply.header('content-type', 'application/octet-stream')
      return reply.send(Readable.from(table.follow(req.params.id, req.query.from ?? 0)))
    },
  )

  app.post<{ Params: { id: string }; Body: { signal: 'terminate' | 'kill' } }>(
    '/processes/:id/signal',
    {
      schema: {
        body: {
          type: 'object',
          required: ['signal'],
          properties: { signal: { type: 'string', enum: ['terminate', 'kill'] } },
        },
      },
    },
    async (req) => view(table.signal(req.params.id, req.body.signal)),
  )
}
