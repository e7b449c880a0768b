/* Using a codec: parameter resolution, checked one-shot calls, bounded decompression into
 * allocated memory, and the stream wrapper that gives every codec's streaming form the same
 * behaviour (concatenated members, truncation detection) whatever the library underneath.
 *
 * The wrapper's decoder state machine: IN_MEMBER while the codec decodes a member; when the
 * codec reports a member's end it becomes BETWEEN, and the next input byte starts a fresh codec
 * state. Input that ends with `finish` while IN_MEMBER and the codec makes no progress is a
 * truncated stream. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/codec_internal.h"

lrd_codec_params lrd__codec_resolve(const lrd_codec *c, const lrd_codec_params *p)
{
	lrd_codec_params r = p ? *p : (lrd_codec_params){0};
	r.level = lrd_codec_level(c, p);
	if (r.typesize == 0)
		r.typesize = 1;
	if (r.threads <= 0)
		r.threads = 1;
	return r;
}

int lrd__codec_params_copy(lrd_codec_params *dst, const lrd_codec_params *src)
{
	*dst = src ? *src : (lrd_codec_params){0};
	if (dst->inner && !(dst->inner = lrd__strdup(dst->inner)))
		return LRD_ENOMEM;
	return LRD_OK;
}

void lrd__codec_params_release(lrd_codec_params *p)
{
	lrd__free((char *)p->inner);
	p->inner = NULL;
}

int lrd_codec_level(const lrd_codec *c, const lrd_codec_params *p)
{
	if (!c)
		return 0;
	int level = !p || !p->level                    ? c->default_level
	            : p->level == LRD_CODEC_LEVEL_ZERO ? 0
	                                               : p->level;
	if (level < c->min_level)
		level = c->min_level;
	if (level > c->max_level)
		level = c->max_level;
	return level;
}

int lrd__codec_level_check(const lrd_codec *c, int level)
{
	if (!c || level == 0)
		return LRD_OK;
	int l = level == LRD_CODEC_LEVEL_ZERO ? 0 : level;
	if (l < c->min_level || l > c->max_level)
		return lrd__err(LRD_EINVAL, "codec '%s': level %d outside its range %d..%d",
		                c->name, l, c->min_level, c->max_level);
	return LRD_OK;
}

static bool is_raw(const char *name) { return !strcmp(name, "raw") || !strcmp(name, "none"); }

int lrd_codec_parse(const char *spec, unsigned need, const lrd_codec **codec, int *level)
{
	if (codec)
		*codec = NULL;
	if (level)
		*level = 0;
	if (!spec || !*spec || !codec || !level)
		return lrd__err(LRD_EINVAL, "lrd_codec_parse: NULL or empty argument");
	char name[40];
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	if (n == 0 || n >= sizeof name)
		return lrd__err(LRD_EINVAL, "codec spec '%s': want NAME or NAME:LEVEL", spec);
	memcpy(name, spec, n);
	name[n] = '\0';
	const lrd_codec *c = NULL;
	if (!is_raw(name)) {
		c = lrd_codec_by_name(name);
		if (!c)
			return lrd__err(LRD_ECODEC,
			                "unknown codec '%s' (a plugin not loaded? 'larder codecs' "
			                "lists them)",
			                name);
		if ((c->flags & need) != need)
			return lrd__err(LRD_ECODEC, "codec '%s' %s", name,
			                need & LRD_CODEC_STREAM ? "cannot compress whole files "
			                                          "(a chunk codec only)"
			                                        : "is not a chunk codec");
	}
	if (colon) {
		const char *t = colon + 1;
		char *end;
		errno = 0;
		long l = strtol(t, &end, 10);
		/* strtol takes leading blanks and '+': a level is [-]digits and nothing else */
		bool digits =
		    (t[0] == '-' ? t[1] : t[0]) >= '0' && (t[0] == '-' ? t[1] : t[0]) <= '9';
		if (!digits || *end || errno || l < INT_MIN + 1 || l > INT_MAX)
			return lrd__err(LRD_EINVAL, "codec spec '%s': level '%s' is not an integer",
			                spec, t);
		if (!c)
			return lrd__err(LRD_EINVAL, "codec spec '%s': '%s' takes no level", spec,
			                name);
		int rc = lrd__codec_level_check(c, l ? (int)l : LRD_CODEC_LEVEL_ZERO);
		if (rc)
			return rc;
		*level = l ? (int)l : LRD_CODEC_LEVEL_ZERO;
	}
	*codec = c;
	return LRD_OK;
}

size_t lrd_codec_bound(const lrd_codec *c, size_t n, const lrd_codec_params *p)
{
	if (!c)
		return 0;
	lrd_codec_params r = lrd__codec_resolve(c, p);
	return c->bound(n, &r);
}

static int check_params(const lrd_codec_params *p)
{
	return p ? LRD__RESERVED_CHECK(p, "lrd_codec_params") : LRD_OK;
}

static int check_args(const lrd_codec *c, const lrd_codec_params *p, const void *src, size_t n,
                      const void *dst, size_t cap, const size_t *out)
{
	if (!c || !out || (!src && n) || (!dst && cap))
		return lrd__err(LRD_EINVAL, "codec call with NULL argument");
	return check_params(p);
}

int lrd_codec_compress(const lrd_codec *c, const lrd_codec_params *p, const void *src, size_t n,
                       void *dst, size_t cap, size_t *out)
{
	int rc = check_args(c, p, src, n, dst, cap, out);
	if (!rc && p)
		rc = lrd__codec_level_check(c, p->level);
	if (rc)
		return rc;
	lrd_codec_params r = lrd__codec_resolve(c, p);
	*out = 0;
	rc = c->compress(&r, src, n, dst, cap, out);
	if (rc == LRD_OK && *out > cap)
		rc = lrd__err(LRD_ECODEC, "%s: compressor reported %zu bytes into %zu", c->name,
		              *out, cap);
	return rc;
}

int lrd_codec_decompress(const lrd_codec *c, const lrd_codec_params *p, const void *src, size_t n,
                         void *dst, size_t cap, size_t *out)
{
	int rc = check_args(c, p, src, n, dst, cap, out);
	if (rc)
		return rc;
	lrd_codec_params r = lrd__codec_resolve(c, p);
	*out = 0;
	rc = c->decompress(&r, src, n, dst, cap, out);
	if (rc == LRD_OK && *out > cap)
		rc = lrd__err(LRD_ECODEC, "%s: decompressor reported %zu bytes into %zu", c->name,
		              *out, cap);
	return rc;
}

/* ---- streams ---------------------------------------------------------------------------- */

enum phase { IN_MEMBER, BETWEEN };

struct lrd_codec_stream {
	const lrd_codec *codec;
	lrd_codec_params params;
	lrd_codec_mode mode;
	void *state;
	enum phase phase;
	size_t members;
	bool seen_input;
};

/* `r` is already resolved: resolving twice would turn a resolved level 0 into the default. */
static int stream_create(const lrd_codec *c, const lrd_codec_params *r, lrd_codec_mode mode,
                         lrd_codec_stream **out)
{
	if (!c || !out || (mode != LRD_CODEC_ENCODE && mode != LRD_CODEC_DECODE))
		return lrd__err(LRD_EINVAL, "lrd_codec_stream_new: bad argument");
	*out = NULL;
	if (!(c->flags & LRD_CODEC_STREAM))
		return lrd__err(LRD_EUNSUPPORTED, "codec '%s' has no streaming form", c->name);
	lrd_codec_stream *s = lrd__calloc(1, sizeof *s);
	if (!s)
		return LRD_ENOMEM;
	s->codec = c;
	s->params = *r;
	s->mode = mode;
	int rc = c->stream_new(&s->params, mode, &s->state);
	if (rc) {
		lrd__free(s);
		return rc;
	}
	*out = s;
	return LRD_OK;
}

int lrd_codec_stream_new(const lrd_codec *c, const lrd_codec_params *p, lrd_codec_mode mode,
                         lrd_codec_stream **out)
{
	if (out)
		*out = NULL;
	int rc = check_params(p);
	if (!rc && p && mode == LRD_CODEC_ENCODE)
		rc = lrd__codec_level_check(c, p->level);
	if (rc)
		return rc;
	lrd_codec_params r = c ? lrd__codec_resolve(c, p) : (lrd_codec_params){0};
	return stream_create(c, &r, mode, out);
}

static int restart(lrd_codec_stream *s)
{
	s->codec->stream_free(s->state);
	s->state = NULL;
	int rc = s->codec->stream_new(&s->params, s->mode, &s->state);
	if (rc == LRD_OK)
		s->phase = IN_MEMBER;
	return rc;
}

static int decode_step(lrd_codec_stream *s, lrd_codec_io *io, int finish)
{
	for (;;) {
		bool more_input = io->src_pos < io->src_size;
		if (more_input)
			s->seen_input = true;
		if (s->phase == BETWEEN) {
			if (!more_input)
				return finish ? 1 : 0;
			int rc = restart(s);
			if (rc)
				return rc;
		}
		size_t in0 = io->src_pos, out0 = io->dst_pos;
		int rc = s->codec->stream_step(s->state, io, finish);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			s->members++;
			s->phase = BETWEEN;
			continue;
		}
		bool progress = io->src_pos != in0 || io->dst_pos != out0;
		if (io->dst_pos == io->dst_size)
			return 0; /* caller must drain output */
		if (progress)
			continue;
		if (io->src_pos < io->src_size)
			return lrd__err(LRD_ECODEC, "%s: decoder made no progress", s->codec->name);
		if (!finish)
			return 0;
		if (!s->seen_input)
			return lrd__err(LRD_ECORRUPT, "%s: empty input", s->codec->name);
		return lrd__err(LRD_ECORRUPT, "%s: truncated stream", s->codec->name);
	}
}

int lrd_codec_stream_step(lrd_codec_stream *s, lrd_codec_io *io, int finish)
{
	if (!s || !io || io->src_pos > io->src_size || io->dst_pos > io->dst_size ||
	    (!io->src && io->src_size) || (!io->dst && io->dst_size))
		return lrd__err(LRD_EINVAL, "lrd_codec_stream_step: bad argument");
	if (s->mode == LRD_CODEC_DECODE)
		return decode_step(s, io, finish);
	return s->codec->stream_step(s->state, io, finish);
}

void lrd_codec_stream_free(lrd_codec_stream *s)
{
	if (!s)
		return;
	if (s->state)
		s->codec->stream_free(s->state);
	lrd__free(s);
}

int lrd__codec_oneshot(const lrd_codec *c, const lrd_codec_params *p, lrd_codec_mode mode,
                       const void *src, size_t n, void *dst, size_t cap, size_t *out)
{
	lrd_codec_stream *s;
	int rc = stream_create(c, p, mode, &s);
	if (rc)
		return rc;
	lrd_codec_io io = {src, n, 0, dst, cap, 0};
	while ((rc = lrd_codec_stream_step(s, &io, 1)) == 0) {
		if (io.dst_pos == io.dst_size) {
			/* Full output: is there really more to come? Probe with one spare byte. */
			unsigned char spare;
			lrd_codec_io probe = {io.src, io.src_size, io.src_pos, &spare, 1, 0};
			rc = lrd_codec_stream_step(s, &probe, 1);
			if (rc >= 0 && probe.dst_pos == 0 && rc == 1)
				break;
			if (rc >= 0)
				rc = lrd__err(LRD_EBUFSIZE, "%s: output larger than %zu bytes",
				              c->name, cap);
			break;
		}
	}
	*out = io.dst_pos;
	lrd_codec_stream_free(s);
	return rc < 0 ? rc : LRD_OK;
}

int lrd_codec_decompress_alloc(const lrd_codec *c, const lrd_codec_params *p, const void *src,
                               size_t n, size_t limit, void **out, size_t *outlen)
{
	if (!c || !out || !outlen || (!src && n))
		return lrd__err(LRD_EINVAL, "lrd_codec_decompress_alloc: bad argument");
	*out = NULL;
	*outlen = 0;
	/* cap * 2 and cap + 1 below must not wrap */
	if (limit == 0 || limit > SIZE_MAX / 2)
		limit = SIZE_MAX / 2;
	lrd_codec_stream *s;
	int rc = lrd_codec_stream_new(c, p, LRD_CODEC_DECODE, &s);
	if (rc)
		return rc;
	size_t cap = n < limit / 4 ? (n < 4096 ? 4096 : n * 4) : limit;
	if (cap > limit)
		cap = limit;
	unsigned char *buf = lrd__malloc(cap + 1);
	lrd_codec_io io = {src, n, 0, buf, cap + 1, 0};
	/* cap + 1: one byte past the limit tells a stream that reaches it from one that exceeds it
	 */
	while (buf && (rc = lrd_codec_stream_step(s, &io, 1)) == 0) {
		if (io.dst_pos < io.dst_size)
			continue;
		if (io.dst_pos > limit) {
			rc = lrd__err(LRD_ELIMIT, "%s: output exceeds the limit of %zu bytes",
			              c->name, limit);
			break;
		}
		size_t ncap = cap > limit / 2 ? limit : cap * 2;
		unsigned char *nb = lrd__realloc(buf, ncap + 1);
		if (!nb) {
			rc = LRD_ENOMEM;
			break;
		}
		buf = nb;
		cap = ncap;
		io.dst = buf;
		io.dst_size = cap + 1;
	}
	lrd_codec_stream_free(s);
	if (!buf)
		return LRD_ENOMEM;
	if (rc == 1 && io.dst_pos > limit)
		rc = lrd__err(LRD_ELIMIT, "%s: output exceeds the limit of %zu bytes", c->name,
		              limit);
	if (rc < 0) {
		lrd__free(buf);
		return rc;
	}
	*out = buf;
	*outlen = io.dst_pos;
	return LRD_OK;
}

void lrd_free(void *p) { lrd__free(p); }
