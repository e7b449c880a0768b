/* Whole-file codec layers over a stream (io_internal.h): an unwrapping reader that decodes a
 * compressed input on demand, and a wrapping writer that compresses everything written.
 *
 * Both run the codec's streaming form through lrd_codec_stream in fixed 64 KiB steps, so
 * memory stays bounded whatever the file size, and neither ever seeks: pipes work. The reader
 * asks the decoder for exactly the bytes requested; at the end of the compressed input it
 * passes `finish` so a stream cut inside a member is reported as truncated. */
#include "engine/io/io_internal.h"

struct lrd__unwrap {
	lrd_stream *s;
	const lrd_codec *codec;
	lrd_codec_stream *decoder;
	uint8_t in[LRD__IO_BUFSIZE];
	size_t in_pos, in_len;
	bool in_eof; /* the compressed input has ended */
	bool ended;  /* the decoder reported the end with finish set */
};

int lrd__unwrap_new(lrd_stream *s, const lrd_codec *c, lrd__unwrap **out)
{
	lrd__unwrap *u = lrd__calloc(1, sizeof *u);
	if (!u)
		return LRD_ENOMEM;
	int rc = lrd_codec_stream_new(c, NULL, LRD_CODEC_DECODE, &u->decoder);
	if (rc) {
		lrd__free(u);
		return lrd__errctx(rc, "%s decoder", c->name);
	}
	u->s = s;
	u->codec = c;
	*out = u;
	return LRD_OK;
}

/* Decode up to n bytes into p; *got < n only at the end of the logical stream. */
static int unwrap_some(lrd__unwrap *u, uint8_t *p, size_t n, size_t *got)
{
	*got = 0;
	while (*got < n && !u->ended) {
		if (u->in_pos == u->in_len && !u->in_eof) {
			int rc = lrd__stream_read_some(u->s, u->in, sizeof u->in, &u->in_len);
			if (rc)
				return rc;
			u->in_pos = 0;
			u->in_eof = u->in_len == 0;
		}
		lrd_codec_io io = {.src = u->in + u->in_pos,
		                   .src_size = u->in_len - u->in_pos,
		                   .dst = p + *got,
		                   .dst_size = n - *got};
		int rc = lrd_codec_stream_step(u->decoder, &io, u->in_eof);
		if (rc < 0)
			return lrd__errctx(rc, "%s stream in %s", u->codec->name,
			                   lrd__stream_name(u->s));
		u->in_pos += io.src_pos;
		*got += io.dst_pos;
		if (rc == 1 && u->in_eof)
			u->ended = true;
		else if (io.src_pos == 0 && io.dst_pos == 0 && u->in_eof)
			return lrd__err(LRD_ECORRUPT, "%s stream in %s is truncated",
			                u->codec->name, lrd__stream_name(u->s));
	}
	return LRD_OK;
}

static int unwrap_read(void *ctx, void *p, size_t n)
{
	lrd__unwrap *u = ctx;
	size_t got;
	int rc = unwrap_some(u, p, n, &got);
	if (!rc && got < n)
		return lrd__err(LRD_ECORRUPT, "truncated: the %s stream ended %zu bytes early",
		                u->codec->name, n - got);
	return rc;
}

lrd__reader lrd__unwrap_reader(lrd__unwrap *u)
{
	return (lrd__reader){.read = unwrap_read, .ctx = u, .avail = LRD__AVAIL_UNKNOWN};
}

int lrd__unwrap_finish(lrd__unwrap *u)
{
	uint8_t b;
	size_t got;
	int rc = unwrap_some(u, &b, 1, &got);
	if (!rc && got)
		return lrd__err(LRD_ECORRUPT,
		                "trailing data after the larder file inside the %s stream",
		                u->codec->name);
	return rc;
}

void lrd__unwrap_free(lrd__unwrap *u)
{
	if (!u)
		return;
	lrd_codec_stream_free(u->decoder);
	lrd__free(u);
}

/* ---- writer ---------------------------------------------------------------------------------- */

struct lrd__wrap {
	lrd_stream *s;
	const lrd_codec *codec;
	lrd_codec_stream *encoder;
	uint8_t out[LRD__IO_BUFSIZE];
};

int lrd__wrap_new(lrd_stream *s, const lrd_codec *c, const lrd_codec_params *p, lrd__wrap **out)
{
	lrd__wrap *w = lrd__calloc(1, sizeof *w);
	if (!w)
		return LRD_ENOMEM;
	int rc = lrd_codec_stream_new(c, p, LRD_CODEC_ENCODE, &w->encoder);
	if (rc) {
		lrd__free(w);
		return lrd__errctx(rc, "%s encoder", c->name);
	}
	w->s = s;
	w->codec = c;
	*out = w;
	return LRD_OK;
}

static int wrap_run(lrd__wrap *w, const void *p, size_t n, int finish)
{
	lrd_codec_io io = {.src = p, .src_size = n};
	for (;;) {
		io.dst = w->out;
		io.dst_size = sizeof w->out;
		io.dst_pos = 0;
		size_t before = io.src_pos;
		int step = lrd_codec_stream_step(w->encoder, &io, finish);
		if (step < 0)
			return lrd__errctx(step, "%s encoder", w->codec->name);
		int rc = io.dst_pos ? lrd__stream_write(w->s, w->out, io.dst_pos) : LRD_OK;
		if (rc)
			return rc;
		if (finish ? step == 1 : (io.src_pos == io.src_size && io.dst_pos < io.dst_size))
			return LRD_OK;
		if (io.src_pos == before && io.dst_pos == 0)
			return lrd__err(LRD_ECODEC, "%s encoder made no progress", w->codec->name);
	}
}

static int wrap_write(void *ctx, const void *p, size_t n) { return wrap_run(ctx, p, n, 0); }

lrd__writer lrd__wrap_writer(lrd__wrap *w) { return (lrd__writer){.write = wrap_write, .ctx = w}; }

int lrd__wrap_finish(lrd__wrap *w) { return wrap_run(w, NULL, 0, 1); }

void lrd__wrap_free(lrd__wrap *w)
{
	if (!w)
		return;
	lrd_codec_stream_free(w->encoder);
	lrd__free(w);
}
