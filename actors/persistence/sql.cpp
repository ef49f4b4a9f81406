#include "actors/persistence/sql.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <optional>
#include <tuple>

#include <stdexcept>

#include "actors/common/log.hpp"
#include "actors/common/trace.hpp"
#include "actors/persistence/migrations.hpp"

namespace ping::persistence::sql {

namespace {

// One statement, so one round trip and one implicit transaction (see
// insert_pings() in migrations/0002_outbox.sql for the ordering guarantee).
// store_pings() (migrations/0013_stored_positions.sql) returns the first
// position of each partition in the batch; `$5` is empty when no ping of the
// batch carries the client's trace id (migrations/0011_trace_ids.sql).
constexpr const char* insert_batch_sql
  = "SELECT store_pings($1::uuid[], $2::int8[], $3::int8[], $4::int2[], $5::uuid[])";

// A batch with idempotency keys: store_keyed_pings() claims each key and
// stores only the pings that claimed theirs (or carry none); it returns
// every row's position (NULL: not stored).
constexpr const char* insert_keyed_batch_sql
  = "SELECT store_keyed_pings($1::uuid[], $2::int8[], $3::int8[], $4::int2[], $5::text[],"
    " $6::int8[], $7::uuid[])";

// pg_try_advisory_lock(int4, int4) class key of the relay's partition
// locks: "PING".
constexpr int32_t relay_lock_class = 0x50494E47;

// Outbox log entries not yet handed to this producer, for every held
// partition at once ($1 partitions, $2 the highest position handed out in
// each): up to $3 per partition, in position order. One statement, one
// snapshot, one round trip, whatever the number of partitions (an index
// range per partition: the LATERAL keeps each one a bounded scan).
// No ORDER BY over the whole result (a sort of every row read): the relay
// puts the rows in (partition, position) order. Positions are assigned at
// commit time in commit order (insert_batch() above), so nothing at or
// below `$2` can still appear.
constexpr const char* relay_select_sql = R"sql(
SELECT w.part, x.id::text, timestamptz_to_ms(x.pinged_at), timestamptz_to_ms(x.received_at),
       x.relay_seq, x.trace_id::text
FROM unnest($1::int2[], $2::int8[]) AS w(part, after)
CROSS JOIN LATERAL (SELECT id, pinged_at, received_at, relay_seq, trace_id FROM pings
                    WHERE kafka_partition = w.part AND relay_seq > w.after
                    ORDER BY relay_seq LIMIT $3) x
)sql";

// The acknowledged positions of every partition that moved, in one
// statement ($1 partitions, $2 positions).
constexpr const char* relay_advance_sql = R"sql(
UPDATE outbox_cursor c SET acked_seq = a.seq
FROM unnest($1::int2[], $2::int8[]) AS a(part, seq)
WHERE c.kafka_partition = a.part AND c.acked_seq < a.seq
)sql";

// A partition's committed head, and the id of its ping at a sequence.
constexpr const char* head_mark_sql
  = "SELECT (SELECT next_seq - 1 FROM outbox_head WHERE kafka_partition = $1), "
    "(SELECT id::text FROM pings WHERE kafka_partition = $1 AND relay_seq = $2)";

bool traced(const ping_row& r) {
  return (r.trace_hi | r.trace_lo) != 0;
}

// A row's trace id as an element of a uuid[] literal (NULL: none).
std::string trace_element(const ping_row& r) {
  if (!traced(r))
    return "NULL";
  trace::context tc;
  tc.trace_hi = r.trace_hi;
  tc.trace_lo = r.trace_lo;
  return trace::uuid_text(tc);
}

template <class T, class F>
std::string join(const std::vector<T>& xs, F f) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out.push_back(',');
    out.append(f(xs[i]));
  }
  out.push_back('}');
  return out;
}

// The count reader's shared read (sql::read) in three forms, one prepared
// statement each, built from the same parts (the rows and the parts are
// described at read_counts below). A statement pays for starting every
// node of its plan on every execution, whether the read needs it or not
// (docs/counts.md, "A statement per read"), so each form holds only the
// parts its reads use.
//
// h: every partition's committed head and lowest kept raw row.
const char* const read_heads_part
  = "WITH h AS (SELECT kafka_partition AS part, next_seq - 1 AS head, raw_from FROM outbox_head)";
// g: the raw ranges at or below the heads (read once, for the edges).
const char* const read_ranges_part
  = ", g AS MATERIALIZED (SELECT g.kafka_partition AS part, g.lo, g.hi, g.first_at, g.last_at"
    "   FROM pings_ranges g JOIN h ON h.part = g.kafka_partition AND g.lo <= h.head)";
// w, t: the tail above the snapshot's sequences, per minute; `floor`
// is the parameter holding the lowest of them.
std::string read_tail_part(const char* floor) {
  return std::string{
           ", w AS (SELECT w.part, w.seq, h.head"
           "   FROM unnest($1::int2[], $2::int8[]) AS w(part, seq)"
           "   JOIN h ON h.part = w.part WHERE $3::bool AND h.head > w.seq),"
           " t AS (SELECT x.m, count(*)::int8 AS n"
           "   FROM w CROSS JOIN LATERAL (SELECT ms_to_minute(timestamptz_to_ms(y.pinged_at)) AS m"
           "     FROM pings y"
           "     WHERE y.kafka_partition = w.part AND y.relay_seq > w.seq AND y.relay_seq <= w.head"
           "       AND y.relay_seq > "}
         + floor + "::int8 OFFSET 0) x GROUP BY 1)";
}
// b: the whole-minute buckets of the asked ranges.
const char* const read_pieces_part
  = ", b AS (SELECT r.i, coalesce(sum(x.n), 0)::int8 AS n"
    "   FROM unnest($4::int4[], $5::int4[], $6::int8[], $7::int8[]) AS r(i, grain, lo, hi)"
    "   CROSS JOIN h"
    "   CROSS JOIN LATERAL (SELECT sum(z.n) AS n FROM (SELECT y.n FROM ping_buckets y"
    "     WHERE y.kafka_partition = h.part AND y.grain = r.grain"
    "       AND y.first_minute >= r.lo AND y.first_minute < r.hi"
    "     ORDER BY y.first_minute LIMIT (r.hi - r.lo) / r.grain + 1) z) x GROUP BY r.i)";
// e, c: the partial edge minutes, any minute (dense ones from their
// seconds).
const char* const read_edges_part
  = ", e AS MATERIALIZED (SELECT e.i, e.minute, e.flip, e.sa <= e.sz AS crosses,"
    "     EXISTS (SELECT 1 FROM h WHERE EXISTS (SELECT 1 FROM ping_seconds x"
    "             WHERE x.kafka_partition = h.part AND x.second >= e.minute * 60"
    "               AND x.second < e.minute * 60 + 60)) AS dense,"
    "     ms_to_timestamptz(e.m0) AS m0, ms_to_timestamptz(e.m0 + 60000) AS m1,"
    "     ms_to_timestamptz(e.lo) AS lo, ms_to_timestamptz(e.hi) AS hi,"
    "     ms_to_timestamptz(e.a) AS a, ms_to_timestamptz(e.z) AS z,"
    "     ms_to_timestamptz(e.sa) AS sa, ms_to_timestamptz(e.sz) AS sz,"
    "     ms_to_timestamptz(e.fa) AS fa, ms_to_timestamptz(e.cz) AS cz,"
    "     e.sa / 1000 AS s0, e.sz / 1000 AS s1,"
    "     array_remove(ARRAY[CASE WHEN e.fa < CASE WHEN e.sa <= e.sz THEN e.sa ELSE e.cz END"
    "                             THEN e.fa / 1000 END,"
    "                        CASE WHEN e.sa <= e.sz AND e.sz < e.cz THEN e.sz / 1000 END], NULL)"
    "       AS probe"
    "   FROM (SELECT e.*, e.a + (1000 - e.a % 1000) % 1000 AS sa,"
    "           e.z - (e.z % 1000 + 1000) % 1000 AS sz, e.a - (e.a % 1000 + 1000) % 1000 AS fa,"
    "           e.z + (1000 - e.z % 1000) % 1000 AS cz"
    "         FROM (SELECT e.*,"
    "                 CASE WHEN NOT e.flip THEN e.lo WHEN e.lo = e.m0 THEN e.hi"
    "                      ELSE e.m0 END AS a,"
    "                 CASE WHEN NOT e.flip THEN e.hi WHEN e.lo = e.m0 THEN e.m0 + 60000"
    "                      ELSE e.lo END AS z"
    "               FROM (SELECT e.i, e.minute, e.minute * 60000 AS m0, e.lo, e.hi,"
    "                       (e.lo = e.minute * 60000 OR e.hi = e.minute * 60000 + 60000)"
    "                         AND e.hi - e.lo > 30000 AS flip"
    "                     FROM unnest($8::int4[], $9::int8[], $10::int8[], $11::int8[])"
    "                       AS e(i, minute, lo, hi) OFFSET 0) e OFFSET 0) e OFFSET 0) e),"
    " c AS (SELECT e.i,"
    "     sum(CASE WHEN d.whole THEN c.inside"
    "              WHEN e.flip THEN CASE WHEN s.secs THEN s.minute ELSE coalesce(r.n, 0) END"
    "                               - s.n - c.inside"
    "              ELSE s.n + c.inside END)::int8 AS inside,"
    "     bool_and(CASE WHEN d.whole THEN c.raw = coalesce(r.n, 0)"
    "                   WHEN s.secs AND h.raw_from > 1 THEN c.raw = s.probed"
    "                   ELSE true END) AS complete"
    "   FROM e CROSS JOIN h"
    "   CROSS JOIN LATERAL (SELECT count(*) > 0 AS secs, coalesce(sum(x.n), 0) AS minute,"
    "       coalesce(sum(x.n) FILTER (WHERE x.second >= e.s0 AND x.second < e.s1), 0) AS n,"
    "       coalesce(sum(x.n) FILTER (WHERE x.second = ANY (e.probe)), 0) AS probed"
    "     FROM (SELECT x.second, x.n FROM ping_seconds x WHERE e.dense AND x.kafka_partition = "
    "h.part"
    "       AND x.second >= e.minute * 60 AND x.second < e.minute * 60 + 60"
    "       ORDER BY x.second LIMIT 60) x) s"
    "   CROSS JOIN LATERAL (SELECT h.raw_from > 1 AND NOT s.secs AS whole) d"
    "   LEFT JOIN LATERAL (SELECT r.n FROM ping_buckets r"
    "     WHERE (e.flip OR h.raw_from > 1) AND NOT s.secs AND r.kafka_partition = h.part"
    "       AND r.grain = 1 AND r.first_minute = e.minute OFFSET 0) r ON true"
    "   CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE p.pinged_at >= k.lo"
    "                                                AND p.pinged_at < k.hi) AS inside,"
    "                              count(*) AS raw"
    "     FROM (SELECT CASE WHEN d.whole THEN e.lo ELSE e.a END AS lo,"
    "                  CASE WHEN d.whole THEN e.hi ELSE e.z END AS hi) k"
    "     CROSS JOIN LATERAL (VALUES"
    "         (CASE WHEN d.whole THEN e.m0 WHEN s.secs AND h.raw_from > 1 THEN e.fa ELSE e.a END,"
    "          CASE WHEN d.whole THEN e.m1 WHEN NOT s.secs THEN e.z WHEN e.crosses THEN e.sa"
    "               WHEN h.raw_from > 1 THEN e.cz ELSE e.z END),"
    "         (CASE WHEN s.secs AND e.crosses THEN e.sz ELSE e.cz END,"
    "          CASE WHEN NOT (s.secs AND e.crosses) THEN e.cz WHEN h.raw_from > 1 THEN e.cz"
    "               ELSE e.z END)) AS v(a, z)"
    "     CROSS JOIN g"
    "     CROSS JOIN LATERAL (SELECT p.pinged_at FROM pings p"
    "       WHERE p.kafka_partition = h.part AND p.relay_seq >= g.lo AND p.relay_seq < g.hi"
    "         AND p.pinged_at >= v.a AND p.pinged_at < v.z OFFSET 0) p"
    "     WHERE v.a < v.z AND g.part = h.part"
    "       AND (g.first_at IS NULL OR (g.first_at < v.z AND g.last_at >= v.a))) c"
    "   GROUP BY e.i)";
// e, c: the partial edge minutes from their raw rows only, at most
// sparse_minute_pings + 1 of them per edge, partition and raw range: an
// edge that has more lies in a dense minute, and answers incomplete.
std::string read_sparse_edges_part() {
  const auto most = std::to_string(sparse_minute_pings);
  const auto limit = std::to_string(sparse_minute_pings + 1);
  return ", e AS MATERIALIZED (SELECT e.i, e.minute, e.m0, e.m1, e.lo, e.hi, e.flip,"
         "     CASE WHEN NOT e.flip THEN e.lo WHEN e.lo = e.m0 THEN e.hi ELSE e.m0 END AS a,"
         "     CASE WHEN NOT e.flip THEN e.hi WHEN e.lo = e.m0 THEN e.m1 ELSE e.lo END AS z"
         "   FROM (SELECT e.i, e.minute, ms_to_timestamptz(e.minute * 60000) AS m0,"
         "           ms_to_timestamptz(e.minute * 60000 + 60000) AS m1,"
         "           ms_to_timestamptz(e.lo) AS lo, ms_to_timestamptz(e.hi) AS hi,"
         "           (e.lo = e.minute * 60000 OR e.hi = e.minute * 60000 + 60000)"
         "             AND e.hi - e.lo > 30000 AS flip"
         "         FROM unnest($8::int4[], $9::int8[], $10::int8[], $11::int8[])"
         "           AS e(i, minute, lo, hi) OFFSET 0) e),"
         " c AS (SELECT e.i,"
         "     sum(CASE WHEN h.raw_from <= 1 AND e.flip THEN coalesce(r.n, 0) - c.raw"
         "              ELSE c.inside END)::int8 AS inside,"
         "     bool_and(c.raw <= "
         + most
         + " AND (h.raw_from <= 1 OR c.raw = coalesce(r.n, 0))) AS complete"
           "   FROM e CROSS JOIN h"
           "   LEFT JOIN LATERAL (SELECT r.n FROM ping_buckets r"
           "     WHERE (e.flip OR h.raw_from > 1) AND r.kafka_partition = h.part AND r.grain = 1"
           "       AND r.first_minute = e.minute OFFSET 0) r ON true"
           "   CROSS JOIN LATERAL (SELECT CASE WHEN h.raw_from <= 1 THEN e.a ELSE e.m0 END AS a,"
           "                              CASE WHEN h.raw_from <= 1 THEN e.z ELSE e.m1 END AS z) k"
           "   CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE p.pinged_at >= e.lo"
           "                                                AND p.pinged_at < e.hi) AS inside,"
           "                              count(*) AS raw FROM g"
           "     CROSS JOIN LATERAL (SELECT p.pinged_at FROM pings p"
           "       WHERE p.kafka_partition = h.part AND p.relay_seq >= g.lo AND p.relay_seq < g.hi"
           "         AND p.pinged_at >= k.a AND p.pinged_at < k.z LIMIT "
         + limit
         + ") p"
           "     WHERE g.part = h.part"
           "       AND (g.first_at IS NULL OR (g.first_at < k.z AND g.last_at >= k.a))) c"
           "   GROUP BY e.i)";
}
// The rows of h, t and b, then those of c.
const char* const read_rows_part = " SELECT 0, part::int8, head, raw_from FROM h"
                                   " UNION ALL SELECT 1, m, n, 0::int8 FROM t"
                                   " UNION ALL SELECT 2, i::int8, n, 0::int8 FROM b";
const char* const read_edge_rows_part
  = " UNION ALL SELECT 3, i::int8, inside, complete::int::int8 FROM c";

} // namespace

// The partitions' heads: every partition that has an outbox head row.
// Every statement below is one index range (or one index lookup) per
// partition: a LATERAL over the partition list, so no plan, custom or
// generic, can turn it into a scan of the history.
const std::vector<statement>& count_statements() {
  // A call of read_counts and read_counts_sparse: three bucket pieces and
  // three edges.
  const std::vector<std::string> read_example{"'{0,1,2}'",
                                              "'{100,100,100}'",
                                              "true",
                                              "'{0,0,0,1}'",
                                              "'{1440,60,1,1}'",
                                              "'{28333440,28333380,28333370,28333000}'",
                                              "'{28334880,28333440,28333380,28333010}'",
                                              "'{0,0,1}'",
                                              "'{28333369,28334880,28332999}'",
                                              "'{1700002150000,1700092800000,1699979940000}'",
                                              "'{1700002200000,1700092830000,1699979950000}'",
                                              "100"};
  static const std::vector<statement> all = {
    // Every stored ping: sequences are gapless, so a partition holds
    // exactly its head's number of pings (O(partitions)).
    {"count_all", "SELECT coalesce(sum(next_seq - 1), 0)::int8, true FROM outbox_head", {}},
    // A range: the fewest buckets covering its whole minutes ($1 grains,
    // $2 first minutes, $3 end minutes: one index range per partition and
    // grain) plus its partial edge minutes counted by pinged_at ($4 edge
    // minutes, $5 and $6 the edge's [lo, hi) in ms), in the raw ranges
    // whose pinged_at span meets the minute or is not recorded (the same
    // choice as read_counts' edges, migration 0015). The second column is
    // false when an edge minute's raw rows are incomplete (retention dropped
    // some): the buckets know more than the rows.
    {"count_range",
     "WITH parts AS (SELECT kafka_partition AS part FROM outbox_head),"
     " whole AS (SELECT coalesce(sum(b.n), 0)::int8 AS n"
     "   FROM parts CROSS JOIN unnest($1::int4[], $2::int8[], $3::int8[]) AS r(grain, lo, hi)"
     "   CROSS JOIN LATERAL (SELECT sum(x.n) AS n FROM ping_buckets x"
     "     WHERE x.kafka_partition = parts.part AND x.grain = r.grain"
     "       AND x.first_minute >= r.lo AND x.first_minute < r.hi) b),"
     " edges AS (SELECT e.minute, c.inside, c.raw,"
     "     (SELECT coalesce(sum(x.n), 0) FROM parts JOIN ping_buckets x"
     "        ON x.kafka_partition = parts.part AND x.grain = 1 AND x.first_minute = e.minute)"
     "       AS rolled"
     "   FROM unnest($4::int8[], $5::int8[], $6::int8[]) AS e(minute, lo, hi)"
     "   CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE p.pinged_at >= ms_to_timestamptz(e.lo)"
     "                                          AND p.pinged_at < ms_to_timestamptz(e.hi)) AS "
     "inside,"
     "                              count(*) AS raw"
     "     FROM pings_ranges g CROSS JOIN LATERAL (SELECT p.pinged_at FROM pings p"
     "       WHERE p.kafka_partition = g.kafka_partition"
     "         AND p.relay_seq >= g.lo AND p.relay_seq < g.hi"
     "         AND p.pinged_at >= ms_to_timestamptz(e.minute * 60000)"
     "         AND p.pinged_at < ms_to_timestamptz(e.minute * 60000 + 60000) OFFSET 0) p"
     "     WHERE g.first_at IS NULL"
     "        OR (g.first_at < ms_to_timestamptz(e.minute * 60000 + 60000)"
     "            AND g.last_at >= ms_to_timestamptz(e.minute * 60000))) c)"
     " SELECT (SELECT n FROM whole) + coalesce((SELECT sum(inside) FROM edges), 0)::int8,"
     "        coalesce((SELECT bool_and(raw = rolled) FROM edges), true)",
     {"'{1440,60,1}'", "'{28333440,28333380,28333370}'", "'{28334880,28333440,28333380}'",
      "'{28333369,28334880}'", "'{1700002150000,1700092800000}'",
      "'{1700002200000,1700092830000}'"}},
    // The tail of a cache snapshot without minutes: $1 partitions, $2 their
    // applied sequences. Gapless sequences make it head - seq per partition
    // (O(partitions)). `ok` is false when the snapshot claims a sequence
    // above a partition's committed head, or PostgreSQL has pings in a
    // partition it does not list.
    {"tail_total",
     "WITH w AS (SELECT w.part, w.seq, coalesce(h.next_seq - 1, 0) AS head"
     "   FROM unnest($1::int2[], $2::int8[]) AS w(part, seq)"
     "   LEFT JOIN outbox_head h ON h.kafka_partition = w.part)"
     " SELECT coalesce(bool_and(w.head >= w.seq), true)"
     "   AND NOT EXISTS (SELECT 1 FROM outbox_head h2 WHERE h2.next_seq > 1"
     "                   AND h2.kafka_partition NOT IN (SELECT part FROM w)),"
     "   NULL::int8, coalesce(sum(greatest(w.head - w.seq, 0)), 0)::int8 FROM w",
     {"'{0,1,2}'", "'{100,100,100}'"}},
    // The same tail per minute of event time: its rows, one index range
    // (seq, head] per partition. `ok` is also false when retention dropped
    // raw rows of the tail (a cache older than the raw rows kept).
    {"tail_minutes",
     "WITH w AS (SELECT w.part, w.seq, coalesce(h.next_seq - 1, 0) AS head,"
     "          coalesce(h.raw_from, 1) AS raw_from"
     "   FROM unnest($1::int2[], $2::int8[]) AS w(part, seq)"
     "   LEFT JOIN outbox_head h ON h.kafka_partition = w.part),"
     " ok AS (SELECT coalesce(bool_and(w.head >= w.seq AND w.raw_from <= w.seq + 1), true)"
     "   AND NOT EXISTS (SELECT 1 FROM outbox_head h2 WHERE h2.next_seq > 1"
     "                   AND h2.kafka_partition NOT IN (SELECT part FROM w)) AS ok FROM w)"
     " SELECT ok.ok, t.m, t.n FROM ok LEFT JOIN ("
     "   SELECT p.m, sum(p.n)::int8 AS n"
     "   FROM w CROSS JOIN LATERAL (SELECT ms_to_minute(timestamptz_to_ms(x.pinged_at)) AS m,"
     "                                     count(*) AS n FROM pings x"
     "     WHERE x.kafka_partition = w.part AND x.relay_seq > w.seq AND x.relay_seq <= w.head"
     "     GROUP BY 1) p"
     "   GROUP BY 1) t ON true",
     {"'{0,1,2}'", "'{100,100,100}'"}},
    // The count reader's shared read (sql::read): every partition's head,
    // and when asked the tail above a cache snapshot per minute and the
    // counts of many ranges, in one statement, so all of it is taken in one
    // snapshot, at one set of committed heads. Rows: (kind, key, a, b):
    //   0: partition, head, raw_from;
    //   1: tail minute, pings ($1 partitions, $2 snapshot sequences, only
    //      when $3; $12 the lowest of the sequences, or the largest int8
    //      when no tail is read: a parameter, so the raw ranges below it are
    //      pruned when the executor starts instead of being opened on every
    //      execution): the rows (seq, head] of each partition, one index range
    //      (grouped once, by a column of a subquery the planner keeps: a
    //      hash table sized for 200 minutes, not for the 100 k rows it
    //      guesses the tail holds, built on every execution);
    //   2: asked range, pings of its whole-minute buckets ($4 range, $5
    //      grain, $6 first minute, $7 end minute: one index range per
    //      partition and bucket range; in key order, with a LIMIT no range
    //      reaches (the key holds at most (hi - lo) / grain buckets there),
    //      so that the generic plan is a plain index scan: the bitmap heap
    //      scan it picks otherwise asks the kernel for the table's size on
    //      every rescan, an lseek per bucket range);
    //   3: asked range, pings of one partial edge minute inside the range,
    //      and whether the minute's raw rows are complete ($8 range, $9
    //      minute, [$10, $11) ms): per partition, the pinged_at index of
    //      that partition's ranges over the shorter side of the minute:
    //      [lo, hi), or, when that is the longer part of the minute, the
    //      rest of the minute, subtracted from the minute's bucket (exact
    //      while retention never dropped a raw row of the partition,
    //      raw_from = 1: the minute's rows then all exist and the bucket
    //      counts exactly them, in the same snapshot). In a dense minute
    //      (one with ping_seconds rows: its bucket flags `seconds`,
    //      migration 0019; one probe per edge and partition of the
    //      primary key, the only index of ping_seconds (migration 0020),
    //      tells whether any partition has them, and then one range of it,
    //      at most 60 rows per partition, whether this one does, and its
    //      counts) that side's whole
    //      seconds come from ping_seconds (one index range per partition,
    //      at most 30 rows) and only its partial seconds at either end
    //      (each under a second) from the raw rows, so an edge reads under
    //      two seconds of pings however dense the minute (a side within
    //      one second: the raw rows alone); a sparse minute's side is read
    //      from its raw rows (at most 600 a partition). The
    //      raw rows are probed in only the raw
    //      ranges whose recorded pinged_at span meets the probed interval
    //      or that have none (not sealed yet: the open range), each by its
    //      relay_seq bounds so that run-time pruning opens only that leaf
    //      (migration 0015), by one index condition on (pinged_at,
    //      kafka_partition, relay_seq) (migration 0016). The ranges are read
    //      once per statement (g, MATERIALIZED: not a heap scan of
    //      pings_ranges per edge and partition, each asking the kernel for
    //      the table's size), without those above the partition's head
    //      (kept ready ahead: nothing to probe there). After retention
    //      dropped rows (raw_from > 1) a dense minute's partial seconds are
    //      read whole and their rows compared with their seconds' counts,
    //      and a sparse minute is read whole and its rows compared with its
    //      bucket. The bounds are computed once per edge (e, MATERIALIZED),
    //      not per index scan. The rows are those
    //      of the same snapshot, so at or below the heads of kind 0 (a
    //      ping's row and its head commit together).
    {"read_counts",
     std::string{read_heads_part} + read_ranges_part + read_tail_part("$12") + read_pieces_part
       + read_edges_part + read_rows_part + read_edge_rows_part,
     read_example},
    // The same read when no edge is known to be dense (sql::read with the
    // cache's hint): each edge from its raw rows alone, no node of
    // ping_seconds. An edge with more raw rows than a sparse minute holds
    // (in a partition and raw range), or whose rows retention dropped,
    // answers incomplete, and sql::read then reads again with read_counts.
    {"read_counts_sparse",
     std::string{read_heads_part} + read_ranges_part + read_tail_part("$12") + read_pieces_part
       + read_sparse_edges_part() + read_rows_part + read_edge_rows_part,
     read_example},
    // The same read without edges (every asked range on whole minutes):
    // the heads, the tail ($8 its floor) and the buckets.
    {"read_counts_whole",
     std::string{read_heads_part} + read_tail_part("$8") + read_pieces_part + read_rows_part,
     {"'{0,1,2}'", "'{100,100,100}'", "true", "'{0,1,2}'", "'{1440,60,1}'",
      "'{28333440,28333380,28333370}'", "'{28334880,28333440,28333380}'", "100"}},
    // The same read when only totals are asked (PingCount {}): the heads,
    // one row per partition, nothing else (the tail is head - seq: gapless
    // sequences). The cheapest statement that proves a snapshot caught up.
    {"read_heads", "SELECT 0, kafka_partition::int8, next_seq - 1, raw_from FROM outbox_head", {}},
    // Pings per minute for the minutes [$1, $2): the minute buckets, one
    // index range per partition (O(minutes x partitions)).
    {"per_minute",
     "SELECT b.first_minute, sum(b.n)::int8 FROM outbox_head h"
     " CROSS JOIN LATERAL (SELECT x.first_minute, x.n FROM ping_buckets x"
     "   WHERE x.kafka_partition = h.kafka_partition AND x.grain = 1"
     "     AND x.first_minute >= $1 AND x.first_minute < $2) b GROUP BY 1",
     {"28333333", "28333393"}},
    // A resync (the rebuilder), in its REPEATABLE READ snapshot: the
    // partition's committed head and the lowest sequence whose raw row is
    // kept.
    {"seq_head",
     "SELECT next_seq - 1, raw_from FROM outbox_head WHERE kafka_partition = $1",
     {"0"}},
    // ... from sequence 0: its minute buckets from minute $2 on
    // (O(minutes retained)).
    {"seq_buckets",
     "SELECT first_minute, n FROM ping_buckets"
     " WHERE kafka_partition = $1 AND grain = 1 AND first_minute >= $2",
     {"0", "28333333"}},
    // ... from a sequence above 0: the rows (from, head] per minute from
    // minute $4 on, one index range (O(pings since the cache's sequence)).
    {"seq_minutes",
     "SELECT ms_to_minute(timestamptz_to_ms(pinged_at)), count(*)::int8 FROM pings"
     " WHERE kafka_partition = $1 AND relay_seq > $2 AND relay_seq <= $3"
     " AND pinged_at >= ms_to_timestamptz($4::int8 * 60000) GROUP BY 1",
     {"0", "100", "200", "28333333"}},
  };
  return all;
}

void prepare_count_statements(pqxx::connection& c) {
  // No JIT: every session of ours is opened with jit=off (with_timeouts()).
  for (auto& s : count_statements())
    c.prepare(s.name, s.sql);
}

failure classify(const std::exception& e) {
  failure f;
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) {
    f.kind = failure_kind::connection_lost;
    f.reconnect = true;
    f.error = caf::make_error(ping_errc::unavailable, "PostgreSQL is unreachable");
    return f;
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
    f.kind = failure_kind::outcome_unknown;
    f.reconnect = true;
    f.error = caf::make_error(ping_errc::unavailable, "commit outcome unknown");
    return f;
  }
  auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  if (sql == nullptr) {
    f.error = caf::make_error(ping_errc::unavailable, "database error");
    return f;
  }
  f.sqlstate = sql->sqlstate();
  const auto& state = f.sqlstate;
  if (state == statement_timeout_state) {
    // The server cancelled one statement; the session is fine.
    f.kind = failure_kind::timeout;
    f.error = caf::make_error(ping_errc::deadline_exceeded,
                              "PostgreSQL did not answer within the statement timeout");
  } else if (state.rfind("08", 0) == 0 || state.rfind("57", 0) == 0 || state == read_only_state) {
    f.kind = state == read_only_state ? failure_kind::read_only : failure_kind::connection_lost;
    f.reconnect = true;
    f.error = caf::make_error(ping_errc::unavailable, "PostgreSQL is unavailable");
  } else if (retryable_sqlstate(state)) {
    // A fault of the database, not of the statement: retryable.
    f.kind = failure_kind::transient;
    f.error = caf::make_error(ping_errc::unavailable, "PostgreSQL is unavailable (" + state + ")");
  } else {
    f.kind = failure_kind::statement;
    f.error = caf::make_error(ping_errc::internal, "database error " + state);
  }
  return f;
}

caf::error to_error(const std::exception& e) {
  return classify(e).error;
}

bool connection_failure(const std::exception& e) {
  return classify(e).reconnect;
}

bool writable(pqxx::transaction_base& txn) {
  auto r = txn.exec("SELECT NOT pg_is_in_recovery() "
                    "AND current_setting('transaction_read_only') = 'off'");
  return r[0][0].as<bool>();
}

const std::vector<statement>& relay_statements() {
  static const std::vector<statement> all{
    {"relay_select_pending", relay_select_sql, {"'{0,1,2}'", "'{333000,333000,333000}'", "2000"}},
    {"relay_advance_cursor", relay_advance_sql, {"'{0,1,2}'", "'{333100,333100,333100}'"}},
  };
  return all;
}

void prepare_relay_statements(pqxx::connection& c) {
  for (auto& s : relay_statements())
    c.prepare(s.name, s.sql);
}

std::vector<pending_row> pending(pqxx::transaction_base& txn, const std::vector<int64_t>& parts,
                                 const std::vector<int64_t>& after, int64_t batch) {
  auto res = txn.exec_prepared("relay_select_pending", array_literal(parts), array_literal(after),
                               batch);
  std::vector<pending_row> out;
  out.reserve(res.size());
  for (const auto& r : res) {
    pending_row row;
    row.partition = r[0].as<int32_t>();
    row.id = r[1].as<std::string>();
    row.pinged_ms = r[2].as<int64_t>();
    row.received_ms = r[3].as<int64_t>();
    row.seq = r[4].as<int64_t>();
    if (!r[5].is_null())
      row.trace_id = r[5].as<std::string>();
    out.push_back(std::move(row));
  }
  return out;
}

void advance_cursors(pqxx::transaction_base& txn, const std::vector<int64_t>& parts,
                     const std::vector<int64_t>& seqs) {
  txn.exec_prepared("relay_advance_cursor", array_literal(parts), array_literal(seqs));
}

bool try_lock_partition(pqxx::transaction_base& txn, int32_t partition) {
  return txn
    .exec_params("SELECT pg_try_advisory_lock($1::int4, $2::int4)", relay_lock_class,
                 partition)[0][0]
    .as<bool>();
}

int64_t claim_cursor(pqxx::transaction_base& txn, int32_t partition) {
  txn.exec_params("INSERT INTO outbox_cursor (kafka_partition) VALUES ($1::int2)"
                  " ON CONFLICT DO NOTHING",
                  partition);
  return txn
    .exec_params("SELECT acked_seq FROM outbox_cursor WHERE kafka_partition = $1::int2",
                 partition)[0][0]
    .as<int64_t>();
}

int64_t outbox_backlog(pqxx::transaction_base& txn) {
  return txn
    .exec("SELECT coalesce(sum(h.next_seq - 1 - c.acked_seq), 0) FROM outbox_head h "
          "JOIN outbox_cursor c USING (kafka_partition)")[0][0]
    .as<int64_t>();
}

void prepare_head_mark(pqxx::connection& c) {
  c.prepare("window_head_mark", head_mark_sql);
}

head_id head_mark(pqxx::transaction_base& txn, int32_t partition, int64_t seq) {
  auto r = txn.exec_prepared1("window_head_mark", partition, seq);
  head_id out;
  if (!r[0].is_null())
    out.head = r[0].as<int64_t>();
  if (!r[1].is_null())
    out.id = r[1].as<std::string>();
  return out;
}

int32_t drop_old_pings(pqxx::transaction_base& txn, int32_t days) {
  // DROP TABLE of a range waits for the readers of its parent: never long
  // (every count statement is short), and never longer than this.
  txn.exec("SET LOCAL lock_timeout = '2s'");
  return txn
    .exec_params("SELECT drop_old_pings(now() - make_interval(days => $1::int4))", days)[0][0]
    .as<int32_t>();
}

std::string array_literal(const std::vector<std::string>& values) {
  return join(values, [](const std::string& s) { return s; });
}

std::string array_literal(const std::vector<int64_t>& values) {
  return join(values, [](int64_t v) { return std::to_string(v); });
}

void prepare_writer_statements(pqxx::connection& c, int32_t partitions) {
  {
    // Every partition needs its sequence rows and raw ranges before the
    // first insert (migrations/0003_history.sql).
    pqxx::work txn{c};
    txn.exec("SELECT add_kafka_partitions(" + std::to_string(partitions) + ")");
    txn.commit();
  }
  c.prepare("insert_batch", insert_batch_sql);
  c.prepare("insert_keyed_batch", insert_keyed_batch_sql);
  prepare_count_statements(c);
}

std::vector<std::optional<int64_t>> parse_int8_array(std::string_view text, int64_t& lower) {
  auto bad = [&] {
    return std::invalid_argument("not an int8[] in text form: " + std::string{text.substr(0, 64)});
  };
  lower = 1;
  if (!text.empty() && text.front() == '[') {
    auto colon = text.find(':');
    auto eq = text.find("]=");
    if (colon == std::string_view::npos || eq == std::string_view::npos || colon > eq)
      throw bad();
    auto lo = text.substr(1, colon - 1);
    if (std::from_chars(lo.data(), lo.data() + lo.size(), lower).ptr != lo.data() + lo.size())
      throw bad();
    text.remove_prefix(eq + 2);
  }
  if (text.size() < 2 || text.front() != '{' || text.back() != '}')
    throw bad();
  text = text.substr(1, text.size() - 2);
  std::vector<std::optional<int64_t>> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    if (item == "NULL") {
      out.emplace_back();
    } else {
      int64_t v = 0;
      auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
      if (ec != std::errc{} || end != item.data() + item.size())
        throw bad();
      out.emplace_back(v);
    }
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

stored_batch store_batch(pqxx::connection& c, const std::vector<ping_row>& rows) {
  if (std::any_of(rows.begin(), rows.end(), [](const ping_row& r) { return !r.key.empty(); }))
    return store_keyed_batch(c, rows);
  std::vector<std::string> ids, traces;
  std::vector<int64_t> pinged, received, parts;
  ids.reserve(rows.size());
  pinged.reserve(rows.size());
  received.reserve(rows.size());
  parts.reserve(rows.size());
  for (const auto& r : rows) {
    ids.push_back(r.id);
    pinged.push_back(r.pinged_at_ms);
    received.push_back(r.received_at_ms);
    parts.push_back(r.partition);
  }
  if (std::any_of(rows.begin(), rows.end(), traced)) {
    traces.reserve(rows.size());
    for (const auto& r : rows)
      traces.push_back(trace_element(r));
  }
  pqxx::result res;
  {
    pqxx::nontransaction txn{c}; // autocommit: the statement is the transaction
    res = txn.exec_prepared("insert_batch", array_literal(ids), array_literal(pinged),
                            array_literal(received), array_literal(parts), array_literal(traces));
  }
  // The first position of each partition; the batch's rows of a partition
  // follow it in the batch's order (store_pings()).
  int64_t lower = 1;
  auto firsts = parse_int8_array(res[0][0].c_str(), lower);
  stored_batch out;
  out.stored = static_cast<int64_t>(rows.size());
  out.seqs.reserve(rows.size());
  std::vector<int64_t> next;
  for (const auto& r : rows) {
    auto i = static_cast<int64_t>(r.partition) + 1 - lower;
    if (i < 0 || i >= static_cast<int64_t>(firsts.size()) || !firsts[static_cast<size_t>(i)])
      throw std::runtime_error("store_pings() returned no position for partition "
                               + std::to_string(r.partition));
    auto k = static_cast<size_t>(i);
    if (next.size() <= k)
      next.resize(k + 1, 0);
    out.seqs.push_back(*firsts[k] + next[k]++);
  }
  return out;
}

int64_t insert_batch(pqxx::connection& c, const std::vector<ping_row>& rows) {
  return store_batch(c, rows).stored;
}

namespace {

constexpr int64_t floor_div(int64_t a, int64_t b) {
  auto q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

constexpr int64_t ceil_div(int64_t a, int64_t b) {
  return -floor_div(-a, b);
}

// Covers the whole minutes [lo, hi) with the fewest buckets: the largest
// grain first, the smaller ones for what is left on either side.
void cover(int64_t lo, int64_t hi, size_t level, range_cover& out) {
  static constexpr int32_t grains[] = {1440, 60, 1};
  if (lo >= hi)
    return;
  auto g = grains[level];
  if (g == 1) {
    out.grains.push_back(1);
    out.lo.push_back(lo);
    out.hi.push_back(hi);
    return;
  }
  auto a = ceil_div(lo, g) * g;
  auto b = floor_div(hi, g) * g;
  if (a >= b) {
    cover(lo, hi, level + 1, out);
    return;
  }
  out.grains.push_back(g);
  out.lo.push_back(a);
  out.hi.push_back(b);
  cover(lo, a, level + 1, out);
  cover(b, hi, level + 1, out);
}

} // namespace

range_cover cover_range(int64_t start_ms, int64_t end_ms) {
  range_cover out;
  if (start_ms >= end_ms)
    return out;
  auto first = ceil_div(start_ms, ms_per_minute); // first whole minute
  auto last = floor_div(end_ms, ms_per_minute);   // end of the whole minutes
  if (first > last) {                             // inside one minute
    out.edge_minute.push_back(last);
    out.edge_lo.push_back(start_ms);
    out.edge_hi.push_back(end_ms);
    return out;
  }
  cover(first, last, 0, out);
  if (start_ms < first * ms_per_minute) {
    out.edge_minute.push_back(first - 1);
    out.edge_lo.push_back(start_ms);
    out.edge_hi.push_back(first * ms_per_minute);
  }
  if (end_ms > last * ms_per_minute) {
    out.edge_minute.push_back(last);
    out.edge_lo.push_back(last * ms_per_minute);
    out.edge_hi.push_back(end_ms);
  }
  return out;
}

read_plan plan_read(const std::vector<time_range>& ranges) {
  read_plan out;
  out.range_pieces.resize(ranges.size());
  out.range_edges.resize(ranges.size());
  struct asked {
    size_t range;
    int64_t lo, hi;
  };
  std::map<int32_t, std::vector<asked>> by_grain;
  std::map<std::tuple<int64_t, int64_t, int64_t>, int32_t> edges;
  for (size_t i = 0; i < ranges.size(); ++i) {
    auto& r = ranges[i];
    if (!r.bounded || r.start_ms >= r.end_ms)
      continue; // the total (from the heads), or empty
    auto c = cover_range(r.start_ms, r.end_ms);
    for (size_t k = 0; k < c.grains.size(); ++k)
      by_grain[c.grains[k]].push_back({i, c.lo[k], c.hi[k]});
    for (size_t k = 0; k < c.edge_minute.size(); ++k) {
      auto [it, added] = edges.try_emplace({c.edge_minute[k], c.edge_lo[k], c.edge_hi[k]},
                                           static_cast<int32_t>(out.edge_minute.size()));
      if (added) {
        out.edge_minute.push_back(c.edge_minute[k]);
        out.edge_lo.push_back(c.edge_lo[k]);
        out.edge_hi.push_back(c.edge_hi[k]);
      }
      out.range_edges[i].push_back(it->second);
    }
  }
  // Per grain, every end of every bucket range asked splits the minutes
  // into pieces; a piece inside some bucket range is read once. Ends are
  // multiples of the grain, so each piece is whole buckets.
  for (auto& [g, xs] : by_grain) {
    std::vector<int64_t> ends;
    ends.reserve(2 * xs.size());
    for (auto& x : xs) {
      ends.push_back(x.lo);
      ends.push_back(x.hi);
    }
    std::sort(ends.begin(), ends.end());
    ends.erase(std::unique(ends.begin(), ends.end()), ends.end());
    std::vector<int32_t> id(ends.size(), -1);
    auto at = [&](int64_t v) {
      return static_cast<size_t>(std::lower_bound(ends.begin(), ends.end(), v) - ends.begin());
    };
    for (auto& x : xs) {
      for (auto k = at(x.lo), end = at(x.hi); k < end; ++k) {
        if (id[k] < 0) {
          id[k] = static_cast<int32_t>(out.grains.size());
          out.grains.push_back(g);
          out.lo.push_back(ends[k]);
          out.hi.push_back(ends[k + 1]);
        }
        out.range_pieces[x.range].push_back(id[k]);
      }
    }
  }
  return out;
}

std::optional<int64_t> count(pqxx::transaction_base& txn, const time_range& range) {
  if (!range.bounded) {
    auto res = txn.exec_prepared("count_all");
    return res[0][0].as<int64_t>();
  }
  auto c = cover_range(range.start_ms, range.end_ms);
  std::vector<int64_t> grains(c.grains.begin(), c.grains.end());
  auto res = txn.exec_prepared("count_range", array_literal(grains), array_literal(c.lo),
                               array_literal(c.hi), array_literal(c.edge_minute),
                               array_literal(c.edge_lo), array_literal(c.edge_hi));
  if (!res[0][1].as<bool>())
    return std::nullopt;
  return res[0][0].as<int64_t>();
}

tail_counts tail(pqxx::transaction_base& txn, const std::vector<int64_t>& seqs, bool per_minute) {
  std::vector<int64_t> parts(seqs.size());
  for (size_t p = 0; p < parts.size(); ++p)
    parts[p] = static_cast<int64_t>(p);
  auto res = txn.exec_prepared(per_minute ? "tail_minutes" : "tail_total", array_literal(parts),
                               array_literal(seqs));
  tail_counts out;
  for (const auto& row : res) {
    out.consistent = out.consistent && row[0].as<bool>();
    if (per_minute) {
      if (row[1].is_null())
        continue; // an empty tail: the one row says only `ok`
      auto n = row[2].as<int64_t>();
      out.minutes.emplace_back(row[1].as<int64_t>(), n);
      out.total += n;
    } else {
      out.total += row[2].as<int64_t>();
    }
  }
  return out;
}

namespace {

// sql::read in one of its forms: `sparse` counts the edges from their raw
// rows alone (read_counts_sparse), else from the seconds of dense minutes
// too (read_counts); a read without edges is read_counts_whole either way.
read_counts read_in_form(pqxx::transaction_base& txn, const std::vector<int64_t>& seqs,
                         bool per_minute, const std::vector<time_range>& ranges, bool sparse,
                         read_form& ran) {
  // Each bucket row and each edge probe once, however many ranges share it
  // (plan_read); the statement's key of kind 2 is a piece, of kind 3 an edge.
  auto plan = plan_read(ranges);
  std::vector<int64_t> b_range, b_grain(plan.grains.begin(), plan.grains.end()), e_range;
  for (size_t k = 0; k < plan.grains.size(); ++k)
    b_range.push_back(static_cast<int64_t>(k));
  for (size_t k = 0; k < plan.edge_minute.size(); ++k)
    e_range.push_back(static_cast<int64_t>(k));
  auto& b_lo = plan.lo;
  auto& b_hi = plan.hi;
  auto& e_minute = plan.edge_minute;
  auto& e_lo = plan.edge_lo;
  auto& e_hi = plan.edge_hi;
  per_minute = per_minute && !seqs.empty();
  pqxx::result res;
  if (!per_minute && b_range.empty() && e_range.empty()) {
    ran = read_form::heads;
    res = txn.exec_prepared("read_heads");
  } else {
    std::vector<int64_t> parts(seqs.size());
    for (size_t p = 0; p < parts.size(); ++p)
      parts[p] = static_cast<int64_t>(p);
    // The tail's rows lie above the lowest sequence of the snapshot ($12, a
    // parameter: the raw ranges below it are pruned when the executor
    // starts, not opened; all of them when no tail is read).
    auto tail_floor = per_minute ? *std::min_element(seqs.begin(), seqs.end())
                                 : std::numeric_limits<int64_t>::max();
    ran = e_range.empty() ? read_form::whole : sparse ? read_form::sparse : read_form::any;
    if (e_range.empty())
      res = txn.exec_prepared("read_counts_whole", array_literal(parts), array_literal(seqs),
                              per_minute, array_literal(b_range), array_literal(b_grain),
                              array_literal(b_lo), array_literal(b_hi), tail_floor);
    else
      res = txn.exec_prepared(sparse ? "read_counts_sparse" : "read_counts", array_literal(parts),
                              array_literal(seqs), per_minute, array_literal(b_range),
                              array_literal(b_grain), array_literal(b_lo), array_literal(b_hi),
                              array_literal(e_range), array_literal(e_minute), array_literal(e_lo),
                              array_literal(e_hi), tail_floor);
  }
  read_counts out;
  out.ranges.assign(ranges.size(), 0);
  std::vector<bool> seen(seqs.size(), false), complete(e_range.size(), true);
  std::vector<int64_t> piece_n(b_range.size(), 0), edge_n(e_range.size(), 0);
  int64_t all = 0;
  auto& tail = out.tail;
  for (const auto& row : res) {
    auto key = row[1].as<int64_t>();
    auto a = row[2].as<int64_t>();
    auto b = row[3].as<int64_t>();
    switch (row[0].as<int>()) {
      case 0: { // a partition's head (a) and lowest kept raw row (b)
        all += a;
        auto p = static_cast<size_t>(key);
        if (key < 0 || p >= seqs.size()) {
          // Not in the snapshot: consistent only when it holds no ping
          // (with no snapshot at all, everything is the tail).
          if (!seqs.empty() && a > 0)
            tail.consistent = false;
          if (seqs.empty())
            tail.total += a;
          break;
        }
        seen[p] = true;
        auto seq = seqs[p];
        if (a < seq || (per_minute && a > seq && b > seq + 1))
          tail.consistent = false; // claims more than stored, or raw rows gone
        tail.total += std::max<int64_t>(a - seq, 0);
        break;
      }
      case 1:
        tail.minutes.emplace_back(key, a);
        break;
      case 2: // a piece's buckets
        if (key >= 0 && static_cast<size_t>(key) < piece_n.size())
          piece_n[static_cast<size_t>(key)] += a;
        break;
      case 3: // an edge's pings, and whether its raw rows are complete
        if (key >= 0 && static_cast<size_t>(key) < edge_n.size()) {
          edge_n[static_cast<size_t>(key)] += a;
          if (b == 0)
            complete[static_cast<size_t>(key)] = false;
        }
        break;
      default:
        break;
    }
  }
  for (size_t p = 0; p < seqs.size(); ++p)
    if (!seen[p] && seqs[p] > 0)
      tail.consistent = false; // a sequence PostgreSQL has no head for
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (!ranges[i].bounded) {
      out.ranges[i] = all;
      continue;
    }
    int64_t n = 0;
    bool whole = true;
    for (auto k : plan.range_pieces[i])
      n += piece_n[static_cast<size_t>(k)];
    for (auto k : plan.range_edges[i]) {
      n += edge_n[static_cast<size_t>(k)];
      whole = whole && complete[static_cast<size_t>(k)];
    }
    out.ranges[i] = whole ? n : -1;
  }
  return out;
}

} // namespace

read_counts read(pqxx::transaction_base& txn, const std::vector<int64_t>& seqs, bool per_minute,
                 const std::vector<time_range>& ranges, int64_t edge_pings, read_form* ran) {
  read_form form{};
  if (ran == nullptr)
    ran = &form;
  // More than sparse_minute_pings in an edge minute (over all
  // partitions): it may be dense in one of them, so read_counts at once.
  if (edge_pings > sparse_minute_pings)
    return read_in_form(txn, seqs, per_minute, ranges, false, *ran);
  auto out = read_in_form(txn, seqs, per_minute, ranges, true, *ran);
  // An edge with more raw rows than a sparse minute holds (a dense minute
  // the cache did not know of), or whose raw rows retention dropped (its
  // seconds may still count it): read again by read_counts. A new
  // statement, so a new snapshot, taken after the first: the answers stay
  // read-your-writes.
  if (*ran == read_form::sparse
      && std::any_of(out.ranges.begin(), out.ranges.end(), [](int64_t n) { return n < 0; })) {
    out = read_in_form(txn, seqs, per_minute, ranges, false, *ran);
    *ran = read_form::sparse_then_any;
  }
  return out;
}

sequence_counts count_sequences(pqxx::transaction_base& txn, int32_t partition, int64_t from_seq,
                                int64_t min_minute) {
  sequence_counts out;
  auto head = txn.exec_prepared("seq_head", partition);
  if (head.empty()) {
    out.head = from_seq; // no such partition yet: nothing to add
    return out;
  }
  out.head = head[0][0].as<int64_t>();
  auto raw_from = head[0][1].as<int64_t>();
  if (out.head <= from_seq) {
    out.head = from_seq; // nothing above it (or PostgreSQL holds less: nothing to add)
    return out;
  }
  out.count = out.head - from_seq; // gapless sequences
  if (from_seq == 0) {
    // Everything: the partition's minute buckets, exact at the head of
    // this snapshot.
    for (const auto& row : txn.exec_prepared("seq_buckets", partition, min_minute))
      out.minutes.emplace_back(row[0].as<int64_t>(), row[1].as<int64_t>());
    return out;
  }
  if (raw_from > from_seq + 1)
    throw raw_rows_dropped{"partition " + std::to_string(partition)
                           + " keeps raw rows from sequence " + std::to_string(raw_from)
                           + " on; the cache stands at " + std::to_string(from_seq)
                           + ": rebuild the cache (RebuildCache) to recount it from the buckets"};
  for (const auto& row :
       txn.exec_prepared("seq_minutes", partition, from_seq, out.head, min_minute))
    out.minutes.emplace_back(row[0].as<int64_t>(), row[1].as<int64_t>());
  return out;
}

std::vector<outbox_position> outbox_positions(pqxx::transaction_base& txn) {
  std::vector<outbox_position> out;
  for (const auto& row :
       txn.exec("SELECT h.kafka_partition, h.next_seq - 1, coalesce(c.acked_seq, 0) "
                "FROM outbox_head h LEFT JOIN outbox_cursor c USING (kafka_partition) "
                "ORDER BY h.kafka_partition"))
    out.push_back({row[0].as<int32_t>(), row[1].as<int64_t>(), row[2].as<int64_t>()});
  return out;
}

std::vector<int64_t> per_minute(pqxx::transaction_base& txn, int64_t first_minute, int32_t n) {
  std::vector<int64_t> out(static_cast<size_t>(std::max(0, n)), 0);
  for (const auto& row : txn.exec_prepared("per_minute", first_minute, first_minute + n)) {
    auto i = row[0].as<int64_t>() - first_minute;
    if (i >= 0 && i < n)
      out[static_cast<size_t>(i)] = row[1].as<int64_t>();
  }
  return out;
}

// Idempotency keys (issue 19 item 13; migrations/0010_ping_keys.sql).
// Keys are validated by the gateway (gateway::idempotency_key: letters,
// digits and - _ . : ~ + / =), so quoting each element is enough for the
// array literal.
stored_batch store_keyed_batch(pqxx::connection& c, const std::vector<ping_row>& rows) {
  std::vector<std::string> ids, keys, traces;
  std::vector<int64_t> pinged, received, parts, keep;
  for (const auto& r : rows) {
    ids.push_back(r.id);
    pinged.push_back(r.pinged_at_ms);
    received.push_back(r.received_at_ms);
    parts.push_back(r.partition);
    keys.push_back('"' + r.key + '"');
    keep.push_back(r.key_ttl_ms);
  }
  if (std::any_of(rows.begin(), rows.end(), traced)) {
    traces.reserve(rows.size());
    for (const auto& r : rows)
      traces.push_back(trace_element(r));
  }
  pqxx::result res;
  {
    pqxx::nontransaction txn{c}; // autocommit: the statement is the transaction
    res = txn.exec_prepared("insert_keyed_batch", array_literal(ids), array_literal(pinged),
                            array_literal(received), array_literal(parts), array_literal(keys),
                            array_literal(keep), array_literal(traces));
  }
  stored_batch out;
  out.seqs.assign(rows.size(), 0);
  if (res[0][0].is_null())
    return out; // an empty batch
  int64_t lower = 1;
  auto seqs = parse_int8_array(res[0][0].c_str(), lower);
  if (lower != 1 || seqs.size() != rows.size())
    throw std::runtime_error("store_keyed_pings() returned " + std::to_string(seqs.size())
                             + " positions for " + std::to_string(rows.size()) + " pings");
  for (size_t i = 0; i < seqs.size(); ++i)
    if (seqs[i]) {
      out.seqs[i] = *seqs[i];
      ++out.stored;
    }
  return out;
}

bool retryable_sqlstate(const std::string& s) {
  auto cls = s.substr(0, 2);
  return cls == "40" || cls == "53" || cls == "58" || s == "55P03" || s == "25006";
}

} // namespace ping::persistence::sql

namespace ping::persistence {

int migrate(const std::string& dsn) {
  // One arbitrary, fixed key for "Ping schema migrations".
  constexpr int64_t lock_key = 0x50494e47'4d494752; // "PINGMIGR"
  pqxx::connection conn{dsn};
  pqxx::nontransaction session{conn};
  session.exec("SELECT pg_advisory_lock(" + std::to_string(lock_key) + ")");
  int applied = 0;
  try {
    session.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version integer PRIMARY KEY,"
                 " name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())");
    for (auto& m : migrations()) {
      auto done = session.exec("SELECT 1 FROM schema_migrations WHERE version = "
                               + std::to_string(m.version));
      if (!done.empty())
        continue;
      session.exec("BEGIN");
      try {
        session.exec(m.sql);
        session.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                            m.version, std::string{m.name});
        session.exec("COMMIT");
      } catch (...) {
        session.exec("ROLLBACK");
        throw;
      }
      ++applied;
      log::info("migrate", "applied migration",
                {{"version", std::to_string(m.version)}, {"name", m.name}});
    }
  } catch (...) {
    session.exec("SELECT pg_advisory_unlock(" + std::to_string(lock_key) + ")");
    throw;
  }
  session.exec("SELECT pg_advisory_unlock(" + std::to_string(lock_key) + ")");
  return applied;
}

} // namespace ping::persistence
