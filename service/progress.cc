#include "service/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace cryo::service::ctl {

Spinner::Spinner(std::string label) : label_(std::move(label)) {
  if (!::isatty(STDERR_FILENO)) return;
  thread_ = std::thread([this] {
    static const char frames[] = {'|', '/', '-', '\\'};
    auto start = std::chrono::steady_clock::now();
    for (unsigned i = 0; !done_; ++i) {
      std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
      std::fprintf(stderr, "\r%c %s %.1fs", frames[i % 4], label_.c_str(), elapsed.count());
      std::fflush(stderr);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  });
}

Spinner::~Spinner() {
  done_ = true;
  if (thread_.joinable()) thread_.join();
}

ByteProgress::ByteProgress(std::string label, int64_t total) : label_(std::move(label)), total_(total) {
  if (!::isatty(STDERR_FILENO)) return;
  thread_ = std::thread([this] {
    static const char frames[] = {'|', '/', '-', '\\'};
    auto start = std::chrono::steady_clock::now();
    for (unsigned i = 0; !done_; ++i) {
      std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
      double mib = static_cast<double>(bytes_.load()) / (1 << 20);
      if (total_ > 0)
        std::fprintf(stderr, "\r\033[K%c %s %.1f/%.1f MiB (%d%%) %.1fs", frames[i % 4], label_.c_str(), mib,
                     static_cast<double>(total_) / (1 << 20), static_cast<int>(100.0 * bytes_.load() / total_),
                     elapsed.count());
      else
        std::fprintf(stderr, "\r\033[K%c %s %.1f MiB %.1fs", frames[i % 4], label_.c_str(), mib, elapsed.count());
      std::fflush(stderr);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  });
}

ByteProgress::~ByteProgress() {
  done_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace cryo::service::ctl
