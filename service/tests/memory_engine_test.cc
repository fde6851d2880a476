// The test-only memory engine must behave like an engine, since the SDK tests rely on it.
#include "service/testengine/memory_engine.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <mutex>

#include "base/file.h"

namespace cryo::service {
namespace {

class MemoryEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cryo-mem-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    engine_ = make_memory_engine(dir_ + "/work");
    engine_->create("sbx-1", SandboxSpec{});
  }
  void TearDown() override {
    engine_.reset();
    remove_tree(dir_);
  }
  std::string dir_;
  std::unique_ptr<SandboxEngine> engine_;
};

TEST_F(MemoryEngineTest, RunsCommandsInTheSandboxDirectory) {
  engine_->write_file("sbx-1", "/w/in.txt", "data", 0644);
  CommandSpec c;
  c.argv = {"/bin/sh", "-c", "cat in.txt; echo err >&2; read x; echo $x $V; exit 4"};
  c.cwd = "/w";
  c.env = {{"V", "v"}};
  c.stdin_data = "line\n";
  auto r = engine_->run("sbx-1", c, {});
  EXPECT_EQ(r.stdout_data, "dataline v\n");
  EXPECT_EQ(r.stderr_data, "err\n");
  EXPECT_EQ(r.exit_code, 4);
  c.argv = {"sleep", "5"};
  c.timeout_s = 0.2;
  c.stdin_data.clear();
  r = engine_->run("sbx-1", c, {});
  EXPECT_TRUE(r.timed_out);
}

TEST_F(MemoryEngineTest, BackgroundCommandsReportExit) {
  std::mutex mu;
  std::condition_variable cv;
  std::string out;
  int code = -1;
  OutputSink sink;
  sink.on_stdout = [&](std::string_view d) {
    std::lock_guard l(mu);
    out.append(d);
  };
  sink.on_stderr = [](std::string_view) {};
  sink.on_exit = [&](int c) {
    std::lock_guard l(mu);
    code = c;
    cv.notify_all();
  };
  CommandSpec c;
  c.argv = {"cat"};
  auto id = engine_->start_command("sbx-1", c, sink);
  EXPECT_EQ(engine_->list_commands("sbx-1"), std::vector<std::string>{id});
  engine_->write_stdin("sbx-1", id, "hello", true);
  std::unique_lock l(mu);
  ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(5), [&] { return code != -1; }));
  EXPECT_EQ(out, "hello");
  EXPECT_EQ(code, 0);
}

TEST_F(MemoryEngineTest, FilesStayInsideTheRoot) {
  // `..` at the root stays at the root, as in a chroot: this is the sandbox's own /etc/passwd.
  EXPECT_THROW(engine_->read_file("sbx-1", "/../../etc/passwd"), NotFound);
  EXPECT_THROW(engine_->read_file("sbx-1", "relative"), BadRequest);
  EXPECT_THROW(engine_->read_file("sbx-1", "/missing"), NotFound);
  engine_->make_dir("sbx-1", "/a/b");
  EXPECT_EQ(engine_->stat("sbx-1", "/a/b").type, "dir");
  EXPECT_THROW(engine_->remove("sbx-1", "/a", false), Conflict);
  engine_->remove("sbx-1", "/a", true);
  EXPECT_THROW(engine_->stat("sbx-1", "/a"), NotFound);
}

TEST_F(MemoryEngineTest, SnapshotRestoresFiles) {
  engine_->write_file("sbx-1", "/f", "x", 0600);
  make_dirs(dir_ + "/snap");
  engine_->snapshot("sbx-1", dir_ + "/snap");
  SandboxSpec s;
  s.snapshot_dir = dir_ + "/snap";
  engine_->create("sbx-2", s);
  EXPECT_EQ(engine_->read_file("sbx-2", "/f"), "x");
  engine_->kill("sbx-1");
  EXPECT_FALSE(engine_->alive("sbx-1"));
  EXPECT_EQ(engine_->running(), std::vector<std::string>{"sbx-2"});
}

}  // namespace
}  // namespace cryo::service
