-- Edge minutes that cost a second of rows, not half a minute (issue 17;
-- docs/counts.md, "What each count touches").
--
-- A range's partial edge minute was counted from its raw rows, over the
-- shorter side of the minute: up to 30 s of pings. At 1,200 pings/s that
-- is 36,000 index entries per edge, 7-16 ms a range; the work followed the
-- ping rate, not the range. Now:
--
-- 1. ping_seconds holds, per Kafka partition, the number of pings per
--    second of event time, kept in the same transaction as the rows (by
--    store_pings() and by the statement trigger for any other INSERT), so
--    at every committed head it counts exactly the pings at or below it,
--    like ping_buckets. The shared read (read_counts) counts an edge's
--    whole seconds from it and only the partial seconds at its ends from
--    the raw rows: under a second of pings per edge end.
-- 2. store_pings() of 0018, same signature, also adds each batch to its
--    seconds: a batch within one second (a writer's batch, nearly always)
--    with its minute, hour and day in one statement (a writable CTE: one
--    executor start-up, as 0018's one INSERT); any other batch grouped per
--    second.
-- 3. roll_up_pings(), the trigger of 0003 for inserts not made by
--    store_pings(), adds the seconds too.
-- 4. The seconds of the rows already stored, counted once here. Writers
--    are held off meanwhile (SHARE on outbox_head: every store updates
--    it), so no row is counted twice or missed; rows that retention
--    dropped before cannot be counted, and read_counts never uses the
--    seconds of a partition that lost raw rows (raw_from > 1: it reads
--    whole minutes there, as before).

CREATE TABLE ping_seconds (
  kafka_partition smallint NOT NULL,
  second          bigint   NOT NULL, -- epoch second (floor) of pinged_at
  n               bigint   NOT NULL,
  PRIMARY KEY (kafka_partition, second)
);

LOCK TABLE outbox_head IN SHARE MODE;

INSERT INTO ping_seconds (kafka_partition, second, n)
SELECT kafka_partition, floor(date_part('epoch', pinged_at))::int8, count(*)
FROM pings GROUP BY 1, 2;

-- The epoch second is computed in float8 (date_part), exact here for the
-- reason 0003 gives for minutes: a timestamp holds whole milliseconds, and
-- the float spacing of an epoch below year 10000 is under 0.04 ms.
CREATE OR REPLACE FUNCTION roll_up_pings() RETURNS trigger LANGUAGE plpgsql AS $$
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
  INSERT INTO ping_seconds AS s (kafka_partition, second, n)
  SELECT kafka_partition, floor(date_part('epoch', pinged_at))::int8, count(*)
  FROM new_pings GROUP BY 1, 2
  ORDER BY 1, 2
  ON CONFLICT (kafka_partition, second) DO UPDATE SET n = s.n + excluded.n;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION store_pings(ids uuid[], pinged_ms bigint[], received_ms bigint[],
                                       parts smallint[], traces uuid[])
RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  base bigint[];
  part smallint := parts[1];
  n bigint := coalesce(cardinality(parts), 0);
  first bigint;
  ends bigint;
  span bigint;
  flag text;
  lo bigint;
  minute bigint;
  sec bigint;
BEGIN
  IF coalesce(cardinality(ids), 0) <> n OR coalesce(cardinality(pinged_ms), 0) <> n
     OR coalesce(cardinality(received_ms), 0) <> n THEN
    RAISE EXCEPTION 'store_pings: % ids, % pinged_ms and % received_ms for % parts',
      cardinality(ids), cardinality(pinged_ms), cardinality(received_ms), cardinality(parts)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF n > 0 AND part = ALL (parts) THEN
    -- One partition: the writers' batches.
    UPDATE outbox_head h SET next_seq = h.next_seq + n FROM pings_layout l
      WHERE h.kafka_partition = part
      RETURNING h.next_seq - n, h.ranges_end, l.range_rows INTO STRICT first, ends, span;
    base[part + 1] := first;
    IF first + n - 1 + span >= ends THEN
      PERFORM ensure_pings_ranges(part, first + n - 1);
    END IF;
    flag := set_config('ping.rolled_up', 'on', true);
    INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq, trace_id)
    SELECT t.id, ms_to_timestamptz(t.pm), ms_to_timestamptz(t.rm), part, first + t.ord - 1,
           t.trace
    FROM unnest(ids, pinged_ms, received_ms, traces) WITH ORDINALITY AS t(id, pm, rm, trace, ord);
    flag := set_config('ping.rolled_up', 'off', true);
    lo := pinged_ms[1] - ((pinged_ms[1] % 1000) + 1000) % 1000;
    IF lo <= ALL (pinged_ms) AND lo + 1000 > ALL (pinged_ms) THEN
      -- All n pings in one second: its row and its minute's three buckets,
      -- n each, in one statement.
      sec := lo / 1000;
      minute := (lo - ((lo % 60000) + 60000) % 60000) / 60000;
      WITH s AS (
        INSERT INTO ping_seconds AS s (kafka_partition, second, n) VALUES (part, sec, n)
        ON CONFLICT (kafka_partition, second) DO UPDATE SET n = s.n + excluded.n)
      INSERT INTO ping_buckets AS b (kafka_partition, grain, first_minute, n)
      VALUES (part, 1, minute, n),
             (part, 60, minute - ((minute % 60) + 60) % 60, n),
             (part, 1440, minute - ((minute % 1440) + 1440) % 1440, n)
      ON CONFLICT (kafka_partition, grain, first_minute) DO UPDATE SET n = b.n + excluded.n;
      RETURN base;
    END IF;
  ELSE
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
    flag := set_config('ping.rolled_up', 'on', true);
    INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq, trace_id)
    SELECT t.id, ms_to_timestamptz(t.pm), ms_to_timestamptz(t.rm), t.part,
           base[t.part + 1] + row_number() OVER (PARTITION BY t.part ORDER BY t.ord) - 1,
           t.trace
    FROM unnest(ids, pinged_ms, received_ms, parts, traces)
         WITH ORDINALITY AS t(id, pm, rm, part, trace, ord);
    flag := set_config('ping.rolled_up', 'off', true);
  END IF;
  -- The batch's pings per (partition, second), then per (partition,
  -- minute) and grain (0014).
  INSERT INTO ping_seconds AS s (kafka_partition, second, n)
  SELECT u.part, (u.pm - ((u.pm % 1000) + 1000) % 1000) / 1000, count(*)
  FROM unnest(parts, pinged_ms) AS u(part, pm)
  GROUP BY 1, 2
  ORDER BY 1, 2
  ON CONFLICT (kafka_partition, second) DO UPDATE SET n = s.n + excluded.n;
  INSERT INTO ping_buckets AS b (kafka_partition, grain, first_minute, n)
  SELECT m.part, g.grain, m.minute - ((m.minute % g.grain) + g.grain) % g.grain, sum(m.n)
  FROM (SELECT u.part, (u.pm - ((u.pm % 60000) + 60000) % 60000) / 60000 AS minute,
               count(*) AS n
        FROM unnest(parts, pinged_ms) AS u(part, pm) GROUP BY 1, 2) m
  CROSS JOIN (VALUES (1), (60), (1440)) AS g(grain)
  GROUP BY 1, 2, 3
  ORDER BY 1, 2, 3
  ON CONFLICT (kafka_partition, grain, first_minute) DO UPDATE SET n = b.n + excluded.n;
  RETURN base;
END
$$;
