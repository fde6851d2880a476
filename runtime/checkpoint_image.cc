#include "runtime/checkpoint_image.h"

#include <sstream>

#include "base/error.h"
#include "base/file.h"

namespace cryo::runtime {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_octal(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

enum class Escapes { Drop, Keep };

// Splits on `sep` except where overlayfs escaped it with a backslash. Keep leaves the escapes in
// place for a second split of each field (options by ',', then lower dirs by ':').
std::vector<std::string> split_escaped(const std::string& s, char sep, Escapes escapes = Escapes::Drop) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      if (escapes == Escapes::Keep) out.back() += s[i];
      out.back() += s[++i];
    } else if (s[i] == sep) {
      out.emplace_back();
    } else {
      out.back() += s[i];
    }
  }
  return out;
}

}  // namespace

std::optional<OverlayRoot> find_overlay(const std::string& mountinfo, const std::string& mountpoint) {
  std::istringstream in(mountinfo);
  std::string line;
  std::optional<OverlayRoot> found;
  while (std::getline(in, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream left(line.substr(0, dash)), right(line.substr(dash + 3));
    std::string id, parent, devno, root, mp, fstype, source, opts;
    left >> id >> parent >> devno >> root >> mp;
    right >> fstype >> source >> opts;
    if (unescape_octal(mp) != mountpoint) continue;
    found.reset();  // the last mount on a mountpoint is the visible one
    if (fstype != "overlay") continue;
    OverlayRoot o;
    for (auto& f : split_escaped(unescape_octal(opts), ',', Escapes::Keep)) {
      if (f.rfind("lowerdir=", 0) == 0) o.lowers = split_escaped(f.substr(9), ':');
      else if (f.rfind("upperdir=", 0) == 0) o.upper = split_escaped(f.substr(9), ':').front();
      else if (f.rfind("workdir=", 0) == 0) o.work = split_escaped(f.substr(8), ':').front();
    }
    if (!o.upper.empty()) found = o;
  }
  return found;
}

nlohmann::json meta_to_json(const CheckpointMeta& m) {
  nlohmann::json j = {{"version", 1}, {"container_id", m.container_id}, {"created", m.created},
                      {"config", m.config}, {"stdio", m.stdio}, {"diff_digest", m.diff_digest}};
  if (m.precopy)
    j["precopy"] = {{"tasks", m.precopy->tasks}, {"pages_ahead", m.precopy->pages_ahead},
                    {"pages_again", m.precopy->pages_again}, {"pages_used", m.precopy->pages_used}};
  if (m.overlay) j["overlay"] = {{"lowers", m.overlay->lowers}, {"upper", m.overlay->upper}, {"work", m.overlay->work}};
  if (m.fresh_netns_lo_up)
    j["netns"] = {{"fresh", true}, {"lo_up", *m.fresh_netns_lo_up}, {"outside_images", m.netns_outside_images}};
  return j;
}

CheckpointMeta meta_from_json(const nlohmann::json& j, const std::string& source) {
  try {
    CheckpointMeta m;
    // Compared as JSON: a huge or fractional number must not be converted to int first (UB).
    const auto& version = j.at("version");
    if (!version.is_number_integer() || version != 1) throw Error(source + ": unsupported version " + version.dump());
    m.container_id = j.at("container_id");
    m.created = j.value("created", "");
    m.config = j.at("config");
    m.stdio = j.value("stdio", std::vector<std::string>{});
    m.diff_digest = j.value("diff_digest", "");
    if (j.contains("overlay"))
      m.overlay = OverlayRoot{j["overlay"].at("lowers"), j["overlay"].value("upper", ""), j["overlay"].value("work", "")};
    if (j.contains("netns") && j["netns"].value("fresh", false)) {
      m.fresh_netns_lo_up = j["netns"].value("lo_up", false);
      m.netns_outside_images = j["netns"].value("outside_images", false);
    }
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw Error(source + ": corrupt checkpoint metadata: " + e.what());
  }
}

CheckpointMeta read_checkpoint_meta(const std::string& image_dir) {
  std::string path = image_dir + "/" + kCheckpointMeta;
  auto text = read_file_if_exists(path);
  if (!text) throw Error("`" + image_dir + "` is not a complete cryo checkpoint (" + kCheckpointMeta + " is missing)");
  try {
    return meta_from_json(nlohmann::json::parse(*text), path);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
}

}  // namespace cryo::runtime
