/* Sizing and growing the LMDB map, without ever making a write wait for a reader.
 *
 * Reservation: LMDB maps a fixed amount of address space but (without MDB_WRITEMAP) grows
 * data.mdb only as pages are used, so a store is opened with a large map up front
 * (lrd__map_default: the free space of its filesystem plus what it already holds, between 1 GiB
 * and 256 GiB, and a quarter of RLIMIT_AS at most). Open retries smaller when the reservation
 * itself fails (store_env.c). With that, MDB_MAP_FULL means the disk is nearly full or a
 * caller asked for a small map.
 *
 * Growth: mdb_env_set_mapsize() may only run while this process has no open transaction.
 * Nothing waits for that moment: a resize runs only when `active` is zero (and, having set
 * `resizing`, still finds it zero: store_txn.c's enter counts first and looks second), either
 * at once (a grow after MDB_MAP_FULL or ahead of a known write, when nothing is open) or
 * later, in the thread whose transaction is the last to end (lrd__map_quiet_locked, called
 * from store_txn.c with s->mu held) while `grow_pending` is set. A write that finds the map
 * full while other transactions of this process are open fails at once with LRD_EMAPFULL.
 * The `resizing` flag holds new transactions back (on s->mu) only for the duration of one
 * mdb_env_set_mapsize call. A value read zero-copy holds its snapshot, and so counts as an
 * open transaction, until it is freed.
 *
 * Policy: double the map, or more if a known write needs it, rounded to 1 MiB, never past the
 * cap. A map grown by another process is adopted with mdb_env_set_mapsize(env, 0) when
 * mdb_txn_begin reports MDB_MAP_RESIZED, under the same rule. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "engine/store/store_internal.h"

#define NEAR_FULL_PERCENT 80

uint64_t lrd__map_default(const char *path, unsigned flags)
{
	uint64_t r = sizeof(void *) >= 8 ? STORE_RESERVE_MAX : STORE_DEFAULT_MAP / 2;
	struct statvfs vfs;
	char data[4096], lock[4096];
	lrd__store_file_paths(path, flags, data, lock, sizeof data);
	struct stat st;
	uint64_t held = stat(data, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	const char *dir = (flags & LRD_STORE_NOSUBDIR) ? NULL : path;
	if (!dir) { /* the directory holding the file */
		char *slash = strrchr(data, '/');
		if (slash)
			*slash = 0;
		dir = slash ? (*data ? data : "/") : ".";
	}
	if (statvfs(dir, &vfs) == 0) {
		uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		if (avail + held < r)
			r = avail + held;
	}
	if (r < STORE_DEFAULT_MAP)
		r = STORE_DEFAULT_MAP;
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (uint64_t)rl.rlim_cur / 4 < r)
		r = (uint64_t)rl.rlim_cur / 4 > STORE_MIN_RESERVE ? (uint64_t)rl.rlim_cur / 4
		                                                  : STORE_MIN_RESERVE;
	return r / STORE_MAP_ROUND * STORE_MAP_ROUND;
}

static void map_usage(lrd_store *s, uint64_t *size, uint64_t *used)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &st);
	*size = info.me_mapsize;
	*used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
}

/* With s->mu held: stop new transactions for a resize, if none is open (see enter in
 * store_txn.c: `resizing` is set before `active` is read, and enter() does the opposite). */
static bool quiesce(lrd_store *s)
{
	if (atomic_load(&s->active) != 0)
		return false;
	atomic_store(&s->resizing, true);
	if (atomic_load(&s->active) == 0)
		return true;
	atomic_store(&s->resizing, false); /* one began meanwhile: it runs the growth later */
	return false;
}

/* With s->mu held and no transaction of this process open: set a size that fits need more
 * bytes. Sets no message (it also runs inside another call's error path): returns 0,
 * LRD_EMAPFULL at the cap, LRD_EBUSY if a transaction began meanwhile (the growth stays
 * pending), or LMDB's code. */
static int resize(lrd_store *s, uint64_t need)
{
	uint64_t size, used;
	map_usage(s, &size, &used);
	uint64_t want = used + need + need / 4 + STORE_MAP_ROUND * 8;
	uint64_t target = size * 2 > want ? size * 2 : want;
	target = (target + STORE_MAP_ROUND - 1) / STORE_MAP_ROUND * STORE_MAP_ROUND;
	if (s->map_max && target > s->map_max)
		target = s->map_max;
	if (target <= size) {
		s->grow_pending = false;
		s->grow_need = 0;
		return LRD_EMAPFULL;
	}
	if (!quiesce(s)) {
		s->grow_pending = true;
		if (need > s->grow_need)
			s->grow_need = need;
		return LRD_EBUSY;
	}
	s->grow_pending = false;
	s->grow_need = 0;
	int rc = mdb_env_set_mapsize(s->env, target);
	atomic_store(&s->resizing, false);
	return rc;
}

void lrd__map_quiet_locked(lrd_store *s)
{
	if (atomic_load(&s->active) == 0 && s->grow_pending && !s->resizing)
		resize(s, s->grow_need);
}

static int busy_err(lrd_store *s)
{
	return lrd__err(LRD_EMAPFULL,
	                "store map is full and cannot grow while %u other transaction(s) of "
	                "this process are open (it grows when they end; retry then, or open "
	                "the store with a larger lrd_store_options.map_size)",
	                atomic_load(&s->active));
}

int lrd__map_grow(lrd_store *s, uint64_t need)
{
	pthread_mutex_lock(&s->mu);
	/* marked pending first: if the last open transaction ends after the check below, it
	 * sees the mark and grows the map itself (store_txn.c's leave) */
	s->grow_pending = true;
	if (need > s->grow_need)
		s->grow_need = need;
	int rc;
	if (atomic_load(&s->active) == 0 && !s->resizing) {
		uint64_t size, used;
		map_usage(s, &size, &used);
		rc = resize(s, s->grow_need);
		if (rc == LRD_EMAPFULL)
			rc = lrd__err(LRD_EMAPFULL, "store map is full: %llu bytes, its cap",
			              (unsigned long long)size);
		else if (rc == LRD_EBUSY)
			rc = busy_err(s);
		else if (rc)
			rc = lrd__mdb_err(rc, "growing the store map");
	} else {
		/* the last transaction to end grows it; this write fails now rather than wait */
		rc = busy_err(s);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void lrd__map_reserve(lrd_store *s, uint64_t need)
{
	uint64_t size, used;
	map_usage(s, &size, &used);
	if (!s->grow_pending && used + need + need / 8 < size / 100 * NEAR_FULL_PERCENT)
		return;
	if (s->map_max && size >= s->map_max)
		return;
	pthread_mutex_lock(&s->mu);
	if (need > s->grow_need)
		s->grow_need = need;
	s->grow_pending = true;
	lrd__map_quiet_locked(s);
	pthread_mutex_unlock(&s->mu);
}

int lrd__map_follow(lrd_store *s)
{
	pthread_mutex_lock(&s->mu);
	int rc = LRD_OK;
	if (!s->resizing && quiesce(s)) {
		int mrc = mdb_env_set_mapsize(s->env, 0);
		atomic_store(&s->resizing, false);
		if (mrc)
			rc = lrd__mdb_err(mrc, "adopting the store map size of another process");
	} else {
		rc = lrd__err(LRD_EMAPFULL,
		              "another process grew the store map past this process's; it is "
		              "adopted once the %u open transaction(s) of this process end",
		              atomic_load(&s->active));
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void lrd__map_unresident(const void *p, size_t n)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t hi = ((uintptr_t)p + n) & ~(page - 1);
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}
