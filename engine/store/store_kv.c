/* Key-value namespaces: raw values under (namespace, key), stored in the "kv" database under
 * namespace ‖ 0x00 ‖ key, so one namespace's keys are contiguous and a prefix scan stays inside
 * it. Compare-and-put runs its read and its write in one write transaction, which LMDB
 * serialises against every other writer: that is its atomicity. */
#include <string.h>

#include "store_internal.h"

int lrd__kv_key(const char *ns, const void *key, size_t klen, bool allow_empty, uint8_t *buf,
                size_t *n)
{
	if (!ns)
		return lrd__err(LRD_EINVAL, "namespace is NULL");
	size_t nl = strnlen(ns, LRD_STORE_MAX_NS + 1);
	if (nl == 0 || nl > LRD_STORE_MAX_NS)
		return lrd__err(LRD_EINVAL, "namespace name must have 1..%u bytes",
		                LRD_STORE_MAX_NS);
	if ((!key && klen) || (klen == 0 && !allow_empty))
		return lrd__err(LRD_EINVAL, "namespace key is empty or NULL");
	if (klen > LRD_STORE_MAX_KEY - nl - 1)
		return lrd__err(LRD_EINVAL,
		                "key of %zu bytes is too long for namespace '%s' (max %zu)", klen,
		                ns, (size_t)(LRD_STORE_MAX_KEY - nl - 1));
	memcpy(buf, ns, nl);
	buf[nl] = 0;
	if (klen)
		memcpy(buf + nl + 1, key, klen);
	*n = nl + 1 + klen;
	return LRD_OK;
}

struct kv_ctx {
	uint8_t k[LRD_STORE_MAX_KEY];
	size_t klen;
	const void *val;
	size_t vlen;
	unsigned flags;
	const lrd_buf *expected, *desired;
	lrd_buf *current; /* kv_cas: the value found on a conflict, copied (NULL: not wanted) */
};

static int kv_put_op(lrd_txn *t, void *ctx)
{
	struct kv_ctx *c = ctx;
	MDB_val k = {c->klen, c->k}, v = {c->vlen, (void *)c->val};
	int rc =
	    mdb_put(t->t, t->s->kv, &k, &v, (c->flags & LRD_KV_NOOVERWRITE) ? MDB_NOOVERWRITE : 0);
	return rc ? lrd__mdb_err(rc, "namespace put") : LRD_OK;
}

int lrd_store_kv_put(lrd_store *s, lrd_txn *txn, const char *ns, const void *key, size_t klen,
                     const void *val, size_t vlen, unsigned flags)
{
	struct kv_ctx c = {.val = val, .vlen = vlen, .flags = flags};
	int rc = lrd__kv_key(ns, key, klen, false, c.k, &c.klen);
	if (rc)
		return rc;
	if ((!val && vlen) || vlen > STORE_MAX_CHUNK)
		return lrd__err(LRD_EINVAL, "namespace value NULL or larger than 1 GiB");
	return lrd__store_write(s, txn, vlen, kv_put_op, &c);
}

int lrd_store_kv_get(lrd_txn *txn, const char *ns, const void *key, size_t klen, lrd_buf *val)
{
	uint8_t kb[LRD_STORE_MAX_KEY];
	size_t n;
	if (!txn || !val)
		return lrd__err(LRD_EINVAL, "lrd_store_kv_get needs a transaction and val");
	if (txn->reset)
		return lrd__err(LRD_EINVAL,
		                "lrd_store_kv_get: transaction is reset: renew it first");
	int rc = lrd__kv_key(ns, key, klen, false, kb, &n);
	if (!rc)
		rc = lrd__store_check(txn->s);
	if (rc)
		return rc;
	MDB_val k = {n, kb}, v;
	int mrc = mdb_get(txn->t, txn->s->kv, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return lrd__quiet(LRD_ENOTFOUND);
	if (mrc)
		return lrd__mdb_err(mrc, "namespace get");
	*val = (lrd_buf){v.mv_data, v.mv_size};
	return LRD_OK;
}

static int kv_del_op(lrd_txn *t, void *ctx)
{
	struct kv_ctx *c = ctx;
	MDB_val k = {c->klen, c->k};
	int rc = mdb_del(t->t, t->s->kv, &k, NULL);
	return rc ? lrd__mdb_err(rc, "namespace delete") : LRD_OK;
}

int lrd_store_kv_del(lrd_store *s, lrd_txn *txn, const char *ns, const void *key, size_t klen)
{
	struct kv_ctx c = {0};
	int rc = lrd__kv_key(ns, key, klen, false, c.k, &c.klen);
	return rc ? rc : lrd__store_write(s, txn, 0, kv_del_op, &c);
}

static int kv_cas_op(lrd_txn *t, void *ctx)
{
	struct kv_ctx *c = ctx;
	MDB_val k = {c->klen, c->k}, v;
	int rc = mdb_get(t->t, t->s->kv, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return lrd__mdb_err(rc, "namespace compare-and-put");
	bool present = rc == 0;
	if (!c->expected ? present
	                 : !present || v.mv_size != c->expected->size ||
	                       (v.mv_size && memcmp(v.mv_data, c->expected->data, v.mv_size))) {
		if (c->current) {
			lrd__free(c->current->data); /* an earlier attempt's (a retried write) */
			*c->current = (lrd_buf){0};
			if (present && !(c->current->data = lrd__malloc(v.mv_size ? v.mv_size : 1)))
				return LRD_ENOMEM;
			if (present && v.mv_size)
				memcpy(c->current->data, v.mv_data, v.mv_size);
			c->current->size = present ? v.mv_size : 0;
		}
		return lrd__err(LRD_ECONFLICT, "compare-and-put: %s",
		                !present       ? "the key is absent, a value was expected"
		                : !c->expected ? "the key exists, its absence was expected"
		                               : "the current value is not the expected one");
	}
	if (c->desired) {
		v = (MDB_val){c->desired->size, c->desired->data};
		rc = mdb_put(t->t, t->s->kv, &k, &v, 0);
	} else if (present) {
		rc = mdb_del(t->t, t->s->kv, &k, NULL);
	}
	return rc ? lrd__mdb_err(rc, "namespace compare-and-put") : LRD_OK;
}

int lrd_store_kv_cas(lrd_store *s, lrd_txn *txn, const char *ns, const void *key, size_t klen,
                     const lrd_buf *expected, const lrd_buf *desired, lrd_buf *current)
{
	if (current)
		*current = (lrd_buf){0};
	struct kv_ctx c = {.expected = expected, .desired = desired, .current = current};
	int rc = lrd__kv_key(ns, key, klen, false, c.k, &c.klen);
	if (rc)
		return rc;
	if ((expected && !expected->data && expected->size) ||
	    (desired && !desired->data && desired->size))
		return lrd__err(LRD_EINVAL, "compare-and-put: NULL data with a size");
	rc = lrd__store_write(s, txn, desired ? desired->size : 0, kv_cas_op, &c);
	if (rc != LRD_ECONFLICT && current) {
		lrd__free(current->data);
		*current = (lrd_buf){0};
	}
	return rc;
}
