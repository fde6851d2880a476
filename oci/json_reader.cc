#include "oci/json_reader.h"

namespace cryo::oci {

using nlohmann::json;

static std::string type_name(const json& j) {
  if (j.is_number_integer()) return "integer";
  if (j.is_number_float()) return "number";
  return j.type_name();
}

std::string JsonReader::field(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

void JsonReader::fail(const std::string& why) const {
  throw SpecError(source_ + ": " + (path_.empty() ? "(top level)" : path_) + ": " + why);
}

void JsonReader::fail_field(const std::string& key, const std::string& why) const {
  throw SpecError(source_ + ": " + field(key) + ": " + why);
}

const json* JsonReader::get(const std::string& key) const {
  if (!node_.is_object()) fail("must be an object, got " + type_name(node_));
  auto it = node_.find(key);
  if (it == node_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonReader::has(const std::string& key) const { return get(key) != nullptr; }

JsonReader JsonReader::child(const std::string& key) const {
  const json* j = get(key);
  if (!j) fail_field(key, "is required");
  if (!j->is_object()) fail_field(key, "must be an object, got " + type_name(*j));
  return JsonReader(*j, source_, field(key));
}

std::optional<JsonReader> JsonReader::optional_object(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return child(key);
}

std::vector<JsonReader> JsonReader::array(const std::string& key) const {
  std::vector<JsonReader> out;
  const json* j = get(key);
  if (!j) return out;
  if (!j->is_array()) fail_field(key, "must be an array, got " + type_name(*j));
  for (size_t i = 0; i < j->size(); ++i)
    out.emplace_back((*j)[i], source_, field(key) + "[" + std::to_string(i) + "]");
  return out;
}

std::string JsonReader::string(const std::string& key, bool required) const {
  auto v = optional_string(key);
  if (!v && required) fail_field(key, "is required");
  return v.value_or("");
}

std::optional<std::string> JsonReader::optional_string(const std::string& key) const {
  const json* j = get(key);
  if (!j) return std::nullopt;
  if (!j->is_string()) fail_field(key, "must be a string, got " + type_name(*j));
  return j->get<std::string>();
}

bool JsonReader::boolean(const std::string& key, bool fallback) const {
  const json* j = get(key);
  if (!j) return fallback;
  if (!j->is_boolean()) fail_field(key, "must be a boolean, got " + type_name(*j));
  return j->get<bool>();
}

std::vector<std::string> JsonReader::strings(const std::string& key) const {
  std::vector<std::string> out;
  const json* j = get(key);
  if (!j) return out;
  if (!j->is_array()) fail_field(key, "must be an array of strings, got " + type_name(*j));
  for (size_t i = 0; i < j->size(); ++i) {
    if (!(*j)[i].is_string())
      fail_field(key + "[" + std::to_string(i) + "]", "must be a string, got " + type_name((*j)[i]));
    out.push_back((*j)[i].get<std::string>());
  }
  return out;
}

std::map<std::string, std::string> JsonReader::string_map(const std::string& key) const {
  std::map<std::string, std::string> out;
  const json* j = get(key);
  if (!j) return out;
  if (!j->is_object()) fail_field(key, "must be an object of strings, got " + type_name(*j));
  for (auto& [k, v] : j->items()) {
    if (!v.is_string()) fail_field(key + "." + k, "must be a string, got " + type_name(v));
    out[k] = v.get<std::string>();
  }
  return out;
}

std::optional<int64_t> JsonReader::int_in(const std::string& key, int64_t lo, int64_t hi) const {
  const json* j = get(key);
  if (!j) return std::nullopt;
  if (!j->is_number_integer()) fail_field(key, "must be an integer, got " + type_name(*j));
  if (j->is_number_unsigned() && j->get<uint64_t>() > static_cast<uint64_t>(hi))
    fail_field(key, "value " + j->dump() + " is out of range [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]");
  int64_t v = j->get<int64_t>();
  if (v < lo || v > hi)
    fail_field(key, "value " + j->dump() + " is out of range [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]");
  return v;
}

std::optional<uint64_t> JsonReader::uint_in(const std::string& key, uint64_t hi) const {
  const json* j = get(key);
  if (!j) return std::nullopt;
  if (!j->is_number_integer()) fail_field(key, "must be an integer, got " + type_name(*j));
  if (!j->is_number_unsigned() && j->get<int64_t>() < 0)
    fail_field(key, "value " + j->dump() + " must not be negative");
  uint64_t v = j->get<uint64_t>();
  if (v > hi) fail_field(key, "value " + j->dump() + " is too large (max " + std::to_string(hi) + ")");
  return v;
}

}  // namespace cryo::oci
