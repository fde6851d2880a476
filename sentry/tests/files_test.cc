// File operations from the host, confined to the sandbox root.
#include <unistd.h>

#include "base/file.h"
#include "sentry/tests/engine_fixture.h"

namespace cryo::sentry_test {
namespace {

using service::BadRequest;
using service::Conflict;
using service::NotFound;

class FilesTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (IsSkipped()) return;
    id_ = create();
  }
  std::string id_;
};

TEST_F(FilesTest, WriteReadStatList) {
  engine_->write_file(id_, "/workspace/data.csv", "a,b\n1,2\n", 0640);
  EXPECT_EQ(engine_->read_file(id_, "/workspace/data.csv"), "a,b\n1,2\n");
  // The command side sees the same file.
  EXPECT_EQ(run(id_, "cat /workspace/data.csv").stdout_data, "a,b\n1,2\n");
  auto st = engine_->stat(id_, "/workspace/data.csv");
  EXPECT_EQ(st.type, "file");
  EXPECT_EQ(st.size, 8);
  EXPECT_EQ(st.mode, 0640u);
  EXPECT_EQ(st.name, "data.csv");
  EXPECT_EQ(st.path, "/workspace/data.csv");
  EXPECT_EQ(engine_->stat(id_, "/").type, "dir");

  engine_->write_file(id_, "/workspace/deep/new/dir/file.txt", "x", 0644);  // parents are made
  auto entries = engine_->list_dir(id_, "/workspace");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "data.csv");
  EXPECT_EQ(entries[1].name, "deep");
  EXPECT_EQ(entries[1].type, "dir");
  EXPECT_EQ(entries[1].path, "/workspace/deep");

  // Files written inside show up too; overwrite replaces.
  run(id_, "echo inside > /workspace/data.csv");
  EXPECT_EQ(engine_->read_file(id_, "/workspace/data.csv"), "inside\n");
  engine_->write_file(id_, "/workspace/data.csv", "replaced", 0644);
  EXPECT_EQ(run(id_, "cat /workspace/data.csv").stdout_data, "replaced");
}

TEST_F(FilesTest, ErrorsMapToApiErrors) {
  EXPECT_THROW(engine_->read_file(id_, "/workspace/missing"), NotFound);
  EXPECT_THROW(engine_->read_file(id_, "/workspace"), BadRequest);
  EXPECT_THROW(engine_->read_file(id_, "relative/path"), BadRequest);
  EXPECT_THROW(engine_->list_dir(id_, "/nope"), NotFound);
  EXPECT_THROW(engine_->write_file(id_, "/usr/bin/evil", "x", 0755), BadRequest);  // read-only /usr
  EXPECT_THROW(engine_->remove(id_, "/", true), BadRequest);
  // A fifo must not hang the engine.
  run(id_, "mkfifo /workspace/fifo");
  EXPECT_THROW(engine_->read_file(id_, "/workspace/fifo"), BadRequest);
  EXPECT_THROW(engine_->read_file(id_, "/dev/zero"), BadRequest);
}

TEST_F(FilesTest, MkdirAndRemove) {
  engine_->make_dir(id_, "/workspace/a/b/c");
  EXPECT_EQ(engine_->stat(id_, "/workspace/a/b/c").type, "dir");
  engine_->write_file(id_, "/workspace/a/b/c/f", "x", 0644);
  EXPECT_THROW(engine_->remove(id_, "/workspace/a", false), Conflict);
  engine_->remove(id_, "/workspace/a/b/c/f", false);
  EXPECT_THROW(engine_->stat(id_, "/workspace/a/b/c/f"), NotFound);
  engine_->remove(id_, "/workspace/a", true);
  EXPECT_THROW(engine_->stat(id_, "/workspace/a"), NotFound);
  EXPECT_EQ(run(id_, "ls -A /workspace").stdout_data, "");
  EXPECT_THROW(engine_->remove(id_, "/workspace/a", true), NotFound);
}

TEST_F(FilesTest, SymlinksCannotEscapeTheSandbox) {
  // A host file the sandbox must never reach.
  char tmpl[] = "/tmp/cryo-host-secret-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string secret = tmpl;
  write_file_atomic(secret + "/x", "HOST SECRET");
  std::string rel = secret.substr(1);  // "tmp/cryo-host-secret-..."

  ASSERT_EQ(run(id_, "ln -s /etc/../../../" + rel + " /workspace/evil").exit_code, 0);
  ASSERT_EQ(run(id_, "ln -s ../../../../../../../" + rel + "/x /workspace/evil2").exit_code, 0);
  ASSERT_EQ(run(id_, "ln -s /proc/1/root/../../../" + rel + " /workspace/evil3").exit_code, 0);
  for (auto* p : {"/workspace/evil/x", "/workspace/evil2", "/workspace/evil3/x", "/../../../../" })
    try {
      std::string got = engine_->read_file(id_, std::string(p) + (std::string(p).back() == '/' ? rel + "/x" : ""));
      ADD_FAILURE() << p << " read " << got;
    } catch (const NotFound&) {
    } catch (const BadRequest&) {
    }
  // Writing through the link lands inside the sandbox (or fails), never on the host.
  try {
    engine_->write_file(id_, "/workspace/evil/x", "overwritten", 0644);
  } catch (const std::exception&) {
  }
  EXPECT_EQ(read_file(secret + "/x"), "HOST SECRET");
  try {
    engine_->remove(id_, "/workspace/evil/x", false);
  } catch (const std::exception&) {
  }
  EXPECT_TRUE(path_exists(secret + "/x"));
  // stat reports the link itself.
  EXPECT_EQ(engine_->stat(id_, "/workspace/evil").type, "symlink");
  remove_tree(secret);
}

}  // namespace
}  // namespace cryo::sentry_test
