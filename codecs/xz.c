/* xz (.xz) and lzma-alone (.lzma, `xz --format=lzma`): one implementation over liblzma, the
 * two codecs differing only in the encoder and decoder they initialise.
 *
 * A state is one xz stream or one lzma-alone stream; the stream wrapper in codec.c restarts it
 * for concatenated streams. Decoders run under a memory limit (DECODE_MEMLIMIT) so a hostile
 * header cannot make liblzma allocate a dictionary of its choosing. liblzma allocates through
 * lrd__malloc so fault injection reaches it. No shared state. */
#include <lzma.h>
#include <string.h>

#include "codecs/stream_codec.h"

/* Enough for every xz preset (-9 needs 65 MiB to decode) and for custom dictionaries up to
 * about 128 MiB; a stream that needs more gives LRD_ELIMIT. */
#define DECODE_MEMLIMIT (UINT64_C(128) << 20)

enum format { FMT_XZ, FMT_ALONE };

struct xzstate {
	lzma_stream z;
	lzma_allocator alloc;
	lrd_codec_mode mode;
	const char *name;
	bool finish_decode; /* the decoder needs LZMA_FINISH to end (LZMA_CONCATENATED) */
	bool done;
};

static const char *xz_version(void) { return lzma_version_string(); }

static int xz_sniff(const void *head, size_t n)
{
	static const unsigned char magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0};
	return n >= 6 && memcmp(head, magic, 6) == 0;
}

/* lzma-alone has no magic. Its 13-byte header is accepted when the properties byte is valid
 * (< 225), the dictionary size is one xz itself writes (2^n or 2^n + 2^(n-1), 4 KiB..1.5 GiB),
 * the uncompressed size is unknown (all ones) or below 2^38, and the range coder's first byte,
 * always zero, follows. */
static int lzma_sniff(const void *head, size_t n)
{
	const unsigned char *b = head;
	if (n < 14 || b[0] >= 225 || b[13] != 0)
		return 0;
	uint32_t dict =
	    (uint32_t)b[1] | (uint32_t)b[2] << 8 | (uint32_t)b[3] << 16 | (uint32_t)b[4] << 24;
	if (dict < 4096 || dict > (UINT32_C(3) << 29))
		return 0;
	uint32_t top = dict;
	while (top & (top - 1))
		top &= top - 1;
	if (dict != top && dict != top + (top >> 1))
		return 0;
	bool unknown = true, small = b[12] == 0 && b[11] == 0 && (b[10] & 0xc0) == 0;
	for (int i = 5; i < 13; i++)
		unknown = unknown && b[i] == 0xff;
	return unknown || small;
}

static size_t xz_bound(size_t n, const lrd_codec_params *p)
{
	return n > LRD__BOUND_MAX ? 0 : lzma_stream_buffer_bound(n);
}

/* LZMA1 has no stored fallback; this is LzmaLib.h's recommended destLen (srcLen + srcLen/3 +
 * 128) plus the 13-byte header and the end-of-payload marker. */
static size_t lzma_bound(size_t n, const lrd_codec_params *p)
{
	return n > LRD__BOUND_MAX ? 0 : n + n / 3 + 256;
}

static const char *lzname(lzma_ret r)
{
	switch (r) {
	case LZMA_MEM_ERROR:
		return "cannot allocate memory";
	case LZMA_MEMLIMIT_ERROR:
		return "memory usage limit reached";
	case LZMA_FORMAT_ERROR:
		return "file format not recognized";
	case LZMA_OPTIONS_ERROR:
		return "unsupported options";
	case LZMA_DATA_ERROR:
		return "compressed data is corrupt";
	case LZMA_BUF_ERROR:
		return "unexpected end of input";
	case LZMA_UNSUPPORTED_CHECK:
		return "unsupported integrity check";
	default:
		return "internal error";
	}
}

static int lzerr(const struct xzstate *s, lzma_ret r)
{
	switch (r) {
	case LZMA_MEM_ERROR:
		return lrd__err(LRD_ENOMEM, "%s: out of memory (liblzma: %s)", s->name, lzname(r));
	case LZMA_MEMLIMIT_ERROR:
		return lrd__err(LRD_ELIMIT,
		                "%s: stream needs more than %u MiB to decode (liblzma: %s)",
		                s->name, (unsigned)(DECODE_MEMLIMIT >> 20), lzname(r));
	case LZMA_FORMAT_ERROR:
	case LZMA_DATA_ERROR:
	case LZMA_OPTIONS_ERROR:
		if (s->mode == LRD_CODEC_DECODE)
			return lrd__err(LRD_ECORRUPT, "%s: corrupt stream (liblzma: %s)", s->name,
			                lzname(r));
		/* fall through */
	default:
		return lrd__err(LRD_ECODEC, "%s: liblzma error %d (%s)", s->name, (int)r,
		                lzname(r));
	}
}

static void *lz_alloc(void *opaque, size_t nmemb, size_t size)
{
	size_t n;
	return lrd__mul_ok(nmemb, size, &n) ? lrd__malloc(n) : NULL;
}

static int lz_new(const lrd_codec_params *p, lrd_codec_mode mode, void **state, enum format fmt)
{
	struct xzstate *s = lrd__calloc(1, sizeof *s);
	if (!s)
		return LRD_ENOMEM;
	s->z = (lzma_stream)LZMA_STREAM_INIT;
	s->alloc = (lzma_allocator){lz_alloc, lrd__native_free, NULL};
	s->z.allocator = &s->alloc;
	s->mode = mode;
	s->name = fmt == FMT_XZ ? "xz" : "lzma";
	lzma_ret r;
	if (mode == LRD_CODEC_DECODE) {
		/* LZMA_CONCATENATED: liblzma itself reads concatenated streams and the stream
		 * padding (zero bytes) between them, which `xz -d` accepts and the wrapper
		 * cannot tell from garbage. */
		s->finish_decode = fmt == FMT_XZ;
		r = fmt == FMT_XZ ? lzma_stream_decoder(&s->z, DECODE_MEMLIMIT, LZMA_CONCATENATED)
		                  : lzma_alone_decoder(&s->z, DECODE_MEMLIMIT);
	} else if (fmt == FMT_XZ) {
		r = lzma_easy_encoder(&s->z, (uint32_t)p->level, LZMA_CHECK_CRC64);
	} else {
		lzma_options_lzma opt;
		r = lzma_lzma_preset(&opt, (uint32_t)p->level) ? LZMA_OPTIONS_ERROR
		                                               : lzma_alone_encoder(&s->z, &opt);
	}
	if (r != LZMA_OK) {
		int rc = lzerr(s, r);
		lzma_end(&s->z);
		lrd__free(s);
		return rc;
	}
	*state = s;
	return LRD_OK;
}

static int xz_new(const lrd_codec_params *p, lrd_codec_mode mode, void **state)
{
	return lz_new(p, mode, state, FMT_XZ);
}

static int lzma_new(const lrd_codec_params *p, lrd_codec_mode mode, void **state)
{
	return lz_new(p, mode, state, FMT_ALONE);
}

static int lz_step(void *state, lrd_codec_io *io, int finish)
{
	struct xzstate *s = state;
	bool enc = s->mode == LRD_CODEC_ENCODE;
	if (s->done)
		return 1;
	for (;;) {
		size_t in = io->src_size - io->src_pos, room = io->dst_size - io->dst_pos;
		s->z.next_in = lrd__io_in(io);
		s->z.avail_in = in;
		s->z.next_out = lrd__io_out(io);
		s->z.avail_out = room;
		bool end = finish && (enc || s->finish_decode);
		lzma_ret r = lzma_code(&s->z, end ? LZMA_FINISH : LZMA_RUN);
		io->src_pos += in - s->z.avail_in;
		io->dst_pos += room - s->z.avail_out;
		if (r == LZMA_STREAM_END) {
			s->done = true;
			return 1;
		}
		if (r == LZMA_BUF_ERROR)
			return 0; /* no progress possible */
		if (r != LZMA_OK)
			return lzerr(s, r);
		if (io->dst_pos == io->dst_size ||
		    (io->src_pos == io->src_size && !(enc && finish)))
			return 0;
		if (s->z.avail_in == in && s->z.avail_out == room)
			return 0;
	}
}

static void lz_free(void *state)
{
	struct xzstate *s = state;
	if (!s)
		return;
	lzma_end(&s->z);
	lrd__free(s);
}

/* cppcheck-suppress unknownMacro ; defined in codecs/stream_codec.h, which a run without -I .
 * cannot see */
LRD__STREAM_ONESHOT(xz, lrd__codec_xz)
/* cppcheck-suppress unknownMacro ; defined in codecs/stream_codec.h, which a run without -I .
 * cannot see */
LRD__STREAM_ONESHOT(lzma, lrd__codec_lzma)

static const char *const xz_ext[] = {".xz", NULL};
static const char *const lzma_ext[] = {".lzma", NULL};

const lrd_codec lrd__codec_xz = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "xz",
    .id = LRD_CODEC_ID_XZ,
    .flags = LRD_CODEC_STREAM | LRD_CODEC_CHUNK,
    .extensions = xz_ext,
    .min_level = 0, /* LRD_CODEC_LEVEL_ZERO */
    .max_level = 9,
    .default_level = 6,
    .magic_size = 6,
    .version = xz_version,
    .sniff = xz_sniff,
    .bound = xz_bound,
    .compress = xz_compress,
    .decompress = xz_decompress,
    .stream_new = xz_new,
    .stream_step = lz_step,
    .stream_free = lz_free,
};

const lrd_codec lrd__codec_lzma = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "lzma",
    .id = LRD_CODEC_ID_LZMA,
    .flags = LRD_CODEC_STREAM | LRD_CODEC_CHUNK,
    .extensions = lzma_ext,
    .min_level = 0,
    .max_level = 9,
    .default_level = 6,
    .magic_size = 14,
    .version = xz_version,
    .sniff = lzma_sniff,
    .bound = lzma_bound,
    .compress = lzma_compress,
    .decompress = lzma_decompress,
    .stream_new = lzma_new,
    .stream_step = lz_step,
    .stream_free = lz_free,
};
