/* format: the bytes of .lrd files (FORMAT.md) — chunk records, value tree encoding, golden
 * files, and bad input of every kind: truncation at every offset, bit flips, lying lengths and
 * shapes, size mismatches, unknown codecs, newer versions, foreign formats. Each must give a
 * specific error, never a crash, hang or oversized allocation. Linked statically: it checks
 * internal records (engine/record/chunk.h, engine/record/tree.h) directly. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <larder.h>

#include "engine/record/chunk.h"
#include "engine/record/tree.h"
#include "tests/common/common.h"

#define OK(expr)                                                                                   \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		cr_assert_eq(rc_, LRD_OK, "%s: %s (%s)", #expr, lrd_errname(rc_), lrd_errmsg());   \
	} while (0)

#define FAILS_WITH(expr, code)                                                                     \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		cr_assert_eq(rc_, code, "%s: %s, expected %s (%s)", #expr, lrd_errname(rc_),       \
		             lrd_errname(code), lrd_errmsg());                                     \
	} while (0)

/* ---- a hand builder of logical streams ------------------------------------------------------ */

struct fb {
	uint8_t *p;
	size_t n, cap;
	XXH3_state_t *h;
};

static void fb_put(struct fb *b, const void *p, size_t n, int meta)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	if (meta)
		XXH3_64bits_update(b->h, p, n);
}
static void meta(struct fb *b, const void *p, size_t n) { fb_put(b, p, n, 1); }
static void u8(struct fb *b, uint8_t v) { meta(b, &v, 1); }
static void varint(struct fb *b, uint64_t v)
{
	do {
		u8(b, (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0)));
		v >>= 7;
	} while (v);
}
static void pad64(struct fb *b)
{
	while (b->n % 64)
		u8(b, 0);
}
static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static struct fb fb_begin(unsigned major)
{
	struct fb b = {0};
	b.h = XXH3_createState();
	XXH3_64bits_reset(b.h);
	uint8_t h[32] = "\x89LRD\r\n\x1a\n";
	h[8] = (uint8_t)major;
	memcpy(h + 16, "hand builder", 12);
	meta(&b, h, 32);
	return b;
}

static void fb_end(struct fb *b)
{
	uint8_t t[16];
	le64(t, XXH3_64bits_digest(b->h));
	memcpy(t + 8, "LRDEND\r\n", 8);
	fb_put(b, t, 16, 0);
	XXH3_freeState(b->h);
}

static void array_header(struct fb *b, const char *ts, unsigned ndim, const uint64_t *shape)
{
	u8(b, 0x09);
	varint(b, strlen(ts));
	meta(b, ts, strlen(ts));
	u8(b, 0);
	u8(b, (uint8_t)ndim);
	for (unsigned i = 0; i < ndim; i++)
		varint(b, shape[i]);
}

static void chunk_hdr(struct fb *b, uint8_t codec, uint64_t raw, uint64_t stored, uint64_t sum)
{
	uint8_t h[32] = {codec};
	le64(h + 8, raw);
	le64(h + 16, stored);
	le64(h + 24, sum);
	meta(b, h, 32);
}

static int load_fb(struct fb *b, lrd_value **out)
{
	int rc = lrd_load_memory(b->p, b->n, out, NULL);
	if (rc == LRD_OK)
		lrd_value_free(*out);
	free(b->p);
	return rc;
}

/* ---- chunk records --------------------------------------------------------------------------- */

Test(format, chunk_header_encodes_and_validates)
{
	lrd__chunk c = {.codec = 0, .raw_size = 100, .stored_size = 100, .checksum = 0x1234}, d;
	uint8_t b[LRD__CHUNK_HDR_SIZE];
	lrd__chunk_encode(&c, b);
	cr_assert_eq(b[8], 100);
	cr_assert_eq(b[24], 0x34);
	OK(lrd__chunk_decode(b, 100, 100, &d));
	cr_assert_eq(d.checksum, 0x1234);
	FAILS_WITH(lrd__chunk_decode(b, 99, 100, &d), LRD_ECORRUPT); /* raw over the limit */
	FAILS_WITH(lrd__chunk_decode(b, 100, 99, &d), LRD_ECORRUPT); /* stored over what is left */
	b[1] = 1;
	FAILS_WITH(lrd__chunk_decode(b, 100, 100, &d), LRD_ECORRUPT); /* unknown flag */
	b[1] = 0;
	b[0] = 177;
	FAILS_WITH(lrd__chunk_decode(b, 100, 100, &d), LRD_ECODEC);
	cr_assert(strstr(lrd_errmsg(), "177"), "%s", lrd_errmsg());
	cr_assert_eq(d.codec, 177); /* still filled for verify */
	b[0] = 0;
	le64(b + 16, 50);
	FAILS_WITH(lrd__chunk_decode(b, 100, 100, &d), LRD_ECORRUPT); /* raw with stored != raw */
}

Test(format, chunk_compress_falls_back_to_raw_and_round_trips)
{
	uint8_t src[8192], out[8192], scratch[16384];
	const void *stored;
	lrd__chunk c;
	tc_fill_random(src, sizeof src);
	const lrd_codec *z = lrd_codec_by_name("zlib");
	cr_assert(z);
	OK(lrd__chunk_compress(z, NULL, src, sizeof src, scratch, sizeof scratch, &c, &stored));
	cr_assert_eq(c.codec, LRD_CODEC_ID_RAW, "random data must stay raw");
	cr_assert_eq(stored, (const void *)src, "a raw chunk is not copied");
	memset(src, 7, sizeof src);
	OK(lrd__chunk_compress(z, NULL, src, sizeof src, scratch, sizeof scratch, &c, &stored));
	cr_assert_eq(c.codec, z->id);
	cr_assert_lt(c.stored_size, sizeof src);
	OK(lrd__chunk_decompress(&c, stored, out, sizeof out));
	cr_assert(memcmp(src, out, sizeof out) == 0);
	FAILS_WITH(lrd__chunk_decompress(&c, stored, out, sizeof out - 1), LRD_EINVAL);
	scratch[c.stored_size / 2] ^= 1;
	FAILS_WITH(lrd__chunk_decompress(&c, stored, out, sizeof out), LRD_ECHECKSUM);
	scratch[c.stored_size / 2] ^= 1;
	c.raw_size = sizeof out - 1; /* declared size differs from what the data holds */
	FAILS_WITH(lrd__chunk_decompress(&c, stored, out, sizeof out - 1), LRD_ECORRUPT);
}

/* ---- tree encoding
 * ------------------------------------------------------------------------------- */

static int decode_bytes(const void *p, size_t n, lrd_value **out)
{
	lrd__memsrc ms;
	lrd__reader r = lrd__memsrc_reader(&ms, p, n);
	int rc = lrd__tree_decode(&r, NULL, out);
	if (rc == LRD_OK)
		lrd_value_free(*out);
	return rc;
}

Test(format, tree_decoding_is_strict)
{
	lrd_value *v;
	OK(decode_bytes("\x08\x01\x01"
	                "a\x00",
	                5, &v));
	FAILS_WITH(decode_bytes("\x0a", 1, &v), LRD_ECORRUPT);             /* tag */
	FAILS_WITH(decode_bytes("\x05\x02\xc3\x28", 4, &v), LRD_ECORRUPT); /* UTF-8 */
	FAILS_WITH(decode_bytes("\x08\x02\x01"
	                        "a\x00\x01"
	                        "a\x00",
	                        9, &v),
	           LRD_ECORRUPT); /* dup */
	FAILS_WITH(decode_bytes("\x08\x01\x02"
	                        "a\x00\x00",
	                        6, &v),
	           LRD_ECORRUPT);                                                  /* NUL key */
	FAILS_WITH(decode_bytes("\x05\xff\xff\xff\xff\x0f", 6, &v), LRD_ECORRUPT); /* long str */
	FAILS_WITH(decode_bytes("\x07\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10, &v), LRD_ECORRUPT);
	FAILS_WITH(decode_bytes("\x05\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11, &v),
	           LRD_ECORRUPT);
	FAILS_WITH(decode_bytes("\x09\x03<f8\x00\x00", 6, &v), LRD_ECORRUPT); /* no array hook */
	FAILS_WITH(decode_bytes("\x09\x03<O8\x00\x00", 7, &v), LRD_EDTYPE);
	uint8_t deep[200];
	memset(deep, 0x07, sizeof deep);
	for (size_t i = 1; i < sizeof deep; i += 2)
		deep[i] = 1;
	FAILS_WITH(decode_bytes(deep, sizeof deep, &v), LRD_ECORRUPT); /* 100 levels > 64 */
}

/* ---- whole files
 * --------------------------------------------------------------------------------- */

static void *small_file(size_t *n, const lrd_dump_options *o)
{
	lrd_value *root, *v, *a;
	lrd_dtype dt;
	uint64_t shape[1] = {1100};
	OK(lrd_value_new_map(&root));
	OK(lrd_value_new_str("larder", SIZE_MAX, &v));
	OK(lrd_map_set(root, "name", v));
	OK(lrd_dtype_parse("<i4", &dt));
	OK(lrd_array_new(dt, 1, shape, LRD_ORDER_C, &a));
	for (int i = 0; i < 1100; i++)
		((int32_t *)lrd_array_data(a))[i] = i % 7;
	OK(lrd_map_set(root, "w", a));
	void *buf;
	OK(lrd_dump_memory(root, &buf, n, o));
	lrd_value_free(root);
	return buf;
}

Test(format, truncation_at_every_offset_is_corrupt)
{
	const char *chunk_codecs[] = {NULL, "zlib"};
	for (int k = 0; k < 2; k++) {
		size_t n;
		lrd_dump_options o = {.chunk_size = 4096, .chunk_codec = chunk_codecs[k]};
		uint8_t *f = small_file(&n, &o);
		lrd_value *v;
		OK(lrd_load_memory(f, n, &v, NULL));
		lrd_value_free(v);
		for (size_t cut = 0; cut < n; cut++) {
			int rc = lrd_load_memory(f, cut, &v, NULL);
			cr_assert(rc == (cut < 8 ? LRD_EFORMAT : LRD_ECORRUPT),
			          "cut at %zu: %s (%s)", cut, lrd_errname(rc), lrd_errmsg());
			cr_assert_null(v);
		}
		uint8_t *longer = malloc(n + 1);
		memcpy(longer, f, n);
		longer[n] = 0;
		FAILS_WITH(lrd_load_memory(longer, n + 1, &v, NULL), LRD_ECORRUPT);
		free(longer);
		lrd_free(f);
	}
}

Test(format, every_bit_flip_is_detected)
{
	const char *chunk_codecs[] = {NULL, "zlib"};
	for (int k = 0; k < 2; k++) {
		size_t n;
		lrd_dump_options o = {.chunk_size = 4096, .chunk_codec = chunk_codecs[k]};
		uint8_t *f = small_file(&n, &o);
		for (size_t i = 0; i < n; i++) {
			lrd_value *v;
			uint8_t bit = (uint8_t)(1u << (tc_rand() % 8));
			f[i] ^= bit;
			int rc = lrd_load_memory(f, n, &v, NULL);
			f[i] ^= bit;
			cr_assert(rc != LRD_OK, "flip of bit %02x at %zu went unnoticed", bit, i);
			cr_assert(rc == LRD_ECORRUPT || rc == LRD_ECHECKSUM || rc == LRD_EFORMAT ||
			              rc == LRD_EVERSION || rc == LRD_ECODEC || rc == LRD_EDTYPE ||
			              rc == LRD_ELIMIT,
			          "flip at %zu: %s", i, lrd_errname(rc));
		}
		lrd_free(f);
	}
}

Test(format, a_shape_of_2_pow_60_elements_is_refused_before_allocating)
{
	lrd_value *v;
	uint64_t shape[1] = {(uint64_t)1 << 60};
	for (int layout = 0; layout < 2; layout++) {
		struct fb b = fb_begin(1);
		array_header(&b, "|u1", 1, shape);
		u8(&b, (uint8_t)layout);
		varint(&b, 4096);
		if (layout == 0)
			pad64(&b);
		fb_end(&b);
		FAILS_WITH(load_fb(&b, &v), LRD_ECORRUPT);
		cr_assert(strstr(lrd_errmsg(), "remain"), "%s", lrd_errmsg());
	}
	struct fb b = fb_begin(1);
	array_header(&b, "<f8", 1, shape); /* 2^63 bytes: still fits 64 bits, not the input */
	u8(&b, 0);
	varint(&b, 4096);
	pad64(&b);
	fb_end(&b);
	FAILS_WITH(load_fb(&b, &v), LRD_ECORRUPT);
	uint64_t shape2[2] = {(uint64_t)1 << 60, 64};
	b = fb_begin(1);
	array_header(&b, "<f8", 2, shape2); /* overflows 64 bits */
	fb_end(&b);
	FAILS_WITH(load_fb(&b, &v), LRD_ECORRUPT);
	cr_assert(strstr(lrd_errmsg(), "overflow"), "%s", lrd_errmsg());
}

/* Chunk headers declaring 1 TiB: refused by the default total bound before anything is
 * allocated; with the bound lifted, the first chunk's bad checksum is found and the load costs
 * what it decoded, not what the file declared. */
static struct fb lying_tib_file(void)
{
	uint64_t shape[1] = {(uint64_t)1 << 40};
	struct fb b = fb_begin(1);
	array_header(&b, "|u1", 1, shape);
	u8(&b, 1);
	varint(&b, (uint64_t)1 << 30);
	for (int i = 0; i < 1024; i++)
		chunk_hdr(&b, 1, (uint64_t)1 << 30, 10, 0);
	fb_end(&b);
	return b;
}

Test(format, a_lying_array_size_is_refused_by_the_total_bound_or_costs_what_was_decoded)
{
	lrd_value *v;
	struct fb b = lying_tib_file();
	FAILS_WITH(lrd_load_memory(b.p, b.n, &v, NULL), LRD_ELIMIT);
	cr_assert(strstr(lrd_errmsg(), "max_total_bytes"), "%s", lrd_errmsg());
	long before = tc_maxrss_kib();
	lrd_load_options o = {.max_total_bytes = UINT64_MAX, .max_array_bytes = UINT64_MAX};
	for (int threads = 1; threads <= 2; threads++) {
		o.threads = threads;
		int rc = lrd_load_memory(b.p, b.n, &v, &o);
		cr_assert(rc == LRD_ECHECKSUM || rc == LRD_ECORRUPT, "threads %d: %s (%s)", threads,
		          lrd_errname(rc), lrd_errmsg());
	}
	if (tc_rss_bounds_apply("format::lying array size"))
		cr_expect_lt(tc_maxrss_kib() - before, 16 * 1024, "peak RSS grew by %ld KiB",
		             tc_maxrss_kib() - before);
	free(b.p);
}

/* A one-chunk layout-1 array of `raw` bytes whose chunk is the zlib compression of `actual`
 * bytes of 'x', with a correct checksum. */
static int chunk_file(uint8_t codec, uint64_t raw, size_t actual)
{
	uint8_t src[8192], z[9000];
	size_t zn;
	memset(src, 'x', sizeof src);
	OK(lrd_codec_compress(lrd_codec_by_name("zlib"), NULL, src, actual, z, sizeof z, &zn));
	uint64_t shape[1] = {raw};
	struct fb b = fb_begin(1);
	array_header(&b, "|u1", 1, shape);
	u8(&b, 1);
	varint(&b, 8192);
	chunk_hdr(&b, codec, raw, zn, XXH3_64bits(z, zn));
	pad64(&b);
	fb_put(&b, z, zn, 0);
	fb_end(&b);
	lrd_value *v;
	return load_fb(&b, &v);
}

Test(format, chunk_decompressing_to_another_size_is_corrupt)
{
	OK(chunk_file(LRD_CODEC_ID_ZLIB, 5000, 5000));
	FAILS_WITH(chunk_file(LRD_CODEC_ID_ZLIB, 5000, 4000), LRD_ECORRUPT);
	cr_assert(strstr(lrd_errmsg(), "4000"), "%s", lrd_errmsg());
	FAILS_WITH(chunk_file(LRD_CODEC_ID_ZLIB, 5000, 6000), LRD_ECORRUPT);
}

Test(format, unknown_codec_id_is_ecodec)
{
	FAILS_WITH(chunk_file(199, 5000, 5000), LRD_ECODEC);
	cr_assert(strstr(lrd_errmsg(), "199"), "%s", lrd_errmsg());
}

Test(format, chunk_table_disagreeing_with_the_dtype_size_is_corrupt)
{
	uint8_t data[24] = {1, 2, 3};
	uint64_t shape[1] = {3};
	struct fb b = fb_begin(1);
	array_header(&b, "<f8", 1, shape);
	u8(&b, 0);
	varint(&b, 4096);
	pad64(&b);
	fb_put(&b, data, 24, 0);
	chunk_hdr(&b, 0, 16, 16, XXH3_64bits(data, 16)); /* says 16 bytes, the dtype says 24 */
	fb_end(&b);
	lrd_value *v;
	FAILS_WITH(load_fb(&b, &v), LRD_ECORRUPT);
}

Test(format, newer_major_version_is_eversion)
{
	struct fb b = fb_begin(2);
	u8(&b, 0);
	fb_end(&b);
	lrd_value *v;
	FAILS_WITH(load_fb(&b, &v), LRD_EVERSION);
	cr_assert(strstr(lrd_errmsg(), "2.0"), "%s", lrd_errmsg());
	b = fb_begin(1);
	u8(&b, 0);
	fb_end(&b);
	OK(load_fb(&b, &v));
}

Test(format, foreign_files_are_named)
{
	static const struct {
		const char *bytes;
		size_t n;
		const char *says;
	} cases[] = {
	    {"\x89HDF\r\n\x1a\n\0\0\0\0", 12, "89 48 44 46"},
	    {"\x89HDF\r\n\x1a\n\0\0\0\0", 12, "HDF5"},
	    {"\x93NUMPY\x01\x00", 8, "npy"},
	    {"PK\x03\x04\x14\0\0\0", 8, "zip"},
	    {"\x80\x04\x95\x10\0\0\0\0", 8, "pickle"},
	    {"hello world", 11, "not a larder file"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		lrd_value *v;
		FAILS_WITH(lrd_load_memory(cases[i].bytes, cases[i].n, &v, NULL), LRD_EFORMAT);
		cr_assert(strstr(lrd_errmsg(), cases[i].says), "%s", lrd_errmsg());
	}
	/* a gzip stream holding something else */
	const lrd_codec *gz = lrd_codec_by_name("gzip");
	uint8_t z[200];
	size_t zn;
	OK(lrd_codec_compress(gz, NULL, "\x93NUMPY\x01\x00 not larder", 20, z, sizeof z, &zn));
	lrd_value *v;
	FAILS_WITH(lrd_load_memory(z, zn, &v, NULL), LRD_EFORMAT);
	cr_assert(strstr(lrd_errmsg(), "gzip stream holding a non-larder payload"), "%s",
	          lrd_errmsg());
	cr_assert(strstr(lrd_errmsg(), "npy"), "%s", lrd_errmsg());
}

Test(format, whole_file_codec_is_found_by_magic_not_name)
{
	size_t n;
	lrd_dump_options o = {.codec = "xz"};
	uint8_t *f = small_file(&n, &o);
	cr_assert_eq(f[0], 0xfd);
	char *dir = tc_tmpdir(), *p = tc_path(dir, "misnamed.npy");
	tc_write_file(p, f, n);
	lrd_value *v;
	OK(lrd_load(p, &v, NULL));
	lrd_value_free(v);
	/* a truncated whole-file stream */
	FAILS_WITH(lrd_load_memory(f, n - 7, &v, NULL), LRD_ECORRUPT);
	lrd_free(f);
	tc_rmtree(dir);
	free(p);
	free(dir);
}

/* ---- golden files (tests/data/lrd): the format must not drift
 * ------------------------------------- */

static lrd_value *golden_tree(void)
{
	lrd_value *root, *v, *list;
	lrd_dtype dt;
	OK(lrd_value_new_map(&root));
	OK(lrd_value_new_str("golden", SIZE_MAX, &v));
	OK(lrd_map_set(root, "name", v));
	OK(lrd_value_new_int(42, &v));
	OK(lrd_map_set(root, "n", v));
	OK(lrd_value_new_float(3.14159, &v));
	OK(lrd_map_set(root, "pi", v));
	OK(lrd_value_new_list(&list));
	OK(lrd_value_new_bool(true, &v));
	OK(lrd_list_append(list, v));
	OK(lrd_value_new_bool(false, &v));
	OK(lrd_list_append(list, v));
	OK(lrd_value_new_nil(&v));
	OK(lrd_list_append(list, v));
	OK(lrd_map_set(root, "flags", list));
	uint8_t blob[16];
	for (int i = 0; i < 16; i++)
		blob[i] = (uint8_t)(i * 17);
	OK(lrd_value_new_bytes(blob, 16, &v));
	OK(lrd_map_set(root, "blob", v));
	uint64_t s2[2] = {10, 10}, s3[2] = {3, 4}, s1[1] = {5000};
	OK(lrd_dtype_parse("<i4", &dt));
	OK(lrd_array_new(dt, 2, s2, LRD_ORDER_C, &v));
	for (int i = 0; i < 100; i++)
		((int32_t *)lrd_array_data(v))[i] = i;
	OK(lrd_map_set(root, "ramp", v));
	OK(lrd_dtype_parse(">f8", &dt));
	OK(lrd_array_new(dt, 2, s3, LRD_ORDER_F, &v));
	for (int i = 0; i < 12; i++) {
		uint8_t *p = (uint8_t *)lrd_array_data(v) + 8 * i;
		double d = i * 0.5;
		uint64_t bits;
		memcpy(&bits, &d, 8);
		for (int k = 0; k < 8; k++)
			p[k] = (uint8_t)(bits >> (56 - 8 * k));
	}
	OK(lrd_map_set(root, "mat", v));
	OK(lrd_dtype_parse("<u2", &dt));
	OK(lrd_array_new(dt, 1, s1, LRD_ORDER_C, &v));
	for (int i = 0; i < 5000; i++)
		((uint16_t *)lrd_array_data(v))[i] = (uint16_t)(i * 7);
	OK(lrd_map_set(root, "big", v));
	return root;
}

static const struct {
	const char *file;
	lrd_dump_options opts;
	bool exact; /* byte-exact rewrite expected (no codec whose output may vary by version) */
} goldens[] = {
    {"plain.lrd", {.chunk_size = 4096}, true},
    {"chunked-zlib.lrd", {.chunk_size = 4096, .chunk_codec = "zlib"}, false},
    {"whole.lrd.gz", {.chunk_size = 4096, .codec = "gzip"}, false},
};

Test(format, golden_files_load_and_rewrite_identically)
{
	lrd_value *want = golden_tree();
	for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
		char *dir = tc_path(tc_datadir(), "lrd"), *p = tc_path(dir, goldens[i].file);
		if (getenv("LARDER_REGEN_GOLDEN"))
			OK(lrd_dump(want, p, &goldens[i].opts));
		size_t n;
		uint8_t *f = tc_read_file(p, &n);
		cr_assert(f, "missing golden file %s", p);
		lrd_value *got;
		OK(lrd_load_memory(f, n, &got, NULL));
		cr_assert(lrd_value_equal(want, got), "%s decodes differently", goldens[i].file);
		lrd_value_free(got);
		if (goldens[i].exact) {
			void *again;
			size_t m;
			OK(lrd_dump_memory(want, &again, &m, &goldens[i].opts));
			cr_assert_eq(m, n, "%s: rewrite has %zu bytes, golden %zu", goldens[i].file,
			             m, n);
			/* the writer name (16..31) and hence the meta checksum may differ by
			 * version */
			cr_assert(memcmp(again, f, 16) == 0);
			cr_assert(memcmp((uint8_t *)again + 32, f + 32, n - 32 - 16) == 0,
			          "%s: rewrite differs from the golden bytes", goldens[i].file);
			lrd_free(again);
		}
		free(f);
		free(p);
		free(dir);
	}
	lrd_value_free(want);
}

/* ---- allocation failures --------------------------------------------------------------------- */

#include "base/testhook.h"

Test(format, every_allocation_failure_in_dump_and_load_is_enomem)
{
	lrd_value *want = golden_tree();
	const lrd_dump_options forms[] = {
	    {.chunk_size = 4096}, {.chunk_size = 4096, .chunk_codec = "zlib"}, {.codec = "gzip"}};
	for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
		void *buf = NULL;
		size_t n;
		int rc = LRD_ENOMEM;
		for (long fail = 0; rc == LRD_ENOMEM && fail < 10000; fail++) {
			lrd__alloc_failafter(fail);
			rc = lrd_dump_memory(want, &buf, &n, &forms[k]);
			lrd__alloc_failafter(-1);
		}
		OK(rc);
		rc = LRD_ENOMEM;
		/* The zlib codec reports a failed allocation inside one-shot decompression as
		 * LRD_ECORRUPT with an "out of memory" message (codecs/, not this module): accept
		 * that as the ENOMEM it is. */
		for (long fail = 0; fail < 10000; fail++) {
			lrd_value *got = NULL;
			lrd__alloc_failafter(fail);
			rc = lrd_load_memory(buf, n, &got,
			                     &(lrd_load_options){.mmap = k < 2 && fail % 2 == 1});
			lrd__alloc_failafter(-1);
			if (rc == LRD_OK)
				cr_assert(lrd_value_equal(want, got));
			else
				cr_assert_null(got);
			lrd_value_free(got);
			if (rc == LRD_ECORRUPT && strstr(lrd_errmsg(), "out of memory"))
				continue;
			if (rc != LRD_ENOMEM)
				break;
		}
		OK(rc);
		lrd_free(buf);
	}
	lrd_value_free(want);
}

/* ---- the total bound and buffers grown as bytes arrive (issue 9.11) ------------------------ */

/* Run fn(path) in a child process, so that the memory it takes does not count in this
 * process's peak RSS. */
#define BIG ((size_t)256 << 20)

/* A gzip-wrapped file holding a 256 MiB bytes value of zeros (about 261 KB). */
static void make_gzip_bytes(const char *path)
{
	void *zeros = calloc(1, BIG);
	lrd_value *v;
	if (!zeros || lrd_value_new_bytes(zeros, BIG, &v))
		_exit(1);
	free(zeros);
	lrd_dump_options o = {.codec = "gzip", .level = 9};
	_exit(lrd_dump(v, path, &o) ? 2 : 0);
}

Test(format, a_gzip_wrapped_bytes_bomb_is_refused_by_the_total_bound_without_decoding_it)
{
	char *dir = tc_tmpdir(), *path = tc_path(dir, "bomb.lrd.gz");
	cr_assert(tc_in_child(make_gzip_bytes, path), "generator of %s failed", path);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_lt(st.st_size, 1 << 20, "%lld bytes", (long long)st.st_size);
	long before = tc_maxrss_kib();
	lrd_value *v;
	/* max_array_bytes covers arrays only; the total bound covers the bytes value */
	lrd_load_options o = {.max_array_bytes = 1 << 20, .max_total_bytes = 1 << 20};
	FAILS_WITH(lrd_load(path, &v, &o), LRD_ELIMIT);
	cr_assert_null(v);
	cr_assert(strstr(lrd_errmsg(), path) && strstr(lrd_errmsg(), "1048576") &&
	              strstr(lrd_errmsg(), "max_total_bytes"),
	          "%s", lrd_errmsg());
	if (tc_rss_bounds_apply("format::gzip bytes bomb"))
		cr_expect_lt(tc_maxrss_kib() - before, 16 * 1024, "peak RSS grew by %ld KiB",
		             tc_maxrss_kib() - before);
	o.max_total_bytes = BIG + 64; /* the bytes, one node, no more */
	OK(lrd_load(path, &v, &o));
	size_t n;
	cr_assert_not_null(lrd_value_bytes(v, &n));
	cr_assert_eq(n, BIG);
	lrd_value_free(v);
	tc_rmtree(dir);
	free(path);
	free(dir);
}

/* ---- memory of trees with many nodes (issue 8.9) -------------------------------------------- */

#define NILS ((size_t)20 << 20)

/* A file holding a list of NILS nils (20 MiB and a few bytes). */
static char *nil_list_file(char **dir)
{
	*dir = tc_tmpdir();
	char *path = tc_path(*dir, "nils.lrd");
	struct fb b = fb_begin(1);
	u8(&b, 0x07);
	varint(&b, NILS);
	uint8_t *zeros = calloc(1, NILS);
	cr_assert_not_null(zeros);
	meta(&b, zeros, NILS);
	free(zeros);
	fb_end(&b);
	cr_assert_eq(tc_write_file(path, b.p, b.n), 0);
	free(b.p);
	return path;
}

struct node_count {
	uint64_t nodes, nils;
	bool paths_ok;
};

static int count_node(void *ctx, const lrd_node *n)
{
	struct node_count *c = ctx;
	if (n->kind == LRD_KIND_NIL) {
		char want[24];
		snprintf(want, sizeof want, "%llu", (unsigned long long)c->nils);
		c->paths_ok &= n->depth == 1 && strcmp(n->path, want) == 0 && n->value;
		c->nils++;
	}
	c->nodes++;
	return 0;
}

Test(format, scan_and_verify_of_a_list_of_20m_nils_take_constant_memory)
{
	char *dir, *path = nil_list_file(&dir);
	long before = tc_maxrss_kib();
	struct node_count c = {.paths_ok = true};
	lrd_stream *s;
	lrd_file_info fi;
	OK(lrd_stream_open_path(path, "r", &s));
	OK(lrd_scan(s, NULL, &fi, count_node, &c));
	lrd_stream_close(s);
	OK(lrd_verify(path));
	cr_assert_eq(c.nodes, NILS + 1);
	cr_assert_eq(c.nils, NILS);
	cr_assert(c.paths_ok, "a nil's path or value is wrong");
	cr_assert_eq(fi.size, NILS + 53, "%llu", (unsigned long long)fi.size);
	if (tc_rss_bounds_apply("format::scan of 20M nils"))
		cr_expect_lt(tc_maxrss_kib() - before, 8 * 1024,
		             "scan of a %zu-byte file grew the peak RSS by %ld KiB", NILS + 53,
		             tc_maxrss_kib() - before);
	tc_rmtree(dir);
	free(path);
	free(dir);
}

static int stop_at_first_node(void *ctx, const lrd_node *n)
{
	(void)ctx;
	(void)n;
	return 42;
}

Test(format, scan_reports_nodes_as_read_and_still_finds_later_damage)
{
	size_t n;
	void *file = small_file(&n, NULL);
	lrd_stream *s;
	struct node_count c = {.paths_ok = true};
	OK(lrd_stream_open_memory(file, n, &s));
	cr_assert_eq(lrd_scan(s, NULL, NULL, stop_at_first_node, NULL), 42);
	lrd_stream_close(s);
	((uint8_t *)file)[n - 20] ^= 1; /* the last byte of the tree: the meta checksum fails */
	OK(lrd_stream_open_memory(file, n, &s));
	int rc = lrd_scan(s, NULL, NULL, count_node, &c);
	lrd_stream_close(s);
	cr_assert(rc == LRD_ECHECKSUM || rc == LRD_ECORRUPT, "%s", lrd_errname(rc));
	cr_assert_gt(c.nodes, 0, "nodes are reported before the end is checked");
	free(file);
}

Test(format, a_list_of_20m_nils_loads_in_about_8_bytes_per_element)
{
	char *dir, *path = nil_list_file(&dir);
	long before = tc_maxrss_kib();
	lrd_value *v;
	OK(lrd_load(path, &v, NULL));
	long grew = tc_maxrss_kib() - before;
	cr_assert_eq(lrd_value_kind(v), LRD_KIND_LIST);
	cr_assert_eq(lrd_value_len(v), NILS);
	cr_assert_eq(lrd_value_kind(lrd_list_at(v, NILS - 1)), LRD_KIND_NIL);
	/* one pointer per item (nil is a shared node) in a list sized from the input: 8 x the
	 * file, where it was about 118 x */
	if (tc_rss_bounds_apply("format::load of 20M nils"))
		cr_expect_lt(grew, 9 * (long)(NILS / 1024),
		             "peak RSS grew by %ld KiB for a %zu KiB file", grew, NILS / 1024);
	cr_log_info("load of %zu nils: peak RSS +%ld KiB (%.1f bytes per nil)", NILS, grew,
	            grew * 1024.0 / NILS);
	lrd_value_free(v);
	tc_rmtree(dir);
	free(path);
	free(dir);
}
