// Fuzzes runtime::meta_from_json, the reader of a checkpoint image's cryo-checkpoint.json: any JSON
// document is either accepted or refused with cryo::Error.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "runtime/checkpoint_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  try {
    auto meta = cryo::runtime::meta_from_json(j, "cryo-checkpoint.json");
    (void)meta;
  } catch (const cryo::Error&) {
  }
  return 0;
}
