#include "runtime/seccomp_image.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/file.h"

namespace cryo::runtime {
namespace {

// CRIU's image framing (criu/include/magic.h, images/seccomp.proto): two u32 magics, then
// records of {u32 length, protobuf message}. seccomp.img holds one SeccompEntry:
//   message seccomp_entry  { repeated seccomp_filter seccomp_filters = 1; }
//   message seccomp_filter { required bytes filter = 1; optional uint64 prev = 2; optional uint32 flags = 3; }
constexpr size_t kMagics = 8;

struct Reader {
  const std::string& s;
  size_t pos;
  size_t end;
  bool done() const { return pos >= end; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= end) throw Error("seccomp.img: truncated varint");
      uint8_t b = static_cast<uint8_t>(s[pos++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw Error("seccomp.img: varint too long");
  }
  std::string bytes(size_t n) {
    if (n > end - pos) throw Error("seccomp.img: field runs past its message");
    std::string out = s.substr(pos, n);
    pos += n;
    return out;
  }
};

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// One field: its tag and raw encoded value (kept as is, except the filters we replace).
struct Field {
  uint64_t tag;
  std::string raw;  // the value's bytes as encoded (varint bytes, or the length-delimited payload)
};

std::vector<Field> parse_message(const std::string& msg) {
  std::vector<Field> out;
  Reader r{msg, 0, msg.size()};
  while (!r.done()) {
    uint64_t tag = r.varint();
    switch (tag & 7) {
      case 0: {
        size_t start = r.pos;
        r.varint();
        out.push_back({tag, msg.substr(start, r.pos - start)});
        break;
      }
      case 2:
        out.push_back({tag, r.bytes(r.varint())});
        break;
      case 1:
        out.push_back({tag, r.bytes(8)});
        break;
      case 5:
        out.push_back({tag, r.bytes(4)});
        break;
      default:
        throw Error("seccomp.img: unsupported wire type " + std::to_string(tag & 7));
    }
  }
  return out;
}

std::string encode_message(const std::vector<Field>& fields) {
  std::string out;
  for (auto& f : fields) {
    put_varint(out, f.tag);
    if ((f.tag & 7) == 2) put_varint(out, f.raw.size());
    out += f.raw;
  }
  return out;
}

std::string program_bytes(const std::vector<sock_filter>& p) {
  return std::string(reinterpret_cast<const char*>(p.data()), p.size() * sizeof(sock_filter));
}

}  // namespace

std::map<std::string, std::string> parse_notify_fallback(const std::string& annotation) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(annotation);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("annotation ") + kNotifyFallback + ": not JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(std::string("annotation ") + kNotifyFallback + ": must be a JSON object");
  std::map<std::string, std::string> out;
  for (auto& [name, v] : j.items()) {
    std::string what = std::string("annotation ") + kNotifyFallback + "." + name;
    if (!v.is_string()) throw Error(what + ": must be \"allow\" or \"errno:<n>\"");
    std::string a = v.get<std::string>();
    if (a != "allow" && (a.rfind("errno:", 0) != 0 || a.size() == 6 ||
                         a.find_first_not_of("0123456789", 6) != std::string::npos || std::stoul(a.substr(6)) > 4095))
      throw Error(what + ": must be \"allow\" or \"errno:<n>\", got `" + a + "`");
    out[name] = a;
  }
  return out;
}

oci::Seccomp with_notify_fallback(const oci::Seccomp& profile, const std::map<std::string, std::string>& fallback) {
  oci::Seccomp out = profile;
  out.syscalls.clear();
  out.listener_path.clear();
  out.listener_metadata.clear();
  for (auto& rule : profile.syscalls) {
    if (rule.action != "SCMP_ACT_NOTIFY") {
      out.syscalls.push_back(rule);
      continue;
    }
    for (auto& name : rule.names) {
      auto it = fallback.find(name);
      if (it == fallback.end())
        throw Error(std::string("annotation ") + kNotifyFallback + ": no fallback for the notified system call `" +
                    name + "`");
      oci::SeccompRule r = rule;
      r.names = {name};
      if (it->second == "allow") {
        r.action = "SCMP_ACT_ALLOW";
        r.errno_ret.reset();
      } else {
        r.action = "SCMP_ACT_ERRNO";
        r.errno_ret = static_cast<unsigned>(std::stoul(it->second.substr(6)));
      }
      out.syscalls.push_back(r);
    }
  }
  return out;
}

size_t replace_seccomp_filters(const std::string& image_dir, const std::vector<sock_filter>& from,
                               const std::vector<sock_filter>& to) {
  std::string path = image_dir + "/seccomp.img";
  auto image = read_file_if_exists(path);
  if (!image) return 0;  // no task had a filter
  const std::string& s = *image;
  if (s.size() < kMagics) throw Error(path + ": shorter than its magic");
  std::string want = program_bytes(from), replacement = program_bytes(to);
  std::string out = s.substr(0, kMagics);
  size_t replaced = 0, pos = kMagics;
  while (pos < s.size()) {
    if (s.size() - pos < 4) throw Error(path + ": truncated record header");
    uint32_t len;
    std::memcpy(&len, s.data() + pos, 4);
    pos += 4;
    if (len > s.size() - pos) throw Error(path + ": record runs past the end");
    std::vector<Field> entry = parse_message(s.substr(pos, len));
    pos += len;
    for (auto& f : entry) {
      if (f.tag != ((1 << 3) | 2)) continue;  // seccomp_filters
      std::vector<Field> filter = parse_message(f.raw);
      for (auto& ff : filter)
        if (ff.tag == ((1 << 3) | 2) && ff.raw == want) {
          ff.raw = replacement;
          ++replaced;
        }
      f.raw = encode_message(filter);
    }
    std::string msg = encode_message(entry);
    uint32_t n = static_cast<uint32_t>(msg.size());
    out.append(reinterpret_cast<const char*>(&n), 4);
    out += msg;
  }
  if (replaced) write_file_atomic(path, out, 0644);
  return replaced;
}

}  // namespace cryo::runtime
