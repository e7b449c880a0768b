/* The array payload writer (file_internal.h; FORMAT.md §5): turns an array's bytes, pushed in
 * pieces of any size, into chunks.
 *
 * Layout 0 (no chunk codec): the bytes are written straight from the caller's memory — no
 * copy, one write() per chunk. A chunk that one push covers whole is checksummed on the chunk
 * pool while this thread writes it (cfg->threads > 1; the checksum was 15-20 % of a raw dump
 * to the page cache); other pieces are checksummed by a streaming XXH3 state just before they
 * are written. Every checksum is in before the push returns; the chunk table, filled as
 * chunks complete, follows the payload.
 *
 * Layout 1: the chunk compressor of chunk_pool.h (lrd__cpipe) cuts the pushes into chunks,
 * compresses cfg->threads of them at once on the chunk pool and hands them back in order to
 * write_chunk. Memory: per window slot (2 x threads; 1 single-threaded) a scratch of the
 * codec's bound and, only when pushes are not chunk-sized, a chunk buffer; layout 0: the
 * 32-byte-per-chunk table. */
#include "engine/file/file_internal.h"

/* Layout 1, the pipe's sink: a chunk's header, padding and stored bytes. */
static int write_chunk(void *ctx, uint64_t index, const lrd__chunk *hdr, const void *stored)
{
	lrd__file_writer *f = ctx;
	uint8_t hb[LRD__CHUNK_HDR_SIZE];
	int rc;
	(void)index;
	lrd__chunk_encode(hdr, hb);
	if ((rc = lrd__writer_put(&f->channel, hb, sizeof hb)) ||
	    (rc = lrd__writer_pad(&f->channel, LRD__ALIGNMENT)))
		return rc;
	return lrd__file_writer_data(f, stored, (size_t)hdr->stored_size);
}

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
		int threads = lrd__pool_threads(cfg->threads);
		if (threads > 1 && e->nchunks > 1) {
			if ((rc = lrd__chunk_queue_new(threads, &e->sumq)))
				return rc;
			size_t w = lrd__chunk_queue_window(e->sumq);
			if (!(e->sums = lrd__calloc(w, sizeof *e->sums)))
				return LRD_ENOMEM;
		}
		return lrd__writer_pad(&f->channel, LRD__ALIGNMENT);
	}
	return lrd__cpipe_init(&e->pipe, e->codec, &e->params, e->chunk_size, nbytes, cfg->threads,
	                       write_chunk, f);
}

static uint64_t emit_chunk_raw(const lrd__payload_writer *e, uint64_t i)
{
	return i + 1 < e->nchunks ? e->chunk_size : e->nbytes - i * e->chunk_size;
}

static void table_set(lrd__payload_writer *e, uint64_t i, uint64_t raw, uint64_t sum)
{
	lrd__chunk c = {.raw_size = raw, .stored_size = raw, .checksum = sum};
	lrd__chunk_encode(&c, e->table + i * LRD__CHUNK_HDR_SIZE);
}

/* Layout 0: checksum of one whole chunk in the caller's memory, on the chunk pool. */
static int sum_job(void *arg)
{
	lrd__sum_job *j = arg;
	j->sum = lrd__checksum(j->p, j->n);
	return LRD_OK;
}

/* Wait for the oldest checksum job and enter it in the table. */
static void sum_retire(lrd__payload_writer *e)
{
	void *arg;
	lrd__chunk_queue_retire(e->sumq, &arg);
	const lrd__sum_job *j = arg;
	table_set(e, j->index, j->n, j->sum);
}

/* Every checksum job done: the caller's memory is no longer read. */
static void sum_drain(lrd__payload_writer *e)
{
	while (e->sumq && lrd__chunk_queue_pending(e->sumq))
		sum_retire(e);
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
		rc = LRD_OK;
		while (!rc && n) {
			uint64_t raw = emit_chunk_raw(e, e->chunk_index);
			uint64_t in = e->done - e->chunk_index * e->chunk_size;
			size_t k = n < raw - in ? n : (size_t)(raw - in);
			bool job = e->sumq && in == 0 && k == raw;
			if (job) {
				if (lrd__chunk_queue_pending(e->sumq) ==
				    lrd__chunk_queue_window(e->sumq))
					sum_retire(e);
				lrd__sum_job *j = &e->sums[lrd__chunk_queue_next_slot(e->sumq)];
				*j = (lrd__sum_job){.p = b, .n = k, .index = e->chunk_index};
				lrd__chunk_queue_submit(e->sumq, sum_job, j);
			} else {
				XXH3_64bits_update(e->h, b, k);
			}
			if ((rc = lrd__file_writer_data(e->f, b, k)))
				break;
			b += k;
			n -= k;
			e->done += k;
			if (in + k == raw) {
				if (!job)
					table_set(e, e->chunk_index, raw,
					          (uint64_t)XXH3_64bits_digest(e->h));
				XXH3_64bits_reset(e->h);
				e->chunk_index++;
			}
		}
		sum_drain(e);
		return rc;
	}
	if ((rc = lrd__cpipe_push(&e->pipe, p, n)))
		return rc;
	e->done += n;
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
	return lrd__cpipe_finish(&e->pipe);
}

void lrd__payload_writer_destroy(lrd__payload_writer *e)
{
	lrd__chunk_queue_free(e->sumq);
	lrd__free(e->sums);
	lrd__free(e->table);
	if (e->h)
		XXH3_freeState(e->h);
	lrd__cpipe_destroy(&e->pipe);
	*e = (lrd__payload_writer){0};
}
