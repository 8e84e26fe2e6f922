-- Forks stop copying their source's messages into chat_messages: a fork's inherited history
-- and totals are resolved on read through chats.fork_of_chat_id / fork_of_revision.
-- The chats read model also keeps the calls still open (the as-of view and the model context
-- need them), and the revision each attachment entered a chat (a fork sees only those up to
-- its cut). Rows built the old way hold copies: rebuild the chats projection from the log.
alter table chats add column open_tool_calls jsonb not null default '{}';
alter table chat_attachments add column revision bigint;
truncate chats, chat_messages, chat_queue, chat_attachments;
update projection_checkpoints set checkpoint = '', last_error = null where name = 'chats';
-- A page of a fork's messages looks up the newest summary cover of its lineage.
create index chat_messages_summaries_idx on chat_messages (chat_id, revision) where role = 'summary';
