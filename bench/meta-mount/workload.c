// The metadata workload of bench/meta-mount, in C so that the client costs the same few
// microseconds per call against every server: one phase per run, timed around the calls only.
//   workload DIR N create   open(O_CREAT|O_EXCL|O_WRONLY), write 4 KiB, close, N times
//   workload DIR N stat     stat each file (checks size 4096)
//   workload DIR N list     opendir/readdir/closedir of DIR, counting the entries (>= N)
//   workload DIR N read     open, read 4 KiB, close, each file (checks the bytes)
// Prints "PHASE N SECONDS OPS_PER_S". Exit 1 with a message naming the file on any failure.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE 4096

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(const char *what, const char *path) {
  fprintf(stderr, "workload: %s %s: %s\n", what, path, strerror(errno));
  exit(1);
}

static void fill(unsigned char *buf, long i) {
  for (int k = 0; k < FILE_SIZE; k++) buf[k] = (unsigned char)(i * 31 + k * 7);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: workload DIR N create|stat|list|read\n");
    return 2;
  }
  const char *dir = argv[1];
  long n = atol(argv[2]);
  const char *phase = argv[3];
  char path[4096];
  static unsigned char want[FILE_SIZE], got[FILE_SIZE];
  long ops = n;
  double t0 = now(), spent = 0;
  if (!strcmp(phase, "create")) {
    for (long i = 0; i < n; i++) {
      snprintf(path, sizeof path, "%s/f%07ld", dir, i);
      fill(want, i);
      double a = now();
      int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
      if (fd < 0) fail("create", path);
      if (write(fd, want, FILE_SIZE) != FILE_SIZE) fail("write", path);
      if (close(fd) != 0) fail("close", path);
      spent += now() - a;
    }
  } else if (!strcmp(phase, "stat")) {
    struct stat st;
    for (long i = 0; i < n; i++) {
      snprintf(path, sizeof path, "%s/f%07ld", dir, i);
      double a = now();
      if (stat(path, &st) != 0) fail("stat", path);
      spent += now() - a;
      if (st.st_size != FILE_SIZE) {
        errno = EIO;
        fail("stat (size)", path);
      }
    }
  } else if (!strcmp(phase, "list")) {
    double a = now();
    DIR *d = opendir(dir);
    if (!d) fail("opendir", dir);
    long count = 0;
    errno = 0;
    while (readdir(d)) count++;
    if (errno) fail("readdir", dir);
    closedir(d);
    spent = now() - a;
    if (count < n) {
      fprintf(stderr, "workload: readdir %s: %ld entries, expected at least %ld\n", dir, count, n);
      return 1;
    }
    ops = 1;
  } else if (!strcmp(phase, "read")) {
    for (long i = 0; i < n; i++) {
      snprintf(path, sizeof path, "%s/f%07ld", dir, i);
      fill(want, i);
      double a = now();
      int fd = open(path, O_RDONLY);
      if (fd < 0) fail("open", path);
      if (read(fd, got, FILE_SIZE) != FILE_SIZE) fail("read", path);
      if (close(fd) != 0) fail("close", path);
      spent += now() - a;
      if (memcmp(want, got, FILE_SIZE)) {
        errno = EIO;
        fail("read (bytes differ)", path);
      }
    }
  } else {
    fprintf(stderr, "workload: unknown phase %s\n", phase);
    return 2;
  }
  (void)t0;
  printf("%s %ld %.6f %.1f\n", phase, n, spent, ops / spent);
  return 0;
}
