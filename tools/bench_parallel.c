/* The trivial-task benchmark: a task that adds one to an int, mapped over many inputs with
 * auto batching, so that what is measured is the executor's own overhead per task (dispatch,
 * batching, messages for the processes backend, one output value per task). */
#include <stdlib.h>
#include <time.h>

#include <larder.h>

#include "tools/bench_parallel.h"

static int incr(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t x;
	int rc = lrd_value_get_int(in, &x);
	return rc ? rc : lrd_value_new_int(x + 1, out);
}

int bench_par_register(void) { return lrd_task_register("bench.incr", incr); }

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int bench_par_trivial(const char *backend, int n_jobs, size_t tasks, int runs,
                      struct bench_par_row *row)
{
	int rc = bench_par_register();
	lrd_value **in = calloc(tasks ? tasks : 1, sizeof *in);
	lrd_value **out = calloc(tasks ? tasks : 1, sizeof *out);
	if (!in || !out)
		rc = LRD_ENOMEM;
	for (size_t i = 0; !rc && i < tasks; i++)
		rc = lrd_value_new_int((int64_t)i, &in[i]);
	double best = 0;
	lrd_parallel_options o = {.backend = backend, .n_jobs = n_jobs};
	for (int r = 0; !rc && r < runs; r++) {
		double t0 = now_s();
		rc = lrd_parallel_map(&o, "bench.incr", NULL, (const lrd_value *const *)in, tasks,
		                      out);
		double t = now_s() - t0;
		if (!rc && (r == 0 || t < best))
			best = t;
		for (size_t i = 0; !rc && i < tasks; i++) {
			lrd_value_free(out[i]);
			out[i] = NULL;
		}
	}
	for (size_t i = 0; in && i < tasks; i++)
		lrd_value_free(in[i]);
	free(in);
	free(out);
	*row = (struct bench_par_row){.backend = backend,
	                              .n_jobs = lrd_parallel_effective_n_jobs(n_jobs, backend),
	                              .tasks = tasks,
	                              .seconds = best,
	                              .tasks_per_s = best > 0 ? (double)tasks / best : 0};
	return rc;
}
