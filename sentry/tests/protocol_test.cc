#include <gtest/gtest.h>

#include "base/error.h"
#include "sentry/protocol.h"

using namespace cryo::sentry;

TEST(Protocol, Base64RoundTripsEveryLength) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(base64_decode(base64_encode(data)), data) << "length " << i;
    data += static_cast<char>(i * 37);
  }
}

TEST(Protocol, Base64KnownValues) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_THROW(base64_decode("Zm9v!"), cryo::Error);
}

TEST(Protocol, LineBufferKeepsPartialLines) {
  LineBuffer b;
  std::string line;
  b.append("{\"a\":1}\n{\"b\"");
  ASSERT_TRUE(b.next_line(line));
  EXPECT_EQ(line, "{\"a\":1}");
  EXPECT_FALSE(b.next_line(line));
  b.append(":2}\n");
  ASSERT_TRUE(b.next_line(line));
  EXPECT_EQ(line, "{\"b\":2}");
  EXPECT_EQ(b.pending(), 0u);
}
