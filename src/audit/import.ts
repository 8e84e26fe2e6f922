/**
 * `cairn events import`: rebuilds a chat's streams from an `exportChatJsonl` file in a database
 * that has none of them. Every event keeps its id, revision, time and hash; the chain is
 * recomputed line by line and the import is refused (nothing written) if any hash, revision or
 * the closing `end` line does not match. Projections pick the events up like any others.
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { blobPath } from '../attachments/blobs.ts'
import type { Database, Sql } from '../db/database.ts'
import { eventHash } from '../eventstore/hash.ts'
import type { StoredEvent } from '../eventstore/types.ts'
import { attachmentsOf, EXPORT_FORMAT, EXPORT_VERSION, type ExportLine, type ExportedStream } from './export.ts'

export class ImportError extends Error {
  constructor(
    readonly kind: 'BAD_EXPORT' | 'CHAIN_BROKEN' | 'STREAM_EXISTS' | 'ATTACHMENT_MISMATCH',
    message: string,
  ) {
    super(message)
    this.name = 'ImportError'
  }
}

const BATCH = 500

interface Head {
  /** The revision the next event must have. */
  next: bigint
  hash: string
  /** A fork's cut in its source; null for a plain stream. */
  cut: bigint | null
}

function forkStart(stream: string, cut: bigint, cutHashes: Map<bigint, string>): string {
  const hash = cutHashes.get(cut)
  if (hash === undefined) throw new ImportError('BAD_EXPORT', `${stream} is forked at revision ${cut}, which the export does not contain`)
  return hash
}

export interface ImportResult {
  chatId: string
  streams: number
  events: number
  attachments: number
}

/** Imports from `lines` (an async iterable of the file's lines) inside one transaction. */
export async function importChat(
  db: Database,
  lines: AsyncIterable<string>,
  options: { dataDir: string; attachmentsDir?: string },
): Promise<ImportResult> {
  return db.transaction(async (tx) => {
    let header: Extract<ExportLine, { kind: 'header' }> | null = null
    let ended: Extract<ExportLine, { kind: 'end' }> | null = null
    const heads = new Map<string, Head>()
    // Hashes of the events forks are cut at: the chat reads as one sequence of revisions, so each is seen once.
    const cutHashes = new Map<bigint, string>()
    let cuts = new Set<bigint>()
    const blobs: Extract<ExportLine, { kind: 'attachment' }>[] = []
    let batch: Extract<ExportLine, { kind: 'event' }>[] = []
    let events = 0
    let n = 0
    // Who brought each attachment into the chat, for exports whose lines do not say (older ones).
    const chat = { organizationId: '', ownerId: '' }
    const referenced = new Map<string, { uploadedBy: string; organizationId: string; createdAt: string }>()
    for await (const text of lines) {
      n++
      if (!text.trim()) continue
      if (ended) throw new ImportError('BAD_EXPORT', `line ${n}: nothing may follow the end line`)
      let line: ExportLine
      try {
        line = JSON.parse(text) as ExportLine
      } catch {
        throw new ImportError('BAD_EXPORT', `line ${n} is not JSON`)
      }
      if (!header) {
        if (line.kind !== 'header' || line.format !== EXPORT_FORMAT || line.version !== EXPORT_VERSION)
          throw new ImportError('BAD_EXPORT', `line 1 is not a ${EXPORT_FORMAT} v${EXPORT_VERSION} header: export with \`cairn events export --chat ID\``)
        header = line
        cuts = new Set(line.streams.flatMap((s) => (s.forkOf ? [BigInt(s.forkOf.revision)] : [])))
        await createStreams(tx, line.streams, heads)
        continue
      }
      switch (line.kind) {
        case 'event': {
          const head = heads.get(line.stream)
          if (!head) throw new ImportError('BAD_EXPORT', `line ${n}: stream ${line.stream} is not in the header`)
          const revision = BigInt(line.revision)
          if (head.cut !== null && revision === head.cut + 1n) head.hash = forkStart(line.stream, head.cut, cutHashes)
          if (revision !== head.next)
            throw new ImportError('CHAIN_BROKEN', `line ${n}: ${line.stream} revision ${revision} follows revision ${head.next - 1n}; an event is missing`)
          const expected = eventHash(head.hash, { id: line.id, type: line.type, data: line.data, metadata: line.metadata, revision, stream: line.stream })
          if (expected !== line.hash)
            throw new ImportError('CHAIN_BROKEN', `line ${n}: ${line.stream} revision ${revision} has hash ${line.hash}, its content hashes to ${expected}; the export was altered`)
          head.next = revision + 1n
          head.hash = expected
          if (cuts.has(revision)) cutHashes.set(revision, expected)
          noteAttachments(line, chat, referenced)
          batch.push(line)
          events++
          if (batch.length >= BATCH) batch = await insertEvents(tx, batch)
          break
        }
        case 'attachment':
          blobs.push(line)
          break
        case 'end':
          ended = line
          break
        default:
          throw new ImportError('BAD_EXPORT', `line ${n}: unknown line kind ${JSON.stringify((line as { kind?: unknown }).kind)}`)
      }
    }
    if (!header) throw new ImportError('BAD_EXPORT', 'the file is empty')
    if (!ended) throw new ImportError('BAD_EXPORT', 'the export has no end line: it was cut short')
    if (ended.events !== events) throw new ImportError('BAD_EXPORT', `the end line counts ${ended.events} events; the file has ${events}`)
    await insertEvents(tx, batch)
    for (const h of ended.heads) {
      const head = heads.get(h.stream)
      if (!head || head.hash !== h.hash || head.next - 1n !== BigInt(h.revision))
        throw new ImportError('CHAIN_BROKEN', `stream ${h.stream} should end at revision ${h.revision} with hash ${h.hash}; the file's events do not`)
    }
    for (const [stream, head] of heads) {
      if (head.cut !== null && head.next === head.cut + 1n) head.hash = forkStart(stream, head.cut, cutHashes)
      await tx.query('update streams set revision = $2, hash = $3 where stream = $1', [stream, (head.next - 1n).toString(), head.hash])
    }
    const attachments = options.attachmentsDir ? await restoreAttachments(tx, blobs, referenced, options.attachmentsDir, options.dataDir) : 0
    return { chatId: header.chatId, streams: heads.size, events, attachments }
  })
}

/** Creates the stream rows, sources before the forks that name them; refuses existing streams. */
async function createStreams(tx: Sql, streams: ExportedStream[], heads: Map<string, Head>) {
  const existing = await tx.query<{ stream: string }>('select stream from streams where stream = any($1::text[])', [streams.map((s) => s.stream)])
  if (existing.length)
    throw new ImportError('STREAM_EXISTS', `this database already has ${existing.map((e) => e.stream).join(', ')}; import into a database without them`)
  for (const s of [...streams].reverse()) {
    if (s.forkOf && !heads.has(s.forkOf.stream))
      throw new ImportError('BAD_EXPORT', `${s.stream} is forked from ${s.forkOf.stream}, which the header does not list after it`)
    const start = s.forkOf ? BigInt(s.forkOf.revision) : -1n
    // The head is set once the events are read; a fork's chain starts from its source's hash at the cut.
    await tx.query('insert into streams (stream, revision, fork_of_stream, fork_of_revision, hash) values ($1, $2, $3, $4, $5)', [
      s.stream,
      start.toString(),
      s.forkOf?.stream ?? null,
      s.forkOf?.revision ?? null,
      '',
    ])
    heads.set(s.stream, { next: start + 1n, hash: '', cut: s.forkOf ? start : null })
  }
}

async function insertEvents(tx: Sql, batch: Extract<ExportLine, { kind: 'event' }>[]): Promise<[]> {
  if (!batch.length) return []
  await tx.query(
    `insert into events (stream, revision, id, type, data, metadata, created_at, hash)
     select e->>'stream', (e->>'revision')::bigint, (e->>'id')::uuid, e->>'type', e->'data', e->'metadata', (e->>'createdAt')::timestamptz, e->>'hash'
     from jsonb_array_elements($1::jsonb) with ordinality as t(e, n) order by n`,
    [JSON.stringify(batch)],
  )
  return []
}

function noteAttachments(
  line: Extract<ExportLine, { kind: 'event' }>,
  chat: { organizationId: string; ownerId: string },
  referenced: Map<string, { uploadedBy: string; organizationId: string; createdAt: string }>,
) {
  const data = line.data as { organizationId?: unknown; ownerId?: unknown; authorId?: unknown }
  if ((line.type === 'ChatCreated' || line.type === 'ChatForked') && typeof data.organizationId === 'string' && typeof data.ownerId === 'string') {
    chat.organizationId = data.organizationId
    chat.ownerId = data.ownerId
  }
  for (const a of attachmentsOf({ type: line.type, data: line.data } as StoredEvent)) {
    if (!a.attachmentId || referenced.has(a.attachmentId)) continue
    // A user's upload is theirs; a file a tool attached is recorded for the chat's owner, as the tool does.
    const uploadedBy = typeof data.authorId === 'string' ? data.authorId : chat.ownerId
    referenced.set(a.attachmentId, { uploadedBy, organizationId: chat.organizationId, createdAt: line.createdAt })
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Copies each written blob into the data dir, checking it hashes to its name, and recreates the
 * `attachments` row of each attachment id (the blob index the API and the runner read), from the
 * line's fields or, for older exports, from the event that brought it in. Existing rows are kept.
 */
async function restoreAttachments(
  tx: Sql,
  blobs: Extract<ExportLine, { kind: 'attachment' }>[],
  referenced: Map<string, { uploadedBy: string; organizationId: string; createdAt: string }>,
  from: string,
  dataDir: string,
): Promise<number> {
  let copied = 0
  await mkdir(join(dataDir, 'attachments'), { recursive: true })
  const checked = new Map<string, number>()
  for (const blob of blobs) {
    if (!blob.written) continue
    let size = checked.get(blob.sha256)
    if (size === undefined) {
      const source = join(from, blob.sha256)
      if (!/^[0-9a-f]{64}$/.test(blob.sha256) || !existsSync(source)) throw new ImportError('ATTACHMENT_MISMATCH', `attachment ${blob.sha256} is not in ${from}`)
      const bytes = await readFile(source)
      const actual = createHash('sha256').update(bytes).digest('hex')
      if (actual !== blob.sha256) throw new ImportError('ATTACHMENT_MISMATCH', `${source} hashes to ${actual}, not to its name: the file was altered`)
      await copyFile(source, blobPath(dataDir, blob.sha256))
      checked.set(blob.sha256, (size = bytes.length))
      copied++
    }
    if (!blob.attachmentId || !UUID.test(blob.attachmentId)) continue
    const ref = referenced.get(blob.attachmentId)
    const organizationId = blob.organizationId ?? ref?.organizationId
    const uploadedBy = blob.uploadedBy ?? ref?.uploadedBy
    if (!organizationId || !uploadedBy || !UUID.test(organizationId) || !UUID.test(uploadedBy))
      throw new ImportError('BAD_EXPORT', `attachment ${blob.attachmentId} names no organization or uploader, and no event of the chat refers to it`)
    const inserted = await tx.query(
      `insert into attachments (id, organization_id, uploaded_by, sha256, mime_type, name, size, created_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (id) do nothing returning id`,
      [
        blob.attachmentId,
        organizationId,
        uploadedBy,
        blob.sha256,
        blob.mimeType ?? 'application/octet-stream',
        blob.name ?? `attachment-${blob.sha256.slice(0, 12)}`,
        blob.size ?? size,
        blob.createdAt ?? ref?.createdAt ?? new Date().toISOString(),
      ],
    )
    if (!inserted.length) {
      const [existing] = await tx.query<{ sha256: string }>('select sha256 from attachments where id = $1', [blob.attachmentId])
      if (existing && existing.sha256 !== blob.sha256)
        throw new ImportError('ATTACHMENT_MISMATCH', `this database already has attachment ${blob.attachmentId} with other content (sha256 ${existing.sha256})`)
    }
  }
  return copied
}
