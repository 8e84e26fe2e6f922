-- Chat debug logs (issue 13): the raw provider requests and responses of a chat's model steps,
-- kept outside the event log (keys and secrets redacted before the insert), pruned after the
-- admin's retention period. Written by the runner, read by `chatDebugLog`.
create table chat_debug_logs (
  id bigserial primary key,
  chat_id uuid not null,
  turn_id text not null,
  step integer not null,
  provider text not null,
  method text not null,
  url_path text not null,
  request_headers jsonb not null default '{}',
  request_body text,
  request_truncated boolean not null default false,
  status integer,
  response_headers jsonb not null default '{}',
  response_body text not null default '',
  response_truncated boolean not null default false,
  error text,
  started_at timestamptz not null,
  first_byte_ms integer,
  duration_ms integer not null,
  created_at timestamptz not null default now()
);
create index chat_debug_logs_chat_idx on chat_debug_logs (chat_id, id);
create index chat_debug_logs_created_idx on chat_debug_logs (created_at);
-- The owner's own toggle (ChatDebugLoggingToggled on the user's stream), read by the runner
-- before a step only while the admin switch is on.
alter table users add column chat_debug_logging boolean not null default false;
