-- Pings, one row per acknowledged ping.
--
-- The table is also the transactional outbox, kept as a log: each ping's
-- (kafka_partition, relay_seq) is its position in the partition's outbox
-- log, written in the ping's own transaction. relay_seq is strictly
-- increasing per partition in commit order; the relay sends positions above
-- its acknowledged cursor (outbox_cursor) and advances the cursor after the
-- broker's acknowledgement. See docs/outbox-relay.md.

-- Exact conversion of epoch milliseconds (no floating point on the way:
-- whole seconds through to_timestamp, the rest as an exact interval).
CREATE FUNCTION ms_to_timestamptz(ms bigint) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN to_timestamp(div(ms, 1000)) + mod(ms, 1000) * interval '1 millisecond';

-- And back (extract returns numeric: exact).
CREATE FUNCTION timestamptz_to_ms(ts timestamptz) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN (extract(epoch FROM ts) * 1000)::bigint;

CREATE TABLE pings (
  id              uuid        PRIMARY KEY,
  pinged_at       timestamptz NOT NULL,
  received_at     timestamptz NOT NULL,
  kafka_partition smallint    NOT NULL,
  relay_seq       bigint      NOT NULL
);

CREATE INDEX pings_pinged_at_idx ON pings (pinged_at);
CREATE UNIQUE INDEX pings_outbox_log_idx ON pings (kafka_partition, relay_seq);
