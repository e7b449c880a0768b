/* Benchmark of the parallel executor (run it through bench/parallel_joblib.py to get joblib's
 * figures side by side, or alone; --json prints the rows for the script).
 *
 *  1. trivial tasks: tasks/s of "add one" over 100,000 inputs, auto batching, per backend;
 *  2. speedup of 2 workers over 1 for a CPU-bound 10 ms task, next to the same-run ceiling: two
 *     forked processes doing the same work without larder;
 *  3. moving a 256 MiB float64 array result back from a process worker (through the store, and
 *     through shared memory without one), next to one memcpy of 256 MiB into fresh memory;
 *  4. pool start-up: a map of 2 tasks on 2 fresh process workers, fork to reaped (best of 20). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <larder.h>

#include "tools/bench_parallel.h"

#define BIG ((size_t)256 << 20)

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static volatile uint64_t sink;
static uint64_t burn_iters;

static void burn(uint64_t iters)
{
	uint64_t x = 88172645463325252ull;
	for (uint64_t i = 0; i < iters; i++)
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	sink = x;
}

static int t_burn(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	(void)in;
	burn(burn_iters);
	return lrd_value_new_int(0, out);
}

/* The 256 MiB result, made by the parent before the pool forks: a worker returns it as it is
 * (borrowed), so a map of this task measures moving the result, not making it. */
static double *big_ready;

static int t_big(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	(void)in;
	lrd_dtype dt;
	uint64_t shape[1] = {BIG / 8};
	int rc = lrd_dtype_parse("<f8", &dt);
	return rc ? rc : lrd_array_wrap(dt, 1, shape, LRD_ORDER_C, big_ready, BIG, out);
}

static bool json;
static int nrows;

static void row(const char *metric, const char *backend, double value, const char *unit)
{
	if (json)
		printf("%s\n  {\"metric\": \"%s\", \"backend\": \"%s\", \"value\": %.6g, \"unit\": "
		       "\"%s\"}",
		       nrows ? "," : "[", metric, backend, value, unit);
	else
		printf("%-28s %-22s %14.6g %s\n", metric, backend, value, unit);
	nrows++;
	fflush(stdout);
}

static double map_time(const lrd_parallel_options *o, const char *task, size_t n)
{
	lrd_value **in = calloc(n, sizeof *in), **out = calloc(n, sizeof *out);
	for (size_t i = 0; i < n; i++)
		lrd_value_new_int((int64_t)i, &in[i]);
	double t0 = now_s();
	int rc = lrd_parallel_map(o, task, NULL, (const lrd_value *const *)in, n, out);
	double t = now_s() - t0;
	if (rc) {
		fprintf(stderr, "parallel_bench: %s: %s\n", task, lrd_errmsg());
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		lrd_value_free(in[i]);
		lrd_value_free(out[i]);
	}
	free(in);
	free(out);
	return t;
}

static void trivial(void)
{
	static const char *b[] = {"sequential", "threads", "processes"};
	for (int k = 0; k < 3; k++) {
		struct bench_par_row r;
		if (bench_par_trivial(b[k], 2, 100000, 3, &r)) {
			fprintf(stderr, "parallel_bench: %s: %s\n", b[k], lrd_errmsg());
			exit(1);
		}
		row("trivial_tasks_per_s", b[k], r.tasks_per_s, "tasks/s");
	}
}

static void speedup(void)
{
	/* calibrate: iterations for 10 ms */
	uint64_t it = 1000000;
	double t;
	for (;;) {
		double t0 = now_s();
		burn(it);
		t = now_s() - t0;
		if (t > 0.02)
			break;
		it *= 2;
	}
	burn_iters = (uint64_t)((double)it * 0.010 / t);
	size_t n = 40;
	/* ceiling: the same work in 1 process, then in 2 forked processes, without larder */
	double t0 = now_s();
	for (size_t i = 0; i < n; i++)
		burn(burn_iters);
	double one = now_s() - t0;
	t0 = now_s();
	pid_t p[2];
	for (int k = 0; k < 2; k++)
		if ((p[k] = fork()) == 0) {
			for (size_t i = 0; i < n / 2; i++)
				burn(burn_iters);
			_exit(0);
		}
	for (int k = 0; k < 2; k++)
		waitpid(p[k], NULL, 0);
	double two = now_s() - t0;
	row("cpu10ms_speedup_ceiling", "fork (no larder)", one / two, "x");
	static const char *b[] = {"threads", "processes"};
	for (int k = 0; k < 2; k++) {
		lrd_parallel_options o1 = {.backend = b[k], .n_jobs = 1};
		lrd_parallel_options o2 = {.backend = b[k], .n_jobs = 2};
		double t1 = map_time(&o1, "bench.burn", n);
		double t2 = map_time(&o2, "bench.burn", n);
		row("cpu10ms_speedup", b[k], t1 / t2, "x");
		row("cpu10ms_speedup_vs_ceiling", b[k], (t1 / t2) / (one / two), "ratio");
	}
}

static void big_result(const char *store)
{
	/* one memcpy of 256 MiB into fresh memory */
	big_ready = malloc(BIG);
	if (!big_ready) {
		fprintf(stderr, "parallel_bench: out of memory\n");
		exit(1);
	}
	memset(big_ready, 1, BIG);
	double t0 = now_s();
	char *dst = malloc(BIG);
	memcpy(dst, big_ready, BIG);
	double cp = now_s() - t0;
	sink = (uint64_t)dst[BIG - 1];
	free(dst);
	row("memcpy_256MiB", "memcpy (fresh dst)", cp * 1e3, "ms");
	lrd_parallel_options os = {.backend = "processes", .n_jobs = 1, .store = store};
	lrd_parallel_options op = {.backend = "processes", .n_jobs = 1};
	double ts = map_time(&os, "bench.big", 1);
	double tp = map_time(&op, "bench.big", 1);
	row("result_256MiB_move", "processes+store", ts * 1e3, "ms");
	row("result_256MiB_move_vs_memcpy", "processes+store", ts / cp, "x");
	row("result_256MiB_move", "processes (shared memory)", tp * 1e3, "ms");
	row("result_256MiB_move_vs_memcpy", "processes (shared memory)", tp / cp, "x");
	free(big_ready);
}

static void startup(void)
{
	lrd_parallel_options o = {.backend = "processes", .n_jobs = 2, .batch_size = 1};
	double best = 1e9;
	for (int i = 0; i < 20; i++) {
		double t = map_time(&o, "bench.incr", 2);
		if (t < best)
			best = t;
	}
	row("pool_2_workers_start_map_stop", "processes", best * 1e3, "ms");
}

int main(int argc, char **argv)
{
	const char *store = "/tmp/larder-parallel-bench.store";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
			store = argv[++i];
		else {
			fprintf(stderr, "usage: parallel_bench [--json] [--store DIR]\n");
			return 2;
		}
	}
	if (bench_par_register() || lrd_task_register("bench.burn", t_burn) ||
	    lrd_task_register("bench.big", t_big)) {
		fprintf(stderr, "parallel_bench: %s\n", lrd_errmsg());
		return 1;
	}
	trivial();
	speedup();
	big_result(store);
	startup();
	if (json)
		printf("\n]\n");
	return 0;
}
