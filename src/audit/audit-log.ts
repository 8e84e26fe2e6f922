/**
 * Reading the `audit_log` read model: filters, cursor pages for GraphQL, and a row-at-a-time
 * walk for exports (CSV, JSON lines) that holds one page in memory however large the log is.
 */
import type { Sql } from '../db/database.ts'
import { invalidInput } from '../../commands/errors.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface AuditFilter {
  /** The human an action is attributed to: the acting user, or the user an agent acted for. */
  userId?: string | null
  /** Only actions an agent or workspace took on behalf of this user. */
  onBehalfOf?: string | null
  chatId?: string | null
  workspaceId?: string | null
  eventType?: string | null
  /** ISO-8601, inclusive. */
  from?: string | null
  /** ISO-8601, exclusive. */
  to?: string | null
  /** Case-insensitive text in user and assistant message text. */
  text?: string | null
}

export interface AuditEntry {
  position: string
  eventId: string
  eventType: string
  actor: { kind: string; id: string; onBehalfOf: string | null }
  userId: string | null
  chatId: string | null
  workspaceId: string | null
  stream: string
  revision: number
  summary: string
  occurredAt: string
}

type Row = Record<string, unknown>

function validTime(value: string, name: string): string {
  if (Number.isNaN(Date.parse(value))) throw invalidInput(`filter.${name} is not an ISO-8601 time: ${value}`)
  return new Date(value).toISOString()
}

function uuid(value: string, name: string): string {
  if (!UUID.test(value)) throw invalidInput(`filter.${name} is not an id: ${value}`)
  return value
}

/** The WHERE clause and its parameters; throws INVALID_INPUT for a malformed filter. */
export function auditWhere(organizationId: string, filter: AuditFilter): { where: string[]; params: unknown[] } {
  const where = ['organization_id = $1']
  const params: unknown[] = [organizationId]
  const add = (sql: string, value: unknown) => {
    params.push(value)
    where.push(sql.replaceAll('?', `$${params.length}`))
  }
  if (filter.userId) add('user_id = ?', filter.userId)
  if (filter.onBehalfOf) add('on_behalf_of = ?', filter.onBehalfOf)
  if (filter.chatId) add('chat_id = ?', uuid(filter.chatId, 'chatId'))
  if (filter.workspaceId) add('workspace_id = ?', uuid(filter.workspaceId, 'workspaceId'))
  if (filter.eventType) add('event_type = ?', filter.eventType)
  if (filter.from) add('occurred_at >= ?::timestamptz', validTime(filter.from, 'from'))
  if (filter.to) add('occurred_at < ?::timestamptz', validTime(filter.to, 'to'))
  if (filter.text) add(`message_text ilike ?`, `%${filter.text.replace(/[\\%_]/g, (m) => '\\' + m)}%`)
  return { where, params }
}

export function auditEntry(r: Row): AuditEntry {
  return {
    position: String(r.position),
    eventId: String(r.event_id),
    eventType: String(r.event_type),
    actor: { kind: String(r.actor_kind).toUpperCase(), id: String(r.actor_id), onBehalfOf: (r.on_behalf_of as string | null) ?? null },
    userId: (r.user_id as string | null) ?? null,
    chatId: (r.chat_id as string | null) ?? null,
    workspaceId: (r.workspace_id as string | null) ?? null,
    stream: String(r.stream),
    revision: Number(r.revision),
    summary: String(r.summary),
    occurredAt: (r.occurred_at instanceof Date ? r.occurred_at : new Date(String(r.occurred_at))).toISOString(),
  }
}

/** Entries after `afterPosition` (exclusive) in log order, at most `limit`. */
export async function auditPage(db: Sql, organizationId: string, filter: AuditFilter, afterPosition: string | null, limit: number): Promise<AuditEntry[]> {
  const { where, params } = auditWhere(organizationId, filter)
  if (afterPosition) {
    params.push(afterPosition)
    where.push(`position > $${params.length}`)
  }
  params.push(limit)
  const rows = await db.query<Row>(
    `select position, event_id, event_type, actor_kind, actor_id, on_behalf_of, user_id, chat_id, workspace_id, stream, revision, summary, occurred_at
     from audit_log where ${where.join(' and ')} order by position limit $${params.length}`,
    params,
  )
  return rows.map(auditEntry)
}

const EXPORT_PAGE = 1000

/** Every matching entry in log order, read a page at a time from a position cursor. */
export async function* auditEntries(db: Sql, organizationId: string, filter: AuditFilter): AsyncGenerator<AuditEntry> {
  let after: string | null = null
  for (;;) {
    const page = await auditPage(db, organizationId, filter, after, EXPORT_PAGE)
    yield* page
    if (page.length < EXPORT_PAGE) return
    after = page[page.length - 1]!.position
  }
}

export const CSV_COLUMNS = [
  'position',
  'occurred_at',
  'event_type',
  'actor_kind',
  'actor_id',
  'on_behalf_of',
  'user_id',
  'chat_id',
  'workspace_id',
  'stream',
  'revision',
  'event_id',
  'summary',
] as const

/** RFC 4180 quoting; a cell that starts like a formula is prefixed so spreadsheets show it as text. */
function csvCell(value: string | number | null): string {
  if (value === null) return ''
  let text = String(value)
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

export function csvHeader(): string {
  return CSV_COLUMNS.join(',') + '\r\n'
}

export function csvLine(e: AuditEntry): string {
  const cells = [
    e.position,
    e.occurredAt,
    e.eventType,
    e.actor.kind.toLowerCase(),
    e.actor.id,
    e.actor.onBehalfOf,
    e.userId,
    e.chatId,
    e.workspaceId,
    e.stream,
    e.revision,
    e.eventId,
    e.summary,
  ]
  return cells.map(csvCell).join(',') + '\r\n'
}

export function jsonLine(e: AuditEntry): string {
  return JSON.stringify(e) + '\n'
}
