/* The memoizer stop of the demo tour: an expensive function (sorting statistics) over the
 * arrays the store stop left in the store, memoized, run twice: the second run's calls are
 * hits (and so is every call of a later `larder demo` on the same store). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* {min, median, max} of an 8-byte numeric array (args: [array]): a sort of a copy. */
static int quantiles(const lrd_value *args, lrd_value **res, void *ctx)
{
	(void)ctx;
	const lrd_value *a = lrd_list_at(args, 0);
	lrd_dtype dt = lrd_array_dtype(a);
	uint64_t n = lrd_array_count(a);
	if (lrd_value_kind(a) != LRD_KIND_ARRAY || dt.itemsize != 8 || n == 0)
		return lrd_error_set(LRD_EDTYPE, "quantiles: want a non-empty 8-byte array");
	double *d = malloc(n * sizeof *d);
	if (!d)
		return LRD_ENOMEM;
	const void *src = lrd_array_cdata(a);
	for (uint64_t i = 0; i < n; i++)
		d[i] =
		    dt.kind == 'f' ? ((const double *)src)[i] : (double)((const int64_t *)src)[i];
	qsort(d, n, sizeof *d, cmp_double);
	lrd_value *m, *x;
	int rc = lrd_value_new_map(&m);
	const char *names[3] = {"min", "median", "max"};
	double vals[3] = {d[0], d[n / 2], d[n - 1]};
	for (int i = 0; rc == LRD_OK && i < 3; i++)
		if ((rc = lrd_value_new_float(vals[i], &x)) == LRD_OK)
			rc = lrd_map_set(m, names[i], x);
	free(d);
	if (rc != LRD_OK) {
		lrd_value_free(m);
		return rc;
	}
	*res = m;
	return LRD_OK;
}

static const lrd_memo_func QUANTILES = {.name = "quantiles", .version = "1", .fn = quantiles};

int demo_memo(const char *path)
{
	static const char *const keys[] = {"tour/ramp", "tour/floats", "tour/ramp.blosc"};
	printf("== memo: quantiles of the stored arrays, memoized in %s (namespace demo)\n", path);
	lrd_store *s;
	int rc = lrd_store_open(path, NULL, &s);
	if (rc)
		return cli_fail(rc, path);
	lrd_memo *m;
	lrd_memo_options mo = {.name_space = "demo"};
	if ((rc = lrd_memo_open(s, &mo, &m)) != LRD_OK) {
		lrd_store_close(s);
		return cli_fail(rc, "memo");
	}
	int status = CLI_OK;
	for (int run = 1; run <= 2 && !status; run++) {
		for (size_t k = 0; k < sizeof keys / sizeof keys[0] && !status; k++) {
			lrd_value *arr = NULL, *args = NULL, *r = NULL;
			lrd_memo_info info;
			rc = lrd_store_get(s, NULL, keys[k], &arr);
			if (rc == LRD_OK && (rc = lrd_value_new_list(&args)) == LRD_OK)
				rc = lrd_list_append(args, arr);
			else
				lrd_value_free(arr);
			if (rc == LRD_OK)
				rc = lrd_memo_call(m, &QUANTILES, args, NULL, &r, &info);
			if (rc != LRD_OK) {
				status = cli_fail(rc, keys[k]);
			} else {
				double med = 0;
				lrd_value_get_float(lrd_map_get(r, "median"), &med);
				printf("  run %d  quantiles(%-15s) median %-12g %s in %8.3f ms "
				       "(computing took %.1f ms)\n",
				       run, keys[k], med, info.hit ? "hit " : "miss",
				       info.total_s * 1e3, info.compute_s * 1e3);
			}
			lrd_value_free(r);
			lrd_value_free(args);
		}
	}
	lrd_memo_stats st;
	if (!status && (rc = lrd_memo_stats_get(m, &st)) == LRD_OK)
		printf("  memo: %llu hits, %llu misses, %llu entries, %.1f ms of computing saved "
		       "(larder memo stats %s)\n",
		       (unsigned long long)st.hits, (unsigned long long)st.misses,
		       (unsigned long long)st.entries, st.saved_s * 1e3, path);
	lrd_memo_close(m);
	lrd_store_close(s);
	return status;
}
