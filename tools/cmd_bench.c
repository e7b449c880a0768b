/* `larder bench`: ratio and speed of codecs on generated data sets or on a file. One row per
 * data set × codec × level (× thread count for blosc: 1 and 2), and with --chunk-threads one
 * more per chunk codec and thread count, timing dumps and loads of the data as an array in
 * 4 MiB chunks; each speed the median of three runs, every round trip checked. Rows are
 * printed as they are measured; a progress line goes to stderr when it is a terminal. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/bench_codec.h"
#include "tools/cli.h"

#define DEFAULT_CODECS "zlib,lz4,blosc,zstd"
#define DEFAULT_MIB    64
#define RUNS           3
#define MAX_LIST       64
#define BLOSC_TYPESIZE 8

struct job {
	const lrd_codec *codec;
	int level;
	int threads;       /* blosc's own threads (codec calls) */
	int chunk_threads; /* 0: one codec call over the whole buffer; else chunked dump/load */
};

struct data {
	const char *name;
	unsigned char *buf;
	size_t size;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: larder bench [--codecs LIST] [--levels LIST] [--chunk-threads LIST] [--size "
	    "MiB]\n"
	    "                    [--json] [FILE]\n\n"
	    "Measure compression ratio and speed (MB/s of uncompressed data, 10^6 bytes, median "
	    "of\n"
	    "%d runs; every round trip is checked). Without FILE, three generated data sets: "
	    "random\n"
	    "float64 ('floats'), a smooth int64 ramp with small noise ('ramp') and zeros.\n"
	    "  --codecs LIST  comma-separated codec names, or 'all' for every registered codec\n"
	    "                 (default: %s)\n"
	    "  --levels LIST  comma-separated levels, each clamped to the codec's range\n"
	    "                 (default: each codec's default level)\n"
	    "  --chunk-threads LIST\n"
	    "                 also dump and load the data as an array in 4 MiB chunks of each\n"
	    "                 chunk codec, on each number of chunk threads listed (e.g. 1,2)\n"
	    "  --size MiB     size of each generated data set (default %d; suffixes K, M, G)\n"
	    "  --json         print a JSON list of rows with the keys data, codec, level, "
	    "threads,\n"
	    "                 chunk_threads (0: one codec call), ratio, compress_mb_s,\n"
	    "                 decompress_mb_s\n"
	    "blosc runs with typesize %d and byte shuffle, once with 1 and once with 2 threads.\n"
	    "\nusage: larder bench parallel [--tasks N] [--jobs N] [--json]\n"
	    "the parallel executor's trivial-task benchmark (see 'larder bench parallel "
	    "--help').\n",
	    RUNS, DEFAULT_CODECS, DEFAULT_MIB, BLOSC_TYPESIZE);
}

/* A level as lrd_codec_params.level: there 0 means "the default", so level 0 is asked for as -1,
 * which clamps to the codec's minimum (0 for the codecs whose range includes it). */
static int level_param(int level) { return level == 0 ? LRD_CODEC_LEVEL_ZERO : level; }

/* Add a job unless the same (codec, level, threads) is already listed. */
static void add_job(struct job *jobs, size_t *n, struct job j)
{
	for (size_t i = 0; i < *n; i++)
		if (jobs[i].codec == j.codec && jobs[i].level == j.level &&
		    jobs[i].threads == j.threads && jobs[i].chunk_threads == j.chunk_threads)
			return;
	jobs[(*n)++] = j;
}

/* Build the job list; returns CLI_OK or CLI_USAGE (message printed). */
static int plan(const char *codecs_arg, const char *levels_arg, const char *ct_arg,
                struct job **jobs, size_t *njobs)
{
	char *names[MAX_LIST], *levels[MAX_LIST], *cts[MAX_LIST];
	char *tbuf = ct_arg ? strdup(ct_arg) : NULL;
	size_t ncts = tbuf ? cli_split(tbuf, cts, MAX_LIST) : 0;
	long ct[MAX_LIST];
	char *cbuf = strdup(codecs_arg ? codecs_arg : DEFAULT_CODECS);
	char *lbuf = levels_arg ? strdup(levels_arg) : NULL;
	const lrd_codec *codecs[MAX_LIST];
	size_t ncodecs = 0, nlevels = 0;
	int rc = cbuf && (lbuf || !levels_arg) ? CLI_OK : CLI_FAIL;
	size_t nnames = rc ? 0 : cli_split(cbuf, names, MAX_LIST);
	if (lbuf)
		nlevels = cli_split(lbuf, levels, MAX_LIST);
	if (nnames > MAX_LIST || nlevels > MAX_LIST || (levels_arg && nlevels == 0)) {
		fprintf(stderr, "larder bench: at most %d codecs and levels\n", MAX_LIST);
		rc = CLI_USAGE;
	}
	if (rc == CLI_OK && nnames == 1 && strcmp(names[0], "all") == 0) {
		for (size_t i = 0; i < lrd_codec_count() && ncodecs < MAX_LIST; i++)
			codecs[ncodecs++] = lrd_codec_at(i);
	} else {
		for (size_t i = 0; i < nnames && rc == CLI_OK; i++) {
			const lrd_codec *c = lrd_codec_by_name(names[i]);
			if (c)
				codecs[ncodecs++] = c;
			else if (codecs_arg) { /* the default list names codecs that may be absent
				                */
				fprintf(stderr,
				        "larder bench: unknown codec '%s' (see 'larder codecs')\n",
				        names[i]);
				rc = CLI_USAGE;
			}
		}
	}
	if (ct_arg && (!tbuf || ncts == 0 || ncts > MAX_LIST) && rc == CLI_OK) {
		fprintf(stderr, "larder bench: bad --chunk-threads '%s'\n", ct_arg);
		rc = CLI_USAGE;
	}
	for (size_t i = 0; i < ncts && rc == CLI_OK; i++)
		if (cli_parse_long(cts[i], 1, 256, &ct[i]) != 0) {
			fprintf(stderr, "larder bench: bad chunk thread count '%s' (1 to 256)\n",
			        cts[i]);
			rc = CLI_USAGE;
		}
	long lv[MAX_LIST];
	for (size_t i = 0; i < nlevels && rc == CLI_OK; i++)
		if (cli_parse_long(levels[i], -1000, 1000, &lv[i]) != 0) {
			fprintf(stderr, "larder bench: bad level '%s'\n", levels[i]);
			rc = CLI_USAGE;
		}
	*jobs = calloc(ncodecs * (nlevels ? nlevels : 1) * (2 + ncts) + 1, sizeof **jobs);
	*njobs = 0;
	if (!*jobs && rc == CLI_OK)
		rc = CLI_FAIL;
	for (size_t i = 0; i < ncodecs && rc == CLI_OK; i++) {
		int blosc = codecs[i]->id == LRD_CODEC_ID_BLOSC;
		for (size_t k = 0; k < (nlevels ? nlevels : 1); k++) {
			lrd_codec_params p = {.level = nlevels ? level_param((int)lv[k]) : 0};
			int level = lrd_codec_level(codecs[i], &p);
			for (int t = 1; t <= (blosc ? 2 : 1); t++)
				add_job(*jobs, njobs, (struct job){codecs[i], level, t, 0});
			for (size_t t = 0; t < ncts && (codecs[i]->flags & LRD_CODEC_CHUNK); t++)
				add_job(*jobs, njobs,
				        (struct job){codecs[i], level, 1, (int)ct[t]});
		}
	}
	free(cbuf);
	free(lbuf);
	free(tbuf);
	if (rc == CLI_OK && *njobs == 0) {
		fprintf(stderr, "larder bench: no codec to measure\n");
		rc = CLI_USAGE;
	}
	return rc;
}

static int read_whole(const char *path, struct data *d)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		if (f)
			fclose(f);
		return lrd_error_set(LRD_EIO, "%s: cannot open a regular file", path);
	}
	d->size = (size_t)st.st_size;
	d->buf = malloc(d->size ? d->size : 1);
	int rc = d->buf ? LRD_OK : lrd_error_set(LRD_ENOMEM, "%s: %zu bytes", path, d->size);
	if (rc == LRD_OK && fread(d->buf, 1, d->size, f) != d->size)
		rc = lrd_error_set(LRD_EIO, "%s: short read", path);
	fclose(f);
	const char *slash = strrchr(path, '/');
	d->name = slash ? slash + 1 : path;
	return rc;
}

static void print_row(bool json, bool *first, const struct data *d, const struct job *j,
                      const struct bench_result *r)
{
	double ratio = r->compressed ? (double)d->size / (double)r->compressed : 0;
	double cs = bench_mb_s(d->size, r->compress_s), ds = bench_mb_s(d->size, r->decompress_s);
	if (json) {
		printf("%s\n  {\"data\": ", *first ? "[" : ",");
		cli_json_str(stdout, d->name);
		printf(", \"size\": %zu, \"codec\": ", d->size);
		cli_json_str(stdout, j->codec->name);
		printf(", \"level\": %d, \"threads\": %d, \"chunk_threads\": %d, \"ratio\": %.4f, "
		       "\"compress_mb_s\": %.1f, \"decompress_mb_s\": %.1f}",
		       j->level, j->threads, j->chunk_threads, ratio, cs, ds);
	} else {
		if (*first)
			printf("%-10s %-7s %5s %7s %7s %10s %14s %16s\n", "DATA", "CODEC", "LEVEL",
			       "THREADS", "CHUNKTH", "RATIO", "COMPRESS MB/s", "DECOMPRESS MB/s");
		printf("%-10s %-7s %5d %7d %7d %10.2f %14.1f %16.1f\n", d->name, j->codec->name,
		       j->level, j->threads, j->chunk_threads, ratio, cs, ds);
	}
	*first = false;
	fflush(stdout);
}

static void progress(size_t k, size_t total, const struct data *d, const struct job *j)
{
	if (!cli_tty())
		return;
	if (k == total)
		fprintf(stderr, "\r\033[K");
	else
		fprintf(stderr, "\r\033[K[%zu/%zu] %s on %s, level %d, %d thread%s", k + 1, total,
		        j->codec->name, d->name, j->level, j->threads, j->threads > 1 ? "s" : "");
	fflush(stderr);
}

static int run(struct data *sets, size_t nsets, const struct job *jobs, size_t njobs, bool json)
{
	bool first = true;
	int status = CLI_OK;
	for (size_t s = 0; s < nsets; s++) {
		for (size_t i = 0; i < njobs; i++) {
			const struct job *j = &jobs[i];
			lrd_codec_params p = {.level = level_param(j->level),
			                      .threads = j->threads,
			                      .typesize = BLOSC_TYPESIZE};
			struct bench_result r;
			progress(s * njobs + i, nsets * njobs, &sets[s], j);
			int rc =
			    j->chunk_threads
			        ? bench_chunked(j->codec, p.level, j->chunk_threads, sets[s].buf,
			                        sets[s].size, RUNS, &r)
			        : bench_codec(j->codec, &p, sets[s].buf, sets[s].size, RUNS, &r);
			progress(nsets * njobs, nsets * njobs, NULL, NULL);
			if (rc) {
				fprintf(stderr, "larder bench: %s on %s: %s\n", j->codec->name,
				        sets[s].name, lrd_errmsg());
				status = CLI_FAIL;
				continue;
			}
			print_row(json, &first, &sets[s], j, &r);
		}
	}
	if (json)
		printf(first ? "[]\n" : "\n]\n");
	return status;
}

int cmd_bench(int argc, char **argv)
{
	const char *codecs = NULL, *levels = NULL, *size_arg = NULL, *file = NULL, *cts = NULL, *v;
	bool json = false;
	if (argc > 1 && strcmp(argv[1], "parallel") == 0) /* a file named so: ./parallel */
		return cmd_bench_parallel(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++) {
		int m;
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return CLI_OK;
		} else if ((m = cli_opt(argc, argv, &i, "--codecs", &v)) != 0) {
			if (m < 0)
				return CLI_USAGE;
			codecs = v;
		} else if ((m = cli_opt(argc, argv, &i, "--levels", &v)) != 0) {
			if (m < 0)
				return CLI_USAGE;
			levels = v;
		} else if ((m = cli_opt(argc, argv, &i, "--chunk-threads", &v)) != 0) {
			if (m < 0)
				return CLI_USAGE;
			cts = v;
		} else if ((m = cli_opt(argc, argv, &i, "--size", &v)) != 0) {
			if (m < 0)
				return CLI_USAGE;
			size_arg = v;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (argv[i][0] == '-' || file) {
			fprintf(stderr, "larder bench: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return CLI_USAGE;
		} else {
			file = argv[i];
		}
	}
	size_t size = (size_t)DEFAULT_MIB << 20;
	if (size_arg && (cli_parse_size(size_arg, (size_t)1 << 20, &size) != 0 || size == 0)) {
		fprintf(stderr, "larder bench: bad --size '%s'\n", size_arg);
		return CLI_USAGE;
	}
	if (size_arg && file) {
		fprintf(stderr, "larder bench: --size applies to generated data only\n");
		return CLI_USAGE;
	}
	struct job *jobs;
	size_t njobs;
	int status = plan(codecs, levels, cts, &jobs, &njobs);
	struct data sets[BENCH_NDATA] = {{0}};
	size_t nsets = 0;
	if (status == CLI_OK && file) {
		int rc = read_whole(file, &sets[nsets++]);
		if (rc)
			status = cli_fail(rc, "bench");
	} else if (status == CLI_OK) {
		for (int d = 0; d < BENCH_NDATA && status == CLI_OK; d++) {
			sets[nsets] = (struct data){bench_data_name(d), malloc(size), size};
			if (!sets[nsets++].buf)
				status =
				    cli_fail(lrd_error_set(LRD_ENOMEM, "%zu bytes", size), "bench");
			else
				bench_data_fill(d, sets[nsets - 1].buf, size);
		}
	}
	if (status == CLI_OK)
		status = run(sets, nsets, jobs, njobs, json);
	for (size_t s = 0; s < nsets; s++)
		free(sets[s].buf);
	free(jobs);
	return status;
}
