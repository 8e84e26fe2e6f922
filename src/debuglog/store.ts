/**
 * The `chat_debug_logs` table (migration 120): raw provider exchanges of chats whose debug
 * logging is on, outside the event log. Rows arrive redacted (src/debuglog/recorder.ts); this
 * file only writes, pages and prunes them.
 */
import type { Sql } from '../db/database.ts'
import type { ProviderExchange } from '../providers/debug-capture.ts'

/** One stored exchange: the capture (bodies redacted) with the chat, turn and step it belongs to. */
export interface ChatDebugLogRow extends ProviderExchange {
  id: string
  chatId: string
  turnId: string
  step: number
  provider: string
  createdAt: Date
}

export type NewChatDebugLogRow = Omit<ChatDebugLogRow, 'id' | 'createdAt'>

interface DbRow {
  id: string | number | bigint
  chat_id: string
  turn_id: string
  step: number
  provider: string
  method: string
  url_path: string
  request_headers: Record<string, string> | string
  request_body: string | null
  request_truncated: boolean
  status: number | null
  response_headers: Record<string, string> | string
  response_body: string
  response_truncated: boolean
  error: string | null
  started_at: Date | string
  first_byte_ms: number | null
  duration_ms: number
  created_at: Date | string
}

const json = (v: Record<string, string> | string) => (typeof v === 'string' ? (JSON.parse(v) as Record<string, string>) : v)

function fromDb(r: DbRow): ChatDebugLogRow {
  return {
    id: String(r.id),
    chatId: r.chat_id,
    turnId: r.turn_id,
    step: r.step,
    provider: r.provider,
    method: r.method,
    urlPath: r.url_path,
    requestHeaders: json(r.request_headers),
    requestBody: r.request_body,
    requestTruncated: r.request_truncated,
    status: r.status,
    responseHeaders: json(r.response_headers),
    responseBody: r.response_body,
    responseTruncated: r.response_truncated,
    error: r.error,
    startedAt: new Date(r.started_at),
    firstByteMs: r.first_byte_ms,
    durationMs: r.duration_ms,
    createdAt: new Date(r.created_at),
  }
}

export async function insertChatDebugLog(db: Sql, row: NewChatDebugLogRow): Promise<void> {
  await db.query(
    `insert into chat_debug_logs (chat_id, turn_id, step, provider, method, url_path, request_headers, request_body, request_truncated,
       status, response_headers, response_body, response_truncated, error, started_at, first_byte_ms, duration_ms)
     values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11::jsonb, $12, $13, $14, $15, $16, $17)`,
    [
      row.chatId, row.turnId, row.step, row.provider, row.method, row.urlPath, JSON.stringify(row.requestHeaders), row.requestBody, row.requestTruncated,
      row.status, JSON.stringify(row.responseHeaders), row.responseBody, row.responseTruncated, row.error, row.startedAt, row.firstByteMs, row.durationMs,
    ],
  )
}

/** Oldest first, `first` rows after the cursor (a row id); one more is read to tell whether more follow. */
export async function chatDebugLogPage(db: Sql, chatId: string, first: number, after: string | null): Promise<{ rows: ChatDebugLogRow[]; hasNextPage: boolean }> {
  const rows = await db.query<DbRow>(
    `select * from chat_debug_logs where chat_id = $1 and id > $2::bigint order by id limit $3`,
    [chatId, after ?? '0', first + 1],
  )
  return { rows: rows.slice(0, first).map(fromDb), hasNextPage: rows.length > first }
}

/** Deletes rows created before `before`; returns how many. */
export async function deleteChatDebugLogsBefore(db: Sql, before: Date): Promise<number> {
  const rows = await db.query<{ n: string | number }>(
    'with gone as (delete from chat_debug_logs where created_at < $1 returning 1) select count(*)::text as n from gone',
    [before],
  )
  return Number(rows[0]?.n ?? 0)
}
