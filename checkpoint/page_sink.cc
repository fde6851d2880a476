#include "checkpoint/page_sink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "base/error.h"
#include "base/file.h"

namespace cryo::checkpoint {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kChunk = 64ul << 20;  // growth beyond the reserve
constexpr size_t kMaxSocketBuffer = 512ul << 20;

constexpr uint32_t kOpen2 = 4, kAddF = 6, kClose = 0x1023, kForceClose = 0x1024;
constexpr uint32_t kPePresent = 1u << 2;
constexpr uint64_t kTypePid = 1, kTypeShmem = 2;

// CRIU's image magics: every image starts with IMG_COMMON_MAGIC, then its own.
constexpr uint32_t kImgCommonMagic = 0x54564319, kPagemapMagic = 0x56084025;

struct Command {
  uint32_t cmd;
  uint32_t pad;
  uint64_t nr_pages, vaddr, dst_id;
};
static_assert(sizeof(Command) == 32);

bool recv_all(int fd, void* buf, size_t len) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = ::recv(fd, p, len, MSG_WAITALL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

void send_all(int fd, const void* buf, size_t len) {
  if (::send(fd, buf, len, MSG_NOSIGNAL) != static_cast<ssize_t>(len)) throw_errno("page server: answer criu");
}

char* map_chunk(size_t size, bool populate) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw_errno("page server: map a " + std::to_string(size >> 20) + " MiB buffer");
  // Huge pages: faulting in and copying into the buffer both go faster (best effort).
  ::madvise(p, size, MADV_HUGEPAGE);
  if (populate && ::madvise(p, size, MADV_POPULATE_WRITE) != 0) {
    for (size_t off = 0; off < size; off += kPage) static_cast<volatile char*>(p)[off] = 0;
  }
  return static_cast<char*>(p);
}

void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

// One protobuf message as CRIU stores it: u32 length, then the message.
void record(std::string& out, const std::string& msg) {
  u32(out, static_cast<uint32_t>(msg.size()));
  out += msg;
}

void write_at(int dirfd, const std::string& name, const std::vector<std::pair<const char*, size_t>>& parts) {
  UniqueFd fd(::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) throw_errno("page server: create " + name);
  for (auto& [p, n] : parts) write_all(fd.get(), p, n, "page server: write " + name);
}

}  // namespace

PageSink::PageSink(size_t reserve, Transport transport) {
  reserve = (reserve + kPage - 1) / kPage * kPage;
  if (reserve) chunks_.push_back({map_chunk(reserve, true), reserve});
  if (transport == Transport::SocketPair) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("page server: socketpair");
    conn_.reset(sv[0]);
    criu_end_.reset(sv[1]);
    // With the default buffers (~200 KiB) every MiB criu splices waits for our reads. Buffers as
    // large as the memory to come let criu queue all of it (references to the frozen pages, not
    // copies) and dump the rest of the container while we copy. FORCE: root may exceed
    // net.core.wmem_max/rmem_max.
    int bytes = static_cast<int>(std::clamp(reserve, kChunk, kMaxSocketBuffer));
    for (int fd : {sv[0], sv[1]}) {
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
    }
    return;
  }
  listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener_) throw_errno("page server: socket");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_.get(), 1) != 0)
    throw_errno("page server: listen on 127.0.0.1");
  socklen_t len = sizeof addr;
  ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
}

PageSink::~PageSink() {
  abort();
  for (auto& [p, n] : chunks_) ::munmap(p, n);
}

void PageSink::start() {
  thread_ = std::thread([this] {
    try {
      serve();
    } catch (...) {
      error_ = std::current_exception();
      if (conn_) ::shutdown(conn_.get(), SHUT_RDWR);  // criu must not wait for an answer that never comes
    }
  });
}

void PageSink::abort() {
  if (listener_) ::shutdown(listener_.get(), SHUT_RDWR);
  if (conn_) ::shutdown(conn_.get(), SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
}

char* PageSink::room(size_t want, size_t& got) {
  while (chunk_ < chunks_.size() && used_ == chunks_[chunk_].second) {
    ++chunk_;
    used_ = 0;
  }
  if (chunk_ == chunks_.size()) {
    chunks_.push_back({map_chunk(kChunk, false), kChunk});  // beyond the reserve: slow but correct
    used_ = 0;
  }
  got = std::min(want, chunks_[chunk_].second - used_);
  char* p = chunks_[chunk_].first + used_;
  used_ += got;
  return p;
}

void PageSink::serve() {
  if (!conn_) {
    int accepted = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (accepted < 0) throw_errno("page server: accept criu's connection");
    conn_.reset(accepted);
  }
  int c = conn_.get();
  for (;;) {
    Command cmd;
    if (!recv_all(c, &cmd, sizeof cmd)) throw Error("page server: criu closed the connection before its close command");
    uint32_t op = cmd.cmd & 0xffff, flags = cmd.cmd >> 16;
    if (op == kOpen2) {
      char has_parent = 0;
      send_all(c, &has_parent, 1);
    } else if (op == kAddF) {
      Entry e{cmd.dst_id, cmd.vaddr, cmd.nr_pages, flags, {}};
      if (flags & kPePresent) receive_pages(e);
      entries_.push_back(std::move(e));
    } else if (op == kClose || op == kForceClose) {
      int32_t status = 0;
      send_all(c, &status, sizeof status);
      closed_ = true;
      return;
    } else {
      throw Error("page server: unexpected command " + std::to_string(op) + " from criu");
    }
  }
}

void PageSink::receive_pages(Entry& e) {
  const PageShadow* shadow = shadow_.load(std::memory_order_acquire);
  bool task_pages = (e.dst_id & 0xff) == kTypePid;
  uint64_t vaddr = e.vaddr, left_pages = e.nr_pages;
  while (left_pages > 0) {
    char* held = nullptr;
    uint64_t run = left_pages;
    if (shadow && task_pages) std::tie(held, run) = shadow->find(e.dst_id >> 8, vaddr, left_pages);
    if (held) {
      drop_bytes(run * kPage);
      e.data.push_back({held, run * kPage});
      from_shadow_ += run;
    } else {
      for (size_t left = run * kPage; left > 0;) {
        size_t got = 0;
        char* p = room(left, got);
        if (!recv_all(conn_.get(), p, got)) throw Error("page server: criu closed the connection in the middle of pages");
        e.data.push_back({p, got});
        left -= got;
      }
    }
    vaddr += run * kPage;
    left_pages -= run;
  }
}

void PageSink::drop_bytes(size_t len) {
  if (!drop_pipe_read_) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("page server: pipe");
    drop_pipe_read_.reset(p[0]);
    drop_pipe_write_.reset(p[1]);
    ::fcntl(p[1], F_SETPIPE_SZ, 1 << 20);  // best effort: fewer rounds
    dev_null_.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (!dev_null_) throw_errno("page server: open /dev/null");
  }
  // Socket to pipe to /dev/null: the pages move as references and are released, never copied.
  while (len > 0) {
    ssize_t n = ::splice(conn_.get(), nullptr, drop_pipe_write_.get(), nullptr, len, SPLICE_F_MOVE);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("page server: drop pages criu sent");
    if (n == 0) throw Error("page server: criu closed the connection in the middle of pages");
    len -= static_cast<size_t>(n);
    for (ssize_t out = n; out > 0;) {
      ssize_t m = ::splice(drop_pipe_read_.get(), nullptr, dev_null_.get(), nullptr, static_cast<size_t>(out), SPLICE_F_MOVE);
      if (m < 0 && errno == EINTR) continue;
      if (m <= 0) throw_errno("page server: drop pages criu sent");
      out -= m;
    }
  }
}

uint64_t PageSink::write_images(int images_dir_fd) {
  if (thread_.joinable()) thread_.join();
  if (error_) std::rethrow_exception(error_);
  if (!closed_) throw Error("page server: criu never sent its pages");
  // Entries come in address order per image; images may interleave only between OPEN2s.
  std::map<uint64_t, std::vector<const Entry*>> by_image;
  for (auto& e : entries_) by_image[e.dst_id].push_back(&e);
  uint32_t pages_id = 0;
  uint64_t pages = 0;
  for (auto& [dst, list] : by_image) {
    uint64_t type = dst & 0xff, id = dst >> 8;
    if (type != kTypePid && type != kTypeShmem)
      throw Error("page server: unknown pagemap type " + std::to_string(type));
    ++pages_id;
    std::string pagemap;
    u32(pagemap, kImgCommonMagic);
    u32(pagemap, kPagemapMagic);
    std::string head;
    head += '\x08';  // PagemapHead.pages_id
    varint(head, pages_id);
    record(pagemap, head);
    std::vector<std::pair<const char*, size_t>> data;
    for (const Entry* e : list) {
      std::string pe;
      pe += '\x08';  // vaddr
      varint(pe, e->vaddr);
      pe += '\x10';  // compat nr_pages (u32, required): 0 as CRIU writes it
      varint(pe, 0);
      pe += '\x20';  // flags
      varint(pe, e->flags);
      pe += '\x28';  // nr_pages
      varint(pe, e->nr_pages);
      record(pagemap, pe);
      for (auto& [p, n] : e->data) data.push_back({p, n});
      if (e->flags & kPePresent) pages += e->nr_pages;
    }
    std::string name = (type == kTypePid ? "pagemap-" : "pagemap-shmem-") + std::to_string(id) + ".img";
    write_at(images_dir_fd, "pages-" + std::to_string(pages_id) + ".img", data);
    write_at(images_dir_fd, name, {{pagemap.data(), pagemap.size()}});
  }
  return pages;
}

}  // namespace cryo::checkpoint
