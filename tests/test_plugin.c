/* plugin: the zstd dlopen plugin found in the build tree, explicit loads of deliberately wrong
 * plugins (tests/plugins/bad_plugin.c), and the $LARDER_PLUGIN_PATH scan. Criterion runs every
 * test in a fresh process, so each one sees its own first (scanning) call into the registry. */
#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <larder.h>

#include "base/testhook.h"
#include "tests/common/common.h"

#define BAD(name) TEST_PLUGIN_DIR "/larder-codec-" name ".so"

static void no_env(void) { unsetenv("LARDER_PLUGIN_PATH"); }

static char *real(const char *path)
{
	char *r = realpath(path, NULL);
	cr_assert(r, "realpath(%s)", path);
	return r;
}

Test(plugin, zstd_is_found_in_the_build_tree_without_env)
{
	no_env();
	const lrd_codec *z = lrd_codec_by_name("zstd");
	cr_assert(z, "zstd plugin not loaded: %s", lrd_errmsg());
	cr_expect_eq(z->id, LRD_CODEC_ID_ZSTD);
	cr_expect_eq(lrd_codec_by_id(LRD_CODEC_ID_ZSTD), z);
	cr_expect_eq(lrd_codec_by_filename("model.lrd.zst"), z);
	const char *origin = lrd_codec_origin(z);
	cr_assert(origin, "zstd has no origin");
	char *want = real(TEST_ZSTD_PLUGIN);
	cr_expect_str_eq(origin, want);
	free(want);
	cr_expect_null(lrd_codec_origin(lrd_codec_by_name("blosc")), "blosc is built in");
	cr_expect_eq(lrd_codec_plugin_failure(0, NULL, NULL, NULL), LRD_ENOTFOUND);
}

Test(plugin, zstd_round_trips_one_shot_at_every_level)
{
	no_env();
	const lrd_codec *z = lrd_codec_by_name("zstd");
	cr_assert(z);
	size_t n = (1 << 20) + 13;
	unsigned char *src = tc_ramp_bytes(n), *back = malloc(n);
	size_t cap = lrd_codec_bound(z, n, NULL);
	unsigned char *dst = malloc(cap);
	for (int level = 1; level <= 19; level += 6) {
		lrd_codec_params p = {.level = level};
		size_t clen, dlen;
		cr_assert_eq(lrd_codec_compress(z, &p, src, n, dst, cap, &clen), LRD_OK, "%s",
		             lrd_errmsg());
		cr_expect(z->sniff(dst, clen) == 1);
		cr_expect_eq(lrd_codec_sniff(dst, clen), z);
		cr_assert_eq(lrd_codec_decompress(z, NULL, dst, clen, back, n, &dlen), LRD_OK, "%s",
		             lrd_errmsg());
		cr_assert_eq(dlen, n);
		cr_assert(memcmp(src, back, n) == 0, "level %d", level);
		cr_expect_eq(lrd_codec_decompress(z, NULL, dst, clen, back, n - 1, &dlen),
		             LRD_EBUFSIZE);
		cr_expect_eq(lrd_codec_decompress(z, NULL, dst, clen - 1, back, n, &dlen),
		             LRD_ECORRUPT);
	}
	free(src);
	free(back);
	free(dst);
}

Test(plugin, zstd_streams_concatenated_frames)
{
	no_env();
	const lrd_codec *z = lrd_codec_by_name("zstd");
	cr_assert(z);
	size_t n = 300000;
	unsigned char *src = tc_ramp_bytes(n);
	size_t cap = 2 * lrd_codec_bound(z, n, NULL), clen = 0;
	unsigned char *dst = calloc(1, cap);
	for (int member = 0; member < 2; member++) {
		lrd_codec_stream *s;
		cr_assert_eq(lrd_codec_stream_new(z, NULL, LRD_CODEC_ENCODE, &s), LRD_OK);
		/* feed in small pieces so the encoder sees many steps */
		lrd_codec_io io = {src, 0, 0, dst, cap, clen};
		int rc = 0;
		while (rc == 0) {
			io.src_size = io.src_size + 7000 < n ? io.src_size + 7000 : n;
			rc = lrd_codec_stream_step(s, &io, io.src_size == n);
			cr_assert(rc >= 0, "%s", lrd_errmsg());
		}
		clen = io.dst_pos;
		lrd_codec_stream_free(s);
	}
	void *out;
	size_t outlen;
	cr_assert_eq(lrd_codec_decompress_alloc(z, NULL, dst, clen, 0, &out, &outlen), LRD_OK, "%s",
	             lrd_errmsg());
	cr_assert_eq(outlen, 2 * n);
	cr_expect(memcmp(out, src, n) == 0 && memcmp((char *)out + n, src, n) == 0);
	lrd_free(out);
	cr_expect_eq(lrd_codec_decompress_alloc(z, NULL, dst, clen, 2 * n - 1, &out, &outlen),
	             LRD_ELIMIT);
	free(src);
	free(dst);
}

Test(plugin, zstd_output_is_what_the_zstd_tool_reads_and_back)
{
	no_env();
	if (!tc_have("zstd"))
		cr_skip_test("zstd tool not installed");
	const lrd_codec *z = lrd_codec_by_name("zstd");
	cr_assert(z);
	char *dir = tc_tmpdir();
	char *raw = tc_path(dir, "raw"), *zst = tc_path(dir, "raw.zst"),
	     *back = tc_path(dir, "back");
	size_t n = 500000, clen;
	unsigned char *src = tc_ramp_bytes(n);
	size_t cap = lrd_codec_bound(z, n, NULL);
	unsigned char *dst = malloc(cap);
	cr_assert_eq(lrd_codec_compress(z, NULL, src, n, dst, cap, &clen), LRD_OK);
	cr_assert_eq(tc_write_file(raw, src, n), 0);
	cr_assert_eq(tc_write_file(zst, dst, clen), 0);
	cr_assert_eq(tc_sh("zstd -q -d -c '%s' | cmp -s - '%s'", zst, raw), 0);
	cr_assert_eq(tc_sh("zstd -q -19 -c '%s' > '%s'", raw, back), 0);
	size_t blen, dlen;
	void *theirs = tc_read_file(back, &blen);
	cr_assert(theirs);
	cr_expect_eq(lrd_codec_sniff(theirs, blen), z);
	cr_assert_eq(lrd_codec_decompress(z, NULL, theirs, blen, dst, cap, &dlen), LRD_OK);
	cr_expect(dlen == n && memcmp(dst, src, n) == 0);
	free(theirs);
	free(src);
	free(dst);
	tc_rmtree(dir);
	free(dir);
	free(raw);
	free(zst);
	free(back);
}

Test(plugin, zstd_decoder_refuses_windows_past_its_limit)
{
	no_env();
	if (!tc_have("zstd"))
		cr_skip_test("zstd tool not installed");
	const lrd_codec *z = lrd_codec_by_name("zstd");
	cr_assert(z);
	char *dir = tc_tmpdir();
	char *zst = tc_path(dir, "long.zst");
	/* piped input has no known size, so the frame keeps the 1 GiB window it asks for */
	cr_assert_eq(tc_sh("head -c 100000 /dev/zero | zstd -q --long=30 -c > '%s'", zst), 0);
	size_t len;
	void *frame = tc_read_file(zst, &len);
	cr_assert(frame);
	void *out;
	size_t outlen;
	cr_expect_eq(lrd_codec_decompress_alloc(z, NULL, frame, len, 0, &out, &outlen), LRD_ELIMIT,
	             "%s", lrd_errmsg());
	free(frame);
	tc_rmtree(dir);
	free(dir);
	free(zst);
}

Test(plugin, wrong_abi_version_is_refused)
{
	no_env();
	size_t count = 99;
	cr_expect_eq(lrd_codec_load_plugin(BAD("badabi"), &count), LRD_EVERSION);
	cr_expect_eq(count, 0);
	cr_expect(strstr(lrd_errmsg(), "ABI"), "%s", lrd_errmsg());
	cr_expect_null(lrd_codec_by_name("copy"));
}

Test(plugin, missing_entry_symbol_is_refused)
{
	no_env();
	cr_expect_eq(lrd_codec_load_plugin(BAD("nosym"), NULL), LRD_EPLUGIN);
	cr_expect(strstr(lrd_errmsg(), LRD_CODEC_PLUGIN_SYMBOL), "%s", lrd_errmsg());
	cr_expect_null(lrd_codec_by_name("copy"));
}

Test(plugin, id_clash_with_a_builtin_registers_nothing)
{
	no_env();
	size_t before = lrd_codec_count();
	cr_expect_eq(lrd_codec_load_plugin(BAD("clash"), NULL), LRD_EEXIST);
	cr_expect(strstr(lrd_errmsg(), "id 7"), "%s", lrd_errmsg());
	cr_expect_eq(lrd_codec_count(), before);
	cr_expect_null(lrd_codec_by_name("copy"),
	               "the valid codec of a refused plugin was registered");
	cr_expect_null(lrd_codec_by_id(201));
	cr_expect_str_eq(lrd_codec_by_id(LRD_CODEC_ID_BLOSC)->name, "blosc");
}

Test(plugin, invalid_vtable_is_refused)
{
	no_env();
	cr_expect_eq(lrd_codec_load_plugin(BAD("badvtable"), NULL), LRD_EINVAL);
	cr_expect_null(lrd_codec_by_name("broken"));
}

Test(plugin, missing_file_is_refused)
{
	no_env();
	cr_expect_eq(lrd_codec_load_plugin("/nonexistent/larder-codec-x.so", NULL), LRD_EPLUGIN);
	cr_expect_eq(lrd_codec_load_plugin(NULL, NULL), LRD_EINVAL);
}

Test(plugin, good_plugin_loads_once)
{
	no_env();
	size_t count = 0;
	cr_assert_eq(lrd_codec_load_plugin(BAD("good"), &count), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(count, 1);
	const lrd_codec *c = lrd_codec_by_id(201);
	cr_assert(c);
	cr_expect_str_eq(c->name, "copy");
	char *want = real(BAD("good"));
	cr_expect_str_eq(lrd_codec_origin(c), want);
	free(want);
	/* the same file again, even by another spelling of its path: not loaded twice */
	cr_expect_eq(
	    lrd_codec_load_plugin(TEST_PLUGIN_DIR "/../.libs/larder-codec-good.so", &count),
	    LRD_OK);
	cr_expect_eq(count, 0);
	unsigned char in[100], out[100];
	size_t len;
	memset(in, 'x', sizeof in);
	cr_expect_eq(lrd_codec_compress(c, NULL, in, sizeof in, out, sizeof out, &len), LRD_OK);
}

Test(plugin, out_of_memory_while_loading_registers_nothing)
{
	no_env();
	(void)lrd_codec_count(); /* the scan's own allocations are not the ones under test */
	int rc = LRD_ENOMEM;
	long k;
	for (k = 0; k < 100 && rc == LRD_ENOMEM; k++) {
		lrd__alloc_failafter(k);
		rc = lrd_codec_load_plugin(BAD("good"), NULL);
		lrd__alloc_failafter(-1);
		if (rc == LRD_ENOMEM)
			cr_expect_null(lrd_codec_by_id(201),
			               "registered although the load failed (k=%ld)", k);
	}
	cr_expect_gt(k, 1, "no allocation was failed");
	cr_expect_eq(rc, LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_codec_by_id(201));
	cr_expect(lrd_codec_origin(lrd_codec_by_id(201)));
}

static void *load_good(void *arg)
{
	size_t *count = arg;
	if (lrd_codec_load_plugin(BAD("good"), count) != LRD_OK)
		*count = 99;
	return NULL;
}

Test(plugin, concurrent_loads_register_once)
{
	no_env();
	enum { N = 8 };
	pthread_t t[N];
	size_t counts[N] = {0}, total = 0;
	for (int i = 0; i < N; i++)
		pthread_create(&t[i], NULL, load_good, &counts[i]);
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		total += counts[i];
	}
	cr_expect_eq(total, 1, "codecs registered across threads: %zu", total);
	cr_expect(lrd_codec_by_id(201));
}

Test(plugin, loads_when_the_host_opened_larder_with_rtld_local)
{
	no_env();
	if (!tc_have("python3"))
		cr_skip_test("python3 not installed");
	if (TC_ASAN)
		cr_skip_test(
		    "an ASan-built liblarder cannot be loaded into an uninstrumented python3");
	/* Python's ctypes dlopen()s liblarder with RTLD_LOCAL: the plugin must still find
	 * lrd_error_set. python3 lives outside the build tree, so the path is given. */
	cr_expect_eq(tc_sh("LARDER_PLUGIN_PATH='%s' python3 -c \"import ctypes, sys; "
	                   "l = ctypes.CDLL('%s'); l.lrd_codec_by_name.restype = ctypes.c_void_p; "
	                   "sys.exit(0 if l.lrd_codec_by_name(b'zstd') else 1)\"",
	                   TEST_BUILD_PLUGIN_DIR, TEST_LIBLARDER),
	             0, "zstd plugin not loaded into a ctypes host");
}

static int copy_file(const char *from, const char *to) { return tc_sh("cp '%s' '%s'", from, to); }

Test(plugin, search_path_loads_good_plugins_and_records_bad_ones)
{
	char *dir = tc_tmpdir();
	char *zstd = tc_path(dir, "larder-codec-zstd.so"),
	     *bad = tc_path(dir, "larder-codec-bad.so");
	char *other = tc_path(dir, "not-a-plugin.so");
	cr_assert_eq(copy_file(TEST_ZSTD_PLUGIN, zstd), 0);
	cr_assert_eq(copy_file(BAD("badabi"), bad), 0);
	cr_assert_eq(copy_file(BAD("nosym"), other), 0);
	char *env;
	cr_assert(asprintf(&env, "/nonexistent::%s", dir) > 0);
	setenv("LARDER_PLUGIN_PATH", env, 1);

	/* first call into the registry in this process: the scan happens now */
	const lrd_codec *z = lrd_codec_by_name("zstd");
	cr_assert(z, "zstd not loaded from LARDER_PLUGIN_PATH");
	char *want = real(zstd);
	cr_expect_str_eq(lrd_codec_origin(z), want, "the path entry shadows the build tree's copy");
	const char *path, *msg;
	int code;
	cr_assert_eq(lrd_codec_plugin_failure(0, &path, &code, &msg), LRD_OK);
	cr_expect_str_eq(path, bad);
	cr_expect_eq(code, LRD_EVERSION);
	cr_expect(strstr(msg, "ABI"), "%s", msg);
	cr_expect_eq(lrd_codec_plugin_failure(1, &path, &code, &msg), LRD_ENOTFOUND,
	             "only larder-codec-*.so files are tried");
	free(want);
	free(env);
	tc_rmtree(dir);
	free(dir);
	free(zstd);
	free(bad);
	free(other);
}
