/* The array payload writer (file_internal.h; FORMAT.md §5): turns an array's bytes, pushed in
 * pieces of any size, into chunks.
 *
 * Layout 0 (no chunk codec): the bytes are written straight from the caller's memory — no
 * copy, one write() per chunk — each piece checksummed by a streaming XXH3 state just before
 * it is written; the chunk table, filled as chunks complete, follows the payload.
 *
 * Layout 1: chunks are compressed on the chunk pool (chunk_pool.h; cfg->threads of them at
 * once) and written in order as they come back. A chunk that a push covers whole is compressed
 * from the caller's memory, otherwise gathered in its window slot's chunk buffer first; every
 * job that reads the caller's memory is finished and written before the push returns. Memory:
 * per window slot (2 x threads; 1 single-threaded) a scratch of the codec's bound and, only when
 * pushes are not chunk-sized, a chunk buffer; plus the 32-byte-per-chunk table of layout 0. */
#include "engine/file/file_internal.h"

int lrd__payload_writer_begin(lrd__payload_writer *e, lrd__file_writer *f,
                              const lrd__dump_config *cfg, lrd_dtype dt, uint64_t nbytes)
{
	*e = (lrd__payload_writer){.f = f,
	                           .codec = cfg->chunk,
	                           .params = cfg->chunk_p,
	                           .nbytes = nbytes,
	                           .chunk_size = cfg->chunk_size};
	e->nchunks = nbytes / e->chunk_size + (nbytes % e->chunk_size != 0);
	if (e->params.typesize == 0)
		e->params.typesize = dt.itemsize;
	int rc;
	if ((rc = lrd__writer_u8(&f->channel,
	                         e->codec ? LRD__LAYOUT_CHUNKED : LRD__LAYOUT_CONTIGUOUS)) ||
	    (rc = lrd__writer_varint(&f->channel, e->chunk_size)))
		return rc;
	if (!e->codec) {
		size_t tsize;
		if (e->nchunks > SIZE_MAX ||
		    !lrd__mul_ok((size_t)e->nchunks, LRD__CHUNK_HDR_SIZE, &tsize))
			return lrd__err(LRD_ELIMIT, "array of %llu bytes has too many chunks",
			                (unsigned long long)nbytes);
		e->table = lrd__malloc(tsize);
		e->h = XXH3_createState();
		if (!e->table || !e->h)
			return lrd__err(LRD_ENOMEM, "out of memory for a chunk table");
		XXH3_64bits_reset(e->h);
		return lrd__writer_pad(&f->channel, LRD__ALIGNMENT);
	}
	size_t first = nbytes < e->chunk_size ? (size_t)nbytes : (size_t)e->chunk_size;
	e->scratch_cap = lrd__chunk_scratch_size(e->codec, first, &e->params);
	if (e->scratch_cap == 0 && first)
		return lrd__err(LRD_ELIMIT, "%s cannot compress chunks of %zu bytes",
		                e->codec->name, first);
	/* no more threads than chunks */
	int threads = lrd__pool_threads(cfg->threads);
	if ((uint64_t)threads > e->nchunks)
		threads = e->nchunks ? (int)e->nchunks : 1;
	if ((rc = lrd__chunk_queue_new(threads, &e->q)))
		return rc;
	e->slots = lrd__calloc(lrd__chunk_queue_window(e->q), sizeof *e->slots);
	return e->slots ? LRD_OK : LRD_ENOMEM;
}

static uint64_t emit_chunk_raw(const lrd__payload_writer *e, uint64_t i)
{
	return i + 1 < e->nchunks ? e->chunk_size : e->nbytes - i * e->chunk_size;
}

/* Layout 1, on a pool thread: compress the slot's chunk. */
static int compress_job(void *arg)
{
	lrd__payload_writer_slot *sl = arg;
	const lrd__payload_writer *e = sl->e;
	return lrd__chunk_compress(e->codec, &e->params, sl->src, sl->n, sl->scratch,
	                           e->scratch_cap, &sl->hdr, &sl->stored);
}

/* Layout 1: wait for the oldest chunk in flight and write it. */
static int retire_chunk(lrd__payload_writer *e)
{
	void *arg;
	int rc = lrd__chunk_queue_retire(e->q, &arg);
	lrd__payload_writer_slot *sl = arg;
	if (rc)
		return lrd__errctx(rc, "chunk %llu", (unsigned long long)sl->index);
	uint8_t hb[LRD__CHUNK_HDR_SIZE];
	lrd__chunk_encode(&sl->hdr, hb);
	if ((rc = lrd__writer_put(&e->f->channel, hb, sizeof hb)) ||
	    (rc = lrd__writer_pad(&e->f->channel, LRD__ALIGNMENT)) ||
	    (rc = lrd__file_writer_data(e->f, sl->stored, (size_t)sl->hdr.stored_size)))
		return rc;
	e->chunk_index++;
	return LRD_OK;
}

/* Layout 1: make the next slot free (write the oldest chunk if the window is full). */
static int free_slot(lrd__payload_writer *e)
{
	return lrd__chunk_queue_pending(e->q) == lrd__chunk_queue_window(e->q) ? retire_chunk(e)
	                                                                       : LRD_OK;
}

/* Layout 1: hand chunk `e->submitted` (n bytes at p) to the pool in the next slot. */
static int submit_chunk(lrd__payload_writer *e, const void *p, size_t n, bool borrowed)
{
	lrd__payload_writer_slot *sl = &e->slots[lrd__chunk_queue_next_slot(e->q)];
	if (!sl->scratch && !(sl->scratch = lrd__malloc(e->scratch_cap)))
		return LRD_ENOMEM;
	sl->e = e;
	sl->src = p;
	sl->n = n;
	sl->index = e->submitted++;
	if (borrowed)
		e->borrowed_end = e->submitted;
	lrd__chunk_queue_submit(e->q, compress_job, sl);
	return LRD_OK;
}

/* Layout 1: after an error no job may still read the caller's memory: wait for all of them. */
static int fail(lrd__payload_writer *e, int rc)
{
	while (lrd__chunk_queue_pending(e->q))
		lrd__chunk_queue_retire(e->q, NULL);
	e->failed = rc;
	return rc;
}

static void table_add(lrd__payload_writer *e, uint64_t raw, uint64_t sum)
{
	lrd__chunk c = {.raw_size = raw, .stored_size = raw, .checksum = sum};
	lrd__chunk_encode(&c, e->table + e->chunk_index * LRD__CHUNK_HDR_SIZE);
	e->chunk_index++;
}

int lrd__payload_writer_push(lrd__payload_writer *e, const void *p, size_t n)
{
	const uint8_t *b = p;
	if (n > e->nbytes - e->done)
		return lrd__err(LRD_EINVAL, "%zu bytes pushed past the end of a %llu-byte array", n,
		                (unsigned long long)e->nbytes);
	int rc;
	if (!e->codec) {
		/* Piece by piece up to each chunk's end: checksum, then write the same bytes while
		 * they are still in the cache (one pass over memory instead of two). */
		while (n) {
			uint64_t raw = emit_chunk_raw(e, e->chunk_index);
			uint64_t in = e->done - e->chunk_index * e->chunk_size;
			size_t k = n < raw - in ? n : (size_t)(raw - in);
			XXH3_64bits_update(e->h, b, k);
			if ((rc = lrd__file_writer_data(e->f, b, k)))
				return rc;
			b += k;
			n -= k;
			e->done += k;
			if (in + k == raw) {
				table_add(e, raw, (uint64_t)XXH3_64bits_digest(e->h));
				XXH3_64bits_reset(e->h);
			}
		}
		return LRD_OK;
	}
	if (e->failed)
		return lrd__err(e->failed, "an earlier chunk failed");
	while (n) {
		size_t raw = (size_t)emit_chunk_raw(e, e->submitted);
		if (e->chunk_fill == 0 && (rc = free_slot(e)))
			return fail(e, rc);
		if (e->chunk_fill == 0 && n >= raw) {
			if ((rc = submit_chunk(e, b, raw, true)))
				return fail(e, rc);
			b += raw;
			n -= raw;
			e->done += raw;
			continue;
		}
		lrd__payload_writer_slot *sl = &e->slots[lrd__chunk_queue_next_slot(e->q)];
		if (!sl->chunk_buf && !(sl->chunk_buf = lrd__malloc((size_t)e->chunk_size)))
			return fail(e, LRD_ENOMEM);
		size_t k = n < raw - e->chunk_fill ? n : raw - e->chunk_fill;
		memcpy(sl->chunk_buf + e->chunk_fill, b, k);
		e->chunk_fill += k;
		b += k;
		n -= k;
		e->done += k;
		if (e->chunk_fill == raw) {
			e->chunk_fill = 0;
			if ((rc = submit_chunk(e, sl->chunk_buf, raw, false)))
				return fail(e, rc);
		}
	}
	/* the caller may reuse its memory once we return */
	while (e->chunk_index < e->borrowed_end)
		if ((rc = retire_chunk(e)))
			return fail(e, rc);
	return LRD_OK;
}

int lrd__payload_writer_end(lrd__payload_writer *e)
{
	if (e->done != e->nbytes)
		return lrd__err(LRD_EINVAL, "array ended after %llu of its %llu bytes",
		                (unsigned long long)e->done, (unsigned long long)e->nbytes);
	if (!e->codec)
		return lrd__writer_put(&e->f->channel, e->table,
		                       (size_t)e->nchunks * LRD__CHUNK_HDR_SIZE);
	if (e->failed)
		return lrd__err(e->failed, "an earlier chunk failed");
	int rc;
	while (lrd__chunk_queue_pending(e->q))
		if ((rc = retire_chunk(e)))
			return fail(e, rc);
	return LRD_OK;
}

void lrd__payload_writer_destroy(lrd__payload_writer *e)
{
	lrd__free(e->table);
	if (e->h)
		XXH3_freeState(e->h);
	if (e->q) {
		size_t w = lrd__chunk_queue_window(e->q);
		lrd__chunk_queue_free(e->q); /* waits for the jobs still running */
		for (size_t i = 0; e->slots && i < w; i++) {
			lrd__free(e->slots[i].chunk_buf);
			lrd__free(e->slots[i].scratch);
		}
	}
	lrd__free(e->slots);
	*e = (lrd__payload_writer){0};
}
