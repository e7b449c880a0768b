/* zstd (id 8, .zst) as a dlopen plugin: larder-codec-zstd.so, built from this one file against
 * the public larder API only (<larder/codec.h>, lrd_error_set), linked with libzstd alone. It is
 * both the zstd codec and the worked example of the plugin ABI: one exported entry symbol
 * (LRD_CODEC_PLUGIN_SYMBOL) returning a constant lrd_codec_plugin with the ABI version it was
 * built against; everything else is static.
 *
 * Output is standard zstd frames (magic 28 b5 2f fd), so `zstd -d` reads it and larder reads
 * `zstd` output. The streaming decoder caps the window at 2^WINDOW_LOG_MAX bytes, zstd's own
 * default limit, stated here so that a crafted frame cannot make a decoder allocate more.
 *
 * Threading: no shared state; each call or stream owns its zstd context. */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <larder/codec.h>
#include <larder/error.h>

#define WINDOW_LOG_MAX 27

static const char *const zstd_exts[] = {".zst", NULL};
static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

static const char *zs_version(void) { return ZSTD_versionString(); }

static int zs_sniff(const void *head, size_t n)
{
	return n >= sizeof zstd_magic && memcmp(head, zstd_magic, sizeof zstd_magic) == 0;
}

static size_t zs_bound(size_t n, const lrd_codec_params *p)
{
	size_t b = ZSTD_compressBound(n);
	return ZSTD_isError(b) || b < n ? 0 : b;
}

/* Map a zstd error to a larder code, with zstd's own name of it in the message. Decoding, any
 * error not about memory, the output buffer or the window limit means the input is bad. */
static int zs_fail(size_t err, lrd_codec_mode mode)
{
	int code;
	switch (ZSTD_getErrorCode(err)) {
	case ZSTD_error_dstSize_tooSmall:
		code = LRD_EBUFSIZE;
		break;
	case ZSTD_error_memory_allocation:
		code = LRD_ENOMEM;
		break;
	case ZSTD_error_frameParameter_windowTooLarge:
		code = LRD_ELIMIT;
		break;
	default:
		code = mode == LRD_CODEC_DECODE ? LRD_ECORRUPT : LRD_ECODEC;
	}
	return lrd_error_set(code, "zstd: %s: %s",
	                     mode == LRD_CODEC_DECODE ? "decompress" : "compress",
	                     ZSTD_getErrorName(err));
}

static ZSTD_CCtx *new_cctx(const lrd_codec_params *p)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	if (c && (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, p->level)) ||
	          ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)))) {
		ZSTD_freeCCtx(c);
		c = NULL;
	}
	return c;
}

static ZSTD_DCtx *new_dctx(void)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	if (d && ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, WINDOW_LOG_MAX))) {
		ZSTD_freeDCtx(d);
		d = NULL;
	}
	return d;
}

static int zs_compress(const lrd_codec_params *p, const void *src, size_t n, void *dst, size_t cap,
                       size_t *out)
{
	ZSTD_CCtx *c = new_cctx(p);
	if (!c)
		return lrd_error_set(LRD_ENOMEM, "zstd: cannot create a compression context");
	size_t r;
	if (cap >= ZSTD_compressBound(n)) {
		r = ZSTD_compress2(c, dst, cap, src, n);
	} else {
		/* ZSTD_compress2 writes blocks straight into dst and needs slack to do so; the
		 * buffered streaming path flushes through zstd's own buffer, so output that fits
		 * exactly still succeeds */
		ZSTD_inBuffer in = {src, n, 0};
		ZSTD_outBuffer o = {dst, cap, 0};
		do
			r = ZSTD_compressStream2(c, &o, &in, ZSTD_e_end);
		while (!ZSTD_isError(r) && r != 0 && o.pos < o.size);
		if (!ZSTD_isError(r) && r != 0) {
			ZSTD_freeCCtx(c);
			return lrd_error_set(LRD_EBUFSIZE,
			                     "zstd: compress: output larger than %zu bytes", cap);
		}
		if (!ZSTD_isError(r))
			r = o.pos;
	}
	ZSTD_freeCCtx(c);
	if (ZSTD_isError(r))
		return zs_fail(r, LRD_CODEC_ENCODE);
	*out = r;
	return LRD_OK;
}

static int zs_decompress(const lrd_codec_params *p, const void *src, size_t n, void *dst,
                         size_t cap, size_t *out)
{
	if (n == 0)
		return lrd_error_set(LRD_ECORRUPT, "zstd: empty input");
	ZSTD_DCtx *d = new_dctx();
	if (!d)
		return lrd_error_set(LRD_ENOMEM, "zstd: cannot create a decompression context");
	/* one pass over every frame: concatenated frames decode as one, as `zstd -d` does */
	size_t r = ZSTD_decompressDCtx(d, dst, cap, src, n);
	ZSTD_freeDCtx(d);
	if (ZSTD_isError(r))
		return zs_fail(r, LRD_CODEC_DECODE);
	*out = r;
	return LRD_OK;
}

struct zs_stream {
	lrd_codec_mode mode;
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
};

static void zs_stream_free(void *state)
{
	struct zs_stream *s = state;
	if (!s)
		return;
	ZSTD_freeCCtx(s->c);
	ZSTD_freeDCtx(s->d);
	free(s);
}

static int zs_stream_new(const lrd_codec_params *p, lrd_codec_mode mode, void **state)
{
	struct zs_stream *s = calloc(1, sizeof *s);
	if (!s)
		return lrd_error_set(LRD_ENOMEM, "zstd: out of memory");
	s->mode = mode;
	if (mode == LRD_CODEC_ENCODE)
		s->c = new_cctx(p);
	else
		s->d = new_dctx();
	if (!s->c && !s->d) {
		free(s);
		return lrd_error_set(LRD_ENOMEM, "zstd: cannot create a stream context");
	}
	*state = s;
	return LRD_OK;
}

static int zs_stream_step(void *state, lrd_codec_io *io, int finish)
{
	struct zs_stream *s = state;
	ZSTD_inBuffer in = {io->src, io->src_size, io->src_pos};
	ZSTD_outBuffer out = {io->dst, io->dst_size, io->dst_pos};
	size_t r;
	if (s->mode == LRD_CODEC_ENCODE)
		r = ZSTD_compressStream2(s->c, &out, &in, finish ? ZSTD_e_end : ZSTD_e_continue);
	else
		r = ZSTD_decompressStream(s->d, &out, &in);
	io->src_pos = in.pos;
	io->dst_pos = out.pos;
	if (ZSTD_isError(r))
		return zs_fail(r, s->mode);
	/* r == 0: encoding with e_end, the frame is complete and flushed; decoding, a frame ended
	 */
	if (r == 0 && (s->mode == LRD_CODEC_DECODE || finish))
		return 1;
	return 0;
}

static const lrd_codec zstd_codec = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "zstd",
    .id = LRD_CODEC_ID_ZSTD,
    .flags = LRD_CODEC_STREAM | LRD_CODEC_CHUNK,
    .extensions = zstd_exts,
    .min_level = 1,
    .max_level = 19,
    .default_level = 3,
    .magic_size = sizeof zstd_magic,
    .version = zs_version,
    .sniff = zs_sniff,
    .bound = zs_bound,
    .compress = zs_compress,
    .decompress = zs_decompress,
    .stream_new = zs_stream_new,
    .stream_step = zs_stream_step,
    .stream_free = zs_stream_free,
};

static const lrd_codec *const zstd_codecs[] = {&zstd_codec};

static const lrd_codec_plugin zstd_plugin = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "zstd",
    .count = 1,
    .codecs = zstd_codecs,
};

LRD_API const lrd_codec_plugin *larder_codec_plugin(void);

LRD_API const lrd_codec_plugin *larder_codec_plugin(void) { return &zstd_plugin; }
