-- Pings, one row per acknowledged ping.
-- Exact conversion of epoch milliseconds (no floating point on the way:
-- whole seconds through to_timestamp, the rest as an exact interval).
CREATE FUNCTION ms_to_timestamptz(ms bigint) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN to_timestamp(div(ms, 1000)) + mod(ms, 1000) * interval '1 millisecond';

CREATE TABLE pings (
  id              uuid        PRIMARY KEY,
  pinged_at       timestamptz NOT NULL,
  received_at     timestamptz NOT NULL,
  -- Kafka partition fixed at accept time, and the ping's relay sequence:
  -- strictly increasing per partition in commit order. Together they say
  -- exactly which pings a consumer that has applied relay sequences up to N
  -- on each partition has seen (docs/outbox-relay.md).
  kafka_partition smallint    NOT NULL,
  relay_seq       bigint      NOT NULL
);

CREATE INDEX pings_pinged_at_idx ON pings (pinged_at);
