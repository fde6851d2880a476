/* A workload for checkpoint tests and benchmarks, linked statically so it runs in the busybox
 * root: holds MIB MiB of touched memory filled with a known pattern, and writes an increasing
 * counter to FILE every 50 ms. It also checks the pattern on every tick, so memory that did not
 * survive a restore makes it exit with status 3.
 * FILE holds "COUNT MAXGAP_US": the longest time between two ticks, which is how long the
 * process was stopped (frozen) at most; benchmarks read it to measure snapshot pauses.
 * With WRITE_PAGES, it also rewrites that many pages of the memory every tick and checks instead
 * that the XOR of every page's first byte is what it has been keeping track of: a snapshot that
 * mixes pages from different moments fails that check after a restore.
 * usage: counter MIB FILE [TICK_US [WRITE_PAGES]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    fprintf(stderr, "usage: counter MIB FILE [TICK_US [WRITE_PAGES]]\n");
    return 2;
  }
  long tick_us = argc >= 4 ? atol(argv[3]) : 50000;
  long write_pages = argc == 5 ? atol(argv[4]) : 0;
  size_t size = (size_t)atol(argv[1]) << 20;
  unsigned char* mem = size ? malloc(size) : NULL;
  for (size_t i = 0; i < size; ++i) mem[i] = (unsigned char)(i * 7);
  size_t pages = size / 4096;
  unsigned char first_bytes = 0;  // XOR of every page's first byte
  for (size_t p = 0; p < pages; ++p) first_bytes ^= mem[p * 4096];
  unsigned int seed = 1;
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
    if (write_pages && pages) {
      unsigned char x = 0;
      for (size_t p = 0; p < pages; ++p) x ^= mem[p * 4096];
      if (x != first_bytes) return 3;
      for (long k = 0; k < write_pages; ++k) {
        size_t p = (size_t)rand_r(&seed) % pages;
        unsigned char old = mem[p * 4096], new_value = (unsigned char)(old + 1 + k);
        mem[p * 4096] = new_value;
        first_bytes ^= (unsigned char)(old ^ new_value);
      }
    } else {
      for (size_t i = 0; i < size; i += 4096)
        if (mem[i] != (unsigned char)(i * 7)) return 3;
    }
    FILE* f = fopen(argv[2], "w");
    if (f) {
      fprintf(f, "%lu %ld\n", count, max_gap_us);
      fclose(f);
    }
    nanosleep(&tick, NULL);
  }
}
