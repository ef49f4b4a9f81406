-- Cheaper commits, fourth round (issue 18; docs/cost.md "store_pings() per
-- commit and per ping").
--
-- store_pings() of 0014 with the same signature (gateways of the previous
-- release keep calling it), two changes:
--
-- 1. A batch whose pings all fall in one minute (a writer's batch: its
--    pings' "now" was resolved within milliseconds of each other) adds its
--    count to the minute's, hour's and day's bucket rows with one INSERT
--    ... VALUES ... ON CONFLICT of three rows, instead of the general
--    statement (unnest, an aggregate per minute, a cross join with the
--    grains, a second aggregate, a sort), whose executor start-up was the
--    larger part of a commit's fixed cost. "One minute" is tested with two
--    array comparisons in PL/pgSQL (`x <= ALL (pinged_ms)`: no statement):
--    every ping in [m, m + 60000) for the floor minute m of the first one.
--    The count is the batch's size, which is the number of rows the INSERT
--    stored (2. below). Any other batch takes the general statement,
--    unchanged. Same transaction as the rows and the head: the buckets stay
--    exact at every committed head (docs/counts.md).
-- 2. ids, pinged_ms and received_ms must hold one element per element of
--    parts (`traces` may be shorter, even empty: unnest() pads it with
--    NULLs, no trace id, as before). The count in 1. is cardinality(parts),
--    so it must be the number of rows stored. Before, longer arrays failed
--    in the general bucket statement (a NULL partition); now they fail
--    first (22023), before anything is locked or stored.

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
    -- All n pings in one minute: its three buckets, n each.
    lo := pinged_ms[1] - ((pinged_ms[1] % 60000) + 60000) % 60000;
    IF lo <= ALL (pinged_ms) AND lo + 60000 > ALL (pinged_ms) THEN
      minute := lo / 60000;
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
  -- The batch's pings per (partition, minute), then per grain (0014).
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
