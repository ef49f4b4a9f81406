-- Transactional outbox: one row per ping not yet acknowledged by Kafka,
-- written in the same transaction as the ping and deleted by the relay after
-- the broker acknowledged the event.
CREATE TABLE outbox (
  ping_id         uuid     PRIMARY KEY,
  kafka_partition smallint NOT NULL,
  pinged_at_ms    bigint   NOT NULL,
  received_at_ms  bigint   NOT NULL,
  relay_seq       bigint   NOT NULL
);

CREATE UNIQUE INDEX outbox_partition_seq_idx ON outbox (kafka_partition, relay_seq);

-- The next relay sequence per partition. A write transaction locks the rows
-- of its partitions until it commits, so sequence order is commit order.
CREATE TABLE relay_state (
  kafka_partition smallint PRIMARY KEY,
  next_seq        bigint   NOT NULL DEFAULT 1
);
