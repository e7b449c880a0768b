/* zlib (.z, RFC 1950) and gzip (.gz, RFC 1952): one deflate implementation over zlib, the two
 * codecs differing only in zlib's windowBits (15 for the zlib wrapper, 16 + 15 for gzip).
 *
 * One-shot buffers (chunks) go through libdeflate, 2-3x faster than zlib on whole buffers; its
 * output is ordinary zlib/gzip that zlib and gzip read (not the same bytes as zlib's). Streams
 * stay on zlib. A one-shot decode that libdeflate does not finish outright (output larger than
 * the capacity; bad, truncated or trailing input; no memory) is redone through zlib's path, so
 * error codes and messages are zlib's. libdeflate 1.14 has no per-call allocator hook: its
 * compressor and decompressor come from malloc, not lrd__malloc.
 *
 * A state is one member: the encoder writes one zlib stream or gzip member, the decoder reads
 * one and reports its end; the stream wrapper in codec.c restarts it for concatenated members.
 * zlib allocates through lrd__malloc so fault injection reaches it. No shared state. */
#include <libdeflate.h>
#include <string.h>
#include <zlib.h>

#include "codecs/stream_codec.h"

#define WBITS_ZLIB 15
#define WBITS_GZIP (16 + 15)

struct zstate {
	z_stream z;
	lrd_codec_mode mode;
	const char *name;
	bool done;
};

static const char *deflate_lib_version(void) { return zlibVersion(); }

static int zlib_sniff(const void *head, size_t n)
{
	const unsigned char *b = head;
	/* CM 8 with a 32K window, FCHECK valid, no preset dictionary (larder never sets one). */
	return n >= 2 && b[0] == 0x78 && ((b[0] << 8) | b[1]) % 31 == 0 && !(b[1] & 0x20);
}

static int gzip_sniff(const void *head, size_t n)
{
	const unsigned char *b = head;
	return n >= 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8;
}

/* deflateBound() for the default windowBits and memLevel, which it gives for every level. */
static size_t deflate_bound(size_t n, size_t wrapper)
{
	if (n > LRD__BOUND_MAX)
		return 0;
	return n + (n >> 12) + (n >> 14) + (n >> 25) + 7 + wrapper;
}

static size_t zlib_bound(size_t n, const lrd_codec_params *p) { return deflate_bound(n, 6); }
static size_t gzip_bound(size_t n, const lrd_codec_params *p) { return deflate_bound(n, 18); }

static int zerr(const struct zstate *s, int zr)
{
	const char *msg = s->z.msg ? s->z.msg : zError(zr);
	switch (zr) {
	case Z_MEM_ERROR:
		return lrd__err(LRD_ENOMEM, "%s: out of memory (zlib: %s)", s->name, msg);
	case Z_DATA_ERROR:
	case Z_NEED_DICT:
		return lrd__err(LRD_ECORRUPT, "%s: corrupt stream (zlib: %s)", s->name,
		                zr == Z_NEED_DICT ? "needs a preset dictionary" : msg);
	default:
		return lrd__err(LRD_ECODEC, "%s: zlib error %d (%s)", s->name, zr, msg);
	}
}

static int deflate_new(const lrd_codec_params *p, lrd_codec_mode mode, void **state, int wbits,
                       const char *name)
{
	struct zstate *s = lrd__calloc(1, sizeof *s);
	if (!s)
		return LRD_ENOMEM;
	s->z.zalloc = lrd__native_alloc;
	s->z.zfree = lrd__native_free;
	s->mode = mode;
	s->name = name;
	int zr = mode == LRD_CODEC_ENCODE
	             ? deflateInit2(&s->z, p->level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY)
	             : inflateInit2(&s->z, wbits);
	if (zr != Z_OK) {
		int rc = zerr(s, zr);
		lrd__free(s);
		return rc;
	}
	*state = s;
	return LRD_OK;
}

static int zlib_new(const lrd_codec_params *p, lrd_codec_mode mode, void **state)
{
	return deflate_new(p, mode, state, WBITS_ZLIB, "zlib");
}

static int gzip_new(const lrd_codec_params *p, lrd_codec_mode mode, void **state)
{
	return deflate_new(p, mode, state, WBITS_GZIP, "gzip");
}

static int deflate_step(void *state, lrd_codec_io *io, int finish)
{
	struct zstate *s = state;
	bool enc = s->mode == LRD_CODEC_ENCODE;
	if (s->done)
		return 1;
	for (;;) {
		unsigned in = lrd__clamp_uint(io->src_size - io->src_pos);
		unsigned room = lrd__clamp_uint(io->dst_size - io->dst_pos);
		bool last = finish && in == io->src_size - io->src_pos;
		s->z.next_in = (Bytef *)lrd__io_in(io);
		s->z.avail_in = in;
		s->z.next_out = lrd__io_out(io);
		s->z.avail_out = room;
		int zr =
		    enc ? deflate(&s->z, last ? Z_FINISH : Z_NO_FLUSH) : inflate(&s->z, Z_NO_FLUSH);
		io->src_pos += in - s->z.avail_in;
		io->dst_pos += room - s->z.avail_out;
		if (zr == Z_STREAM_END) {
			s->done = true;
			return 1;
		}
		if (zr == Z_BUF_ERROR)
			return 0; /* no progress possible: output full or input exhausted */
		if (zr != Z_OK)
			return zerr(s, zr);
		if (io->dst_pos == io->dst_size ||
		    (io->src_pos == io->src_size && !(enc && finish)))
			return 0;
	}
}

static void deflate_free(void *state)
{
	struct zstate *s = state;
	if (!s)
		return;
	if (s->mode == LRD_CODEC_ENCODE)
		deflateEnd(&s->z);
	else
		inflateEnd(&s->z);
	lrd__free(s);
}

/* libdeflate's compressors, by wrapper */
typedef size_t (*ld_compress_fn)(struct libdeflate_compressor *, const void *, size_t, void *,
                                 size_t);
typedef size_t (*ld_bound_fn)(struct libdeflate_compressor *, size_t);
typedef enum libdeflate_result (*ld_decompress_fn)(struct libdeflate_decompressor *, const void *,
                                                   size_t, void *, size_t, size_t *, size_t *);

/* libdeflate wants a few bytes of slack past the output it writes: into a capacity below its
 * bound that it refuses, compress into a scratch buffer of the bound and copy what fits, so
 * "compress into exactly the size it gave" holds. */
static int ld_compress(const lrd_codec *c, ld_compress_fn fn, ld_bound_fn bound,
                       const lrd_codec_params *p, const void *src, size_t n, void *dst, size_t cap,
                       size_t *out)
{
	struct libdeflate_compressor *k = libdeflate_alloc_compressor(p->level);
	if (!k)
		return lrd__err(LRD_ENOMEM, "%s: out of memory (libdeflate compressor)", c->name);
	const void *in = n ? src : "";
	size_t got = cap ? fn(k, in, n, dst, cap) : 0;
	size_t need = bound(k, n);
	int rc = LRD_OK;
	if (!got && cap < need) {
		unsigned char *tmp = lrd__malloc(need);
		got = tmp ? fn(k, in, n, tmp, need) : 0;
		if (!tmp)
			rc = LRD_ENOMEM;
		else if (got && got <= cap)
			memcpy(dst, tmp, got);
		else
			got = 0;
		lrd__free(tmp);
	}
	libdeflate_free_compressor(k);
	if (rc)
		return lrd__err(rc, "%s: out of memory", c->name);
	if (!got)
		return lrd__err(LRD_EBUFSIZE, "%s: output larger than %zu bytes", c->name, cap);
	*out = got;
	return LRD_OK;
}

/* gzip members may follow one another (as gzip -d accepts); a zlib stream is one. */
static int ld_decompress(const lrd_codec *c, ld_decompress_fn fn, bool members,
                         const lrd_codec_params *p, const void *src, size_t n, void *dst,
                         size_t cap, size_t *out)
{
	struct libdeflate_decompressor *d = n ? libdeflate_alloc_decompressor() : NULL;
	size_t in_pos = 0, out_pos = 0;
	enum libdeflate_result r = d ? LIBDEFLATE_SUCCESS : LIBDEFLATE_BAD_DATA; /* -> zlib */
	while (d && r == LIBDEFLATE_SUCCESS) {
		size_t used = 0, made = 0;
		unsigned char spare;
		r = fn(d, (const unsigned char *)src + in_pos, n - in_pos,
		       cap > out_pos ? (unsigned char *)dst + out_pos : &spare, cap - out_pos,
		       &used, &made);
		in_pos += used;
		out_pos += made;
		if (in_pos == n || !members)
			break;
	}
	libdeflate_free_decompressor(d);
	if (r == LIBDEFLATE_SUCCESS && in_pos == n) {
		*out = out_pos;
		return LRD_OK;
	}
	return lrd__codec_oneshot(c, p, LRD_CODEC_DECODE, src, n, dst, cap, out);
}

static int zlib_compress(const lrd_codec_params *p, const void *src, size_t n, void *dst,
                         size_t cap, size_t *out)
{
	return ld_compress(&lrd__codec_zlib, libdeflate_zlib_compress,
	                   libdeflate_zlib_compress_bound, p, src, n, dst, cap, out);
}

static int gzip_compress(const lrd_codec_params *p, const void *src, size_t n, void *dst,
                         size_t cap, size_t *out)
{
	return ld_compress(&lrd__codec_gzip, libdeflate_gzip_compress,
	                   libdeflate_gzip_compress_bound, p, src, n, dst, cap, out);
}

static int zlib_decompress(const lrd_codec_params *p, const void *src, size_t n, void *dst,
                           size_t cap, size_t *out)
{
	return ld_decompress(&lrd__codec_zlib, libdeflate_zlib_decompress_ex, false, p, src, n, dst,
	                     cap, out);
}

static int gzip_decompress(const lrd_codec_params *p, const void *src, size_t n, void *dst,
                           size_t cap, size_t *out)
{
	return ld_decompress(&lrd__codec_gzip, libdeflate_gzip_decompress_ex, true, p, src, n, dst,
	                     cap, out);
}

static const char *const zlib_ext[] = {".z", NULL};
static const char *const gzip_ext[] = {".gz", NULL};

const lrd_codec lrd__codec_zlib = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "zlib",
    .id = LRD_CODEC_ID_ZLIB,
    .flags = LRD_CODEC_STREAM | LRD_CODEC_CHUNK,
    .extensions = zlib_ext,
    .min_level = 0, /* stored: LRD_CODEC_LEVEL_ZERO */
    .max_level = 9,
    .default_level = 3,
    .magic_size = 2,
    .version = deflate_lib_version,
    .sniff = zlib_sniff,
    .bound = zlib_bound,
    .compress = zlib_compress,
    .decompress = zlib_decompress,
    .stream_new = zlib_new,
    .stream_step = deflate_step,
    .stream_free = deflate_free,
};

const lrd_codec lrd__codec_gzip = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "gzip",
    .id = LRD_CODEC_ID_GZIP,
    .flags = LRD_CODEC_STREAM | LRD_CODEC_CHUNK,
    .extensions = gzip_ext,
    .min_level = 0,
    .max_level = 9,
    .default_level = 3,
    .magic_size = 3,
    .version = deflate_lib_version,
    .sniff = gzip_sniff,
    .bound = gzip_bound,
    .compress = gzip_compress,
    .decompress = gzip_decompress,
    .stream_new = gzip_new,
    .stream_step = deflate_step,
    .stream_free = deflate_free,
};
