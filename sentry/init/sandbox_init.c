/* The sandbox's pid 1 (/.cryo/init in the default image): keeps the container alive and reaps
 * the orphans that exec'd commands leave behind. Static and tiny, so it costs nothing to
 * checkpoint; it owns no files besides its stdio (/dev/null), so CRIU can always dump it. */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>

static void on_signal(int sig) { (void)sig; }

int main(void) {
  sigset_t chld, none;
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);
  /* pid 1 of a pid namespace ignores signals it has no handler for, except from the host; a
   * handler for TERM makes `kill 1` inside the sandbox harmless rather than fatal. */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  sigemptyset(&none);
  for (;;) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    /* SIGCHLD stays blocked between the reap and here, so none is lost before we sleep. */
    sigsuspend(&none);
  }
}
