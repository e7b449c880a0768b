/* What a store's files must look like before LMDB is let near them.
 *
 * LMDB trusts its data file: it maps data.mdb and follows page numbers without bounds checks,
 * so a file shorter than its meta pages say (a truncated copy, a compact killed mid-way, a
 * full disk) faults with SIGBUS on the first read past the end. Before mdb_env_open we read
 * both meta pages ourselves (LMDB's on-disk layout, 64-bit build: a 16-byte page header, then
 * MDB_meta), take the valid one with the newer transaction id, and refuse a file shorter than
 * (mm_last_pg + 1) pages. We also refuse what is not a regular file (a FIFO would block the
 * open, a device would be mapped) and an empty data file (LMDB would silently initialise it).
 *
 * While a store is open, its data and lock files are registered with the stream layer
 * (lrd__guard_add), so an output opened by path onto them is refused before it is written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/store/store_internal.h"

#define MDB_MAGIC_WORD 0xBEEFC0DEu
#define PAGEHDR        16 /* mp_pgno (8), mp_pad (2), mp_flags (2), mp_lower, mp_upper */
#define META_PSIZE     (PAGEHDR + 24) /* mm_dbs[FREE_DBI].md_pad holds the page size */
#define META_LAST_PG   (PAGEHDR + 120)
#define META_TXNID     (PAGEHDR + 128)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

void lrd__store_file_paths(const char *path, unsigned flags, char *data, char *lock, size_t cap)
{
	if (flags & LRD_STORE_NOSUBDIR) {
		snprintf(data, cap, "%s", path);
		snprintf(lock, cap, "%s-lock", path);
	} else {
		snprintf(data, cap, "%s/data.mdb", path);
		snprintf(lock, cap, "%s/lock.mdb", path);
	}
}

static const char *type_name(mode_t m)
{
	return S_ISFIFO(m)   ? "a FIFO"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISSOCK(m) ? "a socket"
	       : S_ISDIR(m)  ? "a directory"
	                     : "not a regular file";
}

/* The size the newer valid meta page claims, 0 if neither meta page is readable as LMDB's
 * (LMDB then reports the file as invalid itself). */
static uint64_t claimed_size(int fd)
{
	uint8_t m[2][META_TXNID + 8];
	uint64_t best_txn = 0, need = 0;
	bool any = false;
	if (pread(fd, m[0], sizeof m[0], 0) != (ssize_t)sizeof m[0] ||
	    le32(m[0] + PAGEHDR) != MDB_MAGIC_WORD)
		return 0;
	uint32_t psize = le32(m[0] + META_PSIZE);
	if (psize < 512 || psize > 65536 || (psize & (psize - 1)))
		return 0;
	if (pread(fd, m[1], sizeof m[1], psize) != (ssize_t)sizeof m[1])
		memset(m[1], 0, sizeof m[1]);
	for (int i = 0; i < 2; i++) {
		if (le32(m[i] + PAGEHDR) != MDB_MAGIC_WORD)
			continue;
		uint64_t txn = le64(m[i] + META_TXNID), last = le64(m[i] + META_LAST_PG);
		if (!any || txn > best_txn) {
			any = true;
			best_txn = txn;
			need = last < UINT64_MAX / psize - 1 ? (last + 1) * psize : UINT64_MAX;
		}
	}
	return need;
}

int lrd__store_file_check(const char *path, unsigned flags)
{
	char data[4096], lock[4096];
	lrd__store_file_paths(path, flags, data, lock, sizeof data);
	struct stat st;
	if (stat(data, &st) != 0)
		return LRD_OK; /* absent: LMDB creates it, or says why it cannot */
	if (!S_ISREG(st.st_mode))
		return lrd__err(LRD_EFORMAT, "'%s' is %s, not a store's data file", data,
		                type_name(st.st_mode));
	if (st.st_size == 0)
		return lrd__err(LRD_ECORRUPT,
		                "'%s' is empty (0 bytes): not a store; remove it to create a new "
		                "store there",
		                data);
	int fd = open(data, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return LRD_OK; /* permission and the like: mdb_env_open reports it */
	uint64_t need = claimed_size(fd);
	close(fd);
	if (need > (uint64_t)st.st_size)
		return lrd__err(LRD_ECORRUPT,
		                "'%s' is damaged: the file is %llu bytes but its meta pages claim "
		                "%llu (truncated, or written by a compact that did not finish)",
		                data, (unsigned long long)st.st_size, (unsigned long long)need);
	if (lstat(lock, &st) == 0 && !S_ISREG(st.st_mode))
		return lrd__err(LRD_EFORMAT, "'%s' is %s, not a store's lock file", lock,
		                type_name(st.st_mode));
	return LRD_OK;
}

void lrd__store_files_guard(const char *path, unsigned flags, struct lrd__fileid id[2])
{
	char p[2][4096];
	lrd__store_file_paths(path, flags, p[0], p[1], sizeof p[0]);
	for (int i = 0; i < 2; i++) {
		struct stat st;
		id[i].set = stat(p[i], &st) == 0;
		if (id[i].set) {
			id[i].dev = st.st_dev;
			id[i].ino = st.st_ino;
			lrd__guard_add(id[i].dev, id[i].ino);
		}
	}
}

void lrd__store_files_unguard(struct lrd__fileid id[2])
{
	for (int i = 0; i < 2; i++)
		if (id[i].set) {
			lrd__guard_del(id[i].dev, id[i].ino);
			id[i].set = false;
		}
}
