import type { PendingApproval } from './chat-row.ts'
import type { TokenUsage } from '../src/events/index.ts'
import type { ColumnType, Kysely } from 'kysely'
import type { Sql } from '../src/db/database.ts'

/** Kysely types for the read-model tables of migrations/003_read_models.sql, as projections write them. */

type Timestamp = ColumnType<Date, Date | string, Date | string>
/** int8 and numeric come back as strings on both backends; write numbers. */
type Int8 = ColumnType<string, number | string, number | string>
type Numeric = ColumnType<string, number | string, number | string>
/** jsonb is written as JSON text (node-pg would send a JS array as a Postgres array). */
type Jsonb<T = unknown> = ColumnType<T, string, string>

export interface UsersTable {
  id: string
  organization_id: string
  email: string
  name: string
  role: string
  created_at: Timestamp
  updated_at: Timestamp
}

export interface ApiTokensTable {
  token_hash: string
  token_id: string
  user_id: string
  label: string
  revoked: ColumnType<boolean, boolean | undefined, boolean>
  created_at: Timestamp
}

export interface ChatsTable {
  id: string
  organization_id: string
  owner_id: string
  title: string
  status: string
  archived: ColumnType<boolean, boolean | undefined, boolean>
  model_id: string | null
  workspace_id: string | null
  parent_chat_id: string | null
  root_chat_id: string | null
  agent_type: string | null
  plan_mode: ColumnType<boolean, boolean | undefined, boolean>
  fork_of_chat_id: string | null
  fork_of_revision: Int8 | null
  last_error: string | null
  input_tokens: Int8
  output_tokens: Int8
  cache_read_tokens: Int8
  cache_write_tokens: Int8
  reasoning_tokens: Int8
  cost_usd: Numeric
  queue_length: ColumnType<number, number | undefined, number>
  pending_question_id: string | null
  /** Calls waiting for approval (migration 100): `PendingApproval[]`. */
  pending_approvals: ColumnType<PendingApproval[], string | undefined, string>
  /** The earliest `expiresAt` of pending_approvals: what the runners' expiry scan reads. */
  approval_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  compaction_requested: ColumnType<boolean, boolean | undefined, boolean>
  /** chatNeedsRunner of the row: all the runner's discovery reads. */
  needs_runner: ColumnType<boolean, boolean | undefined, boolean>
  /** Call id → tool name of the calls asked for and not yet answered. */
  open_tool_calls: ColumnType<Record<string, string>, string | undefined, string>
  /** Set while retention keeps the chat's messages in chat_messages_archive (migration 080). */
  history_archived_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  revision: Int8
  created_at: Timestamp
  updated_at: Timestamp
}

export interface ChatMessagesTable {
  chat_id: string
  revision: Int8
  id: string
  role: 'user' | 'assistant' | 'tool' | 'summary'
  parts: Jsonb
  usage: Jsonb | null
  cost_usd: Numeric | null
  /** The chat's own totals right after this message (migration 140): what a fork's inherited totals read. */
  total_usage: Jsonb<TokenUsage>
  total_cost_usd: Numeric
  compacted: ColumnType<boolean, boolean | undefined, boolean>
  /** Always false since migration 070: a fork's inherited rows are resolved on read, not copied. */
  inherited: ColumnType<boolean, boolean | undefined, boolean>
  created_at: Timestamp
}

export interface ChatQueueTable {
  chat_id: string
  queue_id: string
  position: number
  parts: Jsonb
  author_id: string
  created_at: Timestamp
}

export interface ChatAttachmentsTable {
  chat_id: string
  attachment_id: string
  /** The revision of the AttachmentAdded; null on rows from before migration 070. */
  revision: Int8 | null
}

export interface AuditLogTable {
  position: string
  event_id: string
  organization_id: string | null
  actor_kind: string
  actor_id: string
  on_behalf_of: string | null
  user_id: string | null
  chat_id: string | null
  workspace_id: string | null
  stream: string
  revision: Int8
  event_type: string
  summary: string
  occurred_at: Timestamp
  /** Full user/assistant message text for the text filter (migration 060). */
  message_text: string | null
}

export interface ReadModels {
  users: UsersTable
  api_tokens: ApiTokensTable
  chats: ChatsTable
  chat_messages: ChatMessagesTable
  chat_messages_archive: ChatMessagesTable
  chat_queue: ChatQueueTable
  chat_attachments: ChatAttachmentsTable
  audit_log: AuditLogTable
}

/** The transaction's connection, typed for the read models. */
export const readModels = (tx: Sql) => tx.kysely as Kysely<ReadModels>
