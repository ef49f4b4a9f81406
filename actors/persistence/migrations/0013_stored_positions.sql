-- The writer learns the outbox positions its batch got (issue 18; the relay's
-- fast path, docs/outbox-relay.md): after its commit, the writer hands the
-- committed pings with their positions to the gateway's relay, which then
-- produces them from memory instead of reading them back from `pings`.
--
-- store_pings() is 0011's 5-argument insert_pings(), returning the first
-- position each partition gave the batch instead of the number stored:
-- firsts[p + 1] for partition p, NULL for a partition not in the batch (the
-- array's lower bound is that of the lowest partition in the batch, so its
-- text may read "[2:3]={41,17}"). Positions within a partition follow the
-- batch order, so the k-th ping of partition p (from 0) got firsts[p + 1] +
-- k. `traces` may be empty: unnest() pads it with NULLs (no trace ids).
--
-- store_keyed_pings() is 0011's insert_keyed_pings() (7 arguments),
-- returning each ping's position in the batch's order, NULL for a ping not
-- stored (its key was held).
--
-- The old functions stay, for gateways of the previous release during a
-- rollout (they call them by name): they are now thin wrappers of the new
-- ones, so there is one body to keep, and they return what they returned.
-- Both kinds of gateway assign positions the same way under the same locks.

CREATE FUNCTION store_pings(ids uuid[], pinged_ms bigint[], received_ms bigint[],
                            parts smallint[], traces uuid[])
RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  base bigint[];
  part smallint;
  n bigint;
  first bigint;
  ends bigint;
  span bigint;
BEGIN
  SELECT range_rows INTO STRICT span FROM pings_layout;
  FOR part, n IN
    SELECT u.part, count(*) FROM unnest(parts) AS u(part) GROUP BY u.part ORDER BY u.part
  LOOP
    UPDATE outbox_head SET next_seq = next_seq + n WHERE kafka_partition = part
      RETURNING next_seq - n, ranges_end INTO STRICT first, ends;
    base[part + 1] := first;
    IF first + n - 1 + span >= ends THEN
      PERFORM ensure_pings_ranges(part, first + n - 1);
    END IF;
  END LOOP;
  INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq, trace_id)
  SELECT t.id, ms_to_timestamptz(t.pm), ms_to_timestamptz(t.rm), t.part,
         base[t.part + 1] + row_number() OVER (PARTITION BY t.part ORDER BY t.ord) - 1,
         t.trace
  FROM unnest(ids, pinged_ms, received_ms, parts, traces)
       WITH ORDINALITY AS t(id, pm, rm, part, trace, ord);
  RETURN base;
END
$$;

CREATE FUNCTION store_keyed_pings(ids uuid[], pinged_ms bigint[], received_ms bigint[],
                                  parts smallint[], keys text[], keep_ms bigint[],
                                  traces uuid[])
RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  claimed uuid[];
  n_keys bigint;
  s_ids uuid[];
  s_pinged bigint[];
  s_received bigint[];
  s_parts smallint[];
  s_traces uuid[];
  firsts bigint[];
  positions bigint[];
BEGIN
  SELECT count(DISTINCT k) INTO n_keys FROM unnest(keys) AS u(k) WHERE k <> '';
  DELETE FROM ping_keys WHERE key IN (
    SELECT key FROM ping_keys WHERE expires_at < now()
    ORDER BY expires_at LIMIT 2 * n_keys FOR UPDATE SKIP LOCKED);
  WITH c AS (
    INSERT INTO ping_keys AS pk (key, ping_id, expires_at)
    SELECT DISTINCT ON (t.key) t.key, t.id, now() + t.keep * interval '1 millisecond'
    FROM unnest(keys, ids, keep_ms) WITH ORDINALITY AS t(key, id, keep, ord)
    WHERE t.key <> ''
    ORDER BY t.key, t.ord
    ON CONFLICT (key) DO UPDATE SET ping_id = EXCLUDED.ping_id, expires_at = EXCLUDED.expires_at
      WHERE pk.expires_at < now()
    RETURNING pk.ping_id)
  SELECT array_agg(c.ping_id) INTO claimed FROM c;
  SELECT array_agg(t.id ORDER BY t.ord), array_agg(t.pm ORDER BY t.ord),
         array_agg(t.rm ORDER BY t.ord), array_agg(t.part ORDER BY t.ord),
         array_agg(t.trace ORDER BY t.ord)
    INTO s_ids, s_pinged, s_received, s_parts, s_traces
  FROM unnest(ids, pinged_ms, received_ms, parts, keys, traces)
       WITH ORDINALITY AS t(id, pm, rm, part, key, trace, ord)
  WHERE t.key = '' OR t.id = ANY (coalesce(claimed, '{}'::uuid[]));
  IF s_ids IS NOT NULL THEN
    firsts := store_pings(s_ids, s_pinged, s_received, s_parts, s_traces);
  END IF;
  -- The stored pings, by the same test as above, numbered per partition in
  -- the batch's order as store_pings() numbered them.
  SELECT array_agg(CASE WHEN s.stored THEN firsts[s.part + 1] + s.k - 1 END ORDER BY s.ord)
    INTO positions
  FROM (SELECT t.ord, t.part, t.stored,
               count(*) FILTER (WHERE t.stored) OVER (PARTITION BY t.part ORDER BY t.ord) AS k
        FROM (SELECT u.ord, u.part,
                     u.key = '' OR u.id = ANY (coalesce(claimed, '{}'::uuid[])) AS stored
              FROM unnest(parts, keys, ids) WITH ORDINALITY AS u(part, key, id, ord)) t) s;
  RETURN positions;
END
$$;

-- The previous release's entry points, now wrappers.
CREATE OR REPLACE FUNCTION insert_pings(ids uuid[], pinged_ms bigint[], received_ms bigint[],
                                        parts smallint[])
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  PERFORM store_pings(ids, pinged_ms, received_ms, parts, '{}'::uuid[]);
  RETURN cardinality(ids);
END
$$;

CREATE OR REPLACE FUNCTION insert_pings(ids uuid[], pinged_ms bigint[], received_ms bigint[],
                                        parts smallint[], traces uuid[])
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  PERFORM store_pings(ids, pinged_ms, received_ms, parts, traces);
  RETURN cardinality(ids);
END
$$;

CREATE OR REPLACE FUNCTION insert_keyed_pings(ids uuid[], pinged_ms bigint[],
                                              received_ms bigint[], parts smallint[],
                                              keys text[], keep_ms bigint[])
RETURNS bigint LANGUAGE sql AS $$
  SELECT count(x)
  FROM unnest(store_keyed_pings(ids, pinged_ms, received_ms, parts, keys, keep_ms,
                                '{}'::uuid[])) AS x
$$;

CREATE OR REPLACE FUNCTION insert_keyed_pings(ids uuid[], pinged_ms bigint[],
                                              received_ms bigint[], parts smallint[],
                                              keys text[], keep_ms bigint[], traces uuid[])
RETURNS bigint LANGUAGE sql AS $$
  SELECT count(x)
  FROM unnest(store_keyed_pings(ids, pinged_ms, received_ms, parts, keys, keep_ms, traces)) AS x
$$;
