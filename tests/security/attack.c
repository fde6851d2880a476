#define _GNU_SOURCE
/* The attacker: a static helper the security suite copies into a sandbox and runs there.
 * Each probe prints one line "NAME RESULT" where RESULT is "ok" (the attack worked) or the errno
 * name of the refusal; the test decides what is acceptable.
 *
 *   attack escape PID...    every escape probe (PIDs: host pids to ptrace/signal, e.g. the sentry's)
 *   attack connect PORT     TCP connect to 127.0.0.1:PORT
 *   attack nofile           open /dev/null until refused; prints "nofile COUNT ERRNO"
 *   attack forkbomb SECS    fork as fast as possible for SECS seconds; prints "forkbomb MAX ERRNO"
 *   attack membomb MIB      touch MIB MiB, 1 MiB at a time; prints "membomb survived"
 *   attack fill PATH MIB    write MIB MiB of zeros to PATH; prints "fill WRITTEN_MIB ERRNO|ok"
 *   attack spin SECS        burn CPU for SECS seconds */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char* ename(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case EROFS: return "EROFS";
    case ENOSYS: return "ENOSYS";
    case ENOSPC: return "ENOSPC";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EAGAIN: return "EAGAIN";
    case ETXTBSY: return "ETXTBSY";
    case ENETUNREACH: return "ENETUNREACH";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EBADF: return "EBADF";
    case EIO: return "EIO";
    case ENOTDIR: return "ENOTDIR";
    case EDQUOT: return "EDQUOT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOMEM: return "ENOMEM";
    case EFAULT: return "EFAULT";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case EXDEV: return "EXDEV";
    case ELOOP: return "ELOOP";
    default: {
      static char buf[32];
      snprintf(buf, sizeof buf, "E%d", e);
      return buf;
    }
  }
}

/* Prints the outcome of a call that returned rc (>= 0 success). */
static void report(const char* name, long rc) {
  if (rc >= 0)
    printf("%s ok\n", name);
  else
    printf("%s %s\n", name, ename(errno));
  fflush(stdout);
}

static void probe_write(const char* name, const char* path, const char* data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    report(name, -1);
    return;
  }
  long n = write(fd, data, strlen(data));
  int e = errno;
  close(fd);
  errno = e;
  report(name, n);
}

static void probe_syscalls(void) {
  /* keyctl: add a key to the session keyring */
  errno = 0;
  report("add_key", syscall(SYS_add_key, "user", "cryo-sec", "x", 1, KEY_SPEC_SESSION_KEYRING));
  report("keyctl", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "cryo-sec"));
  /* bpf: create a tiny array map */
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = BPF_MAP_TYPE_ARRAY;
  a.key_size = 4;
  a.value_size = 4;
  a.max_entries = 1;
  long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a);
  report("bpf", fd);
  if (fd >= 0) close((int)fd);
  /* kexec_load with no segments: a permitted caller gets success or EINVAL, a refused one EPERM */
  long rc = syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL);
  if (rc < 0 && errno == EINVAL) rc = 0; /* the call reached the kexec code: not blocked */
  report("kexec_load", rc);
  /* open_by_handle_at on a made-up handle: EPERM without CAP_DAC_READ_SEARCH */
  struct {
    unsigned int handle_bytes;
    int handle_type;
    unsigned char f_handle[8];
  } h = {8, 1, {2, 0, 0, 0, 0, 0, 0, 0}};
  rc = syscall(SYS_open_by_handle_at, AT_FDCWD, &h, O_RDONLY);
  if (rc < 0 && (errno == ESTALE || errno == EINVAL || errno == ENOENT)) rc = 0; /* reached the fs */
  report("open_by_handle_at", rc);
  if (rc > 0) close((int)rc);
  /* perf_event_open: a software counter on ourselves */
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof pe);
  pe.type = PERF_TYPE_SOFTWARE;
  pe.size = sizeof pe;
  pe.config = PERF_COUNT_SW_CPU_CLOCK;
  pe.disabled = 1;
  fd = syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
  report("perf_event_open", fd);
  if (fd >= 0) close((int)fd);
}

static void probe_namespaces(void) {
  /* A new user namespace would give us a full capability set inside it. */
  pid_t p = fork();
  if (p == 0) {
    if (unshare(CLONE_NEWUSER) != 0) _exit(10);
    /* Did we gain anything that matters? Try a mount namespace + mount inside. */
    if (unshare(CLONE_NEWNS) != 0) _exit(11);
    if (mount("none", "/tmp", "tmpfs", 0, NULL) != 0) _exit(12);
    _exit(0);
  }
  int st = 0;
  waitpid(p, &st, 0);
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 99;
  printf("unshare_user %s\n", code == 0 ? "ok" : code == 10 ? "refused" : code == 11 ? "refused_ns" : "refused_mount");
  report("unshare_mnt", unshare(CLONE_NEWNS));
  /* setns into pid 1's mount namespace (our own init: harmless) and into a host one we cannot see */
  int fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
  report("setns_mnt", fd < 0 ? -1 : syscall(SYS_setns, fd, CLONE_NEWNS));
  if (fd >= 0) close(fd);
}

static void probe_files(void) {
  /* The runtime binary: /proc/self/exe of a process the runtime started, and of pid 1. */
  int fd = open("/proc/self/exe", O_WRONLY | O_CLOEXEC);
  report("write_self_exe", fd);
  if (fd >= 0) close(fd);
  fd = open("/proc/1/exe", O_WRONLY | O_CLOEXEC);
  report("write_init_exe", fd);
  if (fd >= 0) close(fd);
  /* Host cwd or fds: does any inherited fd or our cwd point outside our root? */
  char link[4096];
  int leaks = 0;
  for (int i = 0; i < 1024; ++i) {
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", i);
    ssize_t n = readlink(p, link, sizeof link - 1);
    if (n < 0) continue;
    link[n] = 0;
    /* dir fds that fstat to a directory we cannot see by that path from our root */
    struct stat a, b;
    if (fstat(i, &a) == 0 && S_ISDIR(a.st_mode) && (stat(link, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)) {
      printf("host_fd %d -> %s\n", i, link);
      ++leaks;
    }
  }
  if (!leaks) printf("host_fd none\n");
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd))
    printf("host_cwd %s\n", ename(errno));
  else
    printf("host_cwd %s\n", cwd[0] == '/' ? "inside" : "outside");
  /* Leave the root with the classic chroot trick (needs CAP_SYS_CHROOT, which the sandbox has). */
  pid_t p = fork();
  if (p == 0) {
    mkdir("/tmp/.jail", 0700);
    if (chroot("/tmp/.jail") != 0) _exit(2);
    for (int i = 0; i < 64; ++i)
      if (chdir("..") != 0) break;
    if (chroot(".") != 0) _exit(3);
    struct stat st;
    /* The host has /work; the sandbox does not. */
    _exit(stat("/work/main", &st) == 0 ? 0 : 1);
  }
  int st = 0;
  waitpid(p, &st, 0);
  printf("chroot_escape %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "refused");

  report("mount_tmpfs", mount("none", "/mnt", "tmpfs", 0, NULL));
  report("mount_proc", mount("proc", "/mnt", "proc", 0, NULL));
  report("remount_root_ro", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
  report("umount_proc", umount2("/proc", MNT_DETACH));

  probe_write("write_proc_sys", "/proc/sys/kernel/hostname", "pwned\n");
  probe_write("write_proc_sys_vm", "/proc/sys/vm/drop_caches", "3\n");
  probe_write("write_sysrq", "/proc/sysrq-trigger", "h");
  fd = open("/proc/kcore", O_RDONLY | O_CLOEXEC);
  report("read_kcore", fd);
  if (fd >= 0) {
    char b[16];
    report("read_kcore_data", read(fd, b, sizeof b));
    close(fd);
  }
  probe_write("write_kcore", "/proc/kcore", "x");
  probe_write("write_sys_kernel", "/sys/kernel/uevent_helper", "/tmp/x\n");
  probe_write("write_sys_class", "/sys/class/net/lo/mtu", "1000\n");
  probe_write("write_sys_cgroup", "/sys/fs/cgroup/pids/pids.max", "max\n");
  fd = open("/sys/fs/cgroup/cgroup.procs", O_WRONLY | O_CLOEXEC);
  report("write_cgroup_procs", fd < 0 ? -1 : write(fd, "1\n", 2));
  if (fd >= 0) close(fd);

  /* Device nodes: making one may be allowed (CAP_MKNOD), using it must not be. */
  unlink("/tmp/sda");
  unlink("/tmp/mem");
  long rc = mknod("/tmp/sda", S_IFBLK | 0600, makedev(8, 0));
  report("mknod_blk", rc);
  fd = open("/tmp/sda", O_RDONLY | O_CLOEXEC);
  report("open_blk", fd);
  if (fd >= 0) close(fd);
  rc = mknod("/tmp/mem", S_IFCHR | 0600, makedev(1, 1));
  report("mknod_mem", rc);
  fd = open("/tmp/mem", O_RDONLY | O_CLOEXEC);
  report("open_mem", fd);
  if (fd >= 0) close(fd);
  fd = open("/dev/mem", O_RDONLY | O_CLOEXEC);
  report("open_dev_mem", fd);
  if (fd >= 0) close(fd);
}

static void probe_pids(int argc, char** argv) {
  /* Host processes: how many pids can we see? */
  int n = 0;
  char path[64];
  for (int pid = 1; pid < 1 << 22 && n < 100000; ++pid) {
    snprintf(path, sizeof path, "/proc/%d", pid);
    if (access(path, F_OK) == 0) ++n;
    if (pid > 65536 && n == 0) break;
  }
  printf("visible_pids %d\n", n);
  for (int i = 0; i < argc; ++i) {
    pid_t pid = atoi(argv[i]);
    char name[64];
    snprintf(name, sizeof name, "ptrace_%d", pid);
    report(name, ptrace(PTRACE_ATTACH, pid, NULL, NULL));
    snprintf(name, sizeof name, "seize_%d", pid);
    report(name, ptrace(PTRACE_SEIZE, pid, NULL, NULL));
    snprintf(name, sizeof name, "kill_%d", pid);
    report(name, kill(pid, 0));
    snprintf(name, sizeof name, "pidfd_%d", pid);
    long fd = syscall(SYS_pidfd_open, pid, 0);
    report(name, fd);
    if (fd >= 0) close((int)fd);
  }
}

static int do_connect(int port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    report("connect", -1);
    return 0;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  report("connect", connect(s, (struct sockaddr*)&sa, sizeof sa));
  close(s);
  return 0;
}

static int do_nofile(void) {
  int count = 0, err = 0;
  for (;;) {
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0) {
      err = errno;
      break;
    }
    if (++count > 10000000) break;
  }
  printf("nofile %d %s\n", count, ename(err));
  return 0;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int do_forkbomb(double secs) {
  /* Each child sleeps then exits; the parent forks as fast as it can. */
  int max = 0, live = 0, err = 0;
  double end = now_s() + secs;
  while (now_s() < end) {
    pid_t p = fork();
    if (p == 0) {
      sleep((unsigned)secs + 1);
      _exit(0);
    }
    if (p < 0) {
      err = errno;
      usleep(1000);
    } else if (++live > max) {
      max = live;
    }
    while (waitpid(-1, NULL, WNOHANG) > 0) --live;
  }
  printf("forkbomb %d %s\n", max, ename(err));
  fflush(stdout);
  signal(SIGTERM, SIG_IGN);
  kill(0, SIGTERM); /* our process group: the sleeping children */
  while (wait(NULL) > 0) {
  }
  return 0;
}

static int do_membomb(long mib) {
  for (long i = 0; i < mib; ++i) {
    char* p = malloc(1 << 20);
    if (!p) {
      printf("membomb malloc_failed %ld\n", i);
      return 1;
    }
    memset(p, 0x5a, 1 << 20);
  }
  printf("membomb survived\n");
  return 0;
}

static int do_fill(const char* path, long mib) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    printf("fill 0 %s\n", ename(errno));
    return 0;
  }
  static char buf[1 << 20];
  long done = 0;
  int err = 0;
  for (; done < mib; ++done) {
    ssize_t n = write(fd, buf, sizeof buf);
    if (n != (ssize_t)sizeof buf) {
      err = n < 0 ? errno : ENOSPC;
      break;
    }
  }
  if (!err && fsync(fd) != 0) err = errno;
  close(fd);
  printf("fill %ld %s\n", done, err ? ename(err) : "ok");
  return 0;
}

static int do_spin(double secs) {
  volatile unsigned long x = 0;
  double end = now_s() + secs;
  while (now_s() < end)
    for (int i = 0; i < 100000; ++i) ++x;
  printf("spin done\n");
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) return 2;
  const char* cmd = argv[1];
  if (!strcmp(cmd, "escape")) {
    probe_syscalls();
    probe_namespaces();
    probe_files();
    probe_pids(argc - 2, argv + 2);
    return 0;
  }
  if (!strcmp(cmd, "connect") && argc == 3) return do_connect(atoi(argv[2]));
  if (!strcmp(cmd, "nofile")) return do_nofile();
  if (!strcmp(cmd, "forkbomb") && argc == 3) return do_forkbomb(atof(argv[2]));
  if (!strcmp(cmd, "membomb") && argc == 3) return do_membomb(atol(argv[2]));
  if (!strcmp(cmd, "fill") && argc == 4) return do_fill(argv[2], atol(argv[3]));
  if (!strcmp(cmd, "spin") && argc == 3) return do_spin(atof(argv[2]));
  fprintf(stderr, "attack: unknown command\n");
  return 2;
}
