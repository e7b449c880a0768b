/* lrd_store_writer: an array streamed into the store. The chunk writer (store_chunks.c) stores
 * chunks as bytes arrive; finish writes the object record (the array's header and reference)
 * after dropping any older object under the key, so until then readers see the old object.
 *
 * A writer with its own transaction (txn NULL) commits its chunks in batches of
 * STORE_WRITER_BATCH stored bytes, so that LMDB's dirty pages (held in memory until commit,
 * unless the map is writable) stay bounded, and writes the object record last, in the final
 * commit: the object still appears whole or not at all. While batches are committed a marker
 * (store_pending.c) names the array id; the writer first removes what earlier writers of the
 * same key left when they were killed mid-way, and removes its own chunks when freed
 * unfinished. With the caller's transaction nothing is committed before the caller commits.
 * Growing the map ahead: the byte size is known at creation, so the map is grown then (when
 * the writer owns its transaction and nothing else is open). */
#include <stdio.h>
#include <string.h>

#include "engine/store/store_internal.h"

struct lrd_store_writer {
	lrd_txn *t;
	bool own, done, failed;
	lrd__chunk_writer cw;
	bool marked; /* a pending marker was written: batches may be committed */
	lrd_dtype dt;
	lrd_order order;
	unsigned ndim;
	uint64_t shape[LRD_MAX_NDIM];
	bool no_overwrite;
	size_t klen;
	char key[LRD_STORE_MAX_KEY + 1];
};

int lrd_store_writer_new(lrd_store *s, lrd_txn *txn, const char *key, lrd_dtype dt, unsigned ndim,
                         const uint64_t *shape, lrd_order order, const lrd_put_options *opts,
                         lrd_store_writer **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_store_writer_new: out is NULL");
	*out = NULL;
	size_t klen;
	int rc = lrd__store_key_check(key, &klen);
	if (!rc)
		rc = lrd__put_options_check(opts);
	if (rc)
		return rc;
	if (ndim > LRD_MAX_NDIM || (ndim && !shape))
		return lrd__err(LRD_EINVAL, "array with %u dimensions (max %d) or no shape", ndim,
		                LRD_MAX_NDIM);
	if (!lrd_dtype_valid(dt))
		return lrd__err(LRD_EDTYPE, "invalid dtype");
	uint64_t nbytes = dt.itemsize;
	for (unsigned i = 0; i < ndim; i++)
		if (__builtin_mul_overflow(nbytes, shape[i], &nbytes))
			return lrd__err(LRD_ELIMIT, "array byte size overflows");
	if ((rc = lrd__store_check(s)) != LRD_OK)
		return rc;
	lrd_store_writer *w = lrd__calloc(1, sizeof *w);
	if (!w)
		return LRD_ENOMEM;
	w->dt = dt, w->order = order, w->ndim = ndim, w->klen = klen;
	if (ndim)
		memcpy(w->shape, shape, ndim * sizeof *shape);
	memcpy(w->key, key, klen + 1);
	w->no_overwrite = opts && (opts->flags & LRD_PUT_NOOVERWRITE);
	if (!txn)
		lrd__map_reserve(s, nbytes);
	rc = lrd__txn_use(s, txn, true, &w->t, &w->own);
	if (!rc && w->no_overwrite) {
		MDB_val k = {klen, w->key}, v;
		if (mdb_get(w->t->t, s->objects, &k, &v) == 0)
			rc = lrd__err(LRD_EEXIST, "object '%s' exists", key);
	}
	if (!rc && w->own)
		rc = lrd__pending_sweep(w->t, w->key, w->klen, NULL);
	if (!rc)
		rc = lrd__chunk_writer_init(&w->cw, w->t, opts, dt.itemsize, nbytes);
	if (!rc && w->own && nbytes > STORE_WRITER_BATCH) {
		rc = lrd__pending_mark(w->t, w->cw.ref.id, w->key, w->klen);
		w->marked = rc == LRD_OK;
		w->cw.batch = STORE_WRITER_BATCH;
	}
	if (rc) {
		if (w->t && !w->own)
			lrd__txn_poison(w->t, rc);
		w->failed = true;
		lrd_store_writer_free(w);
		return rc;
	}
	*out = w;
	return LRD_OK;
}

static int fail(lrd_store_writer *w, int rc)
{
	w->failed = true;
	if (!w->own)
		lrd__txn_poison(w->t, rc);
	return lrd__errctx(rc, "writing array '%s'", w->key);
}

int lrd_store_writer_write(lrd_store_writer *w, const void *p, size_t n)
{
	if (!w || (!p && n))
		return lrd__err(LRD_EINVAL, "lrd_store_writer_write: NULL argument");
	if (w->failed || w->done)
		return lrd__err(LRD_EINVAL, "array writer of '%s' already %s", w->key,
		                w->done ? "finished" : "failed");
	int rc = lrd__chunk_writer_write(&w->cw, p, n);
	return rc ? fail(w, rc) : LRD_OK;
}

int lrd_store_writer_finish(lrd_store_writer *w)
{
	if (!w)
		return lrd__err(LRD_EINVAL, "lrd_store_writer_finish: NULL writer");
	if (w->failed || w->done)
		return lrd__err(LRD_EINVAL, "array writer of '%s' already %s", w->key,
		                w->done ? "finished" : "failed");
	int rc = lrd__chunk_writer_finish(&w->cw);
	lrd__membuf tree = {0};
	lrd__writer wr = lrd__membuf_writer(&tree);
	if (!rc)
		rc = lrd__tree_array_header(&wr, w->dt, w->order, w->ndim, w->shape);
	if (!rc)
		rc = lrd__array_ref_write(&wr, &w->cw.ref);
	if (!rc && w->no_overwrite && w->cw.batches) {
		/* another writer may have stored the key between two batches */
		MDB_val k = {w->klen, w->key}, v;
		if (mdb_get(w->t->t, w->t->s->objects, &k, &v) == 0)
			rc = lrd__err(LRD_EEXIST, "object '%s' exists", w->key);
	}
	if (!rc && w->marked)
		rc = lrd__pending_clear(w->t, w->cw.ref.id);
	if (!rc) {
		rc = lrd__object_drop(w->t, w->key, w->klen);
		if (rc == LRD_ENOTFOUND)
			rc = LRD_OK;
	}
	if (!rc) {
		lrd__object_header h = {.kind = LRD_KIND_ARRAY,
		                        .raw = w->cw.raw + tree.size,
		                        .stored = w->cw.stored + STORE_OBJ_HDR + tree.size,
		                        .arrays = 1,
		                        .chunks = w->cw.ref.nchunks};
		rc = lrd__object_store(w->t, w->key, w->klen, &h, tree.data, tree.size);
	}
	lrd__membuf_free(&tree);
	if (!rc && w->own) {
		rc = lrd_txn_commit(w->t);
		w->t = NULL;
	}
	if (rc)
		return fail(w, rc);
	w->done = true;
	return LRD_OK;
}

void lrd_store_writer_free(lrd_store_writer *w)
{
	if (!w)
		return;
	lrd__chunk_writer_free(&w->cw);
	if (w->own && w->t) {
		lrd_store *s = w->t->s;
		bool inherited = lrd__inherited(w->t->fork_gen);
		lrd_txn_abort(w->t);
		/* batches already committed: take their chunks and marker back (best effort; if
		 * this fails, the next writer of the key or compact removes them) */
		lrd_txn *t;
		char msg[512];
		snprintf(msg, sizeof msg, "%s", lrd_errmsg()); /* the caller may still want it */
		if (w->marked && w->cw.batches && !inherited &&
		    lrd__txn_begin(s, true, &t) == LRD_OK) {
			int rc = lrd__chunks_drop_all(t, w->cw.ref.id);
			if (!rc)
				rc = lrd__pending_clear(t, w->cw.ref.id);
			if (rc)
				lrd_txn_abort(t);
			else
				lrd_txn_commit(t);
		}
		lrd__err(0, "%s", msg);
	}
	lrd__free(w);
}
