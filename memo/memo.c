/* The memoizer (larder/memo.h): opening, keys, the compute-once locks, calls, and the
 * operations on a whole memo. The records in the store are memo/memo_index.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "memo/memo_internal.h"

/* ---- per-thread state: the thread's descriptor of the lock file and its computing stack -- */

typedef struct memo_frame {
	unsigned char key[16];
	uint32_t slot;
	bool locked; /* this frame took the lock byte (an outer frame may hold it already) */
} memo_frame;

typedef struct memo_tls {
	lrd_memo *m;
	int fd; /* -1: not open (or no lock file) */
	memo_frame *st;
	size_t n, cap;
	struct memo_tls *next;
} memo_tls;

static void tls_free(memo_tls *t)
{
	if (t->fd >= 0)
		close(t->fd);
	lrd__free(t->st);
	lrd__free(t);
}

static void tls_destroy(void *p)
{
	memo_tls *t = p;
	lrd_memo *m = t->m;
	pthread_mutex_lock(&m->mu);
	for (memo_tls **pp = &m->threads; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	pthread_mutex_unlock(&m->mu);
	tls_free(t);
}

static int tls_get(lrd_memo *m, memo_tls **out)
{
	memo_tls *t = pthread_getspecific(m->tls_key);
	if (!t) {
		t = lrd__calloc(1, sizeof *t);
		if (!t)
			return LRD_ENOMEM;
		t->m = m;
		t->fd = m->lock_ok ? open(m->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
		if (m->lock_ok && t->fd < 0) {
			int e = errno;
			lrd__free(t);
			return lrd__err(LRD_EIO, "memo lock file '%s': %s", m->lock_path,
			                strerror(e));
		}
		if (pthread_setspecific(m->tls_key, t) != 0) {
			tls_free(t);
			return lrd__err(LRD_ENOMEM, "memo: no thread-specific slot");
		}
		pthread_mutex_lock(&m->mu);
		t->next = m->threads;
		m->threads = t;
		pthread_mutex_unlock(&m->mu);
	}
	*out = t;
	return LRD_OK;
}

static int lock_byte(int fd, uint32_t slot, short type, bool wait)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = slot, .l_len = 1};
	int r;
	do
		r = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Push key on the thread's computing stack and take its lock byte, waiting if another holder
 * has it (*waited). LRD_EBUSY for a cycle (the key is already on the stack). */
static int frame_push(lrd_memo *m, memo_tls *t, const unsigned char key[16], bool *waited)
{
	uint32_t slot = (uint32_t)(memo_key_from(key).lo & ((1u << MEMO_NSLOT_BITS) - 1));
	bool held = false;
	for (size_t i = 0; i < t->n; i++) {
		if (!memcmp(t->st[i].key, key, 16)) {
			char hex[33];
			memo_hex(key, hex);
			return lrd__err(
			    LRD_EBUSY,
			    "memo: call %s waits on itself (a cycle: the function calls "
			    "itself with the same arguments)",
			    hex);
		}
		held |= t->st[i].slot == slot && t->st[i].locked;
	}
	if (t->n == t->cap) {
		size_t nc = t->cap ? 2 * t->cap : 16;
		memo_frame *ns = lrd__realloc(t->st, nc * sizeof *ns);
		if (!ns)
			return LRD_ENOMEM;
		t->st = ns;
		t->cap = nc;
	}
	memo_frame *f = &t->st[t->n];
	memcpy(f->key, key, 16);
	f->slot = slot;
	f->locked = false;
	*waited = false;
	if (t->fd >= 0 && !held) {
		if (lock_byte(t->fd, slot, F_WRLCK, false) < 0) {
			if (errno != EAGAIN && errno != EACCES)
				return lrd__err(LRD_EIO, "memo lock file '%s': %s", m->lock_path,
				                strerror(errno));
			*waited = true;
			if (lock_byte(t->fd, slot, F_WRLCK, true) < 0)
				return lrd__err(LRD_EIO, "memo lock file '%s': %s", m->lock_path,
				                strerror(errno));
		}
		f->locked = true;
	}
	t->n++;
	return LRD_OK;
}

static void frame_pop(memo_tls *t)
{
	memo_frame *f = &t->st[--t->n];
	if (f->locked)
		lock_byte(t->fd, f->slot, F_UNLCK, false);
}

/* ---- verbose lines ------------------------------------------------------------------------- */

static void say(const lrd_memo *m, int level, const char *fmt, ...) LRD_PRINTF(3, 4);
static void say(const lrd_memo *m, int level, const char *fmt, ...)
{
	if (m->verbose < level)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "[Memory] %s\n", line);
}

/* A short repr of v appended at buf[*n] (cap bytes in all), cut with "..." when long. */
static void repr(const lrd_value *v, char *buf, size_t cap, size_t *n, int depth)
{
#define OUT(...)                                                                                   \
	do {                                                                                       \
		if (*n < cap)                                                                      \
			*n += (size_t)snprintf(buf + *n, cap - *n, __VA_ARGS__);                   \
	} while (0)
	int64_t i;
	double d;
	bool b;
	size_t len;
	switch (lrd_value_kind(v)) {
	case LRD_KIND_NIL:
		OUT("None");
		break;
	case LRD_KIND_BOOL:
		lrd_value_get_bool(v, &b);
		OUT("%s", b ? "True" : "False");
		break;
	case LRD_KIND_INT:
		lrd_value_get_int(v, &i);
		OUT("%lld", (long long)i);
		break;
	case LRD_KIND_FLOAT:
		lrd_value_get_float(v, &d);
		OUT("%g", d);
		break;
	case LRD_KIND_STR: {
		const char *s = lrd_value_str(v, &len);
		OUT("'%.*s%s'", (int)(len > 24 ? 24 : len), s, len > 24 ? "..." : "");
		break;
	}
	case LRD_KIND_BYTES:
		lrd_value_bytes(v, &len);
		OUT("bytes(%zu)", len);
		break;
	case LRD_KIND_ARRAY: {
		char dt[16] = "?";
		lrd_dtype_format(lrd_array_dtype(v), dt, sizeof dt);
		OUT("array(%s, shape=(", dt);
		for (unsigned k = 0; k < lrd_array_ndim(v); k++)
			OUT("%s%llu", k ? ", " : "", (unsigned long long)lrd_array_shape(v)[k]);
		OUT("))");
		break;
	}
	case LRD_KIND_LIST:
	case LRD_KIND_MAP: {
		bool map = lrd_value_kind(v) == LRD_KIND_MAP;
		size_t cnt = lrd_value_len(v);
		if (depth > 2 && cnt) {
			OUT(map ? "{...}" : "[...]");
			break;
		}
		for (size_t k = 0; k < cnt && *n < cap; k++) {
			if (k)
				OUT(", ");
			if (map) {
				OUT("%s=", lrd_map_key_at(v, k));
				repr(lrd_map_value_at(v, k), buf, cap, n, depth + 1);
			} else
				repr(lrd_list_at(v, k), buf, cap, n, depth + 1);
		}
		break;
	}
	}
#undef OUT
}

static void say_calling(const lrd_memo *m, const lrd_memo_func *f, const lrd_value *args)
{
	if (m->verbose < 1)
		return;
	char buf[160];
	size_t n = 0;
	bool wrap = lrd_value_kind(args) != LRD_KIND_LIST && lrd_value_kind(args) != LRD_KIND_MAP;
	repr(args, buf, sizeof buf - 4, &n, wrap ? 1 : 0);
	if (n >= sizeof buf - 4)
		strcpy(buf + sizeof buf - 8, "...");
	say(m, 1, "Calling %s(%s)", f->name, buf);
}

static void fmt_bytes(uint64_t b, char *out, size_t cap)
{
	if (b < 1024)
		snprintf(out, cap, "%lluB", (unsigned long long)b);
	else if (b < 1024 * 1024)
		snprintf(out, cap, "%.1fKB", (double)b / 1024);
	else
		snprintf(out, cap, "%.1fMB", (double)b / (1024.0 * 1024));
}

/* ---- open and close ------------------------------------------------------------------------ */

static bool ns_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > MEMO_MAX_NS)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static char *lock_path_for(lrd_store *s)
{
	const char *p = lrd_store_path(s);
	if (!p)
		return NULL;
	struct stat st;
	bool dir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
	size_t n = strlen(p) + 16;
	char *out = lrd__malloc(n);
	if (out)
		snprintf(out, n, dir ? "%s/memo.lock" : "%s-memo.lock", p);
	return out;
}

/* Check (and on a writable store, record) the namespace's memo format. */
static int check_meta(lrd_memo *m)
{
	lrd_txn *txn;
	int rc = lrd_txn_begin(m->s, LRD_TXN_READ, &txn);
	if (rc != LRD_OK)
		return rc;
	lrd_buf b;
	rc = lrd_store_kv_get(txn, m->ns_s, "format", 6, &b);
	unsigned fmt = rc == LRD_OK && b.size >= 1 ? ((const unsigned char *)b.data)[0] : 0;
	lrd_txn_abort(txn);
	if (rc != LRD_OK && rc != LRD_ENOTFOUND)
		return rc;
	if (fmt > LRD_MEMO_FORMAT_VERSION)
		return lrd__err(
		    LRD_EVERSION,
		    "memo namespace '%s' was written by a newer larder (memo format %u, "
		    "this build reads up to %u)",
		    m->ns, fmt, LRD_MEMO_FORMAT_VERSION);
	if (rc == LRD_ENOTFOUND) {
		unsigned char v = LRD_MEMO_FORMAT_VERSION;
		rc = lrd_store_kv_put(m->s, NULL, m->ns_s, "format", 6, &v, 1, LRD_KV_NOOVERWRITE);
		if (rc == LRD_EEXIST || rc == LRD_EREADONLY)
			rc = LRD_OK;
	}
	return rc;
}

int lrd_memo_open(lrd_store *s, const lrd_memo_options *opts, lrd_memo **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_memo_open: NULL output");
	*out = NULL;
	if (!s)
		return lrd__err(LRD_EINVAL, "lrd_memo_open: NULL store");
	lrd_memo_options o = opts ? *opts : (lrd_memo_options){0};
	const char *ns = o.name_space ? o.name_space : "default";
	if (!ns_ok(ns))
		return lrd__err(LRD_EINVAL,
		                "memo namespace '%s': want 1..%u characters of [A-Za-z0-9_.-]", ns,
		                MEMO_MAX_NS);
	if (o.limits.age_s < 0)
		return lrd__err(LRD_EINVAL, "memo: negative age limit");
	if (!(o.atime_resolution_s >= 0) || o.atime_resolution_s > 1e9)
		return lrd__err(LRD_EINVAL, "memo: access-time resolution %g s: want 0..1e9",
		                o.atime_resolution_s);
	int rrc = LRD__RESERVED_CHECK(&o, "lrd_memo_options");
	if (rrc != LRD_OK)
		return rrc;
	const lrd_codec *oc;
	int level;
	if (o.codec && (rrc = lrd_codec_parse(o.codec, LRD_CODEC_CHUNK, &oc, &level)) != LRD_OK)
		return lrd__errctx(rrc, "memo");
	lrd_memo *m = lrd__calloc(1, sizeof *m);
	if (!m)
		return LRD_ENOMEM;
	m->s = s;
	strcpy(m->ns, ns);
	snprintf(m->ns_e, sizeof m->ns_e, "memo.%s.e", ns);
	snprintf(m->ns_l, sizeof m->ns_l, "memo.%s.l", ns);
	snprintf(m->ns_f, sizeof m->ns_f, "memo.%s.f", ns);
	snprintf(m->ns_v, sizeof m->ns_v, "memo.%s.v", ns);
	snprintf(m->ns_s, sizeof m->ns_s, "memo.%s.s", ns);
	m->limits = o.limits;
	m->verbose = o.verbose;
	m->codec = o.codec ? lrd__strdup(o.codec) : NULL;
	m->lock_path = o.lock_path ? lrd__strdup(o.lock_path) : lock_path_for(s);
	m->last_flush_ns = memo_now_ns();
	double res_s = o.atime_resolution_s > 0 ? o.atime_resolution_s : 60;
	if (o.limits.age_s > 0 && res_s > o.limits.age_s / 4) /* idle eviction stays honest */
		res_s = o.limits.age_s / 4;
	m->atime_res_ns = (uint64_t)(res_s * 1e9);
	if ((o.codec && !m->codec) || !m->lock_path) {
		lrd__free(m->codec);
		lrd__free(m->lock_path);
		lrd__free(m);
		return lrd__err(LRD_ENOMEM, "lrd_memo_open: out of memory");
	}
	int rc = check_meta(m);
	if (rc == LRD_OK) {
		int fd = open(m->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0) {
			m->lock_ok = true;
			close(fd);
		} else if (errno != EACCES && errno != EROFS) {
			rc = lrd__err(LRD_EIO, "memo lock file '%s': %s", m->lock_path,
			              strerror(errno));
		} /* read-only place: calls compute without the compute-once lock */
	}
	if (rc == LRD_OK && pthread_key_create(&m->tls_key, tls_destroy) != 0)
		rc = lrd__err(LRD_ENOMEM, "lrd_memo_open: no thread-specific key");
	else if (rc == LRD_OK)
		pthread_mutex_init(&m->mu, NULL);
	if (rc != LRD_OK) {
		lrd__free(m->codec);
		lrd__free(m->lock_path);
		lrd__free(m);
		return rc;
	}
	*out = m;
	return LRD_OK;
}

/* Take the pending hits (under the mutex) and record them in one write transaction of their
 * own, or in w if given. Failures put nothing back: only statistics are lost. */
static int flush_pending(lrd_memo *m, memo_w *w)
{
	pthread_mutex_lock(&m->mu);
	memo_pending *p = m->pending;
	size_t n = m->npending;
	uint64_t hits = m->hits_only, saved = m->saved_only;
	m->pending = NULL;
	m->npending = m->cappending = 0;
	m->hits_only = m->saved_only = 0;
	m->last_flush_ns = memo_now_ns();
	pthread_mutex_unlock(&m->mu);
	if (!n && !hits) {
		lrd__free(p);
		return LRD_OK;
	}
	int rc;
	memo_w own;
	if (!w) {
		rc = memo_w_begin(m, &own);
		if (rc != LRD_OK) {
			lrd__free(p);
			return rc;
		}
	}
	memo_w *t = w ? w : &own;
	t->st.hits += hits;
	t->st.saved_ns += saved;
	rc = memo_apply_pending(t, p, n);
	if (!w) {
		if (rc == LRD_OK)
			rc = memo_w_commit(&own);
		else
			memo_w_abort(&own);
	}
	lrd__free(p);
	return rc;
}

void lrd_memo_close(lrd_memo *m)
{
	if (!m)
		return;
	flush_pending(m, NULL);
	pthread_key_delete(m->tls_key);
	while (m->threads) {
		memo_tls *t = m->threads;
		m->threads = t->next;
		tls_free(t);
	}
	pthread_mutex_destroy(&m->mu);
	lrd__free(m->pending);
	lrd__free(m->codec);
	lrd__free(m->lock_path);
	lrd__free(m);
}

/* ---- keys ---------------------------------------------------------------------------------- */

static int check_func(const lrd_memo_func *f)
{
	if (!f || !f->name || !f->fn)
		return lrd__err(LRD_EINVAL, "memo: function descriptor without name or fn");
	size_t n = strlen(f->name), v = f->version ? strlen(f->version) : 0;
	if (n < 1 || n > LRD_MEMO_MAX_NAME || v > LRD_MEMO_MAX_NAME)
		return lrd__err(LRD_EINVAL, "memo: function name (1..%u bytes) or version too long",
		                LRD_MEMO_MAX_NAME);
	if (f->age_limit_s < 0)
		return lrd__err(LRD_EINVAL, "memo: function '%s': negative age limit", f->name);
	return LRD_OK;
}

static bool ignored(const lrd_memo_func *f, const char *key)
{
	for (const char *const *p = f->ignore; p && *p; p++)
		if (!strcmp(*p, key))
			return true;
	return false;
}

/* The key of (f, args): the hash of args seeded by the hash of name and version. With ignored
 * names and a map, a map of the kept entries' hashes is hashed instead. */
static int call_key(const lrd_memo_func *f, const lrd_value *args, unsigned char key[16])
{
	/* the seed: XXH3-64 of "name NUL version" (no allocation on the hit path) */
	char nv[2 * LRD_MEMO_MAX_NAME + 2];
	const char *ver = f->version ? f->version : "";
	size_t nl = strlen(f->name), vl = strlen(ver);
	memcpy(nv, f->name, nl + 1);
	memcpy(nv + nl + 1, ver, vl);
	uint64_t seed = XXH3_64bits_withSeed(nv, nl + 1 + vl, 0x6c617264u);
	lrd_hash128 h;
	lrd_value *item = NULL;
	int rc;
	if (!f->ignore || lrd_value_kind(args) != LRD_KIND_MAP) {
		rc = lrd_value_hash128(args, seed, &h);
	} else {
		lrd_value *kept = NULL;
		rc = lrd_value_new_map(&kept);
		for (size_t i = 0; rc == LRD_OK && i < lrd_value_len(args); i++) {
			const char *k = lrd_map_key_at(args, i);
			if (ignored(f, k))
				continue;
			lrd_hash128 ih;
			unsigned char b[16];
			rc = lrd_value_hash128(lrd_map_value_at(args, i), 0, &ih);
			memo_key_bytes(ih, b);
			if (rc == LRD_OK && (rc = lrd_value_new_bytes(b, 16, &item)) == LRD_OK)
				rc = lrd_map_set(kept, k, item);
		}
		if (rc == LRD_OK)
			rc = lrd_value_hash128(kept, seed, &h);
		lrd_value_free(kept);
	}
	if (rc == LRD_OK)
		memo_key_bytes(h, key);
	return rc;
}

/* ---- lookups ------------------------------------------------------------------------------- */

enum { LOOK_LOAD, LOOK_INDEX }; /* load the result, or only check the index */

typedef struct lookup {
	bool found;   /* a valid entry (and, with LOOK_LOAD, its result in *res) */
	bool stale;   /* an entry exists but is expired, invalid or damaged: replace it */
	bool damaged; /* ... damaged */
	memo_rec rec; /* of the found entry */
	lrd_value *res;
} lookup;

/* Look key up in one read snapshot. Errors: the store's, LRD_EVERSION. */
static int look(lrd_memo *m, const lrd_memo_func *f, void *ctx, const unsigned char key[16],
                int mode, lookup *L)
{
	memset(L, 0, sizeof *L);
	lrd_txn *txn;
	int rc = lrd_txn_begin(m->s, LRD_TXN_READ, &txn);
	if (rc != LRD_OK)
		return rc;
	rc = memo_rec_get(m, txn, key, &L->rec);
	if (rc == LRD_ENOTFOUND || rc == LRD_ECORRUPT) {
		if (rc == LRD_ECORRUPT) {
			L->stale = L->damaged = true;
			say(m, 1, "%s: damaged index record (%s): recomputing", f->name,
			    lrd_errmsg());
		}
		lrd_txn_abort(txn);
		return LRD_OK;
	}
	if (rc != LRD_OK) {
		lrd_txn_abort(txn);
		return rc;
	}
	L->stale = true;
	if (f->age_limit_s > 0 &&
	    (double)(memo_now_ns() - L->rec.created_ns) > f->age_limit_s * 1e9) {
		say(m, 2, "%s: entry expired (older than %gs): recomputing", f->name,
		    f->age_limit_s);
		lrd_txn_abort(txn);
		return LRD_OK;
	}
	if (f->validate) {
		lrd_memo_entry e;
		memo_entry_fill(key, &L->rec, &e);
		if (!f->validate(&e, ctx)) {
			say(m, 2, "%s: entry refused by its validation callback: recomputing",
			    f->name);
			lrd_txn_abort(txn);
			return LRD_OK;
		}
	}
	if (mode == LOOK_LOAD) {
		char ok[MEMO_MAX_NS + 48];
		memo_objkey(m, key, ok, sizeof ok);
		rc = lrd_store_get(m->s, txn, ok, &L->res); /* mapped arrays keep the snapshot */
		if (rc == LRD_ECHECKSUM || rc == LRD_ECORRUPT || rc == LRD_ENOTFOUND) {
			L->damaged = true;
			say(m, 1, "%s: damaged entry %s (%s): recomputing", f->name, ok,
			    rc == LRD_ENOTFOUND ? "result missing" : lrd_errmsg());
			lrd_txn_abort(txn);
			return LRD_OK;
		}
		if (rc != LRD_OK) {
			lrd_txn_abort(txn);
			return rc;
		}
	}
	lrd_txn_abort(txn);
	L->found = true;
	L->stale = false;
	return LRD_OK;
}

/* Record a hit for the next flush; flush when the batch is full or a second old. */
static void note_hit(lrd_memo *m, const unsigned char key[16], const memo_rec *r)
{
	uint64_t now = memo_now_ns();
	bool recent = now >= r->atime_ns && now - r->atime_ns < m->atime_res_ns;
	pthread_mutex_lock(&m->mu);
	if (recent) {
		m->hits_only++;
		m->saved_only += r->compute_ns;
	} else {
		if (m->npending == m->cappending) {
			size_t nc = m->cappending ? 2 * m->cappending : MEMO_PENDING_MAX;
			memo_pending *np = realloc(m->pending, nc * sizeof *np); /* no message */
			if (!np) {
				pthread_mutex_unlock(&m->mu);
				return;
			}
			m->pending = np;
			m->cappending = nc;
		}
		memo_pending *p = &m->pending[m->npending++];
		memcpy(p->key, key, 16);
		p->atime_ns = now;
		p->saved_ns = r->compute_ns;
	}
	bool flush =
	    m->npending + m->hits_only >= MEMO_PENDING_MAX || now - m->last_flush_ns > 1000000000u;
	pthread_mutex_unlock(&m->mu);
	if (flush)
		flush_pending(m, NULL); /* errors lose statistics only */
}

/* ---- calls --------------------------------------------------------------------------------- */

static void fill_hit(lrd_memo_info *info, const lookup *L, bool waited)
{
	info->hit = true;
	info->waited = waited;
	info->cached = true;
	info->compute_s = (double)L->rec.compute_ns / 1e9;
	info->bytes = L->rec.bytes;
}

/* Store res under key with its index records (and the version check, the pending hits and
 * the limits) in one write transaction. */
static int store_result(lrd_memo *m, const lrd_memo_func *f, const unsigned char key[16],
                        const lrd_value *res, uint64_t compute_ns, bool *still_there,
                        uint64_t *bytes)
{
	memo_w w;
	int rc = memo_w_begin(m, &w);
	if (rc != LRD_OK)
		return rc;
	uint64_t removed = 0;
	const char *ver = f->version ? f->version : "";
	rc = memo_set_version(&w, f->name, ver, &removed);
	if (rc == LRD_OK && removed)
		say(m, 1, "%s: version '%s': %llu entries of other versions removed", f->name, ver,
		    (unsigned long long)removed);
	if (rc == LRD_OK) {
		rc = memo_remove(&w, key); /* a stale or damaged entry */
		if (rc == LRD_ENOTFOUND)
			rc = LRD_OK;
	}
	char ok[MEMO_MAX_NS + 48];
	memo_objkey(m, key, ok, sizeof ok);
	lrd_put_options po = {.codec = m->codec, .flags = LRD_PUT_MAPPABLE};
	if (rc == LRD_OK)
		rc = lrd_store_put(m->s, w.txn, ok, res, &po);
	lrd_object_info oi;
	if (rc == LRD_OK)
		rc = lrd_store_info(m->s, w.txn, ok, &oi);
	if (rc == LRD_OK) {
		memo_rec r = {.bytes = oi.stored_bytes, .compute_ns = compute_ns};
		r.created_ns = r.atime_ns = memo_now_ns();
		strcpy(r.name, f->name);
		strcpy(r.version, ver);
		*bytes = r.bytes;
		rc = memo_index_put(&w, key, &r);
	}
	if (rc == LRD_OK) {
		w.st.misses++;
		w.st.compute_ns += compute_ns;
		rc = flush_pending(m, &w);
	}
	if (rc == LRD_OK)
		rc = memo_enforce(&w, &m->limits, MEMO_EVICT_PER_CALL, NULL);
	if (rc == LRD_OK) {
		memo_rec r;
		*still_there = memo_rec_get(m, w.txn, key, &r) == LRD_OK;
		rc = memo_w_commit(&w);
	} else
		memo_w_abort(&w);
	return rc;
}

static int call_core(lrd_memo *m, const lrd_memo_func *f, const lrd_value *args, void *ctx,
                     int mode, lrd_value **result, unsigned char key[16], lrd_memo_info *info)
{
	uint64_t t0 = m->verbose >= 2 ? memo_mono_ns() : 0; /* clock reads cost on hits */
	lookup *L = lrd__malloc(sizeof *L); /* off the stack: memoized recursion goes deep */
	if (!L)
		return LRD_ENOMEM;
	int rc = call_key(f, args, key);
	info->key = memo_key_from(key);
	if (rc == LRD_OK)
		rc = look(m, f, ctx, key, mode, L);
	if (rc == LRD_OK && L->found) {
		fill_hit(info, L, false);
		*result = L->res;
		note_hit(m, key, &L->rec);
		if (m->verbose >= 2)
			say(m, 2, "%s: hit, %.3fms (saved %.1fms)", f->name,
			    (double)(memo_mono_ns() - t0) / 1e6, info->compute_s * 1e3);
		lrd__free(L);
		return LRD_OK;
	}
	memo_tls *t = NULL;
	bool waited = false, pushed = false;
	if (rc == LRD_OK)
		rc = tls_get(m, &t);
	if (rc == LRD_OK && (rc = frame_push(m, t, key, &waited)) == LRD_OK)
		pushed = true;
	if (rc == LRD_OK) { /* look again: the result may have been committed meanwhile */
		bool damaged = L->damaged;
		rc = look(m, f, ctx, key, mode, L);
		L->damaged |= damaged;
	}
	if (rc == LRD_OK && L->found) {
		fill_hit(info, L, waited);
		*result = L->res;
		frame_pop(t);
		note_hit(m, key, &L->rec);
		if (m->verbose >= 2)
			say(m, 2, "%s: hit after waiting, %.3fms", f->name,
			    (double)(memo_mono_ns() - t0) / 1e6);
		lrd__free(L);
		return LRD_OK;
	}
	info->damaged = L->damaged;
	lrd__free(L);
	if (rc != LRD_OK) {
		if (pushed)
			frame_pop(t);
		return rc;
	}
	say_calling(m, f, args);
	lrd_value *res = NULL;
	uint64_t c0 = memo_mono_ns();
	rc = f->fn(args, &res, ctx);
	uint64_t cns = memo_mono_ns() - c0;
	info->compute_s = (double)cns / 1e9;
	if (rc == LRD_OK && !res)
		rc = lrd__err(LRD_EINVAL, "memo: function '%s' returned LRD_OK without a result",
		              f->name);
	if (rc != LRD_OK) {
		lrd_value_free(res);
		frame_pop(t);
		return rc; /* not cached; the function's own error and message */
	}
	bool there = false;
	uint64_t bytes = 0;
	int src = store_result(m, f, key, res, cns, &there, &bytes);
	frame_pop(t);
	info->cached = src == LRD_OK && there;
	info->bytes = info->cached ? bytes : 0;
	char bs[32];
	fmt_bytes(bytes, bs, sizeof bs);
	if (src != LRD_OK)
		say(m, 1, "%s: result not cached (%s: %s)", f->name, lrd_errname(src),
		    lrd_errmsg());
	else
		say(m, 1, "%s: miss, %.1fms, %s stored", f->name, (double)cns / 1e6, bs);
	if (mode == LOOK_INDEX && !info->cached) {
		lrd_value_free(res);
		return src != LRD_OK ? src
		                     : lrd__err(LRD_ELIMIT,
		                                "memo: result of '%s' evicted at once "
		                                "(larger than the limits)",
		                                f->name);
	}
	*result = res;
	return LRD_OK;
}

/* The part of lrd_memo_call and lrd_memo_shelve after their output checks: argument checks,
 * the call itself, and its timing in *info (which may be NULL). */
static int call_timed(lrd_memo *m, const lrd_memo_func *f, const lrd_value *args, void *ctx,
                      int mode, lrd_value **res, unsigned char key[16], lrd_memo_info *info,
                      const char *what)
{
	if (!m || !args)
		return lrd__err(LRD_EINVAL, "%s: NULL argument", what);
	int rc = check_func(f);
	if (rc != LRD_OK)
		return rc;
	lrd_memo_info dummy = {0};
	info = info ? info : &dummy;
	memset(info, 0, sizeof *info);
	uint64_t t0 = memo_mono_ns();
	rc = call_core(m, f, args, ctx, mode, res, key, info);
	info->total_s = (double)(memo_mono_ns() - t0) / 1e9;
	return rc;
}

int lrd_memo_call(lrd_memo *m, const lrd_memo_func *f, const lrd_value *args, void *ctx,
                  lrd_value **result, lrd_memo_info *info)
{
	if (!result)
		return lrd__err(LRD_EINVAL, "lrd_memo_call: NULL result");
	*result = NULL;
	unsigned char key[16];
	return call_timed(m, f, args, ctx, LOOK_LOAD, result, key, info, "lrd_memo_call");
}

struct lrd_memo_ref {
	lrd_memo *m;
	char key[MEMO_MAX_NS + 48];
};

int lrd_memo_shelve(lrd_memo *m, const lrd_memo_func *f, const lrd_value *args, void *ctx,
                    lrd_memo_ref **ref, lrd_memo_info *info)
{
	if (!ref)
		return lrd__err(LRD_EINVAL, "lrd_memo_shelve: NULL output");
	*ref = NULL;
	unsigned char key[16];
	lrd_value *res = NULL;
	int rc = call_timed(m, f, args, ctx, LOOK_INDEX, &res, key, info, "lrd_memo_shelve");
	lrd_value_free(res);
	if (rc != LRD_OK)
		return rc;
	lrd_memo_ref *r = lrd__calloc(1, sizeof *r);
	if (!r)
		return LRD_ENOMEM;
	r->m = m;
	memo_objkey(m, key, r->key, sizeof r->key);
	*ref = r;
	return LRD_OK;
}

int lrd_memo_ref_load(const lrd_memo_ref *ref, lrd_value **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_memo_ref_load: NULL output");
	*out = NULL;
	if (!ref)
		return lrd__err(LRD_EINVAL, "lrd_memo_ref_load: NULL reference");
	lrd_get_options go = {.mmap = true};
	int rc = lrd_store_get_opts(ref->m->s, NULL, ref->key, out, &go);
	if (rc == LRD_ENOTFOUND)
		return lrd__err(LRD_ENOTFOUND, "memo result '%s' is gone (evicted or cleared)",
		                ref->key);
	return rc;
}

const char *lrd_memo_ref_key(const lrd_memo_ref *ref) { return ref ? ref->key : NULL; }

void lrd_memo_ref_free(lrd_memo_ref *ref) { lrd__free(ref); }

int lrd_memo_contains(lrd_memo *m, const lrd_memo_func *f, const lrd_value *args, void *ctx)
{
	if (!m || !args)
		return lrd__err(LRD_EINVAL, "lrd_memo_contains: NULL argument");
	int rc = check_func(f);
	unsigned char key[16];
	if (rc == LRD_OK)
		rc = call_key(f, args, key);
	lookup L = {0};
	if (rc == LRD_OK)
		rc = look(m, f, ctx, key, LOOK_INDEX, &L);
	return rc != LRD_OK ? rc : L.found ? 1 : 0;
}

/* ---- whole-memo operations ------------------------------------------------------------------ */

int lrd_memo_forget(lrd_memo *m, const lrd_memo_func *f, const lrd_value *args)
{
	if (!m || !args)
		return lrd__err(LRD_EINVAL, "lrd_memo_forget: NULL argument");
	int rc = check_func(f);
	unsigned char key[16];
	if (rc == LRD_OK)
		rc = call_key(f, args, key);
	memo_w w;
	if (rc == LRD_OK)
		rc = memo_w_begin(m, &w);
	if (rc != LRD_OK)
		return rc;
	rc = memo_remove(&w, key);
	if (rc == LRD_OK)
		return memo_w_commit(&w);
	memo_w_abort(&w);
	return rc;
}

int lrd_memo_clear(lrd_memo *m, const char *func, uint64_t *removed)
{
	if (removed)
		*removed = 0;
	if (!m)
		return lrd__err(LRD_EINVAL, "lrd_memo_clear: NULL memo");
	flush_pending(m, NULL);
	memo_w w;
	int rc = memo_w_begin(m, &w);
	if (rc != LRD_OK)
		return rc;
	rc = memo_remove_func(&w, func, removed);
	if (rc == LRD_OK)
		return memo_w_commit(&w);
	memo_w_abort(&w);
	return rc;
}

int lrd_memo_reduce(lrd_memo *m, const lrd_memo_limits *limits, uint64_t *removed)
{
	if (removed)
		*removed = 0;
	if (!m)
		return lrd__err(LRD_EINVAL, "lrd_memo_reduce: NULL memo");
	if (limits && limits->age_s < 0)
		return lrd__err(LRD_EINVAL, "lrd_memo_reduce: negative age limit");
	flush_pending(m, NULL);
	memo_w w;
	int rc = memo_w_begin(m, &w);
	if (rc != LRD_OK)
		return rc;
	rc = memo_enforce(&w, limits ? limits : &m->limits, 0, removed);
	if (rc == LRD_OK)
		return memo_w_commit(&w);
	memo_w_abort(&w);
	return rc;
}

int lrd_memo_stats_get(lrd_memo *m, lrd_memo_stats *st)
{
	if (!m || !st)
		return lrd__err(LRD_EINVAL, "lrd_memo_stats_get: NULL argument");
	memset(st, 0, sizeof *st);
	flush_pending(m, NULL); /* a read-only store keeps them pending: not counted */
	lrd_txn *txn;
	int rc = lrd_txn_begin(m->s, LRD_TXN_READ, &txn);
	if (rc != LRD_OK)
		return rc;
	memo_stat s;
	rc = memo_stat_read(m, txn, &s);
	lrd_txn_abort(txn);
	if (rc != LRD_OK)
		return rc;
	*st = (lrd_memo_stats){.hits = s.hits,
	                       .misses = s.misses,
	                       .entries = s.entries,
	                       .bytes = s.bytes,
	                       .evictions = s.evictions,
	                       .compute_s = (double)s.compute_ns / 1e9,
	                       .saved_s = (double)s.saved_ns / 1e9};
	return LRD_OK;
}

int lrd_memo_list(lrd_memo *m, const char *func, lrd_memo_list_fn cb, void *ctx)
{
	if (!m || !cb)
		return lrd__err(LRD_EINVAL, "lrd_memo_list: NULL argument");
	lrd_store_iter *it;
	int rc = lrd_store_kv_iter_new(m->s, NULL, m->ns_e, NULL, 0, &it);
	if (rc != LRD_OK)
		return rc;
	const char *k;
	size_t kl;
	lrd_buf v;
	memo_rec *r = lrd__malloc(sizeof *r);
	if (!r) {
		lrd_store_iter_free(it);
		return LRD_ENOMEM;
	}
	while ((rc = lrd_store_iter_next(it, &k, &kl, &v)) == LRD_OK) {
		if (kl != 16)
			continue;
		rc = memo_rec_decode(&v, r);
		if (rc != LRD_OK)
			break;
		if (func && strcmp(func, r->name))
			continue;
		lrd_memo_entry e;
		memo_entry_fill((const unsigned char *)k, r, &e);
		rc = cb(&e, ctx);
		if (rc)
			break;
	}
	lrd__free(r);
	lrd_store_iter_free(it);
	return rc == LRD_ENOTFOUND ? LRD_OK : rc;
}
