// procedures_for(): descriptor-driven construction of routes, and small
// call_context helpers. No I/O here.

#include "connectrpc/server.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/message.h>

#include <stdexcept>

namespace connectrpc {

const std::string* call_context::header(std::string_view lower_name) const noexcept {
  for (const auto& [name, value] : headers) {
    if (name == lower_name)
      return &value;
  }
  return nullptr;
}

std::vector<procedure> procedures_for(const google::protobuf::ServiceDescriptor& service,
                                      std::map<std::string, handler> handlers,
                                      google::protobuf::MessageFactory* factory) {
  if (factory == nullptr)
    factory = google::protobuf::MessageFactory::generated_factory();
  std::vector<procedure> out;
  for (int i = 0; i < service.method_count(); ++i) {
    const google::protobuf::MethodDescriptor& m = *service.method(i);
    if (m.client_streaming() || m.server_streaming())
      continue; // unary only
    procedure p;
    p.path = "/" + service.full_name() + "/" + m.name();
    p.request_prototype = factory->GetPrototype(m.input_type());
    p.response_prototype = factory->GetPrototype(m.output_type());
    if (p.request_prototype == nullptr || p.response_prototype == nullptr) {
      throw std::invalid_argument("connectrpc: no prototype for " + p.path);
    }
    p.no_side_effects = m.options().idempotency_level()
                        == google::protobuf::MethodOptions::NO_SIDE_EFFECTS;
    if (auto it = handlers.find(m.name()); it != handlers.end()) {
      p.fn = std::move(it->second);
      handlers.erase(it);
    } else {
      p.fn = [path = p.path](std::unique_ptr<google::protobuf::Message>, const call_context&,
                             responder done) {
        done.fail(code::unimplemented, path + " is not implemented");
      };
    }
    out.push_back(std::move(p));
  }
  if (!handlers.empty()) {
    throw std::invalid_argument("connectrpc: " + service.full_name() + " has no unary method '"
                                + handlers.begin()->first + "'");
  }
  return out;
}

} // namespace connectrpc
