#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <regex>

#include "service/tests/test_server.h"

namespace cryo::service::testing {
namespace {

class SandboxApi : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    start();
  }
};

TEST_F(SandboxApi, CreateGetListKill) {
  // Images other than the built-in one must be imported first.
  auto unknown = post("/v1/sandboxes", json{{"image", "python"}});
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_NE(unknown.body.find("image `python` not found"), std::string::npos) << unknown.body;
  auto r = post("/v1/sandboxes", json{{"image", "default"}, {"envs", {{"A", "1"}}}, {"cpus", 2}, {"memory_mb", 128},
                                      {"pids", 50}, {"network", true}, {"metadata", {{"owner", "t"}}}});
  ASSERT_EQ(r.status, 201) << r.body;
  std::string id = r.j["sandbox_id"];
  EXPECT_TRUE(std::regex_match(id, std::regex("sbx-[0-9a-f]{16}")));
  EXPECT_EQ(r.j["state"], "running");
  EXPECT_TRUE(std::regex_match(r.j["created_at"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
  {
    std::lock_guard lock(world_->mu);
    auto& spec = world_->boxes.at(id).spec;
    EXPECT_EQ(spec.image, "default");
    EXPECT_EQ(spec.env.at("A"), "1");
    EXPECT_EQ(spec.limits.memory_bytes, 128 << 20);
    EXPECT_EQ(spec.limits.pids, 50);
    EXPECT_DOUBLE_EQ(spec.limits.cpus, 2);
    EXPECT_TRUE(spec.network);
    EXPECT_TRUE(spec.snapshot_dir.empty());
  }
  auto g = get("/v1/sandboxes/" + id);
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(g.j["metadata"]["owner"], "t");
  EXPECT_EQ(g.j["memory_mb"], 128);

  std::string other = create_sandbox();
  auto l = get("/v1/sandboxes");
  ASSERT_EQ(l.status, 200);
  EXPECT_EQ(l.j["sandboxes"].size(), 2u);

  auto k = del("/v1/sandboxes/" + id);
  ASSERT_EQ(k.status, 200) << k.body;
  EXPECT_EQ(k.j["state"], "killed");
  EXPECT_TRUE(k.j.contains("ended_at"));
  EXPECT_FALSE(world_->boxes.count(id));
  EXPECT_EQ(get("/v1/sandboxes").j["sandboxes"].size(), 1u);
  EXPECT_EQ(get("/v1/sandboxes?all=true").j["sandboxes"].size(), 2u);
  // Killing again is idempotent; using a killed sandbox is a conflict.
  EXPECT_EQ(del("/v1/sandboxes/" + id).status, 200);
  auto c = post("/v1/sandboxes/" + id + "/commands", json{{"cmd", "true"}});
  EXPECT_EQ(c.status, 409);
  EXPECT_EQ(c.error_code(), "conflict");
  EXPECT_EQ(world_->count_calls("kill " + id), 1u);
}

TEST_F(SandboxApi, UnknownIdsAre404WithErrorShape) {
  for (auto r : {get("/v1/sandboxes/sbx-0123456789abcdef"), del("/v1/sandboxes/sbx-0123456789abcdef"),
                 post("/v1/sandboxes/sbx-0123456789abcdef/commands", json{{"cmd", "x"}}),
                 get("/v1/sandboxes/nope/files?path=/x"), get("/v1/snapshots/snap-0123456789abcdef"),
                 del("/v1/snapshots/snap-0123456789abcdef"), post("/v1/sandboxes/nope/snapshots"),
                 get("/v1/nothing/here")}) {
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_EQ(r.error_code(), "not_found") << r.body;
    EXPECT_FALSE(r.error_message().empty());
  }
  auto r = post("/v1/sandboxes", json{{"snapshot_id", "snap-0123456789abcdef"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.error_message().find("snap-0123456789abcdef"), std::string::npos);
}

TEST_F(SandboxApi, MalformedRequestsAre400NamingTheField) {
  auto bad_json = post("/v1/sandboxes", std::string("{\"image\":"));
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(bad_json.error_code(), "bad_request");
  EXPECT_NE(bad_json.error_message().find("request body"), std::string::npos);

  auto bad_type = post("/v1/sandboxes", json{{"network", "yes"}});
  EXPECT_EQ(bad_type.status, 400);
  EXPECT_NE(bad_type.error_message().find("`network`"), std::string::npos);

  std::string id = create_sandbox();
  auto bad_cmd = post("/v1/sandboxes/" + id + "/commands", json{{"cmd", 5}});
  EXPECT_EQ(bad_cmd.status, 400);
  EXPECT_NE(bad_cmd.error_message().find("`cmd`"), std::string::npos);
  auto no_path = get("/v1/sandboxes/" + id + "/files");
  EXPECT_EQ(no_path.status, 400);
  EXPECT_NE(no_path.error_message().find("`path`"), std::string::npos);
  auto bad_mode = put("/v1/sandboxes/" + id + "/files?path=/a&mode=9z", "x");
  EXPECT_EQ(bad_mode.status, 400);
  EXPECT_NE(bad_mode.error_message().find("`mode`"), std::string::npos);
  EXPECT_EQ(post("/v1/sandboxes/" + id + "/commands/cmd-1/kill", json{{"signal", "BOGUS"}}).status, 400);
  EXPECT_EQ(world_->count_calls("create"), 1u);  // nothing reached the engine for the bad creates
}

TEST_F(SandboxApi, OversizeBodiesAre413) {
  std::string big_json = json{{"image", std::string(options_.max_json_body + 10, 'x')}}.dump();
  auto r = post("/v1/sandboxes", big_json);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.error_code(), "too_large");
  std::string id = create_sandbox();
  auto f = put("/v1/sandboxes/" + id + "/files?path=/big", std::string(options_.max_file_body + 1, 'x'));
  EXPECT_EQ(f.status, 413);
  EXPECT_EQ(f.error_code(), "too_large");
  // A file between the JSON limit and the file limit is fine.
  EXPECT_EQ(put("/v1/sandboxes/" + id + "/files?path=/ok", std::string(options_.max_json_body * 2, 'y')).status, 200);
}

TEST_F(SandboxApi, HealthAndMetrics) {
  auto h = get("/v1/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.j["status"], "ok");
  std::string id = create_sandbox();
  post("/v1/sandboxes/" + id + "/snapshots");
  world_->fail_snapshot = true;
  post("/v1/sandboxes/" + id + "/snapshots");
  auto m = get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("cryod_sandboxes_running 1\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("cryod_snapshots 1\n"), std::string::npos);
  EXPECT_NE(m.body.find("cryod_operations_total{op=\"snapshot_create\"} 2\n"), std::string::npos);
  EXPECT_NE(m.body.find("cryod_operation_failures_total{op=\"snapshot_create\"} 1\n"), std::string::npos);
  EXPECT_NE(m.body.find("cryod_operation_seconds_sum{op=\"sandbox_create\"}"), std::string::npos);
}

TEST_F(SandboxApi, SocketIsPrivate) {
  struct stat st {};
  ASSERT_EQ(::stat(options_.socket_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SandboxApi, RefusesASocketInUseAndReplacesAStaleOne) {
  ServerOptions again = options_;
  again.state_dir = dir_ + "/state2";
  Server second(again, std::make_unique<FakeEngine>(std::make_shared<FakeWorld>()));
  EXPECT_THROW(second.start(), cryo::Error);
  server_.reset();  // unlinks its socket; leave a stale file behind instead:
  {  // a socket file whose server is gone
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    options_.socket_path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  start();
  EXPECT_EQ(get("/v1/health").status, 200);
}

class TcpApi : public ServerTest {};

TEST_F(TcpApi, RequiresBearerToken) {
  options_.tcp_host = "127.0.0.1";
  options_.token = "s3cret-token-0123456789";
  start();
  int port = server_->tcp_port();
  ASSERT_GT(port, 0);
  httplib::Client c("127.0.0.1", port);
  auto none = c.Get("/v1/health");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(json::parse(none->body)["error"]["code"], "unauthorized");
  auto wrong = c.Get("/v1/health", httplib::Headers{{"Authorization", "Bearer nope"}});
  EXPECT_EQ(wrong->status, 401);
  auto ok = c.Get("/v1/health", httplib::Headers{{"Authorization", "Bearer s3cret-token-0123456789"}});
  EXPECT_EQ(ok->status, 200);
  // The unix socket needs no token.
  EXPECT_EQ(get("/v1/health").status, 200);
}

TEST_F(TcpApi, RejectsNonLoopbackAndMissingToken) {
  options_.tcp_host = "0.0.0.0";
  options_.token = "s3cret-token-0123456789";
  EXPECT_THROW(start(), BadRequest);
  options_.tcp_host = "127.0.0.1";
  options_.token.clear();
  EXPECT_THROW(start(), BadRequest);
}

}  // namespace
}  // namespace cryo::service::testing
