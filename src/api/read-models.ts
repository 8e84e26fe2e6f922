/** Queries on the read models (tables in migrations/003_read_models.sql), shaped for the schema. */
import type { Sql } from '../db/database.ts'
import { chatStream } from '../events/chat.ts'
import type { EventStore, StoredEvent } from '../eventstore/types.ts'
import type { ChatOwnership } from '../identity/permissions.ts'
import { invalidInput } from '../../commands/errors.ts'
import { chatRowOf } from '../../projections/chats.ts'
import { addCost, addUsage, type ChatRow, type QueueItem } from '../../projections/chat-row.ts'
import type { MessagePart, TokenUsage } from '../events/chat.ts'
import { inheritedUsageOf, lineageMessages } from './chat-lineage.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (id: unknown): id is string => typeof id === 'string' && UUID.test(id)

export const MAX_PAGE = 200

export function pageSize(first: number | null | undefined, fallback: number): number {
  const n = first ?? fallback
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) throw invalidInput(`first must be between 1 and ${MAX_PAGE}; got ${n}`)
  return n
}

export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

export function decodeCursor(cursor: string | null | undefined, length: number): string[] | null {
  if (cursor == null) return null
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown
    if (Array.isArray(key) && key.length === length && key.every((k) => typeof k === 'string')) return key as string[]
  } catch {
    // fall through
  }
  throw invalidInput('the `after` cursor is not one this API returned')
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[]
  nodes: T[]
  pageInfo: { hasNextPage: boolean; endCursor: string | null }
}

function connection<T>(rows: T[], first: number, cursorOf: (row: T) => string): Connection<T> {
  const page = rows.slice(0, first)
  const edges = page.map((node) => ({ cursor: cursorOf(node), node }))
  return { edges, nodes: page, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } }
}

const iso = (v: unknown) => (v instanceof Date ? v : new Date(String(v))).toISOString()
const num = (v: unknown) => (v == null ? 0 : Number(v))

export interface ChatView extends ChatOwnership {
  id: string
  title: string
  status: string
  archived: boolean
  modelId: string | null
  workspaceId: string | null
  parentChatId: string | null
  rootChatId: string | null
  agentType: string | null
  planMode: boolean
  forkOf: { chatId: string; revision: number } | null
  lastError: string | null
  pendingQuestionId: string | null
  pendingApprovals: { callId: string; toolName: string; arguments: unknown; rule: { tool: string; commandPattern: string | null }; expiresAt: string }[]
  compactionRequested: boolean
  queueLength: number
  usage: Record<string, number>
  openToolCalls: { callId: string; name: string }[]
  revision: number
  createdAt: string
  updatedAt: string
  /** Pagination key: created_at as PostgreSQL prints it (microseconds kept). */
  sortKey: string
  /** When retention archived the chat's message rows (src/audit/retention.ts); null as of a revision. */
  historyArchivedAt: string | null
  /** Set on a chat as of a revision: its queue then, instead of the read model's current one. */
  queueAsOf?: ReturnType<typeof queueView>[]
}

type Row = Record<string, unknown>

/** The schema's Chat from the in-memory row; a fork's inherited totals are added to its own. */
export function chatViewOf(row: ChatRow, queueLength: number, inherited: { usage: TokenUsage; costUsd: number } | null, sortKey?: string): ChatView {
  const usage = inherited ? addUsage(row.usage, inherited.usage) : row.usage
  return {
    id: row.id,
    organizationId: row.organizationId,
    ownerId: row.ownerId,
    title: row.title,
    status: row.status.toUpperCase(),
    archived: row.archived,
    modelId: row.modelId,
    workspaceId: row.workspaceId,
    parentChatId: row.parentChatId,
    rootChatId: row.rootChatId,
    agentType: row.agentType,
    planMode: row.planMode,
    forkOf: row.forkOfChatId ? { chatId: row.forkOfChatId, revision: row.forkOfRevision ?? 0 } : null,
    lastError: row.lastError,
    pendingQuestionId: row.pendingQuestionId,
    pendingApprovals: row.pendingApprovals.map((p) => ({ callId: p.callId, toolName: p.name, arguments: p.arguments, rule: { tool: p.rule.tool, commandPattern: p.rule.commandPattern ?? null }, expiresAt: p.expiresAt })),
    compactionRequested: row.compactionRequested,
    queueLength,
    usage: { ...usage, costUsd: inherited ? addCost(row.costUsd, inherited.costUsd) : row.costUsd },
    openToolCalls: Object.entries(row.openToolCalls).map(([callId, name]) => ({ callId, name })),
    revision: row.revision,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
    sortKey: sortKey ?? iso(row.createdAt),
    historyArchivedAt: null,
  }
}

/** Chat rows as the schema's Chats; the forks' inherited totals in one query for them all. */
async function chatViews(db: Sql, rows: Row[]): Promise<ChatView[]> {
  const chats = rows.map(chatRowOf)
  const inherited = await inheritedUsageOf(db, chats.flatMap((c) => (c.forkOfChatId ? [c.id] : [])))
  return rows.map((r, i) => {
    const row = chats[i]!
    const view = chatViewOf(row, num(r.queue_length), inherited.get(row.id) ?? null, String(r.sort_key ?? r.created_at))
    return r.history_archived_at ? { ...view, historyArchivedAt: iso(r.history_archived_at) } : view
  })
}

const CHAT_COLUMNS = 'c.*, c.created_at::text as sort_key'

export async function loadChat(db: Sql, chatId: string): Promise<ChatView | null> {
  if (!isUuid(chatId)) return null
  const rows = await db.query<Row>(`select ${CHAT_COLUMNS} from chats c where c.id = $1`, [chatId])
  return rows[0] ? (await chatViews(db, [rows[0]]))[0]! : null
}

export interface ChatListQuery {
  organizationId: string
  ownerId: string | null
  archived?: boolean | null
  status?: string | null
  titleContains?: string | null
  forkOf?: string | null
  /** Sub-agent chats are left out unless asked for, or their parent is named. */
  includeSubAgents?: boolean | null
  /** Only the direct sub-agent chats of this chat. */
  parentChatId?: string | null
  first: number
  after?: string | null
}

export async function listChats(db: Sql, q: ChatListQuery): Promise<Connection<ChatView>> {
  const where = ['c.organization_id = $1']
  const params: unknown[] = [q.organizationId]
  const add = (sql: string, value: unknown) => {
    params.push(value)
    where.push(sql.replace('?', `$${params.length}`))
  }
  if (q.ownerId) add('c.owner_id = ?', q.ownerId)
  if (q.archived != null) add('c.archived = ?', q.archived)
  if (q.status) add('c.status = ?', q.status.toLowerCase())
  if (q.forkOf != null) {
    if (!isUuid(q.forkOf)) return connection([] as ChatView[], q.first, (c) => encodeCursor([c.sortKey, c.id]))
    add('c.fork_of_chat_id = ?', q.forkOf)
  }
  if (q.parentChatId != null) {
    if (!isUuid(q.parentChatId)) return connection([] as ChatView[], q.first, (c) => encodeCursor([c.sortKey, c.id]))
    add('c.parent_chat_id = ?', q.parentChatId)
  } else if (!q.includeSubAgents) where.push('c.parent_chat_id is null')
  if (q.titleContains) add(`c.title ilike ?`, `%${q.titleContains.replace(/[\\%_]/g, (m) => '\\' + m)}%`)
  const after = decodeCursor(q.after, 2)
  if (after) {
    params.push(after[0], after[1])
    where.push(`(c.created_at, c.id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`)
  }
  params.push(q.first + 1)
  const rows = await db.query<Row>(
    `select ${CHAT_COLUMNS} from chats c where ${where.join(' and ')} order by c.created_at desc, c.id desc limit $${params.length}`,
    params,
  )
  const views = await chatViews(db, rows)
  return connection(views, q.first, (c) => encodeCursor([c.sortKey, c.id]))
}

/** The chats with these ids that exist, by id (one query). */
export async function chatsById(db: Sql, ids: readonly string[]): Promise<Map<string, ChatView>> {
  const wanted = [...new Set(ids.filter(isUuid))]
  if (!wanted.length) return new Map()
  const rows = await db.query<Row>(`select ${CHAT_COLUMNS} from chats c where c.id = any($1::uuid[])`, [wanted])
  return new Map((await chatViews(db, rows)).map((c) => [c.id, c]))
}

/** The direct sub-agent chats of each parent, oldest first (one query). */
export async function childChats(db: Sql, parentIds: readonly string[]): Promise<Map<string, ChatView[]>> {
  const wanted = [...new Set(parentIds.filter(isUuid))]
  const byParent = new Map<string, ChatView[]>(wanted.map((id) => [id, []]))
  if (!wanted.length) return byParent
  const rows = await db.query<Row>(`select ${CHAT_COLUMNS} from chats c where c.parent_chat_id = any($1::uuid[]) order by c.created_at, c.id`, [wanted])
  for (const view of await chatViews(db, rows)) byParent.get(view.parentChatId!)?.push(view)
  return byParent
}

export async function subAgentChats(db: Sql, rootChatId: string): Promise<string[]> {
  const rows = await db.query<{ id: string }>('select id from chats where root_chat_id = $1 and id <> $1 order by created_at', [rootChatId])
  return rows.map((r) => r.id)
}

export async function chatQueue(db: Sql, chatId: string) {
  const rows = await db.query<Row>('select * from chat_queue where chat_id = $1 order by position', [chatId])
  // The stored positions only order; the API reports places (0 = next), as the as-of view does.
  return rows.map((r, i) => queueView({ queueId: String(r.queue_id), parts: r.parts as MessagePart[], authorId: String(r.author_id), createdAt: r.created_at as Date }, i))
}

export const queueView = (q: QueueItem, position: number) => ({ queueId: q.queueId, position, parts: q.parts, authorId: q.authorId, createdAt: iso(q.createdAt) })

export interface MessageView {
  id: string
  chatId: string
  revision: number
  role: string
  parts: unknown
  usage: unknown
  costUsd: number | null
  compacted: boolean
  inherited: boolean
  createdAt: string
}

/** A fork's messages include its source's up to the cut, resolved through the fork pointer (chat-lineage.ts). */
export async function listMessages(db: Sql, chatId: string, first: number, after: string | null | undefined): Promise<Connection<MessageView>> {
  const cursor = decodeCursor(after, 1)
  const rows = await lineageMessages(db, chatId, cursor ? cursor[0] : '-1', first + 1)
  const views = rows.map(
    (r): MessageView => ({
      id: String(r.id),
      chatId: String(r.chat_id),
      revision: num(r.revision),
      role: String(r.role),
      parts: r.parts,
      usage: r.usage ?? null,
      costUsd: r.cost_usd == null ? null : Number(r.cost_usd),
      compacted: Boolean(r.compacted),
      inherited: Boolean(r.inherited),
      createdAt: iso(r.created_at),
    }),
  )
  return messagePage(views, first)
}

export const messagePage = (views: MessageView[], first: number) => connection(views, first, (m) => encodeCursor([String(m.revision)]))

/** A stored event as the schema's ChatEvent. */
export function eventView(e: StoredEvent) {
  return {
    revision: Number(e.revision),
    position: String(e.position),
    type: e.type,
    data: e.data,
    actor: { kind: e.metadata.actor.kind.toUpperCase(), id: e.metadata.actor.id, onBehalfOf: e.metadata.actor.onBehalfOf ?? null },
    occurredAt: e.createdAt.toISOString(),
    hash: e.hash,
  }
}

/** What a fork takes from its source's row: who owns it, for the permission check, and its current settings. */
export interface ForkSourceRow extends ChatOwnership {
  title: string
  modelId: string | null
  workspaceId: string | null
  planMode: boolean
}

export async function forkSourceRow(db: Sql, chatId: string): Promise<ForkSourceRow | null> {
  if (!isUuid(chatId)) return null
  const [row] = await db.query<Row>('select owner_id, organization_id, title, model_id, workspace_id, plan_mode from chats where id = $1', [chatId])
  if (!row) return null
  return {
    ownerId: String(row.owner_id),
    organizationId: String(row.organization_id),
    title: String(row.title),
    modelId: (row.model_id as string | null) ?? null,
    workspaceId: (row.workspace_id as string | null) ?? null,
    planMode: Boolean(row.plan_mode),
  }
}

/**
 * Who owns a chat: from the `chats` read model, or — when the projection has not caught up
 * yet — from the chat's own first event in the log (ChatCreated, or ChatForked for a fork).
 */
export async function chatOwnership(db: Sql, store: EventStore, chatId: string): Promise<ChatOwnership | null> {
  if (!isUuid(chatId)) return null
  const rows = await db.query<{ owner_id: string; organization_id: string }>('select owner_id, organization_id from chats where id = $1', [chatId])
  if (rows[0]) return { ownerId: rows[0].owner_id, organizationId: rows[0].organization_id }
  const info = await store.streamInfo(chatStream(chatId))
  if (!info) return null
  const from = info.forkOf ? info.forkOf.revision + 1n : 0n
  const [first] = await store.readStream(chatStream(chatId), { fromRevision: from, maxCount: 1 })
  const data = first?.data as { ownerId?: string; organizationId?: string } | undefined
  if (!data?.ownerId || !data.organizationId || (first!.type !== 'ChatCreated' && first!.type !== 'ChatForked')) return null
  return { ownerId: data.ownerId, organizationId: data.organizationId }
}
