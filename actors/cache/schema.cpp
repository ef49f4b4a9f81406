#include "actors/cache/schema.hpp"

namespace ping::cache::schema {

namespace {

// Shared by the scripts: the checksum, and the retention floor.
#define PING_LUA_PRELUDE                                                        \
  "local counters, offsets = KEYS[1], KEYS[2]\n"                                \
  "local function consistent()\n"                                              \
  "  local total = tonumber(redis.call('HGET', counters, 'total') or '0')\n"   \
  "  local sum = 0\n"                                                           \
  "  local all = redis.call('HGETALL', offsets)\n"                             \
  "  for i = 1, #all, 2 do\n"                                                   \
  "    if string.sub(all[i], 1, 6) == 'count:' then\n"                          \
  "      sum = sum + tonumber(all[i + 1])\n"                                    \
  "    end\n"                                                                   \
  "  end\n"                                                                     \
  "  return total == sum\n"                                                     \
  "end\n"

} // namespace

const char* const write_lua = PING_LUA_PRELUDE R"lua(
-- Raises the floor to the cutoff, deleting the buckets below it.
local function advance_floor(cutoff)
  local floor = tonumber(redis.call('HGET', offsets, 'floor_minute'))
  if floor and floor >= cutoff then return floor end
  if floor and cutoff - floor <= 1440 then
    for m = floor, cutoff - 1 do redis.call('HDEL', counters, 'minute:' .. m) end
  else
    for _, k in ipairs(redis.call('HKEYS', counters)) do
      if string.sub(k, 1, 7) == 'minute:' and tonumber(string.sub(k, 8)) < cutoff then
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
  if not consistent() then redis.call('DEL', counters, offsets) end
  seq = 0
else
  seq = tonumber(seq)
end
if seq ~= from then
  if seq == to and to ~= from then return {1, seq} end
  return {3, seq}
end
local floor = advance_floor(tonumber(ARGV[6]))
local ceiling = tonumber(ARGV[7])
local gap = tonumber(redis.call('HGET', offsets, 'gap_minute'))
-- Counters first, the partition's state last: a script that fails halfway
-- leaves `total` != sum(count:<p>), which the verification notices.
if tonumber(ARGV[5]) ~= 0 then redis.call('HINCRBY', counters, 'total', ARGV[5]) end
for i = 8, #ARGV, 2 do
  local m = tonumber(ARGV[i])
  if m > ceiling then
    -- Too far in the future to keep a bucket for: counted in `total` only,
    -- and buckets from this minute on are incomplete.
    if not gap or m < gap then
      gap = m
      redis.call('HSET', offsets, 'gap_minute', ARGV[i])
    end
  elseif m >= floor then
    redis.call('HINCRBY', counters, 'minute:' .. ARGV[i], ARGV[i + 1])
  end
end
redis.call('HSET', offsets, 'seq:' .. p, ARGV[3], 'offset:' .. p, ARGV[4])
redis.call('HINCRBY', offsets, 'count:' .. p, ARGV[5])
return {0, to}
)lua";

const char* const verify_lua = PING_LUA_PRELUDE R"lua(
if consistent() then return 0 end
redis.call('DEL', counters, offsets)
return 1
)lua";

#undef PING_LUA_PRELUDE

} // namespace ping::cache::schema
