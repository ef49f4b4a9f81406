#include "gateways/grpc/reflection_v1.hpp"

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>

#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace ping::gateways {

namespace {

namespace pb = google::protobuf;
namespace rv1 = grpc::reflection::v1;

// --- answering one request --------------------------------------------------

void set_error(rv1::ServerReflectionResponse& resp, grpc::StatusCode code, std::string message) {
  auto* err = resp.mutable_error_response();
  err->set_error_code(static_cast<int32_t>(code));
  err->set_error_message(std::move(message));
}

// Adds `root` and, breadth-first, every file it imports (transitively), each
// once, as serialized FileDescriptorProtos. Clients need the dependencies to
// build the descriptor, and may not have asked for them before.
void add_file_with_deps(const pb::FileDescriptor* root, rv1::ServerReflectionResponse& resp) {
  auto* out = resp.mutable_file_descriptor_response();
  std::unordered_set<std::string> seen{root->name()};
  std::vector<const pb::FileDescriptor*> queue{root};
  for (std::size_t i = 0; i < queue.size(); ++i) {
    const auto* file = queue[i];
    pb::FileDescriptorProto proto;
    file->CopyTo(&proto);
    out->add_file_descriptor_proto(proto.SerializeAsString());
    for (int d = 0; d < file->dependency_count(); ++d) {
      const auto* dep = file->dependency(d);
      if (seen.insert(dep->name()).second)
        queue.push_back(dep);
    }
  }
}

void answer(const std::vector<std::string>& services, const rv1::ServerReflectionRequest& req,
            rv1::ServerReflectionResponse& resp) {
  using req_t = rv1::ServerReflectionRequest;
  const auto* pool = pb::DescriptorPool::generated_pool();
  resp.set_valid_host(req.host());
  *resp.mutable_original_request() = req;
  switch (req.message_request_case()) {
    case req_t::kListServices: {
      auto* out = resp.mutable_list_services_response();
      for (const auto& name : services)
        out->add_service()->set_name(name);
      return;
    }
    case req_t::kFileByFilename: {
      if (const auto* file = pool->FindFileByName(req.file_by_filename()))
        add_file_with_deps(file, resp);
      else
        set_error(resp, grpc::StatusCode::NOT_FOUND, "file not found: " + req.file_by_filename());
      return;
    }
    case req_t::kFileContainingSymbol: {
      const auto& symbol = req.file_containing_symbol();
      if (const auto* file = pool->FindFileContainingSymbol(symbol))
        add_file_with_deps(file, resp);
      else
        set_error(resp, grpc::StatusCode::NOT_FOUND, "symbol not found: " + symbol);
      return;
    }
    case req_t::kFileContainingExtension: {
      const auto& ext = req.file_containing_extension();
      const auto* type = pool->FindMessageTypeByName(ext.containing_type());
      if (type == nullptr) {
        set_error(resp, grpc::StatusCode::NOT_FOUND, "type not found: " + ext.containing_type());
        return;
      }
      const auto* field = pool->FindExtensionByNumber(type, ext.extension_number());
      if (field == nullptr) {
        set_error(resp, grpc::StatusCode::NOT_FOUND,
                  "extension not found: " + ext.containing_type() + " "
                    + std::to_string(ext.extension_number()));
        return;
      }
      add_file_with_deps(field->file(), resp);
      return;
    }
    case req_t::kAllExtensionNumbersOfType: {
      const auto& name = req.all_extension_numbers_of_type();
      const auto* type = pool->FindMessageTypeByName(name);
      if (type == nullptr) {
        set_error(resp, grpc::StatusCode::NOT_FOUND, "type not found: " + name);
        return;
      }
      std::vector<const pb::FieldDescriptor*> fields;
      pool->FindAllExtensions(type, &fields);
      auto* out = resp.mutable_all_extension_numbers_response();
      out->set_base_type_name(type->full_name());
      for (const auto* field : fields)
        out->add_extension_number(field->number());
      return;
    }
    case req_t::MESSAGE_REQUEST_NOT_SET:
      break;
  }
  set_error(resp, grpc::StatusCode::INVALID_ARGUMENT, "no message_request set");
}

// --- the service -------------------------------------------------------------

class reflection_service final : public rv1::ServerReflection::CallbackService {
public:
  // Called once by the plugin after the server has started.
  void set_services(std::vector<std::string> names) {
    std::lock_guard<std::mutex> guard{mtx_};
    services_ = std::move(names);
  }

  std::vector<std::string> services() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return services_;
  }

  grpc::ServerBidiReactor<rv1::ServerReflectionRequest, rv1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext*) override {
    return new stream(*this);
  }

private:
  // One reflection stream: read a request, write its answer, repeat until
  // the client half-closes (or the call is cancelled). Deletes itself in
  // OnDone, which gRPC calls once after Finish and all operations complete.
  class stream final
    : public grpc::ServerBidiReactor<rv1::ServerReflectionRequest, rv1::ServerReflectionResponse> {
  public:
    explicit stream(const reflection_service& svc) : svc_(svc) { StartRead(&req_); }

    void OnReadDone(bool ok) override {
      if (!ok) { // half-close or cancellation
        Finish(grpc::Status::OK);
        return;
      }
      resp_.Clear();
      answer(svc_.services(), req_, resp_);
      StartWrite(&resp_);
    }

    void OnWriteDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
        return;
      }
      StartRead(&req_);
    }

    void OnDone() override { delete this; }

  private:
    const reflection_service& svc_;
    rv1::ServerReflectionRequest req_;
    rv1::ServerReflectionResponse resp_;
  };

  mutable std::mutex mtx_;
  std::vector<std::string> services_;
};

// Registers the service before the server starts, and hands it the server's
// service list once it has started: the built-in health service is only
// registered in Server::Start.
class reflection_plugin final : public grpc::ServerBuilderPlugin {
public:
  std::string name() override { return "ping_reflection_v1"; }

  void InitServer(grpc::ServerInitializer* si) override { si->RegisterService(svc_); }

  void Finish(grpc::ServerInitializer* si) override { svc_->set_services(*si->GetServiceList()); }

  void ChangeArguments(const std::string&, void*) override {}

private:
  std::shared_ptr<reflection_service> svc_ = std::make_shared<reflection_service>();
};

class reflection_option final : public grpc::ServerBuilderOption {
public:
  void UpdateArguments(grpc::ChannelArguments*) override {}

  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->push_back(std::make_unique<reflection_plugin>());
  }
};

} // namespace

std::unique_ptr<grpc::ServerBuilderOption> make_reflection_v1_option() {
  return std::make_unique<reflection_option>();
}

} // namespace ping::gateways
