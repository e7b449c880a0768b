/* Growing the LMDB map. mdb_env_set_mapsize() may only run while this process has no open
 * transaction, so every growth takes the store's `resizing` flag (holding back new
 * transactions, see store_txn.c) and waits, for a bounded time, until `active` drops to zero.
 *
 * Policy: double the map, or more if a known write needs it, rounded to 1 MiB, never past the
 * cap. Growth ahead of a write and between transactions is opportunistic (only when nothing is
 * open); growth after MDB_MAP_FULL waits. A map grown by another process is adopted with
 * mdb_env_set_mapsize(env, 0) when mdb_txn_begin reports MDB_MAP_RESIZED. */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>
#include <time.h>

#include "engine/store/store_internal.h"

#define GROW_WAIT_SECONDS 10
#define NEAR_FULL_PERCENT 80

static void map_usage(lrd_store *s, uint64_t *size, uint64_t *used)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &st);
	*size = info.me_mapsize;
	*used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
}

/* With s->mu held: become the resizer once every open transaction of this process ended. */
static int acquire_quiet(lrd_store *s)
{
	while (s->resizing)
		pthread_cond_wait(&s->cv, &s->mu);
	s->resizing = true;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += GROW_WAIT_SECONDS;
	while (s->active > 0) {
		if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT && s->active > 0) {
			s->resizing = false;
			pthread_cond_broadcast(&s->cv);
			return lrd__err(
			    LRD_EMAPFULL,
			    "store map is full and cannot grow while %u transaction(s) of this "
			    "process stay open",
			    s->active);
		}
	}
	return LRD_OK;
}

static void release_quiet(lrd_store *s)
{
	s->resizing = false;
	pthread_cond_broadcast(&s->cv);
}

/* With the store quiet: set a size that fits need more bytes. */
static int resize(lrd_store *s, uint64_t need)
{
	uint64_t size, used;
	map_usage(s, &size, &used);
	uint64_t want = used + need + need / 4 + STORE_MAP_ROUND * 8;
	uint64_t target = size * 2 > want ? size * 2 : want;
	target = (target + STORE_MAP_ROUND - 1) / STORE_MAP_ROUND * STORE_MAP_ROUND;
	if (s->map_max && target > s->map_max)
		target = s->map_max;
	if (target <= size)
		return lrd__err(LRD_EMAPFULL, "store map is full: %llu bytes, its cap",
		                (unsigned long long)size);
	int rc = mdb_env_set_mapsize(s->env, target);
	if (rc)
		return lrd__mdb_err(rc, "growing the store map");
	s->grow_pending = false;
	return LRD_OK;
}

int lrd__map_grow(lrd_store *s, uint64_t need)
{
	pthread_mutex_lock(&s->mu);
	int rc = acquire_quiet(s);
	if (rc == LRD_OK) {
		rc = resize(s, need);
		release_quiet(s);
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
	if (!s->resizing && s->active == 0) {
		s->resizing = true;
		resize(s, need);
		release_quiet(s);
	}
	pthread_mutex_unlock(&s->mu);
	lrd__errclear();
}

int lrd__map_follow(lrd_store *s)
{
	pthread_mutex_lock(&s->mu);
	int rc = acquire_quiet(s);
	if (rc == LRD_OK) {
		int mrc = mdb_env_set_mapsize(s->env, 0);
		if (mrc)
			rc = lrd__mdb_err(mrc, "adopting the store map size of another process");
		release_quiet(s);
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
