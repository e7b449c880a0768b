/* Out-of-core arrays (file.h): lrd_array_writer pushes an array's bytes into a file holding
 * that array as its root value, lrd_array_reader reads such a file back chunk by chunk or by
 * byte range, and lrd_load_range reads a byte range of any array in a file.
 *
 * Range reads seek: in layout 0 to the chunk's table entry and data, in layout 1 along the chunk
 * headers (their offsets are remembered, so reaching chunk i costs at most i header reads
 * once). Only the chunks overlapping the range are read, each verified before use. Memory: one
 * chunk buffer, plus 8 bytes per chunk header walked. */
#include "engine/file/dump_internal.h"
#include "engine/file/load_internal.h"

/* ---- writer ---------------------------------------------------------------------------------- */

struct lrd_array_writer {
	lrd__dump_config cfg;
	lrd__file_output fw;
	lrd__payload_writer e;
	bool started, failed, finished;
};

int lrd_array_writer_new(lrd_stream *s, lrd_dtype dt, unsigned ndim, const uint64_t *shape,
                         lrd_order order, const lrd_dump_options *opts, lrd_array_writer **out)
{
	if (!out || !s || (ndim && !shape))
		return lrd__err(LRD_EINVAL, "lrd_array_writer_new: NULL argument");
	*out = NULL;
	uint64_t count = 1, nbytes;
	for (unsigned i = 0; i < ndim && i < LRD_MAX_NDIM; i++)
		if (__builtin_mul_overflow(count, shape[i], &count))
			return lrd__err(LRD_ELIMIT, "array shape overflows 64 bits");
	if (ndim > LRD_MAX_NDIM)
		return lrd__err(LRD_EINVAL, "array with %u dimensions (max %d)", ndim,
		                LRD_MAX_NDIM);
	if (!lrd_dtype_valid(dt))
		return lrd__err(LRD_EDTYPE, "invalid dtype");
	if (__builtin_mul_overflow(count, (uint64_t)dt.itemsize, &nbytes))
		return lrd__err(LRD_ELIMIT, "array byte size overflows 64 bits");
	lrd_array_writer *w = lrd__calloc(1, sizeof *w);
	if (!w)
		return LRD_ENOMEM;
	int rc = lrd__dump_config_resolve(opts, NULL, &w->cfg);
	if (!rc && !(rc = lrd__file_output_begin(&w->fw, s, &w->cfg))) {
		w->started = true;
		if (!(rc = lrd__tree_array_header(&w->fw.f.channel, dt, order, ndim, shape)))
			rc = lrd__payload_writer_begin(&w->e, &w->fw.f, &w->cfg, dt, nbytes);
	}
	if (rc) {
		lrd_array_writer_free(w);
		return rc;
	}
	*out = w;
	return LRD_OK;
}

int lrd_array_writer_write(lrd_array_writer *w, const void *p, size_t n)
{
	if (!w || (!p && n))
		return lrd__err(LRD_EINVAL, "lrd_array_writer_write: NULL argument");
	if (w->failed || w->finished)
		return lrd__err(LRD_EINVAL, "array writer is %s",
		                w->failed ? "failed" : "finished");
	int rc = lrd__payload_writer_push(&w->e, p, n);
	w->failed = rc != LRD_OK && rc != LRD_EINVAL;
	return rc;
}

int lrd_array_writer_finish(lrd_array_writer *w)
{
	if (!w || w->failed || w->finished)
		return lrd__err(LRD_EINVAL, "array writer is %s",
		                !w          ? "NULL"
		                : w->failed ? "failed"
		                            : "finished");
	int rc = lrd__payload_writer_end(&w->e);
	if (rc)
		return rc;
	rc = lrd__file_output_end(&w->fw);
	w->failed = rc != LRD_OK;
	w->finished = rc == LRD_OK;
	return rc;
}

void lrd_array_writer_free(lrd_array_writer *w)
{
	if (!w)
		return;
	lrd__payload_writer_destroy(&w->e);
	if (w->started)
		lrd__file_output_destroy(&w->fw);
	lrd__dump_config_destroy(&w->cfg);
	lrd__free(w);
}

/* ---- range reads ----------------------------------------------------------------------------- */

typedef struct ranger {
	lrd__payload_reader *p;
	lrd_stream *s;
	uint8_t *buf;      /* one chunk */
	uint64_t *offsets; /* layout 1: header offset of chunk i, known for i < walked */
	uint64_t walked;
} ranger;

static int read_at(lrd_stream *s, uint64_t off, void *dst, size_t n, lrd__reader *rd)
{
	int rc = lrd__stream_seek(s, off);
	if (rc)
		return rc;
	*rd = lrd__stream_reader(s);
	return lrd__reader_get(rd, dst, n);
}

/* Read chunk i, verified and decompressed, into g->buf. */
static int range_chunk(ranger *g, uint64_t i)
{
	lrd__payload_reader *p = g->p;
	uint64_t raw = lrd__payload_reader_chunk_raw(p, i);
	uint8_t hb[LRD__CHUNK_HDR_SIZE];
	lrd__chunk c;
	lrd__reader rd;
	int rc;
	if (p->layout == LRD__LAYOUT_CONTIGUOUS) {
		if ((rc = read_at(g->s, p->start + p->d.nbytes + i * LRD__CHUNK_HDR_SIZE, hb,
		                  sizeof hb, &rd)) ||
		    (rc = lrd__chunk_decode(hb, raw, raw, &c)) ||
		    (rc = read_at(g->s, p->start + i * p->chunk_size, g->buf, (size_t)raw, &rd)))
			return rc;
		if (c.codec != LRD_CODEC_ID_RAW || c.raw_size != raw)
			return lrd__err(LRD_ECORRUPT,
			                "table entry does not describe a raw chunk of %llu bytes",
			                (unsigned long long)raw);
		return lrd__chunk_verify(&c, g->buf);
	}
	if (!g->offsets) {
		if (!(g->offsets = lrd__malloc((size_t)(p->nchunks + 1) * sizeof *g->offsets)))
			return LRD_ENOMEM;
		g->offsets[0] = p->start;
	}
	for (;;) {
		uint64_t at = g->offsets[g->walked < i ? g->walked : i];
		if ((rc = read_at(g->s, at, hb, sizeof hb, &rd)))
			return rc;
		uint64_t j = g->walked < i ? g->walked : i;
		if ((rc = lrd__chunk_decode(hb, lrd__payload_reader_chunk_raw(p, j), rd.avail, &c)))
			return rc;
		if (c.raw_size != lrd__payload_reader_chunk_raw(p, j) ||
		    (c.codec != LRD_CODEC_ID_RAW && c.stored_size >= c.raw_size))
			return lrd__err(LRD_ECORRUPT, "chunk header sizes do not fit the array");
		uint64_t data = (at + LRD__CHUNK_HDR_SIZE + LRD__ALIGNMENT - 1) &
		                ~(uint64_t)(LRD__ALIGNMENT - 1);
		if (j == i) {
			uint8_t *dst = g->buf;
			if (c.codec != LRD_CODEC_ID_RAW &&
			    (rc = lrd__payload_reader_scratch(p, c.stored_size, &dst)))
				return rc;
			if ((rc = read_at(g->s, data, dst, (size_t)c.stored_size, &rd)))
				return rc;
			return c.codec == LRD_CODEC_ID_RAW
			           ? lrd__chunk_verify(&c, dst)
			           : lrd__chunk_decompress(&c, dst, g->buf, (size_t)raw);
		}
		g->offsets[++g->walked] = data + c.stored_size;
	}
}

static int range_read(ranger *g, uint64_t off, void *dst, size_t n)
{
	lrd__payload_reader *p = g->p;
	if (off > p->d.nbytes || n > p->d.nbytes - off)
		return lrd__err(LRD_EINVAL, "bytes [%llu, +%zu) lie outside the %llu-byte array",
		                (unsigned long long)off, n, (unsigned long long)p->d.nbytes);
	if (n == 0)
		return LRD_OK;
	if (!g->buf && !(g->buf = lrd__malloc((size_t)p->chunk_size)))
		return LRD_ENOMEM;
	uint8_t *out = dst;
	while (n) {
		uint64_t i = off / p->chunk_size, in = off % p->chunk_size;
		int rc = range_chunk(g, i);
		if (rc)
			return lrd__errctx(rc, "chunk %llu of %s", (unsigned long long)i, p->what);
		size_t k = (size_t)(lrd__payload_reader_chunk_raw(p, i) - in);
		if (k > n)
			k = n;
		memcpy(out, g->buf + in, k);
		out += k;
		off += k;
		n -= k;
	}
	return LRD_OK;
}

static void ranger_free(ranger *g)
{
	lrd__free(g->buf);
	lrd__free(g->offsets);
}

/* ---- lrd_load_range
 * ------------------------------------------------------------------------------ */

struct range_job {
	lrd__file_input *fr;
	const lrd_load_options *o;
	uint64_t off;
	void *dst;
	size_t n;
	bool hit; /* the entry was an array and the range was read */
	char what[64];
};

static int range_array(void *ctx, const lrd__array_desc *d, lrd__reader *r, lrd_value **out)
{
	struct range_job *J = ctx;
	lrd__payload_reader p;
	(void)r;
	snprintf(J->what, sizeof J->what, "the array at offset %llu",
	         (unsigned long long)J->fr->f.channel.pos);
	int rc = lrd__payload_reader_begin(&p, &J->fr->f, d, NULL, J->what);
	if (!rc && !out)
		rc = lrd__payload_reader_skip(&p);
	if (!rc && out) {
		ranger g = {.p = &p, .s = J->fr->s};
		rc = range_read(&g, J->off, J->dst, J->n);
		ranger_free(&g);
		J->hit = rc == LRD_OK;
		if (!rc)
			rc = lrd_value_new_nil(out);
	}
	lrd__payload_reader_destroy(&p);
	return rc;
}

int lrd_load_range_stream(lrd_stream *s, const char *keypath, uint64_t offset, void *dst, size_t n,
                          const lrd_load_options *opts)
{
	if (!dst && n)
		return lrd__err(LRD_EINVAL, "lrd_load_range: NULL destination");
	char *buf;
	const char **parts;
	size_t np;
	lrd__file_input fr;
	lrd_value *v = NULL;
	int rc = lrd__load_options_check(opts);
	if (!rc)
		rc = lrd__keypath_split(keypath, &buf, &parts, &np);
	if (rc)
		return rc;
	if (!(rc = lrd__file_input_open(&fr, s, LRD__INPUT_SEEK))) {
		struct range_job J = {.fr = &fr, .o = opts, .off = offset, .dst = dst, .n = n};
		lrd__tree_hooks h = {
		    .array_in = range_array, .ctx = &J, .max_depth = opts ? opts->max_depth : 0};
		rc = lrd__tree_decode_path(&fr.f.channel, &h, parts, np, &v);
		if (!rc && !J.hit)
			rc = lrd__err(LRD_EINVAL, "'%s' is a %s, not an array",
			              keypath ? keypath : "", lrd_kind_name(lrd_value_kind(v)));
	}
	lrd_value_free(v);
	lrd__file_input_close(&fr);
	lrd__free(parts);
	lrd__free(buf);
	return rc;
}

int lrd_load_range(const char *path, const char *keypath, uint64_t offset, void *dst, size_t n,
                   const lrd_load_options *opts)
{
	lrd_stream *s;
	int rc = lrd_stream_open_path(path, "r", &s);
	if (rc)
		return rc;
	rc = lrd_load_range_stream(s, keypath, offset, dst, n, opts);
	lrd_stream_close(s);
	return rc;
}

/* ---- reader ---------------------------------------------------------------------------------- */

struct lrd_array_reader {
	lrd__file_input fr;
	lrd__payload_reader p;
	ranger g;
	int threads; /* lrd_load_options.threads */
	bool ended;
	char what[16];
};

int lrd_array_reader_new(lrd_stream *s, const lrd_load_options *opts, lrd_array_reader **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_array_reader_new: NULL output");
	*out = NULL;
	int rc = lrd__load_options_check(opts);
	if (rc)
		return rc;
	lrd_array_reader *r = lrd__calloc(1, sizeof *r);
	if (!r)
		return LRD_ENOMEM;
	snprintf(r->what, sizeof r->what, "the root array");
	uint8_t tag;
	lrd__array_desc d;
	rc = lrd__file_input_open(&r->fr, s, LRD__INPUT_HASH);
	if (!rc)
		rc = lrd__reader_u8(&r->fr.f.channel, &tag);
	if (!rc && tag != LRD__TAG_ARRAY)
		rc = lrd__err(LRD_EFORMAT, "the file holds a value of tag 0x%02x, not an array",
		              tag);
	if (!rc)
		rc = lrd__tree_read_array_desc(&r->fr.f.channel, &d);
	if (!rc)
		rc = lrd__payload_reader_begin(&r->p, &r->fr.f, &d, opts, r->what);
	if (rc) {
		lrd_array_reader_free(r);
		return rc;
	}
	r->g = (ranger){.p = &r->p, .s = s};
	r->threads = opts ? opts->threads : 0;
	*out = r;
	return LRD_OK;
}

void lrd_array_reader_describe(const lrd_array_reader *r, lrd_dtype *dt, unsigned *ndim,
                               const uint64_t **shape, lrd_order *order, uint64_t *nbytes)
{
	if (dt)
		*dt = r->p.d.dtype;
	if (ndim)
		*ndim = r->p.d.ndim;
	if (shape)
		*shape = r->p.d.shape;
	if (order)
		*order = r->p.d.order;
	if (nbytes)
		*nbytes = r->p.d.nbytes;
}

int lrd_array_reader_next(lrd_array_reader *r, const void **data, size_t *n)
{
	if (!r || !data || !n)
		return lrd__err(LRD_EINVAL, "lrd_array_reader_next: NULL argument");
	*data = NULL;
	*n = 0;
	if (r->ended)
		return LRD_OK;
	int rc = lrd__payload_reader_next(&r->p, r->threads, data, n);
	if (rc || *data)
		return rc;
	if (!(rc = lrd__payload_reader_end(&r->p, NULL, false)))
		rc = lrd__file_input_finish(&r->fr);
	r->ended = rc == LRD_OK;
	return rc;
}

int lrd_array_reader_read_range(lrd_array_reader *r, uint64_t offset, void *dst, size_t n)
{
	if (!r || (!dst && n))
		return lrd__err(LRD_EINVAL, "lrd_array_reader_read_range: NULL argument");
	if (r->fr.whole || !lrd__stream_seekable(r->fr.s))
		return lrd__err(LRD_EUNSUPPORTED, "range reads need a seekable stream that is not "
		                                  "whole-file compressed");
	/* come back to where sequential reading stands */
	uint64_t at = lrd__stream_tell(r->fr.s);
	int rc = range_read(&r->g, offset, dst, n);
	int src = lrd__stream_seek(r->fr.s, at);
	return rc ? rc : src;
}

void lrd_array_reader_free(lrd_array_reader *r)
{
	if (!r)
		return;
	ranger_free(&r->g);
	lrd__payload_reader_destroy(&r->p);
	lrd__file_input_close(&r->fr);
	lrd__free(r);
}
