#include "runtime/sealed_exe.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fd.h"

extern char** environ;

namespace cryo::runtime {
namespace {

constexpr int kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

bool running_sealed() {
  UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!self) return false;
  int seals = ::fcntl(self.get(), F_GET_SEALS);
  return seals >= 0 && (seals & kSeals) == kSeals;
}

}  // namespace

void ensure_sealed_exe(char** argv) {
  if (running_sealed()) return;
  UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!self) throw_errno("open /proc/self/exe");
  struct stat st;
  if (::fstat(self.get(), &st) != 0) throw_errno("stat /proc/self/exe");
  UniqueFd copy(::memfd_create("cryo", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!copy) throw_errno("memfd_create");
  for (off_t done = 0; done < st.st_size;) {
    ssize_t n = ::sendfile(copy.get(), self.get(), nullptr, static_cast<size_t>(st.st_size - done));
    if (n <= 0) throw_errno("copy the cryo binary into a sealed memfd");
    done += n;
  }
  if (::fcntl(copy.get(), F_ADD_SEALS, kSeals) != 0) throw_errno("seal the cryo binary copy");
  ::fexecve(copy.get(), argv, environ);
  throw_errno("re-exec cryo from its sealed copy");
}

}  // namespace cryo::runtime
