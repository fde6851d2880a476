// Copies of pages taken ahead of a dump, by image id (a task's pid as CRIU names it) and
// address. The page sink writes a shadowed page instead of CRIU's copy of it (see precopy.h).
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace cryo::checkpoint {

class PageShadow {
 public:
  struct Extent {
    uint64_t vaddr = 0, pages = 0;
    char* data = nullptr;
  };
  // Extents of one id must not overlap.
  void add(uint64_t id, uint64_t vaddr, uint64_t pages, char* data);
  // Forgets whatever is held of [start, end) of `id`.
  void drop(uint64_t id, uint64_t start, uint64_t end);
  // The run of pages from `vaddr`, at most `max_pages` long, that is either all held in one piece
  // (its data) or all not held (nullptr); and its length in pages.
  std::pair<char*, uint64_t> find(uint64_t id, uint64_t vaddr, uint64_t max_pages) const;
  const std::vector<Extent>& extents(uint64_t id) const;
  uint64_t pages() const;

 private:
  std::map<uint64_t, std::vector<Extent>> by_id_;  // each sorted by address
};

}  // namespace cryo::checkpoint
