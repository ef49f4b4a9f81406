-- The outbox log's head and cursor per Kafka partition.

-- Next relay sequence. A write locks the rows of its partitions until it
-- commits, so sequence order is commit order on every partition.
CREATE TABLE outbox_head (
  kafka_partition smallint PRIMARY KEY,
  next_seq        bigint   NOT NULL DEFAULT 1
);

-- Highest relay sequence the broker acknowledged (everything at or below it
-- is in Kafka). Only the relay holding the partition's advisory lock
-- advances it.
CREATE TABLE outbox_cursor (
  kafka_partition smallint PRIMARY KEY,
  acked_seq       bigint   NOT NULL DEFAULT 0
);

-- Stores a batch of pings with the next outbox positions of their
-- partitions, in the caller's transaction. UPDATE ... RETURNING locks each
-- partition's head row until commit, so positions become visible in
-- increasing order on every partition (a relay reading positions above N
-- never misses a lower one committed later); partitions are locked in
-- ascending order, so concurrent writers cannot deadlock. Positions within
-- a partition follow the batch order. Returns the number of pings stored.
CREATE FUNCTION insert_pings(ids uuid[], pinged_ms bigint[], received_ms bigint[],
                             parts smallint[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  base bigint[];
  part smallint;
  n bigint;
  first bigint;
BEGIN
  FOR part, n IN
    SELECT u.part, count(*) FROM unnest(parts) AS u(part) GROUP BY u.part ORDER BY u.part
  LOOP
    UPDATE outbox_head SET next_seq = next_seq + n WHERE kafka_partition = part
      RETURNING next_seq - n INTO STRICT first;
    base[part + 1] := first;
  END LOOP;
  INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq)
  SELECT t.id, ms_to_timestamptz(t.pm), ms_to_timestamptz(t.rm), t.part,
         base[t.part + 1] + row_number() OVER (PARTITION BY t.part ORDER BY t.ord) - 1
  FROM unnest(ids, pinged_ms, received_ms, parts) WITH ORDINALITY AS t(id, pm, rm, part, ord);
  RETURN cardinality(ids);
END
$$;
