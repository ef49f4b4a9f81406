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

void minute_counts_from_cache(caf::actor_system& sys, const cache::cache_actor& counts,
                              int32_t minutes, connectrpc::responder done) {
  constexpr int64_t minute_ms = 60'000;
  auto last = now_ms() / minute_ms;
  auto first = last - minutes + 1;
  time_range range{true, first * minute_ms, (last + 1) * minute_ms};
  gateways::ask<cache::cache_answer>(
    sys, counts, std::chrono::seconds(1),
    [done, first](cache::cache_answer& a) {
      if (!a.found) {
        done.fail(connectrpc::code::unavailable,
                  "the cache cannot answer right now (cold, rebuilding or unreachable)");
        return;
      }
      ping::admin::v1::GetMinuteCountsResponse resp;
      resp.set_source("cache");
      for (size_t i = 0; i < a.buckets.size(); ++i) {
        auto* m = resp.add_minutes();
        m->set_minute(first + static_cast<int64_t>(i));
        m->set_count(a.buckets[i]);
      }
      done.ok(resp);
    },
    [done](caf::error& e) { fail_with(done, e); }, count_atom::value, range);
}

} // namespace ping::apps
