// The commands Flush, PauseConsumption, ResumeConsumption and RebuildCache:
// refused with the read-only token, answered `unimplemented` on a node that
// does not offer them, logged (an audit line), then handed to the node,
// which answers when the actor concerned replied.
#include "admin/rpc/rpc.hpp"

#include <algorithm>
#include <chrono>

#include <google/protobuf/message.h>

#include "actors/common/log.hpp"
#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::rpc {

namespace {

using clock = std::chrono::steady_clock;

// The response of command `c` that acted on `partitions`.
void answer(const connectrpc::responder& done, command c, int32_t partitions,
            clock::time_point started) {
  switch (c) {
    case command::flush: {
      v1::FlushResponse resp;
      resp.set_partitions(partitions);
      resp.set_complete(true);
      return done.ok(resp);
    }
    case command::pause: {
      v1::PauseConsumptionResponse resp;
      resp.set_paused(true);
      resp.set_partitions(partitions);
      return done.ok(resp);
    }
    case command::resume: {
      v1::ResumeConsumptionResponse resp;
      resp.set_paused(false);
      resp.set_partitions(partitions);
      return done.ok(resp);
    }
    case command::rebuild_cache: {
      v1::RebuildCacheResponse resp;
      resp.set_partitions(partitions);
      resp.set_duration_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count());
      return done.ok(resp);
    }
  }
}

void start(node& self, command c, reply<int32_t> done) {
  switch (c) {
    case command::flush:
      return self.flush(std::move(done));
    case command::pause:
      return self.pause(std::move(done));
    case command::resume:
      return self.resume(std::move(done));
    case command::rebuild_cache:
      return self.rebuild_cache(std::move(done));
  }
}

} // namespace

void fail(const connectrpc::responder& done, const failure& f) {
  done.fail(f.code, f.message);
}

connectrpc::handler run_command(context_ptr ctx, command c) {
  return [ctx, c](std::unique_ptr<google::protobuf::Message>, const connectrpc::call_context& call,
                  connectrpc::responder done) {
    std::string method{method_of(c)};
    if (ctx->auth.read_only(call)) {
      done.fail(connectrpc::code::permission_denied,
                method + " needs the admin token; the read-only token may not run commands");
      return;
    }
    auto offered = ctx->self.commands();
    if (std::find(offered.begin(), offered.end(), c) == offered.end())
      return fail(done, ctx->self.unimplemented(c));
    log::info("admin", "command", {{"method", method}});
    start(ctx->self, c, [done, c, started = clock::now()](outcome<int32_t> r) {
      if (auto* f = std::get_if<failure>(&r))
        return fail(done, *f);
      answer(done, c, std::get<int32_t>(r), started);
    });
  };
}

} // namespace ping::admin::rpc
