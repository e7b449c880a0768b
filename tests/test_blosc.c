/* blosc: round trips over shuffle modes, type sizes, inner compressors and thread counts;
 * headers that lie about their sizes; the 2 GiB per-call limit; concurrent use. */
#include <blosc.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <larder.h>

#include "tests/common/common.h"

static const lrd_codec *blosc(void)
{
	const lrd_codec *c = lrd_codec_by_name("blosc");
	cr_assert(c, "blosc is not registered");
	return c;
}

/* Compress n bytes of a ramp; returns the compressed buffer (malloc'd) and its length. */
static unsigned char *packed(const lrd_codec_params *p, size_t n, unsigned char **src, size_t *clen)
{
	const lrd_codec *c = blosc();
	*src = malloc(n + 8);
	tc_fill_ramp((int64_t *)*src, n / 8 + 1);
	size_t cap = lrd_codec_bound(c, n, p);
	unsigned char *dst = malloc(cap);
	cr_assert_eq(lrd_codec_compress(c, p, *src, n, dst, cap, clen), LRD_OK, "%s", lrd_errmsg());
	return dst;
}

static void round_trip(const lrd_codec_params *p, size_t n)
{
	unsigned char *src, *back = malloc(n + 1);
	size_t clen, dlen;
	unsigned char *dst = packed(p, n, &src, &clen);
	cr_assert_eq(lrd_codec_decompress(blosc(), p, dst, clen, back, n, &dlen), LRD_OK, "%s",
	             lrd_errmsg());
	cr_assert_eq(dlen, n);
	cr_assert(memcmp(src, back, n) == 0, "typesize %zu shuffle %d inner %s threads %d level %d",
	          p->typesize, p->shuffle, p->inner ? p->inner : "-", p->threads, p->level);
	free(src);
	free(back);
	free(dst);
}

Test(blosc, round_trips_every_shuffle_typesize_and_inner)
{
	static const char *inner[] = {NULL, "lz4", "lz4hc", "zstd", "zlib", "blosclz"};
	static const lrd_shuffle shuffles[] = {LRD_SHUFFLE_DEFAULT, LRD_SHUFFLE_NONE,
	                                       LRD_SHUFFLE_BYTE, LRD_SHUFFLE_BIT};
	static const size_t typesizes[] = {1, 2, 4, 8, 16, 300};
	for (size_t i = 0; i < sizeof inner / sizeof *inner; i++)
		for (size_t s = 0; s < sizeof shuffles / sizeof *shuffles; s++)
			for (size_t t = 0; t < sizeof typesizes / sizeof *typesizes; t++) {
				lrd_codec_params p = {.typesize = typesizes[t],
				                      .shuffle = shuffles[s],
				                      .inner = inner[i]};
				round_trip(&p, 100003);
			}
}

Test(blosc, round_trips_with_threads_and_levels)
{
	for (int threads = 1; threads <= 4; threads++)
		for (int level = 0; level <= 9; level += 3) {
			lrd_codec_params p = {.typesize = 8, .threads = threads, .level = level};
			round_trip(&p, 3 << 20);
		}
	lrd_codec_params p = {0};
	round_trip(&p, 0);
	round_trip(&p, 1);
}

Test(blosc, levels_are_0_9_default_5_and_others_refused)
{
	const lrd_codec *c = blosc();
	cr_expect_eq(lrd_codec_level(c, NULL), 5);
	cr_expect_eq(lrd_codec_level(c, &(lrd_codec_params){.level = LRD_CODEC_LEVEL_ZERO}), 0);
	char src[64] = {0}, dst[512];
	size_t out;
	static const int bad[] = {-1, -3, 10, 42};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		lrd_codec_params p = {.level = bad[i]};
		cr_expect_eq(lrd_codec_compress(c, &p, src, sizeof src, dst, sizeof dst, &out),
		             LRD_EINVAL, "level %d", bad[i]);
		cr_expect(strstr(lrd_errmsg(), "0..9"), "%s", lrd_errmsg());
	}
}

Test(blosc, shuffle_helps_typed_data)
{
	size_t n = 1 << 20, plain, shuffled;
	unsigned char *src, *a, *b;
	a = packed(&(lrd_codec_params){.typesize = 8, .shuffle = LRD_SHUFFLE_NONE}, n, &src,
	           &plain);
	free(src);
	b = packed(&(lrd_codec_params){.typesize = 8, .shuffle = LRD_SHUFFLE_BYTE}, n, &src,
	           &shuffled);
	cr_expect_lt(shuffled, plain, "shuffled %zu, plain %zu", shuffled, plain);
	free(src);
	free(a);
	free(b);
}

Test(blosc, unknown_inner_compressor_is_invalid)
{
	const lrd_codec *c = blosc();
	unsigned char in[64] = {0}, out[128];
	size_t len;
	lrd_codec_params p = {.inner = "snappy2"};
	cr_expect_eq(lrd_codec_compress(c, &p, in, sizeof in, out, sizeof out, &len), LRD_EINVAL);
	cr_expect(strstr(lrd_errmsg(), "snappy2"));
}

/* Decompress `buf` (len bytes) into a generous buffer and return the code. */
static int unpack(const void *buf, size_t len, size_t cap)
{
	unsigned char *out = malloc(cap ? cap : 1);
	size_t dlen;
	int rc = lrd_codec_decompress(blosc(), NULL, buf, len, out, cap, &dlen);
	free(out);
	return rc;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

Test(blosc, lying_headers_are_corrupt)
{
	size_t n = 200000, clen;
	unsigned char *src;
	unsigned char *good = packed(&(lrd_codec_params){.typesize = 8}, n, &src, &clen);
	unsigned char *bad = malloc(clen + 16);

	memcpy(bad, good, clen);
	put32(bad + 12, (uint32_t)clen + 100); /* compressed size larger than the buffer */
	cr_expect_eq(unpack(bad, clen, 4 * n), LRD_ECORRUPT);

	memcpy(bad, good, clen);
	put32(bad + 4, (uint32_t)n * 3); /* raw size larger than what was compressed */
	cr_expect_eq(unpack(bad, clen, 4 * n), LRD_ECORRUPT, "%s", lrd_errmsg());

	memcpy(bad, good, clen);
	put32(bad + 4, (uint32_t)n / 3); /* raw size smaller */
	cr_expect_eq(unpack(bad, clen, 4 * n), LRD_ECORRUPT, "%s", lrd_errmsg());

	memcpy(bad, good, clen);
	put32(bad + 4, 0xfffffff0u); /* beyond blosc's limit */
	cr_expect_eq(unpack(bad, clen, 4 * n), LRD_ECORRUPT);

	memcpy(bad, good, clen);
	bad[0] = 9; /* unknown format version */
	cr_expect_eq(unpack(bad, clen, 4 * n), LRD_ECORRUPT);

	cr_expect_eq(unpack(good, clen - 1, 4 * n), LRD_ECORRUPT, "truncated");
	memcpy(bad, good, clen);
	memset(bad + clen, 0, 16);
	cr_expect_eq(unpack(bad, clen + 16, 4 * n), LRD_ECORRUPT, "trailing bytes");
	cr_expect_eq(unpack(good, 0, 4 * n), LRD_ECORRUPT, "empty");
	cr_expect_eq(unpack(good, 10, 4 * n), LRD_ECORRUPT, "short header");
	cr_expect_eq(unpack(good, clen, n - 1), LRD_EBUFSIZE, "output above the cap");
	cr_expect_eq(unpack(good, clen, n), LRD_OK);
	free(src);
	free(good);
	free(bad);
}

Test(blosc, random_bytes_never_crash_the_decoder)
{
	unsigned char buf[4096], hdr[16];
	size_t clen;
	unsigned char *src;
	unsigned char *good = packed(&(lrd_codec_params){.typesize = 4}, 50000, &src, &clen);
	memcpy(hdr, good, 16);
	for (int round = 0; round < 2000; round++) {
		size_t len = 16 + tc_rand() % (sizeof buf - 16);
		tc_fill_random(buf, len);
		/* a valid header over random payload reaches blosc's own checks */
		memcpy(buf, hdr, 16);
		put32(buf + 12, (uint32_t)len);
		int rc = unpack(buf, len, 60000);
		cr_expect(rc == LRD_OK || rc == LRD_ECORRUPT || rc == LRD_EBUFSIZE, "rc %d", rc);
	}
	free(src);
	free(good);
}

Test(blosc, bound_and_compress_refuse_beyond_2_gib)
{
	const lrd_codec *c = blosc();
	size_t big = (size_t)3 << 30;
	cr_expect_eq(lrd_codec_bound(c, big, NULL), 0);
	cr_expect_eq(lrd_codec_bound(c, 1000, NULL), 1000 + BLOSC_MAX_OVERHEAD);
	unsigned char in[1], out[64];
	size_t len;
	/* refused on the length alone, before the (deliberately tiny) source is read */
	cr_expect_eq(lrd_codec_compress(c, NULL, in, big, out, sizeof out, &len), LRD_ELIMIT);
}

Test(blosc, too_small_output_is_bufsize)
{
	const lrd_codec *c = blosc();
	size_t n = 10000, len;
	unsigned char *in = malloc(n), out[100];
	tc_fill_random(in, n);
	cr_expect_eq(lrd_codec_compress(c, NULL, in, n, out, sizeof out, &len), LRD_EBUFSIZE);
	cr_expect_eq(lrd_codec_compress(c, NULL, in, n, out, 8, &len), LRD_EBUFSIZE);
	free(in);
}

Test(blosc, sniff_knows_its_own_output_only)
{
	const lrd_codec *c = blosc();
	size_t clen;
	unsigned char *src;
	unsigned char *good = packed(&(lrd_codec_params){.typesize = 8}, 100000, &src, &clen);
	cr_expect_eq(lrd_codec_sniff(good, clen), c);
	cr_expect_eq(c->sniff(good, 15), 0, "fewer bytes than a header");
	unsigned char zeros[16] = {0};
	cr_expect_eq(c->sniff(zeros, sizeof zeros), 0);
	int hits = 0;
	for (int i = 0; i < 100000; i++) {
		unsigned char r[16];
		tc_fill_random(r, sizeof r);
		hits += c->sniff(r, sizeof r);
	}
	/* blosc has no magic number: the header checks reject all but about one in a million */
	cr_expect_leq(hits, 10, "random headers taken for blosc: %d in 100000", hits);
	free(src);
	free(good);
}

static void *worker(void *arg)
{
	const lrd_codec *c = lrd_codec_by_name("blosc");
	size_t n = 1 << 20, clen, dlen;
	int64_t *src = malloc(n);
	for (size_t i = 0; i < n / 8; i++)
		src[i] = (int64_t)(i * 3 + (uintptr_t)arg);
	size_t cap = lrd_codec_bound(c, n, NULL);
	unsigned char *dst = malloc(cap), *back = malloc(n);
	lrd_codec_params p = {.typesize = 8, .threads = 2};
	int ok = 1;
	for (int round = 0; round < 10 && ok; round++)
		ok = lrd_codec_compress(c, &p, src, n, dst, cap, &clen) == LRD_OK &&
		     lrd_codec_decompress(c, &p, dst, clen, back, n, &dlen) == LRD_OK &&
		     dlen == n && memcmp(src, back, n) == 0;
	free(src);
	free(dst);
	free(back);
	return ok ? arg : NULL;
}

Test(blosc, threads_compress_concurrently)
{
	enum { N = 4 };
	pthread_t t[N];
	for (uintptr_t i = 0; i < N; i++)
		pthread_create(&t[i], NULL, worker, (void *)(i + 1));
	for (uintptr_t i = 0; i < N; i++) {
		void *r;
		pthread_join(t[i], &r);
		cr_expect_eq(r, (void *)(i + 1), "thread %zu failed", (size_t)i);
	}
}
