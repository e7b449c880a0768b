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
		                "array %s of %llu bytes exceeds the limit of %llu "
		                "(lrd_load_options.max_array_bytes)",
		                p->what, (unsigned long long)n,
		                (unsigned long long)o->max_array_bytes);
	if (n > (uint64_t)PTRDIFF_MAX)
		return lrd__err(LRD_ELIMIT, "array %s of %llu bytes cannot be addressed", p->what,
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
struct dest {
	uint8_t *data;
	bool single, grow;
	uint8_t *block;
	size_t cap, off;
};

/* Whether chunk i does not fit in a grown buffer yet. */
static bool dest_full(const lrd__payload_reader *p, const struct dest *d, uint64_t i)
{
	uint64_t end = i * p->chunk_size + lrd__payload_reader_chunk_raw(p, i);
	return d->grow && (!d->block || end + d->off > d->cap);
}

/* Where chunk i goes, growing the buffer if needed: it may then move, so no chunk may be in
 * flight. Called once chunk i's header has been checked, right before its bytes are needed. */
static int dest_at(lrd__payload_reader *p, struct dest *d, uint64_t i, uint8_t **out)
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
			return lrd__errctx(rc, "array %s", p->what);
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

static int chunk_into(lrd__payload_reader *p, struct dest *d)
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
	struct dest d = {.data = dst, .single = true};
	return chunk_into(p, &d);
}

/* One window slot of a threaded read. */
struct rslot {
	lrd__chunk c;
	uint64_t index;
	uint8_t *buf; /* stored bytes of a compressed chunk */
	size_t cap;
	uint8_t *dst;
	size_t raw;
};

static int decode_job(void *arg)
{
	struct rslot *s = arg;
	return s->c.codec == LRD_CODEC_ID_RAW
	           ? lrd__chunk_verify(&s->c, s->dst)
	           : lrd__chunk_decompress(&s->c, s->buf, s->dst, s->raw);
}

static int retire_read(lrd__payload_reader *p, lrd__chunk_queue *q)
{
	void *arg;
	int rc = lrd__chunk_queue_retire(q, &arg);
	const struct rslot *s = arg;
	return rc ? lrd__errctx(rc, "chunk %llu of %s", (unsigned long long)s->index, p->what)
	          : LRD_OK;
}

static int drain(lrd__payload_reader *p, lrd__chunk_queue *q)
{
	int rc = LRD_OK;
	while (lrd__chunk_queue_pending(q)) {
		int r = retire_read(p, q);
		rc = rc ? rc : r;
	}
	return rc;
}

/* Read the next chunk's header and stored bytes into slot s; a grown d grows only once every
 * chunk in flight on q is done. */
static int read_into_slot(lrd__payload_reader *p, struct dest *d, lrd__chunk_queue *q,
                          struct rslot *s)
{
	uint64_t i = p->next;
	int rc = read_chunk_header(p, &s->c);
	if (rc)
		return rc;
	p->next++;
	s->index = i;
	s->raw = (size_t)lrd__payload_reader_chunk_raw(p, i);
	if (dest_full(p, d, i) && (rc = drain(p, q)))
		return rc;
	if ((rc = dest_at(p, d, i, &s->dst)))
		return rc;
	uint8_t *into = s->dst;
	if (s->c.codec != LRD_CODEC_ID_RAW) {
		if (s->c.stored_size > s->cap) {
			lrd__free(s->buf);
			s->cap = 0;
			if (!(s->buf = lrd__malloc((size_t)s->c.stored_size)))
				return LRD_ENOMEM;
			s->cap = (size_t)s->c.stored_size;
		}
		into = s->buf;
	}
	rc = lrd__file_reader_data(p->f, into, (size_t)s->c.stored_size);
	return rc ? lrd__errctx(rc, "chunk %llu of %s", (unsigned long long)i, p->what) : LRD_OK;
}

/* Read every remaining chunk into d. Layout 1 with threads != 1: chunks are read in order on
 * this thread and verified and decompressed on the chunk pool, at most 2 x threads in flight,
 * each with a buffer of its stored size. Otherwise one after another. */
static int read_chunks(lrd__payload_reader *p, struct dest *d, int threads)
{
	int rc = LRD_OK;
	uint64_t left = p->nchunks - p->next;
	threads = lrd__pool_threads(threads);
	if (p->layout == LRD__LAYOUT_CONTIGUOUS || threads == 1 || left < 2) {
		while (!rc && p->next < p->nchunks)
			rc = chunk_into(p, d);
		return rc;
	}
	lrd__chunk_queue *q;
	if ((rc = lrd__chunk_queue_new((uint64_t)threads > left ? (int)left : threads, &q)))
		return rc;
	size_t w = lrd__chunk_queue_window(q);
	struct rslot *slots = lrd__calloc(w, sizeof *slots);
	rc = slots ? LRD_OK : LRD_ENOMEM;
	while (!rc && p->next < p->nchunks) {
		if (lrd__chunk_queue_pending(q) == w && (rc = retire_read(p, q)))
			break;
		struct rslot *s = &slots[lrd__chunk_queue_next_slot(q)];
		if (!(rc = read_into_slot(p, d, q, s)))
			lrd__chunk_queue_submit(q, decode_job, s);
	}
	int r = drain(p, q);
	rc = rc ? rc : r;
	lrd__chunk_queue_free(q);
	for (size_t i = 0; slots && i < w; i++)
		lrd__free(slots[i].buf);
	lrd__free(slots);
	return rc;
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
		struct dest d = {.data = lrd_array_data(v)};
		rc = read_chunks(p, &d, threads);
	} else {
		struct dest d = {.grow = true};
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
	lrd__free(p->sums);
	lrd__free(p->scratch);
	p->sums = NULL;
	p->sums_cap = 0;
	p->scratch = NULL;
}
