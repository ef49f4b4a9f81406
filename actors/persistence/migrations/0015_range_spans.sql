-- The event-time span of each sealed raw range (docs/counts.md, "What each
-- count touches"), so that an edge minute is probed only in the raw ranges
-- that can hold its pings, not in every range of the partition.
--
-- Raw ranges are ranges of arrival (relay_seq), so a ping of any minute may
-- lie in any range: a late ping (an old pinged_at) arrives into the open,
-- newest range. Once a range is sealed (every sequence in [lo, hi) is
-- committed: no row can be added to it again), its first and last
-- pinged_at are fixed; they are recorded on its pings_ranges row. A range
-- whose span is not recorded (the open range, the ranges ahead, a range
-- not yet sealed) is always probed. So an edge probe reads every range
-- that holds a ping of the minute: exact, whatever the order of arrival.
--
-- Sealed: the row at hi - 1 exists. Writers of a partition are serialized by
-- its outbox_head row, held until commit, and its sequences are gapless
-- (taken from next_seq in the same transaction), so once the last
-- sequence's row is committed every sequence below it is committed too.
-- The span costs two index lookups on the leaf's pinged_at index, once per
-- range (4 M pings by default): ensure_pings_ranges() records it while it
-- attaches the next range, under the partition's head row; nothing is
-- added per commit. Retention drops a range with its pings_ranges row.

ALTER TABLE pings_ranges ADD COLUMN first_at timestamptz, ADD COLUMN last_at timestamptz;

-- Records the span of every sealed range of partition `part` that has none
-- yet. Returns how many it recorded.
CREATE FUNCTION seal_pings_ranges(part smallint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  f timestamptz;
  l timestamptz;
  sealed integer := 0;
BEGIN
  FOR r IN
    SELECT lo, hi FROM pings_ranges WHERE kafka_partition = part AND first_at IS NULL ORDER BY lo
  LOOP
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pings
                              WHERE kafka_partition = part AND relay_seq = r.hi - 1);
    EXECUTE format('SELECT min(pinged_at), max(pinged_at) FROM %I',
                   format('pings_p%s_%s', part, r.lo)) INTO f, l;
    UPDATE pings_ranges SET first_at = f, last_at = l WHERE kafka_partition = part AND lo = r.lo;
    sealed := sealed + 1;
  END LOOP;
  RETURN sealed;
END
$$;

-- ensure_pings_ranges() of 0003, which also records the spans of the
-- ranges sealed since it last attached one (the caller holds the
-- partition's head row; its own batch is not inserted yet, so its ranges
-- are not sealed here but at the next attach).
CREATE OR REPLACE FUNCTION ensure_pings_ranges(part smallint, upto bigint) RETURNS void
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
  PERFORM seal_pings_ranges(part);
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

-- The ranges sealed before this migration.
SELECT seal_pings_ranges(kafka_partition) FROM outbox_head;
