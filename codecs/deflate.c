/* zlib (.z, RFC 1950) and gzip (.gz, RFC 1952): one deflate implementation over zlib, the two
 * codecs differing only in zlib's windowBits (15 for the zlib wrapper, 16 + 15 for gzip).
 *
 * A state is one member: the encoder writes one zlib stream or gzip member, the decoder reads
 * one and reports its end; the stream wrapper in codec.c restarts it for concatenated members.
 * zlib allocates through lrd__malloc so fault injection reaches it. No shared state. */
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

LRD__STREAM_ONESHOT(zlib, lrd__codec_zlib)
LRD__STREAM_ONESHOT(gzip, lrd__codec_gzip)

static const char *const zlib_ext[] = {".z", NULL};
static const char *const gzip_ext[] = {".gz", NULL};

const lrd_codec lrd__codec_zlib = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "zlib",
    .id = LRD_CODEC_ID_ZLIB,
    .flags = LRD_CODEC_STREAM | LRD_CODEC_CHUNK,
    .extensions = zlib_ext,
    .min_level = 0, /* stored; reachable with a negative params level */
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
