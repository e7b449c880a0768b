/* tests/mpi/test_mpi — the "mpi" backend under mpirun (tests/mpi/run.sh; `make check-mpi`).
 * A plain C program, not Criterion: its ranks must not be forked by a test runner.
 *
 *   test_mpi suite   the executor's conformance cases that apply to MPI; rank 0 prints one
 *                    "PASS name" or "FAIL name: why" line per case; exit 0 if all passed
 *   test_mpi kill    a task kills its rank (SIGKILL): the job must end, non-zero, rank named
 *   test_mpi stuck   a task outlives its timeout: the map fails with LRD_ETIMEOUT, the next
 *                    map runs on the other ranks, finalize aborts the job naming the rank */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <larder.h>
#include <larder/mpi.h>

static int my_rank, nranks;
static int passed, failed;

static void check(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void check(int ok, const char *name, const char *fmt, ...)
{
	if (ok) {
		printf("PASS %s\n", name);
		passed++;
	} else {
		va_list ap;
		va_start(ap, fmt);
		printf("FAIL %s: ", name);
		vprintf(fmt, ap);
		printf(" [%s]\n", lrd_errmsg());
		va_end(ap);
		failed++;
	}
	fflush(stdout);
}

static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

/* ---- tasks (registered on every rank) ---- */

static int square(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t x;
	int rc = lrd_value_get_int(in, &x);
	return rc ? rc : lrd_value_new_int(x * x, out);
}

static int fail_at_37(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t x;
	int rc = lrd_value_get_int(in, &x);
	if (!rc && x == 37)
		return lrd_error_set(LRD_EINVAL, "boom at %" PRId64, x);
	return rc ? rc : lrd_value_new_int(x, out);
}

/* whoami: the rank that ran the task (ctx points at it, given to lrd_mpi_serve) */
static int whoami(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)in;
	nap(0.002);
	return lrd_value_new_int(*(int *)ctx, out);
}

/* stamp: a value no other execution gives (rank, then a count of this process's calls) */
static int stamp(void *ctx, const lrd_value *in, lrd_value **out)
{
	static int64_t calls;
	(void)in;
	return lrd_value_new_int((int64_t)(*(int *)ctx) * 1000000 + ++calls, out);
}

/* bytes_sum: an array of u1 in, {n, sum} as a list out */
static int bytes_sum(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	if (lrd_value_kind(in) != LRD_KIND_ARRAY)
		return lrd_error_set(LRD_EINVAL, "not an array");
	const unsigned char *p = lrd_array_cdata(in);
	size_t n = lrd_array_nbytes(in);
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += p[i];
	lrd_value *l = NULL, *a = NULL, *b = NULL;
	int rc = lrd_value_new_list(&l);
	if (!rc && !(rc = lrd_value_new_int((int64_t)n, &a)))
		rc = lrd_list_append(l, a);
	if (!rc && !(rc = lrd_value_new_int((int64_t)s, &b)))
		rc = lrd_list_append(l, b);
	if (rc) {
		lrd_value_free(l);
		return rc;
	}
	*out = l;
	return LRD_OK;
}

static int make_u8(size_t n, unsigned seed, lrd_value **out)
{
	lrd_dtype dt;
	uint64_t shape = n;
	int rc = lrd_dtype_parse("|u1", &dt);
	if (!rc)
		rc = lrd_array_new(dt, 1, &shape, LRD_ORDER_C, out);
	if (rc)
		return rc;
	unsigned char *p = lrd_array_data(*out);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed);
	return LRD_OK;
}

/* grow: int n in, an n-byte array out (i * 31 + 7) */
static int grow(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t n;
	int rc = lrd_value_get_int(in, &n);
	return rc ? rc : make_u8((size_t)n, 7, out);
}

static int sleepy(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	double s;
	int rc = lrd_value_get_float(in, &s);
	if (rc)
		return rc;
	nap(s);
	return lrd_value_new_nil(out);
}

/* nested: a map of "square" over [0, x) inside the task, on "mpi" too; out: the sum */
static int nested(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t x;
	int rc = lrd_value_get_int(in, &x);
	if (rc)
		return rc;
	lrd_value *v[8] = {NULL}, *o[8] = {NULL};
	size_t n = x < 0 ? 0 : x > 8 ? 8 : (size_t)x;
	for (size_t i = 0; !rc && i < n; i++)
		rc = lrd_value_new_int((int64_t)i, &v[i]);
	lrd_parallel_options opt = {.backend = "mpi", .flags = LRD_PARALLEL_NESTED};
	if (!rc)
		rc = lrd_parallel_map(&opt, "square", NULL, (const lrd_value *const *)v, n, o);
	int64_t sum = 0, y;
	for (size_t i = 0; i < n; i++) {
		if (!rc && !lrd_value_get_int(o[i], &y))
			sum += y;
		lrd_value_free(v[i]);
		lrd_value_free(o[i]);
	}
	return rc ? rc : lrd_value_new_int(sum, out);
}

static int die_at_5(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t x;
	int rc = lrd_value_get_int(in, &x);
	if (!rc && x == 5)
		raise(SIGKILL);
	return rc ? rc : lrd_value_new_int(x, out);
}

/* ---- helpers ---- */

static lrd_value **ints(size_t n)
{
	lrd_value **v = calloc(n ? n : 1, sizeof *v);
	for (size_t i = 0; v && i < n; i++)
		if (lrd_value_new_int((int64_t)i, &v[i]))
			return NULL;
	return v;
}

static void free_all(lrd_value **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		lrd_value_free(v[i]);
	free(v);
}

#define IN(v) ((const lrd_value *const *)(v))

static int squares_ok(lrd_value **out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t x;
		if (!out[i] || lrd_value_get_int(out[i], &x) || x != (int64_t)(i * i))
			return 0;
	}
	return 1;
}

/* ---- cases ---- */

static void case_order(size_t bs, const char *name)
{
	size_t n = 300;
	lrd_value **in = ints(n), **out = calloc(n, sizeof *out);
	lrd_parallel_options o = {.backend = "mpi", .batch_size = bs};
	int rc = lrd_parallel_map(&o, "square", NULL, IN(in), n, out);
	check(rc == LRD_OK && squares_ok(out, n), name, "rc %d", rc);
	free_all(in, n);
	free_all(out, n);
}

static void case_iter(unsigned flags, const char *name)
{
	size_t n = 120, seen = 0, idx;
	lrd_value **in = ints(n), *v;
	unsigned char *got = calloc(n, 1);
	lrd_parallel_options o = {.backend = "mpi", .flags = flags};
	lrd_parallel_iter *it = NULL;
	int rc = lrd_parallel_iter_new(&o, "square", NULL, IN(in), n, &it), ok = rc == LRD_OK;
	while (ok && (rc = lrd_parallel_iter_next(it, &idx, &v)) == LRD_OK) {
		int64_t x;
		ok = idx < n && !got[idx] && !lrd_value_get_int(v, &x) &&
		     x == (int64_t)(idx * idx) && (flags || idx == seen);
		if (ok)
			got[idx] = 1;
		seen++;
		lrd_value_free(v);
	}
	check(ok && rc == LRD_ENOTFOUND && seen == n, name, "rc %d, %zu seen", rc, seen);
	lrd_parallel_iter_free(it);
	free(got);
	free_all(in, n);
}

static void case_error(void)
{
	size_t n = 200;
	lrd_value **in = ints(n), **out = calloc(n, sizeof *out);
	lrd_parallel_options o = {.backend = "mpi"};
	int rc = lrd_parallel_map(&o, "fail_at_37", NULL, IN(in), n, out);
	const char *m = lrd_errmsg();
	int nulls = 1;
	for (size_t i = 0; i < n; i++)
		nulls &= out[i] == NULL;
	check(rc == LRD_ETASK && lrd_parallel_failed_index() == 37 && strstr(m, "task 37") &&
	          strstr(m, "boom at 37") && strstr(m, "LRD_EINVAL") && nulls,
	      "a failing task gives LRD_ETASK with its index and message", "rc %d, index %zu", rc,
	      lrd_parallel_failed_index());
	/* the ranks are clean afterwards */
	case_order(0, "a map after a failed one runs normally");
	free_all(in, n);
	free_all(out, n);
}

static void case_small(void)
{
	lrd_parallel_options o = {.backend = "mpi"};
	int rc = lrd_parallel_map(&o, "square", NULL, NULL, 0, NULL);
	check(rc == LRD_OK, "an empty map is a no-op", "rc %d", rc);
	lrd_value **in = ints(4), *out[1] = {NULL};
	rc = lrd_parallel_map(&o, "square", NULL, IN(in + 3), 1, out);
	int64_t x = 0;
	check(rc == LRD_OK && out[0] && !lrd_value_get_int(out[0], &x) && x == 9,
	      "one input gives one output", "rc %d", rc);
	lrd_value_free(out[0]);
	rc = lrd_parallel_map(&o, "no_such_task", NULL, IN(in), 1, out);
	check(rc == LRD_ENOTFOUND, "an unregistered task is LRD_ENOTFOUND", "rc %d", rc);
	free_all(in, 4);
}

static void case_big(void)
{
	/* inputs and outputs over one piece (4 MiB) travel in several */
	size_t sizes[3] = {LRD_MPI_PIECE + 12345, 3 * LRD_MPI_PIECE, 1000};
	lrd_value *in[3], *out[3] = {NULL};
	for (int i = 0; i < 3; i++)
		make_u8(sizes[i], (unsigned)i, &in[i]);
	lrd_parallel_options o = {.backend = "mpi", .batch_size = 1};
	int rc = lrd_parallel_map(&o, "bytes_sum", NULL, IN(in), 3, out), ok = rc == LRD_OK;
	for (int i = 0; ok && i < 3; i++) {
		const unsigned char *p = lrd_array_cdata(in[i]);
		uint64_t s = 0;
		for (size_t k = 0; k < sizes[i]; k++)
			s += p[k];
		int64_t a = -1, b = -1;
		lrd_value_get_int(lrd_list_at(out[i], 0), &a);
		lrd_value_get_int(lrd_list_at(out[i], 1), &b);
		ok = a == (int64_t)sizes[i] && b == (int64_t)s;
	}
	check(ok, "inputs larger than a piece arrive whole", "rc %d", rc);
	for (int i = 0; i < 3; i++) {
		lrd_value_free(in[i]);
		lrd_value_free(out[i]);
	}

	lrd_value *n[2], *r[2] = {NULL};
	lrd_value_new_int((int64_t)(2 * LRD_MPI_PIECE + 99), &n[0]);
	lrd_value_new_int(5, &n[1]);
	rc = lrd_parallel_map(&o, "grow", NULL, IN(n), 2, r);
	ok = rc == LRD_OK;
	lrd_value *want = NULL;
	for (int i = 0; ok && i < 2; i++) {
		int64_t len;
		lrd_value_get_int(n[i], &len);
		make_u8((size_t)len, 7, &want);
		ok = lrd_value_equal(want, r[i]);
		lrd_value_free(want);
	}
	check(ok, "a result larger than a piece comes back whole", "rc %d", rc);
	for (int i = 0; i < 2; i++) {
		lrd_value_free(n[i]);
		lrd_value_free(r[i]);
	}
}

static void case_balance(void)
{
	size_t n = 200;
	lrd_value **in = ints(n), **out = calloc(n, sizeof *out);
	lrd_parallel_options o = {.backend = "mpi", .verbose = 1};
	int rc = lrd_parallel_map(&o, "whoami", &my_rank, IN(in), n, out);
	int used[64] = {0}, ok = rc == LRD_OK;
	for (size_t i = 0; ok && i < n; i++) {
		int64_t r = -1;
		ok = !lrd_value_get_int(out[i], &r) && r >= 0 && r < 64;
		if (ok)
			used[r]++;
	}
	int want = nranks > 1 ? nranks - 1 : 1, got = 0;
	for (int r = 0; r < 64; r++)
		got += used[r] > 0;
	check(ok && got == want && (nranks == 1 ? used[0] == (int)n : used[0] == 0),
	      "every worker rank gets work, rank 0 none", "rc %d, %d ranks used of %d", rc, got,
	      want);
	check(lrd_parallel_effective_n_jobs(-1, "mpi") == want,
	      "effective n_jobs is the number of worker ranks", "%d",
	      lrd_parallel_effective_n_jobs(-1, "mpi"));
	free_all(in, n);
	free_all(out, n);
}

static void case_soft_timeout(void)
{
	lrd_value *in[3], *out[3] = {NULL};
	double s[3] = {0.0, 0.4, 0.0};
	for (int i = 0; i < 3; i++)
		lrd_value_new_float(s[i], &in[i]);
	lrd_parallel_options o = {.backend = "mpi", .batch_size = 1, .timeout = 0.1};
	int rc = lrd_parallel_map(&o, "sleepy", NULL, IN(in), 3, out);
	check(rc == LRD_ETIMEOUT && lrd_parallel_failed_index() == 1,
	      "a task that returns past its timeout gives LRD_ETIMEOUT with its index",
	      "rc %d, index %zu", rc, lrd_parallel_failed_index());
	for (int i = 0; i < 3; i++)
		lrd_value_free(in[i]);
	case_order(0, "a map after a timed-out one runs normally");
}

/* Results are written to a store on rank 0 (a store is one machine's: workers never open it)
 * and read back. */
static void case_store(void)
{
	char dir[] = "/tmp/larder-mpi-XXXXXX", path[64];
	if (!mkdtemp(dir)) {
		check(0, "map results written to a store on rank 0", "mkdtemp");
		return;
	}
	snprintf(path, sizeof path, "%s/s.lrdb", dir);
	size_t n = 50;
	lrd_value **in = ints(n), **out = calloc(n, sizeof *out);
	lrd_parallel_options o = {.backend = "mpi"};
	lrd_store *st = NULL;
	int rc = lrd_parallel_map(&o, "square", NULL, IN(in), n, out);
	if (!rc)
		rc = lrd_store_open(path, NULL, &st);
	char key[32];
	for (size_t i = 0; !rc && i < n; i++) {
		snprintf(key, sizeof key, "sq/%zu", i);
		rc = lrd_store_put(st, NULL, key, out[i], NULL);
	}
	int ok = !rc;
	for (size_t i = 0; ok && i < n; i++) {
		lrd_value *v = NULL;
		int64_t x = -1;
		snprintf(key, sizeof key, "sq/%zu", i);
		ok = !lrd_store_get(st, NULL, key, &v) && !lrd_value_get_int(v, &x) &&
		     x == (int64_t)(i * i);
		lrd_value_free(v);
	}
	lrd_store_close(st);
	check(ok, "map results written to a store on rank 0", "rc %d", rc);
	free_all(in, n);
	free_all(out, n);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_mpi: could not remove %s\n", dir);
}

/* A memo attached on rank 0 (its store is rank 0's): the second identical map returns the
 * very stamps of the first, so no task ran again. */
static void case_memo(void)
{
	const char *name = "a memo attached on rank 0 serves a second map without dispatching";
	char dir[] = "/tmp/larder-mpi-XXXXXX";
	if (!mkdtemp(dir)) {
		check(0, name, "mkdtemp");
		return;
	}
	size_t n = 40;
	lrd_value **in = ints(n), **a = calloc(n, sizeof *a), **b = calloc(n, sizeof *b);
	lrd_store *st = NULL;
	lrd_memo *m = NULL;
	int rc = lrd_store_open(dir, NULL, &st);
	if (!rc)
		rc = lrd_memo_open(st, NULL, &m);
	lrd_parallel_options o = {.backend = "mpi", .memo = m};
	if (!rc)
		rc = lrd_parallel_map(&o, "stamp", &my_rank, IN(in), n, a);
	if (!rc)
		rc = lrd_parallel_map(&o, "stamp", &my_rank, IN(in), n, b);
	int ok = !rc;
	for (size_t i = 0; ok && i < n; i++) {
		int64_t x = -1, y = -2;
		ok = !lrd_value_get_int(a[i], &x) && !lrd_value_get_int(b[i], &y) && x == y;
	}
	check(ok, name, "rc %d", rc);
	lrd_memo_close(m);
	lrd_store_close(st);
	free_all(in, n);
	free_all(a, n);
	free_all(b, n);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_mpi: could not remove %s\n", dir);
}

static void case_nested(void)
{
	lrd_value **in = ints(9), **out = calloc(9, sizeof *out);
	lrd_parallel_options o = {.backend = "mpi", .batch_size = 1};
	int rc = lrd_parallel_map(&o, "nested", NULL, IN(in), 9, out), ok = rc == LRD_OK;
	for (int64_t k = 0; ok && k < 9; k++) {
		int64_t s = -1, want = 0;
		for (int64_t i = 0; i < (k > 8 ? 8 : k); i++)
			want += i * i;
		ok = !lrd_value_get_int(out[k], &s) && s == want;
	}
	check(ok, "a nested map on \"mpi\" inside a task runs where the task runs", "rc %d", rc);
	free_all(in, 9);
	free_all(out, 9);
}

static int suite(void)
{
	case_order(0, "outputs in input order (auto batching)");
	case_order(7, "outputs in input order (batch_size 7)");
	case_iter(0, "iterator in input order");
	case_iter(LRD_PARALLEL_UNORDERED, "iterator in completion order");
	case_error();
	case_small();
	case_big();
	case_balance();
	case_soft_timeout();
	case_store();
	case_memo();
	case_nested();
	return failed ? 1 : 0;
}

static int kill_case(void)
{
	size_t n = 40;
	lrd_value **in = ints(n), **out = calloc(n, sizeof *out);
	lrd_parallel_options o = {.backend = "mpi", .batch_size = 1};
	int rc = lrd_parallel_map(&o, "die_at_5", NULL, IN(in), n, out);
	/* not reached when a worker rank died: mpirun ends the job */
	printf("kill: the map returned %d\n", rc);
	free_all(in, n);
	free_all(out, n);
	return 0;
}

static int stuck_case(void)
{
	lrd_value *in[1], *out[1] = {NULL};
	lrd_value_new_float(30.0, &in[0]);
	lrd_parallel_options o = {.backend = "mpi", .timeout = 0.2};
	int rc = lrd_parallel_map(&o, "sleepy", NULL, IN(in), 1, out);
	check(rc == LRD_ETIMEOUT && strstr(lrd_errmsg(), "no more work"),
	      "a task stuck past its timeout fails the map and sets its rank aside", "rc %d", rc);
	lrd_value_free(in[0]);
	if (nranks > 2)
		case_order(0, "the next map runs on the ranks left");
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "suite";
	if (lrd_task_register("square", square) || lrd_task_register("fail_at_37", fail_at_37) ||
	    lrd_task_register("whoami", whoami) || lrd_task_register("bytes_sum", bytes_sum) ||
	    lrd_task_register("grow", grow) || lrd_task_register("sleepy", sleepy) ||
	    lrd_task_register("die_at_5", die_at_5) || lrd_task_register("nested", nested) ||
	    lrd_task_register("stamp", stamp) || lrd_mpi_init(&argc, &argv, &my_rank)) {
		fprintf(stderr, "test_mpi: %s\n", lrd_errmsg());
		return 2;
	}
	nranks = lrd_mpi_size();
	int rc = 0;
	if (my_rank != 0)
		rc = lrd_mpi_serve(&my_rank) ? 2 : 0;
	else if (!strcmp(mode, "kill"))
		rc = kill_case();
	else if (!strcmp(mode, "stuck"))
		rc = stuck_case();
	else
		rc = suite();
	if (my_rank == 0)
		printf("rank 0: %d passed, %d failed on %d ranks\n", passed, failed, nranks);
	fflush(stdout);
	lrd_mpi_finalize();
	return rc;
}
