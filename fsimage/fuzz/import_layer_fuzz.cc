// Fuzzes fsimage::import_layer: arbitrary bytes as a (possibly compressed) layer tar, extracted
// into a fresh directory. It either succeeds or throws cryo::Error, and never writes outside the
// target: the scratch directory around it must hold exactly the tar and the target afterwards.
#include <dirent.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "base/error.h"
#include "base/file.h"
#include "fsimage/fsimage.h"

namespace {

// Made once and never destroyed (an exit handler removes the directory and may run after static
// destructors).
const std::string& scratch() {
  static const std::string* dir = [] {
    char tmpl[] = "/tmp/cryo-fuzz-layer-XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    auto* d = new std::string(tmpl);
    std::atexit([] { cryo::remove_tree(scratch()); });
    return d;
  }();
  return *dir;
}

std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.insert(e->d_name);
    ::closedir(d);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string base = scratch(), tar = base + "/layer.tar", target = base + "/t";
  cryo::write_file_atomic(tar, std::string(reinterpret_cast<const char*>(data), size), 0600);
  cryo::make_dirs(target, 0755);
  for (bool whiteouts : {true, false}) {
    cryo::fsimage::ImportOptions o;
    o.overlay_whiteouts = whiteouts;
    try {
      cryo::fsimage::import_layer(tar, target, o);
    } catch (const cryo::Error&) {
    }
    if (entries(base) != std::set<std::string>{"layer.tar", "t"}) __builtin_trap();  // wrote outside
    cryo::remove_tree(target);
    cryo::make_dirs(target, 0755);
  }
  return 0;
}
