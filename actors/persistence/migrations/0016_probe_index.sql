-- The edge probes' index (docs/counts.md, "What each count touches"): an
-- edge minute is probed per raw range, by pinged_at and by the range's
-- relay_seq bounds (0015). With an index on pinged_at alone, each leaf
-- offered the planner two ways to apply both conditions, and the generic
-- plan of the shared read could take the worse for the open range: a
-- BitmapAnd with the primary key's relay_seq range, which reads the whole
-- leaf's key (up to range_rows entries, 4 M) on every probe. Measured on the
-- 20 M-row history (bench/history.sh): 811 ms for one unaligned day-long
-- range, and 56 ranges/s at 32 connections.
--
-- With (pinged_at, kafka_partition, relay_seq) every condition of a probe
-- is an index condition of one index: the scan reads the entries of the
-- probed interval and no others, whatever the leaf holds, and answers from
-- the index alone where the visibility map allows (the probes select
-- pinged_at only). It serves every query the old index served (pinged_at
-- leads). Each row's entry grows from 8 to 24 bytes of key.
--
-- PostgreSQL 15 builds an index on a partitioned table without
-- CONCURRENTLY, so this migration holds writes to pings while it builds
-- (13 s for 20 M rows on the 2-core development machine).

DROP INDEX pings_pinged_at_idx;
CREATE INDEX pings_pinged_at_idx ON pings (pinged_at, kafka_partition, relay_seq);
