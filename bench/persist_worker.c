/* One persistence measurement for bench/persistence.py: dump a .npy array to a larder file,
 * load one, or map one, timing only that call and printing {"seconds": S} on stdout.
 *
 *   persist_worker dump IN.npy OUT SPEC   SPEC: raw | CODEC[:LEVEL] (whole file)
 *                                              | chunk:blosc:INNER:THREADS | chunk:CODEC[:LEVEL]
 *                                         then optionally @N: lrd_dump_options.threads = N
 *   persist_worker load FILE [N]         N: lrd_load_options.threads (default 0)
 *   persist_worker mmap FILE             (load with mmap; touches no payload page)
 *
 * The same-run ceiling of chunk threads, "NPROC processes doing halves" (issue 10):
 *
 *   persist_worker split-dump IN.npy OUTPREFIX SPEC NPROC
 *       the 1-D array cut into NPROC parts of whole chunks, each dumped with 1 thread (SPEC's
 *       @N is ignored) by its own forked process to OUTPREFIX.0, OUTPREFIX.1, …, all at once
 *   persist_worker split-load PREFIX NPROC
 *       PREFIX.0, PREFIX.1, … loaded with 1 thread by one forked process each, all at once
 *
 * The processes are forked and waiting before the clock starts; seconds run from their
 * release to the end of the last one's dump or load call (CLOCK_MONOTONIC is system-wide).
 *
 *   persist_worker spawn PROGRAM [ARG...]
 *       runs PROGRAM (its output passes through), then prints {"spawn_seconds": S,
 *       "maxrss_kib": K}: the wall clock from fork to its exit and its peak RSS (wait4). A
 *       process spawned straight from Python would report Python's own peak instead (exec
 *       keeps the larger of the old and the new image's peaks); this one is forked from a
 *       small C process.
 */
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

#define MAX_PROCS 64

/* Fork nproc processes that wait for the go, run job(i, arg) and report when it ended; return
 * the seconds from the go to the last end, or a negative number if a process failed. */
static double split_run(int nproc, int (*job)(int i, void *arg), void *arg)
{
	int go[2], done[2];
	pid_t pids[MAX_PROCS];
	if (pipe(go) || pipe(done))
		return -1;
	fflush(NULL);
	for (int i = 0; i < nproc; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return -1;
		if (pids[i] == 0) {
			char c;
			close(go[1]);
			close(done[0]);
			while (read(go[0], &c, 1) > 0) /* EOF is the go */
				;
			int rc = job(i, arg);
			double end = now();
			if (write(done[1], &end, sizeof end) != sizeof end)
				rc = 1;
			/* no free, no atexit: the single-process modes do not time them either */
			_exit(rc ? 1 : 0);
		}
	}
	close(go[0]);
	close(done[1]);
	double t0 = now(), last = t0;
	close(go[1]);
	int bad = 0;
	for (int i = 0; i < nproc; i++) {
		double end;
		if (read(done[0], &end, sizeof end) != sizeof end)
			bad = 1;
		else if (end > last)
			last = end;
	}
	close(done[0]);
	for (int i = 0; i < nproc; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	}
	return bad ? -1 : last - t0;
}

struct split_dump {
	lrd_value *parts[MAX_PROCS];
	const char *prefix;
	lrd_dump_options o;
};

static int split_dump_job(int i, void *arg)
{
	struct split_dump *s = arg;
	char path[4096];
	snprintf(path, sizeof path, "%s.%d", s->prefix, i);
	int rc = lrd_dump(s->parts[i], path, &s->o);
	if (rc)
		fail(rc, path);
	return rc;
}

static int split_load_job(int i, void *arg)
{
	char path[4096];
	snprintf(path, sizeof path, "%s.%d", (const char *)arg, i);
	lrd_load_options o = {.max_array_bytes = UINT64_MAX, .threads = 1};
	lrd_value *v;
	int rc = lrd_load(path, &v, &o);
	if (rc)
		fail(rc, path);
	return rc;
}

static int spawn(char **argv)
{
	fflush(NULL);
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0) {
		perror("persist_worker: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	int st;
	struct rusage ru;
	if (wait4(pid, &st, 0, &ru) < 0) {
		perror("persist_worker: wait4");
		return 1;
	}
	double t = now() - t0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "persist_worker: %s failed (status %d)\n", argv[0], st);
		return 1;
	}
	printf("{\"spawn_seconds\": %.9f, \"maxrss_kib\": %ld}\n", t, ru.ru_maxrss);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;
	double t;
	if (argc >= 3 && strcmp(argv[1], "spawn") == 0)
		return spawn(argv + 2);
	int nproc = argc > 2 ? atoi(argv[argc - 1]) : 0;
	if (argc == 6 && strcmp(argv[1], "split-dump") == 0 && nproc > 0 && nproc <= MAX_PROCS) {
		lrd_value *v;
		if ((rc = lrd_npy_load(argv[2], &v, NULL)))
			return fail(rc, argv[2]);
		struct split_dump s = {.prefix = argv[3]};
		parse_spec(argv[4], &s.o);
		s.o.threads = 1;
		if (lrd_array_ndim(v) != 1) {
			fprintf(stderr, "persist_worker: split-dump takes 1-D arrays\n");
			return 1;
		}
		/* parts of whole chunks: ceil(chunks / nproc) chunks each, the last one shorter */
		size_t item = lrd_array_nbytes(v) / (lrd_array_count(v) ? lrd_array_count(v) : 1);
		size_t chunk = s.o.chunk_size ? s.o.chunk_size : LRD_CHUNK_SIZE_DEFAULT;
		uint64_t count = lrd_array_count(v), per_chunk = chunk / (item ? item : 1);
		uint64_t nchunks = (count + per_chunk - 1) / per_chunk;
		uint64_t per_part = (nchunks + (uint64_t)nproc - 1) / (uint64_t)nproc * per_chunk;
		char *data = lrd_array_data(v);
		for (int i = 0; i < nproc; i++) {
			uint64_t from =
			    (uint64_t)i * per_part < count ? (uint64_t)i * per_part : count;
			uint64_t n = count - from < per_part ? count - from : per_part;
			if ((rc = lrd_array_wrap(lrd_array_dtype(v), 1, &n, LRD_ORDER_C,
			                         data + from * item, n * item, &s.parts[i])))
				return fail(rc, "wrap");
		}
		t = split_run(nproc, split_dump_job, &s);
		if (t < 0) {
			fprintf(stderr, "persist_worker: a split-dump process failed\n");
			return 1;
		}
		for (int i = 0; i < nproc; i++)
			lrd_value_free(s.parts[i]);
		lrd_value_free(v);
	} else if (argc == 4 && strcmp(argv[1], "split-load") == 0 && nproc > 0 &&
	           nproc <= MAX_PROCS) {
		t = split_run(nproc, split_load_job, argv[2]);
		if (t < 0) {
			fprintf(stderr, "persist_worker: a split-load process failed\n");
			return 1;
		}
	} else if (argc == 5 && strcmp(argv[1], "dump") == 0) {
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
		    "mmap FILE\n"
		    "       persist_worker split-dump IN.npy OUTPREFIX SPEC NPROC | "
		    "split-load PREFIX NPROC | spawn PROGRAM [ARG...]\n");
		return 2;
	}
	printf("{\"seconds\": %.9f}\n", t);
	return 0;
}
