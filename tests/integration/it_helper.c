#define _GNU_SOURCE
/* A static helper for the runtime integration tests, copied into each test's busybox root.
 *   it_helper alloc MIB     touch MIB MiB of fresh memory, 1 MiB at a time; print "survived"
 *   it_helper fork N        fork N children that pause; print "ok=K fail=F errno=E", kill them
 *   it_helper writeexe PID  try to open /proc/PID/exe for writing; print the errno name or "opened" */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int do_alloc(long mib) {
  for (long i = 0; i < mib; ++i) {
    char* p = malloc(1 << 20);
    if (!p) {
      printf("malloc failed at %ld MiB\n", i);
      return 1;
    }
    memset(p, 0x5a, 1 << 20);
  }
  printf("survived\n");
  return 0;
}

static int do_fork(int n) {
  pid_t kids[4096];
  int ok = 0, fail = 0, err = 0;
  for (int i = 0; i < n && i < 4096; ++i) {
    pid_t p = fork();
    if (p == 0) {
      pause();
      _exit(0);
    }
    if (p < 0) {
      ++fail;
      err = errno;
    } else {
      kids[ok++] = p;
    }
  }
  printf("ok=%d fail=%d errno=%s\n", ok, fail, err ? strerrorname_np(err) : "0");
  fflush(stdout);
  for (int i = 0; i < ok; ++i) kill(kids[i], SIGKILL);
  while (wait(NULL) > 0) {
  }
  return 0;
}

static int do_writeexe(const char* pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/exe", pid);
  int fd = open(path, O_WRONLY);
  if (fd >= 0) {
    printf("opened\n");
    if (write(fd, "x", 1) == 1) printf("wrote\n");
    return 1;
  }
  printf("%s\n", strerrorname_np(errno));
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && !strcmp(argv[1], "alloc")) return do_alloc(atol(argv[2]));
  if (argc == 3 && !strcmp(argv[1], "fork")) return do_fork(atoi(argv[2]));
  if (argc == 3 && !strcmp(argv[1], "writeexe")) return do_writeexe(argv[2]);
  fprintf(stderr, "usage: it_helper alloc MIB | fork N | writeexe PID\n");
  return 2;
}
