-- Cheaper writes and relay reads (issue 18; docs/cost.md).
--
-- 1. The millisecond conversions of 0001 computed in numeric (div(),
--    extract()) and, being IMMUTABLE with a STABLE operator inside
--    (timestamptz + interval), were never inlined: each call ran the SQL
--    function executor, about 6.5 us. A ping paid four of them (two when
--    stored, two when relayed). The same results from immutable integer
--    and float8 operations, which the planner inlines (~0.3 us):
--    * ms -> timestamptz: whole seconds (floor) through to_timestamp(),
--      exact for any integer below 2^53 / 15625 seconds (year ~20000),
--      then the milliseconds as an exact interval, added in UTC
--      (timezone(interval '0', ...) is immutable; timestamptz + interval
--      is not);
--    * timestamptz -> ms: the epoch in float8, times 1000, rounded. Exact
--      for every timestamp of whole milliseconds (all that Ping stores):
--      up to year 10000 the float error stays below 0.04 ms.
--    Both were checked equal to the 0001 versions on 400,000 values
--    either side of 1970, at the years 1 and 9999 bounds and in a non-UTC
--    session time zone (docs/cost.md).
--    insert_pings() (0003) and the count statements call them by name,
--    so they get the new versions without being replaced. (Locking and
--    moving all of a batch's head rows in two statements instead of one
--    UPDATE per partition measured no cheaper: docs/cost.md.)

CREATE OR REPLACE FUNCTION ms_to_timestamptz(ms bigint) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN timezone(interval '0',
                  timezone(interval '0', to_timestamp(((ms - (ms % 1000 + 1000) % 1000) / 1000)::float8))
                  + ((ms % 1000 + 1000) % 1000) * interval '1 millisecond');

CREATE OR REPLACE FUNCTION timestamptz_to_ms(ts timestamptz) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN round(date_part('epoch', timezone(interval '0', ts)) * 1000)::int8;
