#include "service/tests/test_server.h"

namespace cryo::service::testing {
namespace {

class FileApi : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    start();
    id_ = create_sandbox();
    base_ = "/v1/sandboxes/" + id_ + "/files";
  }
  std::string id_, base_;
};

TEST_F(FileApi, WriteReadStatListRemove) {
  ASSERT_EQ(post(base_ + "/mkdir?path=/work/sub").status, 200);
  std::string binary("a\0b\xff", 4);
  ASSERT_EQ(put(base_ + "?path=/work/data.bin&mode=600", binary).status, 200);
  auto r = get(base_ + "?path=/work/data.bin");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, binary);
  EXPECT_EQ(world_->boxes.at(id_).files.at("/work/data.bin").mode, 0600u);

  auto st = get(base_ + "/stat?path=/work/data.bin");
  ASSERT_EQ(st.status, 200);
  EXPECT_EQ(st.j["type"], "file");
  EXPECT_EQ(st.j["size"], 4);
  EXPECT_EQ(st.j["mode"], 0600);
  EXPECT_EQ(st.j["name"], "data.bin");

  auto ls = get(base_ + "/list?path=/work");
  ASSERT_EQ(ls.status, 200);
  ASSERT_EQ(ls.j["entries"].size(), 2u);
  EXPECT_EQ(ls.j["entries"][0]["name"], "sub");
  EXPECT_EQ(ls.j["entries"][0]["type"], "dir");
  EXPECT_EQ(ls.j["entries"][1]["path"], "/work/data.bin");

  EXPECT_EQ(del(base_ + "?path=/work").status, 409);  // not empty, not recursive
  EXPECT_EQ(del(base_ + "?path=/work&recursive=true").status, 200);
  EXPECT_EQ(get(base_ + "?path=/work/data.bin").status, 404);
  EXPECT_EQ(get(base_ + "/stat?path=/work").status, 404);
  EXPECT_EQ(del(base_ + "?path=/x&recursive=maybe").status, 400);
}

TEST_F(FileApi, PathsWithSpecialCharactersRoundTrip) {
  post(base_ + "/mkdir?path=/d");
  ASSERT_EQ(put(base_ + "?path=/d/a%20b%26c.txt", "x").status, 200);
  EXPECT_TRUE(world_->boxes.at(id_).files.count("/d/a b&c.txt"));
  EXPECT_EQ(get(base_ + "?path=/d/a%20b%26c.txt").body, "x");
}

TEST_F(FileApi, LargeFileStreamsBack) {
  std::string big(900 * 1024, 'z');
  big[12345] = 'q';
  ASSERT_EQ(put(base_ + "?path=/big", big).status, 200);
  auto r = get(base_ + "?path=/big");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), big.size());
  EXPECT_EQ(r.body, big);
}

}  // namespace
}  // namespace cryo::service::testing
