/* Compacted copies of a store: mdb_env_copyfd2 with MDB_CP_COMPACT, which writes one read
 * snapshot without free pages. The destination follows the store's form (directory or file).
 * The copy is written to a temporary name beside its final one (".data.mdb.NNNNNN~"), synced,
 * and renamed into place only when complete, so a compact that is killed or fails (a full
 * disk) never leaves a short data file that the next open would trust; a rerun finds no
 * store in the way. A destination directory compact created is removed again on failure.
 * Before the copy, the leftovers of writers killed mid-way are removed from the store
 * (store_pending.c), so the copy has none. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/store/store_internal.h"

/* Remove what writers killed mid-way left behind. */
static int sweep(lrd_store *s)
{
	lrd_txn *t;
	int rc = lrd__txn_begin(s, true, &t);
	if (rc)
		return rc;
	return lrd__txn_done(t, true, lrd__pending_sweep(t, NULL, 0, NULL));
}

int lrd_store_compact(lrd_store *s, const char *dst)
{
	int rc = lrd__store_check(s);
	if (rc)
		return rc;
	if (!dst || !*dst)
		return lrd__err(LRD_EINVAL, "compact: no destination");
	struct stat st;
	bool made_dir = false;
	char data[4096], tmp[4200];
	if (s->flags & LRD_STORE_NOSUBDIR) {
		if (stat(dst, &st) == 0)
			return lrd__err(LRD_EEXIST, "compact: '%s' exists", dst);
		snprintf(data, sizeof data, "%s", dst);
	} else {
		if (mkdir(dst, 0777) == 0)
			made_dir = true;
		else if (errno != EEXIST)
			return lrd__err(errno == ENOSPC ? LRD_ENOSPC : LRD_EIO,
			                "compact: creating '%s': %s", dst, strerror(errno));
		else if (stat(dst, &st) != 0 || !S_ISDIR(st.st_mode))
			return lrd__err(LRD_EEXIST, "compact: '%s' exists and is not a directory",
			                dst);
		snprintf(data, sizeof data, "%s/data.mdb", dst);
		if (stat(data, &st) == 0)
			return lrd__err(LRD_EEXIST, "compact: '%s' already holds a store", dst);
	}
	const char *slash = strrchr(data, '/');
	int dlen = slash ? (int)(slash - data) + 1 : 0;
	int fd = -1;
	for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
		snprintf(tmp, sizeof tmp, "%.*s.%s.%06x~", dlen, data, data + dlen,
		         (unsigned)(getpid() * 2654435761u + (unsigned)attempt * 40503u) &
		             0xFFFFFF);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		rc = lrd__err(errno == ENOSPC ? LRD_ENOSPC : LRD_EIO, "compact: creating '%s': %s",
		              tmp, strerror(errno));
		if (made_dir)
			rmdir(dst);
		return rc;
	}
	if (!(s->flags & LRD_STORE_RDONLY) && (rc = sweep(s)) != LRD_OK) {
		close(fd);
		unlink(tmp);
		if (made_dir)
			rmdir(dst);
		return lrd__errctx(rc, "compact to '%s'", dst);
	}
	/* a copy runs in a read transaction of its own: count it like one */
	lrd_txn *t;
	if ((rc = lrd__txn_begin(s, false, &t)) == LRD_OK) {
		int mrc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
		lrd_txn_abort(t);
		if (mrc)
			rc = lrd__mdb_err(mrc, "compacting");
		else if (fsync(fd) != 0)
			rc = lrd__err(errno == ENOSPC ? LRD_ENOSPC : LRD_EIO,
			              "compact: syncing '%s': %s", tmp, strerror(errno));
	}
	if (close(fd) != 0 && !rc)
		rc = lrd__err(errno == ENOSPC ? LRD_ENOSPC : LRD_EIO, "compact: writing '%s': %s",
		              tmp, strerror(errno));
	if (!rc && rename(tmp, data) != 0)
		rc = lrd__err(LRD_EIO, "compact: renaming '%s' into place: %s", tmp,
		              strerror(errno));
	if (rc) {
		unlink(tmp);
		if (made_dir)
			rmdir(dst);
		return lrd__errctx(rc, "compact to '%s'", dst);
	}
	/* make the rename durable too */
	char dir[4096];
	snprintf(dir, sizeof dir, "%.*s", dlen > 1 ? dlen - 1 : dlen, dlen ? data : ".");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return LRD_OK;
}
