-- Trace ids (issue 20): the W3C trace id a client sent with its Ping
-- (traceparent), kept with the row so the relay can put it in the Kafka
-- event's headers. NULL when the trace started at the gateway: the gateway
-- then uses the trace id as the ping's id (a UUIDv7), and the relay sends
-- coalesce(trace_id, id). So only pings that arrive with a traceparent pay
-- for the column: 16 bytes (uuid, fixed length, no alignment padding);
-- a NULL costs no byte (the null bitmap of the row's 6 columns fits in the
-- tuple header's padding).
--
-- ensure_pings_ranges() creates new ranges LIKE pings, so they get the
-- column too; existing ones get it from ALTER on the parent (no rewrite:
-- a nullable column without a default is a catalogue change).
ALTER TABLE pings ADD COLUMN trace_id uuid;

-- insert_pings() of 0003 with the pings' trace ids (NULL elements: none).
-- The writer calls it only for a batch where some ping carries one; other
-- batches keep the 4-argument insert_pings(). Keep the two bodies alike.
CREATE FUNCTION insert_pings(ids uuid[], pinged_ms bigint[], received_ms bigint[],
                             parts smallint[], traces uuid[])
RETURNS bigint LANGUAGE plpgsql AS $$
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
  RETURN cardinality(ids);
END
$$;

-- insert_keyed_pings() of 0010 with the pings' trace ids.
CREATE FUNCTION insert_keyed_pings(ids uuid[], pinged_ms bigint[], received_ms bigint[],
                                   parts smallint[], keys text[], keep_ms bigint[],
                                   traces uuid[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  claimed uuid[];
  n_keys bigint;
  s_ids uuid[];
  s_pinged bigint[];
  s_received bigint[];
  s_parts smallint[];
  s_traces uuid[];
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
  IF s_ids IS NULL THEN
    RETURN 0;
  END IF;
  RETURN insert_pings(s_ids, s_pinged, s_received, s_parts, s_traces);
END
$$;
