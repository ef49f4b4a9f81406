// GetLag: the processor's consumer lag per partition and in total.
#include "admin/rpc/rpc.hpp"

#include <map>

#include "ping/admin/v1/admin.pb.h"

namespace ping::admin::rpc {

connectrpc::handler get_lag(context_ptr ctx) {
  namespace v1 = ping::admin::v1;
  return connectrpc::typed_handler<v1::GetLagRequest>(
    [ctx](std::unique_ptr<v1::GetLagRequest>, connectrpc::call_context,
          connectrpc::responder done) {
      // The families are replaced one after another: match them by
      // partition, not by position in the list.
      auto by_partition = [&reg = ctx->reg](const char* family) {
        std::map<int32_t, int64_t> out; // in partition order
        for (auto& [label, value] : reg.get_family(family).values)
          out[std::stoi(label)] = value;
        return out;
      };
      auto at = [](const std::map<int32_t, int64_t>& m, int32_t partition) {
        auto it = m.find(partition);
        return it == m.end() ? int64_t{0} : it->second;
      };
      auto ends = by_partition("processor_partition_end_offset");
      auto positions = by_partition("processor_partition_position");
      v1::GetLagResponse resp;
      int64_t total = 0;
      for (auto& [partition, lag] : by_partition("processor_consumer_lag")) {
        auto* out = resp.add_partitions();
        out->set_partition(partition);
        out->set_end_offset(at(ends, partition));
        out->set_position(at(positions, partition));
        out->set_lag(lag);
        total += lag;
      }
      resp.set_total_lag(total);
      resp.set_paused(paused(*ctx));
      done.ok(resp);
    });
}

} // namespace ping::admin::rpc
