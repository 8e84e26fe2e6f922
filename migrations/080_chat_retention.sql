-- Retention (issue 12): an admin setting archives old chats' message rows out of the hot
-- `chat_messages` table. Events are never touched: an archived chat still folds from the log
-- (as of any revision, export, verify), and its rows move back when it sees activity again.
alter table chats add column history_archived_at timestamptz;
-- Same columns as chat_messages; only the primary key (the archive is read per chat).
create table chat_messages_archive (
  chat_id uuid not null,
  revision bigint not null,
  id text not null,
  role text not null,
  parts jsonb not null,
  usage jsonb,
  cost_usd numeric(14, 6),
  compacted boolean not null default false,
  inherited boolean not null default false,
  created_at timestamptz not null,
  primary key (chat_id, revision)
);
-- The retention pass looks for idle chats by their last activity.
create index chats_retention_idx on chats (updated_at) where history_archived_at is null;
