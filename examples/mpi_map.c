/* examples/mpi_map.c — a larder map over MPI ranks; copy it to start your own.
 *
 *   cc mpi_map.c $(pkg-config --cflags --libs larder-mpi) -o mpi_map
 *   mpirun -np 3 ./mpi_map 1000            # on a cluster: mpirun --hostfile hosts -np 64 ...
 *
 * Every rank runs this same program: it registers the task by name, rank 0 maps, the other
 * ranks serve until rank 0 finalizes. */
#include <stdio.h>
#include <stdlib.h>

#include <larder.h>
#include <larder/mpi.h>

/* The task: input an int, output a map {x, square}. Runs on the worker ranks. */
static int square(void *ctx, const lrd_value *in, lrd_value **out)
{
	(void)ctx;
	int64_t x;
	int rc = lrd_value_get_int(in, &x);
	lrd_value *m = NULL, *v = NULL;
	if (!rc)
		rc = lrd_value_new_map(&m);
	if (!rc && !(rc = lrd_value_new_int(x, &v)))
		rc = lrd_map_set(m, "x", v);
	if (!rc && !(rc = lrd_value_new_int(x * x, &v)))
		rc = lrd_map_set(m, "square", v);
	if (rc) {
		lrd_value_free(m);
		return rc;
	}
	*out = m;
	return LRD_OK;
}

int main(int argc, char **argv)
{
	int rank = 0;
	if (lrd_task_register("square", square) || lrd_mpi_init(&argc, &argv, &rank)) {
		fprintf(stderr, "mpi_map: %s\n", lrd_errmsg());
		return 1;
	}
	if (rank != 0) {
		int rc = lrd_mpi_serve(NULL);
		lrd_mpi_finalize();
		return rc ? 1 : 0;
	}
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100;
	lrd_value **in = calloc(n ? n : 1, sizeof *in), **out = calloc(n ? n : 1, sizeof *out);
	int rc = in && out ? LRD_OK : LRD_ENOMEM;
	for (size_t i = 0; !rc && i < n; i++)
		rc = lrd_value_new_int((int64_t)i, &in[i]);
	lrd_parallel_options o = {.backend = "mpi", .verbose = 1};
	if (!rc)
		rc = lrd_parallel_map(&o, "square", NULL, (const lrd_value *const *)in, n, out);
	if (!rc) {
		int64_t sum = 0, sq;
		for (size_t i = 0; i < n; i++) {
			if (!lrd_value_get_int(lrd_map_get(out[i], "square"), &sq))
				sum += sq;
		}
		printf("%zu squares on %d ranks, sum %lld\n", n, lrd_mpi_size(), (long long)sum);
	} else
		fprintf(stderr, "mpi_map: %s\n", lrd_errmsg());
	for (size_t i = 0; i < n; i++) {
		lrd_value_free(in ? in[i] : NULL);
		lrd_value_free(out ? out[i] : NULL);
	}
	free(in);
	free(out);
	lrd_mpi_finalize();
	return rc ? 1 : 0;
}
