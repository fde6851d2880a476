#include "service/json_codec.h"

#include <gtest/gtest.h>

#include <csignal>

namespace cryo::service {
namespace {

std::string bad_request_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const BadRequest& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(JsonCodec, SupervisionRules) {
  auto r = decode_create_sandbox(json::parse(
      R"({"supervise":[{"syscall":"mkdir","action":"deny","errno":13},{"syscall":"chdir"}]})"));
  ASSERT_EQ(r.spec.supervise.size(), 2u);
  EXPECT_EQ(r.spec.supervise[0].syscall, "mkdir");
  EXPECT_EQ(r.spec.supervise[0].action, "deny");
  EXPECT_EQ(r.spec.supervise[0].error, 13);
  EXPECT_EQ(r.spec.supervise[1].action, "log");  // the default: let it run, record it
  EXPECT_NE(bad_request_message([] { decode_create_sandbox(json::parse(R"({"supervise":{}})")); }).find("`supervise`"),
            std::string::npos);
  EXPECT_NE(bad_request_message([] {
              decode_create_sandbox(json::parse(R"({"supervise":[{"syscall":"mkdir","action":"maybe"}]})"));
            }).find("`supervise[0].action`"),
            std::string::npos);
  EXPECT_NE(bad_request_message([] {
              decode_create_sandbox(json::parse(R"({"supervise":[{"syscall":"mkdir","errno":0}]})"));
            }).find("`supervise[0].errno`"),
            std::string::npos);
}

TEST(JsonCodec, CreateSandboxDefaultsAndFields) {
  auto r = decode_create_sandbox(json::parse(
      R"({"image":"py","envs":{"A":"1"},"cwd":"/w","timeout":2.5,"cpus":1,"memory_mb":256,"pids":64,"disk_mb":512,"network":true,"metadata":{"k":"v"}})"));
  EXPECT_EQ(r.spec.image, "py");
  EXPECT_EQ(r.spec.env.at("A"), "1");
  EXPECT_EQ(r.spec.cwd, "/w");
  EXPECT_DOUBLE_EQ(r.timeout_s, 2.5);
  EXPECT_EQ(r.spec.limits.memory_bytes, 256 << 20);
  EXPECT_EQ(r.spec.limits.pids, 64);
  EXPECT_EQ(r.spec.limits.disk_bytes, int64_t{512} << 20);
  EXPECT_TRUE(r.spec.network);
  auto d = decode_create_sandbox(json::object());
  EXPECT_EQ(d.spec.image, "default");
  EXPECT_EQ(d.spec.cwd, "/");
  EXPECT_FALSE(d.spec.network);
  EXPECT_EQ(d.spec.limits.disk_bytes, 0);  // the engine's default (or the snapshot's size)
}

TEST(JsonCodec, ErrorsNameTheField) {
  EXPECT_NE(bad_request_message([] { decode_create_sandbox(json::parse(R"({"timeout":"x"})")); }).find("`timeout`"),
            std::string::npos);
  EXPECT_NE(bad_request_message([] { decode_create_sandbox(json::parse(R"({"envs":{"A":1}})")); }).find("`envs.A`"),
            std::string::npos);
  EXPECT_NE(bad_request_message([] { decode_create_sandbox(json::parse(R"({"pids":-1})")); }).find("`pids`"),
            std::string::npos);
  // A writable layer is memory: there is no "0 = unlimited" for it.
  EXPECT_NE(bad_request_message([] { decode_create_sandbox(json::parse(R"({"disk_mb":0})")); }).find("`disk_mb`"),
            std::string::npos);
  EXPECT_NE(bad_request_message([] { decode_create_sandbox(json::parse(R"({"snapshot_id":"x"})")); }).find("`snapshot_id`"),
            std::string::npos);
  EXPECT_NE(bad_request_message([] { decode_create_sandbox(json::parse(R"({"imag":"x"})")); }).find("`imag`: unknown"),
            std::string::npos);
  EXPECT_NE(bad_request_message([] { decode_run(json::parse(R"({"argv":["a",2]})")); }).find("`argv[1]`"),
            std::string::npos);
  EXPECT_NE(bad_request_message([] { decode_run(json::parse(R"({})")); }).find("`cmd`"), std::string::npos);
  EXPECT_NE(bad_request_message([] { parse_body("[1]"); }).find("request body"), std::string::npos);
  EXPECT_NE(bad_request_message([] { parse_body("{"); }).find("not valid JSON"), std::string::npos);
}

TEST(JsonCodec, RunWrapsShellCommands) {
  auto r = decode_run(json::parse(R"({"cmd":"echo hi","timeout":5,"stdin":"x","background":true})"));
  EXPECT_EQ(r.spec.argv, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_DOUBLE_EQ(r.spec.timeout_s, 5);
  EXPECT_EQ(r.spec.stdin_data, "x");
  EXPECT_TRUE(r.background);
  EXPECT_EQ(decode_run(json::parse(R"({"argv":["ls","-l"]})")).spec.argv, (std::vector<std::string>{"ls", "-l"}));
}

TEST(JsonCodec, Signals) {
  EXPECT_EQ(decode_signal(json::object()), SIGKILL);
  EXPECT_EQ(decode_signal(json::parse(R"({"signal":15})")), SIGTERM);
  EXPECT_EQ(decode_signal(json::parse(R"({"signal":"SIGINT"})")), SIGINT);
  EXPECT_EQ(decode_signal(json::parse(R"({"signal":"HUP"})")), SIGHUP);
  EXPECT_THROW(decode_signal(json::parse(R"({"signal":"NOPE"})")), BadRequest);
  EXPECT_THROW(decode_signal(json::parse(R"({"signal":0})")), BadRequest);
}

TEST(JsonCodec, InvalidUtf8OutputIsReplacedNotFatal) {
  CommandResult r;
  r.stdout_data = std::string("ok\xff", 3);
  auto wire = to_wire(encode_result(r));
  EXPECT_NE(wire.find("ok"), std::string::npos);
}

}  // namespace
}  // namespace cryo::service
