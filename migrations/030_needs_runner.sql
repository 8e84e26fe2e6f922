-- The runner's discovery reads one column. The `chats` projection sets it from
-- chatNeedsRunner (src/events/chat-state.ts), the one definition of "the runner has work here".
alter table chats add column needs_runner boolean not null default false;

-- One-time backfill of rows projected before this column existed (the same rule, as it stood).
update chats set needs_runner = not archived
  and (status in ('pending', 'running', 'interrupting') or compaction_requested or (status = 'waiting' and queue_length > 0));

create index chats_needing_runner on chats (updated_at) where needs_runner;
