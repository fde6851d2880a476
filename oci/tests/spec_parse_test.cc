#include <gtest/gtest.h>

#include "oci/spec.h"

using cryo::oci::parse_spec;
using cryo::oci::SpecError;
using nlohmann::json;

namespace {

json minimal() {
  return {{"ociVersion", "1.0.2"},
          {"root", {{"path", "rootfs"}}},
          {"process", {{"args", {"/bin/true"}}, {"cwd", "/"}}},
          {"linux", {{"namespaces", {{{"type", "pid"}}, {{"type", "mount"}}}}}}};
}

// Runs parse_spec and returns the error text, or "" when it parsed.
std::string error_of(const json& doc) {
  try {
    parse_spec(doc.dump());
    return "";
  } catch (const SpecError& e) {
    return e.what();
  }
}

}  // namespace

TEST(SpecParse, MinimalConfig) {
  auto spec = parse_spec(minimal().dump());
  EXPECT_EQ(spec.oci_version, "1.0.2");
  EXPECT_EQ(spec.root_path, "rootfs");
  ASSERT_TRUE(spec.process);
  EXPECT_EQ(spec.process->args, std::vector<std::string>{"/bin/true"});
  ASSERT_EQ(spec.linux.namespaces.size(), 2u);
  EXPECT_NE(spec.linux.find_namespace("mount"), nullptr);
  EXPECT_EQ(spec.linux.find_namespace("network"), nullptr);
}

TEST(SpecParse, DefaultSpecRoundTrips) {
  for (bool rootless : {false, true}) {
    auto spec = parse_spec(cryo::oci::default_spec_json(rootless).dump());
    ASSERT_TRUE(spec.process);
    EXPECT_EQ(spec.process->args[0], "sh");
    EXPECT_EQ(spec.linux.find_namespace("user") != nullptr, rootless);
    EXPECT_FALSE(spec.mounts.empty());
  }
}

TEST(SpecParse, FullProcessAndResources) {
  json doc = minimal();
  doc["process"]["user"] = {{"uid", 1000}, {"gid", 1000}, {"umask", 18}, {"additionalGids", {5, 6}}};
  doc["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 100}, {"hard", 200}}};
  doc["process"]["oomScoreAdj"] = 500;
  doc["linux"]["resources"] = {{"memory", {{"limit", 67108864}}}, {"pids", {{"limit", 32}}},
                               {"cpu", {{"quota", 50000}, {"period", 100000}, {"cpus", "0"}}}};
  doc["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  doc["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  doc["linux"]["namespaces"].push_back({{"type", "user"}});
  auto spec = parse_spec(doc.dump());
  EXPECT_EQ(spec.process->user.uid, 1000u);
  EXPECT_EQ(spec.process->user.umask, 18u);
  EXPECT_EQ(spec.process->user.additional_gids, (std::vector<uint32_t>{5, 6}));
  EXPECT_EQ(spec.process->rlimits.at(0).hard, 200u);
  EXPECT_EQ(spec.process->oom_score_adj, 500);
  EXPECT_EQ(spec.linux.resources->memory->limit, 67108864);
  EXPECT_EQ(spec.linux.resources->pids_limit, 32);
  EXPECT_EQ(spec.linux.resources->cpu->quota, 50000);
  EXPECT_EQ(spec.linux.uid_mappings.at(0).host_id, 100000u);
}

TEST(SpecParse, BadJsonNamesTheFile) {
  try {
    parse_spec("{\"ociVersion\": ", "/b/config.json");
    FAIL() << "parsed broken JSON";
  } catch (const SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("/b/config.json: invalid JSON"), std::string::npos) << e.what();
  }
}

TEST(SpecParse, WrongTypesNameTheField) {
  json doc = minimal();
  doc["process"]["args"] = "true";
  EXPECT_NE(error_of(doc).find("process.args: must be an array"), std::string::npos) << error_of(doc);
  doc = minimal();
  doc["process"]["user"] = {{"uid", "root"}};
  EXPECT_NE(error_of(doc).find("process.user.uid: must be an integer"), std::string::npos) << error_of(doc);
  doc = minimal();
  doc["root"] = nullptr;
  EXPECT_NE(error_of(doc).find("root: is required"), std::string::npos) << error_of(doc);
}

TEST(SpecParse, HugeValuesAreRefused) {
  json doc = minimal();
  doc["process"]["user"] = {{"uid", 1ull << 40}};
  EXPECT_NE(error_of(doc).find("process.user.uid: value 1099511627776 is too large"), std::string::npos)
      << error_of(doc);
  doc = minimal();
  doc["linux"]["resources"] = {{"memory", {{"limit", 18446744073709551615ull}}}};
  EXPECT_NE(error_of(doc).find("linux.resources.memory.limit: value"), std::string::npos) << error_of(doc);
  doc = minimal();
  doc["process"]["oomScoreAdj"] = 5000;
  EXPECT_NE(error_of(doc).find("process.oomScoreAdj"), std::string::npos) << error_of(doc);
  doc = minimal();
  doc["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", -1}, {"hard", 2}}};
  EXPECT_NE(error_of(doc).find("process.rlimits[0].soft: value -1 must not be negative"), std::string::npos)
      << error_of(doc);
}

TEST(SpecParse, UnknownFieldsAreIgnoredAsTheSpecRequires) {
  json doc = minimal();
  doc["vendorExtension"] = {{"x", 1}};
  doc["process"]["somethingNew"] = true;
  EXPECT_EQ(error_of(doc), "");
}

TEST(SpecParse, ProcessJsonForExec) {
  auto p = cryo::oci::parse_process(json{{"args", {"sh", "-c", "id"}}, {"cwd", "/tmp"}, {"env", {"A=1"}}});
  EXPECT_EQ(p.cwd, "/tmp");
  EXPECT_EQ(p.env.at(0), "A=1");
  EXPECT_THROW(cryo::oci::parse_process(json{{"args", json::array()}, {"cwd", "/"}}), SpecError);
}

// Found by the fuzzer (oci/fuzz/regressions/spec/number-overflow.json): a number beyond every C++
// type is nlohmann's out_of_range, which escaped parse_spec instead of becoming a SpecError.
TEST(SpecParse, NumberOverflowIsASpecError) {
  try {
    cryo::oci::parse_spec(R"({"ociVersion": "1.0.2", "process": {"user": {"uid": 1E5555}}})");
    FAIL() << "parsed";
  } catch (const SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("config.json: invalid JSON"), std::string::npos) << e.what();
  }
}
