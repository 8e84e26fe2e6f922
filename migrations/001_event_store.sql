-- The event store: one append-only table of events and one row per stream.

-- Per-stream state. Appends lock this row (or create it with insert … on conflict), so every
-- expected-revision check and the next revision are decided inside the append transaction.
create table streams (
  stream text primary key,
  -- Revision of the stream's last event, inherited ones included for a fork.
  revision bigint not null,
  fork_of_stream text references streams (stream),
  fork_of_revision bigint,
  -- Hash of the last event, so the next append chains without reading the events table.
  hash text not null,
  created_at timestamptz not null default now(),
  check ((fork_of_stream is null) = (fork_of_revision is null))
);

create table events (
  position bigserial primary key,
  stream text not null references streams (stream),
  revision bigint not null,
  id uuid not null,
  type text not null,
  data jsonb not null,
  metadata jsonb not null,
  created_at timestamptz not null default now(),
  hash text not null,
  -- The writing transaction: readers of the whole log take only rows below the oldest running
  -- transaction and order by (xid, position), so a late commit is never passed over.
  xid xid8 not null default pg_current_xact_id(),
  unique (stream, revision),
  unique (stream, id)
);

create index events_global_order on events (xid, position);
create index events_type_global_order on events (type, xid, position);
