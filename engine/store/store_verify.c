/* Verification of a whole store in one read snapshot: every object record's header and tree
 * checksum, every chunk of every array (present, sized as its reference says, checksum, and
 * decompression to its declared size), then a pass over the chunk database for chunks that no
 * object references. Memory: one chunk-sized buffer and one (id, chunk count) pair per array.
 *
 * LMDB trusts its file: a damaged B-tree page can make it fault (SIGSEGV, SIGBUS) or fail an
 * assertion (SIGABRT). So the walk runs in a forked child that opens the store afresh
 * (read-only, its own environment and reader slot) and reports over a pipe: the key of each
 * object before it is checked, each problem, and the final report. The parent calls the
 * user's callback, and turns the child's death by a signal into a damage report naming the
 * object being checked. A problem whose chunk could not be checked at all (its codec is not
 * loaded, or fails on checksummed data: LRD_ECODEC) is reported but never outranks damage. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
	bool stop, bad;                               /* bad: the current object had a problem */
	void (*progress)(void *ctx, const char *key); /* the child: "now checking key" */
	const char *key;
	uint8_t *buf;
	size_t cap;
	struct ref *refs;
	size_t nrefs, refcap;
};

static int problem(struct vctx *v, int64_t chunk, int code)
{
	const char *msg = lrd_errmsg();
	if (!v->first || (v->first == LRD_ECODEC && code != LRD_ECODEC)) {
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
	if (v->progress)
		v->progress(v->cbctx, key);
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

/* The walk itself, in whatever process runs it. */
static int verify_here(lrd_store *s, struct vctx *v)
{
	int rc = lrd__txn_begin(s, false, &v->t);
	if (rc)
		return rc;
	rc = lrd__store_walk(v->t, s->objects, verify_object, v);
	if (!rc) {
		qsort(v->refs, v->nrefs, sizeof *v->refs, cmp_ref);
		rc = lrd__store_walk(v->t, s->chunks, check_orphan, v);
	}
	lrd_txn_abort(v->t);
	lrd__free(v->buf);
	lrd__free(v->refs);
	/* A problem found first explains what LMDB says afterwards (MDB_BAD_TXN once a page read
	 * failed inside the snapshot): report the problem. */
	if (v->first && rc != LRD_ENOMEM)
		return lrd__err(v->first, "%s", v->first_msg);
	return rc;
}

/* ---- the pipe between the walking child and the parent -------------------------------------
 * Messages: a tag byte, then for 'K' (checking key) u16 length + key; for 'P' (problem) i64
 * chunk, i32 code, u16 key length + key, u16 message length + message; for 'R' (done) the
 * report, i32 result, u16 message length + message. Each is written with one write(). */

struct msgbuf {
	uint8_t b[2 * 1024 + LRD_STORE_MAX_KEY + sizeof(lrd_verify_report) + 32];
	size_t n;
};

static void put_bytes(struct msgbuf *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put_str(struct msgbuf *m, const char *s)
{
	size_t n = strlen(s);
	if (n > 1024)
		n = 1024;
	uint16_t l = (uint16_t)n;
	put_bytes(m, &l, sizeof l);
	put_bytes(m, s, n);
}

static void send_msg(int fd, const struct msgbuf *m)
{
	size_t off = 0;
	while (off < m->n) {
		ssize_t w = write(fd, m->b + off, m->n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(2); /* the parent went away */
		off += (size_t)w;
	}
}

struct child {
	int fd;
};

static void child_progress(void *ctx, const char *key)
{
	struct msgbuf m = {.n = 0};
	put_bytes(&m, "K", 1);
	put_str(&m, key);
	send_msg(((struct child *)ctx)->fd, &m);
}

static int child_problem(void *ctx, const char *key, int64_t chunk, int code, const char *msg)
{
	struct msgbuf m = {.n = 0};
	int32_t c = code;
	put_bytes(&m, "P", 1);
	put_bytes(&m, &chunk, sizeof chunk);
	put_bytes(&m, &c, sizeof c);
	put_str(&m, key ? key : "");
	put_str(&m, msg ? msg : "");
	send_msg(((struct child *)ctx)->fd, &m);
	return 0;
}

static void run_child(const char *path, unsigned flags, int fd)
{
	lrd_store *s;
	struct child ch = {fd};
	struct vctx v = {.cb = child_problem, .cbctx = &ch, .progress = child_progress};
	lrd_store_options o = {.flags = LRD_STORE_RDONLY | (flags & LRD_STORE_NOSUBDIR)};
	int rc = lrd_store_open(path, &o, &s);
	if (!rc) {
		rc = verify_here(s, &v);
		lrd_store_close(s);
	}
	struct msgbuf m = {.n = 0};
	int32_t r = rc;
	put_bytes(&m, "R", 1);
	put_bytes(&m, &v.rep, sizeof v.rep);
	put_bytes(&m, &r, sizeof r);
	put_str(&m, rc ? lrd_errmsg() : "");
	send_msg(fd, &m);
	_exit(0);
}

static int get_exact(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n ? 0 : -1; }

static int get_str(FILE *f, char *buf, size_t cap)
{
	uint16_t l;
	if (get_exact(f, &l, sizeof l) || l >= cap || get_exact(f, buf, l))
		return -1;
	buf[l] = 0;
	return 0;
}

int lrd_store_verify(lrd_store *s, lrd_verify_fn cb, void *ctx, lrd_verify_report *rep)
{
	int rc = lrd__store_check(s);
	if (rc)
		return rc;
	if (rep)
		*rep = (lrd_verify_report){0};
	const char *path;
	if (mdb_env_get_path(s->env, &path) != 0)
		return lrd__err(LRD_EINVAL, "verify: the store has no path");
	int fds[2];
	if (pipe(fds) != 0)
		return lrd__err(LRD_EIO, "verify: pipe: %s", strerror(errno));
	fflush(NULL); /* the child must not flush the parent's buffered output again */
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return lrd__err(errno == ENOMEM ? LRD_ENOMEM : LRD_EIO, "verify: fork: %s",
		                strerror(errno));
	}
	if (pid == 0) {
		close(fds[0]);
		run_child(path, s->flags, fds[1]);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "rb");
	if (!f) {
		close(fds[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return LRD_ENOMEM;
	}
	static _Thread_local char key[LRD_STORE_MAX_KEY + 1], msg[1100];
	char first_msg[1100] = "";
	int first = 0, result = LRD_OK;
	bool done = false, stopped = false, bad = false;
	lrd_verify_report r = {0};
	key[0] = 0;
	for (;;) {
		char tag;
		if (get_exact(f, &tag, 1))
			break;
		if (tag == 'K') {
			if (get_str(f, key, sizeof key))
				break;
			r.objects++;
			bad = false;
		} else if (tag == 'P') {
			int64_t chunk;
			int32_t code;
			if (get_exact(f, &chunk, sizeof chunk) ||
			    get_exact(f, &code, sizeof code) || get_str(f, key, sizeof key) ||
			    get_str(f, msg, sizeof msg))
				break;
			if (!first || (first == LRD_ECODEC && code != LRD_ECODEC)) {
				first = code;
				snprintf(first_msg, sizeof first_msg, "%s", msg);
			}
			if (!bad)
				r.bad_objects++;
			bad = true;
			if (cb && cb(ctx, key, chunk, code, msg)) {
				stopped = true;
				break;
			}
		} else if (tag == 'R') {
			int32_t res;
			if (get_exact(f, &r, sizeof r) || get_exact(f, &res, sizeof res) ||
			    get_str(f, msg, sizeof msg))
				break;
			result = res;
			done = true;
			break;
		} else {
			break;
		}
	}
	fclose(f);
	if (stopped)
		kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rep)
		*rep = r;
	if (stopped)
		return lrd__err(first, "%s", first_msg);
	if (done)
		return result ? lrd__err(result, "%s", msg) : LRD_OK;
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		snprintf(msg, sizeof msg,
		         "the store is damaged: reading it killed the checking process with "
		         "signal %d (%s)%s%s%s",
		         sig, strsignal(sig), key[0] ? " while checking '" : "", key,
		         key[0] ? "'" : "");
		if (cb)
			cb(ctx, key, -1, LRD_ECORRUPT, msg);
		if (rep) {
			rep->bad_objects += !bad;
		}
		return lrd__err(LRD_ECORRUPT, "%s", msg);
	}
	return lrd__err(LRD_EIO, "verify: the checking process ended without a report");
}
