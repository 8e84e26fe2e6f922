-- Read models built by projections/ from the event log. Every row carries organization_id.

create table users (
  id uuid primary key,
  organization_id uuid not null,
  email text not null unique,
  name text not null,
  role text not null,
  created_at timestamptz not null,
  updated_at timestamptz not null
);

create table api_tokens (
  token_hash text primary key,          -- sha256 hex of the token; the token itself is never stored
  token_id uuid not null unique,
  user_id uuid not null references users (id),
  label text not null,
  revoked boolean not null default false,
  created_at timestamptz not null
);

create table chats (
  id uuid primary key,
  organization_id uuid not null,
  owner_id uuid not null,
  title text not null,
  status text not null,                  -- waiting | pending | running | interrupting | requires_action | error
  archived boolean not null default false,
  model_id text,
  workspace_id uuid,
  parent_chat_id uuid,
  root_chat_id uuid,
  agent_type text,
  plan_mode boolean not null default false,
  fork_of_chat_id uuid,
  fork_of_revision bigint,
  last_error text,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  cache_read_tokens bigint not null default 0,
  cache_write_tokens bigint not null default 0,
  reasoning_tokens bigint not null default 0,
  cost_usd numeric(14, 6) not null default 0,
  queue_length int not null default 0,
  pending_question_id text,
  compaction_requested boolean not null default false,
  revision bigint not null,              -- current revision of the chat stream (inherited events included)
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index chats_owner_idx on chats (owner_id, updated_at desc, id);
create index chats_org_idx on chats (organization_id, updated_at desc, id);
create index chats_root_idx on chats (root_chat_id);
-- The runner's work list: chats that need a turn.
create index chats_runnable_idx on chats (status) where not archived and status in ('pending', 'running', 'interrupting');

create table chat_messages (
  chat_id uuid not null,
  revision bigint not null,              -- revision of the event that made the message
  id text not null,                      -- message id, step id or tool call id
  role text not null,                    -- user | assistant | tool | summary
  parts jsonb not null,
  usage jsonb,
  cost_usd numeric(14, 6),
  compacted boolean not null default false,  -- true when a later summary covers it (not sent to the model)
  inherited boolean not null default false,  -- copied from a fork's source history
  created_at timestamptz not null,
  primary key (chat_id, revision)
);

create table chat_queue (
  chat_id uuid not null,
  queue_id text not null,
  position int not null,
  parts jsonb not null,
  author_id uuid not null,
  created_at timestamptz not null,
  primary key (chat_id, queue_id)
);
create index chat_queue_order_idx on chat_queue (chat_id, position);

create table audit_log (
  position text primary key,             -- the event's checkpoint in the global log (sorts in log order)
  event_id uuid not null,
  organization_id uuid,
  actor_kind text not null,
  actor_id text not null,
  on_behalf_of text,
  user_id text,                          -- the human the action is attributed to (actor or on_behalf_of)
  chat_id uuid,
  workspace_id uuid,
  stream text not null,
  revision bigint not null,
  event_type text not null,
  summary text not null,
  occurred_at timestamptz not null
);
create index audit_log_user_idx on audit_log (user_id, occurred_at);
create index audit_log_chat_idx on audit_log (chat_id, occurred_at);
create index audit_log_time_idx on audit_log (occurred_at);
create index audit_log_type_idx on audit_log (event_type, occurred_at);

create table attachments (
  id uuid primary key,
  organization_id uuid not null,
  uploaded_by uuid not null,
  sha256 text not null,
  mime_type text not null,
  name text not null,
  size int not null,
  created_at timestamptz not null default now()
);
-- Which chats reference an attachment (read permission follows the chat).
create table chat_attachments (
  chat_id uuid not null,
  attachment_id uuid not null,
  primary key (chat_id, attachment_id)
);
