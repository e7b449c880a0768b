/* Verification of a whole store in one read snapshot: every object record's header and tree
 * checksum, every chunk of every array (present, sized as its reference says, checksum, and
 * decompression to its declared size), then a pass over the chunk database for chunks that no
 * object references. Memory: one chunk-sized buffer and one (id, chunk count) pair per array. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/store/store_internal.h"

struct ref {
	uint64_t id, nchunks;
};

struct vctx {
	lrd_txn *t;
	lrd_verify_fn cb;
	void *cbctx;
	lrd_verify_report rep;
	int first; /* first problem's code */
	char first_msg[512];
	bool stop, bad; /* bad: the current object had a problem */
	const char *key;
	uint8_t *buf;
	size_t cap;
	struct ref *refs;
	size_t nrefs, refcap;
};

static int problem(struct vctx *v, int64_t chunk, int code)
{
	const char *msg = lrd_errmsg();
	if (!v->first) {
		v->first = code;
		snprintf(v->first_msg, sizeof v->first_msg, "%s", msg);
	}
	v->bad = true;
	if (v->cb && v->cb(v->cbctx, v->key, chunk, code, msg))
		v->stop = true;
	return v->stop ? LRD_ECANCELED : LRD_OK;
}

static int verify_array(void *ctx, const lrd__array_desc *d, lrd__reader *r, lrd_value **out)
{
	struct vctx *v = ctx;
	lrd__array_ref a;
	int rc = lrd__array_ref_read(r, d, &a);
	if (rc)
		return rc;
	if (v->nrefs == v->refcap) {
		size_t nc = v->refcap ? v->refcap * 2 : 64;
		struct ref *p = lrd__realloc(v->refs, nc * sizeof *p);
		if (!p)
			return LRD_ENOMEM;
		v->refs = p, v->refcap = nc;
	}
	v->refs[v->nrefs++] = (struct ref){a.id, a.nchunks};
	for (uint64_t i = 0; i < a.nchunks && !v->stop; i++) {
		uint64_t raw = lrd__array_ref_chunk_raw(&a, d->nbytes, i);
		lrd__chunk hdr;
		const void *stored;
		v->rep.chunks++;
		rc = lrd__chunk_get(v->t, a.id, i, raw, &hdr, &stored);
		if (!rc && hdr.codec == LRD_CODEC_ID_RAW) {
			rc = lrd__chunk_verify(&hdr, stored);
		} else if (!rc) {
			if (raw > v->cap) {
				uint8_t *p = lrd__realloc(v->buf, (size_t)raw);
				if (!p)
					return LRD_ENOMEM;
				v->buf = p, v->cap = (size_t)raw;
			}
			rc = lrd__chunk_decompress(&hdr, stored, v->buf, (size_t)raw);
		}
		if (rc == LRD_ENOMEM || rc == LRD_EIO)
			return rc;
		if (rc) {
			lrd__errctx(rc, "chunk %llu of '%s'", (unsigned long long)i, v->key);
			if ((rc = problem(v, (int64_t)i, rc)) != LRD_OK)
				return rc;
		}
	}
	return LRD_OK;
}

static int verify_object(void *ctx, MDB_val *k, MDB_val *val)
{
	struct vctx *v = ctx;
	char key[LRD_STORE_MAX_KEY + 1];
	size_t kl = k->mv_size < sizeof key ? k->mv_size : sizeof key - 1;
	memcpy(key, k->mv_data, kl);
	key[kl] = 0;
	v->key = key;
	v->bad = false;
	v->rep.objects++;
	lrd__object_header h;
	const uint8_t *tree;
	size_t tlen;
	int rc = lrd__object_fetch(v->t, key, kl, &h, &tree, &tlen);
	if (!rc) {
		lrd__memsrc m;
		lrd__reader r = lrd__memsrc_reader(&m, tree, tlen);
		lrd__tree_hooks hk = {.array_in = verify_array, .ctx = v};
		rc = lrd__tree_skip(&r, &hk);
		if (!rc && r.avail)
			rc = lrd__err(LRD_ECORRUPT, "bytes after the value");
		if (rc && rc != LRD_ECANCELED && rc != LRD_ENOMEM && rc != LRD_EIO)
			lrd__errctx(rc, "object '%s'", key);
	}
	if (rc && rc != LRD_ECANCELED && rc != LRD_ENOMEM && rc != LRD_EIO)
		rc = problem(v, -1, rc);
	if (v->bad)
		v->rep.bad_objects++;
	(void)val;
	return rc;
}

static int cmp_ref(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int check_orphan(void *ctx, MDB_val *k, MDB_val *val)
{
	struct vctx *v = ctx;
	if (k->mv_size != STORE_CHUNK_KEY) {
		v->rep.orphan_chunks++;
		return LRD_OK;
	}
	struct ref key = {lrd__rbe64(k->mv_data), 0};
	const struct ref *r = bsearch(&key, v->refs, v->nrefs, sizeof *v->refs, cmp_ref);
	if (!r || lrd__rbe64((const uint8_t *)k->mv_data + 8) >= r->nchunks)
		v->rep.orphan_chunks++;
	(void)val;
	return LRD_OK;
}

int lrd_store_verify(lrd_store *s, lrd_verify_fn cb, void *ctx, lrd_verify_report *rep)
{
	struct vctx v = {.cb = cb, .cbctx = ctx};
	int rc = lrd__txn_begin(s, false, &v.t);
	if (rc)
		return rc;
	rc = lrd__store_walk(v.t, s->objects, verify_object, &v);
	if (!rc) {
		qsort(v.refs, v.nrefs, sizeof *v.refs, cmp_ref);
		rc = lrd__store_walk(v.t, s->chunks, check_orphan, &v);
	}
	lrd_txn_abort(v.t);
	lrd__free(v.buf);
	lrd__free(v.refs);
	if (rep)
		*rep = v.rep;
	if (rc == LRD_ECANCELED || (!rc && v.first))
		return lrd__err(v.first, "%s", v.first_msg);
	return rc;
}
