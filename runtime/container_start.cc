// start: release the init waiting on the exec fifo, then run poststart hooks.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "base/file.h"
#include "runtime/container_internal.h"
#include "runtime/hooks.h"

namespace cryo::runtime {

void container_start(const GlobalOptions& g, const std::string& id) {
  StateStore store(g.root);
  LoadedContainer c = load_container(store, id);
  oci::Status status = c.status(store);
  if (status != oci::Status::Created)
    throw Error("cannot start container `" + id + "`: it is " + oci::status_name(status) + ", not created");
  std::string fifo_path = store.fifo_path(id);
  // The init is blocked opening the write end; opening the read end releases it.
  UniqueFd fifo(::open(fifo_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fifo) throw_errno("open `" + fifo_path + "`");
  // The init writes one byte after its startContainer hooks; EOF follows when it execs.
  bool released = false;
  for (;;) {
    struct pollfd pfd = {fifo.get(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, 100);
    char byte;
    if (ready > 0) {
      ssize_t n = ::read(fifo.get(), &byte, 1);
      if (n == 1) released = true;
      if (n == 0) break;  // exec'd, or an init that died
    }
    if (!c.init_alive()) break;
  }
  ::unlink(fifo_path.c_str());
  if (!released) throw Error("cannot start container `" + id + "`: its init exited");
  oci::State st = c.oci_state(store);
  st.status = oci::Status::Running;
  // A failed poststart hook is a warning; the other hooks run and the container keeps running.
  run_hooks_warning_on_failure(c.spec.hooks.poststart, "poststart", oci::state_json(st));
}

}  // namespace cryo::runtime
