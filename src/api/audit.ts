/**
 * The auditor's API: `auditLog` (filtered, cursor-paged), `verifyChat` (re-hash a chat's chain),
 * and `GET /api/v1/audit-log/export?format=csv|jsonl&…filters` streaming every matching row.
 * Permission rules come from src/identity/permissions.ts.
 */
import { Readable } from 'node:stream'
import type { FastifyPluginAsync } from 'fastify'
import { CommandError } from '../../commands/errors.ts'
import { auditEntries, auditPage, csvHeader, csvLine, jsonLine, type AuditFilter } from '../audit/audit-log.ts'
import { streamsOfChain, verifyChains } from '../audit/verify.ts'
import { streamsOfChainIn, verifyChainIn } from '../audit/verify-store.ts'
import type { Database } from '../db/database.ts'
import { chatStream } from '../events/chat.ts'
import type { EventStore } from '../eventstore/types.ts'
import { authenticateRequest, requestCredentials } from '../identity/index.ts'
import { requireAuditLog, requireChatAccess, requirePrincipal } from '../identity/permissions.ts'
import type { ApiContext } from './context.ts'
import { chatOwnership, decodeCursor, encodeCursor, pageSize } from './read-models.ts'

export const auditQueryResolvers = {
  async auditLog(_root: unknown, args: { filter?: AuditFilter | null; first?: number | null; after?: string | null }, ctx: ApiContext) {
    const p = requirePrincipal(ctx.principal)
    requireAuditLog(p)
    const first = pageSize(args.first, 50)
    const after = decodeCursor(args.after, 1)
    const rows = await auditPage(ctx.api.db, p.organizationId, args.filter ?? {}, after ? after[0]! : null, first + 1)
    const page = rows.slice(0, first)
    const edges = page.map((node) => ({ cursor: encodeCursor([node.position]), node }))
    return { edges, nodes: page, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } }
  },

  async verifyChat(_root: unknown, args: { chatId: string }, ctx: ApiContext) {
    const p = requirePrincipal(ctx.principal)
    requireAuditLog(p)
    requireChatAccess(p, await chatOwnership(ctx.api.db, ctx.api.store, args.chatId), 'read')
    const stream = chatStream(args.chatId)
    const streams = ctx.api.logInDatabase ? await streamsOfChain(ctx.api.db, stream) : await streamsOfChainIn(ctx.api.store, stream)
    if (!streams.length) {
      // The read model still knows the chat, the log does not: its stream was deleted.
      const message = `the chat's stream ${chatStream(args.chatId)} is not in the log: its events and head were deleted`
      return { ok: false, streams: 0, events: 0, broken: [{ stream: chatStream(args.chatId), kind: 'MISSING_EVENT', revision: 0, expectedHash: null, storedHash: null, message }] }
    }
    const result = ctx.api.logInDatabase ? await verifyChains(ctx.api.db, { streams }) : await verifyChainIn(ctx.api.store, stream)
    return {
      ok: result.ok,
      streams: result.streams,
      events: result.events,
      broken: result.broken.map((b) => ({
        stream: b.stream,
        kind: b.kind.toUpperCase(),
        revision: Number(b.revision),
        expectedHash: b.expected || null,
        storedHash: b.stored || null,
        message: b.message,
      })),
    }
  },
}

const FILTER_PARAMS = ['userId', 'onBehalfOf', 'chatId', 'workspaceId', 'eventType', 'from', 'to', 'text'] as const

export interface AuditRoutesOptions {
  db: Database
  store: EventStore
}

/**
 * `GET /api/v1/audit-log/export?format=csv|jsonl` with the `auditLog` filters as query
 * parameters. The body is produced page by page as the client reads it (Readable.from pulls the
 * generator only when the socket drains), so a million rows never sit in memory.
 */
export const auditExportRoutes: FastifyPluginAsync<AuditRoutesOptions> = async (app, { db }) => {
  app.get('/api/v1/audit-log/export', async (request, reply) => {
    const send = (status: number, code: string, message: string) => reply.code(status).send({ error: { code, message } })
    const principal = await authenticateRequest(db, requestCredentials(request.headers))
    if (!principal) return send(401, 'UNAUTHENTICATED', 'send an API token: Authorization: Bearer cairn_…')
    const query = request.query as Record<string, string | undefined>
    const format = query.format ?? 'csv'
    if (format !== 'csv' && format !== 'jsonl') return send(400, 'INVALID_INPUT', `format must be csv or jsonl; got ${format}`)
    const filter: AuditFilter = {}
    for (const name of FILTER_PARAMS) if (query[name]) filter[name] = query[name]
    try {
      requireAuditLog(principal)
      // Validates the filter before the first byte, so a bad one is a 400, not a cut-off body.
      await auditPage(db, principal.organizationId, filter, null, 1)
    } catch (err) {
      if (err instanceof CommandError) return send(err.code === 'FORBIDDEN' ? 403 : 400, err.code, err.message)
      throw err
    }
    async function* body() {
      if (format === 'csv') yield csvHeader()
      for await (const entry of auditEntries(db, principal!.organizationId, filter)) yield format === 'csv' ? csvLine(entry) : jsonLine(entry)
    }
    reply
      .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
      .header('content-disposition', `attachment; filename="audit-log.${format}"`)
    return reply.send(Readable.from(body(), { objectMode: false, highWaterMark: 64 * 1024 }))
  })
}
