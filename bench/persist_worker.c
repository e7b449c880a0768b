/* One persistence measurement for bench/persistence.py: dump a .npy array to a larder file,
 * load one, or map one, timing only that call and printing {"seconds": S} on stdout.
 *
 *   persist_worker dump IN.npy OUT SPEC   SPEC: raw | CODEC[:LEVEL] (whole file)
 *                                              | chunk:blosc:INNER:THREADS | chunk:CODEC[:LEVEL]
 *                                         then optionally @N: lrd_dump_options.threads = N
 *   persist_worker load FILE [N]         N: lrd_load_options.threads (default 0)
 *   persist_worker mmap FILE             (load with mmap; touches no payload page)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <larder.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(int rc, const char *what)
{
	fprintf(stderr, "persist_worker: %s: %s (%s)\n", what, lrd_errmsg(), lrd_errname(rc));
	return 1;
}

/* Parse SPEC into dump options; the strings point into spec, which is modified. */
static int parse_spec(char *spec, lrd_dump_options *o)
{
	char *at = strchr(spec, '@');
	if (at) {
		*at = '\0';
		o->threads = atoi(at + 1);
	}
	if (strcmp(spec, "raw") == 0) {
		o->codec = "none";
		return 0;
	}
	int chunk = strncmp(spec, "chunk:", 6) == 0;
	char *name = chunk ? spec + 6 : spec;
	char *arg = strchr(name, ':');
	if (arg)
		*arg++ = '\0';
	if (!chunk) {
		o->codec = name;
		o->level = arg ? atoi(arg) : 0;
		return 0;
	}
	o->codec = "none";
	o->chunk_codec = name;
	if (strcmp(name, "blosc") == 0 && arg) {
		char *threads = strchr(arg, ':');
		if (threads)
			*threads++ = '\0';
		o->chunk_params.inner = arg;
		o->chunk_params.threads = threads ? atoi(threads) : 1;
	} else if (arg) {
		o->chunk_params.level = atoi(arg);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int rc;
	double t;
	if (argc == 5 && strcmp(argv[1], "dump") == 0) {
		lrd_value *v;
		if ((rc = lrd_npy_load(argv[2], &v, NULL)))
			return fail(rc, argv[2]);
		lrd_dump_options o = {0};
		parse_spec(argv[4], &o);
		t = now();
		rc = lrd_dump(v, argv[3], &o);
		t = now() - t;
		lrd_value_free(v);
		if (rc)
			return fail(rc, argv[3]);
	} else if ((argc == 3 || argc == 4) &&
	           (strcmp(argv[1], "load") == 0 || strcmp(argv[1], "mmap") == 0)) {
		/* The bench loads files it wrote itself: no decompression-bomb guard (zeros reach
		 * ratios of 10^6 with xz, past the default guard of
		 * lrd_load_options.max_array_bytes).
		 */
		lrd_load_options o = {.mmap = argv[1][0] == 'm',
		                      .max_array_bytes = UINT64_MAX,
		                      .threads = argc == 4 ? atoi(argv[3]) : 0};
		lrd_value *v;
		t = now();
		rc = lrd_load(argv[2], &v, &o);
		t = now() - t;
		if (rc)
			return fail(rc, argv[2]);
		lrd_value_free(v);
	} else {
		fprintf(
		    stderr,
		    "usage: persist_worker dump IN.npy OUT SPEC[@THREADS] | load FILE [THREADS] | "
		    "mmap FILE\n");
		return 2;
	}
	printf("{\"seconds\": %.9f}\n", t);
	return 0;
}
