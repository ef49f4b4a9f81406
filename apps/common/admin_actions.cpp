#include "apps/common/admin_actions.hpp"

#include <chrono>

#include "actors/common/ids.hpp"
#include "actors/common/types.hpp"
#include "gateways/common/status.hpp"
#include "ping/admin/v1/admin.pb.h"

namespace ping::apps {

void fail_with(const connectrpc::responder& done, const caf::error& err) {
  auto st = gateways::to_rpc_status(err);
  done.fail(static_cast<connectrpc::code>(static_cast<int>(st.code)), st.message);
}

namespace {

void answer(const connectrpc::responder& done, int64_t first, const std::vector<int64_t>& xs,
            const std::string& source) {
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

void minute_counts(const minutes_source& source, int32_t minutes,
                   connectrpc::responder done) {
  auto first = minute_of(now_ms()) - minutes + 1;
  source(
    first, minutes,
    [done, first](std::vector<int64_t> xs, std::string from) {
      answer(done, first, xs, from);
    },
    [done](caf::error e) { fail_with(done, e); });
}

} // namespace ping::apps
