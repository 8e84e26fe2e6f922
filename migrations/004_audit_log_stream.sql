-- The audit log of one stream (a chat's or a user's history), and the audit projection's
-- fallback lookup of a stream's organization when an event's metadata does not carry it.
create index if not exists audit_log_stream_idx on audit_log (stream, revision);
