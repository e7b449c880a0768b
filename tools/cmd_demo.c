/* `larder demo`: a short tour of larder on generated data. Each part of the library adds its
 * stop to the tour. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/bench_codec.h"
#include "tools/cli.h"

#define TOUR_BYTES ((size_t)2 << 20)

/* The codec tour: every registered codec on a few MiB of a smooth int64 ramp, one line each. */
static int demo_codecs(void)
{
	size_t n = lrd_codec_count();
	printf("== codecs: %zu registered; each compresses %zu MiB of an int64 ramp\n", n,
	       TOUR_BYTES >> 20);
	unsigned char *data = malloc(TOUR_BYTES);
	if (!data)
		return cli_fail(LRD_ENOMEM, "demo");
	bench_data_fill(BENCH_RAMP, data, TOUR_BYTES);
	int status = CLI_OK;
	for (size_t i = 0; i < n; i++) {
		const lrd_codec *c = lrd_codec_at(i);
		lrd_codec_params p = {.typesize = 8};
		struct bench_result r;
		int rc = bench_codec(c, &p, data, TOUR_BYTES, 1, &r);
		if (rc) {
			status = cli_fail(rc, c->name);
			continue;
		}
		printf("  %-6s level %-2d  ratio %7.2f  compress %7.1f MB/s  decompress %7.1f "
		       "MB/s%s\n",
		       c->name, lrd_codec_level(c, &p), (double)TOUR_BYTES / (double)r.compressed,
		       bench_mb_s(TOUR_BYTES, r.compress_s), bench_mb_s(TOUR_BYTES, r.decompress_s),
		       lrd_codec_origin(c) ? "  (plugin)" : "");
	}
	free(data);
	return status;
}

/* The files tour: one tree dumped with a whole-file codec and with a per-chunk codec, loaded
 * back, and the plain file loaded memory-mapped. */
static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int demo_files(void)
{
	char dir[] = "/tmp/larder-demo-XXXXXX";
	lrd_value *tree, *v, *w;
	lrd_dtype dt;
	uint64_t shape[2] = {4096, 512}; /* 16 MiB of int64 */
	int rc;
	if (!mkdtemp(dir))
		return cli_fail(LRD_EIO, "demo: mkdtemp");
	if ((rc = lrd_value_new_map(&tree)) ||
	    (rc = lrd_value_new_str("demo model", SIZE_MAX, &v)) ||
	    (rc = lrd_map_set(tree, "name", v)) || (rc = lrd_dtype_parse("<i8", &dt)) ||
	    (rc = lrd_array_new(dt, 2, shape, LRD_ORDER_C, &w)))
		return cli_fail(rc, "demo");
	bench_data_fill(BENCH_RAMP, lrd_array_data(w), lrd_array_nbytes(w));
	if ((rc = lrd_map_set(tree, "weights", w)))
		return cli_fail(rc, "demo");
	printf("== files: a tree {name, weights: <i8 4096x512 (16 MiB)} in %s\n", dir);
	static const struct {
		const char *file;
		lrd_dump_options o;
		const char *what;
	} forms[] = {
	    {"model.lrd.gz", {.level = 1}, "whole-file gzip-1 (by suffix)"},
	    {"model-blosc.lrd", {.chunk_codec = "blosc"}, "per-chunk blosc/lz4"},
	    {"model.lrd", {0}, "uncompressed"},
	};
	int status = CLI_OK;
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		char path[256];
		lrd_value *back = NULL;
		snprintf(path, sizeof path, "%s/%s", dir, forms[i].file);
		double t0 = now_s();
		rc = lrd_dump(tree, path, &forms[i].o);
		double t1 = now_s();
		if (!rc)
			rc = lrd_load(path, &back, NULL);
		double t2 = now_s();
		if (rc) {
			status = cli_fail(rc, path);
			continue;
		}
		FILE *f = fopen(path, "rb");
		long size = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
		if (f)
			fclose(f);
		printf("  %-16s %-32s %9ld bytes  dump %6.1f ms  load %6.1f ms  %s\n",
		       forms[i].file, forms[i].what, size, (t1 - t0) * 1e3, (t2 - t1) * 1e3,
		       lrd_value_equal(tree, back) ? "equal" : "DIFFERENT");
		lrd_value_free(back);
	}
	char path[256];
	lrd_value *mapped;
	snprintf(path, sizeof path, "%s/model.lrd", dir);
	double t0 = now_s();
	rc = lrd_load(path, &mapped, &(lrd_load_options){.mmap = true});
	double t1 = now_s();
	if (rc) {
		status = cli_fail(rc, path);
	} else {
		const lrd_value *mw = lrd_map_get(mapped, "weights");
		printf("  mmap load of model.lrd: %.3f ms, weights %s at %p (64-byte aligned: %s), "
		       "%s\n",
		       (t1 - t0) * 1e3,
		       lrd_array_bufkind(mw) == LRD_BUF_MAPPED ? "mapped read-only" : "copied",
		       lrd_array_cdata(mw), (uintptr_t)lrd_array_cdata(mw) % 64 ? "no" : "yes",
		       lrd_value_equal(tree, mapped) ? "equal" : "DIFFERENT");
		lrd_value_free(mapped);
	}
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, forms[i].file);
		remove(path);
	}
	rmdir(dir);
	lrd_value_free(tree);
	return status;
}

int cmd_demo(int argc, char **argv)
{
	const char *store = "larder-demo.store";
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: larder demo [--store DIR]\n\n"
			       "A short tour of larder on generated data.\n"
			       "  --store DIR  the embedded store the tour uses (default "
			       "./larder-demo.store)\n");
			return CLI_OK;
		} else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc && argv[i + 1][0]) {
			store = argv[++i];
		} else {
			fprintf(stderr, "larder demo: unexpected argument '%s'\n", argv[i]);
			return CLI_USAGE;
		}
	}
	demo_store_warn(store);
	printf("larder %s demo (store: %s)\n", lrd_version_string(), store);
	int status = demo_codecs();
	int files = demo_files();
	int stored = demo_store(store);
	int memo = stored ? stored : demo_memo(store);
	int par = demo_parallel(store);
	return status ? status : files ? files : memo ? memo : par;
}
