/* The memoizer's benchmark (bench/memo_joblib.py runs it next to joblib.Memory and writes the
 * table): hit latency with a scalar argument and with 8 KiB and 8 MiB float64 array
 * arguments; miss + store latency; hit latency at 10, 10^5 and 10^6 entries; hashing
 * throughput of a 1 GiB array next to memcpy. One JSON object per line on stdout.
 *
 * usage: memo_bench [--dir DIR] [--max-entries N] [--hash-mib N]
 * The store is opened with LRD_STORE_NOSYNC (joblib does not fsync either). */
#include <larder.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int sum_fn(const lrd_value *args, lrd_value **res, void *ctx)
{
	(void)ctx;
	const lrd_value *a = lrd_list_at(args, 0);
	if (lrd_value_kind(a) == LRD_KIND_ARRAY) {
		const double *d = lrd_array_cdata(a);
		double s = 0;
		for (uint64_t i = 0; i < lrd_array_count(a); i++)
			s += d[i];
		return lrd_value_new_float(s, res);
	}
	int64_t n = 0;
	lrd_value_get_int(a, &n);
	return lrd_value_new_int(n + 1, res);
}

static const lrd_memo_func F = {.name = "f", .version = "1", .fn = sum_fn};

static lrd_value *args_of(lrd_value *item)
{
	lrd_value *l;
	lrd_value_new_list(&l);
	lrd_list_append(l, item);
	return l;
}

static lrd_value *int_args(int64_t n)
{
	lrd_value *x;
	lrd_value_new_int(n, &x);
	return args_of(x);
}

static lrd_value *float_args(size_t n)
{
	lrd_dtype dt;
	lrd_dtype_parse("<f8", &dt);
	uint64_t shape[1] = {n};
	lrd_value *a;
	lrd_array_new(dt, 1, shape, LRD_ORDER_C, &a);
	double *d = lrd_array_data(a);
	for (size_t i = 0; i < n; i++)
		d[i] = (double)i * 0.25;
	return args_of(a);
}

/* Mean seconds per hit of args over iters calls (after one warming miss). */
static double hit_latency(lrd_memo *m, const lrd_value *args, int iters)
{
	lrd_value *r;
	lrd_memo_call(m, &F, args, NULL, &r, NULL);
	lrd_value_free(r);
	double t0 = now();
	for (int i = 0; i < iters; i++) {
		lrd_memo_info info;
		if (lrd_memo_call(m, &F, args, NULL, &r, &info) != LRD_OK || !info.hit) {
			fprintf(stderr, "memo_bench: not a hit: %s\n", lrd_errmsg());
			exit(1);
		}
		lrd_value_free(r);
	}
	return (now() - t0) / iters;
}

static void row(const char *what, double value, const char *unit)
{
	printf("{\"what\": \"%s\", \"value\": %.9g, \"unit\": \"%s\"}\n", what, value, unit);
	fflush(stdout);
}

/* Add misses with scalar arguments [from, to) (each one write transaction). */
static void fill(lrd_memo *m, int64_t from, int64_t to)
{
	for (int64_t i = from; i < to; i++) {
		lrd_value *a = int_args(1000000000 + i), *r;
		if (lrd_memo_call(m, &F, a, NULL, &r, NULL) != LRD_OK) {
			fprintf(stderr, "memo_bench: fill: %s\n", lrd_errmsg());
			exit(1);
		}
		lrd_value_free(r);
		lrd_value_free(a);
	}
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	long max_entries = 1000000, hash_mib = 1024;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
		else if (!strcmp(argv[i], "--max-entries"))
			max_entries = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--hash-mib"))
			hash_mib = atol(argv[i + 1]);
	}
	char tmpl[] = "/tmp/memo_bench.XXXXXX";
	if (!dir && !(dir = mkdtemp(tmpl))) {
		perror("mkdtemp");
		return 1;
	}
	lrd_store *s;
	lrd_memo *m;
	lrd_store_options so = {.flags = LRD_STORE_NOSYNC, .map_size = 4ull << 30};
	if (lrd_store_open(dir, &so, &s) != LRD_OK || lrd_memo_open(s, NULL, &m) != LRD_OK) {
		fprintf(stderr, "memo_bench: %s: %s\n", dir, lrd_errmsg());
		return 1;
	}

	/* hits */
	lrd_value *a = int_args(42);
	row("hit_scalar", hit_latency(m, a, 200000), "s");
	lrd_value_free(a);
	a = float_args(1024);
	row("hit_8KiB", hit_latency(m, a, 50000), "s");
	lrd_value_free(a);
	a = float_args(1u << 20);
	row("hit_8MiB", hit_latency(m, a, 100), "s");
	lrd_hash128 h;
	double t0 = now();
	for (int i = 0; i < 100; i++)
		lrd_value_hash128(lrd_list_at(a, 0), 0, &h);
	row("hash_8MiB", (now() - t0) / 100, "s");
	lrd_value_free(a);

	/* misses + store: scalar and 8 KiB arguments */
	int nmiss = 2000;
	t0 = now();
	for (int i = 0; i < nmiss; i++) {
		lrd_value *x = int_args(-1 - i), *r;
		lrd_memo_call(m, &F, x, NULL, &r, NULL);
		lrd_value_free(r);
		lrd_value_free(x);
	}
	row("miss_scalar", (now() - t0) / nmiss, "s");
	a = float_args(1024);
	t0 = now();
	for (int i = 0; i < nmiss; i++) {
		((double *)lrd_array_data(lrd_list_at(a, 0)))[0] = -1.0 - i;
		lrd_value *r;
		lrd_memo_call(m, &F, a, NULL, &r, NULL);
		lrd_value_free(r);
	}
	row("miss_8KiB", (now() - t0) / nmiss, "s");
	lrd_value_free(a);
	lrd_memo_clear(m, NULL, NULL);

	/* hit latency as the memo grows */
	long sizes[3] = {10, 100000, 1000000};
	int64_t have = 0;
	for (int k = 0; k < 3 && sizes[k] <= max_entries; k++) {
		t0 = now();
		fill(m, have, sizes[k]);
		double ft = now() - t0;
		have = sizes[k];
		char name[64];
		snprintf(name, sizeof name, "fill_to_%ld_per_entry", sizes[k]);
		row(name, ft / (double)(sizes[k] - (k ? sizes[k - 1] : 0)), "s");
		/* hits on keys spread over the memo, not one hot key */
		int iters = 100000;
		t0 = now();
		for (int i = 0; i < iters; i++) {
			lrd_value *x = int_args(1000000000 +
			                        (int64_t)((uint64_t)i * 7919u % (uint64_t)have)),
			          *r;
			lrd_memo_info info;
			lrd_memo_call(m, &F, x, NULL, &r, &info);
			if (!info.hit) {
				fprintf(stderr, "memo_bench: expected a hit\n");
				return 1;
			}
			lrd_value_free(r);
			lrd_value_free(x);
		}
		snprintf(name, sizeof name, "hit_at_%ld_entries", sizes[k]);
		row(name, (now() - t0) / iters, "s");
	}
	lrd_memo_close(m);
	lrd_store_close(s);

	/* hashing throughput of a big array, next to memcpy of it */
	size_t n = (size_t)hash_mib << 20;
	lrd_dtype dt;
	lrd_dtype_parse("<f8", &dt);
	uint64_t shape[1] = {n / 8};
	lrd_value *big;
	if (lrd_array_new(dt, 1, shape, LRD_ORDER_C, &big) == LRD_OK) {
		unsigned char *src = lrd_array_data(big), *dst = malloc(n);
		for (size_t i = 0; i < n; i += 4096)
			src[i] = (unsigned char)i;
		if (dst) {
			memset(dst, 1, n);
			t0 = now();
			memcpy(dst, src, n);
			double mt = now() - t0;
			/* use the copy, so that the compiler keeps it */
			unsigned long sum = 0;
			for (size_t i = 0; i < n; i += 4096)
				sum += dst[i];
			if (sum == 1)
				fprintf(stderr, "-\n");
			row("memcpy_GBps", (double)n / mt / 1e9, "GB/s");
			t0 = now();
			lrd_value_hash128(big, 0, &h);
			row("hash_GBps", (double)n / (now() - t0) / 1e9, "GB/s");
			free(dst);
		}
		lrd_value_free(big);
	}
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (dir == tmpl && system(cmd) != 0)
		fprintf(stderr, "memo_bench: could not remove %s\n", dir);
	return 0;
}
