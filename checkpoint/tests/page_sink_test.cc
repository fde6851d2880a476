// The page sink as CRIU's dump sees it: a fake CRIU speaks the page-server protocol over the
// socket pair, and the images the sink writes afterwards must hold the right bytes.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "base/file.h"
#include "checkpoint/page_sink.h"

namespace cryo::checkpoint {
namespace {

constexpr size_t kPage = 4096;
constexpr uint32_t kOpen2 = 4, kAddF = 6, kClose = 0x1023, kPePresent = 1u << 2;

struct ScratchDir {
  std::string path;
  ScratchDir() {
    char tmpl[] = "/tmp/cryo-page-sink-test.XXXXXX";
    if (!::mkdtemp(tmpl)) throw_errno("mkdtemp");
    path = tmpl;
  }
  ~ScratchDir() { remove_tree(path); }
};

// CRIU's side of a dump.
class FakeCriu {
 public:
  explicit FakeCriu(int fd) : fd_(fd) {}
  void open(uint64_t dst_id) {
    command(kOpen2, 0, 0, dst_id);
    char has_parent = 1;
    ASSERT_EQ(::recv(fd_, &has_parent, 1, MSG_WAITALL), 1);
    EXPECT_EQ(has_parent, 0);
  }
  // `bytes` may be shorter than the pages announced: a criu that dies in the middle.
  void add(uint64_t dst_id, uint64_t vaddr, size_t pages, const std::vector<char>& bytes, uint32_t flags = kPePresent) {
    command(kAddF | (flags << 16), pages, vaddr, dst_id);
    if (!bytes.empty()) {
      ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
    }
  }
  void command(uint32_t cmd, uint64_t nr_pages, uint64_t vaddr, uint64_t dst_id) {
    struct {
      uint32_t cmd, pad;
      uint64_t nr_pages, vaddr, dst_id;
    } c{cmd, 0, nr_pages, vaddr, dst_id};
    ASSERT_EQ(::send(fd_, &c, sizeof c, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof c));
  }
  // The sink's answer to the close command, or -1 when it closed the connection instead.
  int close() {
    command(kClose, 0, 0, 0);
    int32_t status = -1;
    return ::recv(fd_, &status, sizeof status, MSG_WAITALL) == sizeof status ? status : -1;
  }

 private:
  int fd_;
};

std::vector<char> pattern(size_t pages, char seed) {
  std::vector<char> v(pages * kPage);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<char>(seed + i * 7);
  return v;
}

constexpr uint64_t task_image(uint64_t pid) { return pid << 8 | 1; }

std::string image(const ScratchDir& dir, const std::string& name) { return read_file(dir.path + "/" + name); }

uint64_t write_images(PageSink& sink, const ScratchDir& dir) {
  UniqueFd images(::open(dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return sink.write_images(images.get());
}

TEST(PageSink, WritesEachImagesPagesInOrder) {
  std::vector<char> first = pattern(300, 'a'), second = pattern(3, 'x'), third = pattern(2, 'k');
  PageSink sink(1 << 20, PageSink::Transport::SocketPair);  // smaller than the pages: grows
  sink.start();
  FakeCriu criu(sink.criu_fd());
  criu.open(task_image(1));
  criu.add(task_image(1), 0x400000, 300, first);
  criu.add(task_image(1), 0x800000, 16, {}, 0);  // a hole: no page data
  criu.add(task_image(1), 0x900000, 2, third);
  criu.open(task_image(7));
  criu.add(task_image(7), 0x10000, 3, second);
  EXPECT_EQ(criu.close(), 0);
  ScratchDir dir;
  EXPECT_EQ(write_images(sink, dir), 305u);
  std::string expected_first(first.begin(), first.end());
  expected_first.append(third.begin(), third.end());
  EXPECT_TRUE(image(dir, "pages-1.img") == expected_first);
  EXPECT_TRUE(image(dir, "pages-2.img") == std::string(second.begin(), second.end()));
  // Three entries for task 1, one for task 7, each after CRIU's two magics and the head.
  EXPECT_GT(image(dir, "pagemap-1.img").size(), image(dir, "pagemap-7.img").size());
}

TEST(PageSink, PagesTheShadowHoldsAreTakenFromItAndCriusCopyDropped) {
  // Task 1's pages 2..5 of 8 are held; CRIU sends all 8 with other bytes, then task 2's 2 pages
  // (not held at all). The images must hold the shadow's bytes where it has them, CRIU's elsewhere.
  std::vector<char> held = pattern(4, 'H'), from_criu = pattern(8, 'c'), other = pattern(2, 'o');
  PageShadow shadow;
  shadow.add(1, 0x400000 + 2 * kPage, 4, held.data());
  PageSink sink(1 << 20, PageSink::Transport::SocketPair);
  sink.use_shadow(&shadow);
  sink.start();
  FakeCriu criu(sink.criu_fd());
  criu.open(task_image(1));
  criu.add(task_image(1), 0x400000, 8, from_criu);
  criu.open(task_image(2));
  criu.add(task_image(2), 0x400000 + 2 * kPage, 2, other);
  EXPECT_EQ(criu.close(), 0);
  ScratchDir dir;
  EXPECT_EQ(write_images(sink, dir), 10u);
  EXPECT_EQ(sink.pages_from_shadow(), 4u);
  std::string expected(from_criu.begin(), from_criu.begin() + 2 * kPage);
  expected.append(held.begin(), held.end());
  expected.append(from_criu.begin() + 6 * kPage, from_criu.end());
  EXPECT_TRUE(image(dir, "pages-1.img") == expected);
  EXPECT_TRUE(image(dir, "pages-2.img") == std::string(other.begin(), other.end()));
}

TEST(PageSink, ACriuThatDiesInTheMiddleOfPagesFailsTheImages) {
  PageSink sink(1 << 20, PageSink::Transport::SocketPair);
  sink.start();
  {
    FakeCriu criu(sink.criu_fd());
    criu.open(task_image(1));
    criu.add(task_image(1), 0x400000, 4, pattern(2, 'z'));  // announces 4 pages, sends 2
  }
  ::shutdown(sink.criu_fd(), SHUT_RDWR);
  ScratchDir dir;
  try {
    write_images(sink, dir);
    FAIL() << "write_images succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("middle of pages"), std::string::npos) << e.what();
  }
}

TEST(PageSink, AnUnknownCommandClosesTheConnectionInsteadOfLeavingCriuWaiting) {
  PageSink sink(1 << 20, PageSink::Transport::SocketPair);
  sink.start();
  FakeCriu criu(sink.criu_fd());
  criu.command(0x77, 0, 0, 0);
  EXPECT_EQ(criu.close(), -1);  // not an answer: the connection was shut
  ScratchDir dir;
  try {
    write_images(sink, dir);
    FAIL() << "write_images succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unexpected command 119"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cryo::checkpoint
