/* Codec measurement shared by `larder bench` and the demo; see bench_codec.h. Timing uses
 * CLOCK_MONOTONIC around each call; buffers are allocated once per measurement and touched
 * before timing starts, so page faults do not count against the first run. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/bench_codec.h"

#define MAX_RUNS 9

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

const char *bench_data_name(enum bench_data d)
{
	static const char *const names[BENCH_NDATA] = {"floats", "ramp", "zeros"};
	return d < BENCH_NDATA ? names[d] : "?";
}

void bench_data_fill(enum bench_data d, void *buf, size_t n)
{
	uint64_t s = 42 + (uint64_t)d;
	unsigned char *p = buf;
	size_t k = n / 8;
	for (size_t i = 0; i < k && d != BENCH_ZEROS; i++) {
		uint64_t r = splitmix(&s);
		if (d == BENCH_FLOATS) {
			double v = (double)(r >> 11) / 9007199254740992.0;
			memcpy(p + 8 * i, &v, 8);
		} else {
			int64_t v = (int64_t)(i * 16) + (int64_t)(r % 8);
			memcpy(p + 8 * i, &v, 8);
		}
	}
	memset(p + (d == BENCH_ZEROS ? 0 : 8 * k), 0, d == BENCH_ZEROS ? n : n - 8 * k);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void finish(struct bench_result *r, size_t compressed, double *tc, double *td, int runs)
{
	r->compressed = compressed;
	r->compress_s = median(tc, runs);
	r->decompress_s = median(td, runs);
}

int bench_codec(const lrd_codec *c, const lrd_codec_params *p, const void *src, size_t n, int runs,
                struct bench_result *r)
{
	double tc[MAX_RUNS], td[MAX_RUNS];
	if (runs < 1 || runs > MAX_RUNS)
		return lrd_error_set(LRD_EINVAL, "bench: runs must be 1 to %d", MAX_RUNS);
	size_t cap = lrd_codec_bound(c, n, p);
	if (cap == 0 && n > 0)
		return lrd_error_set(LRD_ELIMIT, "%s: %zu bytes are too many for one call", c->name,
		                     n);
	unsigned char *dst = malloc(cap ? cap : 1), *back = malloc(n ? n : 1);
	int rc = dst && back ? LRD_OK : lrd_error_set(LRD_ENOMEM, "bench: out of memory");
	if (rc == LRD_OK) {
		memset(dst, 1, cap);
		memset(back, 1, n);
	}
	size_t clen = 0, dlen = 0;
	for (int i = 0; i < runs && rc == LRD_OK; i++) {
		double t0 = now();
		rc = lrd_codec_compress(c, p, src, n, dst, cap, &clen);
		tc[i] = now() - t0;
	}
	for (int i = 0; i < runs && rc == LRD_OK; i++) {
		double t0 = now();
		rc = lrd_codec_decompress(c, p, dst, clen, back, n, &dlen);
		td[i] = now() - t0;
	}
	if (rc == LRD_OK && (dlen != n || memcmp(src, back, n) != 0))
		rc = lrd_error_set(LRD_ECORRUPT, "%s: round trip changed the data", c->name);
	if (rc == LRD_OK)
		finish(r, clen, tc, td, runs);
	free(dst);
	free(back);
	return rc;
}

double bench_mb_s(size_t n, double seconds) { return seconds > 0 ? (double)n / 1e6 / seconds : 0; }

int bench_chunked(const lrd_codec *c, int level, int threads, const void *src, size_t n, int runs,
                  struct bench_result *r)
{
	double tc[MAX_RUNS], td[MAX_RUNS];
	if (runs < 1 || runs > MAX_RUNS)
		return lrd_error_set(LRD_EINVAL, "bench: runs must be 1 to %d", MAX_RUNS);
	lrd_dtype dt;
	bool wide = n % 8 == 0;
	uint64_t shape[1] = {wide ? n / 8 : n};
	lrd_value *a = NULL;
	int rc = lrd_dtype_parse(wide ? "<u8" : "|u1", &dt);
	if (rc == LRD_OK) /* the array borrows src: nothing is copied before the dump */
		rc = lrd_array_wrap(dt, 1, shape, LRD_ORDER_C, (void *)(uintptr_t)src, n, &a);
	lrd_dump_options d = {.chunk_codec = c->name,
	                      .chunk_params = {.level = level, .typesize = wide ? 8 : 1},
	                      .threads = threads};
	lrd_load_options l = {.threads = threads};
	void *file = NULL;
	size_t size = 0;
	for (int i = 0; i < runs && rc == LRD_OK; i++) {
		lrd_free(file);
		file = NULL;
		double t0 = now();
		rc = lrd_dump_memory(a, &file, &size, &d);
		tc[i] = now() - t0;
	}
	for (int i = 0; i < runs && rc == LRD_OK; i++) {
		lrd_value *back = NULL;
		double t0 = now();
		rc = lrd_load_memory(file, size, &back, &l);
		td[i] = now() - t0;
		if (rc == LRD_OK &&
		    (lrd_array_nbytes(back) != n || memcmp(lrd_array_cdata(back), src, n) != 0))
			rc = lrd_error_set(LRD_ECORRUPT, "%s chunks: round trip changed the data",
			                   c->name);
		lrd_value_free(back);
	}
	if (rc == LRD_OK)
		finish(r, size, tc, td, runs);
	lrd_free(file);
	lrd_value_free(a);
	return rc;
}
