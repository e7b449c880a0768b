/* lrd_store_reader: a stored array read chunk by chunk, by byte range, or viewed whole.
 * Raw chunks are handed out as pointers into the map (valid while the reader's transaction
 * lives). next() runs the chunk decoder (chunk_pool.h) on lrd_store_options.threads threads:
 * chunks are found in LMDB on this thread, verified and (compressed ones) decompressed ahead on
 * the chunk pool into one buffer of one chunk's size per window slot (2 x threads), so memory
 * stays bounded whatever the array's size. read_range decompresses into one buffer of its own
 * and remembers which chunk it holds, so neighbouring ranges decompress each chunk once. Every
 * chunk's checksum is verified before its bytes are used. Raw chunks that next() has moved past
 * are dropped from the process's page tables (lrd__map_unresident). */
#include <stdio.h>
#include <string.h>

#include "engine/store/store_internal.h"

struct lrd_store_reader {
	lrd_txn *t;
	bool own;
	lrd__array_desc d;
	lrd__array_ref a;
	lrd__dpipe pipe; /* next(): the chunk decoder, started on the first call */
	bool piped;
	bool linked;                   /* in t->readers (a caller's txn) */
	lrd_store_reader *next_reader; /* in t->readers */
	uint8_t *buf;                  /* read_range's decompression buffer, one chunk */
	int64_t in_buf;                /* chunk index held by buf, -1: none */
	const void *prev;              /* the raw chunk next() returned last, in the map */
	size_t prev_len;
	char key[LRD_STORE_MAX_KEY + 1];
	char what[LRD_STORE_MAX_KEY + 3]; /* "'key'" */
};

static int open_array(lrd_store_reader *r, size_t klen)
{
	lrd__object_header h;
	const uint8_t *tree;
	size_t tlen;
	int rc = lrd__object_fetch(r->t, r->key, klen, &h, &tree, &tlen);
	if (rc)
		return rc == LRD_ENOTFOUND ? lrd__err(rc, "no object '%s'", r->key) : rc;
	lrd__memsrc m;
	lrd__reader rd = lrd__memsrc_reader(&m, tree, tlen);
	uint8_t tag;
	if ((rc = lrd__reader_u8(&rd, &tag)) != LRD_OK)
		return lrd__errctx(rc, "object '%s'", r->key);
	if (tag != LRD__TAG_ARRAY)
		return lrd__err(LRD_EINVAL, "object '%s' is not an array", r->key);
	rc = lrd__tree_read_array_desc(&rd, &r->d);
	if (!rc)
		rc = lrd__array_ref_read(&rd, &r->d, &r->a);
	if (!rc && rd.avail)
		rc = lrd__err(LRD_ECORRUPT, "bytes after the array reference");
	return rc ? lrd__errctx(rc, "object '%s'", r->key) : LRD_OK;
}

int lrd_store_reader_new(lrd_store *s, lrd_txn *txn, const char *key, lrd_store_reader **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_store_reader_new: out is NULL");
	*out = NULL;
	size_t klen;
	int rc = lrd__store_key_check(key, &klen);
	if (rc)
		return rc;
	lrd_store_reader *r = lrd__calloc(1, sizeof *r);
	if (!r)
		return LRD_ENOMEM;
	memcpy(r->key, key, klen + 1);
	r->in_buf = -1;
	rc = lrd__txn_use(s, txn, false, &r->t, &r->own);
	if (!rc)
		rc = open_array(r, klen);
	if (rc) {
		lrd_store_reader_free(r);
		return rc;
	}
	*out = r;
	return LRD_OK;
}

int lrd_store_reader_describe(const lrd_store_reader *r, lrd_dtype *dt, unsigned *ndim,
                              const uint64_t **shape, lrd_order *order, uint64_t *nbytes)
{
	if (!r)
		return lrd__err(LRD_EINVAL, "reader is NULL");
	if (dt)
		*dt = r->d.dtype;
	if (ndim)
		*ndim = r->d.ndim;
	if (shape)
		*shape = r->d.shape;
	if (order)
		*order = r->d.order;
	if (nbytes)
		*nbytes = r->d.nbytes;
	return LRD_OK;
}

/* Chunk i's bytes, verified: in the map (raw) or in r->buf. */
static int chunk_bytes(lrd_store_reader *r, uint64_t i, const void **p, size_t *n)
{
	uint64_t raw = lrd__array_ref_chunk_raw(&r->a, r->d.nbytes, i);
	*n = (size_t)raw;
	if (r->in_buf == (int64_t)i) {
		*p = r->buf;
		return LRD_OK;
	}
	lrd__chunk hdr;
	const void *stored;
	int rc = lrd__chunk_get(r->t, r->a.id, i, raw, &hdr, &stored);
	if (!rc && hdr.codec == LRD_CODEC_ID_RAW) {
		rc = lrd__chunk_verify(&hdr, stored);
		*p = stored;
	} else if (!rc) {
		if (!r->buf && !(r->buf = lrd__malloc((size_t)r->a.chunk_size)))
			return LRD_ENOMEM;
		r->in_buf = -1;
		rc = lrd__chunk_decompress(&hdr, stored, r->buf, (size_t)raw);
		if (!rc)
			r->in_buf = (int64_t)i;
		*p = r->buf;
	}
	return rc ? lrd__errctx(rc, "chunk %llu of '%s'", (unsigned long long)i, r->key) : LRD_OK;
}

/* The decoder's fetch: chunk s->index as found in the map; a compressed one gets the slot's own
 * buffer to be decompressed into, a raw one is verified in place. */
static int reader_fetch(void *ctx, lrd__dpipe_slot *s)
{
	lrd_store_reader *r = ctx;
	uint64_t i = s->index;
	s->raw = (size_t)lrd__array_ref_chunk_raw(&r->a, r->d.nbytes, i);
	uint8_t *own;
	int rc = lrd__chunk_get(r->t, r->a.id, i, s->raw, &s->hdr, &s->stored);
	if (!rc && s->hdr.codec != LRD_CODEC_ID_RAW)
		rc = lrd__dpipe_slot_own(&r->pipe, s, &own);
	return rc ? lrd__errctx(rc, "chunk %llu of '%s'", (unsigned long long)i, r->key) : LRD_OK;
}

int lrd_store_reader_next(lrd_store_reader *r, const void **p, size_t *n)
{
	if (!r || !p || !n)
		return lrd__err(LRD_EINVAL, "lrd_store_reader_next: NULL argument");
	if (r->prev) /* passed: keep the resident set bounded */
		lrd__map_unresident(r->prev, r->prev_len);
	r->prev = NULL;
	*p = NULL;
	*n = 0;
	int rc;
	if (!r->piped) {
		snprintf(r->what, sizeof r->what, "'%s'", r->key);
		/* in a write txn a put may change the pages a job would still read: no read-ahead
		 */
		int threads = r->t->write ? 1 : r->t->s->threads;
		if ((rc = lrd__dpipe_init(&r->pipe, threads, 0, r->a.nchunks,
		                          (size_t)r->a.chunk_size, reader_fetch, r, r->what)))
			return rc;
		r->piped = true;
		if (!r->own) { /* the caller may end its txn before freeing r */
			r->next_reader = r->t->readers;
			r->t->readers = r;
			r->linked = true;
		}
	}
	lrd__dpipe_slot *s;
	if ((rc = lrd__dpipe_next(&r->pipe, &s)) || !s)
		return rc; /* the end: *n = 0, like lrd_array_reader_next */
	*p = s->data;
	*n = s->raw;
	if (s->data == s->stored && *n >= STORE_RELEASE_MIN) {
		r->prev = *p;
		r->prev_len = *n;
	}
	return LRD_OK;
}

int lrd_store_reader_read_range(lrd_store_reader *r, uint64_t off, void *dst, size_t len)
{
	if (!r || (!dst && len))
		return lrd__err(LRD_EINVAL, "lrd_store_reader_read_range: NULL argument");
	if (off > r->d.nbytes || len > r->d.nbytes - off)
		return lrd__err(LRD_EINVAL, "range %llu+%zu beyond the %llu bytes of '%s'",
		                (unsigned long long)off, len, (unsigned long long)r->d.nbytes,
		                r->key);
	uint8_t *out = dst;
	while (len > 0) {
		uint64_t i = off / r->a.chunk_size, in = off % r->a.chunk_size;
		const void *p = NULL;
		size_t n = 0;
		int rc = chunk_bytes(r, i, &p, &n);
		if (rc)
			return rc;
		size_t take = n - in < len ? (size_t)(n - in) : len;
		memcpy(out, (const uint8_t *)p + in, take);
		out += take, off += take, len -= take;
	}
	return LRD_OK;
}

int lrd_store_reader_view(lrd_store_reader *r, bool trust, const void **p, size_t *n)
{
	if (!r || !p || !n)
		return lrd__err(LRD_EINVAL, "lrd_store_reader_view: NULL argument");
	static const uint8_t empty[1];
	if (r->a.nchunks == 0) {
		*p = empty, *n = 0;
		return LRD_OK;
	}
	if (r->a.nchunks > 1)
		return lrd__err(LRD_EUNSUPPORTED, "'%s' is stored in %llu chunks: no single view",
		                r->key, (unsigned long long)r->a.nchunks);
	lrd__chunk hdr;
	const void *stored;
	int rc = lrd__chunk_get(r->t, r->a.id, 0, r->d.nbytes, &hdr, &stored);
	if (!rc && hdr.codec != LRD_CODEC_ID_RAW)
		return lrd__err(LRD_EUNSUPPORTED, "'%s' is stored compressed: no zero-copy view",
		                r->key);
	if (!rc && !trust)
		rc = lrd__chunk_verify(&hdr, stored);
	if (rc)
		return lrd__errctx(rc, "chunk 0 of '%s'", r->key);
	*p = stored, *n = (size_t)r->d.nbytes;
	return LRD_OK;
}

void lrd__txn_readers_quiesce(lrd_txn *t, bool ending)
{
	for (lrd_store_reader *r = t->readers, *next; r; r = next) {
		next = r->next_reader;
		lrd__dpipe_quiesce(&r->pipe);
		if (ending) {
			r->linked = false;
			r->next_reader = NULL;
		}
	}
	if (ending)
		t->readers = NULL;
}

void lrd_store_reader_free(lrd_store_reader *r)
{
	if (!r)
		return;
	if (r->linked) {
		lrd_store_reader **at = &r->t->readers;
		while (*at && *at != r)
			at = &(*at)->next_reader;
		if (*at)
			*at = r->next_reader;
	}
	lrd__dpipe_destroy(&r->pipe); /* no job may read the map once the txn ends */
	if (r->own && r->t)
		lrd_txn_abort(r->t);
	lrd__free(r->buf);
	lrd__free(r);
}
