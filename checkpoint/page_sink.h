// A page server of our own for CRIU's dump (criu dump --page-server). CRIU streams the dumped
// pages over loopback TCP into memory this process faulted in before the freeze, so the frozen
// window pays no first-touch cost for fresh page-cache pages (slow on VMs); the pagemap-*.img and
// pages-*.img images, in CRIU's own format, are written after the thaw.
//
// Protocol (CRIU >= 4.2, criu/page-xfer.c): 32-byte commands {u32 cmd; u32 pad; u64 nr_pages;
// u64 vaddr; u64 dst_id}; cmd's low 16 bits are the command, the high 16 bits the pagemap flags.
// OPEN2 (4) is answered with one byte "has parent" (0); ADD_F (6) carries nr_pages * 4096 bytes
// when the flags hold PE_PRESENT; CLOSE (0x1023) / FORCE_CLOSE (0x1024) are answered with an
// int32 status (0). dst_id is (image id << 8) | type, type 1 a task's pagemap, 2 a shmem one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <atomic>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "base/fd.h"
#include "checkpoint/page_shadow.h"

namespace cryo::checkpoint {

class PageSink {
 public:
  enum class Transport { Tcp, SocketPair };
  // Tcp: listens on 127.0.0.1 at a free port. SocketPair: criu gets one end of a unix stream
  // pair (criu_fd()), so spliced pages move as page references instead of being copied
  // through TCP. Faults in `reserve` bytes of buffer now.
  explicit PageSink(size_t reserve, Transport transport = Transport::Tcp);
  PageSink(const PageSink&) = delete;
  PageSink& operator=(const PageSink&) = delete;
  ~PageSink();

  int port() const { return port_; }
  int criu_fd() const { return criu_end_.get(); }  // SocketPair: the end criu gets
  // Serves the one connection of a dump in a thread.
  void start();
  // After the dump returned: waits for the server, then writes the images into `images_dir_fd`.
  // Throws Error when the transfer was incomplete. Returns the number of pages written.
  uint64_t write_images(int images_dir_fd);
  // Stops serving (a failed dump); safe to call more than once.
  void abort();
  // Buffer for pages copied ahead of the dump (precopy.h); only before start().
  char* allocate(size_t want, size_t& got) { return room(want, got); }
  // From now on, a task's page that `shadow` holds is taken from it, and CRIU's copy is dropped
  // unread. The shadow must stay valid and unchanged until write_images() returns.
  void use_shadow(const PageShadow* shadow) { shadow_.store(shadow, std::memory_order_release); }
  uint64_t pages_from_shadow() const { return from_shadow_; }

  struct Entry {
    uint64_t dst_id = 0, vaddr = 0, nr_pages = 0;
    uint32_t flags = 0;
    std::vector<std::pair<char*, size_t>> data;  // where its pages landed (PE_PRESENT only)
  };

 private:
  void serve();
  void receive_pages(Entry& e);
  void drop_bytes(size_t len);  // consumes CRIU's bytes without copying them
  char* room(size_t want, size_t& got);  // the next piece of buffer, up to `want` bytes

  UniqueFd listener_;
  UniqueFd conn_;
  UniqueFd criu_end_;
  int port_ = 0;
  std::thread thread_;
  std::exception_ptr error_;
  bool closed_ = false;  // CRIU sent its close command
  std::vector<std::pair<char*, size_t>> chunks_;  // mmap'd buffers
  size_t chunk_ = 0, used_ = 0;                   // fill position
  std::vector<Entry> entries_;
  std::atomic<const PageShadow*> shadow_{nullptr};
  UniqueFd drop_pipe_read_, drop_pipe_write_, dev_null_;
  uint64_t from_shadow_ = 0;
};

}  // namespace cryo::checkpoint
