-- One row per projection: how far through the log its read model is. The engine updates
-- it in the same transaction as the read-model writes, so each event takes effect once.
create table if not exists projection_checkpoints (
  name text primary key,
  -- Opaque store checkpoint; '' is the beginning of the log.
  checkpoint text not null default '',
  -- The last handler failure, cleared by the next committed batch.
  last_error text,
  updated_at timestamptz not null default now()
);
