// Fuzzes oci::parse_spec: any input either parses into a valid Spec or throws cryo::Error (with the
// file and field in its message). Anything else - another exception, a crash, a sanitizer report -
// is a bug.
#include <cstdint>
#include <string>

#include "base/error.h"
#include "oci/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    cryo::oci::Spec spec = cryo::oci::parse_spec(text, "config.json");
    (void)spec;
  } catch (const cryo::Error& e) {
    if (std::string(e.what()).find("config.json") == std::string::npos) __builtin_trap();
  }
  return 0;
}
