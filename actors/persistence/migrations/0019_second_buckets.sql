-- Edge minutes that cost a second of rows, not half a minute (issue 17;
-- docs/counts.md, "What each count touches").
--
-- A range's partial edge minute was counted from its raw rows, over the
-- shorter side of the minute: up to 30 s of pings. At 1,200 pings/s that
-- is 36,000 index entries per edge, 4-12 ms of PostgreSQL per range: the
-- work followed the ping rate, not the range. Now:
--
-- 1. ping_seconds holds, per Kafka partition, the number of pings per
--    second of event time, for the dense minutes only: a minute whose
--    bucket (grain 1) passes ping_seconds_from() pings (600: 10 a second)
--    gets its seconds counted once from its raw rows (fill_ping_seconds()),
--    and from then on every ping of that minute is added to its second in
--    the same transaction as its row, like its buckets; the bucket's
--    `seconds` flag says so. A sparse minute has no seconds (reading its
--    raw rows is cheap: at most 600 a partition), so ping_seconds costs
--    nothing at low rates and at most one row per 10 pings otherwise.
-- 2. The shared read (read_counts) reads an edge's whole seconds from
--    ping_seconds when its minute has them, and only the partial seconds
--    at either end from the raw rows: under two seconds of pings per edge.
-- 3. store_pings() of 0018 (same signature) and roll_up_pings() (the
--    trigger of 0003 for other INSERTs) keep the seconds: each bucket
--    upsert returns the minute's flag and count, in the statement that
--    adds the batch's seconds to the flagged minutes (data-modifying CTEs:
--    no statement more per commit than 0018 has), and a minute that just
--    passed the threshold is filled.
-- 4. A minute whose raw rows retention dropped in part is never filled
--    (its rows no longer add up to its bucket), so its seconds are always
--    complete when flagged. The minutes already stored are filled here,
--    with writers held off (SHARE on outbox_head: every store updates it).

CREATE TABLE ping_seconds (
  kafka_partition smallint NOT NULL,
  second          bigint   NOT NULL, -- epoch second (floor) of pinged_at
  n               bigint   NOT NULL,
  PRIMARY KEY (kafka_partition, second)
);
-- Whether a minute is dense in any partition, with one probe per edge
-- (read_counts): a sparse edge then costs what it did before 0019.
CREATE INDEX ping_seconds_second_idx ON ping_seconds (second);

-- On a minute's bucket (grain 1): every ping of the minute is counted in
-- ping_seconds too.
ALTER TABLE ping_buckets ADD COLUMN seconds boolean NOT NULL DEFAULT false;

-- Pings of one partition in one minute above which the minute's seconds
-- are kept.
CREATE FUNCTION ping_seconds_from() RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN 600;

-- Counts the seconds of minute `minute` of partition `part` from its raw
-- rows and flags its bucket, when its rows are all kept (their count is
-- the bucket's); otherwise does nothing. Once per minute: called when the
-- minute's bucket passes ping_seconds_from() unflagged. The epoch second
-- is computed in float8 (date_part), exact for the reason 0003 gives for
-- minutes (whole milliseconds; float spacing under 0.04 ms).
CREATE FUNCTION fill_ping_seconds(part smallint, minute bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  kept bigint;
  counted bigint;
BEGIN
  SELECT b.n INTO counted FROM ping_buckets b
    WHERE b.kafka_partition = part AND b.grain = 1 AND b.first_minute = minute;
  SELECT count(*) INTO kept FROM pings p
    WHERE p.kafka_partition = part AND p.pinged_at >= ms_to_timestamptz(minute * 60000)
      AND p.pinged_at < ms_to_timestamptz(minute * 60000 + 60000);
  IF kept IS DISTINCT FROM counted THEN
    RETURN; -- retention dropped some of them: the minute stays without seconds
  END IF;
  INSERT INTO ping_seconds AS s (kafka_partition, second, n)
  SELECT part, floor(date_part('epoch', p.pinged_at))::int8, count(*) FROM pings p
    WHERE p.kafka_partition = part AND p.pinged_at >= ms_to_timestamptz(minute * 60000)
      AND p.pinged_at < ms_to_timestamptz(minute * 60000 + 60000)
    GROUP BY 2
  ON CONFLICT (kafka_partition, second) DO UPDATE SET n = excluded.n;
  UPDATE ping_buckets b SET seconds = true
    WHERE b.kafka_partition = part AND b.grain = 1 AND b.first_minute = minute;
END
$$;

CREATE OR REPLACE FUNCTION roll_up_pings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  fill_parts smallint[];
  fill_minutes bigint[];
BEGIN
  WITH m AS (
      SELECT kafka_partition AS part, floor(date_part('epoch', pinged_at) / 60)::int8 AS minute,
             count(*) AS n
      FROM new_pings GROUP BY 1, 2),
    mb AS (
      INSERT INTO ping_buckets AS b (kafka_partition, grain, first_minute, n)
      SELECT m.part, g.grain, bucket_of(m.minute, g.grain), sum(m.n)
      FROM m CROSS JOIN (VALUES (1), (60), (1440)) AS g(grain)
      GROUP BY 1, 2, 3
      ORDER BY 1, 2, 3
      ON CONFLICT (kafka_partition, grain, first_minute) DO UPDATE SET n = b.n + excluded.n
      RETURNING b.kafka_partition, b.grain, b.first_minute, b.n, b.seconds),
    s AS (
      INSERT INTO ping_seconds AS s (kafka_partition, second, n)
      SELECT p.kafka_partition, floor(date_part('epoch', p.pinged_at))::int8, count(*)
      FROM new_pings p
      JOIN mb ON mb.grain = 1 AND mb.seconds AND mb.kafka_partition = p.kafka_partition
             AND mb.first_minute = floor(date_part('epoch', p.pinged_at) / 60)::int8
      GROUP BY 1, 2
      ORDER BY 1, 2
      ON CONFLICT (kafka_partition, second) DO UPDATE SET n = s.n + excluded.n)
  SELECT array_agg(mb.kafka_partition), array_agg(mb.first_minute) INTO fill_parts, fill_minutes
  FROM mb WHERE mb.grain = 1 AND NOT mb.seconds AND mb.n > ping_seconds_from();
  FOR i IN 1 .. coalesce(cardinality(fill_parts), 0) LOOP
    PERFORM fill_ping_seconds(fill_parts[i], fill_minutes[i]);
  END LOOP;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION store_pings(ids uuid[], pinged_ms bigint[], received_ms bigint[],
                                       parts smallint[], traces uuid[])
RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  base bigint[];
  part smallint := parts[1];
  cnt bigint := coalesce(cardinality(parts), 0);
  first bigint;
  ends bigint;
  span bigint;
  flag text;
  lo bigint;
  minute bigint;
  sec bigint;
  in_minute bigint;
  has_seconds boolean;
  fill_parts smallint[];
  fill_minutes bigint[];
BEGIN
  IF coalesce(cardinality(ids), 0) <> cnt OR coalesce(cardinality(pinged_ms), 0) <> cnt
     OR coalesce(cardinality(received_ms), 0) <> cnt THEN
    RAISE EXCEPTION 'store_pings: % ids, % pinged_ms and % received_ms for % parts',
      cardinality(ids), cardinality(pinged_ms), cardinality(received_ms), cardinality(parts)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF cnt > 0 AND part = ALL (parts) THEN
    -- One partition: the writers' batches.
    UPDATE outbox_head h SET next_seq = h.next_seq + cnt FROM pings_layout l
      WHERE h.kafka_partition = part
      RETURNING h.next_seq - cnt, h.ranges_end, l.range_rows INTO STRICT first, ends, span;
    base[part + 1] := first;
    IF first + cnt - 1 + span >= ends THEN
      PERFORM ensure_pings_ranges(part, first + cnt - 1);
    END IF;
    flag := set_config('ping.rolled_up', 'on', true);
    INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq, trace_id)
    SELECT t.id, ms_to_timestamptz(t.pm), ms_to_timestamptz(t.rm), part, first + t.ord - 1,
           t.trace
    FROM unnest(ids, pinged_ms, received_ms, traces) WITH ORDINALITY AS t(id, pm, rm, trace, ord);
    flag := set_config('ping.rolled_up', 'off', true);
    lo := pinged_ms[1] - ((pinged_ms[1] % 1000) + 1000) % 1000;
    IF lo <= ALL (pinged_ms) AND lo + 1000 > ALL (pinged_ms) THEN
      -- All cnt pings in one second: its minute's three buckets, cnt each,
      -- and its second when the minute keeps seconds, in one statement.
      sec := lo / 1000;
      minute := (lo - ((lo % 60000) + 60000) % 60000) / 60000;
      WITH mb AS (
        INSERT INTO ping_buckets AS b (kafka_partition, grain, first_minute, n)
        VALUES (part, 1, minute, cnt),
               (part, 60, minute - ((minute % 60) + 60) % 60, cnt),
               (part, 1440, minute - ((minute % 1440) + 1440) % 1440, cnt)
        ON CONFLICT (kafka_partition, grain, first_minute) DO UPDATE SET n = b.n + excluded.n
        RETURNING b.grain, b.n, b.seconds),
      s AS (
        INSERT INTO ping_seconds AS s (kafka_partition, second, n)
        SELECT part, sec, cnt FROM mb WHERE mb.grain = 1 AND mb.seconds
        ON CONFLICT (kafka_partition, second) DO UPDATE SET n = s.n + excluded.n)
      SELECT mb.n, mb.seconds INTO in_minute, has_seconds FROM mb WHERE mb.grain = 1;
      IF NOT has_seconds AND in_minute > ping_seconds_from() THEN
        PERFORM fill_ping_seconds(part, minute);
      END IF;
      RETURN base;
    END IF;
  ELSE
    SELECT range_rows INTO STRICT span FROM pings_layout;
    FOR part, cnt IN
      SELECT u.part, count(*) FROM unnest(parts) AS u(part) GROUP BY u.part ORDER BY u.part
    LOOP
      UPDATE outbox_head SET next_seq = next_seq + cnt WHERE kafka_partition = part
        RETURNING next_seq - cnt, ranges_end INTO STRICT first, ends;
      base[part + 1] := first;
      IF first + cnt - 1 + span >= ends THEN
        PERFORM ensure_pings_ranges(part, first + cnt - 1);
      END IF;
    END LOOP;
    flag := set_config('ping.rolled_up', 'on', true);
    INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq, trace_id)
    SELECT t.id, ms_to_timestamptz(t.pm), ms_to_timestamptz(t.rm), t.part,
           base[t.part + 1] + row_number() OVER (PARTITION BY t.part ORDER BY t.ord) - 1,
           t.trace
    FROM unnest(ids, pinged_ms, received_ms, parts, traces)
         WITH ORDINALITY AS t(id, pm, rm, part, trace, ord);
    flag := set_config('ping.rolled_up', 'off', true);
  END IF;
  -- The batch's pings per (partition, minute), then per grain (0014); per
  -- second in the minutes that keep seconds; then the minutes that just
  -- passed the threshold are filled.
  WITH u AS (
      SELECT u.part, (u.pm - ((u.pm % 60000) + 60000) % 60000) / 60000 AS minute,
             (u.pm - ((u.pm % 1000) + 1000) % 1000) / 1000 AS second
      FROM unnest(parts, pinged_ms) AS u(part, pm)),
    m AS (SELECT u.part, u.minute, count(*) AS n FROM u GROUP BY 1, 2),
    mb AS (
      INSERT INTO ping_buckets AS b (kafka_partition, grain, first_minute, n)
      SELECT m.part, g.grain, m.minute - ((m.minute % g.grain) + g.grain) % g.grain, sum(m.n)
      FROM m CROSS JOIN (VALUES (1), (60), (1440)) AS g(grain)
      GROUP BY 1, 2, 3
      ORDER BY 1, 2, 3
      ON CONFLICT (kafka_partition, grain, first_minute) DO UPDATE SET n = b.n + excluded.n
      RETURNING b.kafka_partition, b.grain, b.first_minute, b.n, b.seconds),
    s AS (
      INSERT INTO ping_seconds AS s (kafka_partition, second, n)
      SELECT u.part, u.second, count(*) FROM u
      JOIN mb ON mb.grain = 1 AND mb.seconds AND mb.kafka_partition = u.part
             AND mb.first_minute = u.minute
      GROUP BY 1, 2
      ORDER BY 1, 2
      ON CONFLICT (kafka_partition, second) DO UPDATE SET n = s.n + excluded.n)
  SELECT array_agg(mb.kafka_partition), array_agg(mb.first_minute) INTO fill_parts, fill_minutes
  FROM mb WHERE mb.grain = 1 AND NOT mb.seconds AND mb.n > ping_seconds_from();
  FOR i IN 1 .. coalesce(cardinality(fill_parts), 0) LOOP
    PERFORM fill_ping_seconds(fill_parts[i], fill_minutes[i]);
  END LOOP;
  RETURN base;
END
$$;

-- The dense minutes already stored whose rows are all kept.
LOCK TABLE outbox_head IN SHARE MODE;

CREATE TEMPORARY TABLE dense_minutes ON COMMIT DROP AS
SELECT m.part, m.minute FROM (
  SELECT kafka_partition AS part, floor(date_part('epoch', pinged_at) / 60)::int8 AS minute,
         count(*) AS n
  FROM pings GROUP BY 1, 2) m
JOIN ping_buckets b ON b.kafka_partition = m.part AND b.grain = 1 AND b.first_minute = m.minute
WHERE b.n = m.n AND m.n > ping_seconds_from();

INSERT INTO ping_seconds (kafka_partition, second, n)
SELECT p.kafka_partition, floor(date_part('epoch', p.pinged_at))::int8, count(*)
FROM pings p JOIN dense_minutes d
  ON d.part = p.kafka_partition AND d.minute = floor(date_part('epoch', p.pinged_at) / 60)::int8
GROUP BY 1, 2;

UPDATE ping_buckets b SET seconds = true FROM dense_minutes d
WHERE b.kafka_partition = d.part AND b.grain = 1 AND b.first_minute = d.minute;
