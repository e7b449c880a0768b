/* zlib-3 chunks: libdeflate (larder's one-shot chunk path) against zlib (larder's streaming
 * path, the one chunks took before libdeflate), on the generated data sets of `larder bench`,
 * in chunks of 4 MiB (lrd_dump's default). Prints one row per data set and library: ratio,
 * compress and decompress MB/s (medians of RUNS runs), every round trip checked.
 * Usage: bench/deflate_bench [MiB per data set, default 64] [level, default 3] [RUNS, default 3]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/bench_codec.h"

#define CHUNK    ((size_t)4 << 20)
#define MAX_RUNS 64

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One chunk through the streaming API (zlib underneath). */
static int stream_one(const lrd_codec *c, const lrd_codec_params *p, lrd_codec_mode mode,
                      const void *src, size_t n, void *dst, size_t cap, size_t *out)
{
	lrd_codec_stream *s;
	int rc = lrd_codec_stream_new(c, p, mode, &s);
	if (rc)
		return rc;
	lrd_codec_io io = {src, n, 0, dst, cap, 0};
	while ((rc = lrd_codec_stream_step(s, &io, 1)) == 0)
		if (io.dst_pos == io.dst_size) {
			rc = LRD_EBUFSIZE;
			break;
		}
	lrd_codec_stream_free(s);
	*out = io.dst_pos;
	return rc < 0 ? rc : LRD_OK;
}

static int one(int lib, const lrd_codec *c, const lrd_codec_params *p, lrd_codec_mode mode,
               const void *src, size_t n, void *dst, size_t cap, size_t *out)
{
	if (lib)
		return stream_one(c, p, mode, src, n, dst, cap, out);
	return mode == LRD_CODEC_ENCODE ? lrd_codec_compress(c, p, src, n, dst, cap, out)
	                                : lrd_codec_decompress(c, p, src, n, dst, cap, out);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	size_t n = (argc > 1 ? (size_t)atol(argv[1]) : 64) << 20;
	lrd_codec_params p = {.level = argc > 2 ? atoi(argv[2]) : 3};
	int runs = argc > 3 ? atoi(argv[3]) : 3;
	if (runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "deflate_bench: RUNS 1 to %d\n", MAX_RUNS);
		return 2;
	}
	const lrd_codec *c = lrd_codec_by_name("zlib");
	size_t nchunks = (n + CHUNK - 1) / CHUNK, cap = lrd_codec_bound(c, CHUNK, &p);
	unsigned char *src = malloc(n), *z = malloc(nchunks * cap), *back = malloc(n);
	size_t *zlen = calloc(nchunks, sizeof *zlen);
	if (!c || !src || !z || !back || !zlen || n == 0)
		return 2;
	memset(z, 1, nchunks * cap);
	memset(back, 1, n);
	printf("%-7s %-11s %5s %8s %14s %16s\n", "DATA", "LIBRARY", "LEVEL", "RATIO",
	       "COMPRESS MB/s", "DECOMPRESS MB/s");
	for (int d = 0; d < BENCH_NDATA; d++) {
		bench_data_fill((enum bench_data)d, src, n);
		for (int lib = 0; lib < 2; lib++) {
			double tc[MAX_RUNS], td[MAX_RUNS];
			size_t total = 0;
			for (int r = 0; r < 2 * runs; r++) {
				lrd_codec_mode mode =
				    r < runs ? LRD_CODEC_ENCODE : LRD_CODEC_DECODE;
				double t0 = now();
				total = 0;
				for (size_t i = 0; i < nchunks; i++) {
					size_t len = i + 1 < nchunks ? CHUNK : n - i * CHUNK, got;
					int rc = mode == LRD_CODEC_ENCODE
					             ? one(lib, c, &p, mode, src + i * CHUNK, len,
					                   z + i * cap, cap, &zlen[i])
					             : one(lib, c, &p, mode, z + i * cap, zlen[i],
					                   back + i * CHUNK, len, &got);
					if (rc) {
						fprintf(stderr, "deflate_bench: %s\n",
						        lrd_errmsg());
						return 1;
					}
					total += zlen[i];
				}
				if (r < runs)
					tc[r] = now() - t0;
				else
					td[r - runs] = now() - t0;
			}
			if (memcmp(src, back, n) != 0) {
				fprintf(stderr, "deflate_bench: round trip changed the data\n");
				return 1;
			}
			printf("%-7s %-11s %5d %8.2f %14.1f %16.1f\n",
			       bench_data_name((enum bench_data)d), lib ? "zlib" : "libdeflate",
			       p.level, (double)n / (double)total, bench_mb_s(n, median(tc, runs)),
			       bench_mb_s(n, median(td, runs)));
			fflush(stdout);
		}
	}
	free(src);
	free(z);
	free(back);
	free(zlen);
	return 0;
}
