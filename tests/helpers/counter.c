/* A workload for checkpoint tests and benchmarks, linked statically so it runs in the busybox
 * root: holds MIB MiB of touched memory filled with a known pattern, and writes an increasing
 * counter to FILE every 50 ms. It also checks the pattern on every tick, so memory that did not
 * survive a restore makes it exit with status 3.
 * usage: counter MIB FILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: counter MIB FILE\n");
    return 2;
  }
  size_t size = (size_t)atol(argv[1]) << 20;
  unsigned char* mem = size ? malloc(size) : NULL;
  for (size_t i = 0; i < size; ++i) mem[i] = (unsigned char)(i * 7);
  struct timespec tick = {0, 50 * 1000 * 1000};
  for (unsigned long count = 1;; ++count) {
    for (size_t i = 0; i < size; i += 4096)
      if (mem[i] != (unsigned char)(i * 7)) return 3;
    FILE* f = fopen(argv[2], "w");
    if (f) {
      fprintf(f, "%lu\n", count);
      fclose(f);
    }
    nanosleep(&tick, NULL);
  }
}
