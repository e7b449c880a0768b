/* The array payload reader (file_internal.h; FORMAT.md §5): validates an array's payload prefix
 * against the input and the limits, then yields its chunks verified and decompressed, skips
 * it, or checks its chunk table.
 *
 * Layout 0 read sequentially: chunk data goes straight into the caller's buffer and is
 * checksummed there; the sums wait (8 bytes per chunk of >= 4 KiB) until the chunk table that
 * follows the payload is read. Layout 1: each header is read and validated before its data; raw
 * chunks go straight to the caller's buffer, compressed ones through one scratch buffer that
 * grows to the largest stored chunk (bounded by the codec's bound of the chunk size). */
#include "engine/file/file_internal.h"
#include "engine/value/value_internal.h"

uint64_t lrd__payload_reader_chunk_raw(const lrd__payload_reader *p, uint64_t i)
{
	return i + 1 < p->nchunks ? p->chunk_size : p->d.nbytes - i * p->chunk_size;
}

int lrd__payload_reader_limit(const lrd__payload_reader *p, const lrd_load_options *o)
{
	uint64_t n = p->d.nbytes;
	if (o && o->max_array_bytes && n > o->max_array_bytes)
		return lrd__err(LRD_ELIMIT,
		                "%s (%llu bytes) exceeds the limit of %llu "
		                "(lrd_load_options.max_array_bytes)",
		                p->what, (unsigned long long)n,
		                (unsigned long long)o->max_array_bytes);
	if (n > (uint64_t)PTRDIFF_MAX)
		return lrd__err(LRD_ELIMIT, "%s (%llu bytes) cannot be addressed", p->what,
		                (unsigned long long)n);
	return LRD_OK;
}

int lrd__payload_reader_begin(lrd__payload_reader *p, lrd__file_reader *f, const lrd__array_desc *d,
                              const lrd_load_options *o, const char *what)
{
	*p = (lrd__payload_reader){.f = f, .d = *d, .what = what};
	uint64_t chunk_size;
	int rc;
	if ((rc = lrd__reader_u8(&f->channel, &p->layout)) ||
	    (rc = lrd__reader_varint(&f->channel, &chunk_size)))
		return rc;
	if (p->layout > LRD__LAYOUT_CHUNKED)
		return lrd__err(LRD_ECORRUPT, "array %s: unknown payload layout %u", what,
		                p->layout);
	if (chunk_size < LRD_CHUNK_SIZE_MIN || chunk_size > LRD_CHUNK_SIZE_MAX)
		return lrd__err(LRD_ECORRUPT, "array %s: chunk size %llu outside [%zu, %zu]", what,
		                (unsigned long long)chunk_size, LRD_CHUNK_SIZE_MIN,
		                LRD_CHUNK_SIZE_MAX);
	p->chunk_size = chunk_size;
	p->nchunks = d->nbytes / chunk_size + (d->nbytes % chunk_size != 0);
	uint64_t avail = f->channel.avail;
	if (p->layout == LRD__LAYOUT_CONTIGUOUS) {
		if ((rc = lrd__reader_pad(&f->channel, LRD__ALIGNMENT)))
			return rc;
		avail = f->channel.avail;
		if (avail != LRD__AVAIL_UNKNOWN &&
		    (d->nbytes > avail || p->nchunks > (avail - d->nbytes) / LRD__CHUNK_HDR_SIZE))
			return lrd__err(LRD_ECORRUPT,
			                "array %s declares %llu bytes in %llu chunks but only %llu "
			                "bytes remain",
			                what, (unsigned long long)d->nbytes,
			                (unsigned long long)p->nchunks, (unsigned long long)avail);
	} else if (avail != LRD__AVAIL_UNKNOWN && p->nchunks > avail / LRD__CHUNK_HDR_SIZE) {
		return lrd__err(LRD_ECORRUPT,
		                "array %s declares %llu chunks but only %llu bytes remain", what,
		                (unsigned long long)p->nchunks, (unsigned long long)avail);
	}
	p->start = f->channel.pos;
	return lrd__payload_reader_limit(p, o);
}

/* Layout 1: read and validate chunk header i. */
static int read_chunk_header(lrd__payload_reader *p, lrd__chunk *c)
{
	uint8_t hb[LRD__CHUNK_HDR_SIZE];
	uint64_t raw = lrd__payload_reader_chunk_raw(p, p->next);
	int rc = lrd__reader_get(&p->f->channel, hb, sizeof hb);
	if (!rc)
		rc = lrd__chunk_decode(hb, raw, p->f->channel.avail, c);
	if (!rc && c->raw_size != raw)
		rc = lrd__err(LRD_ECORRUPT, "raw size %llu, but the array needs %llu here",
		              (unsigned long long)c->raw_size, (unsigned long long)raw);
	if (!rc && c->codec != LRD_CODEC_ID_RAW && c->stored_size >= c->raw_size)
		rc = lrd__err(LRD_ECORRUPT,
		              "compressed chunk of %llu stored bytes is not smaller than "
		              "its %llu raw bytes",
		              (unsigned long long)c->stored_size, (unsigned long long)c->raw_size);
	if (!rc)
		rc = lrd__reader_pad(&p->f->channel, LRD__ALIGNMENT);
	if (rc)
		return lrd__errctx(rc, "chunk %llu of %s", (unsigned long long)p->next, p->what);
	p->stored_bytes += c->stored_size;
	if (c->codec < 32)
		p->codec_ids |= 1u << c->codec;
	return LRD_OK;
}

/* Where chunks go: one chunk buffer (`single`: every chunk at data), the whole array's bytes
 * (chunk i at data + i x chunk_size), or a buffer grown as chunks arrive (`grow`; block NULL
 * at first), so that a declared size that lies costs at most about twice the bytes really
 * decoded plus one chunk. */
struct lrd__pdest {
	uint8_t *data;
	bool single, grow;
	uint8_t *block;
	size_t cap, off;
};

/* Whether chunk i does not fit in a grown buffer yet. */
static bool dest_full(const lrd__payload_reader *p, const struct lrd__pdest *d, uint64_t i)
{
	uint64_t end = i * p->chunk_size + lrd__payload_reader_chunk_raw(p, i);
	return d->grow && (!d->block || end + d->off > d->cap);
}

/* Where chunk i goes, growing the buffer if needed: it may then move, so no chunk may be in
 * flight. Called once chunk i's header has been checked, right before its bytes are needed. */
static int dest_at(lrd__payload_reader *p, struct lrd__pdest *d, uint64_t i, uint8_t **out)
{
	if (d->single) {
		*out = d->data;
		return LRD_OK;
	}
	if (dest_full(p, d, i)) {
		uint64_t end = i * p->chunk_size + lrd__payload_reader_chunk_raw(p, i);
		int rc = lrd__grow_toward_aligned(&d->block, &d->cap, &d->off,
		                                  (size_t)(i * p->chunk_size), (size_t)end,
		                                  (size_t)p->d.nbytes, LRD__ALIGNMENT);
		if (rc)
			return lrd__errctx(rc, "%s", p->what);
		d->data = d->block + d->off;
	}
	*out = d->data + i * p->chunk_size;
	return LRD_OK;
}

/* Layout 0: keep the checksum of chunk i until the chunk table is read; the list grows with
 * the chunks read, not with the count the array declares. */
static int keep_sum(lrd__payload_reader *p, uint64_t i, uint64_t sum)
{
	size_t need = (size_t)(i + 1) * sizeof *p->sums;
	if (need > p->sums_cap) {
		uint8_t *b = (uint8_t *)p->sums;
		int rc =
		    lrd__grow_toward(&b, &p->sums_cap, need, (size_t)p->nchunks * sizeof *p->sums);
		p->sums = (uint64_t *)b;
		if (rc)
			return rc;
	}
	p->sums[i] = sum;
	return LRD_OK;
}

static int chunk_into(lrd__payload_reader *p, struct lrd__pdest *d)
{
	uint64_t i = p->next;
	size_t raw = (size_t)lrd__payload_reader_chunk_raw(p, i);
	uint8_t *dst;
	int rc;
	if (i >= p->nchunks)
		return lrd__err(LRD_EINVAL, "internal: chunk %llu of %llu", (unsigned long long)i,
		                (unsigned long long)p->nchunks);
	if (p->layout == LRD__LAYOUT_CONTIGUOUS) {
		p->next++;
		p->stored_bytes += raw;
		p->codec_ids |= 1u;
		if ((rc = dest_at(p, d, i, &dst)) || (rc = lrd__file_reader_data(p->f, dst, raw)))
			return lrd__errctx(rc, "chunk %llu of %s", (unsigned long long)i, p->what);
		return keep_sum(p, i, lrd__checksum(dst, raw));
	}
	lrd__chunk c;
	if ((rc = read_chunk_header(p, &c)))
		return rc;
	p->next++;
	if (c.codec == LRD_CODEC_ID_RAW) {
		if (!(rc = dest_at(p, d, i, &dst)) &&
		    !(rc = lrd__file_reader_data(p->f, dst, (size_t)c.stored_size)))
			rc = lrd__chunk_verify(&c, dst);
	} else {
		uint8_t *scratch;
		if (!(rc = lrd__payload_reader_scratch(p, c.stored_size, &scratch)) &&
		    !(rc = lrd__file_reader_data(p->f, scratch, (size_t)c.stored_size)) &&
		    !(rc = dest_at(p, d, i, &dst)))
			rc = lrd__chunk_decompress(&c, scratch, dst, raw);
	}
	return rc ? lrd__errctx(rc, "chunk %llu of %s", (unsigned long long)i, p->what) : LRD_OK;
}

int lrd__payload_reader_chunk(lrd__payload_reader *p, void *dst)
{
	if (!dst && p->layout == LRD__LAYOUT_CONTIGUOUS && p->next < p->nchunks) {
		uint64_t raw = lrd__payload_reader_chunk_raw(p, p->next++);
		p->stored_bytes += raw;
		p->codec_ids |= 1u;
		return lrd__file_reader_skipdata(p->f, raw);
	}
	struct lrd__pdest d = {.data = dst, .single = true};
	return chunk_into(p, &d);
}

/* The decoder's fetch (chunk_pool.h): chunk p->next's header and stored bytes, read on this
 * thread. Raw bytes go straight to their place in p->pipe_dest (read_array) or, chunk by chunk
 * (next), to the slot's own buffer; a compressed chunk's stored bytes to the slot's buffer. */
static int payload_fetch(void *ctx, lrd__dpipe_slot *s)
{
	lrd__payload_reader *p = ctx;
	uint64_t i = p->next;
	uint8_t *dst, *into;
	int rc = read_chunk_header(p, &s->hdr);
	if (rc)
		return rc;
	p->next++;
	s->raw = (size_t)lrd__payload_reader_chunk_raw(p, i);
	if (p->pipe_dest) {
		/* a grown buffer may move: first every chunk in flight must be done (their
		 * results wait in their slots) */
		if (dest_full(p, p->pipe_dest, i))
			lrd__dpipe_quiesce(&p->pipe);
		rc = dest_at(p, p->pipe_dest, i, &dst);
	} else {
		rc = lrd__dpipe_slot_own(&p->pipe, s, &dst);
	}
	into = dst;
	if (!rc && s->hdr.codec != LRD_CODEC_ID_RAW)
		rc = lrd__dpipe_slot_stored(s, (size_t)s->hdr.stored_size, &into);
	if (!rc)
		rc = lrd__file_reader_data(p->f, into, (size_t)s->hdr.stored_size);
	if (rc)
		return lrd__errctx(rc, "chunk %llu of %s", (unsigned long long)i, p->what);
	s->dst = dst;
	s->stored = into;
	return LRD_OK;
}

/* Start the decoder over the remaining chunks (layout 1). */
static int pipe_start(lrd__payload_reader *p, int threads)
{
	p->piped = true;
	return lrd__dpipe_init(&p->pipe, threads, p->next, p->nchunks, (size_t)p->chunk_size,
	                       payload_fetch, p, p->what);
}

/* Read every remaining chunk into d. Layout 1 with threads != 1: chunks are read in order on
 * this thread and verified and decompressed on the chunk pool (lrd__dpipe), at most 2 x
 * threads in flight, each with a buffer of its stored size. Otherwise one after another. */
static int read_chunks(lrd__payload_reader *p, struct lrd__pdest *d, int threads)
{
	int rc = LRD_OK;
	if (p->layout == LRD__LAYOUT_CONTIGUOUS || lrd__pool_threads(threads) == 1 ||
	    p->nchunks - p->next < 2) {
		while (!rc && p->next < p->nchunks)
			rc = chunk_into(p, d);
		return rc;
	}
	p->pipe_dest = d;
	if (!(rc = pipe_start(p, threads)))
		rc = lrd__dpipe_run(&p->pipe);
	lrd__dpipe_destroy(&p->pipe);
	p->piped = false;
	p->pipe_dest = NULL;
	return rc;
}

int lrd__payload_reader_next(lrd__payload_reader *p, int threads, const void **data, size_t *n)
{
	int rc;
	*data = NULL;
	*n = 0;
	if (p->layout == LRD__LAYOUT_CONTIGUOUS) {
		if (p->next == p->nchunks)
			return LRD_OK;
		if (!p->buf && !(p->buf = lrd__malloc((size_t)p->chunk_size)))
			return LRD_ENOMEM;
		size_t raw = (size_t)lrd__payload_reader_chunk_raw(p, p->next);
		if ((rc = lrd__payload_reader_chunk(p, p->buf)))
			return rc;
		*data = p->buf;
		*n = raw;
		return LRD_OK;
	}
	if (!p->piped && (rc = pipe_start(p, threads)))
		return rc;
	lrd__dpipe_slot *s;
	if ((rc = lrd__dpipe_next(&p->pipe, &s)) || !s)
		return rc;
	*data = s->data;
	*n = s->raw;
	return LRD_OK;
}

int lrd__payload_reader_read_array(lrd__payload_reader *p, int threads, lrd_value **out)
{
	const lrd__array_desc *a = &p->d;
	lrd_value *v = NULL;
	int rc;
	*out = NULL;
	/* A contiguous payload the input is known to hold (checked by _begin) is allocated whole;
	 * anything else (compressed chunks, or an input of unknown size) grows as chunks arrive. */
	if (p->layout == LRD__LAYOUT_CONTIGUOUS && p->f->channel.avail != LRD__AVAIL_UNKNOWN) {
		if ((rc = lrd__array_new_uninit(a->dtype, a->ndim, a->shape, a->order, &v)))
			return rc;
		struct lrd__pdest d = {.data = lrd_array_data(v)};
		rc = read_chunks(p, &d, threads);
	} else {
		struct lrd__pdest d = {.grow = true};
		rc = read_chunks(p, &d, threads);
		if (!rc) /* no chunk (an empty array): block and data NULL */
			rc = lrd__array_new_adopt(a->dtype, a->ndim, a->shape, a->order, d.block,
			                          d.data, &v);
		if (rc)
			lrd__free(d.block);
	}
	if (!rc)
		rc = lrd__payload_reader_end(p, NULL, false);
	if (rc) {
		lrd_value_free(v);
		return rc;
	}
	*out = v;
	return LRD_OK;
}

int lrd__payload_reader_end(lrd__payload_reader *p, const uint8_t *mapped, bool verify)
{
	if (p->layout != LRD__LAYOUT_CONTIGUOUS)
		return LRD_OK;
	for (uint64_t i = 0; i < p->nchunks; i++) {
		uint8_t hb[LRD__CHUNK_HDR_SIZE];
		lrd__chunk c = {0};
		uint64_t raw = lrd__payload_reader_chunk_raw(p, i);
		int rc = lrd__reader_get(&p->f->channel, hb, sizeof hb);
		if (!rc)
			rc = lrd__chunk_decode(hb, raw, raw, &c);
		if (!rc && (c.codec != LRD_CODEC_ID_RAW || c.raw_size != raw))
			rc = lrd__err(LRD_ECORRUPT,
			              "table entry says %s chunk of %llu bytes, expected raw %llu",
			              c.codec ? "a compressed" : "a",
			              (unsigned long long)c.raw_size, (unsigned long long)raw);
		if (!rc && (i + 1) * sizeof *p->sums <= p->sums_cap && p->sums[i] != c.checksum)
			rc = lrd__err(
			    LRD_ECHECKSUM, "checksum mismatch: table 0x%016llx, data 0x%016llx",
			    (unsigned long long)c.checksum, (unsigned long long)p->sums[i]);
		if (!rc && mapped && verify)
			rc = lrd__chunk_verify(&c, mapped + i * p->chunk_size);
		if (rc)
			return lrd__errctx(rc, "chunk %llu of %s", (unsigned long long)i, p->what);
	}
	return LRD_OK;
}

int lrd__payload_reader_skip(lrd__payload_reader *p)
{
	int rc = LRD_OK;
	if (p->layout == LRD__LAYOUT_CONTIGUOUS) {
		p->stored_bytes = p->d.nbytes;
		p->codec_ids |= p->nchunks ? 1u : 0u;
		p->next = p->nchunks;
		rc = lrd__file_reader_skipdata(p->f, p->d.nbytes);
		return rc ? rc : lrd__payload_reader_end(p, NULL, false);
	}
	while (!rc && p->next < p->nchunks) {
		lrd__chunk c;
		if (!(rc = read_chunk_header(p, &c))) {
			p->next++;
			rc = lrd__file_reader_skipdata(p->f, c.stored_size);
		}
	}
	return rc;
}

int lrd__payload_reader_scratch(lrd__payload_reader *p, uint64_t n, uint8_t **out)
{
	if (n > p->scratch_cap) {
		lrd__free(p->scratch);
		p->scratch_cap = 0;
		if (!(p->scratch = lrd__malloc((size_t)n)))
			return LRD_ENOMEM;
		p->scratch_cap = (size_t)n;
	}
	*out = p->scratch;
	return LRD_OK;
}

void lrd__payload_reader_destroy(lrd__payload_reader *p)
{
	lrd__dpipe_destroy(&p->pipe);
	lrd__free(p->sums);
	lrd__free(p->scratch);
	lrd__free(p->buf);
	p->sums = NULL;
	p->sums_cap = 0;
	p->scratch = NULL;
	p->buf = NULL;
	p->piped = false;
}
