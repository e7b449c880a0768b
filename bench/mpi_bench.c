/* Benchmark of the "mpi" backend, next to "processes" in the same run. Run it under mpirun with
 * 1, 2 and 3 ranks (bench/mpi_bench.sh does, and prints the table of BENCHMARKS.md):
 *
 *   mpirun --allow-run-as-root --oversubscribe -np 3 bench/mpi_bench
 *
 * With N ranks the MPI map has N - 1 workers (1 rank: sequential on rank 0); "processes" gets
 * the same number of workers, forked by rank 0 while the other ranks idle.
 *  1. trivial tasks ("add one", 20,000 inputs, auto batching): tasks/s;
 *  2. CPU-bound tasks (about 5 ms each, 80 inputs, auto batching): tasks/s and speedup over
 *     running them one after the other on rank 0 in the same run;
 *  3. per-task overhead: trivial tasks with batch_size 1 (one round trip per task), µs/task. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <larder.h>
#include <larder/mpi.h>

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static volatile uint64_t sink;

static void burn(uint64_t iters)
{
	uint64_t x = 88172645463325252ull;
	for (uint64_t i = 0; i < iters; i++)
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	sink = x;
}

/* in: iterations to burn (0: trivial) */
static int t_work(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t x = 0;
	int rc = lrd_value_get_int(in, &x);
	if (!rc && x > 0)
		burn((uint64_t)x);
	return rc ? rc : lrd_value_new_int(x + 1, out);
}

static double run(const char *backend, int n_jobs, size_t bs, int64_t iters, size_t n)
{
	lrd_value **in = calloc(n, sizeof *in), **out = calloc(n, sizeof *out);
	for (size_t i = 0; i < n; i++)
		lrd_value_new_int(iters, &in[i]);
	lrd_parallel_options o = {.backend = backend, .n_jobs = n_jobs, .batch_size = bs};
	double t0 = now_s();
	int rc = lrd_parallel_map(&o, "work", NULL, (const lrd_value *const *)in, n, out);
	double t = now_s() - t0;
	if (rc)
		fprintf(stderr, "mpi_bench: %s: %s\n", backend, lrd_errmsg());
	for (size_t i = 0; i < n; i++) {
		lrd_value_free(in[i]);
		lrd_value_free(out[i]);
	}
	free(in);
	free(out);
	return rc ? -1 : t;
}

int main(int argc, char **argv)
{
	int rank;
	if (lrd_task_register("work", t_work) || lrd_mpi_init(&argc, &argv, &rank)) {
		fprintf(stderr, "mpi_bench: %s\n", lrd_errmsg());
		return 1;
	}
	if (rank != 0) {
		int rc = lrd_mpi_serve(NULL);
		lrd_mpi_finalize();
		return rc ? 1 : 0;
	}
	int ranks = lrd_mpi_size(), workers = ranks > 1 ? ranks - 1 : 1;
	/* calibrate ~5 ms of work */
	uint64_t iters = 1u << 16;
	for (;;) {
		double t0 = now_s();
		burn(iters);
		if (now_s() - t0 > 0.02)
			break;
		iters *= 2;
	}
	double t0 = now_s();
	burn(iters);
	iters = (uint64_t)((double)iters * 0.005 / (now_s() - t0));

	const char *be[2] = {"mpi", "processes"};
	printf("ranks %d, workers %d\n", ranks, workers);
	size_t nt = 20000, nc = 80, no = 2000;
	for (int k = 0; k < 2; k++) {
		double tt = run(be[k], workers, 0, 0, nt);
		/* the sequential reference of the same CPU tasks, in this run */
		double seq0 = now_s();
		for (size_t i = 0; i < nc; i++)
			burn(iters);
		double seq = now_s() - seq0;
		double tc = run(be[k], workers, 0, (int64_t)iters, nc);
		double to = run(be[k], workers, 1, 0, no);
		printf("%-9s ranks=%d workers=%d trivial %9.0f tasks/s | 5ms-tasks %6.1f tasks/s, "
		       "speedup %.2f | per-task overhead (batch_size 1) %7.1f us\n",
		       be[k], ranks, workers, (double)nt / tt, (double)nc / tc, seq / tc,
		       to / (double)no * 1e6);
	}
	fflush(stdout);
	lrd_mpi_finalize();
	return 0;
}
