// Translation between the public option structs and CRIU's protobuf messages (internal).
#pragma once

#include <string>

#include "checkpoint/criu.h"
#include "criu_rpc.pb.h"

namespace cryo::checkpoint {

// Request-specific defaults such as the log file name come from `request` ("dump", "restore").
criu::criu_opts to_proto(const DumpOptions& opts, const std::string& request);
criu::criu_opts to_proto(const RestoreOptions& opts, const std::string& request);

criu::criu_req make_request(criu::criu_req_type type);

// "dump", "restore", ... for messages.
std::string request_name(criu::criu_req_type type);

CriuVersion from_proto(const criu::criu_version& v);
CriuFeatures from_proto(const criu::criu_features& f);

}  // namespace cryo::checkpoint
