/* Array chunks in the store: the chunk database's records, array ids, the reference an
 * object's tree holds for each array, and the chunk writer that cuts a byte stream into
 * compressed, checksummed chunks.
 *
 * Invariants: chunk keys are array id ‖ index, both big-endian, so one array's chunks are
 * contiguous and in order; an array id is never reused (meta "next_id" only grows); the chunk
 * writer holds at most one chunk of input and one compressed chunk in memory, and passes input
 * through without copying when whole chunks arrive at once. */
#include <string.h>

#include "codecs/codec_internal.h"
#include "engine/store/store_internal.h"

int lrd__array_ref_write(lrd__writer *w, const lrd__array_ref *a)
{
	int rc = lrd__writer_varint(w, a->id);
	if (!rc)
		rc = lrd__writer_varint(w, a->chunk_size);
	return rc ? rc : lrd__writer_varint(w, a->nchunks);
}

int lrd__array_ref_read(lrd__reader *r, const lrd__array_desc *d, lrd__array_ref *a)
{
	int rc = lrd__reader_varint(r, &a->id);
	if (!rc)
		rc = lrd__reader_varint(r, &a->chunk_size);
	if (!rc)
		rc = lrd__reader_varint(r, &a->nchunks);
	if (rc)
		return rc;
	if (a->chunk_size == 0 || a->chunk_size > LRD__CHUNK_MAX_RAW)
		return lrd__err(LRD_ECORRUPT, "array chunk size %llu out of range",
		                (unsigned long long)a->chunk_size);
	uint64_t want = d->nbytes / a->chunk_size + (d->nbytes % a->chunk_size != 0);
	if (a->nchunks != want)
		return lrd__err(LRD_ECORRUPT, "array of %llu bytes in %llu chunks of %llu",
		                (unsigned long long)d->nbytes, (unsigned long long)a->nchunks,
		                (unsigned long long)a->chunk_size);
	return LRD_OK;
}

uint64_t lrd__array_ref_chunk_raw(const lrd__array_ref *a, uint64_t nbytes, uint64_t i)
{
	uint64_t off = i * a->chunk_size;
	return nbytes - off < a->chunk_size ? nbytes - off : a->chunk_size;
}

int lrd__store_new_id(lrd_txn *t, uint64_t *id)
{
	MDB_val k = {7, "next_id"}, v;
	int rc = mdb_get(t->t, t->s->meta, &k, &v);
	if (rc)
		return lrd__mdb_err(rc, "reading the next array id");
	if (v.mv_size != 8)
		return lrd__err(LRD_ECORRUPT, "store metadata: next_id has %zu bytes", v.mv_size);
	*id = lrd__get_u64(v.mv_data);
	uint8_t b[8];
	lrd__put_u64(b, *id + 1);
	v = (MDB_val){8, b};
	rc = mdb_put(t->t, t->s->meta, &k, &v, 0);
	return rc ? lrd__mdb_err(rc, "writing the next array id") : LRD_OK;
}

static void chunk_key(uint8_t k[STORE_CHUNK_KEY], uint64_t id, uint64_t idx)
{
	lrd__be64(k, id);
	lrd__be64(k + 8, idx);
}

int lrd__chunk_put(lrd_txn *t, uint64_t id, uint64_t idx, const lrd__chunk *hdr, const void *stored)
{
	uint8_t kb[STORE_CHUNK_KEY];
	chunk_key(kb, id, idx);
	MDB_val k = {sizeof kb, kb}, v = {STORE_CHUNK_PREFIX + (size_t)hdr->stored_size, NULL};
	int rc = mdb_put(t->t, t->s->chunks, &k, &v, MDB_RESERVE);
	if (rc)
		return lrd__mdb_err(rc, "storing a chunk");
	uint8_t *p = v.mv_data;
	lrd__chunk_encode(hdr, p);
	memset(p + LRD__CHUNK_HDR_SIZE, 0, STORE_CHUNK_PREFIX - LRD__CHUNK_HDR_SIZE);
	if (hdr->stored_size)
		memcpy(p + STORE_CHUNK_PREFIX, stored, (size_t)hdr->stored_size);
	/* with a writable map the bytes are in the file's pages now: don't keep them resident */
	if ((t->s->flags & LRD_STORE_WRITEMAP) && hdr->stored_size >= STORE_RELEASE_MIN)
		lrd__map_unresident(p, STORE_CHUNK_PREFIX + (size_t)hdr->stored_size);
	return LRD_OK;
}

int lrd__chunk_get(lrd_txn *t, uint64_t id, uint64_t idx, uint64_t raw, lrd__chunk *hdr,
                   const void **stored)
{
	uint8_t kb[STORE_CHUNK_KEY];
	chunk_key(kb, id, idx);
	MDB_val k = {sizeof kb, kb}, v;
	int rc = mdb_get(t->t, t->s->chunks, &k, &v);
	if (rc == MDB_NOTFOUND)
		return lrd__err(LRD_ECORRUPT, "chunk missing");
	if (rc)
		return lrd__mdb_err(rc, "reading a chunk");
	if (v.mv_size < STORE_CHUNK_PREFIX)
		return lrd__err(LRD_ECORRUPT, "chunk record of %zu bytes", v.mv_size);
	rc = lrd__chunk_decode(v.mv_data, raw, v.mv_size - STORE_CHUNK_PREFIX, hdr);
	if (rc)
		return rc;
	if (hdr->raw_size != raw)
		return lrd__err(LRD_ECORRUPT, "chunk holds %llu bytes, expected %llu",
		                (unsigned long long)hdr->raw_size, (unsigned long long)raw);
	if (hdr->stored_size != v.mv_size - STORE_CHUNK_PREFIX)
		return lrd__err(LRD_ECORRUPT, "chunk record has %zu bytes, header says %llu",
		                v.mv_size - STORE_CHUNK_PREFIX,
		                (unsigned long long)hdr->stored_size);
	*stored = (const uint8_t *)v.mv_data + STORE_CHUNK_PREFIX;
	return LRD_OK;
}

int lrd__chunks_drop(lrd_txn *t, uint64_t id, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint8_t kb[STORE_CHUNK_KEY];
		chunk_key(kb, id, i);
		MDB_val k = {sizeof kb, kb};
		int rc = mdb_del(t->t, t->s->chunks, &k, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return lrd__mdb_err(rc, "deleting a chunk");
	}
	return LRD_OK;
}

int lrd__chunks_drop_all(lrd_txn *t, uint64_t id)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(t->t, t->s->chunks, &c);
	if (rc)
		return lrd__mdb_err(rc, "deleting the chunks of an array");
	uint8_t kb[STORE_CHUNK_KEY];
	chunk_key(kb, id, 0);
	for (;;) {
		MDB_val k = {sizeof kb, kb}, v;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc || k.mv_size != STORE_CHUNK_KEY || lrd__rbe64(k.mv_data) != id)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return rc && rc != MDB_NOTFOUND ? lrd__mdb_err(rc, "deleting the chunks of an array")
	                                : LRD_OK;
}

int lrd__put_options_check(const lrd_put_options *o)
{
	if (!o)
		return LRD_OK;
	int rc = LRD__RESERVED_CHECK(o, "lrd_put_options");
	if (!rc)
		rc = LRD__RESERVED_CHECK(&o->params, "lrd_put_options.params");
	unsigned known = LRD_PUT_NOOVERWRITE | LRD_PUT_MAPPABLE;
	if (!rc && (o->flags & ~known))
		rc = lrd__err(LRD_EINVAL, "lrd_put_options.flags: unknown bits 0x%x",
		              o->flags & ~known);
	return rc;
}

/* Each zero field of o's params takes the store's default for it. */
static void merge_params(lrd_codec_params *dst, const lrd_codec_params *o)
{
	if (o->level)
		dst->level = o->level;
	if (o->typesize)
		dst->typesize = o->typesize;
	if (o->threads)
		dst->threads = o->threads;
	if (o->shuffle)
		dst->shuffle = o->shuffle;
	if (o->inner)
		dst->inner = o->inner;
}

int lrd__put_resolve(lrd_store *s, const lrd_put_options *o, size_t itemsize,
                     const lrd_codec **codec, lrd_codec_params *params, size_t *chunk_size)
{
	*codec = s->codec;
	*params = s->params;
	*chunk_size = s->chunk_size;
	int level = 0;
	if (o && o->codec) {
		int rc = lrd_codec_parse(o->codec, LRD_CODEC_CHUNK, codec, &level);
		if (rc)
			return rc;
		if (*codec != s->codec)
			params->level = 0; /* the store's default level was for its own codec */
	}
	if (o)
		merge_params(params, &o->params);
	if (level) /* a level in the spec ("lz4:9") wins over the level field */
		params->level = level;
	int lrc = lrd__codec_level_check(*codec, params->level);
	if (lrc)
		return lrc;
	if (o && o->chunk_size) {
		int rc = lrd_chunk_size_check(o->chunk_size);
		if (rc)
			return rc;
		*chunk_size = o->chunk_size;
	}
	if (params->typesize == 0)
		params->typesize = itemsize ? itemsize : 1;
	return LRD_OK;
}

/* The chunk compressor's sink: store chunk `index` in the transaction. */
static int put_chunk(void *ctx, uint64_t index, const lrd__chunk *hdr, const void *stored)
{
	lrd__chunk_writer *cw = ctx;
	int rc = lrd__chunk_put(cw->t, cw->ref.id, index, hdr, stored);
	if (rc)
		return rc;
	cw->ref.nchunks++;
	cw->raw += hdr->raw_size;
	cw->stored += STORE_CHUNK_PREFIX + hdr->stored_size;
	cw->since += STORE_CHUNK_PREFIX + hdr->stored_size;
	if (cw->batch && cw->since >= cw->batch) {
		/* LMDB holds a txn's dirty pages in memory until commit: bound them */
		cw->since = 0;
		cw->batches++;
		return lrd__txn_checkpoint(cw->t);
	}
	return LRD_OK;
}

int lrd__chunk_writer_init(lrd__chunk_writer *cw, lrd_txn *t, const lrd_put_options *o,
                           size_t itemsize, uint64_t nbytes)
{
	memset(cw, 0, sizeof *cw);
	cw->t = t;
	cw->nbytes = nbytes;
	size_t chunk_size;
	int rc = lrd__put_resolve(t->s, o, itemsize, &cw->codec, &cw->params, &chunk_size);
	if (rc)
		return rc;
	if (o && (o->flags & LRD_PUT_MAPPABLE) && !cw->codec && nbytes > chunk_size)
		chunk_size = nbytes < LRD_CHUNK_SIZE_MAX ? (size_t)nbytes : LRD_CHUNK_SIZE_MAX;
	/* Keep chunks whole elements so that each decompresses to a run of items. */
	if (itemsize > 1 && chunk_size > itemsize)
		chunk_size -= chunk_size % itemsize;
	cw->ref.chunk_size = chunk_size;
	if (nbytes == 0)
		return LRD_OK;
	/* the chunks are compressed on the chunk pool; LMDB is written on this thread only */
	int threads = o && o->threads ? o->threads : t->s->threads;
	if ((rc = lrd__cpipe_init(&cw->pipe, cw->codec, &cw->params, chunk_size, nbytes, threads,
	                          put_chunk, cw))) {
		lrd__chunk_writer_free(cw);
		return rc;
	}
	return lrd__store_new_id(t, &cw->ref.id);
}

int lrd__chunk_writer_write(lrd__chunk_writer *cw, const void *p, size_t n)
{
	if (n > cw->nbytes - cw->written)
		return lrd__err(LRD_EINVAL, "%zu bytes written past the array's end (%llu bytes)",
		                (size_t)(n - (cw->nbytes - cw->written)),
		                (unsigned long long)cw->nbytes);
	if (n == 0)
		return LRD_OK;
	int rc = lrd__cpipe_push(&cw->pipe, p, n);
	if (!rc)
		cw->written += n;
	return rc;
}

int lrd__chunk_writer_finish(lrd__chunk_writer *cw)
{
	if (cw->written != cw->nbytes)
		return lrd__err(LRD_EINVAL, "array of %llu bytes ended after %llu",
		                (unsigned long long)cw->nbytes, (unsigned long long)cw->written);
	return cw->nbytes ? lrd__cpipe_finish(&cw->pipe) : LRD_OK;
}

void lrd__chunk_writer_free(lrd__chunk_writer *cw) { lrd__cpipe_destroy(&cw->pipe); }
