/* cli: the `larder` program run in place from the build tree (LARDER_EXE, the libtool wrapper
 * script), as a user would run it: exit codes, `codecs --json`, `bench --json`. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <larder.h>

#include "tests/common/common.h"

/* Run `larder ARGS`, return its exit status and its stdout (malloc'd) in *out. */
static int larder(char **out, const char *args)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "unset LARDER_PLUGIN_PATH; '%s' %s 2>/dev/null", LARDER_EXE,
	         args);
	FILE *p = popen(cmd, "r");
	cr_assert(p, "popen %s", cmd);
	size_t cap = 4096, n = 0, r;
	char *buf = malloc(cap);
	while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
		n += r;
		if (cap - n < 2) {
			char *grown = realloc(buf, cap *= 2);
			cr_assert(grown, "out of memory");
			buf = grown;
		}
	}
	buf[n] = 0;
	int st = pclose(p);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The JSON object of codec `name` in `codecs --json` output, up to its closing brace. */
static char *codec_entry(const char *json, const char *name)
{
	char key[64];
	snprintf(key, sizeof key, "{\"name\": \"%s\"", name);
	const char *at = strstr(json, key);
	if (!at)
		return NULL;
	const char *end = strchr(at, '}');
	return end ? strndup(at, (size_t)(end - at + 1)) : NULL;
}

Test(cli, codecs_json_lists_every_codec_and_zstd_as_a_plugin)
{
	char *out;
	cr_assert_eq(larder(&out, "codecs --json"), 0);
	static const char *const builtins[] = {"zlib", "gzip", "bz2", "xz", "lzma", "lz4", "blosc"};
	for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++) {
		char *e = codec_entry(out, builtins[i]);
		cr_expect(e, "codec %s missing from: %s", builtins[i], out);
		if (e)
			cr_expect(strstr(e, "\"kind\": \"built-in\""), "%s", e);
		free(e);
	}
	char *z = codec_entry(out, "zstd");
	cr_assert(z, "zstd missing from: %s", out);
	cr_expect(strstr(z, "\"kind\": \"plugin\""), "%s", z);
	cr_expect(strstr(z, "larder-codec-zstd.so\""), "%s", z);
	cr_expect(strstr(z, "\"id\": 8"), "%s", z);
	cr_expect(strstr(z, "\"extensions\": [\".zst\"]"), "%s", z);
	cr_expect(strstr(out, "\"plugin_failures\": []"), "%s", out);
	free(z);
	free(out);
}

Test(cli, codecs_table_names_the_plugin_file)
{
	char *out;
	cr_assert_eq(larder(&out, "codecs"), 0);
	cr_expect(strstr(out, "NAME"), "%s", out);
	cr_expect(strstr(out, "codecs/plugins/.libs/larder-codec-zstd.so"), "%s", out);
	free(out);
}

/* Rows of a `bench --json` list (each has one "codec" key). */
static size_t json_rows(const char *out)
{
	size_t rows = 0;
	for (const char *p = out; (p = strstr(p, "\"codec\": ")); p++)
		rows++;
	return rows;
}

Test(cli, bench_json_rows_have_the_documented_keys)
{
	char *out;
	cr_assert_eq(larder(&out, "bench --json --size 256K --codecs blosc,zstd --levels 1,5"), 0);
	cr_expect(out[0] == '[', "%s", out);
	static const char *const keys[] = {
	    "\"data\": ",          "\"codec\": ", "\"level\": ",         "\"threads\": ",
	    "\"chunk_threads\": ", "\"ratio\": ", "\"compress_mb_s\": ", "\"decompress_mb_s\": "};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		cr_expect(strstr(out, keys[i]), "no %s in %s", keys[i], out);
	/* 3 data sets × (blosc: 2 levels × 2 thread counts + zstd: 2 levels) */
	size_t rows = json_rows(out);
	cr_expect_eq(rows, 18, "%s", out);
	cr_expect(strstr(out, "\"data\": \"ramp\", \"size\": 262144, \"codec\": \"blosc\", "
	                      "\"level\": 5, \"threads\": 2"),
	          "%s", out);
	free(out);
}

/* --chunk-threads: one more row per chunk codec and thread count, through dump and load */
Test(cli, bench_chunk_threads_adds_rows_of_the_chunked_path)
{
	char *out;
	cr_assert_eq(larder(&out, "bench --json --size 8M --codecs lz4 --chunk-threads 1,2"), 0,
	             "%s", out);
	size_t rows = json_rows(out);
	cr_expect_eq(rows, 9, "3 data sets x (one call + 2 thread counts): %s", out);
	cr_expect(strstr(out, "\"data\": \"zeros\", \"size\": 8388608, \"codec\": \"lz4\", "
	                      "\"level\": 0, \"threads\": 1, \"chunk_threads\": 2"),
	          "%s", out);
	cr_expect(strstr(out, "\"chunk_threads\": 0"), "%s", out);
	free(out);
	cr_expect_eq(larder(&out, "bench --chunk-threads 0"), 2);
	free(out);
	cr_expect_eq(larder(&out, "bench --chunk-threads x,1"), 2);
	free(out);
}

Test(cli, bench_reads_a_file)
{
	char *dir = tc_tmpdir(), *file = tc_path(dir, "sample.bin"), *out, args[512];
	unsigned char buf[100000];
	tc_fill_random(buf, sizeof buf);
	memset(buf, 0, sizeof buf / 2);
	cr_assert_eq(tc_write_file(file, buf, sizeof buf), 0);
	snprintf(args, sizeof args, "bench --json --codecs zstd '%s'", file);
	cr_assert_eq(larder(&out, args), 0);
	cr_expect(strstr(out, "\"data\": \"sample.bin\", \"size\": 100000, \"codec\": \"zstd\""),
	          "%s", out);
	free(out);
	tc_rmtree(dir);
	free(dir);
	free(file);
}

Test(cli, usage_errors_exit_2_and_help_exits_0)
{
	char *out;
	cr_expect_eq(larder(&out, "codecs --bogus"), 2);
	free(out);
	cr_expect_eq(larder(&out, "bench --codecs nosuchcodec"), 2);
	free(out);
	cr_expect_eq(larder(&out, "bench --size"), 2);
	free(out);
	cr_expect_eq(larder(&out, "bench --size -3"), 2);
	free(out);
	cr_expect_eq(larder(&out, "bench --levels x"), 2);
	free(out);
	cr_expect_eq(larder(&out, "bench /nonexistent/file"), 1);
	free(out);
	cr_expect_eq(larder(&out, "codecs --help"), 0);
	cr_expect(strstr(out, "usage: larder codecs"), "%s", out);
	free(out);
	cr_expect_eq(larder(&out, "bench --help"), 0);
	cr_expect(strstr(out, "usage: larder bench"), "%s", out);
	free(out);
	cr_expect_eq(larder(&out, "--help"), 0);
	cr_expect(strstr(out, "codecs") && strstr(out, "bench"), "%s", out);
	free(out);
}

Test(cli, plugin_failures_are_listed)
{
	char *dir = tc_tmpdir(), *out, args[512];
	cr_assert_eq(
	    tc_sh("cp '%s/larder-codec-badabi.so' '%s/larder-codec-old.so'", TEST_PLUGIN_DIR, dir),
	    0);
	snprintf(args, sizeof args, "codecs --json");
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "LARDER_PLUGIN_PATH='%s' '%s' %s", dir, LARDER_EXE, args);
	FILE *p = popen(cmd, "r");
	cr_assert(p);
	out = calloc(1, 65536);
	size_t n = fread(out, 1, 65535, p);
	cr_expect_eq(pclose(p), 0);
	out[n] = 0;
	cr_expect(strstr(out, "larder-codec-old.so\", \"error\": \"LRD_EVERSION\""), "%s", out);
	cr_expect(strstr(out, "{\"name\": \"zstd\""), "%s", out);
	free(out);
	tc_rmtree(dir);
	free(dir);
}

/* `larder put STORE KEY FILE`, its exit status; its stderr is left in dir/err. */
static int put(const char *dir, const char *opts, const char *store, const char *file)
{
	return tc_sh("cd '%s' && unset LARDER_PLUGIN_PATH && '%s' put %s '%s' k '%s' 2>err", dir,
	             LARDER_EXE, opts, store, file);
}

static char *err_text(const char *dir)
{
	char *p = tc_path(dir, "err");
	size_t n;
	char *t = tc_read_file(p, &n);
	cr_assert(t, "no stderr file");
	char *s = strndup(t, n);
	free(t);
	free(p);
	return s;
}

static void expect_err(const char *dir, const char *want, bool present)
{
	char *e = err_text(dir);
	cr_expect_eq(strstr(e, want) != NULL, present, "stderr %s \"%s\": %s",
	             present ? "lacks" : "has", want, e);
	free(e);
}

Test(cli, put_creates_a_missing_store_and_says_so_unless_no_create)
{
	char *dir = tc_tmpdir(), *file = tc_path(dir, "v.lrd"), *store = tc_path(dir, "NEWSTORE");
	lrd_value *v, *back;
	cr_assert_eq(lrd_value_new_bytes("abc", 3, &v), LRD_OK);
	cr_assert_eq(lrd_dump(v, file, NULL), LRD_OK, "%s", lrd_errmsg());

	/* --no-create keeps the refusal, and leaves nothing behind */
	cr_expect_eq(put(dir, "--no-create", "NEWSTORE", "v.lrd"), 1);
	expect_err(dir, "no store at", true);
	cr_expect_neq(access(store, F_OK), 0, "--no-create made %s", store);
	/* an unreadable input fails before a store is created for it */
	cr_expect_eq(put(dir, "", "NEWSTORE", "missing.lrd"), 1);
	cr_expect_neq(access(store, F_OK), 0, "a failed put made %s", store);

	cr_expect_eq(put(dir, "", "NEWSTORE", "v.lrd"), 0);
	expect_err(dir, "larder: created store NEWSTORE", true);
	cr_expect_eq(put(dir, "", "NEWSTORE", "v.lrd"), 0, "second put into the new store");
	expect_err(dir, "created store", false);
	cr_expect_eq(put(dir, "--no-create", "NEWSTORE", "v.lrd"), 0, "--no-create, store exists");

	lrd_store *s;
	cr_assert_eq(lrd_store_open(store, &(lrd_store_options){.flags = LRD_STORE_RDONLY}, &s),
	             LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_store_get(s, NULL, "k", &back), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(v, back));
	lrd_value_free(back);
	lrd_store_close(s);

	/* an empty directory holds no store: created too */
	cr_assert_eq(tc_sh("mkdir '%s/empty'", dir), 0);
	cr_expect_eq(put(dir, "", "empty", "v.lrd"), 0);
	expect_err(dir, "larder: created store empty", true);
	/* a file that is not a store is not replaced by one */
	cr_expect_eq(put(dir, "", "v.lrd", "v.lrd"), 1);
	expect_err(dir, "created store", false);

	lrd_value_free(v);
	tc_rmtree(dir);
	free(store);
	free(file);
	free(dir);
}

static int cli_square(const lrd_value *args, lrd_value **res, void *ctx)
{
	(void)ctx;
	int64_t n = 0;
	lrd_value_get_int(args, &n);
	return lrd_value_new_int(n * n, res);
}

Test(cli, memo_stats_ls_clear_reduce)
{
	char *dir = tc_tmpdir(), *out, args[1024];
	lrd_store *s;
	lrd_memo *m;
	cr_assert_eq(lrd_store_open(dir, NULL, &s), LRD_OK);
	cr_assert_eq(lrd_memo_open(s, NULL, &m), LRD_OK);
	lrd_memo_func f = {.name = "square", .version = "v1", .fn = cli_square};
	lrd_memo_func g = {.name = "other", .fn = cli_square};
	for (int i = 0; i < 5; i++) {
		lrd_value *a, *r;
		lrd_value_new_int(i, &a);
		cr_assert_eq(lrd_memo_call(m, i < 3 ? &f : &g, a, NULL, &r, NULL), LRD_OK);
		lrd_value_free(r);
		cr_assert_eq(lrd_memo_call(m, i < 3 ? &f : &g, a, NULL, &r, NULL), LRD_OK);
		lrd_value_free(r);
		lrd_value_free(a);
	}
	lrd_memo_close(m);
	lrd_store_close(s);
	snprintf(args, sizeof args, "memo stats --json '%s'", dir);
	cr_expect_eq(larder(&out, args), 0);
	cr_expect(strstr(out, "\"hits\": 5") && strstr(out, "\"misses\": 5") &&
	              strstr(out, "\"entries\": 5") && strstr(out, "\"bytes\": "),
	          "%s", out);
	free(out);
	snprintf(args, sizeof args, "memo ls --json '%s' square", dir);
	cr_expect_eq(larder(&out, args), 0);
	int n = 0;
	for (const char *p = out; (p = strstr(p, "\"func\": \"square\"")); p++)
		n++;
	cr_expect(n == 3 && out[0] == '[' && strstr(out, "\"version\": \"v1\""), "%s", out);
	free(out);
	snprintf(args, sizeof args, "memo clear --func other --json '%s'", dir);
	cr_expect_eq(larder(&out, args), 0);
	cr_expect(strstr(out, "\"removed\": 2"), "%s", out);
	free(out);
	snprintf(args, sizeof args, "memo reduce --items-limit 1 '%s'", dir);
	cr_expect_eq(larder(&out, args), 0);
	cr_expect(strstr(out, "2 entries removed"), "%s", out);
	free(out);
	snprintf(args, sizeof args, "memo ls '%s'", dir);
	cr_expect_eq(larder(&out, args), 0);
	cr_expect(strstr(out, "square") && strchr(out, '\n') == strrchr(out, '\n'), "%s", out);
	free(out);
	snprintf(args, sizeof args, "memo reduce '%s'", dir);
	cr_expect_eq(larder(&out, args), 2, "reduce needs a limit");
	free(out);
	snprintf(args, sizeof args, "memo reduce --age-limit 3x '%s'", dir);
	cr_expect_eq(larder(&out, args), 2);
	free(out);
	cr_expect_eq(larder(&out, "memo stats /nonexistent/store"), 1);
	free(out);
	cr_expect_eq(larder(&out, "memo frob x"), 2);
	free(out);
	cr_expect_eq(larder(&out, "memo stats --help"), 0);
	cr_expect(strstr(out, "usage: larder memo"), "%s", out);
	free(out);
	tc_rmtree(dir);
	free(dir);
}
