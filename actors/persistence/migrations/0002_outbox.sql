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
