// Fuzzes the API's request decoding: a body goes through parse_body and every decoder, as the
// routes would. Each either succeeds or throws BadRequest (a 400 with the field named); any other
// exception would be a 500, and a crash takes cryod down.
#include <cstdint>
#include <string>

#include "service/json_codec.h"

using namespace cryo::service;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  json j;
  try {
    j = parse_body(body);
  } catch (const BadRequest&) {
    return 0;
  }
  try {
    auto r = decode_create_sandbox(j);
    (void)r;
  } catch (const BadRequest&) {
  }
  try {
    auto r = decode_run(j);
    (void)r;
  } catch (const BadRequest&) {
  }
  try {
    auto r = decode_stdin(j);
    (void)r;
  } catch (const BadRequest&) {
  }
  try {
    (void)decode_signal(j);
  } catch (const BadRequest&) {
  }
  // What the server sends back must always serialize.
  (void)to_wire(j);
  return 0;
}
