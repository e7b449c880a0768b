/* Whole-store totals and the cursor walk shared with verification: one read snapshot, a walk over
 * the object records (counts and sizes kept in each record's header) and over the chunk headers
 * (per-codec breakdown), plus LMDB's own environment figures. */
#include <string.h>

#include "engine/store/store_internal.h"

int lrd__store_walk(lrd_txn *t, MDB_dbi dbi, int (*fn)(void *ctx, MDB_val *k, MDB_val *v),
                    void *ctx)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(t->t, dbi, &c);
	if (rc)
		return lrd__mdb_err(rc, "opening a cursor");
	MDB_val k, v;
	int err = LRD_OK;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !err;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		err = fn(ctx, &k, &v);
	mdb_cursor_close(c);
	if (!err && rc != MDB_NOTFOUND)
		err = lrd__mdb_err(rc, "walking the store");
	return err;
}

static int stat_object(void *ctx, MDB_val *k, MDB_val *v)
{
	lrd_store_stat *st = ctx;
	lrd__object_header h;
	int rc = lrd__object_header_decode(v->mv_data, v->mv_size, &h);
	if (rc)
		return lrd__errctx(rc, "object '%.*s'", (int)k->mv_size, (char *)k->mv_data);
	st->objects++;
	st->arrays += h.arrays;
	st->raw_bytes += h.raw;
	st->stored_bytes += h.stored;
	return LRD_OK;
}

static int stat_chunk(void *ctx, MDB_val *k, MDB_val *v)
{
	lrd_store_stat *st = ctx;
	if (v->mv_size < STORE_CHUNK_PREFIX)
		return lrd__err(LRD_ECORRUPT, "chunk record of %zu bytes", v->mv_size);
	lrd__chunk h;
	int rc =
	    lrd__chunk_decode(v->mv_data, LRD__CHUNK_MAX_RAW, v->mv_size - STORE_CHUNK_PREFIX, &h);
	if (rc && rc != LRD_ECODEC)
		return rc;
	st->chunks++;
	unsigned i = 0;
	while (i < st->ncodecs && st->codecs[i].id < h.codec)
		i++;
	if (i == st->ncodecs || st->codecs[i].id != h.codec) {
		if (st->ncodecs == sizeof st->codecs / sizeof st->codecs[0])
			return LRD_OK; /* more codecs than slots: totals still count */
		memmove(&st->codecs[i + 1], &st->codecs[i],
		        (st->ncodecs - i) * sizeof st->codecs[0]);
		st->codecs[i] = (lrd_store_codec_stat){.id = h.codec};
		st->ncodecs++;
	}
	st->codecs[i].chunks++;
	st->codecs[i].raw_bytes += h.raw_size;
	st->codecs[i].stored_bytes += h.stored_size;
	return LRD_OK;
}

int lrd_store_stat_get(lrd_store *s, lrd_txn *txn, lrd_store_stat *st)
{
	if (!st)
		return lrd__err(LRD_EINVAL, "lrd_store_stat_get: st is NULL");
	memset(st, 0, sizeof *st);
	lrd_txn *t;
	bool own;
	int rc = lrd__txn_use(s, txn, false, &t, &own);
	if (rc)
		return rc;
	rc = lrd__store_walk(t, s->objects, stat_object, st);
	if (!rc)
		rc = lrd__store_walk(t, s->chunks, stat_chunk, st);
	MDB_stat ms;
	if (!rc && mdb_stat(t->t, s->kv, &ms) == 0)
		st->kv_entries = ms.ms_entries;
	MDB_envinfo info;
	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &ms);
	st->map_size = info.me_mapsize;
	st->page_size = ms.ms_psize;
	st->map_used = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
	st->readers = info.me_numreaders;
	st->max_readers = info.me_maxreaders;
	return lrd__txn_done(t, own, rc);
}
