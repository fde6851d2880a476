#include <chrono>
#include <thread>

#include "service/client.h"
#include "service/tests/test_server.h"

namespace cryo::service::testing {
namespace {

class CommandApi : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    start();
    id_ = create_sandbox();
  }
  std::string cmds() { return "/v1/sandboxes/" + id_ + "/commands"; }
  // Reads the whole NDJSON stream of a command.
  std::vector<json> output(const std::string& cid) {
    std::vector<json> lines;
    Client c(options_.socket_path);
    c.stream_lines(cmds() + "/" + cid + "/output", [&](const json& j) { lines.push_back(j); });
    return lines;
  }
  std::string id_;
};

TEST_F(CommandApi, ForegroundRun) {
  auto r = post(cmds(), json{{"cmd", "echo hi"}, {"stdin", "in"}, {"envs", {{"EXIT_CODE", "3"}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["stdout"], "echo hi");  // the fake echoes its last argv word: the shell command
  EXPECT_EQ(r.j["stderr"], "in");
  EXPECT_EQ(r.j["exit_code"], 3);
  EXPECT_EQ(r.j["timed_out"], false);
  auto a = post(cmds(), json{{"argv", {"ls", "-l"}}});
  EXPECT_EQ(a.j["stdout"], "-l");
}

TEST_F(CommandApi, EngineTimeoutIs504) {
  auto r = post(cmds(), json{{"cmd", "sleep"}, {"timeout", 0.01}, {"envs", {{"SLEEP_MS", "1000"}}}});
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.error_code(), "timeout");
}

TEST_F(CommandApi, BackgroundOutputStreamsFromTheStart) {
  auto r = post(cmds(), json{{"cmd", "server"}, {"background", true}});
  ASSERT_EQ(r.status, 201) << r.body;
  std::string cid = r.j["command_id"];
  world_->emit(id_, cid, false, "one\n");
  world_->emit(id_, cid, true, "warn\n");
  // A live reader attached before the end...
  std::vector<json> live;
  std::thread reader([&] { live = output(cid); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  world_->emit(id_, cid, false, "two\n");
  world_->finish(id_, cid, 7);
  reader.join();
  ASSERT_EQ(live.size(), 4u);
  EXPECT_EQ(live[0], (json{{"stream", "stdout"}, {"data", "one\n"}}));
  EXPECT_EQ(live[1], (json{{"stream", "stderr"}, {"data", "warn\n"}}));
  EXPECT_EQ(live[2], (json{{"stream", "stdout"}, {"data", "two\n"}}));
  EXPECT_EQ(live[3], (json{{"stream", "exit"}, {"exit_code", 7}}));
  // ...and a late reader gets exactly the same.
  EXPECT_EQ(output(cid), live);

  auto l = get(cmds());
  ASSERT_EQ(l.status, 200);
  ASSERT_EQ(l.j["commands"].size(), 1u);
  EXPECT_EQ(l.j["commands"][0]["command_id"], cid);
  EXPECT_EQ(l.j["commands"][0]["running"], false);
  EXPECT_EQ(l.j["commands"][0]["exit_code"], 7);
  EXPECT_EQ(l.j["commands"][0]["argv"], (json{"/bin/sh", "-c", "server"}));
}

TEST_F(CommandApi, StdinAndKill) {
  std::string cat = post(cmds(), json{{"cmd", "cat"}, {"background", true}}).j["command_id"];
  EXPECT_EQ(post(cmds() + "/" + cat + "/stdin", json{{"data", "abc"}}).status, 200);
  EXPECT_EQ(post(cmds() + "/" + cat + "/stdin", json{{"data", "def"}, {"close", true}}).status, 200);
  auto out = output(cat);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]["data"], "abc");
  EXPECT_EQ(out[2]["exit_code"], 0);

  std::string sleeper = post(cmds(), json{{"cmd", "sleep 100"}, {"background", true}}).j["command_id"];
  EXPECT_EQ(get(cmds()).j["commands"].size(), 2u);
  EXPECT_EQ(post(cmds() + "/" + sleeper + "/kill", json{{"signal", "TERM"}}).status, 200);
  EXPECT_EQ(output(sleeper).back()["exit_code"], 128 + 15);
  EXPECT_EQ(world_->commands.at(id_ + "/" + sleeper)->signals, std::vector<int>{15});
  EXPECT_EQ(post(cmds() + "/cmd-999/kill", json::object()).status, 404);
  EXPECT_EQ(get(cmds() + "/cmd-999/output").status, 404);
}

TEST_F(CommandApi, KillingTheSandboxEndsOpenStreams) {
  std::string cid = post(cmds(), json{{"cmd", "forever"}, {"background", true}}).j["command_id"];
  std::vector<json> lines;
  std::thread reader([&] { lines = output(cid); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(del("/v1/sandboxes/" + id_).status, 200);
  reader.join();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back()["stream"], "exit");
}

TEST_F(CommandApi, ServerStopEndsOpenStreams) {
  std::string cid = post(cmds(), json{{"cmd", "forever"}, {"background", true}}).j["command_id"];
  std::thread reader([&] {
    try {
      output(cid);
    } catch (const std::exception&) {  // the cut connection may surface as an error
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto t0 = std::chrono::steady_clock::now();
  server_.reset();
  reader.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

}  // namespace
}  // namespace cryo::service::testing
