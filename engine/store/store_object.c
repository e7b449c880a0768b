/* Objects: a value under a UTF-8 key. The record (store_internal.h) holds the value tree with a
 * reference in place of each array's payload; the arrays' chunks are stored first, in the same
 * write transaction, so a record never points at chunks that are not there. Replacing or
 * deleting an object deletes its old chunks in that same transaction: readers, who see whole
 * snapshots, find either the old object or the new one.
 *
 * Reading builds arrays either as LRD_BUF_MAPPED views into the map (a read transaction —
 * explicit, or implicit with lrd_get_options.mmap —, one raw chunk, aligned), each holding a
 * reference on the read snapshot (struct lrd__snap) until it is freed, or as owned copies,
 * allocated only after every chunk header has been found and checked to add up to the array's
 * size. */
#include <stdint.h>
#include <string.h>

#include "engine/store/store_internal.h"
#include "engine/value/value_internal.h"

int lrd__object_header_decode(const uint8_t *p, size_t n, lrd__object_header *h)
{
	if (n < STORE_OBJ_HDR)
		return lrd__err(LRD_ECORRUPT, "object record of %zu bytes", n);
	if (p[0] != STORE_OBJ_VERSION)
		return lrd__err(p[0] > STORE_OBJ_VERSION ? LRD_EVERSION : LRD_ECORRUPT,
		                "object record version %u", p[0]);
	if (lrd__get_u16(p + 2) || lrd__get_u32(p + 4) || p[1] > LRD_KIND_ARRAY)
		return lrd__err(LRD_ECORRUPT, "object record header has bad fields");
	h->kind = p[1];
	h->raw = lrd__get_u64(p + 8);
	h->stored = lrd__get_u64(p + 16);
	h->arrays = lrd__get_u64(p + 24);
	h->chunks = lrd__get_u64(p + 32);
	h->checksum = lrd__get_u64(p + 40);
	return LRD_OK;
}

int lrd__object_fetch(lrd_txn *t, const char *key, size_t klen, lrd__object_header *h,
                      const uint8_t **tree, size_t *tlen)
{
	MDB_val k = {klen, (void *)key}, v;
	int rc = mdb_get(t->t, t->s->objects, &k, &v);
	if (rc == MDB_NOTFOUND)
		return lrd__quiet(LRD_ENOTFOUND);
	if (rc)
		return lrd__errctx(lrd__mdb_err(rc, "reading"), "object '%s'", key);
	if ((rc = lrd__object_header_decode(v.mv_data, v.mv_size, h)) != LRD_OK)
		return lrd__errctx(rc, "object '%s'", key);
	*tree = (const uint8_t *)v.mv_data + STORE_OBJ_HDR;
	*tlen = v.mv_size - STORE_OBJ_HDR;
	if (lrd__checksum(*tree, *tlen) != h->checksum)
		return lrd__err(LRD_ECHECKSUM, "object '%s': header checksum mismatch", key);
	return LRD_OK;
}

int lrd__object_store(lrd_txn *t, const char *key, size_t klen, lrd__object_header *h,
                      const uint8_t *tree, size_t tlen)
{
	MDB_val k = {klen, (void *)key}, v = {STORE_OBJ_HDR + tlen, NULL};
	int rc = mdb_put(t->t, t->s->objects, &k, &v, MDB_RESERVE);
	if (rc)
		return lrd__mdb_err(rc, "storing the object record");
	uint8_t *p = v.mv_data;
	h->checksum = lrd__checksum(tree, tlen);
	memset(p, 0, 8);
	p[0] = STORE_OBJ_VERSION;
	p[1] = h->kind;
	lrd__put_u64(p + 8, h->raw);
	lrd__put_u64(p + 16, h->stored);
	lrd__put_u64(p + 24, h->arrays);
	lrd__put_u64(p + 32, h->chunks);
	lrd__put_u64(p + 40, h->checksum);
	memcpy(p + STORE_OBJ_HDR, tree, tlen);
	return LRD_OK;
}

/* ---- dropping an object: a tree walk that deletes every array's chunks ---------------------- */

static int drop_array(void *ctx, const lrd__array_desc *d, lrd__reader *r, lrd_value **out)
{
	lrd__array_ref a;
	int rc = lrd__array_ref_read(r, d, &a);
	return rc ? rc : lrd__chunks_drop(ctx, a.id, a.nchunks);
}

int lrd__object_drop(lrd_txn *t, const char *key, size_t klen)
{
	lrd__object_header h;
	const uint8_t *tree;
	size_t tlen;
	int rc = lrd__object_fetch(t, key, klen, &h, &tree, &tlen);
	/* A damaged record (its checksum or structure is wrong) is deleted without walking its
	 * tree: chunk ids read from damaged bytes could name another object's chunks. Its own
	 * chunks are left as orphans, which verify reports and compact leaves behind. */
	bool damaged = rc == LRD_ECHECKSUM || rc == LRD_ECORRUPT;
	if (rc && !damaged)
		return rc;
	t->partial = true;
	if (!damaged && h.arrays) {
		/* tree points into the map, which the deletions below may change: copy it */
		uint8_t *copy = lrd__malloc(tlen);
		if (!copy)
			return LRD_ENOMEM;
		memcpy(copy, tree, tlen);
		lrd__memsrc m;
		lrd__reader r = lrd__memsrc_reader(&m, copy, tlen);
		lrd__tree_hooks hk = {.array_in = drop_array, .ctx = t};
		rc = lrd__tree_skip(&r, &hk);
		lrd__free(copy);
		if (rc)
			return lrd__errctx(rc, "deleting object '%s'", key);
	}
	MDB_val k = {klen, (void *)key};
	int mrc = mdb_del(t->t, t->s->objects, &k, NULL);
	return mrc ? lrd__mdb_err(mrc, "deleting the object record") : LRD_OK;
}

/* ---- put ------------------------------------------------------------------------------------ */

struct put_ctx {
	const char *key;
	size_t klen;
	const lrd_value *v;
	const lrd_put_options *opts;
	lrd_txn *t;
	lrd__object_header h;
	lrd__membuf tree;
};

static int put_array(void *ctx, const lrd_value *arr, lrd__writer *w)
{
	struct put_ctx *pc = ctx;
	lrd__chunk_writer cw;
	size_t n = lrd_array_nbytes(arr);
	int rc = lrd__chunk_writer_init(&cw, pc->t, pc->opts, lrd_array_dtype(arr).itemsize, n);
	if (!rc)
		rc = lrd__chunk_writer_write(&cw, lrd_array_cdata(arr), n);
	if (!rc)
		rc = lrd__chunk_writer_finish(&cw);
	if (!rc)
		rc = lrd__array_ref_write(w, &cw.ref);
	pc->h.arrays++;
	pc->h.chunks += cw.ref.nchunks;
	pc->h.raw += cw.raw;
	pc->h.stored += cw.stored;
	lrd__chunk_writer_free(&cw);
	return rc ? lrd__errctx(rc, "array %llu", (unsigned long long)pc->h.arrays - 1) : LRD_OK;
}

static int put_op(lrd_txn *t, void *ctx)
{
	struct put_ctx *pc = ctx;
	pc->t = t;
	pc->h = (lrd__object_header){.kind = (uint8_t)lrd_value_kind(pc->v)};
	pc->tree.size = 0;
	MDB_val k = {pc->klen, (void *)pc->key}, old;
	int rc = mdb_get(t->t, t->s->objects, &k, &old);
	if (rc == 0) {
		if (pc->opts && (pc->opts->flags & LRD_PUT_NOOVERWRITE))
			return lrd__err(LRD_EEXIST, "object '%s' exists", pc->key);
		if ((rc = lrd__object_drop(t, pc->key, pc->klen)) != LRD_OK)
			return rc;
	} else if (rc != MDB_NOTFOUND) {
		return lrd__mdb_err(rc, "reading");
	}
	t->partial = true;
	lrd__writer w = lrd__membuf_writer(&pc->tree);
	lrd__tree_hooks hk = {.array_out = put_array, .ctx = pc};
	if ((rc = lrd__tree_encode(pc->v, &w, &hk)) != LRD_OK)
		return rc;
	pc->h.raw += pc->tree.size;
	pc->h.stored += STORE_OBJ_HDR + pc->tree.size;
	return lrd__object_store(t, pc->key, pc->klen, &pc->h, pc->tree.data, pc->tree.size);
}

/* Byte size of the arrays of a value, to grow the map ahead of the write. */
static uint64_t value_bytes(const lrd_value *v)
{
	switch (lrd_value_kind(v)) {
	case LRD_KIND_ARRAY:
		return lrd_array_nbytes(v);
	case LRD_KIND_LIST:
	case LRD_KIND_MAP: {
		uint64_t sum = 0;
		for (size_t i = 0, n = lrd_value_len(v); i < n; i++)
			sum += value_bytes(lrd_value_kind(v) == LRD_KIND_LIST
			                       ? lrd_list_at(v, i)
			                       : lrd_map_value_at(v, i));
		return sum;
	}
	case LRD_KIND_STR:
	case LRD_KIND_BYTES: {
		size_t n = 0;
		if (lrd_value_kind(v) == LRD_KIND_STR)
			lrd_value_str(v, &n);
		else
			lrd_value_bytes(v, &n);
		return n;
	}
	default:
		return 8;
	}
}

int lrd_store_put(lrd_store *s, lrd_txn *txn, const char *key, const lrd_value *v,
                  const lrd_put_options *opts)
{
	struct put_ctx pc = {.key = key, .v = v, .opts = opts};
	int rc = lrd__store_key_check(key, &pc.klen);
	if (!rc)
		rc = lrd__put_options_check(opts);
	if (rc)
		return rc;
	if (!v)
		return lrd__err(LRD_EINVAL, "put of a NULL value");
	rc = lrd__store_write(s, txn, value_bytes(v), put_op, &pc);
	lrd__membuf_free(&pc.tree);
	return rc ? lrd__errctx(rc, "put '%s'", key) : LRD_OK;
}

/* ---- get ------------------------------------------------------------------------------------ */

struct get_ctx {
	lrd_txn *t;
	const char *key;
	bool mapped_ok; /* a read txn: raw one-chunk arrays may point into its snapshot */
	bool trust;     /* lrd_get_options.trust: chunk checksums are not checked */
	uint64_t array; /* index of the array being read, for messages */
};

static size_t align_of(lrd_dtype dt)
{
	size_t a = dt.itemsize;
	if (dt.kind == 'S' || dt.kind == 'b' || a == 0)
		return 1;
	if (dt.kind == 'c')
		a /= 2;
	return a > 8 ? 8 : a;
}

/* One chunk of a get: its header and stored bytes (in the read transaction's map, valid until
 * it ends) and where it decompresses to. */
struct gslot {
	lrd__chunk hdr;
	const void *stored;
	uint8_t *dst;
	size_t raw;
	uint64_t index;
	bool trust;
};

static int get_job(void *arg)
{
	struct gslot *g = arg;
	return g->trust ? lrd__chunk_decompress_trusted(&g->hdr, g->stored, g->dst, g->raw)
	                : lrd__chunk_decompress(&g->hdr, g->stored, g->dst, g->raw);
}

static int get_retire(const struct get_ctx *gc, lrd__chunk_queue *q)
{
	void *arg;
	int rc = lrd__chunk_queue_retire(q, &arg);
	const struct gslot *g = arg;
	return rc ? lrd__errctx(rc, "chunk %llu of '%s'", (unsigned long long)g->index, gc->key)
	          : LRD_OK;
}

/* Every chunk of the array into dst: LMDB read here, verified and decompressed on the chunk
 * pool (lrd_store_options.threads of them at once). */
static int get_chunks(const struct get_ctx *gc, const lrd__array_ref *a, uint64_t nbytes,
                      uint8_t *dst)
{
	int threads = lrd__pool_threads(gc->t->s->threads);
	if ((uint64_t)threads > a->nchunks)
		threads = a->nchunks ? (int)a->nchunks : 1;
	lrd__chunk_queue *q;
	int rc = lrd__chunk_queue_new(threads, &q);
	if (rc)
		return rc;
	size_t w = lrd__chunk_queue_window(q);
	struct gslot *slots = lrd__calloc(w, sizeof *slots);
	rc = slots ? LRD_OK : LRD_ENOMEM;
	for (uint64_t i = 0; !rc && i < a->nchunks; i++) {
		if (lrd__chunk_queue_pending(q) == w && (rc = get_retire(gc, q)))
			break;
		struct gslot *g = &slots[lrd__chunk_queue_next_slot(q)];
		g->index = i;
		g->trust = gc->trust;
		g->raw = (size_t)lrd__array_ref_chunk_raw(a, nbytes, i);
		g->dst = dst + i * a->chunk_size;
		rc = lrd__chunk_get(gc->t, a->id, i, g->raw, &g->hdr, &g->stored);
		if (rc)
			rc = lrd__errctx(rc, "chunk %llu of '%s'", (unsigned long long)i, gc->key);
		else
			lrd__chunk_queue_submit(q, get_job, g);
	}
	while (lrd__chunk_queue_pending(q)) {
		int r = get_retire(gc, q);
		rc = rc ? rc : r;
	}
	lrd__chunk_queue_free(q);
	lrd__free(slots);
	return rc;
}

static int get_array(void *ctx, const lrd__array_desc *d, lrd__reader *r, lrd_value **out)
{
	struct get_ctx *gc = ctx;
	lrd__array_ref a;
	int rc = lrd__array_ref_read(r, d, &a);
	if (rc || !out)
		return rc;
	lrd__chunk hdr;
	const void *stored;
	/* check that every chunk is there with its size before allocating the array */
	for (uint64_t i = 0; i < a.nchunks; i++) {
		rc = lrd__chunk_get(gc->t, a.id, i, lrd__array_ref_chunk_raw(&a, d->nbytes, i),
		                    &hdr, &stored);
		if (rc)
			return lrd__errctx(rc, "chunk %llu of '%s'", (unsigned long long)i,
			                   gc->key);
		if (a.nchunks == 1 && gc->mapped_ok && hdr.codec == LRD_CODEC_ID_RAW &&
		    (uintptr_t)stored % align_of(d->dtype) == 0) {
			if (!gc->trust && (rc = lrd__chunk_verify(&hdr, stored)) != LRD_OK)
				return lrd__errctx(rc, "chunk 0 of '%s'", gc->key);
			/* the value keeps the snapshot its bytes live in until it is freed */
			struct lrd__snap *snap = gc->t->snap;
			lrd__snap_ref(snap);
			rc = lrd__array_new_mapped(d->dtype, d->ndim, d->shape, d->order, stored,
			                           (size_t)d->nbytes, lrd__snap_unref, snap, out);
			if (rc)
				lrd__snap_unref(snap);
			return rc;
		}
	}
	lrd_value *arr;
	if ((rc = lrd__array_new_uninit(d->dtype, d->ndim, d->shape, d->order, &arr)) != LRD_OK)
		return rc;
	rc = get_chunks(gc, &a, d->nbytes, lrd_array_data(arr));
	if (rc) {
		lrd_value_free(arr);
		return rc;
	}
	*out = arr;
	return LRD_OK;
}

int lrd__object_decode(lrd_txn *t, const char *key, const uint8_t *tree, size_t tlen,
                       bool mapped_ok, bool trust, lrd_value **out)
{
	struct get_ctx gc = {.t = t, .key = key, .mapped_ok = mapped_ok && t->snap, .trust = trust};
	lrd__memsrc m;
	lrd__reader r = lrd__memsrc_reader(&m, tree, tlen);
	lrd__tree_hooks hk = {.array_in = get_array, .ctx = &gc};
	int rc = lrd__tree_decode(&r, &hk, out);
	if (!rc && r.avail != 0) {
		lrd_value_free(*out);
		*out = NULL;
		rc = lrd__err(LRD_ECORRUPT, "%llu bytes after the value",
		              (unsigned long long)r.avail);
	}
	return rc;
}

int lrd_store_get_opts(lrd_store *s, lrd_txn *txn, const char *key, lrd_value **out,
                       const lrd_get_options *opts)
{
	size_t klen;
	if (out)
		*out = NULL;
	int rc = lrd__store_key_check(key, &klen);
	if (rc || !out)
		return rc ? rc : lrd__err(LRD_EINVAL, "lrd_store_get: out is NULL");
	if (opts && (rc = LRD__RESERVED_CHECK(opts, "lrd_get_options")) != LRD_OK)
		return rc;
	bool mmap = opts && opts->mmap, trust = opts && opts->trust;
	lrd_txn *t;
	bool own;
	if ((rc = lrd__txn_use(s, txn, false, &t, &own)) != LRD_OK)
		return rc;
	lrd__object_header h;
	const uint8_t *tree;
	size_t tlen;
	rc = lrd__object_fetch(t, key, klen, &h, &tree, &tlen);
	if (!rc)
		rc =
		    lrd__object_decode(t, key, tree, tlen, !t->write && (!own || mmap), trust, out);
	if (rc && rc != LRD_ENOTFOUND && !strstr(lrd_errmsg(), key))
		lrd__errctx(rc, "object '%s'", key);
	return lrd__txn_done(t, own, rc);
}

int lrd_store_get(lrd_store *s, lrd_txn *txn, const char *key, lrd_value **out)
{
	return lrd_store_get_opts(s, txn, key, out, NULL);
}

/* ---- del, exists, info ---------------------------------------------------------------------- */

struct del_ctx {
	const char *key;
	size_t klen;
};

static int del_op(lrd_txn *t, void *ctx)
{
	struct del_ctx *dc = ctx;
	int rc = lrd__object_drop(t, dc->key, dc->klen);
	return rc == LRD_ENOTFOUND ? lrd__err(rc, "no object '%s'", dc->key) : rc;
}

int lrd_store_del(lrd_store *s, lrd_txn *txn, const char *key)
{
	struct del_ctx dc = {.key = key};
	int rc = lrd__store_key_check(key, &dc.klen);
	return rc ? rc : lrd__store_write(s, txn, 0, del_op, &dc);
}

int lrd_store_exists(lrd_store *s, lrd_txn *txn, const char *key)
{
	size_t klen;
	int rc = lrd__store_key_check(key, &klen);
	if (rc)
		return rc;
	lrd_txn *t;
	bool own;
	if ((rc = lrd__txn_use(s, txn, false, &t, &own)) != LRD_OK)
		return rc;
	lrd__object_header h;
	const uint8_t *tree;
	size_t tlen;
	rc = lrd__object_fetch(t, key, klen, &h, &tree, &tlen);
	rc = rc == LRD_OK ? 1 : rc == LRD_ENOTFOUND ? 0 : rc;
	if (rc < 0 && !strstr(lrd_errmsg(), key))
		lrd__errctx(rc, "object '%s'", key);
	int drc = lrd__txn_done(t, own, rc < 0 ? rc : LRD_OK);
	return rc < 0 ? rc : drc ? drc : rc;
}

int lrd_store_info(lrd_store *s, lrd_txn *txn, const char *key, lrd_object_info *info)
{
	size_t klen;
	int rc = lrd__store_key_check(key, &klen);
	if (rc || !info)
		return rc ? rc : lrd__err(LRD_EINVAL, "lrd_store_info: info is NULL");
	lrd_txn *t;
	bool own;
	if ((rc = lrd__txn_use(s, txn, false, &t, &own)) != LRD_OK)
		return rc;
	lrd__object_header h;
	const uint8_t *tree;
	size_t tlen;
	rc = lrd__object_fetch(t, key, klen, &h, &tree, &tlen);
	if (!rc)
		*info = (lrd_object_info){.kind = (lrd_kind)h.kind,
		                          .raw_bytes = h.raw,
		                          .stored_bytes = h.stored,
		                          .arrays = h.arrays,
		                          .chunks = h.chunks};
	return lrd__txn_done(t, own, rc);
}
