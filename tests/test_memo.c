/* memo: the memoizer — hits and misses, keys, versions, failures, recursion and cycles,
 * compute-once across threads and processes (with a killed computer), limits, damaged and
 * newer entries, a full map, shelving, clearing, statistics.
 * Built twice: the fast tier, and with LRD_TEST_LONG the long tier (4 processes x 2 threads,
 * more keys, slower function). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/store_fixture.h"

#ifdef LRD_TEST_LONG
#define NPROC   4
#define NKEYS   12
#define SLOW_MS 150
#else
#define NPROC   2
#define NKEYS   4
#define SLOW_MS 40
#endif
#define NTHREAD 2

static char *dir;
static lrd_store *st;
static lrd_memo *memo;
static int calls; /* computations in this process */

static void open_all(const lrd_memo_options *mo)
{
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC};
	cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_memo_open(st, mo, &memo), LRD_OK, "%s", lrd_errmsg());
}

static void close_all(void)
{
	lrd_memo_close(memo);
	memo = NULL;
	lrd_store_close(st);
	st = NULL;
}

static void setup(void)
{
	dir = tc_tmpdir();
	cr_assert(dir);
	calls = 0;
	open_all(NULL);
}

static void teardown(void)
{
	close_all();
	tc_rmtree(dir);
	free(dir);
}

// cppcheck-suppress unknownMacro
TestSuite(memo, .init = setup, .fini = teardown);

static lrd_value *int_args(int64_t n)
{
	lrd_value *l, *x;
	lrd_value_new_list(&l);
	lrd_value_new_int(n, &x);
	lrd_list_append(l, x);
	return l;
}

static int64_t first_int(const lrd_value *args)
{
	int64_t n = 0;
	lrd_value_get_int(lrd_value_kind(args) == LRD_KIND_LIST ? lrd_list_at(args, 0)
	                                                        : lrd_map_get(args, "n"),
	                  &n);
	return n;
}

/* square(n) = n * n as a float64 array of 1000 copies (so results have an array) */
static int square(const lrd_value *args, lrd_value **res, void *ctx)
{
	(void)ctx;
	calls++;
	int64_t n = first_int(args);
	lrd_value *a = fx_floats(1000);
	double *d = lrd_array_data(a);
	for (int i = 0; i < 1000; i++)
		d[i] = (double)(n * n);
	*res = a;
	return LRD_OK;
}

static const lrd_memo_func SQUARE = {.name = "square", .version = "1", .fn = square};

static double result_at0(const lrd_value *r) { return ((const double *)lrd_array_cdata(r))[0]; }

Test(memo, miss_then_hit_returns_the_same_result)
{
	lrd_value *a = int_args(7), *r1, *r2;
	lrd_memo_info i1, i2;
	cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r1, &i1), LRD_OK, "%s", lrd_errmsg());
	cr_expect(!i1.hit && i1.cached && i1.bytes > 8000);
	cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r2, &i2), LRD_OK, "%s", lrd_errmsg());
	cr_expect(i2.hit && !i2.waited);
	cr_expect(i1.key.lo == i2.key.lo && i1.key.hi == i2.key.hi);
	cr_expect_eq(calls, 1);
	cr_expect(lrd_value_equal(r1, r2));
	cr_expect_eq(result_at0(r2), 49.0);
	cr_expect_eq(lrd_memo_contains(memo, &SQUARE, a, NULL), 1);
	lrd_value *b = int_args(8);
	cr_expect_eq(lrd_memo_contains(memo, &SQUARE, b, NULL), 0);
	lrd_memo_stats s;
	cr_assert_eq(lrd_memo_stats_get(memo, &s), LRD_OK);
	cr_expect_eq(s.hits, 1);
	cr_expect_eq(s.misses, 1);
	cr_expect_eq(s.entries, 1);
	cr_expect_eq(s.bytes, i1.bytes);
	lrd_value *all[] = {a, b, r1, r2};
	for (int i = 0; i < 4; i++)
		lrd_value_free(all[i]);
}

Test(memo, results_persist_across_reopen_and_namespaces_are_separate)
{
	lrd_value *a = int_args(3), *r;
	cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r, NULL), LRD_OK);
	lrd_value_free(r);
	close_all();
	open_all(NULL);
	lrd_memo_info i;
	cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r, &i), LRD_OK);
	cr_expect(i.hit);
	lrd_value_free(r);
	lrd_memo *other;
	lrd_memo_options o = {.name_space = "other"};
	cr_assert_eq(lrd_memo_open(st, &o, &other), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_memo_call(other, &SQUARE, a, NULL, &r, &i), LRD_OK);
	cr_expect(!i.hit);
	lrd_value_free(r);
	lrd_memo_close(other);
	o.name_space = "bad/name";
	cr_expect_eq(lrd_memo_open(st, &o, &other), LRD_EINVAL);
	cr_expect_eq(calls, 2);
	lrd_value_free(a);
}

static int failing(const lrd_value *args, lrd_value **res, void *ctx)
{
	(void)args;
	(void)res;
	(void)ctx;
	calls++;
	return lrd_error_set(LRD_ETASK, "failing on purpose");
}

Test(memo, a_failing_function_is_not_cached_and_its_error_comes_back)
{
	lrd_memo_func f = {.name = "failing", .fn = failing};
	lrd_value *a = int_args(1), *r = (lrd_value *)1;
	cr_expect_eq(lrd_memo_call(memo, &f, a, NULL, &r, NULL), LRD_ETASK);
	cr_expect_str_eq(lrd_errmsg(), "failing on purpose");
	cr_expect_null(r);
	cr_expect_eq(lrd_memo_call(memo, &f, a, NULL, &r, NULL), LRD_ETASK);
	cr_expect_eq(calls, 2);
	cr_expect_eq(lrd_memo_contains(memo, &f, a, NULL), 0);
	lrd_value_free(a);
}

Test(memo, a_new_version_invalidates_the_old_entries)
{
	lrd_value *r;
	for (int n = 0; n < 3; n++) {
		lrd_value *a = int_args(n);
		cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r, NULL), LRD_OK);
		lrd_value_free(r);
		lrd_value_free(a);
	}
	lrd_memo_func v2 = SQUARE;
	v2.version = "2";
	lrd_value *a = int_args(0);
	lrd_memo_info i;
	cr_assert_eq(lrd_memo_call(memo, &v2, a, NULL, &r, &i), LRD_OK);
	cr_expect(!i.hit);
	lrd_value_free(r);
	lrd_memo_stats s;
	lrd_memo_stats_get(memo, &s);
	cr_expect_eq(s.entries, 1);
	cr_expect_eq(lrd_memo_contains(memo, &SQUARE, a, NULL), 0);
	cr_expect_eq(calls, 4);
	lrd_value_free(a);
}

Test(memo, ignored_arguments_are_left_out_of_the_key_and_map_order_does_not_matter)
{
	static const char *const ign[] = {"verbose", NULL};
	lrd_memo_func f = {.name = "sq", .fn = square, .ignore = ign};
	lrd_value *m1, *m2, *x, *r;
	lrd_value_new_map(&m1);
	lrd_value_new_int(5, &x);
	lrd_map_set(m1, "n", x);
	lrd_value_new_bool(true, &x);
	lrd_map_set(m1, "verbose", x);
	lrd_value_new_map(&m2);
	lrd_value_new_bool(false, &x);
	lrd_map_set(m2, "verbose", x);
	lrd_value_new_int(5, &x);
	lrd_map_set(m2, "n", x);
	lrd_memo_info i;
	cr_assert_eq(lrd_memo_call(memo, &f, m1, NULL, &r, &i), LRD_OK);
	lrd_value_free(r);
	cr_assert_eq(lrd_memo_call(memo, &f, m2, NULL, &r, &i), LRD_OK);
	cr_expect(i.hit);
	cr_expect_eq(result_at0(r), 25.0);
	lrd_value_free(r);
	lrd_value_new_int(6, &x);
	lrd_map_set(m2, "n", x);
	cr_assert_eq(lrd_memo_call(memo, &f, m2, NULL, &r, &i), LRD_OK);
	cr_expect(!i.hit);
	lrd_value_free(r);
	lrd_value_free(m1);
	lrd_value_free(m2);
}

/* ---- recursion and cycles ------------------------------------------------------------------ */

static const lrd_memo_func FIB;

/* fib(n) mod 2^64 through the memo, recursively */
static int fib(const lrd_value *args, lrd_value **res, void *ctx)
{
	int64_t n = first_int(args);
	calls++;
	if (n < 2)
		return lrd_value_new_int(n, res);
	int64_t s = 0;
	for (int k = 1; k <= 2; k++) {
		lrd_value *a = int_args(n - k), *r = NULL;
		int rc = lrd_memo_call(ctx, &FIB, a, ctx, &r, NULL);
		lrd_value_free(a);
		if (rc != LRD_OK)
			return rc;
		int64_t x;
		lrd_value_get_int(r, &x);
		lrd_value_free(r);
		s = (int64_t)((uint64_t)s + (uint64_t)x);
	}
	return lrd_value_new_int(s, res);
}

static const lrd_memo_func FIB = {.name = "fib", .fn = fib};

struct fib_job {
	int64_t n;
	int rc;
	int64_t out;
};

static void *fib_thread(void *p)
{
	struct fib_job *j = p;
	lrd_value *a = int_args(j->n), *r = NULL;
	j->rc = lrd_memo_call(memo, &FIB, a, memo, &r, NULL);
	if (j->rc == LRD_OK)
		lrd_value_get_int(r, &j->out);
	lrd_value_free(a);
	lrd_value_free(r);
	return NULL;
}

Test(memo, recursive_fibonacci_to_10000_computes_each_n_once, .timeout = 120)
{
	/* 10,000 nested calls: the stack holds fib's frames and the memo's (small) ones; a thread
	 * with a large stack makes room for the user's frames, the memo allocates its state */
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 512u << 20);
	struct fib_job j = {.n = 10000};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, &at, fib_thread, &j), 0);
	pthread_join(t, NULL);
	cr_assert_eq(j.rc, LRD_OK, "%s", lrd_errname(j.rc));
	uint64_t a = 0, b = 1;
	for (int i = 0; i < 10000; i++) {
		uint64_t c = a + b;
		a = b;
		b = c;
	}
	cr_expect_eq((uint64_t)j.out, a);
	cr_expect_eq(calls, 10001);
	/* a second run is one hit */
	calls = 0;
	j.n = 10000;
	fib_thread(&j);
	cr_expect_eq(calls, 0);
}

static const lrd_memo_func CYCLE;

static int cycle(const lrd_value *args, lrd_value **res, void *ctx)
{
	calls++;
	return lrd_memo_call(ctx, &CYCLE, args, ctx, res, NULL); /* the same key: a cycle */
}

static const lrd_memo_func CYCLE = {.name = "cycle", .fn = cycle};

Test(memo, a_call_waiting_on_its_own_key_is_an_error_not_a_deadlock, .timeout = 20)
{
	lrd_value *a = int_args(1), *r;
	cr_expect_eq(lrd_memo_call(memo, &CYCLE, a, memo, &r, NULL), LRD_EBUSY);
	cr_expect(strstr(lrd_errmsg(), "cycle"), "%s", lrd_errmsg());
	cr_expect_eq(calls, 1);
	lrd_value_free(a);
}

/* ---- compute once -------------------------------------------------------------------------- */

/* A slow function that appends its key to a log file (O_APPEND: one write per computation,
 * from any process), then sleeps. ctx: the log path. A key of 1000 + k sleeps forever (the
 * victim of the kill test) unless ctx's path ends in "fast". */
struct slow_ctx {
	const char *log;
	int sleep_ms;
};

static int slow(const lrd_value *args, lrd_value **res, void *ctx)
{
	const struct slow_ctx *c = ctx;
	int64_t n = first_int(args);
	int fd = open(c->log, O_WRONLY | O_APPEND | O_CREAT, 0644);
	char line[32];
	int len = snprintf(line, sizeof line, "%lld\n", (long long)n);
	if (fd < 0 || write(fd, line, (size_t)len) != len)
		return lrd_error_set(LRD_EIO, "log");
	close(fd);
	struct timespec ts = {c->sleep_ms / 1000, (long)(c->sleep_ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	return lrd_value_new_int(n * 10, res);
}

static const lrd_memo_func SLOW = {.name = "slow", .fn = slow};

struct worker {
	const char *dir;
	struct slow_ctx ctx;
	int first, bad;
};

static void *worker_thread(void *p)
{
	struct worker *w = p;
	for (int k = 0; k < NKEYS; k++) {
		int key = (k + w->first) % NKEYS;
		lrd_value *a = int_args(key), *r = NULL;
		int rc = lrd_memo_call(memo, &SLOW, a, &w->ctx, &r, NULL);
		int64_t x = -1;
		if (rc == LRD_OK)
			lrd_value_get_int(r, &x);
		if (x != key * 10)
			w->bad++;
		lrd_value_free(a);
		lrd_value_free(r);
	}
	return NULL;
}

/* In a forked child: open store and memo, run NTHREAD threads over all keys, exit with the
 * number of wrong results. */
static void child_run(const char *log, int first)
{
	lrd_store *s2;
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC};
	if (lrd_store_open(dir, &o, &s2) != LRD_OK || lrd_memo_open(s2, NULL, &memo) != LRD_OK)
		_exit(100);
	struct worker w[NTHREAD];
	pthread_t t[NTHREAD];
	for (int i = 0; i < NTHREAD; i++) {
		w[i] = (struct worker){.dir = dir, .ctx = {log, SLOW_MS}, .first = first + i};
		pthread_create(&t[i], NULL, worker_thread, &w[i]);
	}
	int bad = 0;
	for (int i = 0; i < NTHREAD; i++) {
		pthread_join(t[i], NULL);
		bad += w[i].bad;
	}
	lrd_memo_close(memo);
	lrd_store_close(s2);
	_exit(bad);
}

/* Count lines of the log equal to key. */
static int count_key(const char *log, int key)
{
	char *text = fx_read_text(log), *p = text;
	int n = 0;
	while (*p) {
		char *e = strchr(p, '\n');
		if (!e)
			break;
		*e = 0;
		n += atoi(p) == key;
		p = e + 1;
	}
	free(text);
	return n;
}

Test(memo, concurrent_processes_and_threads_compute_each_key_once, .timeout = 120)
{
	close_all(); /* the parent's handles must not cross fork() */
	char *log = tc_path(dir, "computed.log");
	pid_t pids[NPROC];
	for (int p = 0; p < NPROC; p++) {
		pids[p] = fork();
		cr_assert(pids[p] >= 0);
		if (pids[p] == 0)
			child_run(log, p);
	}
	for (int p = 0; p < NPROC; p++) {
		int status;
		cr_assert_eq(waitpid(pids[p], &status, 0), pids[p]);
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", p,
		          status);
	}
	for (int k = 0; k < NKEYS; k++)
		cr_expect_eq(count_key(log, k), 1, "key %d computed %d times", k,
		             count_key(log, k));
	open_all(NULL);
	lrd_memo_stats s;
	cr_assert_eq(lrd_memo_stats_get(memo, &s), LRD_OK);
	cr_expect_eq(s.misses, NKEYS);
	cr_expect_eq(s.entries, NKEYS);
	cr_expect_eq(s.hits, (uint64_t)(NPROC * NTHREAD - 1) * NKEYS);
	free(log);
}

Test(memo, a_waiter_takes_over_when_the_computing_process_is_killed, .timeout = 120)
{
	close_all();
	char *log = tc_path(dir, "computed.log");
	pid_t victim = fork();
	cr_assert(victim >= 0);
	if (victim == 0) { /* computes key 0 and hangs there until killed */
		lrd_store *s2;
		lrd_store_options o = {.flags = LRD_STORE_NOSYNC};
		if (lrd_store_open(dir, &o, &s2) != LRD_OK ||
		    lrd_memo_open(s2, NULL, &memo) != LRD_OK)
			_exit(100);
		struct slow_ctx c = {log, 600000};
		lrd_value *a = int_args(0), *r;
		lrd_memo_call(memo, &SLOW, a, &c, &r, NULL);
		_exit(101);
	}
	while (count_key(log, 0) < 1) /* the victim is computing */
		usleep(2000);
	pid_t pids[NPROC];
	for (int p = 0; p < NPROC; p++) {
		pids[p] = fork();
		cr_assert(pids[p] >= 0);
		if (pids[p] == 0)
			child_run(log, 0); /* everyone starts with key 0: they wait on the victim */
	}
	usleep(100000);
	cr_expect_eq(count_key(log, 0), 1, "nobody computed key 0 while the victim held it");
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);
	for (int p = 0; p < NPROC; p++) {
		int status;
		cr_assert_eq(waitpid(pids[p], &status, 0), pids[p]);
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", p,
		          status);
	}
	cr_expect_eq(count_key(log, 0), 2, "key 0 computed %d times", count_key(log, 0));
	for (int k = 1; k < NKEYS; k++)
		cr_expect_eq(count_key(log, k), 1);
	open_all(NULL);
	free(log);
}

struct wake {
	struct slow_ctx ctx;
	double waited_s;
	bool waited;
	int rc;
};

static double mono(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *wake_thread(void *p)
{
	struct wake *w = p;
	lrd_value *a = int_args(5), *r = NULL;
	lrd_memo_info i;
	w->rc = lrd_memo_call(memo, &SLOW, a, &w->ctx, &r, &i);
	w->waited = i.waited && i.hit;
	w->waited_s = mono();
	lrd_value_free(a);
	lrd_value_free(r);
	return NULL;
}

Test(memo, a_waiting_thread_gets_the_result_of_the_first_without_computing)
{
	char *log = tc_path(dir, "computed.log");
	struct wake w1 = {.ctx = {log, 300}}, w2 = {.ctx = {log, 300}};
	pthread_t t1, t2;
	pthread_create(&t1, NULL, wake_thread, &w1);
	while (count_key(log, 5) < 1)
		usleep(1000);
	pthread_create(&t2, NULL, wake_thread, &w2);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	cr_expect_eq(w1.rc, LRD_OK);
	cr_expect_eq(w2.rc, LRD_OK);
	cr_expect(w2.waited);
	cr_expect_eq(count_key(log, 5), 1);
	free(log);
}

/* ---- limits -------------------------------------------------------------------------------- */

Test(memo, an_items_limit_keeps_the_most_recently_used_entries)
{
	close_all();
	lrd_memo_options mo = {.limits = {.items = 3}};
	open_all(&mo);
	lrd_value *r;
	for (int n = 0; n < 10; n++) {
		lrd_value *a = int_args(n);
		cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r, NULL), LRD_OK);
		lrd_value_free(r);
		lrd_value_free(a);
	}
	lrd_memo_stats s;
	lrd_memo_stats_get(memo, &s);
	cr_expect_eq(s.entries, 3);
	cr_expect_eq(s.evictions, 7);
	for (int n = 0; n < 10; n++) {
		lrd_value *a = int_args(n);
		cr_expect_eq(lrd_memo_contains(memo, &SQUARE, a, NULL), n >= 7, "n=%d", n);
		lrd_value_free(a);
	}
}

static int note_accessed(const lrd_memo_entry *e, void *ctx)
{
	*(double *)ctx = e->accessed;
	return 0;
}

/* Hits within the resolution write the counters only, later ones the access time too. */
static void hits_and_access_time(double resolution_s, int want_newer)
{
	close_all();
	lrd_memo_options mo = {.atime_resolution_s = resolution_s};
	open_all(&mo);
	lrd_value *a = int_args(3), *r;
	cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r, NULL), LRD_OK);
	lrd_value_free(r);
	double stored = 0, after = 0;
	cr_assert_eq(lrd_memo_list(memo, NULL, note_accessed, &stored), LRD_OK);
	lrd_memo_stats s0, s;
	cr_assert_eq(lrd_memo_stats_get(memo, &s0), LRD_OK);
	usleep(20000);
	for (int i = 0; i < 3; i++) {
		lrd_memo_info info;
		cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r, &info), LRD_OK);
		cr_assert(info.hit);
		lrd_value_free(r);
	}
	cr_assert_eq(lrd_memo_stats_get(memo, &s), LRD_OK); /* flushes the pending hits */
	cr_expect_eq(s.hits - s0.hits, 3);
	cr_assert_eq(lrd_memo_list(memo, NULL, note_accessed, &after), LRD_OK);
	if (want_newer)
		cr_expect_gt(after, stored, "resolution %g s: access time not recorded",
		             resolution_s);
	else
		cr_expect_eq(after, stored, "resolution %g s: access time rewritten", resolution_s);
	lrd_value_free(a);
}

Test(memo, a_hit_rewrites_the_access_time_only_when_older_than_the_resolution)
{
	hits_and_access_time(0, 0);    /* default 60 s */
	hits_and_access_time(1e-3, 1); /* 20 ms later: older than 1 ms */
}

Test(memo, an_invalid_access_time_resolution_is_refused)
{
	lrd_memo *m2;
	lrd_memo_options mo = {.atime_resolution_s = -1};
	cr_expect_eq(lrd_memo_open(st, &mo, &m2), LRD_EINVAL);
	mo.atime_resolution_s = 0.0 / 0.0;
	cr_expect_eq(lrd_memo_open(st, &mo, &m2), LRD_EINVAL);
}

Test(memo, reduce_on_demand_evicts_least_recently_used_first)
{
	close_all();
	lrd_memo_options mo = {.atime_resolution_s = 1e-6}; /* every hit records its time */
	open_all(&mo);
	lrd_value *r;
	for (int n = 0; n < 5; n++) {
		lrd_value *a = int_args(n);
		cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r, NULL), LRD_OK);
		lrd_value_free(r);
		lrd_value_free(a);
	}
	lrd_value *a0 = int_args(0);
	usleep(2000);
	cr_assert_eq(lrd_memo_call(memo, &SQUARE, a0, NULL, &r, NULL), LRD_OK); /* 0 is recent */
	lrd_value_free(r);
	uint64_t removed;
	lrd_memo_limits lim = {.items = 2};
	cr_assert_eq(lrd_memo_reduce(memo, &lim, &removed), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(removed, 3);
	cr_expect_eq(lrd_memo_contains(memo, &SQUARE, a0, NULL), 1);
	lrd_value *a4 = int_args(4);
	cr_expect_eq(lrd_memo_contains(memo, &SQUARE, a4, NULL), 1);
	lim = (lrd_memo_limits){.bytes = 1};
	cr_assert_eq(lrd_memo_reduce(memo, &lim, &removed), LRD_OK);
	cr_expect_eq(removed, 2);
	lrd_memo_stats s;
	lrd_memo_stats_get(memo, &s);
	cr_expect_eq(s.entries, 0);
	cr_expect_eq(s.bytes, 0);
	lrd_value_free(a0);
	lrd_value_free(a4);
}

static bool refuse_all(const lrd_memo_entry *e, void *ctx)
{
	(void)ctx;
	return strcmp(e->func, "square") != 0;
}

Test(memo, expired_or_refused_entries_are_recomputed)
{
	lrd_memo_func f = SQUARE;
	f.age_limit_s = 0.05;
	lrd_value *a = int_args(2), *r;
	lrd_memo_info i;
	cr_assert_eq(lrd_memo_call(memo, &f, a, NULL, &r, &i), LRD_OK);
	lrd_value_free(r);
	usleep(100000);
	cr_assert_eq(lrd_memo_call(memo, &f, a, NULL, &r, &i), LRD_OK);
	cr_expect(!i.hit);
	lrd_value_free(r);
	f.age_limit_s = 0;
	f.validate = refuse_all;
	cr_assert_eq(lrd_memo_call(memo, &f, a, NULL, &r, &i), LRD_OK);
	cr_expect(!i.hit);
	lrd_value_free(r);
	cr_expect_eq(calls, 3);
	lrd_memo_stats s;
	lrd_memo_stats_get(memo, &s);
	cr_expect_eq(s.entries, 1);
	lrd_value_free(a);
}

/* ---- shelve, forget, clear, list ----------------------------------------------------------- */

Test(memo, shelve_returns_a_reference_loaded_later)
{
	lrd_value *a = int_args(9), *r;
	lrd_memo_ref *ref;
	lrd_memo_info i;
	cr_assert_eq(lrd_memo_shelve(memo, &SQUARE, a, NULL, &ref, &i), LRD_OK, "%s", lrd_errmsg());
	cr_expect(!i.hit);
	cr_expect(strncmp(lrd_memo_ref_key(ref), "memo/default/", 13) == 0);
	cr_assert_eq(lrd_memo_ref_load(ref, &r), LRD_OK);
	cr_expect_eq(result_at0(r), 81.0);
	lrd_value_free(r);
	lrd_memo_ref_free(ref);
	cr_assert_eq(lrd_memo_shelve(memo, &SQUARE, a, NULL, &ref, &i), LRD_OK);
	cr_expect(i.hit);
	cr_expect_eq(calls, 1);
	cr_assert_eq(lrd_memo_forget(memo, &SQUARE, a), LRD_OK);
	cr_expect_eq(lrd_memo_ref_load(ref, &r), LRD_ENOTFOUND);
	cr_expect(strstr(lrd_errmsg(), "gone"));
	cr_expect_eq(lrd_memo_forget(memo, &SQUARE, a), LRD_ENOTFOUND);
	lrd_memo_ref_free(ref);
	lrd_value_free(a);
}

/* filled(n): 8 MiB of float64 equal to n, more than one default chunk (4 MiB) */
static int filled(const lrd_value *args, lrd_value **res, void *ctx)
{
	(void)ctx;
	calls++;
	int64_t n = first_int(args);
	lrd_value *a = fx_floats((size_t)1 << 20);
	double *d = lrd_array_data(a);
	for (size_t i = 0; i < (size_t)1 << 20; i++)
		d[i] = (double)n;
	*res = a;
	return LRD_OK;
}

static const lrd_memo_func BIG = {.name = "filled", .fn = filled};

/* A result stored raw comes back mapped, and stays valid while the value lives: the entry
 * forgotten, other results stored over it and the memo cleared do not change it. */
Test(memo, a_raw_result_comes_back_zero_copy_and_outlives_later_writes)
{
	lrd_value *a = int_args(3), *r0, *r;
	lrd_memo_info i;
	cr_assert_eq(lrd_memo_call(memo, &BIG, a, NULL, &r0, &i), LRD_OK, "%s", lrd_errmsg());
	cr_expect(!i.hit);
	lrd_value_free(r0);
	cr_assert_eq(lrd_memo_call(memo, &BIG, a, NULL, &r, &i), LRD_OK, "%s", lrd_errmsg());
	cr_assert(i.hit);
	cr_expect_eq(lrd_array_bufkind(r), LRD_BUF_MAPPED);
	const double *d = lrd_array_cdata(r);
	cr_assert_eq(lrd_memo_forget(memo, &BIG, a), LRD_OK);
	for (int64_t k = 10; k < 20; k++) {
		lrd_value *b = int_args(k), *rb;
		cr_assert_eq(lrd_memo_call(memo, &BIG, b, NULL, &rb, &i), LRD_OK, "%s",
		             lrd_errmsg());
		lrd_value_free(rb);
		lrd_value_free(b);
	}
	cr_assert_eq(lrd_memo_clear(memo, NULL, NULL), LRD_OK);
	cr_expect_eq(lrd_array_count(r), (uint64_t)1 << 20);
	cr_expect(d[0] == 3.0 && d[((size_t)1 << 20) - 1] == 3.0);
	lrd_value_free(r);
	/* a shelved result loads mapped too */
	lrd_memo_ref *ref;
	cr_assert_eq(lrd_memo_shelve(memo, &BIG, a, NULL, &ref, &i), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_memo_ref_load(ref, &r), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_array_bufkind(r), LRD_BUF_MAPPED);
	cr_expect(((const double *)lrd_array_cdata(r))[7] == 3.0);
	lrd_value_free(r);
	lrd_memo_ref_free(ref);
	lrd_value_free(a);
}

static int count_entry(const lrd_memo_entry *e, void *ctx)
{
	cr_expect_eq(strlen(e->key_hex), 32);
	cr_expect(e->bytes > 0 && e->created > 1e9);
	++*(int *)ctx;
	return 0;
}

Test(memo, clear_one_function_or_all_and_list_entries)
{
	lrd_memo_func other = SQUARE;
	other.name = "other";
	lrd_value *r;
	for (int n = 0; n < 3; n++) {
		lrd_value *a = int_args(n);
		lrd_memo_call(memo, &SQUARE, a, NULL, &r, NULL);
		lrd_value_free(r);
		lrd_memo_call(memo, &other, a, NULL, &r, NULL);
		lrd_value_free(r);
		lrd_value_free(a);
	}
	int n = 0;
	cr_assert_eq(lrd_memo_list(memo, NULL, count_entry, &n), LRD_OK);
	cr_expect_eq(n, 6);
	n = 0;
	cr_assert_eq(lrd_memo_list(memo, "other", count_entry, &n), LRD_OK);
	cr_expect_eq(n, 3);
	uint64_t removed;
	cr_assert_eq(lrd_memo_clear(memo, "other", &removed), LRD_OK);
	cr_expect_eq(removed, 3);
	cr_assert_eq(lrd_memo_clear(memo, NULL, &removed), LRD_OK);
	cr_expect_eq(removed, 3);
	lrd_memo_stats s;
	lrd_memo_stats_get(memo, &s);
	cr_expect_eq(s.entries, 0);
	cr_expect_eq(s.bytes, 0);
	lrd_store_stat ss;
	lrd_store_stat_get(st, NULL, &ss);
	cr_expect_eq(ss.objects, 0, "results are deleted with their entries");
}

/* ---- bad input ----------------------------------------------------------------------------- */

Test(memo, a_damaged_result_is_a_miss_recomputed_and_replaced)
{
	lrd_value *a = int_args(11), *r;
	cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r, NULL), LRD_OK);
	lrd_value_free(r);
	close_all();
	char *file = tc_path(dir, "data.mdb");
	double needle[8];
	for (int i = 0; i < 8; i++)
		needle[i] = 121.0;
	cr_assert_eq(fx_corrupt_file(file, needle, sizeof needle), 0);
	open_all(NULL);
	lrd_memo_info i;
	cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r, &i), LRD_OK, "%s", lrd_errmsg());
	cr_expect(!i.hit && i.damaged && i.cached);
	cr_expect_eq(result_at0(r), 121.0);
	lrd_value_free(r);
	cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r, &i), LRD_OK);
	cr_expect(i.hit);
	cr_expect_eq(calls, 2);
	lrd_memo_stats s;
	lrd_memo_stats_get(memo, &s);
	cr_expect_eq(s.entries, 1);
	lrd_value_free(r);
	lrd_value_free(a);
	free(file);
}

Test(memo, an_entry_of_a_newer_format_is_refused)
{
	lrd_value *a = int_args(1), *r;
	lrd_memo_info i;
	cr_assert_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r, &i), LRD_OK);
	lrd_value_free(r);
	unsigned char key[16], rec[44] = {9};
	for (int k = 0; k < 8; k++) {
		key[k] = (unsigned char)(i.key.lo >> (8 * k));
		key[8 + k] = (unsigned char)(i.key.hi >> (8 * k));
	}
	cr_assert_eq(lrd_store_kv_put(st, NULL, "memo.default.e", key, 16, rec, sizeof rec, 0),
	             LRD_OK);
	cr_expect_eq(lrd_memo_call(memo, &SQUARE, a, NULL, &r, &i), LRD_EVERSION);
	cr_expect(strstr(lrd_errmsg(), "newer"), "%s", lrd_errmsg());
	unsigned char v = 7;
	cr_assert_eq(lrd_store_kv_put(st, NULL, "memo.default.s", "format", 6, &v, 1, 0), LRD_OK);
	lrd_memo *m2;
	cr_expect_eq(lrd_memo_open(st, NULL, &m2), LRD_EVERSION);
	lrd_value_free(a);
}

static int big_floats(const lrd_value *args, lrd_value **res, void *ctx)
{
	(void)args;
	(void)ctx;
	calls++;
	*res = fx_floats(512 * 1024); /* 4 MiB */
	return *res ? LRD_OK : LRD_ENOMEM;
}

Test(memo, a_full_map_returns_the_result_uncached)
{
	close_all();
	lrd_store_options o = {
	    .flags = LRD_STORE_NOSYNC, .map_size = 1u << 20, .map_max = 1u << 20};
	cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_memo_open(st, NULL, &memo), LRD_OK);
	lrd_memo_func f = {.name = "big", .fn = big_floats};
	lrd_value *a = int_args(1), *r;
	lrd_memo_info i;
	cr_assert_eq(lrd_memo_call(memo, &f, a, NULL, &r, &i), LRD_OK, "%s", lrd_errmsg());
	cr_expect(!i.hit && !i.cached);
	cr_expect_eq(lrd_array_count(r), 512 * 1024);
	lrd_value_free(r);
	lrd_memo_ref *ref;
	cr_expect_eq(lrd_memo_shelve(memo, &f, a, NULL, &ref, &i), LRD_EMAPFULL);
	cr_expect_eq(lrd_memo_contains(memo, &f, a, NULL), 0);
	lrd_value_free(a);
}

Test(memo, bad_arguments_are_refused)
{
	lrd_value *a = int_args(1), *r;
	lrd_memo_func nofn = {.name = "x"};
	cr_expect_eq(lrd_memo_call(memo, &nofn, a, NULL, &r, NULL), LRD_EINVAL);
	cr_expect_eq(lrd_memo_call(memo, NULL, a, NULL, &r, NULL), LRD_EINVAL);
	cr_expect_eq(lrd_memo_call(memo, &SQUARE, NULL, NULL, &r, NULL), LRD_EINVAL);
	lrd_memo *m2 = (lrd_memo *)1;
	cr_expect_eq(lrd_memo_open(NULL, NULL, &m2), LRD_EINVAL);
	cr_expect_null(m2);
	lrd_memo_close(NULL);
	lrd_memo_ref_free(NULL);
	lrd_value_free(a);
}
