/* The trivial-task benchmark of the parallel executor, shared by `larder bench parallel` and
 * bench/parallel_bench.c. */
#ifndef LRD_BENCH_PARALLEL_H
#define LRD_BENCH_PARALLEL_H

#include <stddef.h>

struct bench_par_row {
	const char *backend;
	int n_jobs;
	size_t tasks;
	double seconds;     /* best of the runs */
	double tasks_per_s; /* tasks / seconds */
};

/* Register the benchmark's tasks ("bench.incr": x + 1 on an int). */
int bench_par_register(void);

/* Map "bench.incr" over `tasks` ints with auto batching, `runs` times; fill *row with the
 * best. Returns LRD_OK or the map's error. */
int bench_par_trivial(const char *backend, int n_jobs, size_t tasks, int runs,
                      struct bench_par_row *row);

#endif
