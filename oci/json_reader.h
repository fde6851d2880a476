// Typed access to a JSON document that remembers where it is, so errors name the field path.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oci/spec.h"

namespace cryo::oci {

class JsonReader {
 public:
  JsonReader(const nlohmann::json& node, std::string source, std::string path)
      : node_(node), source_(std::move(source)), path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& why) const;
  [[noreturn]] void fail_field(const std::string& key, const std::string& why) const;
  const std::string& path() const { return path_; }
  const nlohmann::json& node() const { return node_; }

  bool has(const std::string& key) const;
  JsonReader child(const std::string& key) const;  // requires an object at key
  std::optional<JsonReader> optional_object(const std::string& key) const;
  std::vector<JsonReader> array(const std::string& key) const;  // missing or null -> empty

  std::string string(const std::string& key, bool required = false) const;
  std::optional<std::string> optional_string(const std::string& key) const;
  bool boolean(const std::string& key, bool fallback = false) const;
  std::vector<std::string> strings(const std::string& key) const;
  std::map<std::string, std::string> string_map(const std::string& key) const;

  // Integers checked against [lo, hi]; floats and out-of-range values are errors naming the field.
  std::optional<int64_t> int_in(const std::string& key, int64_t lo, int64_t hi) const;
  std::optional<uint64_t> uint_in(const std::string& key, uint64_t hi) const;
  template <typename T>
  std::optional<T> uint_of(const std::string& key) const {
    auto v = uint_in(key, std::numeric_limits<T>::max());
    return v ? std::optional<T>(static_cast<T>(*v)) : std::nullopt;
  }
  template <typename T>
  T required_uint(const std::string& key) const {
    auto v = uint_of<T>(key);
    if (!v) fail_field(key, "is required");
    return *v;
  }

 private:
  const nlohmann::json* get(const std::string& key) const;
  std::string field(const std::string& key) const;

  const nlohmann::json& node_;
  std::string source_;
  std::string path_;
};

}  // namespace cryo::oci
