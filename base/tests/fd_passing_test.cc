#include "base/fd_passing.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace cryo {
namespace {

struct Pair {
  UniqueFd a, b;
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

TEST(FdPassing, DescriptorsTravelWithTheMessage) {
  Pair p;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  UniqueFd r(pipe_fds[0]), w(pipe_fds[1]);
  ASSERT_EQ(send_with_fds(p.a.get(), "hello", {r.get(), w.get()}), 0);
  std::string buf(64, '\0');
  ReceivedMessage m = recv_with_fds(p.b.get(), buf, 2);
  EXPECT_EQ(m.size, 5);
  EXPECT_EQ(buf, "hello");
  ASSERT_EQ(m.fds.size(), 2u);
  EXPECT_TRUE(::fcntl(m.fds[0].get(), F_GETFD) & FD_CLOEXEC);
  // The received write end reaches the original pipe.
  ASSERT_EQ(::write(m.fds[1].get(), "x", 1), 1);
  char c = 0;
  EXPECT_EQ(::read(r.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
  EXPECT_FALSE(m.truncated);
}

TEST(FdPassing, ExtraDescriptorsAndBytesAreReported) {
  Pair p;
  ASSERT_EQ(send_with_fds(p.a.get(), "a long message", {0, 1, 2}), 0);
  std::string buf(4, '\0');
  ReceivedMessage m = recv_with_fds(p.b.get(), buf, 1);
  EXPECT_EQ(buf, "a lo");
  EXPECT_EQ(m.fds.size(), 1u);  // the others were closed, not leaked
  EXPECT_TRUE(m.truncated);
}

TEST(FdPassing, EndOfStreamAndErrors) {
  Pair p;
  p.a.reset();
  std::string buf(8, '\0');
  EXPECT_EQ(recv_with_fds(p.b.get(), buf, 1).size, 0);
  EXPECT_EQ(recv_with_fds(-1, buf, 1).size, -1);
  EXPECT_EQ(send_with_fds(-1, "x", {}), EBADF);
}

}  // namespace
}  // namespace cryo
