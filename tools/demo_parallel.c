/* The parallel stop of the demo tour: a two-stage pipeline on the executor. Stage one makes
 * 16 arrays of 2 MiB of float64 (one per seed) in worker processes; being larger than
 * max_nbytes they come back through the demo store by key. Stage two computes each array's
 * mean and standard deviation, the arrays going out to the workers through the store again.
 * Both stages run on every built-in backend, and the results are checked to agree. Then the
 * pipeline runs twice more with a memo attached (namespace "demo.parallel" of the demo store):
 * the second run computes nothing, every task being a hit served without dispatching. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/cli.h"

#define ARRAYS 16
#define COUNT  (256 * 1024)

static int make(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t seed;
	lrd_dtype dt;
	uint64_t shape[1] = {COUNT};
	int rc = lrd_value_get_int(in, &seed);
	if (rc || (rc = lrd_dtype_parse("<f8", &dt)) ||
	    (rc = lrd_array_new(dt, 1, shape, LRD_ORDER_C, out)))
		return rc;
	double *d = lrd_array_data(*out);
	uint64_t x = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < COUNT; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		d[i] = (double)seed + (double)(x >> 11) / 9007199254740992.0;
	}
	return LRD_OK;
}

static int stats(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	const double *d = lrd_array_cdata(in);
	size_t n = lrd_array_count(in);
	if (!d || !n)
		return lrd_error_set(LRD_EINVAL, "stats: want a non-empty float64 array");
	double s = 0, s2 = 0;
	for (size_t i = 0; i < n; i++)
		s += d[i], s2 += d[i] * d[i];
	double mean = s / (double)n, sd = sqrt(fmax(0, s2 / (double)n - mean * mean));
	lrd_value *m, *v;
	int rc = lrd_value_new_map(&m);
	if (rc)
		return rc;
	if ((rc = lrd_value_new_float(mean, &v)) || (rc = lrd_map_set(m, "mean", v)) ||
	    (rc = lrd_value_new_float(sd, &v)) || (rc = lrd_map_set(m, "std", v))) {
		lrd_value_free(m);
		return rc;
	}
	*out = m;
	return LRD_OK;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void free_vals(lrd_value **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		lrd_value_free(v[i]);
		v[i] = NULL;
	}
}

/* The pipeline with a memo attached, twice; prints what each run computed and reused. */
static int memoized(const char *path, lrd_value **seeds)
{
	lrd_store *s;
	lrd_memo *m;
	int rc = lrd_store_open(path, NULL, &s);
	if (rc)
		return cli_fail(rc, path);
	lrd_memo_options mo = {.name_space = "demo.parallel"};
	if ((rc = lrd_memo_open(s, &mo, &m))) {
		lrd_store_close(s);
		return cli_fail(rc, "demo memo");
	}
	printf("== parallel + memo: the same pipeline twice on processes, each task cached\n");
	lrd_value *arrays[ARRAYS] = {0}, *res[ARRAYS] = {0};
	lrd_parallel_options o = {.backend = "processes", .n_jobs = -1, .memo = m};
	for (int run = 1; run <= 2 && !rc; run++) {
		lrd_memo_stats a, b;
		lrd_memo_stats_get(m, &a);
		double t0 = now_s();
		rc = lrd_parallel_map(&o, "demo.make", NULL, (const lrd_value *const *)seeds,
		                      ARRAYS, arrays);
		if (!rc)
			rc = lrd_parallel_map(&o, "demo.stats", NULL,
			                      (const lrd_value *const *)arrays, ARRAYS, res);
		double t1 = now_s();
		lrd_memo_stats_get(m, &b);
		if (!rc)
			printf(
			    "  run %d: %6.1f ms, %llu tasks computed, %llu served from the memo\n",
			    run, (t1 - t0) * 1e3, (unsigned long long)(b.misses - a.misses),
			    (unsigned long long)(b.hits - a.hits));
		free_vals(arrays, ARRAYS);
		free_vals(res, ARRAYS);
	}
	lrd_memo_close(m);
	lrd_store_close(s);
	return rc ? cli_fail(rc, "demo parallel + memo") : CLI_OK;
}

int demo_parallel(const char *store)
{
	int rc;
	if ((rc = lrd_task_register("demo.make", make)) ||
	    (rc = lrd_task_register("demo.stats", stats)))
		return cli_fail(rc, "demo");
	lrd_value *seeds[ARRAYS], *arrays[ARRAYS] = {0}, *res[ARRAYS] = {0};
	for (int i = 0; i < ARRAYS; i++)
		if ((rc = lrd_value_new_int(i, &seeds[i])))
			return cli_fail(rc, "demo");
	printf("== parallel: make %d arrays of %d KiB, then their mean and std, on each backend\n",
	       ARRAYS, COUNT * 8 / 1024);
	static const char *backends[] = {"sequential", "threads", "processes"};
	double first_mean = 0;
	int status = CLI_OK;
	for (size_t k = 0; k < 3 && status == CLI_OK; k++) {
		lrd_parallel_options o = {.backend = backends[k], .n_jobs = -1, .store = store};
		double t0 = now_s();
		rc = lrd_parallel_map(&o, "demo.make", NULL, (const lrd_value *const *)seeds,
		                      ARRAYS, arrays);
		double t1 = now_s();
		if (!rc)
			rc = lrd_parallel_map(&o, "demo.stats", NULL,
			                      (const lrd_value *const *)arrays, ARRAYS, res);
		double t2 = now_s();
		if (rc) {
			status = cli_fail(rc, backends[k]);
			break;
		}
		double mean = 0;
		lrd_value_get_float(lrd_map_get(res[ARRAYS - 1], "mean"), &mean);
		if (k == 0)
			first_mean = mean;
		printf("  %-10s n_jobs %d  make %6.1f ms  stats %6.1f ms  array %d: mean %.4f%s\n",
		       backends[k], lrd_parallel_effective_n_jobs(-1, backends[k]), (t1 - t0) * 1e3,
		       (t2 - t1) * 1e3, ARRAYS - 1, mean, mean == first_mean ? "" : "  MISMATCH");
		if (mean != first_mean)
			status = CLI_FAIL;
		free_vals(arrays, ARRAYS);
		free_vals(res, ARRAYS);
	}
	if (status == CLI_OK)
		status = memoized(store, seeds);
	free_vals(seeds, ARRAYS);
	return status;
}
