/* codecs: the conformance suite. Every test loops over every codec the registry lists
 * (built-ins, plugins, and in user_codec_registered_at_run_time a codec of the test's own), so a
 * new codec gets all of it for free; failure messages name the codec. Codecs without
 * LRD_CODEC_STREAM skip only the streaming checks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <larder.h>

#include "base/testhook.h"
#include "tests/common/common.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Codecs whose format carries a checksum of the content: a flipped bit is either detected or
 * lands where it cannot change the output (e.g. gzip's MTIME). Any other codec (lzma-alone,
 * and codecs unknown to this table) may decode a flipped bit to wrong bytes; for them the
 * bit-flip test checks only "an error or some output, no crash, no overrun". */
static bool checksummed(const lrd_codec *c)
{
	static const char *const names[] = {"zlib", "gzip", "bz2", "xz", "lz4", "zstd"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (strcmp(c->name, names[i]) == 0)
			return true;
	return false;
}

static bool streams(const lrd_codec *c) { return c->flags & LRD_CODEC_STREAM; }

/* params selecting exactly `level` (0 in params means "default", so level 0 is asked for as
 * LRD_CODEC_LEVEL_ZERO). */
static lrd_codec_params at_level(int level)
{
	return (lrd_codec_params){.level = level ? level : LRD_CODEC_LEVEL_ZERO};
}

static unsigned char *random_bytes(size_t n)
{
	unsigned char *p = malloc(n ? n : 1);
	cr_assert(p);
	tc_fill_random(p, n);
	return p;
}

/* Compress src with c into a malloc'd buffer of exactly bound() bytes. */
static unsigned char *compress_all(const lrd_codec *c, const lrd_codec_params *p, const void *src,
                                   size_t n, size_t *len)
{
	size_t cap = lrd_codec_bound(c, n, p);
	cr_assert_gt(cap, 0, "%s: bound(%zu) is 0", c->name, n);
	unsigned char *dst = malloc(cap);
	cr_assert(dst);
	int rc = lrd_codec_compress(c, p, src, n, dst, cap, len);
	cr_assert_eq(rc, LRD_OK, "%s: compress %zu bytes: %s", c->name, n, lrd_errmsg());
	cr_assert_leq(*len, cap, "%s: output above bound", c->name);
	return dst;
}

static void expect_error_names_codec(const lrd_codec *c, const char *what)
{
	cr_expect(strstr(lrd_errmsg(), c->name), "%s: %s: message '%s' does not name the codec",
	          c->name, what, lrd_errmsg());
}

/* One-shot round trip of n bytes at one level, with an exact-size output buffer. */
static void round_trip(const lrd_codec *c, const lrd_codec_params *p, const unsigned char *src,
                       size_t n)
{
	size_t clen, dlen = 0;
	unsigned char *z = compress_all(c, p, src, n, &clen);
	if (c->magic_size)
		cr_expect_eq(lrd_codec_sniff(z, clen), c,
		             "%s: its own output (%zu bytes) not sniffed", c->name, n);
	unsigned char *back = malloc(n + 1);
	int rc = lrd_codec_decompress(c, p, z, clen, back, n, &dlen);
	cr_assert_eq(rc, LRD_OK, "%s level %d: decompress %zu bytes: %s", c->name,
	             lrd_codec_level(c, p), n, lrd_errmsg());
	cr_assert_eq(dlen, n, "%s: decompressed %zu of %zu bytes", c->name, dlen, n);
	cr_assert(n == 0 || memcmp(back, src, n) == 0, "%s: round trip changed the data", c->name);
	free(back);
	free(z);
}

enum { DEFAULT_LEVEL = 1, MIN_MAX_LEVELS = 2, ALL_LEVELS = 3 };

static void round_trip_levels(const unsigned char *src, size_t n, int which)
{
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		lrd_codec_params def = {0}, lo = at_level(c->min_level),
		                 hi = at_level(c->max_level);
		cr_assert_eq(lrd_codec_level(c, &lo), c->min_level, "%s", c->name);
		cr_assert_eq(lrd_codec_level(c, &hi), c->max_level, "%s", c->name);
		if (which & DEFAULT_LEVEL)
			round_trip(c, &def, src, n);
		if (which & MIN_MAX_LEVELS) {
			round_trip(c, &lo, src, n);
			round_trip(c, &hi, src, n);
		}
	}
}

Test(codecs, builtins_are_registered_with_joblib_default_levels)
{
	static const struct {
		const char *name;
		unsigned id;
		int level;
	} want[] = {{"zlib", LRD_CODEC_ID_ZLIB, 3}, {"gzip", LRD_CODEC_ID_GZIP, 3},
	            {"bz2", LRD_CODEC_ID_BZ2, 9},   {"xz", LRD_CODEC_ID_XZ, 6},
	            {"lzma", LRD_CODEC_ID_LZMA, 6}, {"lz4", LRD_CODEC_ID_LZ4, 0}};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		const lrd_codec *c = lrd_codec_by_name(want[i].name);
		cr_assert(c, "%s is not registered", want[i].name);
		cr_expect_eq(c->id, want[i].id, "%s", c->name);
		cr_expect_eq(lrd_codec_level(c, NULL), want[i].level, "%s", c->name);
		cr_expect_eq(c->flags, LRD_CODEC_STREAM | LRD_CODEC_CHUNK, "%s", c->name);
		cr_expect(c->version() && *c->version(), "%s: no library version", c->name);
	}
}

Test(codecs, min_and_max_levels_reach_the_codec)
{
	unsigned char *src = tc_ramp_bytes(256 * KiB);
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		if (c->min_level == c->max_level)
			continue;
		/* Only the output can tell. Sizes alone may tie (xz -0 and -9 on a small input),
		 * but the streams differ: each format records something level-dependent (dictionary
		 * size, block parameters) or compresses differently. */
		lrd_codec_params lo = at_level(c->min_level), hi = at_level(c->max_level);
		size_t lo_len, hi_len;
		unsigned char *lo_out = compress_all(c, &lo, src, 256 * KiB, &lo_len);
		unsigned char *hi_out = compress_all(c, &hi, src, 256 * KiB, &hi_len);
		cr_expect(lo_len != hi_len || memcmp(lo_out, hi_out, lo_len) != 0,
		          "%s: levels %d and %d give identical output", c->name, c->min_level,
		          c->max_level);
		free(lo_out);
		free(hi_out);
	}
	free(src);
}

Test(codecs, round_trip_empty_input_at_default_min_max_level)
{
	round_trip_levels((const unsigned char *)"", 0, ALL_LEVELS);
}

Test(codecs, round_trip_one_byte_at_default_min_max_level)
{
	round_trip_levels((const unsigned char *)"x", 1, ALL_LEVELS);
}

Test(codecs, round_trip_incompressible_input_at_default_min_max_level)
{
	unsigned char *src = random_bytes(256 * KiB);
	round_trip_levels(src, 256 * KiB, ALL_LEVELS);
	free(src);
}

Test(codecs, round_trip_8mib_at_default_level)
{
	unsigned char *src = tc_ramp_bytes(8 * MiB);
	round_trip_levels(src, 8 * MiB, DEFAULT_LEVEL);
	free(src);
}

/* The extreme levels of some codecs run below 1 MB/s (zlib 9 and xz on this data), so the fast
 * tier takes 1 MiB and the long tier (this file built with LRD_TEST_LONG) the full 8 MiB. */
#ifdef LRD_TEST_LONG
#define LARGE_AT_EXTREMES (8 * MiB)
#else
#define LARGE_AT_EXTREMES (1 * MiB)
#endif

Test(codecs, round_trip_large_at_min_max_level)
{
	unsigned char *src = tc_ramp_bytes(LARGE_AT_EXTREMES);
	round_trip_levels(src, LARGE_AT_EXTREMES, MIN_MAX_LEVELS);
	free(src);
}

Test(codecs, too_small_output_buffer_gives_ebufsize)
{
	unsigned char *src = tc_ramp_bytes(100 * KiB);
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		size_t clen, out;
		unsigned char *z = compress_all(c, NULL, src, 100 * KiB, &clen);
		unsigned char *buf = malloc(100 * KiB);
		cr_expect_eq(lrd_codec_compress(c, NULL, src, 100 * KiB, buf, clen - 1, &out),
		             LRD_EBUFSIZE, "%s: compress into %zu bytes", c->name, clen - 1);
		expect_error_names_codec(c, "compress into a small buffer");
		cr_expect_eq(lrd_codec_compress(c, NULL, src, 100 * KiB, NULL, 0, &out),
		             LRD_EBUFSIZE, "%s: compress into 0 bytes", c->name);
		cr_expect_eq(lrd_codec_compress(c, NULL, src, 100 * KiB, buf, clen, &out), LRD_OK,
		             "%s: compress into exactly %zu bytes: %s", c->name, clen,
		             lrd_errmsg());
		cr_expect_eq(lrd_codec_decompress(c, NULL, z, clen, buf, 100 * KiB - 1, &out),
		             LRD_EBUFSIZE, "%s: decompress into one byte too few", c->name);
		expect_error_names_codec(c, "decompress into a small buffer");
		cr_expect_eq(lrd_codec_decompress(c, NULL, z, clen, NULL, 0, &out), LRD_EBUFSIZE,
		             "%s: decompress into 0 bytes", c->name);
		free(buf);
		free(z);
	}
	free(src);
}

/* Decompress bad input into a buffer with guard bytes; any outcome but a crash or an overrun
 * is checked by the caller. */
static int decompress_guarded(const lrd_codec *c, const void *z, size_t n, size_t cap,
                              unsigned char **out, size_t *outlen)
{
	unsigned char *buf = malloc(cap + 64);
	memset(buf, 0xa5, cap + 64);
	int rc = lrd_codec_decompress(c, NULL, z, n, buf, cap, outlen);
	for (size_t k = cap; k < cap + 64; k++)
		cr_assert_eq(buf[k], 0xa5, "%s: wrote past the output buffer", c->name);
	if (rc == LRD_OK)
		cr_assert_leq(*outlen, cap, "%s", c->name);
	*out = buf;
	return rc;
}

Test(codecs, truncated_input_is_corrupt)
{
	unsigned char *src = tc_ramp_bytes(64 * KiB);
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		size_t clen, out;
		unsigned char *z = compress_all(c, NULL, src, 64 * KiB, &clen);
		/* every offset in the first and last 64 bytes, and a spread in between */
		for (size_t cut = 0; cut < clen;
		     cut += (cut < 64 || cut + 64 >= clen) ? 1 : 1 + clen / 97) {
			unsigned char *buf;
			int rc = decompress_guarded(c, z, cut, 64 * KiB, &buf, &out);
			cr_expect_eq(rc, LRD_ECORRUPT, "%s: cut to %zu of %zu bytes: %s (%s)",
			             c->name, cut, clen, lrd_errname(rc), lrd_errmsg());
			if (rc == LRD_ECORRUPT)
				expect_error_names_codec(c, "truncated");
			free(buf);
		}
		free(z);
	}
	free(src);
}

Test(codecs, empty_input_is_corrupt)
{
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		unsigned char buf[16];
		size_t out;
		cr_expect_eq(lrd_codec_decompress(c, NULL, "", 0, buf, sizeof buf, &out),
		             LRD_ECORRUPT, "%s", c->name);
		expect_error_names_codec(c, "empty input");
	}
}

Test(codecs, flipped_bits_are_detected_or_harmless)
{
	unsigned char *src = tc_ramp_bytes(32 * KiB);
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		size_t clen, out;
		unsigned char *z = compress_all(c, NULL, src, 32 * KiB, &clen);
		size_t detected = 0, flips = 0;
		for (size_t at = 0; at < clen; at += at < 32 ? 1 : 1 + clen / 200) {
			for (int bit = 0; bit < 8; bit += at < 32 ? 1 : 3) {
				z[at] ^= (unsigned char)(1u << bit);
				unsigned char *buf;
				int rc = decompress_guarded(c, z, clen, 32 * KiB, &buf, &out);
				z[at] ^= (unsigned char)(1u << bit);
				flips++;
				if (rc != LRD_OK) {
					detected++;
					cr_expect(rc == LRD_ECORRUPT || rc == LRD_EBUFSIZE ||
					              rc == LRD_ELIMIT,
					          "%s: bit %d of byte %zu: %s (%s)", c->name, bit,
					          at, lrd_errname(rc), lrd_errmsg());
				} else if (checksummed(c)) {
					cr_expect(out == 32 * KiB && memcmp(buf, src, out) == 0,
					          "%s: bit %d of byte %zu: wrong output, no error",
					          c->name, bit, at);
				}
				free(buf);
			}
		}
		if (checksummed(c))
			cr_expect_gt(detected, flips / 2, "%s: only %zu of %zu flips detected",
			             c->name, detected, flips);
		free(z);
	}
	free(src);
}

Test(codecs, garbage_is_an_error)
{
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		for (size_t n = 1; n <= 4096; n *= 2) {
			for (int round = 0; round < 4; round++) {
				unsigned char *g = random_bytes(n), *buf;
				size_t out;
				int rc = decompress_guarded(c, g, n, 64 * KiB, &buf, &out);
				cr_expect(rc == LRD_ECORRUPT || rc == LRD_EBUFSIZE ||
				              rc == LRD_ELIMIT,
				          "%s: %zu random bytes: %s (%s)", c->name, n,
				          lrd_errname(rc), lrd_errmsg());
				free(buf);
				free(g);
			}
		}
	}
}

/* Run a whole stream through lrd_codec_stream_step, offering at most in_step new input bytes
 * and out_step output bytes per call. Returns the step's error or LRD_OK; *out is malloc'd. */
static int stream_run(const lrd_codec *c, const lrd_codec_params *p, lrd_codec_mode mode,
                      const unsigned char *src, size_t n, size_t in_step, size_t out_step,
                      unsigned char **out, size_t *outlen)
{
	lrd_codec_stream *s;
	int rc = lrd_codec_stream_new(c, p, mode, &s);
	if (rc)
		return rc;
	size_t cap = 4096, len = 0;
	unsigned char *buf = malloc(cap), *tmp = malloc(out_step);
	lrd_codec_io io = {src, 0, 0, tmp, out_step, 0};
	for (;;) {
		io.src_size = n - io.src_pos < in_step ? n : io.src_pos + in_step;
		int finish = io.src_size == n;
		size_t in0 = io.src_pos;
		io.dst_pos = 0;
		rc = lrd_codec_stream_step(s, &io, finish);
		if (rc < 0)
			break;
		while (len + io.dst_pos > cap) {
			unsigned char *nb = realloc(buf, cap *= 2);
			cr_assert(nb);
			buf = nb;
		}
		memcpy(buf + len, tmp, io.dst_pos);
		len += io.dst_pos;
		if (rc == 1 && finish && io.src_pos == n) {
			rc = LRD_OK;
			break;
		}
		if (rc == 1 && mode == LRD_CODEC_ENCODE) {
			rc = lrd_error_set(LRD_ECODEC, "%s: encoder ended before its input",
			                   c->name);
			break;
		}
		if (io.src_pos == in0 && io.dst_pos == 0 && finish) {
			rc = lrd_error_set(LRD_ECODEC, "%s: stream stalled", c->name);
			break;
		}
	}
	lrd_codec_stream_free(s);
	free(tmp);
	*out = buf;
	*outlen = len;
	return rc;
}

static void stream_round_trip(size_t n, size_t in_step, size_t out_step)
{
	unsigned char *src = tc_ramp_bytes(n);
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		if (!streams(c))
			continue;
		unsigned char *z, *back, *back1 = malloc(n);
		size_t zlen, blen, b1len;
		int rc =
		    stream_run(c, NULL, LRD_CODEC_ENCODE, src, n, in_step, out_step, &z, &zlen);
		cr_assert_eq(rc, LRD_OK, "%s: stream encode: %s", c->name, lrd_errmsg());
		cr_expect_leq(zlen, lrd_codec_bound(c, n, NULL), "%s: stream output above bound",
		              c->name);
		rc =
		    stream_run(c, NULL, LRD_CODEC_DECODE, z, zlen, in_step, out_step, &back, &blen);
		cr_assert_eq(rc, LRD_OK, "%s: stream decode: %s", c->name, lrd_errmsg());
		cr_assert(blen == n && memcmp(back, src, n) == 0, "%s: stream round trip differs",
		          c->name);
		/* the stream form and the one-shot form read each other */
		rc = lrd_codec_decompress(c, NULL, z, zlen, back1, n, &b1len);
		cr_assert(rc == LRD_OK && b1len == n && memcmp(back1, src, n) == 0,
		          "%s: one-shot decode of stream output: %s", c->name, lrd_errmsg());
		free(z);
		free(back);
		free(back1);
	}
	free(src);
}

Test(codecs, stream_round_trip_with_one_byte_buffers) { stream_round_trip(20 * KiB, 1, 1); }

Test(codecs, stream_round_trip_with_large_buffers)
{
	stream_round_trip(3 * MiB, 1 * MiB, 512 * KiB);
}

Test(codecs, stream_truncated_input_is_corrupt)
{
	unsigned char *src = tc_ramp_bytes(50 * KiB);
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		if (!streams(c))
			continue;
		size_t clen, len;
		unsigned char *z = compress_all(c, NULL, src, 50 * KiB, &clen), *out;
		for (size_t cut = 0; cut < clen; cut += 1 + clen / 50) {
			int rc = stream_run(c, NULL, LRD_CODEC_DECODE, z, cut, 7, 13, &out, &len);
			cr_expect_eq(rc, LRD_ECORRUPT, "%s: stream cut to %zu of %zu: %s", c->name,
			             cut, clen, lrd_errmsg());
			free(out);
		}
		free(z);
	}
	free(src);
}

Test(codecs, bomb_is_refused_by_limit_without_allocating_it)
{
	/* calloc'd zeros are not resident until written; compressing only reads them */
	size_t n = 64 * MiB;
	unsigned char *zeros = calloc(n, 1);
	int rss_bounds =
	    tc_rss_bounds_apply("codecs::bomb_is_refused_by_limit_without_allocating_it");
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		size_t clen, out;
		lrd_codec_params fast = at_level(c->min_level);
		unsigned char *z = compress_all(c, &fast, zeros, n, &clen);
		unsigned char *small = malloc(MiB);
		cr_expect_eq(lrd_codec_decompress(c, NULL, z, clen, small, MiB, &out), LRD_EBUFSIZE,
		             "%s: one-shot bomb into 1 MiB", c->name);
		free(small);
		void *big = NULL;
		size_t biglen = 0;
		long before = tc_maxrss_kib();
		int rc = lrd_codec_decompress_alloc(c, NULL, z, clen, MiB, &big, &biglen);
		long grown = tc_maxrss_kib() - before;
		if (streams(c)) {
			cr_expect_eq(rc, LRD_ELIMIT, "%s: bomb of %zu bytes: %s", c->name, clen,
			             lrd_errmsg());
			expect_error_names_codec(c, "bomb");
			if (rss_bounds)
				cr_expect_lt(grown, 40 * 1024, "%s: peak memory grew by %ld KiB",
				             c->name, grown);
		} else {
			cr_expect_eq(rc, LRD_EUNSUPPORTED, "%s", c->name);
		}
		cr_expect_null(big, "%s", c->name);
		free(z);
	}
	free(zeros);
}

Test(codecs, decompress_alloc_returns_whole_output_within_limit)
{
	unsigned char *src = tc_ramp_bytes(300 * KiB);
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		if (!streams(c))
			continue;
		size_t clen, outlen;
		unsigned char *z = compress_all(c, NULL, src, 300 * KiB, &clen);
		void *out;
		int rc = lrd_codec_decompress_alloc(c, NULL, z, clen, 300 * KiB, &out, &outlen);
		cr_assert_eq(rc, LRD_OK, "%s: limit equal to the size: %s", c->name, lrd_errmsg());
		cr_expect(outlen == 300 * KiB && memcmp(out, src, outlen) == 0, "%s", c->name);
		lrd_free(out);
		rc = lrd_codec_decompress_alloc(c, NULL, z, clen, 300 * KiB - 1, &out, &outlen);
		cr_expect_eq(rc, LRD_ELIMIT, "%s: limit one byte short", c->name);
		rc = lrd_codec_decompress_alloc(c, NULL, z, clen, 0, &out, &outlen);
		cr_expect(rc == LRD_OK && outlen == 300 * KiB, "%s: no limit: %s", c->name,
		          lrd_errmsg());
		lrd_free(out);
		free(z);
	}
	free(src);
}

Test(codecs, concatenated_members_decode)
{
	unsigned char *a = tc_ramp_bytes(40 * KiB), *b = random_bytes(3000);
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		if (!streams(c))
			continue;
		size_t alen, blen, elen, out;
		unsigned char *za = compress_all(c, NULL, a, 40 * KiB, &alen);
		unsigned char *zb = compress_all(c, NULL, b, 3000, &blen);
		unsigned char *ze = compress_all(c, NULL, "", 0, &elen);
		size_t n = alen + elen + blen;
		unsigned char *cat = malloc(n + 3);
		memcpy(cat, za, alen);
		memcpy(cat + alen, ze, elen);
		memcpy(cat + alen + elen, zb, blen);
		unsigned char *back = malloc(43 * KiB);
		int rc = lrd_codec_decompress(c, NULL, cat, n, back, 43 * KiB, &out);
		cr_assert_eq(rc, LRD_OK, "%s: three members: %s", c->name, lrd_errmsg());
		cr_expect(out == 40 * KiB + 3000 && memcmp(back, a, 40 * KiB) == 0 &&
		              memcmp(back + 40 * KiB, b, 3000) == 0,
		          "%s: members decoded wrong", c->name);
		void *all;
		rc = lrd_codec_decompress_alloc(c, NULL, cat, n, 0, &all, &out);
		cr_expect(rc == LRD_OK && out == 40 * KiB + 3000, "%s: alloc: %s", c->name,
		          lrd_errmsg());
		lrd_free(all);
		/* trailing garbage after the last member */
		memcpy(cat + n, "xyz", 3);
		rc = lrd_codec_decompress(c, NULL, cat, n + 3, back, 43 * KiB, &out);
		cr_expect_eq(rc, LRD_ECORRUPT, "%s: trailing garbage: %s", c->name,
		             lrd_errname(rc));
		free(back);
		free(cat);
		free(za);
		free(zb);
		free(ze);
	}
	free(a);
	free(b);
}

Test(codecs, lookup_by_name_id_filename_and_magic)
{
	cr_expect_eq(lrd_codec_by_filename("model.lrd.gz"), lrd_codec_by_name("gzip"));
	cr_expect_eq(lrd_codec_by_filename("/data/run.1/model.npy.xz"), lrd_codec_by_name("xz"));
	cr_expect_null(lrd_codec_by_filename("x.gz.bak"));
	cr_expect_null(lrd_codec_by_filename("x.lrd"));
	cr_expect_null(lrd_codec_by_filename("dir.gz/x"));
	cr_expect_null(lrd_codec_by_filename(".gz"));
	cr_expect_null(lrd_codec_by_filename("x.GZ"));
	cr_expect_null(lrd_codec_by_id(LRD_CODEC_ID_RAW));
	cr_expect_null(lrd_codec_by_id(255));
	cr_expect_null(lrd_codec_by_name("raw"));
	cr_expect_null(lrd_codec_by_name("none"));
	cr_expect_null(lrd_codec_sniff("hello, world", 12));
	size_t magic_max = lrd_codec_magic_max();
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		cr_expect_eq(lrd_codec_by_name(c->name), c, "%s", c->name);
		cr_expect_eq(lrd_codec_by_id(c->id), c, "%s", c->name);
		cr_expect_leq(c->magic_size, magic_max, "%s", c->name);
		if (i > 0)
			cr_expect_lt(lrd_codec_at(i - 1)->id, c->id, "registry not in id order");
		for (const char *const *e = c->extensions; e && *e; e++) {
			char name[64];
			snprintf(name, sizeof name, "model.lrd%s", *e);
			cr_expect_eq(lrd_codec_by_filename(name), c, "%s: %s", c->name, name);
			snprintf(name, sizeof name, "x%s.bak", *e);
			cr_expect_null(lrd_codec_by_filename(name), "%s: %s", c->name, name);
		}
		if (c->magic_size) {
			size_t len;
			unsigned char *z = compress_all(c, NULL, "abc", 3, &len);
			cr_expect_eq(lrd_codec_sniff(z, len), c, "%s: sniff", c->name);
			cr_expect_null(lrd_codec_sniff(z, c->magic_size - 1),
			               "%s: sniff of a short head", c->name);
			free(z);
		}
	}
	cr_expect_null(lrd_codec_at(lrd_codec_count()));
}

Test(codecs, sniffing_rarely_claims_random_data_and_never_text)
{
	size_t hits[256] = {0}, rounds = 100000;
	unsigned char head[64];
	for (size_t r = 0; r < rounds; r++) {
		tc_fill_random(head, sizeof head);
		const lrd_codec *c = lrd_codec_sniff(head, sizeof head);
		if (c)
			hits[c->id]++;
	}
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		cr_expect_leq(hits[c->id], rounds / 1000, "%s claims %zu of %zu random heads",
		              c->name, hits[c->id], rounds);
	}
#define HEAD(lit)                                                                                  \
	{                                                                                          \
		lit, sizeof lit - 1                                                                \
	}
	static const struct {
		const char *p;
		size_t n;
	} heads[] = {
	    HEAD("hello, world: this is plain text and no codec's stream"),
	    HEAD("\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"),
	    HEAD("PK\x03\x04\x14\x00\x00\x00\x08\x00 a zip file's head, not a stream"),
	    HEAD("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
	    /* lzma-alone-like: valid properties and dictionary, but no zero at offset 13 */
	    HEAD("]\x00\x00\x80\x00\xff\xff\xff\xff\xff\xff\xff\xff\x01 and text"),
	    /* ... and with the zero, but an absurd uncompressed size */
	    HEAD("]\x00\x00\x80\x00\xff\xff\xff\xff\xff\xff\xff\x7f\x00 and text"),
	};
#undef HEAD
	for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
		const lrd_codec *c = lrd_codec_sniff(heads[i].p, heads[i].n);
		cr_expect_null(c, "head %zu sniffed as %s", i, c ? c->name : "");
	}
	/* the real lzma-alone header those two are edited from is claimed */
	cr_expect_eq(lrd_codec_sniff("]\x00\x00\x80\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00", 14),
	             lrd_codec_by_name("lzma"));
}

/* A user codec: "XOR" + 8-byte little-endian length + the bytes xor 0x5a. */
static const char *xor_version(void) { return "1"; }
static int xor_sniff(const void *h, size_t n) { return n >= 3 && memcmp(h, "XOR", 3) == 0; }
static size_t xor_bound(size_t n, const lrd_codec_params *p) { return n + 11; }

static int xor_compress(const lrd_codec_params *p, const void *src, size_t n, void *dst, size_t cap,
                        size_t *out)
{
	if (cap < n + 11)
		return lrd_error_set(LRD_EBUFSIZE, "test-xor: %zu bytes do not fit %zu", n + 11,
		                     cap);
	unsigned char *d = dst;
	memcpy(d, "XOR", 3);
	for (int k = 0; k < 8; k++)
		d[3 + k] = (unsigned char)((uint64_t)n >> (8 * k));
	for (size_t k = 0; k < n; k++)
		d[11 + k] = ((const unsigned char *)src)[k] ^ 0x5a;
	*out = n + 11;
	return LRD_OK;
}

static int xor_decompress(const lrd_codec_params *p, const void *src, size_t n, void *dst,
                          size_t cap, size_t *out)
{
	const unsigned char *s = src;
	if (n < 11 || !xor_sniff(s, n))
		return lrd_error_set(LRD_ECORRUPT, "test-xor: bad header");
	uint64_t len = 0;
	for (int k = 0; k < 8; k++)
		len |= (uint64_t)s[3 + k] << (8 * k);
	if (len != n - 11)
		return lrd_error_set(LRD_ECORRUPT, "test-xor: truncated");
	if (len > cap)
		return lrd_error_set(LRD_EBUFSIZE, "test-xor: output larger than %zu bytes", cap);
	for (size_t k = 0; k < len; k++)
		((unsigned char *)dst)[k] = s[11 + k] ^ 0x5a;
	*out = len;
	return LRD_OK;
}

static const char *const xor_ext[] = {".xortest", NULL};
static const lrd_codec xor_codec = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "test-xor",
    .id = 200,
    .flags = LRD_CODEC_CHUNK,
    .extensions = xor_ext,
    .min_level = 1,
    .max_level = 1,
    .default_level = 1,
    .magic_size = 3,
    .version = xor_version,
    .sniff = xor_sniff,
    .bound = xor_bound,
    .compress = xor_compress,
    .decompress = xor_decompress,
};

Test(codecs, user_codec_registered_at_run_time)
{
	size_t before = lrd_codec_count();
	cr_assert_eq(lrd_codec_register(&xor_codec), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_codec_count(), before + 1);
	cr_expect_eq(lrd_codec_by_name("test-xor"), &xor_codec);
	cr_expect_eq(lrd_codec_by_id(200), &xor_codec);
	cr_expect_eq(lrd_codec_by_filename("a.lrd.xortest"), &xor_codec);
	cr_expect_eq(lrd_codec_sniff("XOR\0", 4), &xor_codec);
	cr_expect_null(lrd_codec_origin(&xor_codec));
	cr_expect_eq(lrd_codec_register(&xor_codec), LRD_EEXIST);

	lrd_codec clash = xor_codec;
	clash.name = "test-xor2";
	clash.id = LRD_CODEC_ID_GZIP;
	clash.extensions = NULL;
	cr_expect_eq(lrd_codec_register(&clash), LRD_EEXIST, "clashing id");
	clash.id = 201;
	clash.name = "gzip";
	cr_expect_eq(lrd_codec_register(&clash), LRD_EEXIST, "clashing name");
	clash.name = "test-xor3";
	clash.abi = LRD_CODEC_ABI_VERSION + 1;
	cr_expect_eq(lrd_codec_register(&clash), LRD_EVERSION, "wrong abi");
	clash.abi = LRD_CODEC_ABI_VERSION;
	clash.decompress = NULL;
	cr_expect_eq(lrd_codec_register(&clash), LRD_EINVAL, "missing function");
	clash.decompress = xor_decompress;
	clash.id = LRD_CODEC_ID_RAW;
	cr_expect_eq(lrd_codec_register(&clash), LRD_EINVAL, "raw id");
	clash.id = 202;
	clash.flags |= LRD_CODEC_STREAM;
	cr_expect_eq(lrd_codec_register(&clash), LRD_EINVAL, "stream flag without functions");
	cr_expect_eq(lrd_codec_count(), before + 1, "a refused codec was registered");

	/* the conformance checks that apply to a chunk codec, now including test-xor */
	unsigned char *src = random_bytes(5000);
	round_trip_levels(src, 5000, ALL_LEVELS);
	round_trip_levels(src, 0, ALL_LEVELS);
	size_t len, out;
	unsigned char *z = compress_all(&xor_codec, NULL, src, 5000, &len), buf[5000];
	cr_expect_eq(lrd_codec_decompress(&xor_codec, NULL, z, len - 1, buf, 5000, &out),
	             LRD_ECORRUPT);
	cr_expect_eq(lrd_codec_decompress(&xor_codec, NULL, z, len, buf, 4999, &out), LRD_EBUFSIZE);
	lrd_codec_stream *s;
	cr_expect_eq(lrd_codec_stream_new(&xor_codec, NULL, LRD_CODEC_DECODE, &s),
	             LRD_EUNSUPPORTED);
	free(z);
	free(src);
}

/* Run every operation of a codec with the k-th allocation failing, for growing k, until one
 * run has no failure left to inject: every run must succeed or give LRD_ENOMEM. */
Test(codecs, allocation_failure_gives_enomem_cleanly)
{
	unsigned char *src = tc_ramp_bytes(200 * KiB);
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		size_t clen, out;
		unsigned char *z = compress_all(c, NULL, src, 200 * KiB, &clen);
		unsigned char *dst = malloc(lrd_codec_bound(c, 200 * KiB, NULL));
		size_t nomem = 0;
		for (long k = 0; k < 200; k++) {
			int rcs[4];
			lrd__alloc_failafter(k);
			rcs[0] = lrd_codec_compress(c, NULL, src, 200 * KiB, dst, clen, &out);
			lrd__alloc_failafter(k);
			rcs[1] = lrd_codec_decompress(c, NULL, z, clen, dst, 200 * KiB, &out);
			if (rcs[1] == LRD_OK)
				cr_expect(out == 200 * KiB && memcmp(dst, src, out) == 0, "%s",
				          c->name);
			void *all = NULL;
			lrd__alloc_failafter(k);
			rcs[2] = streams(c)
			             ? lrd_codec_decompress_alloc(c, NULL, z, clen, 0, &all, &out)
			             : LRD_OK;
			lrd_free(all);
			lrd_codec_stream *s = NULL;
			lrd__alloc_failafter(k);
			rcs[3] = streams(c) ? lrd_codec_stream_new(c, NULL, LRD_CODEC_ENCODE, &s)
			                    : LRD_OK;
			lrd_codec_stream_free(s);
			lrd__alloc_failafter(-1);
			bool all_ok = true;
			for (int r = 0; r < 4; r++) {
				cr_expect(rcs[r] == LRD_OK || rcs[r] == LRD_ENOMEM,
				          "%s: operation %d with allocation %ld failing: %s (%s)",
				          c->name, r, k, lrd_errname(rcs[r]), lrd_errmsg());
				nomem += rcs[r] == LRD_ENOMEM;
				all_ok = all_ok && rcs[r] == LRD_OK;
			}
			if (all_ok)
				break;
		}
		/* a chunk-only codec may allocate only inside its library (libblosc has no
		 * allocator hook); a streaming one always allocates its state through larder */
		if (streams(c))
			cr_expect_gt(nomem, 0, "%s: no allocation failure was ever injected",
			             c->name);
		free(dst);
		free(z);
	}
	free(src);
}

Test(codecs, params_with_nonzero_reserved_words_are_refused)
{
	const lrd_codec *c = lrd_codec_by_name("gzip");
	cr_assert(c);
	lrd_codec_params p = {0};
	p.reserved[4] = 1;
	unsigned char src[16] = {0}, dst[256];
	size_t out;
	cr_expect_eq(lrd_codec_compress(c, &p, src, sizeof src, dst, sizeof dst, &out), LRD_EINVAL);
	cr_expect(strstr(lrd_errmsg(), "lrd_codec_params.reserved[4]"), "%s", lrd_errmsg());
	cr_expect_eq(lrd_codec_decompress(c, &p, src, sizeof src, dst, sizeof dst, &out),
	             LRD_EINVAL);
	lrd_codec_stream *s = (lrd_codec_stream *)1;
	cr_expect_eq(lrd_codec_stream_new(c, &p, LRD_CODEC_ENCODE, &s), LRD_EINVAL);
	cr_expect_null(s);
	void *big;
	cr_expect_eq(lrd_codec_decompress_alloc(c, &p, src, sizeof src, 0, &big, &out), LRD_EINVAL);
	cr_expect_eq(lrd_codec_level(NULL, NULL), 0); /* a NULL codec is answered, not followed */
	cr_expect_eq(lrd_codec_bound(NULL, 10, NULL), 0);
}
