-- History that costs nothing to count (docs/counts.md, "What each count
-- touches").
--
-- 1. Rollups: ping_buckets holds, per Kafka partition, the number of pings
--    per minute, hour and day of event time. A statement trigger adds every
--    inserted ping in the inserting transaction (insert_pings() holds the
--    partition's outbox_head row until commit), so at every committed head
--    the buckets count exactly the pings at or below it. Every invariant is
--    per Kafka partition: a partition's rows, buckets, head and ranges can
--    move to another cluster together.
-- 2. pings is partitioned by arrival: LIST (kafka_partition), then RANGE
--    (relay_seq), in ranges of pings_layout.range_rows sequences that
--    insert_pings() attaches ahead of the head. Retention drops whole ranges
--    (drop_old_pings()); the buckets keep counting what they held.
-- 3. The existing table is converted (its rows copied into the new one,
--    which derives the buckets through the trigger).

-- Epoch minute of epoch milliseconds (floor division, exact).
CREATE FUNCTION ms_to_minute(ms bigint) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN div(ms, 60000) - (ms < 0 AND mod(ms, 60000) <> 0)::int;

-- First minute of the `grain`-minute bucket holding `minute` (floor).
CREATE FUNCTION bucket_of(minute bigint, grain integer) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN minute - mod(mod(minute, grain) + grain, grain);

CREATE TABLE ping_buckets (
  kafka_partition smallint NOT NULL,
  grain           integer  NOT NULL CHECK (grain IN (1, 60, 1440)), -- minutes per bucket
  first_minute    bigint   NOT NULL, -- epoch minute the bucket starts at (a multiple of grain)
  n               bigint   NOT NULL,
  PRIMARY KEY (kafka_partition, grain, first_minute)
);

-- How many relay sequences one raw range holds (one table per Kafka
-- partition and range). Retention drops whole ranges.
CREATE TABLE pings_layout (
  one        boolean PRIMARY KEY DEFAULT true CHECK (one),
  range_rows bigint  NOT NULL DEFAULT 4194304 CHECK (range_rows >= 1000)
);
INSERT INTO pings_layout DEFAULT VALUES;

-- Every raw range: Kafka partition, relay_seq in [lo, hi).
CREATE TABLE pings_ranges (
  kafka_partition smallint NOT NULL,
  lo              bigint   NOT NULL,
  hi              bigint   NOT NULL,
  PRIMARY KEY (kafka_partition, lo)
);

-- Per partition: where the ranges end (exclusive), and the lowest relay_seq
-- whose raw row is still kept (rows below it were dropped by retention;
-- their counts stay in ping_buckets).
ALTER TABLE outbox_head ADD COLUMN ranges_end bigint NOT NULL DEFAULT 1;
ALTER TABLE outbox_head ADD COLUMN raw_from bigint NOT NULL DEFAULT 1;

ALTER TABLE pings RENAME TO pings_unpartitioned;
ALTER INDEX pings_pkey RENAME TO pings_unpartitioned_pkey;
ALTER INDEX pings_pinged_at_idx RENAME TO pings_unpartitioned_pinged_at_idx;
ALTER INDEX pings_outbox_log_idx RENAME TO pings_unpartitioned_outbox_log_idx;

-- The id is a UUIDv7 made by the gateway; with the table partitioned by
-- position it is no longer a key (a unique index must hold the partition key).
CREATE TABLE pings (
  id              uuid        NOT NULL,
  pinged_at       timestamptz NOT NULL,
  received_at     timestamptz NOT NULL,
  kafka_partition smallint    NOT NULL,
  relay_seq       bigint      NOT NULL,
  PRIMARY KEY (kafka_partition, relay_seq)
) PARTITION BY LIST (kafka_partition);

CREATE INDEX pings_pinged_at_idx ON pings (pinged_at);

-- The inserted rows per (partition, minute) first, then per grain. The
-- minute is computed in float8 (date_part), which is exact here: a
-- timestamp holds whole milliseconds, the float spacing of an epoch below
-- year 10000 is under 0.04 ms, and a whole minute is exact (checked against
-- ms_to_minute() at every minute boundary +-1 ms up to year 9999); the
-- numeric extract() of timestamptz_to_ms() made the trigger cost 14 us
-- per ping.
CREATE FUNCTION roll_up_pings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ping_buckets AS b (kafka_partition, grain, first_minute, n)
  SELECT m.kafka_partition, g.grain, bucket_of(m.minute, g.grain), sum(m.n)
  FROM (SELECT kafka_partition, floor(date_part('epoch', pinged_at) / 60)::int8 AS minute,
               count(*) AS n
        FROM new_pings GROUP BY 1, 2) m
  CROSS JOIN (VALUES (1), (60), (1440)) AS g(grain)
  GROUP BY 1, 2, 3
  ORDER BY 1, 2, 3
  ON CONFLICT (kafka_partition, grain, first_minute) DO UPDATE SET n = b.n + excluded.n;
  RETURN NULL;
END
$$;

CREATE TRIGGER pings_roll_up AFTER INSERT ON pings
  REFERENCING NEW TABLE AS new_pings FOR EACH STATEMENT EXECUTE FUNCTION roll_up_pings();

-- Makes sure partition `part` has its list partition and raw ranges
-- covering relay sequences up to at least `upto` + range_rows (one empty
-- range ahead). Called by insert_pings() while it holds the partition's
-- head row, so two writers never add the same range. A range is created
-- apart and then attached: ATTACH takes SHARE UPDATE EXCLUSIVE on the
-- parent, which blocks neither reads nor inserts.
CREATE FUNCTION ensure_pings_ranges(part smallint, upto bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  span bigint;
  lo bigint;
  parent text := format('pings_p%s', part);
  leaf text;
BEGIN
  SELECT range_rows INTO STRICT span FROM pings_layout;
  SELECT ranges_end INTO STRICT lo FROM outbox_head WHERE kafka_partition = part;
  IF lo > upto + span THEN
    RETURN;
  END IF;
  IF to_regclass(parent) IS NULL THEN
    EXECUTE format('CREATE TABLE %I PARTITION OF pings FOR VALUES IN (%s) '
                   'PARTITION BY RANGE (relay_seq)', parent, part);
  END IF;
  WHILE lo <= upto + span LOOP
    leaf := format('pings_p%s_%s', part, lo);
    EXECUTE format('CREATE TABLE %I (LIKE pings INCLUDING DEFAULTS)', leaf);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',
                   parent, leaf, lo, lo + span);
    INSERT INTO pings_ranges VALUES (part, lo, lo + span);
    lo := lo + span;
  END LOOP;
  UPDATE outbox_head SET ranges_end = lo WHERE kafka_partition = part;
END
$$;

-- insert_pings() of 0002, plus the ranges ahead of each partition's head.
CREATE OR REPLACE FUNCTION insert_pings(ids uuid[], pinged_ms bigint[], received_ms bigint[],
                                        parts smallint[])
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
  INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq)
  SELECT t.id, ms_to_timestamptz(t.pm), ms_to_timestamptz(t.rm), t.part,
         base[t.part + 1] + row_number() OVER (PARTITION BY t.part ORDER BY t.ord) - 1
  FROM unnest(ids, pinged_ms, received_ms, parts) WITH ORDINALITY AS t(id, pm, rm, part, ord);
  RETURN cardinality(ids);
END
$$;

-- Adds the outbox rows and raw ranges of partitions 0..count-1 (the
-- writers call it on every fresh connection).
CREATE FUNCTION add_kafka_partitions(count integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  part smallint;
  head bigint;
BEGIN
  INSERT INTO outbox_head (kafka_partition) SELECT generate_series(0, count - 1)
    ON CONFLICT DO NOTHING;
  INSERT INTO outbox_cursor (kafka_partition) SELECT generate_series(0, count - 1)
    ON CONFLICT DO NOTHING;
  FOR part, head IN
    SELECT kafka_partition, next_seq - 1 FROM outbox_head ORDER BY kafka_partition
  LOOP
    PERFORM 1 FROM outbox_head WHERE kafka_partition = part FOR UPDATE;
    PERFORM ensure_pings_ranges(part, head);
  END LOOP;
END
$$;

-- Retention: drops the oldest raw ranges whose every sequence is relayed
-- (at or below the partition's cursor) and whose last ping arrived before
-- `before`, lowest first, so each partition keeps its raw rows exactly from
-- outbox_head.raw_from on. Counts are unchanged: ping_buckets and the heads
-- hold them. Returns the number of ranges dropped.
CREATE FUNCTION drop_old_pings(before timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  last_arrival timestamptz;
  dropped integer := 0;
BEGIN
  FOR r IN
    SELECT g.kafka_partition, g.lo, g.hi, c.acked_seq, h.next_seq
    FROM pings_ranges g
    JOIN outbox_cursor c USING (kafka_partition)
    JOIN outbox_head h USING (kafka_partition)
    WHERE g.hi - 1 <= c.acked_seq
    ORDER BY g.kafka_partition, g.lo
  LOOP
    SELECT received_at INTO last_arrival FROM pings
      WHERE kafka_partition = r.kafka_partition AND relay_seq = r.hi - 1;
    CONTINUE WHEN last_arrival IS NULL OR last_arrival >= before;
    -- Only the lowest range of a partition goes (raw rows stay a suffix).
    CONTINUE WHEN EXISTS (SELECT 1 FROM pings_ranges g2
                          WHERE g2.kafka_partition = r.kafka_partition AND g2.lo < r.lo);
    PERFORM 1 FROM outbox_head WHERE kafka_partition = r.kafka_partition FOR UPDATE;
    EXECUTE format('DROP TABLE %I', format('pings_p%s_%s', r.kafka_partition, r.lo));
    DELETE FROM pings_ranges WHERE kafka_partition = r.kafka_partition AND lo = r.lo;
    UPDATE outbox_head SET raw_from = r.hi WHERE kafka_partition = r.kafka_partition;
    dropped := dropped + 1;
  END LOOP;
  RETURN dropped;
END
$$;

-- Conversion of the existing table: its partitions' ranges, then its rows
-- (the trigger derives their buckets).
SELECT add_kafka_partitions(coalesce((SELECT max(kafka_partition) + 1 FROM outbox_head), 0));
INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq)
  SELECT id, pinged_at, received_at, kafka_partition, relay_seq FROM pings_unpartitioned
  ORDER BY kafka_partition, relay_seq;
DROP TABLE pings_unpartitioned;
