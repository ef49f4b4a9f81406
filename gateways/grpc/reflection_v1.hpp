#pragma once
// grpc.reflection.v1.ServerReflection for gRPC 1.51, whose reflection plugin
// serves only v1alpha. Private to the gRPC front-end.

#include <memory>

#include <grpcpp/impl/server_builder_option.h>

namespace ping::gateways {

/// A ServerBuilder option that adds grpc.reflection.v1.ServerReflection to
/// the server being built: `builder.SetOption(make_reflection_v1_option())`.
///
/// The service answers list_services with the services registered on that
/// server (read once the server has started, so the built-in health service
/// is included) and every file query from the generated descriptor pool,
/// each file with its transitive dependencies. Unknown names get an
/// error_response with NOT_FOUND; the stream stays open.
///
/// Threads: a callback-API bidi reactor; each request is answered inline on
/// gRPC's callback threads (descriptor look-ups, no I/O), one write in
/// flight per stream.
std::unique_ptr<grpc::ServerBuilderOption> make_reflection_v1_option();

} // namespace ping::gateways
