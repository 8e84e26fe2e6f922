-- A fork's inherited totals were a sum over every inherited assistant message: a fork of a
-- 100,000-event chat read them all. Each message row now carries its chat's own totals right
-- after it (the chats row's usage and cost as they stood then, evolveChatRow's `next`), so a fork
-- reads one row per lineage member: the last message at or below its cut, through the primary key
-- (src/api/chat-lineage.ts). Set on every message, not only assistant ones, so that lookup never
-- walks back past a run of user or tool messages.
alter table chat_messages add column total_usage jsonb, add column total_cost_usd numeric(14, 6);
alter table chat_messages_archive add column total_usage jsonb, add column total_cost_usd numeric(14, 6);

-- Rows written before: the running sums of their chat's assistant steps (a chat's rows are all in
-- one of the two tables: retention moves a chat's rows together).
update chat_messages m
set total_usage = t.total_usage, total_cost_usd = t.total_cost_usd
from (
  select chat_id, revision,
    jsonb_build_object(
      'inputTokens', sum(case when role = 'assistant' then coalesce((usage ->> 'inputTokens')::bigint, 0) else 0 end) over w,
      'outputTokens', sum(case when role = 'assistant' then coalesce((usage ->> 'outputTokens')::bigint, 0) else 0 end) over w,
      'cacheReadTokens', sum(case when role = 'assistant' then coalesce((usage ->> 'cacheReadTokens')::bigint, 0) else 0 end) over w,
      'cacheWriteTokens', sum(case when role = 'assistant' then coalesce((usage ->> 'cacheWriteTokens')::bigint, 0) else 0 end) over w,
      'reasoningTokens', sum(case when role = 'assistant' then coalesce((usage ->> 'reasoningTokens')::bigint, 0) else 0 end) over w
    ) as total_usage,
    sum(case when role = 'assistant' then coalesce(cost_usd, 0) else 0 end) over w as total_cost_usd
  from chat_messages
  window w as (partition by chat_id order by revision)
) t
where m.chat_id = t.chat_id and m.revision = t.revision;

update chat_messages_archive m
set total_usage = t.total_usage, total_cost_usd = t.total_cost_usd
from (
  select chat_id, revision,
    jsonb_build_object(
      'inputTokens', sum(case when role = 'assistant' then coalesce((usage ->> 'inputTokens')::bigint, 0) else 0 end) over w,
      'outputTokens', sum(case when role = 'assistant' then coalesce((usage ->> 'outputTokens')::bigint, 0) else 0 end) over w,
      'cacheReadTokens', sum(case when role = 'assistant' then coalesce((usage ->> 'cacheReadTokens')::bigint, 0) else 0 end) over w,
      'cacheWriteTokens', sum(case when role = 'assistant' then coalesce((usage ->> 'cacheWriteTokens')::bigint, 0) else 0 end) over w,
      'reasoningTokens', sum(case when role = 'assistant' then coalesce((usage ->> 'reasoningTokens')::bigint, 0) else 0 end) over w
    ) as total_usage,
    sum(case when role = 'assistant' then coalesce(cost_usd, 0) else 0 end) over w as total_cost_usd
  from chat_messages_archive
  window w as (partition by chat_id order by revision)
) t
where m.chat_id = t.chat_id and m.revision = t.revision;

alter table chat_messages alter column total_usage set not null, alter column total_cost_usd set not null;
alter table chat_messages_archive alter column total_usage set not null, alter column total_cost_usd set not null;
