/**
 * `cairn events verify|anchor|export|import|replay`: the auditor's tools on the log itself. They
 * open the database directly (DATABASE_URL, else PGlite in CAIRN_DATA_DIR); PGlite is one process
 * only, so stop `cairn serve` before running them against an embedded database.
 *
 * With EVENTSTORE_URL the log is in EventStoreDB/KurrentDB: export, replay and `verify --chat` read
 * it through the EventStore interface; `verify` of the whole log, `anchor` and `import` work on the
 * SQL log's tables (heads, global order by transaction id, inserts that keep stored hashes) and
 * say so instead of running.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import type { Writable } from 'node:stream'
import { attachmentLoader } from '../attachments/blobs.ts'
import { anchorKeyPath, anchorLog, loadOrCreateSigningKey, loadVerifyingKey, verifyAnchors } from '../audit/anchor.ts'
import { chatHistory, ExportError, exportChatJsonl } from '../audit/export.ts'
import { ImportError, importChat } from '../audit/import.ts'
import { replayChat } from '../audit/replay.ts'
import { writeMarkdownTranscript } from '../audit/transcript.ts'
import { streamsOfChain, verifyChains, type ChainVerification } from '../audit/verify.ts'
import { verifyChainIn } from '../audit/verify-store.ts'
import { loadEnv, type CairnEnv } from '../config/env.ts'
import type { Database } from '../db/database.ts'
import { migrate } from '../db/migrate.ts'
import { chatStream } from '../events/chat.ts'
import { createSqlEventStore } from '../eventstore/postgres/index.ts'
import type { EventStore, StoredEvent } from '../eventstore/types.ts'
import { eventStoreFor, openDatabaseFor } from '../server.ts'
import { connectEventStoreDb } from '../eventstore/eventstoredb/index.ts'
import type { CliIo } from './commands.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const EVENTS_USAGE = [
  'usage: cairn events verify [--chat ID | --all] [--from-position P]',
  '       cairn events anchor',
  '       cairn events export --chat ID [--format jsonl|markdown] [--attachments DIR] [--out FILE]',
  '       cairn events import [FILE] [--attachments DIR]',
  '       cairn events replay --chat ID',
].join('\n')

type Options = Record<string, string | boolean | undefined>

async function withDatabase<T>(io: CliIo, fn: (db: Database, dataDir: string, env: CairnEnv) => Promise<T>): Promise<T> {
  const env = loadEnv(io.env)
  const db = await openDatabaseFor(env)
  try {
    await migrate(db, () => {})
    return await fn(db, env.dataDir, env)
  } finally {
    await db.close()
  }
}

/** The log as `cairn serve` sees it (EVENTSTORE_URL or the database), open for `fn`. */
function withStore<T>(io: CliIo, fn: (store: EventStore, db: Database, dataDir: string) => Promise<T>): Promise<T> {
  return withDatabase(io, async (db, dataDir, env) => {
    const store = eventStoreFor(env, db)
    try {
      return await fn(store, db, dataDir)
    } finally {
      await store.close()
    }
  })
}

/** For the tools that read or write the SQL log's tables: exit 2 with why, when the log is elsewhere. */
function needsSqlLog(io: CliIo, what: string): boolean {
  if (!loadEnv(io.env).eventStoreUrl) return false
  io.err(`${what} works on the SQL event log, and EVENTSTORE_URL keeps this installation's log in EventStoreDB/KurrentDB; unset EVENTSTORE_URL to use it on a SQL log`)
  return true
}

/** Writes to stdout or a file, waiting when the stream's buffer is full (bounded memory). */
function sink(out: string | undefined): { write(text: string): Promise<void>; end(): Promise<void> } {
  const stream: Writable = out ? createWriteStream(out) : process.stdout
  return {
    async write(text) {
      if (!stream.write(text)) await once(stream, 'drain')
    },
    async end() {
      if (out) {
        stream.end()
        await once(stream, 'finish')
      }
    },
  }
}

function chatIdOption(values: Options, io: CliIo): string | null {
  const chat = values.chat
  if (typeof chat !== 'string' || !UUID.test(chat)) {
    io.err(`--chat must be a chat id (a UUID)${typeof chat === 'string' ? `; got ${chat}` : ''}\n${EVENTS_USAGE}`)
    return null
  }
  return chat.toLowerCase()
}

async function verify(values: Options, io: CliIo): Promise<number> {
  if (values.chat !== undefined && values.all) {
    io.err(`--chat and --all exclude each other\n${EVENTS_USAGE}`)
    return 2
  }
  let fromPosition: bigint | undefined
  if (values['from-position'] !== undefined) {
    const text = String(values['from-position'])
    if (!/^\d+$/.test(text)) {
      io.err(`--from-position must be a position (a whole number); got ${text}`)
      return 2
    }
    fromPosition = BigInt(text)
  }
  const chatId = values.chat === undefined ? null : chatIdOption(values, io)
  if (values.chat !== undefined && !chatId) return 2
  const { eventStoreUrl } = loadEnv(io.env)
  if (chatId && eventStoreUrl && fromPosition === undefined) return verifyChatIn(chatId, eventStoreUrl, io)
  if (needsSqlLog(io, `cairn events verify${chatId ? ' --from-position' : ' of the whole log (with its anchors)'}`)) return 2
  return withDatabase(io, async (db, dataDir) => {
    let streams: string[] | undefined
    if (chatId) {
      streams = await streamsOfChain(db, chatStream(chatId))
      if (!streams.length) {
        io.err(`chat ${chatId} has no stream in this database`)
        return 1
      }
    }
    const result = await verifyChains(db, { streams, fromPosition })
    printVerification(result, io, fromPosition)
    let anchorsOk = true
    if (!chatId) {
      const key = loadVerifyingKey(dataDir, io.env)
      const anchors = await verifyAnchors(db, key?.key ?? null)
      for (const a of anchors.anchors) io.out(`${a.ok ? 'anchor' : 'BROKEN anchor'} #${a.revision} through ${a.throughCheckpoint}: ${a.message}`)
      io.out(anchors.anchors.length ? `anchors: ${anchors.anchors.filter((a) => a.ok).length} of ${anchors.anchors.length} verify${key ? ` (key ${key.source})` : ''}` : 'anchors: none yet (cairn events anchor writes one)')
      anchorsOk = anchors.ok
    }
    return result.ok && anchorsOk ? 0 : 1
  })
}

function printVerification(result: ChainVerification, io: CliIo, fromPosition?: bigint): void {
  for (const b of result.broken) {
    io.out(`BROKEN ${b.stream} revision ${b.revision} (${b.kind}): ${b.message}`)
    io.out(`  expected hash: ${b.expected || '(none)'}`)
    io.out(`  stored hash:   ${b.stored || '(missing)'}`)
  }
  const rate = result.seconds > 0 ? Math.round(result.events / result.seconds) : result.events
  io.out(
    `${result.ok ? 'ok' : 'FAILED'}: ${result.streams} streams, ${result.events} events hashed in ${result.seconds.toFixed(2)} s (${rate} events/s)` +
      `${fromPosition !== undefined ? `, from position ${fromPosition}` : ''}; ${result.broken.length} broken`,
  )
}

/** `verify --chat` on a log in EventStoreDB: the chat's chain as the store reads it (no database needed). */
async function verifyChatIn(chatId: string, eventStoreUrl: string, io: CliIo): Promise<number> {
  const store = connectEventStoreDb(eventStoreUrl)
  try {
    const stream = chatStream(chatId)
    if (!(await store.streamInfo(stream))) {
      io.err(`chat ${chatId} has no stream in this event store`)
      return 1
    }
    const result = await verifyChainIn(store, stream)
    printVerification(result, io)
    return result.ok ? 0 : 1
  } finally {
    await store.close()
  }
}

async function anchor(io: CliIo): Promise<number> {
  if (needsSqlLog(io, 'cairn events anchor')) return 2
  return withDatabase(io, async (db, dataDir) => {
    const path = anchorKeyPath(dataDir, io.env)
    const key = loadOrCreateSigningKey(path)
    const store = createSqlEventStore(db)
    try {
      const anchored = await anchorLog(db, store, key)
      io.out(`anchored ${anchored.eventCount} events through ${anchored.throughCheckpoint}: root ${anchored.merkleRoot}, key ${anchored.keyFingerprint} (${path})`)
      return 0
    } finally {
      await store.close()
    }
  })
}

async function exportChat(values: Options, io: CliIo): Promise<number> {
  const chatId = chatIdOption(values, io)
  if (!chatId) return 2
  const format = values.format ?? 'jsonl'
  if (format !== 'jsonl' && format !== 'markdown') {
    io.err(`--format must be jsonl or markdown; got ${String(format)}`)
    return 2
  }
  return withStore(io, async (store, db, dataDir) => {
    const out = sink(values.out as string | undefined)
    try {
      if (format === 'markdown') {
        await writeMarkdownTranscript(chatHistory(store, chatId), (text) => out.write(text))
      } else {
        const result = await exportChatJsonl(store, chatId, (line) => out.write(line + '\n'), {
          dataDir,
          db,
          attachmentsDir: values.attachments as string | undefined,
        })
        if (result.missingAttachments.length) io.err(`attachments not found in ${dataDir}/attachments: ${result.missingAttachments.join(', ')}`)
        if (values.out) io.out(`exported ${result.events} events and ${result.attachments} attachments of chat ${chatId} to ${String(values.out)}`)
      }
      await out.end()
      return 0
    } catch (err) {
      if (err instanceof ExportError) {
        io.err(err.message)
        return 1
      }
      throw err
    }
  })
}

async function importFile(values: Options, file: string | undefined, io: CliIo): Promise<number> {
  if (needsSqlLog(io, 'cairn events import')) return 2
  return withDatabase(io, async (db, dataDir) => {
    const input = file ? createReadStream(file) : process.stdin
    try {
      // The iterator is taken at once: readline emits lines as the file flows, and lines emitted
      // before anyone iterates (importChat first opens its transaction) would be lost.
      const iterator = createInterface({ input, crlfDelay: Infinity })[Symbol.asyncIterator]()
      const lines = { [Symbol.asyncIterator]: () => iterator }
      const result = await importChat(db, lines, { dataDir, attachmentsDir: values.attachments as string | undefined })
      io.out(`imported chat ${result.chatId}: ${result.events} events in ${result.streams} streams, ${result.attachments} attachments; the chains verify`)
      return 0
    } catch (err) {
      if (err instanceof ImportError) {
        io.err(`${err.kind}: ${err.message}; nothing was imported`)
        return 1
      }
      throw err
    }
  })
}

async function replay(values: Options, io: CliIo): Promise<number> {
  const chatId = chatIdOption(values, io)
  if (!chatId) return 2
  return withStore(io, async (store, db, dataDir) => {
    try {
      const events: StoredEvent[] = []
      for await (const e of chatHistory(store, chatId)) events.push(e)
      await replayChat(events, attachmentLoader(db, dataDir), io.out)
      return 0
    } catch (err) {
      if (err instanceof ExportError) {
        io.err(err.message)
        return 1
      }
      throw err
    }
  })
}

export async function runEventsCommand(args: string[], io: CliIo): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        chat: { type: 'string' },
        all: { type: 'boolean' },
        'from-position': { type: 'string' },
        format: { type: 'string' },
        attachments: { type: 'string' },
        out: { type: 'string' },
      },
    })
  } catch (err) {
    io.err(`${err instanceof Error ? err.message : String(err)}\n${EVENTS_USAGE}`)
    return 2
  }
  const [action, ...rest] = parsed.positionals
  const values = parsed.values as Options
  if (action === 'import' && rest.length <= 1) return importFile(values, rest[0], io)
  if (rest.length) {
    io.err(EVENTS_USAGE)
    return 2
  }
  switch (action) {
    case 'verify':
      return verify(values, io)
    case 'anchor':
      return anchor(io)
    case 'export':
      return exportChat(values, io)
    case 'replay':
      return replay(values, io)
    default:
      io.err(EVENTS_USAGE)
      return 2
  }
}
