/* Compacted copies of a store: mdb_env_copy2 with MDB_CP_COMPACT, which writes one read
 * snapshot without free pages. The destination follows the store's form (directory or file). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/store/store_internal.h"

int lrd_store_compact(lrd_store *s, const char *dst)
{
	int rc = lrd__store_check(s);
	if (rc)
		return rc;
	if (!dst || !*dst)
		return lrd__err(LRD_EINVAL, "compact: no destination");
	struct stat st;
	if (s->flags & LRD_STORE_NOSUBDIR) {
		if (stat(dst, &st) == 0)
			return lrd__err(LRD_EEXIST, "compact: '%s' exists", dst);
	} else {
		if (mkdir(dst, 0777) != 0 && errno != EEXIST)
			return lrd__err(LRD_EIO, "compact: creating '%s': %s", dst,
			                strerror(errno));
		char data[4096];
		snprintf(data, sizeof data, "%s/data.mdb", dst);
		if (stat(data, &st) == 0)
			return lrd__err(LRD_EEXIST, "compact: '%s' already holds a store", dst);
	}
	/* a copy runs in a read transaction of its own: count it like one */
	lrd_txn *t;
	if ((rc = lrd__txn_begin(s, false, &t)) != LRD_OK)
		return rc;
	int mrc = mdb_env_copy2(s->env, dst, MDB_CP_COMPACT);
	lrd_txn_abort(t);
	return mrc ? lrd__mdb_err(mrc, "compacting") : LRD_OK;
}
