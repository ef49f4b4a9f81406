-- Idempotency keys (issue 19 item 13): a client that retries a Ping after
-- an unknown outcome sends the same key, and the ping is stored once.
--
-- A key is claimed in the transaction that stores its ping, so a key row
-- exists exactly when its ping was committed. A retry whose key is held by
-- an unexpired row stores nothing (it answers as the first did); a retry
-- racing the first attempt waits on the key row's lock and then sees it.
-- Keys expire at `expires_at` (the gateway's idempotency TTL, 24 h by
-- default): an expired key is claimed anew, and expired rows are pruned a
-- few at a time by the writes that claim keys (index range on expires_at).
CREATE TABLE ping_keys (
  key        text        PRIMARY KEY,
  ping_id    uuid        NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX ping_keys_expires_at ON ping_keys (expires_at);

-- insert_pings() for a batch where some pings carry a key ('' = none) and a
-- time to keep it (ms). Each key is claimed once, by the batch's first ping
-- with it, unless an unexpired row holds it; the pings without a key and
-- those that claimed theirs are stored with insert_pings(). Keys are taken
-- in key order, then insert_pings() locks partitions in partition order:
-- concurrent writers cannot deadlock. Prunes up to twice as many expired
-- keys as it claims (SKIP LOCKED: never waits for another writer). Returns
-- the number of pings stored.
CREATE FUNCTION insert_keyed_pings(ids uuid[], pinged_ms bigint[], received_ms bigint[],
                                   parts smallint[], keys text[], keep_ms bigint[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  claimed uuid[];
  n_keys bigint;
  s_ids uuid[];
  s_pinged bigint[];
  s_received bigint[];
  s_parts smallint[];
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
         array_agg(t.rm ORDER BY t.ord), array_agg(t.part ORDER BY t.ord)
    INTO s_ids, s_pinged, s_received, s_parts
  FROM unnest(ids, pinged_ms, received_ms, parts, keys)
       WITH ORDINALITY AS t(id, pm, rm, part, key, ord)
  WHERE t.key = '' OR t.id = ANY (coalesce(claimed, '{}'::uuid[]));
  IF s_ids IS NULL THEN
    RETURN 0;
  END IF;
  RETURN insert_pings(s_ids, s_pinged, s_received, s_parts);
END
$$;
