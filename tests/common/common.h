/* Helpers shared by the Criterion test programs: temporary directories, a seeded random
 * generator (seed printed, taken from $LARDER_TEST_SEED when set), data generators, and the
 * paths of fixtures and build-tree tools. */
#ifndef LRD_TEST_COMMON_H
#define LRD_TEST_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* A fresh directory under $TMPDIR (or /tmp), removed recursively by tc_rmtree. Returns a
 * malloc'd path. */
char *tc_tmpdir(void);
void tc_rmtree(const char *path);
/* malloc'd path join: tc_path(dir, "x.lrd"). */
char *tc_path(const char *dir, const char *name);

/* Seeded RNG. tc_seed() returns the seed in use (printed to stderr once per process). */
uint64_t tc_seed(void);
uint64_t tc_rand(void);
void tc_fill_random(void *buf, size_t n);
/* Generators of the three benchmark data sets. */
void tc_fill_floats(double *buf, size_t n); /* random float64 in [0, 1) */
void tc_fill_ramp(int64_t *buf, size_t n);  /* smooth int64 ramp + small noise */
/* n bytes of tc_fill_ramp data, rising by 4 KiB blocks (malloc'd, at least 1 byte; NULL when
 * out of memory): compressible but not trivially. */
unsigned char *tc_ramp_bytes(size_t n);
/* Peak resident set size of this process so far, in KiB. */
long tc_maxrss_kib(void);

/* TC_ASAN is 1 when the program is built with AddressSanitizer (gcc's __SANITIZE_ADDRESS__,
 * clang's __has_feature(address_sanitizer)), else 0. */
#if defined(__SANITIZE_ADDRESS__)
#define TC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TC_ASAN 1
#endif
#endif
#ifndef TC_ASAN
#define TC_ASAN 0
#endif

/* Whether a peak-RSS bound can be asserted in this build: 1 normally; 0 under AddressSanitizer,
 * whose allocator (redzones, quarantine of freed blocks) adds resident memory that is not
 * larder's; then it says on stderr that the bound on `what` is not asserted. A test still runs
 * the operation and checks its result either way; only the memory assertion is skipped. The
 * speed and memory targets themselves live in bench/. */
int tc_rss_bounds_apply(const char *what);
/* Directory of committed fixtures: $LARDER_TEST_SRCDIR/data or ./tests/data. */
const char *tc_datadir(void);
/* Read a whole file (malloc'd) ; NULL on failure. */
void *tc_read_file(const char *path, size_t *len);
int tc_write_file(const char *path, const void *p, size_t n);
/* Run a shell command; return its exit status (or -1). */
/* Run fn(arg) in a forked child (so that its memory and limits stay there) and wait for it:
 * 1 when it exited 0, else 0. */
int tc_in_child(void (*fn)(const char *), const char *arg);
int tc_sh(const char *fmt, ...);
/* 1 if a program is on PATH. */
int tc_have(const char *prog);

#endif
