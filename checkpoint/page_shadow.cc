#include "checkpoint/page_shadow.h"

#include <algorithm>

namespace cryo::checkpoint {
namespace {
constexpr uint64_t kPage = 4096;
const std::vector<PageShadow::Extent> kNone;
uint64_t end_of(const PageShadow::Extent& e) { return e.vaddr + e.pages * kPage; }
}  // namespace

void PageShadow::add(uint64_t id, uint64_t vaddr, uint64_t pages, char* data) {
  if (pages == 0) return;
  auto& list = by_id_[id];
  Extent e{vaddr, pages, data};
  auto at = std::lower_bound(list.begin(), list.end(), vaddr, [](const Extent& x, uint64_t v) { return x.vaddr < v; });
  // Join with the previous extent when both address and data continue it (the common case).
  if (at != list.begin()) {
    Extent& prev = *(at - 1);
    if (end_of(prev) == vaddr && prev.data + prev.pages * kPage == data) {
      prev.pages += pages;
      return;
    }
  }
  list.insert(at, e);
}

void PageShadow::drop(uint64_t id, uint64_t start, uint64_t end) {
  auto it = by_id_.find(id);
  if (it == by_id_.end() || start >= end) return;
  std::vector<Extent> kept;
  for (const Extent& e : it->second) {
    if (end_of(e) <= start || e.vaddr >= end) {
      kept.push_back(e);
      continue;
    }
    if (e.vaddr < start) kept.push_back({e.vaddr, (start - e.vaddr) / kPage, e.data});
    if (end_of(e) > end) kept.push_back({end, (end_of(e) - end) / kPage, e.data + (end - e.vaddr)});
  }
  it->second = std::move(kept);
}

std::pair<char*, uint64_t> PageShadow::find(uint64_t id, uint64_t vaddr, uint64_t max_pages) const {
  const auto& list = extents(id);
  // The first extent that ends after vaddr.
  auto at = std::upper_bound(list.begin(), list.end(), vaddr, [](uint64_t v, const Extent& x) { return v < end_of(x); });
  if (at == list.end()) return {nullptr, max_pages};
  if (at->vaddr <= vaddr) {
    uint64_t skip = (vaddr - at->vaddr) / kPage;
    return {at->data + skip * kPage, std::min(max_pages, at->pages - skip)};
  }
  return {nullptr, std::min(max_pages, (at->vaddr - vaddr) / kPage)};
}

const std::vector<PageShadow::Extent>& PageShadow::extents(uint64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? kNone : it->second;
}

uint64_t PageShadow::pages() const {
  uint64_t n = 0;
  for (auto& [id, list] : by_id_)
    for (auto& e : list) n += e.pages;
  return n;
}

}  // namespace cryo::checkpoint
