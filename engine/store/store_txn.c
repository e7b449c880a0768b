/* Transactions: explicit lrd_txn_* and the implicit ones behind single calls.
 *
 * Every transaction of the process is counted in s->active (under s->mu) so that the map can be
 * resized while none is open (store_map.c): the last one to end runs a pending growth; a resize
 * in progress (one mdb_env_set_mapsize call) holds new transactions back.
 * A thread-local pointer remembers the store on which this thread holds a write transaction so
 * that a second write on the same thread fails with LRD_EBUSY instead of deadlocking on LMDB's
 * writer lock. An explicit write transaction that hits MAP_FULL (or an I/O error) is poisoned:
 * LMDB forbids further use, every later call returns the same code, and commit aborts it. So is
 * one in which a call failed after it had begun modifying (t->partial): committing it would
 * make half an object visible. A transaction inherited across fork() is only freed when ended
 * in the child (lrd__inherited): LMDB's reader slot and writer lock stay the parent's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>

#include "engine/store/store_internal.h"

/* Free space below which an I/O error at commit is taken for a full disk. */
#define COMMIT_FULL_BYTES ((uint64_t)1 << 20)

static _Thread_local const lrd_store *tl_writer;

static void enter(lrd_store *s)
{
	pthread_mutex_lock(&s->mu);
	while (s->resizing)
		pthread_cond_wait(&s->cv, &s->mu);
	s->active++;
	pthread_mutex_unlock(&s->mu);
}

static void leave(lrd_store *s)
{
	pthread_mutex_lock(&s->mu);
	if (--s->active == 0)
		lrd__map_quiet_locked(s);
	pthread_mutex_unlock(&s->mu);
}

/* Begin LMDB's transaction, counted in s->active; adopts a map another process grew. */
static int begin_mdb(lrd_store *s, bool write, MDB_txn **out)
{
	for (int attempt = 0;; attempt++) {
		enter(s);
		int mrc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, out);
		if (mrc == 0)
			return LRD_OK;
		leave(s);
		int rc = LRD_OK;
		if (mrc != MDB_MAP_RESIZED || attempt > 0 || (rc = lrd__map_follow(s)) != LRD_OK)
			return rc ? rc : lrd__mdb_err(mrc, "beginning a transaction");
	}
}

int lrd__txn_begin(lrd_store *s, bool write, lrd_txn **out)
{
	*out = NULL;
	int rc = lrd__store_check(s);
	if (rc)
		return rc;
	if (write && (s->flags & LRD_STORE_RDONLY))
		return lrd__err(LRD_EREADONLY, "store is open read-only");
	if (write && tl_writer == s)
		return lrd__err(LRD_EBUSY,
		                "this thread already holds a write transaction on this store");
	if (write)
		lrd__map_reserve(s, 0); /* other processes may have filled the map since */
	lrd_txn *t = lrd__calloc(1, sizeof *t);
	if (!t)
		return LRD_ENOMEM;
	t->s = s;
	t->write = write;
	t->fork_gen = lrd__fork_gen;
	if ((rc = begin_mdb(s, write, &t->t)) != LRD_OK) {
		lrd__free(t);
		return rc;
	}
	if (write)
		tl_writer = s;
	*out = t;
	return LRD_OK;
}

static void txn_end(lrd_txn *t)
{
	lrd_store *s = t->s;
	bool write = t->write;
	if (write && tl_writer == s)
		tl_writer = NULL;
	if (!t->reset && !t->ended)
		leave(s);
	lrd__free(t);
	if (write)
		lrd__map_reserve(s, 0);
}

int lrd_txn_begin(lrd_store *s, unsigned flags, lrd_txn **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_txn_begin: out is NULL");
	return lrd__txn_begin(s, flags & LRD_TXN_WRITE, out);
}

/* LMDB reports a write cut short by a full disk as EIO (a short pwrite), so an I/O error at
 * commit is checked against the filesystem: one with (almost) no space left is LRD_ENOSPC. */
static int commit_err(lrd_store *s, int mrc)
{
	const char *path = lrd_store_path(s);
	struct statvfs vfs;
	if (!path)
		path = "?";
	if (mrc == ENOSPC || mrc == EDQUOT ||
	    (mrc == EIO && statvfs(path, &vfs) == 0 &&
	     (uint64_t)vfs.f_bavail * vfs.f_frsize < COMMIT_FULL_BYTES))
		return lrd__err(LRD_ENOSPC,
		                "committing to store '%s': no space left on device (nothing of "
		                "the transaction was committed)",
		                path);
	char what[4200];
	snprintf(what, sizeof what, "committing to store '%s'", path);
	return lrd__mdb_err(mrc, what);
}

int lrd__txn_checkpoint(lrd_txn *t)
{
	lrd_store *s = t->s;
	int mrc = mdb_txn_commit(t->t);
	t->t = NULL;
	leave(s); /* between the two, a pending growth may run (if nothing else is open) */
	int rc = mrc ? commit_err(s, mrc) : begin_mdb(s, true, &t->t);
	if (rc) {
		t->ended = true;
		t->poisoned = rc;
	}
	return rc;
}

int lrd_txn_commit(lrd_txn *t)
{
	if (!t)
		return lrd__err(LRD_EINVAL, "lrd_txn_commit: txn is NULL");
	if (lrd__inherited(t->fork_gen)) {
		lrd__free(t); /* the parent's: its LMDB state is left alone */
		return lrd__err(LRD_EINVAL, "transaction begun before fork(): only freed, not "
		                            "committed, in this process");
	}
	int rc = t->poisoned;
	if (t->reset) {
		mdb_txn_abort(t->t); /* a reset read txn has nothing to commit */
	} else if (rc) {
		mdb_txn_abort(t->t);
		if (rc == LRD_EMAPFULL)
			t->s->grow_pending = true;
		lrd__err(rc, "transaction aborted: an earlier call in it failed (%s)",
		         lrd_strerror(rc));
	} else {
		int mrc = mdb_txn_commit(t->t);
		if (mrc) {
			rc = commit_err(t->s, mrc);
			if (mrc == MDB_MAP_FULL)
				t->s->grow_pending = true;
		}
	}
	txn_end(t);
	return rc;
}

void lrd_txn_abort(lrd_txn *t)
{
	if (!t)
		return;
	if (lrd__inherited(t->fork_gen)) {
		lrd__free(t); /* freeing the parent's reader slot would expose its snapshot */
		return;
	}
	mdb_txn_abort(t->t);
	if (t->poisoned == LRD_EMAPFULL)
		t->s->grow_pending = true;
	txn_end(t);
}

static int check_resettable(const lrd_txn *t, const char *what)
{
	if (!t)
		return lrd__err(LRD_EINVAL, "%s: txn is NULL", what);
	if (t->write)
		return lrd__err(LRD_EINVAL, "%s: only a read transaction can be reset and renewed",
		                what);
	if (lrd__inherited(t->fork_gen))
		return lrd__err(LRD_EINVAL, "%s: transaction begun before fork()", what);
	return LRD_OK;
}

int lrd_txn_reset(lrd_txn *t)
{
	int rc = check_resettable(t, "lrd_txn_reset");
	if (rc || t->reset)
		return rc;
	mdb_txn_reset(t->t);
	t->reset = true;
	leave(t->s); /* a reset txn does not hold a map resize back */
	return LRD_OK;
}

int lrd_txn_renew(lrd_txn *t)
{
	int rc = check_resettable(t, "lrd_txn_renew");
	if (rc)
		return rc;
	if (!t->reset)
		return lrd__err(LRD_EINVAL, "lrd_txn_renew: the transaction is not reset");
	if ((rc = lrd__store_check(t->s)))
		return rc;
	for (int attempt = 0;; attempt++) {
		enter(t->s);
		int mrc = mdb_txn_renew(t->t);
		if (mrc == 0)
			break;
		leave(t->s);
		if (mrc != MDB_MAP_RESIZED || attempt > 0 || (rc = lrd__map_follow(t->s)) != LRD_OK)
			return rc ? rc : lrd__mdb_err(mrc, "renewing a read transaction");
	}
	t->reset = false;
	return LRD_OK;
}

bool lrd_txn_is_write(const lrd_txn *t) { return t && t->write; }

int lrd__txn_poison(lrd_txn *t, int rc)
{
	if (t->write && !t->poisoned && (rc == LRD_EMAPFULL || rc == LRD_EIO || rc == LRD_ENOSPC))
		t->poisoned = rc;
	return rc;
}

int lrd__txn_use(lrd_store *s, lrd_txn *txn, bool write, lrd_txn **use, bool *own)
{
	*own = false;
	*use = txn;
	if (!txn)
		return (*own = true, lrd__txn_begin(s, write, use));
	int rc = lrd__store_check(s);
	if (rc)
		return rc;
	if (txn->s != s)
		return lrd__err(LRD_EINVAL, "transaction belongs to another store");
	if (txn->reset)
		return lrd__err(LRD_EINVAL, "transaction is reset: renew it first");
	if (write && !txn->write)
		return lrd__err(LRD_EINVAL, "a write needs a write transaction");
	if (txn->poisoned)
		return lrd__err(txn->poisoned, "transaction failed earlier (%s): abort it",
		                lrd_strerror(txn->poisoned));
	return LRD_OK;
}

int lrd__txn_done(lrd_txn *use, bool own, int rc)
{
	if (!own)
		return lrd__txn_poison(use, rc);
	if (rc == LRD_OK || !use->write) {
		int crc = lrd_txn_commit(use);
		return rc ? rc : crc;
	}
	lrd_txn_abort(use);
	return rc;
}

int lrd__store_write(lrd_store *s, lrd_txn *txn, uint64_t need, int (*op)(lrd_txn *t, void *ctx),
                     void *ctx)
{
	lrd_txn *t;
	bool own;
	int rc;
	if (txn) {
		if ((rc = lrd__txn_use(s, txn, true, &t, &own)) != LRD_OK)
			return rc;
		/* a call that fails halfway must not leave half an object for the caller to commit
		 */
		txn->partial = false;
		rc = op(txn, ctx);
		if (rc && txn->partial && !txn->poisoned)
			txn->poisoned = rc;
		return lrd__txn_poison(txn, rc);
	}
	if ((rc = lrd__store_check(s)) != LRD_OK)
		return rc;
	if (need)
		lrd__map_reserve(s, need);
	for (int attempt = 0;; attempt++) {
		if ((rc = lrd__txn_begin(s, true, &t)) != LRD_OK)
			return rc;
		rc = lrd__txn_done(t, true, op(t, ctx));
		if (rc != LRD_EMAPFULL || attempt == 4)
			return rc;
		if ((rc = lrd__map_grow(s, need)) != LRD_OK)
			return rc;
	}
}
