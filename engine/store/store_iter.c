/* Iterators over object keys and namespace keys: an LMDB cursor positioned at the prefix
 * (MDB_SET_RANGE) and stepped until a key no longer starts with it. An iterator without a
 * caller's transaction owns a read transaction for its whole life. */
#include <string.h>

#include "engine/store/store_internal.h"

struct lrd_store_iter {
	lrd_txn *t;
	bool own;
	MDB_cursor *cur;
	uint8_t prefix[LRD_STORE_MAX_KEY];
	size_t plen;
	size_t strip; /* bytes of namespace prefix hidden from the caller */
	bool started, objects;
	char key[LRD_STORE_MAX_KEY + 1];
};

static int iter_new(lrd_store *s, lrd_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t plen,
                    size_t strip, bool objects, lrd_store_iter **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "iterator: out is NULL");
	*out = NULL;
	lrd_store_iter *it = lrd__calloc(1, sizeof *it);
	if (!it)
		return LRD_ENOMEM;
	if (plen)
		memcpy(it->prefix, prefix, plen);
	it->plen = plen;
	it->strip = strip;
	it->objects = objects;
	int rc = lrd__txn_use(s, txn, false, &it->t, &it->own);
	if (rc) {
		lrd__free(it);
		return rc;
	}
	int mrc = mdb_cursor_open(it->t->t, dbi, &it->cur);
	if (mrc) {
		rc = lrd__mdb_err(mrc, "opening a cursor");
		lrd_store_iter_free(it);
		return rc;
	}
	*out = it;
	return LRD_OK;
}

int lrd_store_iter_new(lrd_store *s, lrd_txn *txn, const char *prefix, lrd_store_iter **out)
{
	size_t plen = prefix ? strnlen(prefix, LRD_STORE_MAX_KEY + 1) : 0;
	if (plen > LRD_STORE_MAX_KEY)
		return lrd__err(LRD_EINVAL, "prefix longer than %u bytes", LRD_STORE_MAX_KEY);
	int rc = lrd__store_check(s);
	return rc ? rc : iter_new(s, txn, s->objects, (const uint8_t *)prefix, plen, 0, true, out);
}

int lrd_store_kv_iter_new(lrd_store *s, lrd_txn *txn, const char *ns, const void *prefix,
                          size_t plen, lrd_store_iter **out)
{
	uint8_t k[LRD_STORE_MAX_KEY];
	size_t n;
	int rc = lrd__kv_key(ns, prefix, plen, true, k, &n);
	if (!rc)
		rc = lrd__store_check(s);
	return rc ? rc : iter_new(s, txn, s->kv, k, n, n - plen, false, out);
}

int lrd_store_iter_next(lrd_store_iter *it, const char **key, size_t *klen, lrd_buf *val)
{
	if (!it || !key || !klen)
		return lrd__err(LRD_EINVAL, "lrd_store_iter_next: NULL argument");
	MDB_val k = {it->plen, it->prefix}, v;
	int rc;
	if (!it->started)
		rc = it->plen ? mdb_cursor_get(it->cur, &k, &v, MDB_SET_RANGE)
		              : mdb_cursor_get(it->cur, &k, &v, MDB_FIRST);
	else
		rc = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
	it->started = true;
	if (rc == MDB_NOTFOUND)
		return lrd__quiet(LRD_ENOTFOUND);
	if (rc)
		return lrd__mdb_err(rc, "iterating");
	if (k.mv_size < it->plen || memcmp(k.mv_data, it->prefix, it->plen))
		return lrd__quiet(LRD_ENOTFOUND);
	if (it->objects) {
		memcpy(it->key, k.mv_data, k.mv_size);
		it->key[k.mv_size] = 0;
		*key = it->key;
	} else {
		*key = (const char *)k.mv_data + it->strip;
	}
	*klen = k.mv_size - it->strip;
	if (val)
		*val = (lrd_buf){v.mv_data, v.mv_size};
	return LRD_OK;
}

void lrd_store_iter_free(lrd_store_iter *it)
{
	if (!it)
		return;
	/* inherited across fork(): LMDB's cursor belongs to the parent's txn; leave it */
	if (it->cur && !lrd__inherited(it->t->fork_gen))
		mdb_cursor_close(it->cur);
	if (it->own)
		lrd_txn_abort(it->t);
	lrd__free(it);
}
