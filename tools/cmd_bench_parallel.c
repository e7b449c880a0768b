/* `larder bench parallel`: the trivial-task benchmark of the parallel executor on every
 * built-in backend (100,000 tasks, auto batching, best of 3), as a table or --json rows.
 * The rest of the executor benchmark (speedup, large results, start-up, joblib side by side)
 * is bench/parallel_bench.c and bench/parallel_joblib.py. */
#include <stdlib.h>
#include <string.h>

#include "tools/bench_parallel.h"
#include "tools/cli.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: larder bench parallel [--tasks N] [--jobs N] [--json]\n\n"
	        "Tasks per second of a trivial task (add one to an int) mapped with auto batching\n"
	        "on each built-in backend (best of 3 runs).\n"
	        "  --tasks N  tasks per run (default 100000)\n"
	        "  --jobs N   n_jobs for threads and processes (default 2; -1: all cores)\n"
	        "  --json     print a JSON list of rows with the keys backend, n_jobs, tasks,\n"
	        "             seconds, tasks_per_s\n");
}

int cmd_bench_parallel(int argc, char **argv)
{
	size_t tasks = 100000;
	int jobs = 2;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		const char *v;
		int m;
		char *end;
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return CLI_OK;
		} else if ((m = cli_opt(argc, argv, &i, "--tasks", &v)) != 0) {
			if (m < 0)
				return CLI_USAGE;
			unsigned long long t = strtoull(v, &end, 10);
			if (*end || t == 0 || t > 100000000ull) {
				fprintf(stderr,
				        "larder bench parallel: --tasks '%s': want 1..100000000\n",
				        v);
				return CLI_USAGE;
			}
			tasks = (size_t)t;
		} else if ((m = cli_opt(argc, argv, &i, "--jobs", &v)) != 0) {
			if (m < 0)
				return CLI_USAGE;
			long j = strtol(v, &end, 10);
			if (*end || j == 0 || j < -1024 || j > 1024) {
				fprintf(
				    stderr,
				    "larder bench parallel: --jobs '%s': want -1024..1024, not 0\n",
				    v);
				return CLI_USAGE;
			}
			jobs = (int)j;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			fprintf(stderr, "larder bench parallel: unexpected argument '%s'\n",
			        argv[i]);
			usage(stderr);
			return CLI_USAGE;
		}
	}
	static const char *backends[] = {"sequential", "threads", "processes"};
	if (json)
		printf("[");
	else
		printf("%-11s %6s %10s %10s %14s\n", "backend", "n_jobs", "tasks", "seconds",
		       "tasks/s");
	for (size_t k = 0; k < sizeof backends / sizeof backends[0]; k++) {
		struct bench_par_row r;
		int rc = bench_par_trivial(backends[k], jobs, tasks, 3, &r);
		if (rc) {
			if (json)
				printf("]\n");
			return cli_fail(rc, backends[k]);
		}
		if (json)
			printf("%s\n  {\"backend\": \"%s\", \"n_jobs\": %d, \"tasks\": %zu, "
			       "\"seconds\": "
			       "%.6f, \"tasks_per_s\": %.0f}",
			       k ? "," : "", r.backend, r.n_jobs, r.tasks, r.seconds,
			       r.tasks_per_s);
		else
			printf("%-11s %6d %10zu %10.4f %14.0f\n", r.backend, r.n_jobs, r.tasks,
			       r.seconds, r.tasks_per_s);
		fflush(stdout);
	}
	if (json)
		printf("\n]\n");
	return CLI_OK;
}
