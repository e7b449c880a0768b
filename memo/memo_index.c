/* The memoizer's records in the store: entry records, the LRU list (key: access time big
 * endian + entry key), the per-function lists (key: name NUL entry key), the functions'
 * versions, the statistics; removing entries and enforcing limits. Every write goes through a
 * memo_w, a write transaction that carries the statistics record and writes it at commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memo/memo_internal.h"

static const char STATS_KEY[] = "stats";
static const unsigned char ONE = 1; /* value of the list records, whose key says it all */

uint64_t memo_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

uint64_t memo_mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void le64(unsigned char *p, uint64_t x)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(x >> (8 * i));
}

static uint64_t rd64(const unsigned char *p)
{
	uint64_t x = 0;
	for (int i = 7; i >= 0; i--)
		x = x << 8 | p[i];
	return x;
}

void memo_key_bytes(lrd_hash128 k, unsigned char out[16])
{
	le64(out, k.lo);
	le64(out + 8, k.hi);
}

lrd_hash128 memo_key_from(const unsigned char b[16]) { return (lrd_hash128){rd64(b), rd64(b + 8)}; }

void memo_hex(const unsigned char key[16], char out[33])
{
	static const char digits[] = "0123456789abcdef";
	/* high 64 bits then low, each most significant nibble first (no printf: hit path) */
	for (int i = 0; i < 16; i++) {
		unsigned char b = key[15 - i];
		out[2 * i] = digits[b >> 4];
		out[2 * i + 1] = digits[b & 15];
	}
	out[32] = 0;
}

void memo_objkey(const lrd_memo *m, const unsigned char key[16], char *out, size_t cap)
{
	size_t n = strlen(m->ns);
	if (cap < n + 39) {
		out[0] = 0;
		return;
	}
	memcpy(out, "memo/", 5);
	memcpy(out + 5, m->ns, n);
	out[5 + n] = '/';
	memo_hex(key, out + 6 + n);
}

int memo_rec_decode(const lrd_buf *b, memo_rec *r)
{
	const unsigned char *p = b->data;
	if (b->size < 1)
		return lrd__err(LRD_ECORRUPT, "memo entry record is empty");
	r->format = p[0];
	if (r->format > LRD_MEMO_FORMAT_VERSION)
		return lrd__err(LRD_EVERSION,
		                "memo entry written by a newer larder (memo format %u, this build "
		                "reads up to %u)",
		                r->format, LRD_MEMO_FORMAT_VERSION);
	if (b->size < MEMO_REC_HEAD || r->format == 0)
		return lrd__err(LRD_ECORRUPT, "memo entry record truncated (%zu bytes)", b->size);
	r->bytes = rd64(p + 8);
	r->created_ns = rd64(p + 16);
	r->atime_ns = rd64(p + 24);
	r->compute_ns = rd64(p + 32);
	size_t nl = p[40] | (size_t)p[41] << 8, vl = p[42] | (size_t)p[43] << 8;
	if (nl > LRD_MEMO_MAX_NAME || vl > LRD_MEMO_MAX_NAME || MEMO_REC_HEAD + nl + vl != b->size)
		return lrd__err(LRD_ECORRUPT, "memo entry record has bad name/version lengths");
	memcpy(r->name, p + MEMO_REC_HEAD, nl);
	r->name[nl] = 0;
	memcpy(r->version, p + MEMO_REC_HEAD + nl, vl);
	r->version[vl] = 0;
	return LRD_OK;
}

static size_t rec_encode(const memo_rec *r, unsigned char *p)
{
	size_t nl = strlen(r->name), vl = strlen(r->version);
	memset(p, 0, MEMO_REC_HEAD);
	p[0] = LRD_MEMO_FORMAT_VERSION;
	le64(p + 8, r->bytes);
	le64(p + 16, r->created_ns);
	le64(p + 24, r->atime_ns);
	le64(p + 32, r->compute_ns);
	p[40] = (unsigned char)nl;
	p[41] = (unsigned char)(nl >> 8);
	p[42] = (unsigned char)vl;
	p[43] = (unsigned char)(vl >> 8);
	memcpy(p + MEMO_REC_HEAD, r->name, nl);
	memcpy(p + MEMO_REC_HEAD + nl, r->version, vl);
	return MEMO_REC_HEAD + nl + vl;
}

int memo_rec_get(lrd_memo *m, lrd_txn *txn, const unsigned char key[16], memo_rec *r)
{
	lrd_buf b;
	int rc = lrd_store_kv_get(txn, m->ns_e, key, 16, &b);
	if (rc != LRD_OK)
		return rc;
	return memo_rec_decode(&b, r);
}

void memo_entry_fill(const unsigned char key[16], const memo_rec *r, lrd_memo_entry *e)
{
	e->key = memo_key_from(key);
	memo_hex(key, e->key_hex);
	e->func = r->name;
	e->version = r->version;
	e->bytes = r->bytes;
	e->created = (double)r->created_ns / 1e9;
	e->accessed = (double)r->atime_ns / 1e9;
	e->compute_s = (double)r->compute_ns / 1e9;
}

/* ---- statistics and write transactions ---------------------------------------------------- */

int memo_stat_read(lrd_memo *m, lrd_txn *txn, memo_stat *st)
{
	memset(st, 0, sizeof *st);
	lrd_buf b;
	int rc = lrd_store_kv_get(txn, m->ns_s, STATS_KEY, sizeof STATS_KEY - 1, &b);
	if (rc == LRD_ENOTFOUND)
		return LRD_OK;
	if (rc != LRD_OK)
		return rc;
	if (b.size < 56)
		return lrd__err(LRD_ECORRUPT, "memo '%s': statistics record truncated", m->ns);
	const unsigned char *p = b.data;
	uint64_t *f[7] = {&st->hits,      &st->misses,     &st->entries, &st->bytes,
	                  &st->evictions, &st->compute_ns, &st->saved_ns};
	for (int i = 0; i < 7; i++)
		*f[i] = rd64(p + 8 * i);
	return LRD_OK;
}

int memo_w_begin(lrd_memo *m, memo_w *w)
{
	w->m = m;
	int rc = lrd_txn_begin(m->s, LRD_TXN_WRITE, &w->txn);
	if (rc != LRD_OK) {
		w->txn = NULL;
		return rc;
	}
	rc = memo_stat_read(m, w->txn, &w->st);
	if (rc != LRD_OK)
		memo_w_abort(w);
	return rc;
}

int memo_w_commit(memo_w *w)
{
	unsigned char p[56];
	const uint64_t f[7] = {w->st.hits,      w->st.misses,     w->st.entries, w->st.bytes,
	                       w->st.evictions, w->st.compute_ns, w->st.saved_ns};
	for (int i = 0; i < 7; i++)
		le64(p + 8 * i, f[i]);
	int rc = lrd_store_kv_put(w->m->s, w->txn, w->m->ns_s, STATS_KEY, sizeof STATS_KEY - 1, p,
	                          sizeof p, 0);
	if (rc != LRD_OK) {
		memo_w_abort(w);
		return rc;
	}
	rc = lrd_txn_commit(w->txn);
	w->txn = NULL;
	return rc;
}

void memo_w_abort(memo_w *w)
{
	lrd_txn_abort(w->txn);
	w->txn = NULL;
}

/* ---- entries ------------------------------------------------------------------------------ */

static void lru_key(uint64_t atime_ns, const unsigned char key[16], unsigned char out[24])
{
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(atime_ns >> (56 - 8 * i));
	memcpy(out + 8, key, 16);
}

static size_t fn_key(const char *name, const unsigned char key[16], unsigned char *out)
{
	size_t n = strlen(name);
	memcpy(out, name, n);
	out[n] = 0;
	memcpy(out + n + 1, key, 16);
	return n + 17;
}

int memo_index_put(memo_w *w, const unsigned char key[16], const memo_rec *r)
{
	lrd_memo *m = w->m;
	unsigned char rec[MEMO_REC_HEAD + 2 * LRD_MEMO_MAX_NAME], lk[24],
	    fk[LRD_MEMO_MAX_NAME + 17];
	size_t n = rec_encode(r, rec);
	int rc = lrd_store_kv_put(m->s, w->txn, m->ns_e, key, 16, rec, n, 0);
	lru_key(r->atime_ns, key, lk);
	if (rc == LRD_OK)
		rc = lrd_store_kv_put(m->s, w->txn, m->ns_l, lk, sizeof lk, &ONE, 1, 0);
	if (rc == LRD_OK)
		rc = lrd_store_kv_put(m->s, w->txn, m->ns_f, fk, fn_key(r->name, key, fk), &ONE, 1,
		                      0);
	if (rc == LRD_OK) {
		w->st.entries++;
		w->st.bytes += r->bytes;
	}
	return rc;
}

/* Delete a key-value record that should exist; a missing one is not an error (a record lost
 * to an older crash-free bug must not block removal). */
static int kv_del(memo_w *w, const char *ns, const void *k, size_t n)
{
	int rc = lrd_store_kv_del(w->m->s, w->txn, ns, k, n);
	return rc == LRD_ENOTFOUND ? LRD_OK : rc;
}

int memo_remove(memo_w *w, const unsigned char key[16])
{
	lrd_memo *m = w->m;
	memo_rec r;
	int rc = memo_rec_get(m, w->txn, key, &r);
	if (rc == LRD_ECORRUPT) { /* an unreadable record: drop what can be found */
		r.atime_ns = 0;
		r.name[0] = 0;
		r.bytes = 0;
	} else if (rc != LRD_OK)
		return rc;
	char ok[MEMO_MAX_NS + 48];
	memo_objkey(m, key, ok, sizeof ok);
	rc = lrd_store_del(m->s, w->txn, ok);
	if (rc == LRD_ENOTFOUND || rc == LRD_ECORRUPT || rc == LRD_ECHECKSUM)
		rc = LRD_OK; /* a damaged or lost result still loses its index records */
	unsigned char lk[24], fk[LRD_MEMO_MAX_NAME + 17];
	lru_key(r.atime_ns, key, lk);
	if (rc == LRD_OK)
		rc = kv_del(w, m->ns_e, key, 16);
	if (rc == LRD_OK)
		rc = kv_del(w, m->ns_l, lk, sizeof lk);
	if (rc == LRD_OK && r.name[0])
		rc = kv_del(w, m->ns_f, fk, fn_key(r.name, key, fk));
	if (rc == LRD_OK) {
		w->st.entries -= w->st.entries > 0;
		w->st.bytes -= r.bytes < w->st.bytes ? r.bytes : w->st.bytes;
	}
	return rc;
}

/* Collect the 16-byte entry keys found at offset `off` of the keys of namespace ns under
 * prefix, then remove each (collecting first: no iterator lives across the deletes). */
static int remove_listed(memo_w *w, const char *ns, const void *prefix, size_t plen, size_t off,
                         uint64_t *removed)
{
	lrd_store_iter *it;
	int rc = lrd_store_kv_iter_new(w->m->s, w->txn, ns, prefix, plen, &it);
	if (rc != LRD_OK)
		return rc;
	unsigned char *keys = NULL;
	size_t n = 0, cap = 0;
	const char *k;
	size_t kl;
	while ((rc = lrd_store_iter_next(it, &k, &kl, NULL)) == LRD_OK) {
		if (kl < off + 16)
			continue;
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 64;
			unsigned char *nk = lrd__realloc(keys, nc * 16);
			if (!nk) {
				rc = LRD_ENOMEM;
				break;
			}
			keys = nk;
			cap = nc;
		}
		memcpy(keys + 16 * n++, k + off, 16);
	}
	lrd_store_iter_free(it);
	if (rc == LRD_ENOTFOUND)
		rc = LRD_OK;
	for (size_t i = 0; rc == LRD_OK && i < n; i++) {
		rc = memo_remove(w, keys + 16 * i);
		if (rc == LRD_ENOTFOUND)
			rc = LRD_OK;
		else if (rc == LRD_OK && removed)
			++*removed;
	}
	lrd__free(keys);
	return rc;
}

int memo_remove_func(memo_w *w, const char *name, uint64_t *removed)
{
	if (!name)
		return remove_listed(w, w->m->ns_e, NULL, 0, 0, removed);
	size_t n = strlen(name);
	return remove_listed(w, w->m->ns_f, name, n + 1, n + 1, removed);
}

int memo_set_version(memo_w *w, const char *name, const char *version, uint64_t *removed)
{
	lrd_memo *m = w->m;
	size_t nl = strlen(name), vl = strlen(version);
	lrd_buf b;
	int rc = lrd_store_kv_get(w->txn, m->ns_v, name, nl, &b);
	if (rc == LRD_OK && b.size == vl && memcmp(b.data, version, vl) == 0)
		return LRD_OK;
	if (rc != LRD_OK && rc != LRD_ENOTFOUND)
		return rc;
	rc = memo_remove_func(w, name, removed);
	if (rc == LRD_OK)
		rc = lrd_store_kv_put(m->s, w->txn, m->ns_v, name, nl, vl ? version : "", vl, 0);
	return rc;
}

/* The oldest entry of the LRU list: LRD_OK with its key and access time, LRD_ENOTFOUND. */
static int lru_oldest(memo_w *w, unsigned char key[16], uint64_t *atime_ns)
{
	lrd_store_iter *it;
	int rc = lrd_store_kv_iter_new(w->m->s, w->txn, w->m->ns_l, NULL, 0, &it);
	if (rc != LRD_OK)
		return rc;
	const char *k;
	size_t kl;
	while ((rc = lrd_store_iter_next(it, &k, &kl, NULL)) == LRD_OK && kl != 24)
		;
	if (rc == LRD_OK) {
		const unsigned char *u = (const unsigned char *)k;
		uint64_t t = 0;
		for (int i = 0; i < 8; i++)
			t = t << 8 | u[i];
		*atime_ns = t;
		memcpy(key, u + 8, 16);
	}
	lrd_store_iter_free(it);
	return rc;
}

int memo_enforce(memo_w *w, const lrd_memo_limits *lim, unsigned max, uint64_t *removed)
{
	uint64_t cutoff = 0, now = memo_now_ns();
	if (lim->age_s > 0) {
		double a = lim->age_s * 1e9;
		cutoff = a >= (double)now ? 0 : now - (uint64_t)a;
	}
	for (unsigned done = 0; !max || done < max; done++) {
		unsigned char key[16];
		uint64_t at;
		int rc = lru_oldest(w, key, &at);
		if (rc == LRD_ENOTFOUND)
			return LRD_OK;
		if (rc != LRD_OK)
			return rc;
		bool over = (lim->items && w->st.entries > lim->items) ||
		            (lim->bytes && w->st.bytes > lim->bytes) || (cutoff && at < cutoff);
		if (!over)
			return LRD_OK;
		rc = memo_remove(w, key);
		if (rc == LRD_ENOTFOUND) { /* an LRU record without its entry: drop it */
			unsigned char lk[24];
			lru_key(at, key, lk);
			rc = kv_del(w, w->m->ns_l, lk, sizeof lk);
		} else if (rc == LRD_OK) {
			w->st.evictions++;
			if (removed)
				++*removed;
		}
		if (rc != LRD_OK)
			return rc;
	}
	return LRD_OK;
}

static int cmp_pending(const void *a, const void *b)
{
	const memo_pending *x = a, *y = b;
	int c = memcmp(x->key, y->key, 16);
	return c ? c : (x->atime_ns > y->atime_ns) - (x->atime_ns < y->atime_ns);
}

int memo_apply_pending(memo_w *w, memo_pending *p, size_t n)
{
	lrd_memo *m = w->m;
	/* one index update per key: sorted by key then time, the last of a run is the newest */
	if (n > 1)
		qsort(p, n, sizeof *p, cmp_pending);
	for (size_t i = 0; i < n; i++) {
		w->st.hits++;
		w->st.saved_ns += p[i].saved_ns;
		if (i + 1 < n && !memcmp(p[i].key, p[i + 1].key, 16))
			continue;
		memo_rec r;
		int rc = memo_rec_get(m, w->txn, p[i].key, &r);
		if (rc == LRD_ENOTFOUND || rc == LRD_ECORRUPT || rc == LRD_EVERSION)
			continue; /* evicted meanwhile, or not ours to rewrite */
		if (rc != LRD_OK)
			return rc;
		if (p[i].atime_ns <= r.atime_ns)
			continue;
		unsigned char lk[24];
		lru_key(r.atime_ns, p[i].key, lk);
		rc = kv_del(w, m->ns_l, lk, sizeof lk);
		r.atime_ns = p[i].atime_ns;
		if (rc == LRD_OK) {
			/* memo_index_put counts a new entry: keep the totals as they are */
			w->st.entries--;
			w->st.bytes -= r.bytes;
			rc = memo_index_put(w, p[i].key, &r);
		}
		if (rc != LRD_OK)
			return rc;
	}
	return LRD_OK;
}
