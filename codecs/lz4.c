/* lz4 (.lz4): the LZ4 frame format over liblz4's lz4frame API, with a content checksum, as
 * `lz4` writes and reads it.
 *
 * Encoding stages compressed bytes in an owned buffer sized for one IN_STEP of input
 * (LZ4F_compressUpdate needs its worst case as room) and drains it into the caller's output, so
 * any output size works; decoding goes straight through LZ4F_decompress, which buffers itself.
 * A state is one frame; the stream wrapper in codec.c restarts it for concatenated frames. liblz4
 * allocates its contexts with malloc, outside fault injection. No shared state. */
#include <lz4.h>
#include <lz4frame.h>
#include <string.h>

#include "codecs/stream_codec.h"

#define IN_STEP ((size_t)64 << 10)

struct lz4state {
	lrd_codec_mode mode;
	LZ4F_cctx *cctx;
	LZ4F_dctx *dctx;
	LZ4F_preferences_t prefs;
	unsigned char *buf; /* encoder staging: buf[pos, len) not yet handed out */
	size_t cap, pos, len;
	bool started, ended, done;
};

static const char *lz4_version(void) { return LZ4_versionString(); }

static int lz4_sniff(const void *head, size_t n)
{
	static const unsigned char magic[4] = {0x04, 0x22, 0x4d, 0x18};
	return n >= 4 && memcmp(head, magic, 4) == 0;
}

static LZ4F_preferences_t prefs_for(int level)
{
	LZ4F_preferences_t p;
	memset(&p, 0, sizeof p);
	p.compressionLevel = level;
	p.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	return p;
}

static size_t lz4_bound(size_t n, const lrd_codec_params *p)
{
	LZ4F_preferences_t prefs = prefs_for(p->level);
	return n > LRD__BOUND_MAX ? 0 : LZ4F_compressFrameBound(n, &prefs);
}

static int lz4err(const struct lz4state *s, size_t code)
{
	const char *name = LZ4F_getErrorName(code);
	if (strstr(name, "allocation"))
		return lrd__err(LRD_ENOMEM, "lz4: out of memory (liblz4: %s)", name);
	if (s->mode == LRD_CODEC_DECODE)
		return lrd__err(LRD_ECORRUPT, "lz4: corrupt frame (liblz4: %s)", name);
	return lrd__err(LRD_ECODEC, "lz4: liblz4 error (%s)", name);
}

static void lz4_free(void *state)
{
	struct lz4state *s = state;
	if (!s)
		return;
	LZ4F_freeCompressionContext(s->cctx);
	LZ4F_freeDecompressionContext(s->dctx);
	lrd__free(s->buf);
	lrd__free(s);
}

static int lz4_new(const lrd_codec_params *p, lrd_codec_mode mode, void **state)
{
	struct lz4state *s = lrd__calloc(1, sizeof *s);
	if (!s)
		return LRD_ENOMEM;
	s->mode = mode;
	s->prefs = prefs_for(p->level);
	size_t r;
	if (mode == LRD_CODEC_ENCODE) {
		s->cap = LZ4F_compressBound(IN_STEP, &s->prefs);
		s->buf = lrd__malloc(s->cap);
		if (!s->buf) {
			lz4_free(s);
			return LRD_ENOMEM;
		}
		r = LZ4F_createCompressionContext(&s->cctx, LZ4F_VERSION);
	} else {
		r = LZ4F_createDecompressionContext(&s->dctx, LZ4F_VERSION);
	}
	if (LZ4F_isError(r)) {
		int rc = lz4err(s, r);
		lz4_free(s);
		return rc;
	}
	*state = s;
	return LRD_OK;
}

static int encode_step(struct lz4state *s, lrd_codec_io *io, int finish)
{
	for (;;) {
		size_t give = s->len - s->pos, room = io->dst_size - io->dst_pos;
		if (give > room)
			give = room;
		if (give) {
			memcpy((unsigned char *)io->dst + io->dst_pos, s->buf + s->pos, give);
			io->dst_pos += give;
			s->pos += give;
		}
		if (s->pos < s->len)
			return 0;
		if (s->ended)
			return s->done = true, 1;
		size_t r;
		if (!s->started) {
			r = LZ4F_compressBegin(s->cctx, s->buf, s->cap, &s->prefs);
			s->started = true;
		} else if (io->src_pos < io->src_size) {
			size_t take = io->src_size - io->src_pos;
			if (take > IN_STEP)
				take = IN_STEP;
			r = LZ4F_compressUpdate(s->cctx, s->buf, s->cap,
			                        (const unsigned char *)io->src + io->src_pos, take,
			                        NULL);
			io->src_pos += take;
		} else if (finish) {
			r = LZ4F_compressEnd(s->cctx, s->buf, s->cap, NULL);
			s->ended = true;
		} else {
			return 0;
		}
		if (LZ4F_isError(r))
			return lz4err(s, r);
		s->pos = 0;
		s->len = r;
	}
}

static int decode_step(struct lz4state *s, lrd_codec_io *io)
{
	for (;;) {
		size_t in = io->src_size - io->src_pos, room = io->dst_size - io->dst_pos;
		size_t r =
		    LZ4F_decompress(s->dctx, lrd__io_out(io), &room, lrd__io_in(io), &in, NULL);
		if (LZ4F_isError(r))
			return lz4err(s, r);
		io->src_pos += in;
		io->dst_pos += room;
		if (r == 0)
			return s->done = true, 1;
		if (io->dst_pos == io->dst_size || io->src_pos == io->src_size ||
		    (in == 0 && room == 0))
			return 0;
	}
}

static int lz4_step(void *state, lrd_codec_io *io, int finish)
{
	struct lz4state *s = state;
	if (s->done)
		return 1;
	return s->mode == LRD_CODEC_ENCODE ? encode_step(s, io, finish) : decode_step(s, io);
}

/* cppcheck-suppress unknownMacro ; defined in codecs/stream_codec.h, which a run without -I .
 * cannot see */
LRD__STREAM_ONESHOT(lz4, lrd__codec_lz4)

static const char *const lz4_ext[] = {".lz4", NULL};

const lrd_codec lrd__codec_lz4 = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "lz4",
    .id = LRD_CODEC_ID_LZ4,
    .flags = LRD_CODEC_STREAM | LRD_CODEC_CHUNK,
    .extensions = lz4_ext,
    .min_level = -65536, /* acceleration 65537, liblz4's fastest */
    .max_level = 12,     /* LZ4HC_CLEVEL_MAX */
    .default_level = 0,
    .magic_size = 4,
    .version = lz4_version,
    .sniff = lz4_sniff,
    .bound = lz4_bound,
    .compress = lz4_compress,
    .decompress = lz4_decompress,
    .stream_new = lz4_new,
    .stream_step = lz4_step,
    .stream_free = lz4_free,
};
