#include "actors/cache/schema.hpp"

namespace ping::cache::schema {

namespace {

// Shared by the scripts: the checksum, and the retention floor.
#define PING_LUA_PRELUDE                                                     \
  "local counters, offsets = KEYS[1], KEYS[2]\n"                             \
  "local function consistent()\n"                                            \
  "  local total = tonumber(redis.call('HGET', counters, 'total') or '0')\n" \
  "  local sum = 0\n"                                                        \
  "  local all = redis.call('HGETALL', offsets)\n"                           \
  "  for i = 1, #all, 2 do\n"                                                \
  "    if string.sub(all[i], 1, 6) == 'count:' then\n"                       \
  "      sum = sum + tonumber(all[i + 1])\n"                                 \
  "    end\n"                                                                \
  "  end\n"                                                                  \
  "  return total == sum\n"                                                  \
  "end\n"

} // namespace

const char* const write_lua = PING_LUA_PRELUDE R"lua(
local future = KEYS[3]
-- A cache of an older layout has no coarse buckets: cleared, so every
-- partition is recounted once.
if redis.call('HGET', offsets, 'layout') ~= '2' and redis.call('EXISTS', offsets) == 1 then
  redis.call('DEL', counters, offsets, future)
end

-- Raises the floor to the cutoff, deleting the buckets that start below it
-- (an hour or day that starts below the floor is never written again).
local function advance_floor(cutoff)
  local floor = tonumber(redis.call('HGET', offsets, 'floor_minute'))
  if floor and floor >= cutoff then return floor end
  if floor and cutoff - floor <= 1440 then
    for m = floor, cutoff - 1 do redis.call('HDEL', counters, 'minute:' .. m) end
    for h = math.ceil(floor / 60), math.floor((cutoff - 1) / 60) do
      redis.call('HDEL', counters, 'hour:' .. h)
    end
    for d = math.ceil(floor / 1440), math.floor((cutoff - 1) / 1440) do
      redis.call('HDEL', counters, 'day:' .. d)
    end
  else
    local size = {minute = 1, hour = 60, day = 1440}
    for _, k in ipairs(redis.call('HKEYS', counters)) do
      local grain, n = string.match(k, '^(%a+):(-?%d+)$')
      if grain and size[grain] and tonumber(n) * size[grain] < cutoff then
        redis.call('HDEL', counters, k)
      end
    end
  end
  redis.call('HSET', offsets, 'floor_minute', cutoff)
  return cutoff
end

local p = ARGV[1]
local from, to = tonumber(ARGV[2]), tonumber(ARGV[3])
local seq = redis.call('HGET', offsets, 'seq:' .. p)
if not seq then
  if from ~= 0 then return {2, 0} end
  if not consistent() then redis.call('DEL', counters, offsets, future) end
  seq = 0
else
  seq = tonumber(seq)
end
if seq ~= from then
  if seq == to and to ~= from then return {1, seq} end
  return {3, seq}
end
local floor = advance_floor(tonumber(ARGV[6]))
-- The ceiling only rises (writers' clocks differ).
local ceiling = tonumber(ARGV[7])
local stored_ceiling = tonumber(redis.call('HGET', offsets, 'ceiling_minute'))
if stored_ceiling and stored_ceiling > ceiling then ceiling = stored_ceiling end
local gap = tonumber(redis.call('HGET', offsets, 'gap_minute'))
-- A minute's delta goes to its bucket, and to its hour's and day's when they
-- start at or above the floor (else they were deleted, or are incomplete).
local function add(m, n)
  if m < floor then return end
  redis.call('HINCRBY', counters, 'minute:' .. m, n)
  local h = math.floor(m / 60)
  if h * 60 >= floor then redis.call('HINCRBY', counters, 'hour:' .. h, n) end
  local d = math.floor(m / 1440)
  if d * 1440 >= floor then redis.call('HINCRBY', counters, 'day:' .. d, n) end
end
-- Counters first, the partition's state last: a script that fails halfway
-- leaves `total` != sum(count:<p>), which the verification notices.
if tonumber(ARGV[5]) ~= 0 then redis.call('HINCRBY', counters, 'total', ARGV[5]) end
-- Pings that waited past the ceiling and are now within it move into their
-- buckets. `total` is one off meanwhile, so a failure halfway shows in the
-- checksum even when this write carries no pings.
local waiting = tonumber(redis.call('HGET', offsets, 'future_minute'))
if waiting and waiting <= ceiling then
  redis.call('HINCRBY', counters, 'total', 1)
  local low
  local held = redis.call('HGETALL', future)
  for i = 1, #held, 2 do
    local m = tonumber(held[i])
    if m <= ceiling then
      add(m, held[i + 1])
      redis.call('HDEL', future, held[i])
    elseif not low or m < low then
      low = m
    end
  end
  if low then
    redis.call('HSET', offsets, 'future_minute', low)
  else
    redis.call('HDEL', offsets, 'future_minute')
  end
  redis.call('HINCRBY', counters, 'total', -1)
end
redis.call('HSET', offsets, 'ceiling_minute', ceiling)
-- An odd number of trailing arguments: the last one is the identity of
-- the ping at `to` (kept as the string it came as: 63 bits).
local pairs_end = #ARGV
local ident = nil
if (#ARGV - 7) % 2 == 1 then
  ident = ARGV[#ARGV]
  pairs_end = #ARGV - 1
end
for i = 8, pairs_end, 2 do
  local m = tonumber(ARGV[i])
  if m > ceiling then
    -- Too far ahead for a bucket: held per minute in ping:future (bounded)
    -- until the ceiling reaches it; with no room left, buckets from this
    -- minute on are incomplete (the gap).
    waiting = tonumber(redis.call('HGET', offsets, 'future_minute'))
    -- ping:future holds pings only while `future_minute` says so: entries
    -- without it outlived their counters (deleted apart) and must go.
    if not waiting then redis.call('DEL', future) end
    if redis.call('HEXISTS', future, ARGV[i]) == 1 or redis.call('HLEN', future) < 1024 then
      redis.call('HINCRBY', future, ARGV[i], ARGV[i + 1])
      if not waiting or m < waiting then redis.call('HSET', offsets, 'future_minute', ARGV[i]) end
    elseif not gap or m < gap then
      gap = m
      redis.call('HSET', offsets, 'gap_minute', ARGV[i])
    end
  else
    add(m, ARGV[i + 1])
  end
end
redis.call('HSET', offsets, 'seq:' .. p, ARGV[3], 'offset:' .. p, ARGV[4], 'layout', '2')
redis.call('HINCRBY', offsets, 'count:' .. p, ARGV[5])
-- The identity is valid only beside the sequence it was written for
-- (`identseq:<p>`): a writer that does not know identities (an older
-- processor) moves `seq:<p>` and leaves both behind, which reads as unknown.
if ident then
  redis.call('HSET', offsets, 'ident:' .. p, ident, 'identseq:' .. p, ARGV[3])
elseif to ~= from then
  redis.call('HDEL', offsets, 'ident:' .. p, 'identseq:' .. p)
end
return {0, to}
)lua";

const char* const verify_lua = PING_LUA_PRELUDE R"lua(
if consistent() then return 0 end
redis.call('DEL', counters, offsets, KEYS[3])
return 1
)lua";

#undef PING_LUA_PRELUDE

} // namespace ping::cache::schema
