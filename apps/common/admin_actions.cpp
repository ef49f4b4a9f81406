#include "apps/common/admin_actions.hpp"

#include <chrono>

#include "actors/common/ids.hpp"
#include "gateways/common/ask.hpp"
#include "gateways/common/status.hpp"
#include "ping/admin/v1/admin.pb.h"

namespace ping::apps {

void fail_with(const connectrpc::responder& done, const caf::error& err) {
  auto st = gateways::to_rpc_status(err);
  done.fail(static_cast<connectrpc::code>(static_cast<int>(st.code)), st.message);
}

namespace {

void answer(const connectrpc::responder& done, int64_t first, const std::vector<int64_t>& xs,
            const char* source) {
  ping::admin::v1::GetMinuteCountsResponse resp;
  resp.set_source(source);
  for (size_t i = 0; i < xs.size(); ++i) {
    auto* m = resp.add_minutes();
    m->set_minute(first + static_cast<int64_t>(i));
    m->set_count(xs[i]);
  }
  done.ok(resp);
}

} // namespace

void minute_counts(caf::actor_system& sys, const cache::cache_actor& counts,
                   minutes_source fallback, int32_t minutes, connectrpc::responder done) {
  constexpr int64_t minute_ms = 60'000;
  auto last = now_ms() / minute_ms;
  auto first = last - minutes + 1;
  time_range range{true, first * minute_ms, (last + 1) * minute_ms};
  auto from_fallback = [done, first, minutes, fallback] {
    if (!fallback) {
      done.fail(connectrpc::code::unavailable,
                "the cache cannot answer right now (cold, rebuilding or unreachable)");
      return;
    }
    fallback(
      first, minutes,
      [done, first](std::vector<int64_t> xs) { answer(done, first, xs, "postgres"); },
      [done](caf::error e) { fail_with(done, e); });
  };
  gateways::ask<cache::cache_answer>(
    sys, counts, std::chrono::seconds(1),
    [done, first, minutes, from_fallback](cache::cache_answer& a) {
      if (a.found && a.buckets.size() == static_cast<size_t>(minutes))
        answer(done, first, a.buckets, "cache");
      else
        from_fallback();
    },
    [from_fallback](caf::error&) { from_fallback(); }, count_atom::value, range);
}

} // namespace ping::apps
