/* interop: every stream codec's output is read by the standard tool (gzip, bzip2, xz,
 * xz --format=lzma, lz4, zstd; zlib through Python's zlib module) byte for byte, and the tools'
 * output is detected by magic and decoded by larder, including several members in one file.
 * zstd is the plugin built from codecs/plugins/. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <larder.h>

#include "tests/common/common.h"

#define PY "/usr/bin/python3 -c "
#define PY_ZLIB_D                                                                                  \
	PY "'import sys, zlib; d = open(sys.argv[1], \"rb\").read(); "                             \
	   "sys.stdout.buffer.write(zlib.decompress(d))'"
#define PY_ZLIB_C                                                                                  \
	PY "'import sys, zlib; d = open(sys.argv[1], \"rb\").read(); "                             \
	   "sys.stdout.buffer.write(zlib.compress(d, 6))'"

struct tool {
	const char *codec;
	const char *decompress; /* reads the file named by the next argument, writes stdout */
	const char *compress;
};

static const struct tool tools[] = {
    {"zlib", PY_ZLIB_D, PY_ZLIB_C},
    {"gzip", "gzip -dc", "gzip -c"},
    {"bz2", "bzip2 -dc", "bzip2 -c"},
    {"xz", "xz -dc", "xz -c"},
    {"lzma", "xz --format=lzma -dc", "xz --format=lzma -c"},
    {"lz4", "lz4 -dc", "lz4 -c"},
    {"zstd", "zstd -q -dc", "zstd -q -c"},
};

static const struct tool *tool_for(const char *codec)
{
	for (size_t i = 0; i < sizeof tools / sizeof *tools; i++)
		if (strcmp(tools[i].codec, codec) == 0)
			return &tools[i];
	return NULL;
}

/* 300 KiB: a smooth ramp with noise, then random bytes, so blocks of every kind appear. */
static unsigned char *sample(size_t *n)
{
	*n = 300 << 10;
	unsigned char *p = malloc(*n);
	tc_fill_ramp((int64_t *)p, (200 << 10) / 8);
	tc_fill_random(p + (200 << 10), 100 << 10);
	return p;
}

static const lrd_codec *need(const char *name)
{
	const lrd_codec *c = lrd_codec_by_name(name);
	cr_assert(c, "codec %s is not registered", name);
	return c;
}

/* larder compresses at `level` (0: default); the tool must give the input back exactly. */
static void larder_to_tool(const lrd_codec *c, const char *dir, const unsigned char *src, size_t n,
                           int level)
{
	const struct tool *t = tool_for(c->name);
	lrd_codec_params p = {.level = level};
	size_t cap = lrd_codec_bound(c, n, &p), zlen, outlen;
	unsigned char *z = malloc(cap);
	cr_assert_eq(lrd_codec_compress(c, &p, src, n, z, cap, &zlen), LRD_OK, "%s: %s", c->name,
	             lrd_errmsg());
	char *in = tc_path(dir, "larder.z"), *out = tc_path(dir, "tool.out");
	cr_assert_eq(tc_write_file(in, z, zlen), 0);
	int st = tc_sh("%s %s > %s", t->decompress, in, out);
	cr_assert_eq(st, 0, "%s: `%s` exited %d on larder's output (level %d)", c->name,
	             t->decompress, st, level);
	unsigned char *back = tc_read_file(out, &outlen);
	cr_assert(back);
	cr_expect(outlen == n && (n == 0 || memcmp(back, src, n) == 0),
	          "%s: the tool read %zu bytes of %zu, or different bytes", c->name, outlen, n);
	free(back);
	free(in);
	free(out);
	free(z);
}

/* The tool compresses `members` copies of src into one file (appending, as `gzip -c a >> f`);
 * larder must sniff it and decode all of them. */
static void tool_to_larder(const lrd_codec *c, const char *dir, const unsigned char *src, size_t n,
                           int members)
{
	const struct tool *t = tool_for(c->name);
	char *in = tc_path(dir, "plain"), *z = tc_path(dir, "tool.z");
	cr_assert_eq(tc_write_file(in, src, n), 0);
	cr_assert_eq(tc_sh("rm -f %s", z), 0);
	for (int m = 0; m < members; m++)
		cr_assert_eq(tc_sh("%s %s >> %s", t->compress, in, z), 0, "%s: `%s` failed",
		             c->name, t->compress);
	size_t zlen, outlen;
	unsigned char *data = tc_read_file(z, &zlen);
	cr_assert(data);
	cr_expect_eq(lrd_codec_sniff(data, zlen), c, "%s: the tool's output is not sniffed as %s",
	             c->name, c->name);
	void *out = NULL;
	int rc = lrd_codec_decompress_alloc(c, NULL, data, zlen, 0, &out, &outlen);
	cr_assert_eq(rc, LRD_OK, "%s: decoding %d member(s) from the tool: %s", c->name, members,
	             lrd_errmsg());
	cr_expect_eq(outlen, n * (size_t)members, "%s", c->name);
	for (int m = 0; m < members && outlen == n * (size_t)members; m++)
		cr_expect(n == 0 || memcmp((unsigned char *)out + m * n, src, n) == 0,
		          "%s: member %d differs", c->name, m);
	lrd_free(out);
	free(data);
	free(in);
	free(z);
}

static void interop(const char *name)
{
	const lrd_codec *c = need(name);
	char *dir = tc_tmpdir();
	size_t n;
	unsigned char *src = sample(&n);
	larder_to_tool(c, dir, src, n, 0);
	larder_to_tool(c, dir, src, n, c->max_level);
	larder_to_tool(c, dir, src, 0, 0);
	tool_to_larder(c, dir, src, n, 1);
	tool_to_larder(c, dir, src, n, 3);
	tool_to_larder(c, dir, src, 0, 1);
	free(src);
	tc_rmtree(dir);
	free(dir);
}

Test(interop, zlib_reads_and_writes_pythons_zlib) { interop("zlib"); }
Test(interop, gzip_reads_and_writes_gzip_tool) { interop("gzip"); }
Test(interop, bz2_reads_and_writes_bzip2_tool) { interop("bz2"); }
Test(interop, xz_reads_and_writes_xz_tool) { interop("xz"); }
Test(interop, lzma_reads_and_writes_xz_format_lzma) { interop("lzma"); }
Test(interop, lz4_reads_and_writes_lz4_tool) { interop("lz4"); }

/* zstd is the plugin built from codecs/plugins/, found in the build tree. */
Test(interop, zstd_reads_and_writes_zstd_tool) { interop("zstd"); }

Test(interop, every_stream_codec_has_a_tool_case)
{
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		if (c->flags & LRD_CODEC_STREAM)
			cr_expect(tool_for(c->name), "stream codec %s has no interop case",
			          c->name);
	}
}

/* xz files may hold zero bytes of stream padding, a multiple of four, between and after
 * streams; xz -d reads them and refuses other amounts, and so must larder. */
Test(interop, xz_stream_padding_is_read_as_xz_reads_it)
{
	const lrd_codec *c = need("xz");
	char *dir = tc_tmpdir(), *plain = tc_path(dir, "plain"), *z = tc_path(dir, "padded.xz");
	cr_assert_eq(tc_write_file(plain, "padded", 6), 0);
	for (int pad = 0; pad <= 8; pad++) {
		int st = tc_sh(
		    "{ xz -c %s; head -c %d /dev/zero; xz -c %s; head -c %d /dev/zero; } > %s",
		    plain, pad, plain, pad, z);
		cr_assert_eq(st, 0);
		bool tool_ok = tc_sh("xz -dc %s > /dev/null 2>&1", z) == 0;
		cr_expect_eq(tool_ok, pad % 4 == 0, "xz -d with %d bytes of padding", pad);
		size_t zlen, outlen;
		unsigned char *data = tc_read_file(z, &zlen);
		void *out = NULL;
		int rc = lrd_codec_decompress_alloc(c, NULL, data, zlen, 0, &out, &outlen);
		if (tool_ok)
			cr_expect(rc == LRD_OK && outlen == 12 &&
			              memcmp(out, "paddedpadded", 12) == 0,
			          "%d bytes of padding: %s", pad, lrd_errmsg());
		else
			cr_expect_eq(rc, LRD_ECORRUPT, "%d bytes of padding", pad);
		lrd_free(out);
		free(data);
	}
	tc_rmtree(dir);
	free(plain);
	free(z);
	free(dir);
}
