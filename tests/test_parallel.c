/* The parallel executor's conformance suite: every test runs over every registered backend
 * (the built-ins and "test.lifo", a user backend registered here that completes batches last
 * in, first out), so a new backend gets all of it for free. Crash tests run only on backends
 * that isolate tasks in processes (a crash in a thread takes the process with it). */
#include <errno.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <larder.h>

#include "tests/common/common.h"

/* ---- a user backend: LIFO, run in collect() ------------------------------------------------- */

typedef struct lifo {
	lrd_parallel_batch *stack[4096];
	size_t n;
} lifo;

static int lifo_n_jobs(int n) { return n; }
static int lifo_configure(const lrd_parallel_setup *s, void **pool)
{
	(void)s;
	*pool = calloc(1, sizeof(lifo));
	return *pool ? LRD_OK : LRD_ENOMEM;
}
static int lifo_submit(void *pool, lrd_parallel_batch *b)
{
	lifo *l = pool;
	if (l->n == 4096)
		return lrd_error_set(LRD_ELIMIT, "lifo full");
	l->stack[l->n++] = b;
	return LRD_OK;
}
static int lifo_collect(void *pool, double wait, lrd_parallel_batch **done)
{
	(void)wait;
	lifo *l = pool;
	if (!l->n)
		return LRD_ETIMEOUT;
	*done = l->stack[--l->n];
	lrd_parallel_batch_run(*done);
	return LRD_OK;
}
static void lifo_abort(void *pool) { (void)pool; }
static void lifo_release(void *pool) { free(pool); }
static const lrd_parallel_backend lifo_vt = {LRD_PARALLEL_BACKEND_ABI,
                                             lifo_n_jobs,
                                             lifo_configure,
                                             lifo_submit,
                                             lifo_collect,
                                             lifo_abort,
                                             lifo_release};

/* ---- tasks ------------------------------------------------------------------------------------
 */

static int t_square(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t x;
	int rc = lrd_value_get_int(in, &x);
	return rc ? rc : lrd_value_new_int(x * x, out);
}

/* Fails on input 37 (and counts calls in the shared counter ctx, when given). */
static int t_fail37(void *ctx, const lrd_value *in, lrd_value **out)
{
	int64_t x;
	lrd_value_get_int(in, &x);
	if (ctx)
		__atomic_fetch_add((long *)ctx, 1, __ATOMIC_RELAXED);
	if (x == 37)
		return lrd_error_set(LRD_EINVAL, "input 37 is bad");
	return lrd_value_new_int(x, out);
}

static int t_crash(void *ctx, const lrd_value *in, lrd_value **out)
{
	int how = *(int *)ctx;
	int64_t x;
	lrd_value_get_int(in, &x);
	if (x == 5) {
		if (how == 0) {
			signal(SIGSEGV, SIG_DFL); /* a real death, even under ASan's handler */
			raise(SIGSEGV);
		} else if (how == 1)
			kill(getpid(), SIGKILL);
		else
			_exit(3);
	}
	return lrd_value_new_int(x, out);
}

/* Runs (politely, polling lrd_parallel_canceled) for up to 20 s on input 2. */
static int t_slow(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t x;
	lrd_value_get_int(in, &x);
	if (x == 2)
		for (int i = 0; i < 2000 && !lrd_parallel_canceled(); i++)
			usleep(10000);
	if (lrd_parallel_canceled())
		return lrd_error_set(LRD_ECANCELED, "stopped");
	return lrd_value_new_int(x, out);
}

/* Returns its output normally, but 0.3 s late on input 1 (never polls). */
static int t_late(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t x;
	lrd_value_get_int(in, &x);
	if (x == 1)
		usleep(300000);
	return lrd_value_new_int(x, out);
}

/* Ignores cancellation: sleeps 30 s on input 1. */
static int t_hang(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t x;
	lrd_value_get_int(in, &x);
	if (x == 1)
		sleep(30);
	return lrd_value_new_int(x, out);
}

static int t_env(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	(void)in;
	const char *e = getenv("OMP_NUM_THREADS");
	return lrd_value_new_str(e ? e : "unset", SIZE_MAX, out);
}

static _Thread_local int outer_mark;
static int t_inner(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	(void)in;
	return lrd_value_new_int(outer_mark, out); /* 1 only in the outer task's own thread */
}
static int t_outer(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	lrd_value *ins[3], *res[3];
	for (int i = 0; i < 3; i++)
		lrd_value_new_int(i, &ins[i]);
	outer_mark = 1;
	lrd_parallel_options o = {.n_jobs = 4, .backend = "threads"};
	int rc = lrd_parallel_map(&o, "t.inner", NULL, (const lrd_value *const *)ins, 3, res);
	outer_mark = 0;
	int64_t same = 0;
	for (int i = 0; i < 3; i++) {
		int64_t v = 0;
		if (!rc)
			lrd_value_get_int(res[i], &v);
		same += v;
		lrd_value_free(ins[i]);
		if (!rc)
			lrd_value_free(res[i]);
	}
	(void)in;
	return rc ? rc : lrd_value_new_int(same, out);
}

/* Returns an array of `x` float64 equal to x. */
static int t_big(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t x = 0;
	if (lrd_value_kind(in) == LRD_KIND_ARRAY)
		x = (int64_t)lrd_array_count(in);
	else
		lrd_value_get_int(in, &x);
	lrd_dtype dt;
	lrd_dtype_parse("<f8", &dt);
	uint64_t shape[1] = {(uint64_t)x};
	int rc = lrd_array_new(dt, 1, shape, LRD_ORDER_C, out);
	if (rc)
		return rc;
	double *d = lrd_array_data(*out);
	for (int64_t i = 0; i < x; i++)
		d[i] = (double)x;
	return LRD_OK;
}

/* t_big in a worker that lifts the caller's RLIMIT_DATA (inherited at fork): the limit is
 * meant for the calling process only. */
static int t_big_unlimited(void *ctx, const lrd_value *in, lrd_value **out)
{
	struct rlimit rl = {.rlim_cur = RLIM_INFINITY, .rlim_max = RLIM_INFINITY};
	if (setrlimit(RLIMIT_DATA, &rl))
		return LRD_EIO;
	return t_big(ctx, in, out);
}

static void setup(void)
{
	lrd_task_register("t.square", t_square);
	lrd_task_register("t.fail37", t_fail37);
	lrd_task_register("t.crash", t_crash);
	lrd_task_register("t.slow", t_slow);
	lrd_task_register("t.inner", t_inner);
	lrd_task_register("t.outer", t_outer);
	lrd_task_register("t.big", t_big);
	lrd_task_register("t.big_unlimited", t_big_unlimited);
	lrd_task_register("t.hang", t_hang);
	lrd_task_register("t.late", t_late);
	lrd_task_register("t.env", t_env);
	cr_assert_eq(lrd_parallel_register_backend("test.lifo", &lifo_vt), LRD_OK, "%s",
	             lrd_errmsg());
}

// cppcheck-suppress unknownMacro
TestSuite(parallel, .init = setup);

static size_t backends(const char **names)
{
	size_t n = lrd_parallel_backends(names, 32);
	cr_assert(n >= 4 && n <= 32);
	return n;
}

static bool isolates(const char *b) { return strcmp(b, "processes") == 0; }

static lrd_value **ints(size_t n)
{
	lrd_value **v = calloc(n ? n : 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(lrd_value_new_int((int64_t)i, &v[i]), LRD_OK);
	return v;
}

static void free_all(lrd_value **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		lrd_value_free(v[i]);
	free(v);
}

static void no_children(void)
{
	errno = 0;
	cr_expect_eq(waitpid(-1, NULL, WNOHANG), -1, "a child process was left behind");
	cr_expect_eq(errno, ECHILD);
}

static void check_squares(const char *b, size_t n, size_t batch, int n_jobs)
{
	lrd_value **in = ints(n), **out = calloc(n ? n : 1, sizeof *out);
	lrd_parallel_options o = {.backend = b, .n_jobs = n_jobs, .batch_size = batch};
	int rc = lrd_parallel_map(&o, "t.square", NULL, (const lrd_value *const *)in, n, out);
	cr_assert_eq(rc, LRD_OK, "%s n=%zu batch=%zu: %s", b, n, batch, lrd_errmsg());
	for (size_t i = 0; i < n; i++) {
		int64_t v;
		cr_assert_eq(lrd_value_get_int(out[i], &v), LRD_OK, "%s: output %zu", b, i);
		cr_assert_eq(v, (int64_t)(i * i), "%s: output %zu", b, i);
	}
	free_all(in, n);
	free_all(out, n);
}

Test(parallel, every_backend_maps_in_input_order)
{
	const char *names[32];
	size_t nb = backends(names);
	for (size_t k = 0; k < nb; k++) {
		check_squares(names[k], 1000, 0, 2);
		check_squares(names[k], 1000, 7, 2);
		check_squares(names[k], 100, 1000, -1);
		check_squares(names[k], 5000, 0, 1);
	}
	no_children();
}

Test(parallel, empty_and_one_input)
{
	const char *names[32];
	size_t nb = backends(names);
	for (size_t k = 0; k < nb; k++) {
		check_squares(names[k], 0, 0, 2);
		check_squares(names[k], 1, 0, 2);
		lrd_parallel_iter *it;
		size_t idx;
		lrd_value *v;
		lrd_parallel_options o = {.backend = names[k], .n_jobs = 2};
		cr_assert_eq(lrd_parallel_iter_new(&o, "t.square", NULL, NULL, 0, &it), LRD_OK);
		cr_assert_eq(lrd_parallel_iter_next(it, &idx, &v), LRD_ENOTFOUND);
		lrd_parallel_iter_free(it);
	}
}

static void check_iter(const char *b, unsigned flags)
{
	size_t n = 3000;
	lrd_value **in = ints(n);
	lrd_parallel_options o = {.backend = b, .n_jobs = 2, .flags = flags};
	lrd_parallel_iter *it;
	cr_assert_eq(
	    lrd_parallel_iter_new(&o, "t.square", NULL, (const lrd_value *const *)in, n, &it),
	    LRD_OK, "%s", lrd_errmsg());
	char *seen = calloc(n, 1);
	size_t idx, count = 0;
	lrd_value *v;
	int rc;
	while ((rc = lrd_parallel_iter_next(it, &idx, &v)) == LRD_OK) {
		int64_t x;
		cr_assert(idx < n && !seen[idx], "%s: index %zu", b, idx);
		if (!(flags & LRD_PARALLEL_UNORDERED))
			cr_assert_eq(idx, count, "%s: ordered iterator gave %zu at %zu", b, idx,
			             count);
		seen[idx] = 1;
		lrd_value_get_int(v, &x);
		cr_assert_eq(x, (int64_t)(idx * idx));
		lrd_value_free(v);
		count++;
	}
	cr_assert_eq(rc, LRD_ENOTFOUND, "%s: %s", b, lrd_errmsg());
	cr_assert_eq(count, n);
	lrd_parallel_iter_free(it);
	free(seen);
	free_all(in, n);
}

Test(parallel, iterator_yields_in_order_or_as_completed)
{
	const char *names[32];
	size_t nb = backends(names);
	for (size_t k = 0; k < nb; k++) {
		check_iter(names[k], 0);
		check_iter(names[k], LRD_PARALLEL_UNORDERED);
	}
}

Test(parallel, lifo_backend_really_completes_out_of_order)
{
	lrd_value **in = ints(50);
	lrd_parallel_options o = {.backend = "test.lifo",
	                          .batch_size = 1,
	                          .pre_dispatch = 50,
	                          .flags = LRD_PARALLEL_UNORDERED};
	lrd_parallel_iter *it;
	cr_assert_eq(
	    lrd_parallel_iter_new(&o, "t.square", NULL, (const lrd_value *const *)in, 50, &it),
	    LRD_OK);
	size_t idx;
	lrd_value *v;
	cr_assert_eq(lrd_parallel_iter_next(it, &idx, &v), LRD_OK);
	cr_expect_eq(idx, 49);
	lrd_value_free(v);
	lrd_parallel_iter_free(it); /* with results not taken: freed */
	free_all(in, 50);
}

/* Shared between the test and forked workers. */
static long *shared_counter(void)
{
	long *c =
	    mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(c, MAP_FAILED);
	*c = 0;
	return c;
}

Test(parallel, task_error_stops_the_map_with_index_and_message)
{
	const char *names[32];
	size_t nb = backends(names);
	size_t n = 20000;
	lrd_value **in = ints(n), **out = calloc(n, sizeof *out);
	long *calls = shared_counter();
	for (size_t k = 0; k < nb; k++) {
		*calls = 0;
		lrd_parallel_options o = {.backend = names[k], .n_jobs = 2, .batch_size = 1};
		int rc =
		    lrd_parallel_map(&o, "t.fail37", calls, (const lrd_value *const *)in, n, out);
		cr_assert_eq(rc, LRD_ETASK, "%s: %s", names[k], lrd_strerror(rc));
		cr_expect_eq(lrd_parallel_failed_index(), 37, "%s", names[k]);
		cr_expect(strstr(lrd_errmsg(), "task 37 of 't.fail37'"), "%s: %s", names[k],
		          lrd_errmsg());
		cr_expect(strstr(lrd_errmsg(), "LRD_EINVAL: input 37 is bad"), "%s: %s", names[k],
		          lrd_errmsg());
		cr_expect(*calls < (long)n / 2, "%s: %ld tasks ran after the failure", names[k],
		          *calls);
		for (size_t i = 0; i < n; i++)
			cr_assert_null(out[i]);
		/* the same through the iterator */
		lrd_parallel_iter *it;
		cr_assert_eq(lrd_parallel_iter_new(&o, "t.fail37", NULL,
		                                   (const lrd_value *const *)in, n, &it),
		             LRD_OK);
		size_t idx;
		lrd_value *v;
		while ((rc = lrd_parallel_iter_next(it, &idx, &v)) == LRD_OK)
			lrd_value_free(v);
		cr_expect_eq(rc, LRD_ETASK, "%s", names[k]);
		cr_expect_eq(lrd_parallel_iter_next(it, &idx, &v), LRD_ECANCELED);
		lrd_parallel_iter_free(it);
	}
	free_all(in, n);
	free(out);
	no_children();
}

Test(parallel, worker_crash_names_signal_and_task_and_pool_recovers)
{
	const char *names[32];
	size_t nb = backends(names);
	size_t n = 40;
	lrd_value **in = ints(n), **out = calloc(n, sizeof *out);
	const char *expect[] = {"SIGSEGV", "SIGKILL", "status 3"};
	for (size_t k = 0; k < nb; k++) {
		if (!isolates(names[k]))
			continue;
		for (int how = 0; how < 3; how++) {
			lrd_parallel_options o = {
			    .backend = names[k], .n_jobs = 2, .batch_size = 2};
			int rc = lrd_parallel_map(&o, "t.crash", &how, (const lrd_value *const *)in,
			                          n, out);
			cr_assert_eq(rc, LRD_EWORKER, "%s: %s", names[k], lrd_strerror(rc));
			cr_expect(strstr(lrd_errmsg(), expect[how]), "%s: %s", names[k],
			          lrd_errmsg());
			cr_expect(strstr(lrd_errmsg(), "task 5"), "%s: %s", names[k], lrd_errmsg());
			cr_expect_eq(lrd_parallel_failed_index(), 5);
			no_children();
		}
		check_squares(names[k], 100, 0, 2);
	}
	free_all(in, n);
	free(out);
}

Test(parallel, timeout_is_reported_and_the_map_stops)
{
	const char *names[32];
	size_t nb = backends(names);
	size_t n = 8;
	lrd_value **in = ints(n), **out = calloc(n, sizeof *out);
	for (size_t k = 0; k < nb; k++) {
		lrd_parallel_options o = {
		    .backend = names[k], .n_jobs = 2, .batch_size = 1, .timeout = 0.2};
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc = lrd_parallel_map(&o, "t.slow", NULL, (const lrd_value *const *)in, n, out);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double el =
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
		cr_assert_eq(rc, LRD_ETIMEOUT, "%s: %s %s", names[k], lrd_strerror(rc),
		             lrd_errmsg());
		cr_expect(strstr(lrd_errmsg(), "task 2"), "%s: %s", names[k], lrd_errmsg());
		cr_expect(el < 10, "%s: took %.1f s", names[k], el);
	}
	free_all(in, n);
	free(out);
	no_children();
}

Test(parallel, task_returning_past_its_timeout_is_etimeout_and_its_output_freed_once)
{
	const char *names[2] = {"sequential", "threads"};
	size_t n = 3;
	lrd_value **in = ints(n), **out = calloc(n, sizeof *out);
	for (size_t k = 0; k < 2; k++) {
		lrd_parallel_options o = {.backend = names[k], .batch_size = 1, .timeout = 0.1};
		int rc = lrd_parallel_map(&o, "t.late", NULL, (const lrd_value *const *)in, n, out);
		cr_expect_eq(rc, LRD_ETIMEOUT, "%s: %s %s", names[k], lrd_strerror(rc),
		             lrd_errmsg());
		cr_expect_eq(lrd_parallel_failed_index(), 1, "%s", names[k]);
	}
	free_all(in, n);
	free(out);
}

Test(parallel, nested_map_runs_sequentially_in_the_worker)
{
	const char *names[32];
	size_t nb = backends(names);
	for (size_t k = 0; k < nb; k++) {
		lrd_value **in = ints(4), **out = calloc(4, sizeof *out);
		lrd_parallel_options o = {.backend = names[k], .n_jobs = 2, .batch_size = 1};
		cr_assert_eq(
		    lrd_parallel_map(&o, "t.outer", NULL, (const lrd_value *const *)in, 4, out),
		    LRD_OK, "%s: %s", names[k], lrd_errmsg());
		for (int i = 0; i < 4; i++) {
			int64_t v;
			lrd_value_get_int(out[i], &v);
			cr_expect_eq(v, 3, "%s: inner map left the worker's thread", names[k]);
		}
		free_all(in, 4);
		free_all(out, 4);
	}
	cr_expect(!lrd_parallel_in_worker());
}

Test(parallel, big_payloads_round_trip)
{
	const char *names[32];
	size_t nb = backends(names);
	char *dir = tc_tmpdir();
	char *store = tc_path(dir, "s");
	size_t n = 6;
	lrd_value **in = calloc(n, sizeof *in), **out = calloc(n, sizeof *out);
	for (size_t i = 0; i < n; i++)
		lrd_value_new_int(i % 2 ? 300000 : 10, &in[i]); /* 2.4 MB results and tiny ones */
	for (size_t k = 0; k < nb; k++)
		for (int with_store = 0; with_store < 2; with_store++) {
			lrd_parallel_options o = {.backend = names[k],
			                          .n_jobs = 2,
			                          .batch_size = 1,
			                          .max_nbytes = 1 << 20,
			                          .store = with_store ? store : NULL};
			cr_assert_eq(lrd_parallel_map(&o, "t.big", NULL,
			                              (const lrd_value *const *)in, n, out),
			             LRD_OK, "%s: %s", names[k], lrd_errmsg());
			for (size_t i = 0; i < n; i++) {
				size_t cnt = i % 2 ? 300000 : 10;
				cr_assert_eq(lrd_array_count(out[i]), cnt);
				const double *d = lrd_array_cdata(out[i]);
				cr_assert(d[0] == (double)cnt && d[cnt - 1] == (double)cnt);
				if (isolates(names[k]) && i % 2)
					cr_expect_eq(lrd_array_bufkind(out[i]), LRD_BUF_MAPPED,
					             "%s: a large result comes back mapped (%s)",
					             names[k],
					             with_store ? "store" : "shared memory");
			}
			/* big inputs too: the results of the first map fed back in */
			lrd_value **out2 = calloc(n, sizeof *out2);
			cr_assert_eq(lrd_parallel_map(&o, "t.big", NULL,
			                              (const lrd_value *const *)out, n, out2),
			             LRD_OK, "%s: %s", names[k], lrd_errmsg());
			for (size_t i = 0; i < n; i++)
				cr_assert_eq(lrd_array_count(out2[i]), i % 2 ? 300000 : 10);
			free_all(out2, n);
			for (size_t i = 0; i < n; i++) {
				lrd_value_free(out[i]);
				out[i] = NULL;
			}
		}
	/* no temporary payload left in the store */
	lrd_store *s;
	cr_assert_eq(lrd_store_open(store, NULL, &s), LRD_OK);
	lrd_store_iter *si;
	cr_assert_eq(lrd_store_iter_new(s, NULL, "", &si), LRD_OK);
	const char *key;
	size_t klen;
	lrd_buf val;
	cr_expect_eq(lrd_store_iter_next(si, &key, &klen, &val), LRD_ENOTFOUND, "left behind: %.*s",
	             (int)klen, key);
	lrd_store_iter_free(si);
	lrd_store_close(s);
	free_all(in, n);
	free(out);
	tc_rmtree(dir);
	free(store);
	free(dir);
	no_children();
}

Test(parallel, more_large_results_in_a_batch_than_descriptors_in_a_message)
{
	size_t n = 150; /* over LRD__PAR_MAX_FDS: the rest travel inline */
	lrd_value **in = calloc(n, sizeof *in), **out = calloc(n, sizeof *out);
	for (size_t i = 0; i < n; i++)
		lrd_value_new_int(20, &in[i]);
	lrd_parallel_options o = {
	    .backend = "processes", .n_jobs = 2, .batch_size = n, .max_nbytes = 64};
	cr_assert_eq(lrd_parallel_map(&o, "t.big", NULL, (const lrd_value *const *)in, n, out),
	             LRD_OK, "%s", lrd_errmsg());
	size_t mapped = 0;
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(lrd_array_count(out[i]), 20);
		cr_assert(((const double *)lrd_array_cdata(out[i]))[19] == 20.0);
		mapped += lrd_array_bufkind(out[i]) == LRD_BUF_MAPPED;
	}
	cr_expect(mapped > 0 && mapped < n, "%zu of %zu mapped", mapped, n);
	free_all(in, n);
	free_all(out, n);
	no_children();
}

static long vm_data_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmData: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* Results that together exceed the memory the caller may allocate come back through the
 * store, mapped: the parent holds 8 x 16 MiB of results with only 64 MiB more of RLIMIT_DATA
 * than it uses now (a copy of them would not fit; the limit is relative so that a sanitizer's
 * own reservations do not count). */
Test(parallel, results_larger_than_memory_come_back_through_the_store)
{
	char *dir = tc_tmpdir();
	char *store = tc_path(dir, "s");
	size_t n = 8, cnt = (size_t)2 << 20; /* 16 MiB of float64 each */
	lrd_value **in = calloc(n, sizeof *in), **out = calloc(n, sizeof *out);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(lrd_value_new_int((int64_t)cnt, &in[i]), LRD_OK);
	long base = vm_data_kib();
	cr_assert(base > 0);
	struct rlimit rl = {.rlim_cur = ((rlim_t)base << 10) + ((rlim_t)64 << 20),
	                    .rlim_max = RLIM_INFINITY};
	cr_assert_eq(setrlimit(RLIMIT_DATA, &rl), 0, "%s", strerror(errno));
	lrd_parallel_options o = {.backend = "processes",
	                          .n_jobs = 2,
	                          .batch_size = 1,
	                          .max_nbytes = 1 << 20,
	                          .store = store};
	cr_assert_eq(
	    lrd_parallel_map(&o, "t.big_unlimited", NULL, (const lrd_value *const *)in, n, out),
	    LRD_OK, "%s", lrd_errmsg());
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(lrd_array_count(out[i]), cnt);
		cr_expect_eq(lrd_array_bufkind(out[i]), LRD_BUF_MAPPED, "result %zu", i);
		const double *d = lrd_array_cdata(out[i]);
		cr_assert(d[0] == (double)cnt && d[cnt - 1] == (double)cnt);
	}
	cr_expect_lt(vm_data_kib() - base, 32 << 10,
	             "the results were copied: VmData grew by %ld KiB", vm_data_kib() - base);
	free_all(out, n);
	rl.rlim_cur = RLIM_INFINITY;
	setrlimit(RLIMIT_DATA, &rl);
	free_all(in, n);
	no_children();
	tc_rmtree(dir);
	free(dir);
	free(store);
}

/* The map's error survives its clean-up (deleting temporary payloads that may be absent). */
Test(parallel, a_task_error_keeps_its_message_through_the_clean_up)
{
	char *dir = tc_tmpdir();
	char *store = tc_path(dir, "s");
	const char *names[32];
	size_t nb = backends(names);
	size_t n = 64;
	lrd_value **in = ints(n), **out = calloc(n, sizeof *out);
	for (size_t k = 0; k < nb; k++) {
		lrd_parallel_options o = {
		    .backend = names[k], .n_jobs = 2, .batch_size = 4, .store = store};
		int rc =
		    lrd_parallel_map(&o, "t.fail37", NULL, (const lrd_value *const *)in, n, out);
		cr_expect_eq(rc, LRD_ETASK, "%s: %s", names[k], lrd_strerror(rc));
		cr_expect(strstr(lrd_errmsg(), "input 37 is bad"), "%s: %s", names[k],
		          lrd_errmsg());
	}
	free_all(in, n);
	free(out);
	tc_rmtree(dir);
	free(store);
	free(dir);
}

Test(parallel, n_jobs_follows_joblib)
{
	int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
	cr_expect_eq(lrd_parallel_effective_n_jobs(3, "threads"), 3);
	cr_expect_eq(lrd_parallel_effective_n_jobs(-1, "threads"), cores);
	cr_expect_eq(lrd_parallel_effective_n_jobs(-2, "threads"), cores > 1 ? cores - 1 : 1);
	cr_expect_eq(lrd_parallel_effective_n_jobs(-1000, "threads"), 1);
	cr_expect_eq(lrd_parallel_effective_n_jobs(4, "sequential"), 1);
	cr_expect_eq(lrd_parallel_effective_n_jobs(5000, "threads"), LRD_EINVAL);
	cr_expect_eq(lrd_parallel_effective_n_jobs(2, "nope"), LRD_ENOTFOUND);
	cr_expect_eq(lrd_parallel_effective_n_jobs(0, "threads"), 1);
}

Test(parallel, scoped_defaults_and_environment)
{
	lrd_parallel_options a = {.n_jobs = 3, .backend = "threads"}, b = {.n_jobs = 2};
	cr_assert_eq(lrd_parallel_config_push(&a), LRD_OK);
	cr_expect_eq(lrd_parallel_effective_n_jobs(0, NULL), 3);
	cr_assert_eq(lrd_parallel_config_push(&b), LRD_OK);
	cr_expect_eq(lrd_parallel_effective_n_jobs(0, NULL), 2);
	cr_expect_eq(lrd_parallel_effective_n_jobs(5, NULL), 5);
	cr_assert_eq(lrd_parallel_config_pop(), LRD_OK);
	cr_expect_eq(lrd_parallel_effective_n_jobs(0, NULL), 3);
	cr_assert_eq(lrd_parallel_config_pop(), LRD_OK);
	cr_expect_eq(lrd_parallel_config_pop(), LRD_EINVAL);
	setenv("LARDER_N_JOBS", "4", 1);
	cr_expect_eq(lrd_parallel_effective_n_jobs(0, "threads"), 4);
	setenv("LARDER_N_JOBS", "four", 1);
	cr_expect_eq(lrd_parallel_effective_n_jobs(0, "threads"), LRD_EINVAL);
	cr_expect(strstr(lrd_errmsg(), "LARDER_N_JOBS='four'"), "%s", lrd_errmsg());
	unsetenv("LARDER_N_JOBS");
	setenv("LARDER_BACKEND", "sequential", 1);
	cr_expect_eq(lrd_parallel_effective_n_jobs(4, NULL), 1);
	setenv("LARDER_BACKEND", "bogus", 1);
	cr_expect_eq(lrd_parallel_effective_n_jobs(4, NULL), LRD_ENOTFOUND);
	unsetenv("LARDER_BACKEND");
}

Test(parallel, registry_refuses_bad_names_and_vtables)
{
	cr_expect_eq(lrd_task_register("t.square", t_square), LRD_OK); /* same again: no-op */
	cr_expect_eq(lrd_task_register("t.square", t_fail37), LRD_EEXIST);
	cr_expect_eq(lrd_task_register("bad name", t_square), LRD_EINVAL);
	cr_expect_eq(lrd_task_register("", t_square), LRD_EINVAL);
	cr_expect_eq(lrd_task_register("x", NULL), LRD_EINVAL);
	lrd_task_fn fn;
	cr_expect_eq(lrd_task_find("no.such", &fn), LRD_ENOTFOUND);
	lrd_parallel_backend vt = lifo_vt;
	vt.abi = 99;
	cr_expect_eq(lrd_parallel_register_backend("test.bad", &vt), LRD_EVERSION);
	vt = lifo_vt;
	vt.collect = NULL;
	cr_expect_eq(lrd_parallel_register_backend("test.bad", &vt), LRD_EINVAL);
	lrd_value **in = ints(2), *out[2];
	cr_expect_eq(lrd_parallel_map(NULL, "no.such", NULL, (const lrd_value *const *)in, 2, out),
	             LRD_ENOTFOUND);
	lrd_parallel_options o = {.backend = "no.such"};
	cr_expect_eq(lrd_parallel_map(&o, "t.square", NULL, (const lrd_value *const *)in, 2, out),
	             LRD_ENOTFOUND);
	o = (lrd_parallel_options){.timeout = -1};
	cr_expect_eq(lrd_parallel_map(&o, "t.square", NULL, (const lrd_value *const *)in, 2, out),
	             LRD_EINVAL);
	const lrd_value *holes[2] = {in[0], NULL};
	cr_expect_eq(lrd_parallel_map(NULL, "t.square", NULL, holes, 2, out), LRD_EINVAL);
	free_all(in, 2);
}

Test(parallel, verbose_prints_joblib_lines)
{
	char *dir = tc_tmpdir();
	char *log = tc_path(dir, "err.txt");
	fflush(stderr);
	int saved = dup(2);
	FILE *f = fopen(log, "w");
	dup2(fileno(f), 2);
	lrd_value **in = ints(12), *out[12];
	lrd_parallel_options o = {.backend = "threads", .n_jobs = 2, .verbose = 1};
	int rc = lrd_parallel_map(&o, "t.square", NULL, (const lrd_value *const *)in, 12, out);
	fflush(stderr);
	dup2(saved, 2);
	fclose(f);
	cr_assert_eq(rc, LRD_OK);
	size_t len;
	char *text = tc_read_file(log, &len);
	cr_assert(text);
	cr_expect(
	    strstr(text, "[Parallel(n_jobs=2)]: Using backend threads with 2 concurrent workers."),
	    "%s", text);
	cr_expect(strstr(text, "[Parallel(n_jobs=2)]: Done  12 out of  12 | elapsed:"), "%s", text);
	cr_expect(strstr(text, "s finished\n"), "%s", text);
	free(text);
	for (int i = 0; i < 12; i++)
		lrd_value_free(out[i]);
	free_all(in, 12);
	tc_rmtree(dir);
	free(log);
	free(dir);
}

Test(parallel, process_worker_past_its_timeout_is_killed_and_replaced)
{
	const char *names[32];
	size_t nb = backends(names);
	lrd_value **in = ints(6), *out[6];
	for (size_t k = 0; k < nb; k++) {
		if (!isolates(names[k]))
			continue;
		lrd_parallel_options o = {
		    .backend = names[k], .n_jobs = 2, .batch_size = 1, .timeout = 0.2};
		time_t t0 = time(NULL);
		int rc = lrd_parallel_map(&o, "t.hang", NULL, (const lrd_value *const *)in, 6, out);
		cr_assert_eq(rc, LRD_ETIMEOUT, "%s: %s", names[k], lrd_errmsg());
		cr_expect(strstr(lrd_errmsg(), "task 1 of 't.hang'"), "%s", lrd_errmsg());
		cr_expect(strstr(lrd_errmsg(), "killed and replaced"), "%s", lrd_errmsg());
		cr_expect(time(NULL) - t0 < 10);
		no_children();
	}
	free_all(in, 6);
}

Test(parallel, process_workers_get_omp_threads_unless_set)
{
	int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
	char want[16];
	snprintf(want, sizeof want, "%d", cores / 2 > 0 ? cores / 2 : 1);
	lrd_value **in = ints(2), *out[2];
	lrd_parallel_options o = {.backend = "processes", .n_jobs = 2};
	unsetenv("OMP_NUM_THREADS");
	cr_assert_eq(lrd_parallel_map(&o, "t.env", NULL, (const lrd_value *const *)in, 2, out),
	             LRD_OK);
	cr_expect_str_eq(lrd_value_str(out[0], NULL), want);
	lrd_value_free(out[0]);
	lrd_value_free(out[1]);
	setenv("OMP_NUM_THREADS", "7", 1);
	cr_assert_eq(lrd_parallel_map(&o, "t.env", NULL, (const lrd_value *const *)in, 2, out),
	             LRD_OK);
	cr_expect_str_eq(lrd_value_str(out[0], NULL), "7");
	lrd_value_free(out[0]);
	lrd_value_free(out[1]);
	unsetenv("OMP_NUM_THREADS");
	cr_expect(getenv("OMP_NUM_THREADS") == NULL, "the parent's environment was changed");
	free_all(in, 2);
}

Test(parallel, freeing_an_iterator_midway_cancels_the_rest)
{
	const char *names[32];
	size_t nb = backends(names);
	size_t n = 20000;
	lrd_value **in = ints(n);
	long *calls = shared_counter();
	for (size_t k = 0; k < nb; k++) {
		*calls = 0;
		lrd_parallel_options o = {.backend = names[k],
		                          .n_jobs = 2,
		                          .batch_size = 1,
		                          .pre_dispatch = 4,
		                          .flags = LRD_PARALLEL_UNORDERED};
		lrd_parallel_iter *it;
		cr_assert_eq(lrd_parallel_iter_new(&o, "t.fail37", calls,
		                                   (const lrd_value *const *)in, n, &it),
		             LRD_OK);
		size_t idx;
		lrd_value *v;
		int rc = lrd_parallel_iter_next(it, &idx, &v);
		cr_assert_eq(rc, LRD_OK, "%s: %s %s", names[k], lrd_errname(rc), lrd_errmsg());
		cr_expect(idx < 4, "%s: index %zu came first", names[k], idx);
		lrd_value_free(v);
		lrd_parallel_iter_free(it);
		cr_expect(*calls < (long)n / 2, "%s: %ld tasks ran", names[k], *calls);
		no_children();
	}
	free_all(in, n);
}

/* ---- a memo attached to the map ---------------------------------------------------------- */

/* Squares, counting its calls in the shared (MAP_SHARED) counter ctx: processes too. */
static int t_count(void *ctx, const lrd_value *in, lrd_value **out)
{
	__atomic_fetch_add((long *)ctx, 1, __ATOMIC_SEQ_CST);
	return t_square(NULL, in, out);
}

Test(parallel, an_attached_memo_serves_hits_without_computing_them)
{
	lrd_task_register("t.count", t_count);
	long *calls =
	    mmap(NULL, sizeof *calls, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert(calls != MAP_FAILED);
	const char *names[32];
	size_t nb = backends(names);
	for (size_t k = 0; k < nb; k++) {
		char *dir = tc_tmpdir();
		lrd_store *st;
		lrd_memo *memo;
		lrd_store_options so = {.flags = LRD_STORE_NOSYNC};
		cr_assert_eq(lrd_store_open(dir, &so, &st), LRD_OK, "%s", lrd_errmsg());
		cr_assert_eq(lrd_memo_open(st, NULL, &memo), LRD_OK, "%s", lrd_errmsg());
		lrd_value **in = ints(40), **out = calloc(40, sizeof *out);
		lrd_parallel_options o = {.backend = names[k], .n_jobs = 2, .memo = memo};
		const size_t ns[] = {10, 40, 40}, computed[] = {10, 30, 0};
		for (int run = 0; run < 3; run++) {
			*calls = 0;
			cr_assert_eq(lrd_parallel_map(&o, "t.count", calls,
			                              (const lrd_value *const *)in, ns[run], out),
			             LRD_OK, "%s run %d: %s", names[k], run, lrd_errmsg());
			cr_expect_eq(*calls, (long)computed[run], "%s run %d: %ld computed",
			             names[k], run, *calls);
			for (size_t i = 0; i < ns[run]; i++) {
				int64_t v;
				cr_assert_eq(lrd_value_get_int(out[i], &v), LRD_OK);
				cr_assert_eq(v, (int64_t)(i * i), "%s run %d output %zu", names[k],
				             run, i);
				lrd_value_free(out[i]);
				out[i] = NULL;
			}
		}
		o.memo_version = "2"; /* a new version computes again */
		*calls = 0;
		cr_assert_eq(
		    lrd_parallel_map(&o, "t.count", calls, (const lrd_value *const *)in, 40, out),
		    LRD_OK);
		cr_expect_eq(*calls, 40, "%s: %ld computed after a version change", names[k],
		             *calls);
		free_all(out, 40);
		lrd_parallel_iter *it;
		cr_expect_eq(lrd_parallel_iter_new(&o, "t.count", calls,
		                                   (const lrd_value *const *)in, 40, &it),
		             LRD_EINVAL);
		free_all(in, 40);
		lrd_memo_close(memo);
		lrd_store_close(st);
		tc_rmtree(dir);
		free(dir);
	}
	munmap(calls, sizeof *calls);
	no_children();
}

/* ---- soak (long tier) ------------------------------------------------------------------------ */

#ifdef LRD_TEST_LONG
#include <dirent.h>

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	cr_assert(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static size_t store_keys(const char *path)
{
	lrd_store *s;
	cr_assert_eq(lrd_store_open(path, NULL, &s), LRD_OK, "%s", lrd_errmsg());
	lrd_store_iter *si;
	cr_assert_eq(lrd_store_iter_new(s, NULL, "", &si), LRD_OK);
	const char *key;
	size_t klen, n = 0;
	lrd_buf val;
	while (lrd_store_iter_next(si, &key, &klen, &val) == LRD_OK)
		n++;
	lrd_store_iter_free(si);
	lrd_store_close(s);
	return n;
}

/* Hundreds of maps of every kind, failing in every way, one after another on every backend:
 * after each, no child, no descriptor and no store entry is left, and memory stays flat. */
Test(parallel, soak_maps_failing_every_way_leave_nothing_behind, .timeout = 900)
{
	const char *names[32];
	size_t nb = backends(names);
	char *dir = tc_tmpdir();
	char *store = tc_path(dir, "s");
	store_keys(store); /* creates it */
	size_t n = 64;
	lrd_value **in = ints(n), **out = calloc(n, sizeof *out);
	/* warm-up: the parent opens its handle on a store once per process and keeps it */
	lrd_parallel_options warm = {.backend = "processes", .n_jobs = 1, .store = store};
	cr_assert_eq(
	    lrd_parallel_map(&warm, "t.square", NULL, (const lrd_value *const *)in, n, out), LRD_OK,
	    "%s", lrd_errmsg());
	for (size_t i = 0; i < n; i++) {
		lrd_value_free(out[i]);
		out[i] = NULL;
	}
	int fds = open_fds();
	long rss_early = 0;
	int rounds = 1000;
	for (int round = 0; round < rounds; round++) {
		const char *b = names[tc_rand() % nb];
		int kind = (int)(tc_rand() % 6);
		if (kind == 1 && !isolates(b))
			kind = 0; /* a crash in a thread takes the test with it */
		int how = (int)(tc_rand() % 3);
		lrd_parallel_options o = {.backend = b,
		                          .n_jobs = 1 + (int)(tc_rand() % 3),
		                          .batch_size = (size_t)(tc_rand() % 4),
		                          .max_nbytes = 1 << 16,
		                          .store = tc_rand() % 2 ? store : NULL};
		int rc;
		switch (kind) {
		case 0: /* fine */
			rc = lrd_parallel_map(&o, "t.square", NULL, (const lrd_value *const *)in, n,
			                      out);
			cr_assert_eq(rc, LRD_OK, "round %d %s: %s", round, b, lrd_errmsg());
			free_all(out, n);
			out = calloc(n, sizeof *out);
			break;
		case 1: /* a worker dies */
			rc = lrd_parallel_map(&o, "t.crash", &how, (const lrd_value *const *)in, n,
			                      out);
			cr_assert_eq(rc, LRD_EWORKER, "round %d %s: %s", round, b,
			             lrd_strerror(rc));
			break;
		case 2: /* a task fails */
			rc = lrd_parallel_map(&o, "t.fail37", NULL, (const lrd_value *const *)in, n,
			                      out);
			cr_assert_eq(rc, LRD_ETASK, "round %d %s: %s", round, b, lrd_strerror(rc));
			break;
		case 3: /* a task runs past its timeout */
			o.timeout = 0.05;
			rc = lrd_parallel_map(&o, "t.slow", NULL, (const lrd_value *const *)in, 4,
			                      out);
			cr_assert_eq(rc, LRD_ETIMEOUT, "round %d %s: %s", round, b,
			             lrd_strerror(rc));
			break;
		case 4: { /* big results through the store or pipes */
			lrd_value *big[3];
			for (int i = 0; i < 3; i++)
				lrd_value_new_int(i == 1 ? 40000 : 3, &big[i]);
			rc = lrd_parallel_map(&o, "t.big", NULL, (const lrd_value *const *)big, 3,
			                      out);
			cr_assert_eq(rc, LRD_OK, "round %d %s: %s", round, b, lrd_errmsg());
			cr_assert_eq(lrd_array_count(out[1]), 40000);
			for (int i = 0; i < 3; i++) {
				lrd_value_free(big[i]);
				lrd_value_free(out[i]);
				out[i] = NULL;
			}
			break;
		}
		default: { /* an iterator dropped midway */
			lrd_parallel_iter *it;
			o.flags = tc_rand() % 2 ? LRD_PARALLEL_UNORDERED : 0;
			cr_assert_eq(lrd_parallel_iter_new(&o, "t.square", NULL,
			                                   (const lrd_value *const *)in, n, &it),
			             LRD_OK);
			size_t idx;
			lrd_value *v;
			cr_assert_eq(lrd_parallel_iter_next(it, &idx, &v), LRD_OK,
			             "round %d %s: %s", round, b, lrd_errmsg());
			lrd_value_free(v);
			lrd_parallel_iter_free(it);
		}
		}
		no_children();
		cr_assert_eq(open_fds(), fds, "round %d %s kind %d: descriptors leaked", round, b,
		             kind);
		if (round == rounds / 4)
			rss_early = tc_maxrss_kib();
	}
	cr_expect_eq(store_keys(store), 0, "temporary payloads left in the store");
	/* peak RSS over the last three quarters grows by less than a few payloads */
	cr_expect_lt(tc_maxrss_kib() - rss_early, 32 * 1024, "peak RSS grew from %ld to %ld KiB",
	             rss_early, tc_maxrss_kib());
	free_all(in, n);
	free(out);
	tc_rmtree(dir);
	free(store);
	free(dir);
}
#endif
