// A `tar` for CRIU's tmpfs images, put first on the PATH of the criu cryo starts.
//
// CRIU saves every tmpfs of a container (/dev, /dev/shm, masked directories, ...) by running
// `tar --create --gzip ... --directory /proc/self/fd/0 .` and restores it with
// `tar --extract --gzip ... --directory DIR`, once per mount, while the container is frozen (dump)
// or before it runs (restore). GNU tar is dynamically linked and runs gzip as a second process:
// ~7 ms per mount here, the largest fixed cost of the frozen window after the pages. This static
// program does the same two jobs with libarchive in one process and writes the same format (a
// gzip-compressed tar), so images stay interchangeable with GNU tar's. Any other use of `tar` is
// handed to the next `tar` on the PATH.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

struct Request {
  enum Mode { Other, Create, Extract } mode = Other;
  std::string directory;
};

// The exact option sets CRIU 4.x passes (criu/filesystems.c); anything else goes to GNU tar.
Request parse(int argc, char** argv) {
  static const std::set<std::string> create_flags = {"--gzip",       "--no-unquote",          "--no-wildcards",
                                                     "--one-file-system", "--check-links", "--preserve-permissions",
                                                     "--sparse",     "--numeric-owner"};
  static const std::set<std::string> extract_flags = {"--gzip", "--no-unquote", "--no-wildcards"};
  Request r;
  bool create = false, extract = false, dot = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--create") create = true;
    else if (a == "--extract") extract = true;
    else if (a == "--directory" && i + 1 < argc) r.directory = argv[++i];
    else if (a == "." && create) dot = true;
    else if (!create_flags.count(a) && !extract_flags.count(a)) return {};
    else if (extract && !extract_flags.count(a)) return {};
  }
  if (r.directory.empty() || create == extract) return {};
  if (create && !dot) return {};
  r.mode = create ? Request::Create : Request::Extract;
  return r;
}

[[noreturn]] void fail(const std::string& what, struct archive* a) {
  std::fprintf(stderr, "cryo tmpfs tar: %s: %s\n", what.c_str(), a ? archive_error_string(a) : std::strerror(errno));
  std::exit(2);
}

// Copies the data of the entry last read from `disk` into the archive. The tar writer takes data
// in order, so holes of sparse files are written out as zeros.
void copy_data(struct archive* disk, struct archive* out, const std::string& path, la_int64_t size_in_tar) {
  static const std::vector<char> zeros(1 << 16);
  const void* buf;
  size_t size;
  la_int64_t offset, written = 0;
  auto write = [&](const void* p, size_t n) {
    if (archive_write_data(out, p, n) < 0) fail("archive `" + path + "`", out);
    written += static_cast<la_int64_t>(n);
  };
  auto fill_to = [&](la_int64_t end) {
    while (written < end) write(zeros.data(), static_cast<size_t>(std::min<la_int64_t>(end - written, zeros.size())));
  };
  for (;;) {
    int r = archive_read_data_block(disk, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) fail("read `" + path + "`", disk);
    fill_to(offset);
    write(buf, size);
  }
  fill_to(size_in_tar);
}

// tar --create --gzip --one-file-system --numeric-owner --directory DIR . > stdout
int create(const std::string& directory) {
  if (::chdir(directory.c_str()) != 0) fail("chdir `" + directory + "`", nullptr);
  struct archive* out = archive_write_new();
  archive_write_add_filter_gzip(out);
  archive_write_set_format_gnutar(out);
  if (archive_write_open_fd(out, STDOUT_FILENO) != ARCHIVE_OK) fail("write to stdout", out);
  struct archive* disk = archive_read_disk_new();
  // No user/group name lookups (--numeric-owner); do not cross into other mounts.
  archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS | ARCHIVE_READDISK_NO_XATTR |
                                           ARCHIVE_READDISK_NO_ACL | ARCHIVE_READDISK_NO_FFLAGS);
  archive_read_disk_set_symlink_physical(disk);
  if (archive_read_disk_open(disk, ".") != ARCHIVE_OK) fail("open `" + directory + "`", disk);
  struct archive_entry_linkresolver* links = archive_entry_linkresolver_new();
  archive_entry_linkresolver_set_strategy(links, ARCHIVE_FORMAT_TAR_GNUTAR);
  for (;;) {
    struct archive_entry* entry = archive_entry_new();
    int r = archive_read_next_header2(disk, entry);
    if (r == ARCHIVE_EOF) {
      archive_entry_free(entry);
      break;
    }
    if (r < ARCHIVE_WARN) fail("walk `" + directory + "`", disk);
    archive_read_disk_descend(disk);
    std::string path = archive_entry_pathname(entry);
    struct archive_entry* sparse = nullptr;
    archive_entry_linkify(links, &entry, &sparse);  // a later hard link becomes a link entry
    if (sparse) archive_entry_free(sparse);          // only formats that defer links use it
    if (entry) {
      if (archive_write_header(out, entry) != ARCHIVE_OK) fail("archive `" + path + "`", out);
      if (archive_entry_size(entry) > 0) copy_data(disk, out, path, archive_entry_size(entry));
      archive_entry_free(entry);
    }
  }
  archive_entry_linkresolver_free(links);
  archive_read_free(disk);
  if (archive_write_close(out) != ARCHIVE_OK) fail("finish the archive", out);
  archive_write_free(out);
  return 0;
}

// tar --extract --gzip --directory DIR < stdin, as root: owners, modes, times and device nodes kept.
int extract(const std::string& directory) {
  if (::chdir(directory.c_str()) != 0) fail("chdir `" + directory + "`", nullptr);
  struct archive* in = archive_read_new();
  archive_read_support_filter_gzip(in);
  archive_read_support_format_tar(in);
  archive_read_support_format_gnutar(in);
  if (archive_read_open_fd(in, STDIN_FILENO, 1 << 16) != ARCHIVE_OK) fail("read stdin", in);
  struct archive* disk = archive_write_disk_new();
  archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                           ARCHIVE_EXTRACT_SPARSE | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                           ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
  for (;;) {
    struct archive_entry* entry;
    int r = archive_read_next_header(in, &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) fail("read the archive", in);
    std::string path = archive_entry_pathname(entry);
    if (archive_write_header(disk, entry) < ARCHIVE_WARN) fail("extract `" + path + "`", disk);
    const void* buf;
    size_t size;
    la_int64_t offset;
    while ((r = archive_read_data_block(in, &buf, &size, &offset)) == ARCHIVE_OK)
      if (archive_write_data_block(disk, buf, size, offset) < ARCHIVE_WARN) fail("write `" + path + "`", disk);
    if (r != ARCHIVE_EOF) fail("read `" + path + "`", in);
    if (archive_write_finish_entry(disk) < ARCHIVE_WARN) fail("finish `" + path + "`", disk);
  }
  archive_read_free(in);
  if (archive_write_close(disk) != ARCHIVE_OK) fail("finish extracting", disk);
  archive_write_free(disk);
  return 0;
}

// Anything but CRIU's two calls: run the next `tar` on the PATH after this one's directory.
[[noreturn]] void next_tar(char** argv) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string own_dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : "";
  own_dir = own_dir.substr(0, own_dir.find_last_of('/'));
  const char* path = std::getenv("PATH");
  std::string rest = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find(':', start);
    std::string dir = rest.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && dir != own_dir) {
      std::string candidate = dir + "/tar";
      ::execv(candidate.c_str(), argv);
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  std::fprintf(stderr, "cryo tmpfs tar: no other tar on PATH\n");
  std::exit(127);
}

}  // namespace

int main(int argc, char** argv) {
  Request r = parse(argc, argv);
  if (r.mode == Request::Create) return create(r.directory);
  if (r.mode == Request::Extract) return extract(r.directory);
  next_tar(argv);
}
