/* A workload for checkpoint tests and benchmarks, linked statically so it runs in the busybox
 * root: holds MIB MiB of touched memory filled with a known pattern, and writes an increasing
 * counter to FILE every 50 ms. It also checks the pattern on every tick, so memory that did not
 * survive a restore makes it exit with status 3.
 * FILE holds "COUNT MAXGAP_US": the longest time between two ticks, which is how long the
 * process was stopped (frozen) at most; benchmarks read it to measure snapshot pauses.
 * usage: counter MIB FILE [TICK_US] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: counter MIB FILE [TICK_US]\n");
    return 2;
  }
  long tick_us = argc == 4 ? atol(argv[3]) : 50000;
  size_t size = (size_t)atol(argv[1]) << 20;
  unsigned char* mem = size ? malloc(size) : NULL;
  for (size_t i = 0; i < size; ++i) mem[i] = (unsigned char)(i * 7);
  struct timespec tick = {tick_us / 1000000, (tick_us % 1000000) * 1000};
  struct timespec last;
  clock_gettime(CLOCK_MONOTONIC, &last);
  long max_gap_us = 0;
  for (unsigned long count = 1;; ++count) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long gap = (now.tv_sec - last.tv_sec) * 1000000 + (now.tv_nsec - last.tv_nsec) / 1000;
    if (gap > max_gap_us) max_gap_us = gap;
    last = now;
    for (size_t i = 0; i < size; i += 4096)
      if (mem[i] != (unsigned char)(i * 7)) return 3;
    FILE* f = fopen(argv[2], "w");
    if (f) {
      fprintf(f, "%lu %ld\n", count, max_gap_us);
      fclose(f);
    }
    nanosleep(&tick, NULL);
  }
}
