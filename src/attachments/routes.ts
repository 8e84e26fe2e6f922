import { createReadStream } from 'node:fs'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Sql } from '../db/database.ts'
import { AGENTS_ACCESS } from '../events/user.ts'
import { authenticateRequest, canReadAttachment, canUseAgents, requestCredentials } from '../identity/index.ts'
import { AttachmentError, blobPath, chatsReferencing, loadAttachments, MAX_ATTACHMENT_BYTES, saveAttachment } from './blobs.ts'

export interface AttachmentRoutesOptions {
  db: Sql
  dataDir: string
}

const sendError = (reply: FastifyReply, status: number, code: string, message: string) =>
  reply.code(status).send({ error: { code, message } })

const STATUS: Record<string, number> = {
  ATTACHMENT_TOO_LARGE: 413,
  UNSUPPORTED_ATTACHMENT_TYPE: 415,
  EMPTY_ATTACHMENT: 400,
}

/**
 * `POST /api/v1/attachments?name=<file name>` with the image bytes as the raw body (any
 * Content-Type), e.g. `curl -H "Authorization: Bearer $TOKEN" --data-binary @shot.png
 * "$CAIRN/api/v1/attachments?name=shot.png"`. Answers `201 {id, sha256, mimeType, name, size}`.
 * `GET /api/v1/attachments/:id` returns the bytes to the uploader and to whoever may read a
 * chat that references the attachment; to anyone else it does not exist (404).
 */
export const attachmentRoutes: FastifyPluginAsync<AttachmentRoutesOptions> = async (app, { db, dataDir }) => {
  // Raw bytes whatever the declared type: the content is checked by its magic bytes.
  // One byte over the limit still parses, so the handler can say exactly how large it was.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_ATTACHMENT_BYTES + 1 }, (_req, body, done) => done(null, body))

  app.setErrorHandler((err: { code?: string; statusCode?: number; message: string }, _request, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return sendError(reply, 413, 'ATTACHMENT_TOO_LARGE', `the upload is larger than the limit of ${MAX_ATTACHMENT_BYTES} bytes (10 MB)`)
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    return sendError(reply, status, status === 500 ? 'INTERNAL' : 'BAD_REQUEST', err.message)
  })

  const principalOf = (request: FastifyRequest) => authenticateRequest(db, requestCredentials(request.headers))

  app.post<{ Querystring: { name?: string } }>('/api/v1/attachments', async (request, reply) => {
    const principal = await principalOf(request)
    if (!principal) return sendError(reply, 401, 'UNAUTHENTICATED', 'send an API token: Authorization: Bearer cairn_…')
    if (!canUseAgents(principal)) return sendError(reply, 403, 'FORBIDDEN', `uploading attachments for chats needs the ${AGENTS_ACCESS} role (auditors cannot upload)`)
    const body = request.body
    const bytes = Buffer.isBuffer(body) ? body : Buffer.alloc(0)
    try {
      const row = await saveAttachment(db, dataDir, {
        bytes,
        name: request.query.name ?? '',
        uploadedBy: principal.userId,
        organizationId: principal.organizationId,
      })
      return reply.code(201).send({ id: row.id, sha256: row.sha256, mimeType: row.mimeType, name: row.name, size: row.size })
    } catch (err) {
      if (err instanceof AttachmentError) return sendError(reply, STATUS[err.kind] ?? 400, err.kind, err.message)
      throw err
    }
  })

  app.get<{ Params: { id: string } }>('/api/v1/attachments/:id', async (request, reply) => {
    const principal = await principalOf(request)
    if (!principal) return sendError(reply, 401, 'UNAUTHENTICATED', 'send an API token: Authorization: Bearer cairn_…')
    const [row] = await loadAttachments(db, [request.params.id])
    const visible = row && canReadAttachment(principal, row, await chatsReferencing(db, row.id))
    if (!row || !visible) return sendError(reply, 404, 'ATTACHMENT_NOT_FOUND', 'attachment not found')
    reply.header('content-type', row.mimeType)
    reply.header('content-length', row.size)
    reply.header('content-disposition', `attachment; filename="${row.name.replace(/["\\]/g, '_')}"`)
    reply.header('x-content-type-options', 'nosniff')
    return reply.send(createReadStream(blobPath(dataDir, row.sha256)))
  })
}
