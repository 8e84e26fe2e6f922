-- One append is one call of cairn_append: a single round trip that locks the stream row, checks the
-- expected revision, answers an idempotent retry, creates a stream or fork, chains the hashes and
-- inserts. Its plans are cached per session, so an append is not parsed and planned again each time.
--
-- The hash of an event is sha256(previous hash || canonical content), where the content is
-- {"data":…,"id":…,"metadata":…,"revision":"<n>","stream":…,"type":…} with keys sorted (see
-- src/eventstore/hash.ts). The client sends the canonical JSON of data and metadata and the
-- `"stream":…,"type":…}` tail; only the revision is known here, under the lock.
--
-- outcome: 'appended' | 'stored' (every id was already in the stream: the original result) |
-- 'wrong_expected' (revision = the stream's revision, null when it does not exist) |
-- 'fork_out_of_range' (revision = the source's last revision, -1 when it does not exist).
create function cairn_append(
  p_stream text,
  p_expected text, -- 'any' | 'no_stream' | 'exists' | a revision in decimal
  p_fork_stream text,
  p_fork_revision bigint,
  p_ids uuid[],
  p_types text[],
  p_data text[],
  p_metadata text[],
  p_tails text[]
) returns table (outcome text, revision bigint, "position" bigint, xid xid8)
language plpgsql
as $$
#variable_conflict use_column
declare
  v_revision bigint;
  v_hash text;
  v_created boolean := false;
  v_stored int;
  v_source_last bigint;
  v_at text;
  v_parent text;
  v_parent_revision bigint;
  v_hashes text[];
  v_position bigint;
  v_count int := cardinality(p_ids);
  v_exact boolean := p_expected not in ('any', 'no_stream', 'exists');
begin
  select s.revision, s.hash into v_revision, v_hash from streams s where s.stream = p_stream for update;
  if not found then
    if p_expected = 'exists' or (v_exact and p_expected::bigint >= 0) then
      return query select 'wrong_expected'::text, null::bigint, null::bigint, null::xid8;
      return;
    end if;
    v_revision := -1;
    v_hash := '';
    if p_fork_stream is not null then
      select s.revision, s.hash into v_source_last, v_hash from streams s where s.stream = p_fork_stream;
      if v_source_last is null or p_fork_revision < 0 or p_fork_revision > v_source_last then
        return query select 'fork_out_of_range'::text, coalesce(v_source_last, -1), null::bigint, null::xid8;
        return;
      end if;
      if p_fork_revision < v_source_last then
        -- The event at the cut is stored in the source or in the ancestor it inherits it from.
        v_at := p_fork_stream;
        loop
          select s.fork_of_stream, s.fork_of_revision into v_parent, v_parent_revision from streams s where s.stream = v_at;
          exit when v_parent is null or p_fork_revision > v_parent_revision;
          v_at := v_parent;
        end loop;
        select e.hash into v_hash from events e where e.stream = v_at and e.revision = p_fork_revision;
      end if;
      v_revision := p_fork_revision;
    end if;
    insert into streams (stream, revision, fork_of_stream, fork_of_revision, hash)
    values (p_stream, v_revision, p_fork_stream, p_fork_revision, v_hash)
    on conflict (stream) do nothing;
    if found then
      v_created := true;
    else
      -- Another append created the stream and has committed: decide against what it stored.
      select s.revision, s.hash into v_revision, v_hash from streams s where s.stream = p_stream for update;
    end if;
  end if;

  if not v_created then
    -- One index probe per id (a lateral subquery with a limit cannot be hash-joined): with
    -- `e.id = any (p_ids)` the cached plan scanned every event of the stream.
    select count(*) into v_stored from unnest(p_ids) as x(id)
    cross join lateral (select 1 from events e where e.stream = p_stream and e.id = x.id limit 1) hit;
    if v_stored = v_count then
      return query
        select 'stored'::text, e.revision, e.position, e.xid from unnest(p_ids) as x(id)
        cross join lateral (select * from events e where e.stream = p_stream and e.id = x.id limit 1) e
        order by e.revision desc limit 1;
      return;
    end if;
    if v_stored > 0 or p_fork_stream is not null or p_expected = 'no_stream'
      or (v_exact and p_expected::bigint <> v_revision) then
      return query select 'wrong_expected'::text, v_revision, null::bigint, null::xid8;
      return;
    end if;
  end if;

  v_hashes := array_fill(null::text, array[v_count]);
  for i in 1 .. v_count loop
    v_hash := encode(sha256(convert_to(
      v_hash || '{"data":' || p_data[i] || ',"id":"' || p_ids[i]::text || '","metadata":' || p_metadata[i]
        || ',"revision":"' || (v_revision + i)::text || '",' || p_tails[i],
      'UTF8')), 'hex');
    v_hashes[i] := v_hash;
  end loop;

  if v_count = 1 then
    -- The common case, without the unnest, sort and aggregate a batch needs.
    insert into events (stream, revision, id, type, data, metadata, hash)
    values (p_stream, v_revision + 1, p_ids[1], p_types[1], p_data[1]::jsonb, p_metadata[1]::jsonb, v_hash)
    returning events.position into v_position;
  else
    with inserted as (
      insert into events (stream, revision, id, type, data, metadata, hash)
      select p_stream, v_revision + t.n, t.id, t.type, t.data::jsonb, t.metadata::jsonb, t.hash
      from unnest(p_ids, p_types, p_data, p_metadata, v_hashes) with ordinality as t(id, type, data, metadata, hash, n)
      order by t.n
      returning events.position
    )
    select max(i.position) into v_position from inserted i;
  end if;
  update streams set revision = v_revision + v_count, hash = v_hash where stream = p_stream;
  return query select 'appended'::text, v_revision + v_count, v_position, pg_current_xact_id();
end
$$;
