/* Unfinished writers. A writer that owns its transaction commits its chunks in batches
 * (store_writer.c) and its object record last; while it runs, a marker in the meta database
 * names the array id whose chunks are committed but not yet referenced by any object:
 *
 *   meta "w:" ‖ array id (u64 BE) → pid (u64 LE) ‖ process start time (u64 LE, 0: unknown)
 *                                   ‖ object key (UTF-8, no NUL)
 *
 * The marker is written in the writer's first transaction and deleted in the one that writes
 * the object record (or by the writer itself when it gives up). A marker whose process is gone
 * (no such pid, a zombie, or a pid reused by a later process: the start time differs) is left
 * by a writer killed mid-way: its chunks are orphans (verify counts them), removed with the
 * marker by the next writer of that key and by compact. A live process's marker is never
 * touched, so two processes may stream into one store at once. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/store/store_internal.h"

#define PENDING_PREFIX "w:"
#define PENDING_PLEN   2
#define PENDING_KLEN   (PENDING_PLEN + 8)
#define PENDING_VHDR   16
#define SWEEP_MAX      64 /* markers removed per sweep; the rest go at the next one */

/* Field 3 (state) and field 22 (start time in clock ticks) of /proc/PID/stat; false if the
 * process does not exist or cannot be read. */
static bool proc_stat(pid_t pid, char *state, uint64_t *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
	if (!p || p[1] != ' ')
		return false;
	p += 2;
	*state = *p;
	for (int field = 3; field < 22 && p; field++)
		if ((p = strchr(p, ' ')))
			p++;
	*start = p ? strtoull(p, NULL, 10) : 0;
	return true;
}

static uint64_t self_start(void)
{
	char state;
	uint64_t start;
	return proc_stat(getpid(), &state, &start) ? start : 0;
}

static bool writer_alive(uint64_t pid, uint64_t start)
{
	if (pid == 0 || pid > INT_MAX)
		return false;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return false;
	char state;
	uint64_t now;
	if (!proc_stat((pid_t)pid, &state, &now))
		return true; /* no /proc: trust kill() */
	return state != 'Z' && state != 'X' && (start == 0 || now == 0 || now == start);
}

static void pending_key(uint8_t k[PENDING_KLEN], uint64_t id)
{
	memcpy(k, PENDING_PREFIX, PENDING_PLEN);
	lrd__be64(k + PENDING_PLEN, id);
}

int lrd__pending_mark(lrd_txn *t, uint64_t id, const char *key, size_t klen)
{
	uint8_t kb[PENDING_KLEN], vb[PENDING_VHDR + LRD_STORE_MAX_KEY];
	pending_key(kb, id);
	lrd__put_u64(vb, (uint64_t)getpid());
	lrd__put_u64(vb + 8, self_start());
	memcpy(vb + PENDING_VHDR, key, klen);
	MDB_val k = {sizeof kb, kb}, v = {PENDING_VHDR + klen, vb};
	int rc = mdb_put(t->t, t->s->meta, &k, &v, 0);
	return rc ? lrd__mdb_err(rc, "recording an unfinished writer") : LRD_OK;
}

int lrd__pending_clear(lrd_txn *t, uint64_t id)
{
	uint8_t kb[PENDING_KLEN];
	pending_key(kb, id);
	MDB_val k = {sizeof kb, kb};
	int rc = mdb_del(t->t, t->s->meta, &k, NULL);
	return rc && rc != MDB_NOTFOUND ? lrd__mdb_err(rc, "clearing an unfinished writer")
	                                : LRD_OK;
}

int lrd__pending_sweep(lrd_txn *t, const char *key, size_t klen, uint64_t *swept)
{
	uint64_t ids[SWEEP_MAX];
	size_t n = 0;
	MDB_cursor *c;
	int mrc = mdb_cursor_open(t->t, t->s->meta, &c);
	if (mrc)
		return lrd__mdb_err(mrc, "listing unfinished writers");
	MDB_val k = {PENDING_PLEN, PENDING_PREFIX}, v;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0 && n < SWEEP_MAX;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < PENDING_PLEN || memcmp(k.mv_data, PENDING_PREFIX, PENDING_PLEN))
			break;
		const uint8_t *p = v.mv_data;
		if (k.mv_size != PENDING_KLEN || v.mv_size < PENDING_VHDR)
			continue; /* not a marker of this format: leave it */
		if (key &&
		    (v.mv_size - PENDING_VHDR != klen || memcmp(p + PENDING_VHDR, key, klen)))
			continue;
		if (!writer_alive(lrd__get_u64(p), lrd__get_u64(p + 8)))
			ids[n++] = lrd__rbe64((const uint8_t *)k.mv_data + PENDING_PLEN);
	}
	mdb_cursor_close(c);
	if (mrc && mrc != MDB_NOTFOUND)
		return lrd__mdb_err(mrc, "listing unfinished writers");
	for (size_t i = 0; i < n; i++) {
		int rc = lrd__chunks_drop_all(t, ids[i]);
		if (!rc)
			rc = lrd__pending_clear(t, ids[i]);
		if (rc)
			return rc;
	}
	if (swept)
		*swept = n;
	return LRD_OK;
}
