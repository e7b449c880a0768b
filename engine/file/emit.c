/* The array payload emitter (file_internal.h; FORMAT.md §5): turns an array's bytes, pushed in
 * pieces of any size, into chunks.
 *
 * Layout 0 (no chunk codec): the bytes are written straight from the caller's memory — no
 * copy, one write() per chunk — each piece checksummed by a streaming XXH3 state just before
 * it is written; the chunk table, filled as chunks
 * complete, follows the payload. Layout 1: each chunk is compressed from the caller's memory
 * when a push covers it whole, otherwise gathered in one chunk buffer first; compressed output
 * goes to one scratch buffer. Memory: at most a chunk buffer, a scratch of the codec's bound and
 * the 32-byte-per-chunk table. */
#include "engine/file/file_internal.h"

int lrd__emit_begin(lrd__emit *e, lrd__fwr *f, const lrd__dumpcfg *cfg, lrd_dtype dt,
                    uint64_t nbytes)
{
	*e = (lrd__emit){.f = f,
	                 .codec = cfg->chunk,
	                 .params = cfg->chunk_p,
	                 .nbytes = nbytes,
	                 .cs = cfg->chunk_size};
	e->nchunks = nbytes / e->cs + (nbytes % e->cs != 0);
	if (e->params.typesize == 0)
		e->params.typesize = dt.itemsize;
	int rc;
	if ((rc = lrd__wr_u8(&f->ch, e->codec ? LRD__LAYOUT_CHUNKED : LRD__LAYOUT_CONTIGUOUS)) ||
	    (rc = lrd__wr_varint(&f->ch, e->cs)))
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
		return lrd__wr_pad(&f->ch, LRD__ALIGNMENT);
	}
	size_t first = nbytes < e->cs ? (size_t)nbytes : (size_t)e->cs;
	e->scap = lrd__chunk_scratch_size(e->codec, first, &e->params);
	if (e->scap == 0 && first)
		return lrd__err(LRD_ELIMIT, "%s cannot compress chunks of %zu bytes",
		                e->codec->name, first);
	e->scratch = lrd__malloc(e->scap);
	return e->scratch ? LRD_OK : LRD_ENOMEM;
}

static uint64_t emit_chunk_raw(const lrd__emit *e, uint64_t i)
{
	return i + 1 < e->nchunks ? e->cs : e->nbytes - i * e->cs;
}

/* Layout 1: compress and write one whole chunk. */
static int emit_chunk(lrd__emit *e, const void *p, size_t n)
{
	lrd__chunk hdr;
	const void *stored;
	uint8_t hb[LRD__CHUNK_HDR_SIZE];
	int rc =
	    lrd__chunk_compress(e->codec, &e->params, p, n, e->scratch, e->scap, &hdr, &stored);
	if (rc)
		return lrd__errctx(rc, "chunk %llu", (unsigned long long)e->ci);
	lrd__chunk_encode(&hdr, hb);
	if ((rc = lrd__wr_put(&e->f->ch, hb, sizeof hb)) ||
	    (rc = lrd__wr_pad(&e->f->ch, LRD__ALIGNMENT)) ||
	    (rc = lrd__fwr_data(e->f, stored, (size_t)hdr.stored_size)))
		return rc;
	e->ci++;
	return LRD_OK;
}

static void table_add(lrd__emit *e, uint64_t raw, uint64_t sum)
{
	lrd__chunk c = {.raw_size = raw, .stored_size = raw, .checksum = sum};
	lrd__chunk_encode(&c, e->table + e->ci * LRD__CHUNK_HDR_SIZE);
	e->ci++;
}

int lrd__emit_push(lrd__emit *e, const void *p, size_t n)
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
			uint64_t raw = emit_chunk_raw(e, e->ci);
			uint64_t in = e->done - e->ci * e->cs;
			size_t k = n < raw - in ? n : (size_t)(raw - in);
			XXH3_64bits_update(e->h, b, k);
			if ((rc = lrd__fwr_data(e->f, b, k)))
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
	while (n) {
		size_t raw = (size_t)emit_chunk_raw(e, e->ci);
		if (e->cfill == 0 && n >= raw) {
			if ((rc = emit_chunk(e, b, raw)))
				return rc;
			b += raw;
			n -= raw;
			e->done += raw;
			continue;
		}
		if (!e->cbuf && !(e->cbuf = lrd__malloc((size_t)e->cs)))
			return LRD_ENOMEM;
		size_t k = n < raw - e->cfill ? n : raw - e->cfill;
		memcpy(e->cbuf + e->cfill, b, k);
		e->cfill += k;
		b += k;
		n -= k;
		e->done += k;
		if (e->cfill == raw) {
			e->cfill = 0;
			if ((rc = emit_chunk(e, e->cbuf, raw)))
				return rc;
		}
	}
	return LRD_OK;
}

int lrd__emit_end(lrd__emit *e)
{
	if (e->done != e->nbytes)
		return lrd__err(LRD_EINVAL, "array ended after %llu of its %llu bytes",
		                (unsigned long long)e->done, (unsigned long long)e->nbytes);
	if (!e->codec)
		return lrd__wr_put(&e->f->ch, e->table, (size_t)e->nchunks * LRD__CHUNK_HDR_SIZE);
	return LRD_OK;
}

void lrd__emit_destroy(lrd__emit *e)
{
	lrd__free(e->table);
	if (e->h)
		XXH3_freeState(e->h);
	lrd__free(e->cbuf);
	lrd__free(e->scratch);
	*e = (lrd__emit){0};
}
