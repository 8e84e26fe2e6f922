import { createHash, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Sql } from '../db/database.ts'

/** 10 MB: the largest image a user may upload. */
export const MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024

export type ImageMimeType = 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp'

export type AttachmentErrorKind = 'ATTACHMENT_TOO_LARGE' | 'UNSUPPORTED_ATTACHMENT_TYPE' | 'EMPTY_ATTACHMENT'

export class AttachmentError extends Error {
  constructor(
    readonly kind: AttachmentErrorKind,
    message: string,
  ) {
    super(message)
    this.name = 'AttachmentError'
  }
}

/** The image type by its magic bytes; the file's name and declared type are never trusted. */
export function sniffImageType(bytes: Uint8Array): ImageMimeType | null {
  const starts = (sig: number[], at = 0) => sig.every((b, i) => bytes[at + i] === b)
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png'
  if (starts([0xff, 0xd8, 0xff])) return 'image/jpeg'
  if (starts([0x47, 0x49, 0x46, 0x38]) && (bytes[4] === 0x37 || bytes[4] === 0x39) && bytes[5] === 0x61) return 'image/gif'
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return 'image/webp'
  return null
}

/** Throws an AttachmentError a user can act on, or returns the sniffed type. */
export function checkUpload(bytes: Uint8Array): ImageMimeType {
  if (bytes.length === 0) throw new AttachmentError('EMPTY_ATTACHMENT', 'the upload is empty; send the image bytes as the request body')
  if (bytes.length > MAX_ATTACHMENT_BYTES)
    throw new AttachmentError(
      'ATTACHMENT_TOO_LARGE',
      `the upload is ${bytes.length} bytes; the limit is ${MAX_ATTACHMENT_BYTES} bytes (10 MB)`,
    )
  const type = sniffImageType(bytes)
  if (!type)
    throw new AttachmentError(
      'UNSUPPORTED_ATTACHMENT_TYPE',
      'the upload is not a PNG, JPEG, GIF or WebP image (checked by its content, not its name or Content-Type)',
    )
  return type
}

export interface AttachmentRow {
  id: string
  organizationId: string
  uploadedBy: string
  sha256: string
  mimeType: string
  name: string
  size: number
  createdAt: Date
}

export const blobPath = (dataDir: string, sha256: string) => join(dataDir, 'attachments', sha256)

/**
 * Stores the bytes content-addressed under `<dataDir>/attachments/<sha256>` and records the
 * attachment in the `attachments` table (the blob index, written directly: it is not a projection).
 */
export async function saveAttachment(
  db: Sql,
  dataDir: string,
  input: { bytes: Uint8Array; name: string; uploadedBy: string; organizationId: string },
): Promise<AttachmentRow> {
  const mimeType = checkUpload(input.bytes)
  const sha256 = createHash('sha256').update(input.bytes).digest('hex')
  const path = blobPath(dataDir, sha256)
  if (!existsSync(path)) {
    await mkdir(join(dataDir, 'attachments'), { recursive: true })
    const tmp = `${path}.${randomUUID()}.tmp`
    await writeFile(tmp, input.bytes, { mode: 0o600 })
    await rename(tmp, path)
  }
  const row: AttachmentRow = {
    id: randomUUID(),
    organizationId: input.organizationId,
    uploadedBy: input.uploadedBy,
    sha256,
    mimeType,
    name: cleanName(input.name, mimeType),
    size: input.bytes.length,
    createdAt: new Date(),
  }
  await db.query(
    `insert into attachments (id, organization_id, uploaded_by, sha256, mime_type, name, size, created_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [row.id, row.organizationId, row.uploadedBy, row.sha256, row.mimeType, row.name, row.size, row.createdAt],
  )
  return row
}

function cleanName(name: string, mimeType: string): string {
  const base = name.replace(/[\\/\x00-\x1f]/g, '_').trim().slice(0, 200)
  return base || `image.${mimeType.split('/')[1]}`
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export async function loadAttachments(db: Sql, ids: readonly string[]): Promise<AttachmentRow[]> {
  const valid = ids.filter((id) => UUID.test(id))
  if (!valid.length) return []
  const rows = await db.query<{
    id: string
    organization_id: string
    uploaded_by: string
    sha256: string
    mime_type: string
    name: string
    size: number | string
    created_at: Date | string
  }>('select * from attachments where id = any($1::uuid[])', [valid])
  return rows.map((r) => ({
    id: r.id,
    organizationId: r.organization_id,
    uploadedBy: r.uploaded_by,
    sha256: r.sha256,
    mimeType: r.mime_type,
    name: r.name,
    size: Number(r.size),
    createdAt: new Date(r.created_at),
  }))
}

/**
 * Owners of the chats that reference an attachment (the `chat_attachments` read model), and of
 * the forks cut after it entered one of them: a fork inherits the history, not a copy of the rows.
 */
export async function chatsReferencing(db: Sql, attachmentId: string): Promise<{ ownerId: string; organizationId: string }[]> {
  const rows = await db.query<{ owner_id: string; organization_id: string }>(
    `with recursive refs (chat_id, revision) as (
         select chat_id, coalesce(revision, 0) from chat_attachments where attachment_id = $1
       union
         select c.id, r.revision from chats c join refs r on c.fork_of_chat_id = r.chat_id and c.fork_of_revision >= r.revision
     )
     select distinct c.owner_id, c.organization_id from refs r join chats c on c.id = r.chat_id`,
    [attachmentId],
  )
  return rows.map((r) => ({ ownerId: r.owner_id, organizationId: r.organization_id }))
}

/** The runner's view of attachments: an image's bytes as base64, for the model's context. */
export function attachmentLoader(db: Sql, dataDir: string) {
  return async (attachmentId: string): Promise<{ mimeType: string; data: string } | null> => {
    const [row] = await loadAttachments(db, [attachmentId])
    if (!row) return null
    try {
      return { mimeType: row.mimeType, data: (await readFile(blobPath(dataDir, row.sha256))).toString('base64') }
    } catch {
      return null
    }
  }
}
