-- Tool calls waiting for a person's approval (issue 13): the chats read model lists them, and the
-- runners' scan finds requests past their expiry through approval_expires_at (the earliest one).
alter table chats add column pending_approvals jsonb not null default '[]';
alter table chats add column approval_expires_at timestamptz;
create index chats_approval_expiry on chats (approval_expires_at) where approval_expires_at is not null;
