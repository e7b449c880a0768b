/* Transactions: explicit lrd_txn_* and the implicit ones behind single calls.
 *
 * Every LMDB transaction of the process is counted in s->active (two atomic operations, no
 * lock: see enter and leave) so that the map can be resized while none is open (store_map.c):
 * the last one to end runs a pending growth; a resize in progress (one mdb_env_set_mapsize
 * call) holds new transactions back.
 * A read txn's LMDB snapshot is a refcounted struct lrd__snap: values read zero-copy from it
 * hold references, so it outlives lrd_txn_reset, lrd_txn_abort and lrd_txn_commit of its
 * handle until the last of them is freed. A handle alone on its snapshot keeps it reset
 * (mdb_txn_reset) for a cheap renew. Implicit reads (txn NULL) take a reset handle from the
 * store's pool and give it back after the call, so a single get costs a renew and a reset,
 * not a begin, an abort and two allocations.
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

#include "engine/store/store_internal.h"

static _Thread_local const lrd_store *tl_writer;

/* Counting transactions without a lock. A resize (store_map.c, under s->mu) sets `resizing`
 * and then reads `active`; enter() adds to `active` and then reads `resizing`. Both are
 * sequentially consistent, so at least one of them sees the other: either the resize sees the
 * new transaction and backs off (the growth stays pending), or enter() sees the resize and
 * waits on s->mu, which the resize holds until the map is remapped. */
static void enter(lrd_store *s)
{
	atomic_fetch_add(&s->active, 1);
	if (atomic_load(&s->resizing)) {
		pthread_mutex_lock(&s->mu); /* held by the resize until it is done */
		pthread_mutex_unlock(&s->mu);
	}
}

/* The last transaction to end runs a pending growth. Whoever marks a growth pending does so
 * before reading `active` (store_map.c), so that it cannot slip between this decrement and
 * this read unseen. */
static void leave(lrd_store *s)
{
	if (atomic_fetch_sub(&s->active, 1) == 1 && atomic_load(&s->grow_pending)) {
		pthread_mutex_lock(&s->mu);
		lrd__map_quiet_locked(s);
		pthread_mutex_unlock(&s->mu);
	}
}

/* begin_mdb's first attempt failed with mrc (and was not counted): adopt a map another
 * process grew, or free the reader slots that idle pooled txns keep, and try once more. */
static int begin_retry(lrd_store *s, bool write, bool renew, MDB_txn **out, int mrc)
{
	int rc = LRD_OK;
	if (mrc == MDB_READERS_FULL)
		lrd__txn_pool_free(s);
	if ((mrc == MDB_MAP_RESIZED && (rc = lrd__map_follow(s)) == LRD_OK) ||
	    mrc == MDB_READERS_FULL) {
		enter(s);
		mrc = renew ? mdb_txn_renew(*out)
		            : mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, out);
		if (mrc == 0)
			return LRD_OK;
		leave(s);
	}
	return rc ? rc
	          : lrd__mdb_err(mrc,
	                         renew ? "renewing a read transaction" : "beginning a transaction");
}

/* Begin LMDB's transaction, counted in s->active; adopts a map another process grew. With
 * renew, renews the reset read txn *out instead (mdb_txn_renew). */
static inline int begin_mdb(lrd_store *s, bool write, bool renew, MDB_txn **out)
{
	enter(s);
	int mrc =
	    renew ? mdb_txn_renew(*out) : mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, out);
	if (mrc == 0)
		return LRD_OK;
	leave(s);
	return begin_retry(s, write, renew, out, mrc);
}

/* ---- read snapshots ------------------------------------------------------------------------ */

static void snap_end(struct lrd__snap *p)
{
	lrd_store *s = p->s;
	if (!lrd__inherited(p->fork_gen)) { /* the parent's LMDB state is left alone */
		mdb_txn_abort(p->t);
		if (p->live)
			leave(s);
	}
	lrd__free(p);
	lrd__store_unref(s); /* the last one out after lrd_store_close closes the store */
}

void lrd__snap_unref(void *snap)
{
	struct lrd__snap *p = snap;
	if (atomic_fetch_sub(&p->refs, 1) == 1)
		snap_end(p);
}

/* Give the read txn t a snapshot: renew its own if it kept one, else take a new one. */
static int snap_take(lrd_txn *t)
{
	struct lrd__snap *p = t->snap;
	if (p) {
		int rc = begin_mdb(t->s, false, true, &p->t);
		if (rc)
			return rc;
	} else {
		if (!(p = lrd__malloc(sizeof *p)))
			return LRD_ENOMEM;
		*p = (struct lrd__snap){.s = t->s, .fork_gen = lrd__fork_gen};
		atomic_init(&p->refs, 1);
		int rc = begin_mdb(t->s, false, false, &p->t);
		if (rc) {
			lrd__free(p);
			return rc;
		}
		atomic_fetch_add(&t->s->refs, 1);
		t->snap = p;
	}
	p->live = true;
	t->t = p->t;
	t->reset = false;
	return LRD_OK;
}

/* Let go of t's snapshot. Alone on it, t keeps it reset for a cheap renew (mdb_txn_reset);
 * with values still pointing into it, t drops its reference and the last value ends it. */
static void snap_release(lrd_txn *t)
{
	struct lrd__snap *p = t->snap;
	t->t = NULL;
	t->reset = true;
	if (atomic_load(&p->refs) == 1) { /* no value holds it; only t can add one */
		mdb_txn_reset(p->t);
		p->live = false;
		leave(t->s); /* a reset txn does not hold a map resize back */
		return;
	}
	t->snap = NULL;
	lrd__snap_unref(p);
}

/* ---- the pool of implicit read txns --------------------------------------------------------- */

/* This thread's first pool slot: threads spread over the slots by their id (no thread-local
 * variable: in a shared library each access would be a __tls_get_addr call). */
static unsigned pool_hint(void)
{
	uint64_t id = (uint64_t)(uintptr_t)pthread_self();
	return (unsigned)((id * 0x9E3779B97F4A7C15ull) >> 32) % STORE_SNAP_POOL;
}

/* A reset read txn from the pool, or NULL if it is empty. */
static lrd_txn *pool_take(lrd_store *s)
{
	unsigned h = pool_hint();
	for (unsigned i = 0; i < STORE_SNAP_POOL; i++) {
		_Atomic(lrd_txn *) *slot = &s->snap_pool[(h + i) % STORE_SNAP_POOL];
		if (atomic_load_explicit(slot, memory_order_relaxed)) {
			lrd_txn *t = atomic_exchange(slot, NULL);
			if (t)
				return t;
		}
	}
	return NULL;
}

static void txn_free_handle(lrd_txn *t);

/* Put a reset read txn back; freed if the pool is full. */
static void pool_give(lrd_store *s, lrd_txn *t)
{
	unsigned h = pool_hint();
	for (unsigned i = 0; i < STORE_SNAP_POOL; i++) {
		lrd_txn *empty = NULL;
		if (atomic_compare_exchange_strong(&s->snap_pool[(h + i) % STORE_SNAP_POOL], &empty,
		                                   t))
			return;
	}
	txn_free_handle(t);
}

void lrd__txn_pool_free(lrd_store *s)
{
	for (unsigned i = 0; i < STORE_SNAP_POOL; i++) {
		lrd_txn *t = atomic_exchange(&s->snap_pool[i], NULL);
		if (t)
			txn_free_handle(t);
	}
}

/* An implicit read txn holding a fresh snapshot. */
static int implicit_read(lrd_store *s, lrd_txn **out)
{
	lrd_txn *t = pool_take(s);
	if (!t)
		return lrd__txn_begin(s, false, out);
	int rc = snap_take(t);
	if (rc) {
		pool_give(s, t);
		return rc;
	}
	*out = t;
	return LRD_OK;
}

/* ---- begin and end ------------------------------------------------------------------------- */

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
	rc = write ? begin_mdb(s, true, false, &t->t) : snap_take(t);
	if (rc != LRD_OK) {
		lrd__free(t);
		return rc;
	}
	if (write)
		tl_writer = s;
	*out = t;
	return LRD_OK;
}

/* Free a handle and what it holds of LMDB: a write txn's (already ended) count, a read txn's
 * reference on its snapshot. */
static void txn_free_handle(lrd_txn *t)
{
	if (t->snap)
		lrd__snap_unref(t->snap); /* ends it unless mapped values still hold it */
	lrd__free(t);
}

static void txn_end(lrd_txn *t)
{
	lrd_store *s = t->s;
	bool write = t->write;
	lrd__txn_readers_quiesce(t, true);
	if (write && tl_writer == s)
		tl_writer = NULL;
	if (write && !t->ended)
		leave(s);
	txn_free_handle(t);
	if (write)
		lrd__map_reserve(s, 0);
}

int lrd_txn_begin(lrd_store *s, unsigned flags, lrd_txn **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_txn_begin: out is NULL");
	return lrd__txn_begin(s, flags & LRD_TXN_WRITE, out);
}

static int commit_err(lrd_store *s, int mrc)
{
	return lrd__commit_err(lrd_store_path(s), s->flags, mrc);
}

int lrd__txn_checkpoint(lrd_txn *t)
{
	lrd_store *s = t->s;
	lrd__txn_readers_quiesce(t, false);
	int mrc = mdb_txn_commit(t->t);
	t->t = NULL;
	leave(s); /* between the two, a pending growth may run (if nothing else is open) */
	int rc = mrc ? commit_err(s, mrc) : begin_mdb(s, true, false, &t->t);
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
		txn_free_handle(t); /* the parent's: its LMDB state is left alone */
		return lrd__err(LRD_EINVAL, "transaction begun before fork(): only freed, not "
		                            "committed, in this process");
	}
	int rc = t->poisoned;
	if (!t->write) {
		/* a read txn has nothing to commit: its snapshot ends with the last value in it */
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
		txn_free_handle(t); /* freeing the parent's reader slot would expose its snapshot */
		return;
	}
	if (t->write) {
		mdb_txn_abort(t->t);
		if (t->poisoned == LRD_EMAPFULL)
			t->s->grow_pending = true;
	}
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
	lrd__txn_readers_quiesce(t, false);
	snap_release(t);
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
	return snap_take(t);
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
	if (!txn) {
		*own = true;
		int rc = lrd__store_check(s);
		return rc ? rc : write ? lrd__txn_begin(s, true, use) : implicit_read(s, use);
	}
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
	if (!use->write) {
		/* back to the pool for the next implicit read, unless LMDB may have failed inside
		 * it (a damaged page): a snapshot in an error state is not reused */
		if (rc == LRD_ECORRUPT || rc == LRD_EIO) {
			lrd_txn_abort(use);
		} else {
			snap_release(use);
			pool_give(use->s, use);
		}
		return rc;
	}
	if (rc == LRD_OK) {
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
