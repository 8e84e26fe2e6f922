-- Audit log filters: acting-on-behalf-of, workspace, and text search in message text.
alter table audit_log add column if not exists message_text text;
create index if not exists audit_log_on_behalf_idx on audit_log (on_behalf_of, occurred_at);
create index if not exists audit_log_workspace_idx on audit_log (workspace_id, occurred_at);
-- Rows projected before this migration have no message text: replay the read model from the
-- start of the log (the events are untouched; only the projection's own rows are rebuilt).
delete from audit_log;
delete from projection_checkpoints where name = 'audit_log';
