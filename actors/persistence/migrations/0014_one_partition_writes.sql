-- Cheaper commits (issue 18, third round; docs/cost.md "PostgreSQL per
-- ping, third round").
--
-- 1. The writers put all the pings of one commit in one Kafka partition
--    (the persistence facade picks it per batch, rotating over the
--    writer's partitions), so a commit locks and moves one head row and
--    upserts one bucket per grain and minute instead of three of each.
--    store_pings() gets a path for that case: the head's UPDATE reads
--    range_rows too (one statement less), and each ping's position is its
--    place in the batch (no window function, no sort). Batches of several
--    partitions (a gateway of the previous release during a rollout) take
--    the general path of 0013, unchanged.
-- 2. store_pings() adds the batch to ping_buckets itself, from its arrays,
--    in one INSERT ... ON CONFLICT, instead of through the statement
--    trigger (its transition table, a second PL/pgSQL call and its
--    statements). The rows counted are exactly the rows inserted: the
--    INSERT into pings takes every element of the arrays or fails the
--    whole statement. Same transaction as the rows and the heads, so the
--    buckets stay exact at every committed head (docs/counts.md).
-- 3. The trigger stays for every other insert into pings (the history
--    generator, tests, a hand-written INSERT): it fires unless the
--    transaction-local setting ping.rolled_up is 'on', which store_pings()
--    sets only around its own INSERT and resets right after it (an error
--    in between aborts the transaction, and the setting with it). The WHEN
--    clause is checked before the trigger is queued, so a skipped trigger
--    costs no function call.
--
-- The minute of a ping is floor(ms / 60000) in integer arithmetic, equal
-- to the trigger's floor(date_part('epoch', pinged_at) / 60) for every
-- timestamp of whole milliseconds (0003), and to ms_to_minute().

DROP TRIGGER pings_roll_up ON pings;
CREATE TRIGGER pings_roll_up AFTER INSERT ON pings
  REFERENCING NEW TABLE AS new_pings FOR EACH STATEMENT
  WHEN (current_setting('ping.rolled_up', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION roll_up_pings();

CREATE OR REPLACE FUNCTION store_pings(ids uuid[], pinged_ms bigint[], received_ms bigint[],
                                       parts smallint[], traces uuid[])
RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  base bigint[];
  part smallint := parts[1];
  n bigint := cardinality(parts);
  first bigint;
  ends bigint;
  span bigint;
  flag text;
BEGIN
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
  -- The batch's pings per (partition, minute), then per grain: what the
  -- trigger would have added for the rows just inserted.
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
