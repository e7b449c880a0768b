/* Message benchmark (larder/message.h): encode + decode of a map of three scalars, and a
 * zero-copy decode of arrays of 8 KiB to 8 MiB (which should cost the same whatever the size).
 * Prints one line per case: nanoseconds per operation, the median of 7 runs.
 * Usage: bench/message_bench [iterations-scale] (default 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <larder.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void die(const char *what)
{
	fprintf(stderr, "message_bench: %s: %s\n", what, lrd_errmsg());
	exit(1);
}

#define RUNS 7

static double scalars_round_trip(long iters)
{
	lrd_value *m, *x;
	if (lrd_value_new_map(&m) || lrd_value_new_int(42, &x) || lrd_map_set(m, "n", x) ||
	    lrd_value_new_float(0.5, &x) || lrd_map_set(m, "alpha", x) ||
	    lrd_value_new_bool(true, &x) || lrd_map_set(m, "ok", x))
		die("building the map");
	double t[RUNS];
	for (int k = 0; k < RUNS; k++) {
		double t0 = now_ns();
		for (long i = 0; i < iters; i++) {
			void *buf;
			size_t len;
			lrd_value *back;
			if (lrd_value_encode(m, NULL, &buf, &len) ||
			    lrd_value_decode(buf, len, NULL, &back))
				die("round trip");
			lrd_value_free(back);
			lrd_free(buf);
		}
		t[k] = (now_ns() - t0) / iters;
	}
	lrd_value_free(m);
	qsort(t, RUNS, sizeof *t, cmp);
	return t[RUNS / 2];
}

static double borrowed_decode(size_t nbytes, long iters)
{
	lrd_dtype f8;
	lrd_value *a;
	uint64_t n = nbytes / 8;
	if (lrd_dtype_parse("<f8", &f8) || lrd_array_new(f8, 1, &n, LRD_ORDER_C, &a))
		die("building the array");
	void *buf;
	size_t len;
	if (lrd_value_encode(a, NULL, &buf, &len))
		die("encode");
	lrd_decode_options o = {.flags = LRD_DECODE_BORROW};
	double t[RUNS];
	for (int k = 0; k < RUNS; k++) {
		double t0 = now_ns();
		for (long i = 0; i < iters; i++) {
			lrd_value *back;
			if (lrd_value_decode(buf, len, &o, &back))
				die("decode");
			if (lrd_array_bufkind(back) != LRD_BUF_BORROWED) {
				fprintf(stderr, "message_bench: array was copied, not borrowed\n");
				exit(1);
			}
			lrd_value_free(back);
		}
		t[k] = (now_ns() - t0) / iters;
	}
	lrd_free(buf);
	lrd_value_free(a);
	qsort(t, RUNS, sizeof *t, cmp);
	return t[RUNS / 2];
}

int main(int argc, char **argv)
{
	long scale = argc > 1 ? atol(argv[1]) : 1;
	if (scale < 1)
		scale = 1;
	printf("map of 3 scalars, encode+decode:     %8.1f ns (target < 300)\n",
	       scalars_round_trip(100000 * scale));
	static const size_t sizes[] = {8192, 1 << 20, 8 << 20};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
		printf("array of %7zu bytes, borrowed decode: %8.1f ns (constant in the size)\n",
		       sizes[i], borrowed_decode(sizes[i], 100000 * scale));
	return 0;
}
