/**
 * `cairn events export --chat ID`: a chat's whole history as JSON lines, inherited fork events
 * included, each with its stored hash, so `importChat` can rebuild the streams elsewhere and the
 * chains still verify. Attachments are named by content hash and copied on request.
 *
 * Lines: one `header`, then `event` lines in the order the chat reads (source events up to each
 * cut, then its own), then `attachment` lines, then an `end` line with the count and each
 * stream's last hash (a truncated file is refused on import).
 */
import { copyFile, mkdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { blobPath, loadAttachments } from '../attachments/blobs.ts'
import type { Sql } from '../db/database.ts'
import { chatStream } from '../events/chat.ts'
import type { EventStore, StoredEvent } from '../eventstore/types.ts'
import { StreamNotFoundError } from '../eventstore/types.ts'

export const EXPORT_FORMAT = 'cairn-chat-export'
export const EXPORT_VERSION = 1

export interface ExportedStream {
  stream: string
  forkOf: { stream: string; revision: string } | null
}

export type ExportLine =
  | { kind: 'header'; format: typeof EXPORT_FORMAT; version: number; chatId: string; stream: string; exportedAt: string; streams: ExportedStream[] }
  | {
      kind: 'event'
      stream: string
      revision: string
      id: string
      type: string
      data: unknown
      metadata: unknown
      createdAt: string
      hash: string
    }
  | {
      kind: 'attachment'
      sha256: string
      attachmentId: string | null
      mimeType: string | null
      name: string | null
      size: number | null
      written: boolean
      /** From the `attachments` row when the exporting database has it (absent in older exports): import recreates the row. */
      organizationId?: string
      uploadedBy?: string
      createdAt?: string
    }
  | { kind: 'end'; events: number; heads: { stream: string; revision: string; hash: string }[] }

export class ExportError extends Error {
  constructor(
    readonly kind: 'CHAT_NOT_FOUND',
    message: string,
  ) {
    super(message)
    this.name = 'ExportError'
  }
}

const PAGE = 1000

/** Every event `chat-<id>` reads, in revision order, a page at a time (bounded memory). */
export async function* chatHistory(store: EventStore, chatId: string): AsyncGenerator<StoredEvent> {
  let from = 0n
  for (;;) {
    let page: StoredEvent[]
    try {
      page = await store.readStream(chatStream(chatId), { fromRevision: from, maxCount: PAGE })
    } catch (err) {
      if (err instanceof StreamNotFoundError) throw new ExportError('CHAT_NOT_FOUND', `chat ${chatId} does not exist in this database`)
      throw err
    }
    yield* page
    if (page.length < PAGE) return
    from = page[page.length - 1]!.revision + 1n
  }
}

/** The attachments an event refers to, by content hash. */
export function attachmentsOf(event: StoredEvent): { sha256: string; attachmentId: string | null; mimeType: string | null; name: string | null; size: number | null }[] {
  const data = event.data as Record<string, any>
  switch (event.type) {
    case 'UserMessagePosted':
    case 'MessageQueued':
      return (data.parts as any[])
        .filter((p) => p.type === 'attachment')
        .map((p) => ({ sha256: p.sha256, attachmentId: p.attachmentId, mimeType: p.mimeType, name: p.name, size: p.size }))
    case 'AttachmentAdded':
      return [{ sha256: data.sha256, attachmentId: data.attachmentId, mimeType: data.mimeType, name: data.name, size: data.size }]
    case 'ToolCallCompleted':
      return ((data.images ?? []) as any[]).map((i) => ({ sha256: i.sha256, attachmentId: i.attachmentId, mimeType: i.mimeType, name: null, size: null }))
    default:
      return []
  }
}

export interface ExportOptions {
  dataDir: string
  /** The database the `attachments` rows are in: their owner and time go on the attachment lines. */
  db?: Sql
  /** Copy each attachment's bytes to `<dir>/<sha256>`. */
  attachmentsDir?: string
  now?: Date
}

/** Writes the export line by line through `write` (which may wait, for backpressure). */
export async function exportChatJsonl(
  store: EventStore,
  chatId: string,
  write: (line: string) => Promise<void> | void,
  options: ExportOptions,
): Promise<{ events: number; attachments: number; missingAttachments: string[] }> {
  const streams: ExportedStream[] = []
  for (let stream: string | undefined = chatStream(chatId); stream; ) {
    const info = await store.streamInfo(stream)
    if (!info) throw new ExportError('CHAT_NOT_FOUND', `chat ${chatId} does not exist in this database`)
    streams.push({ stream, forkOf: info.forkOf ? { stream: info.forkOf.stream, revision: info.forkOf.revision.toString() } : null })
    stream = info.forkOf?.stream
  }
  const emit = (line: ExportLine) => write(JSON.stringify(line))
  await emit({
    kind: 'header',
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    chatId,
    stream: chatStream(chatId),
    exportedAt: (options.now ?? new Date()).toISOString(),
    streams,
  })
  const heads = new Map<string, { revision: string; hash: string }>()
  const attachments = new Map<string, ReturnType<typeof attachmentsOf>[number]>()
  let events = 0
  for await (const e of chatHistory(store, chatId)) {
    await emit({
      kind: 'event',
      stream: e.stream,
      revision: e.revision.toString(),
      id: e.id,
      type: e.type,
      data: e.data,
      metadata: e.metadata,
      createdAt: e.createdAt.toISOString(),
      hash: e.hash,
    })
    heads.set(e.stream, { revision: e.revision.toString(), hash: e.hash })
    // One line per attachment (two uploads of the same bytes are two rows); the bytes once per hash.
    for (const a of attachmentsOf(e)) {
      const key = `${a.attachmentId ?? ''}:${a.sha256}`
      if (!attachments.has(key)) attachments.set(key, a)
    }
    events++
  }
  const missing = new Set<string>()
  const copied = new Set<string>()
  if (options.attachmentsDir) await mkdir(options.attachmentsDir, { recursive: true })
  const rows = new Map((options.db ? await loadAttachments(options.db, [...attachments.values()].flatMap((a) => (a.attachmentId ? [a.attachmentId] : []))) : []).map((r) => [r.id, r]))
  for (const a of attachments.values()) {
    const source = blobPath(options.dataDir, a.sha256)
    let written = copied.has(a.sha256)
    if (options.attachmentsDir && !written) {
      if (/^[0-9a-f]{64}$/.test(a.sha256) && existsSync(source)) {
        await copyFile(source, join(options.attachmentsDir, a.sha256))
        copied.add(a.sha256)
        written = true
      } else missing.add(a.sha256)
    }
    const row = a.attachmentId ? rows.get(a.attachmentId) : undefined
    await emit({
      kind: 'attachment',
      ...a,
      ...(row && row.sha256 === a.sha256
        ? { mimeType: a.mimeType ?? row.mimeType, name: a.name ?? row.name, size: a.size ?? row.size, organizationId: row.organizationId, uploadedBy: row.uploadedBy, createdAt: row.createdAt.toISOString() }
        : {}),
      written,
    })
  }
  await emit({ kind: 'end', events, heads: [...heads].map(([stream, h]) => ({ stream, ...h })) })
  return { events, attachments: attachments.size, missingAttachments: [...missing] }
}
