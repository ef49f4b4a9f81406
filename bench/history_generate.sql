-- The history generator of bench/history.sh: :rows pings received over
-- :days days ending now, in 3 Kafka partitions with gapless relay sequences
-- in arrival order, each pinged up to 5 s before it was received. One
-- INSERT ... SELECT per day into `pings`, so the buckets are derived by the
-- same statement trigger as every insert_pings() (migrations/0003); then
-- the heads and cursors as if written by insert_pings() and relayed, and
-- the filled ranges sealed.
-- Run with psql -v rows=N -v days=D -v day=K for day K (0 = oldest), or
-- -v day=-1 for the set-up before the days, or -v day=-2 for the end.
-- With -v span_ms=S the pings are received over the last S ms instead
-- (bench/dense_edges.sh), and D is the number of chunks K counts.
\set ON_ERROR_STOP 1
\if :{?span_ms}
\else
  \set span_ms 0
\endif
SELECT CASE WHEN :span_ms > 0 THEN :span_ms::int8 ELSE :days::int8 * 86400000 END AS span \gset
SELECT :day = -1 AS setup, :day = -2 AS finish, :day >= 0 AS one_day \gset
\if :setup
  SELECT add_kafka_partitions(3);
  SELECT ensure_pings_ranges(p::int2, :rows / 3 + 1) FROM generate_series(0, 2) p;
  CREATE TABLE IF NOT EXISTS bench_history (end_ms bigint);
  TRUNCATE bench_history;
  INSERT INTO bench_history SELECT timestamptz_to_ms(now());
\elif :one_day
  INSERT INTO pings (id, pinged_at, received_at, kafka_partition, relay_seq)
  SELECT gen_random_uuid(), ms_to_timestamptz(g.ms - (g.i * 7919) % 5000),
         ms_to_timestamptz(g.ms), (g.i % 3)::int2, g.i / 3 + 1
  FROM (SELECT i, b.end_ms - :span::int8 + i * :span::int8 / :rows AS ms
        FROM bench_history b,
             generate_series(:rows::int8 * :day / :days, :rows::int8 * (:day + 1) / :days - 1) i) g;
\elif :finish
  UPDATE outbox_head h SET next_seq = m.head + 1
    FROM (SELECT p AS part, (:rows::int8 - p + 2) / 3 AS head FROM generate_series(0, 2) p) m
    WHERE h.kafka_partition = m.part;
  UPDATE outbox_cursor c SET acked_seq = h.next_seq - 1
    FROM outbox_head h WHERE h.kafka_partition = c.kafka_partition;
  -- The filled ranges sealed, as a writer seals them when it attaches the
  -- next range (migrations/0015: their pinged_at spans).
  SELECT seal_pings_ranges(p::int2) FROM generate_series(0, 2) p;
  DROP TABLE bench_history;
  VACUUM ANALYZE pings, ping_buckets, outbox_head, outbox_cursor;
\endif
