/* Opening and closing a store: the LMDB environment, its four sub-databases and the metadata
 * that makes it a larder store (magic, format version, recorded defaults).
 *
 * Invariants: a store handle exists only with all four dbis open and the format checked; a
 * failed open closes whatever it opened. The fork generation is bumped in every child by a
 * pthread_atfork handler, so a handle used after fork() is detected without a syscall per call. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "codecs/codec_internal.h"
#include "engine/store/store_internal.h"
#include "engine/value/value_internal.h"

#define META_MAGIC "larder"

unsigned lrd__fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* The stores open in this process (handles, or environments kept by zero-copy values), by data
 * file. LMDB allows one environment per file per process: a second one on the same lock file
 * takes over its fcntl locks (opening converts them and resets the reader table; closing
 * drops them, after which another process clears this one's reader slots), so a store opened
 * twice is the same handle. */
static pthread_mutex_t opens_lock = PTHREAD_MUTEX_INITIALIZER;
static lrd_store *open_list;

static void in_child(void)
{
	lrd__fork_gen++;
	pthread_mutex_init(&opens_lock, NULL); /* another thread may have held it at fork() */
}
static void install_atfork(void) { pthread_atfork(NULL, NULL, in_child); }

static void open_list_remove(lrd_store *s)
{
	for (lrd_store **p = &open_list; *p; p = &(*p)->next_open)
		if (*p == s) {
			*p = s->next_open;
			return;
		}
}

/* What of o a second open of s cannot honour: the environment's settings are the first
 * open's, and so are the handle's defaults for arrays; NULL if o asks nothing else. */
static const char *share_conflict(const lrd_store *s, const lrd_store_options *o)
{
	const lrd_codec_params *p = &o->params, *q = &s->params;
	if (!(s->flags & LRD_STORE_RDONLY) != !(o->flags & LRD_STORE_RDONLY))
		return s->flags & LRD_STORE_RDONLY ? "it is open read-only"
		                                   : "it is open read-write";
	if (o->codec) {
		const lrd_codec *c;
		int level = 0;
		if (lrd_codec_parse(o->codec, LRD_CODEC_CHUNK, &c, &level) != LRD_OK ||
		    c != s->codec || (level && level != q->level))
			return "it is open with another default codec";
	}
	if ((o->chunk_size && o->chunk_size != s->chunk_size) ||
	    (o->threads && o->threads != s->threads) || (p->level && p->level != q->level) ||
	    (p->typesize && p->typesize != q->typesize) ||
	    (p->threads && p->threads != q->threads) || (p->shuffle && p->shuffle != q->shuffle) ||
	    (p->inner && (!q->inner || strcmp(p->inner, q->inner))))
		return "it is open with other defaults for arrays";
	/* map_size is an initial size (the map grows by itself) and max_readers is only honoured
	 * by the first process: neither conflicts; a different cap does */
	if (o->map_max && o->map_max != s->map_max)
		return "it is open with another map_max";
	return NULL;
}

enum { SHARE_NONE, SHARE_OK, SHARE_DYING };

/* Under opens_lock: the open handle on path's data file in this process, with one more open
 * and one more reference taken; or SHARE_DYING if its last reference is going right now. */
static int share_open(const char *path, const lrd_store_options *o, lrd_store **out)
{
	char data[4096], lock[4096];
	struct stat st;
	lrd__store_file_paths(path, o->flags, data, lock, sizeof data);
	if (stat(data, &st) != 0)
		return SHARE_NONE;
	for (lrd_store *s = open_list; s; s = s->next_open) {
		if (s->fork_gen != lrd__fork_gen || !s->files[0].set ||
		    s->files[0].dev != st.st_dev || s->files[0].ino != st.st_ino)
			continue;
		const char *why = share_conflict(s, o);
		if (why)
			return lrd__err(
			    LRD_EBUSY,
			    "'%s' is already open in this process and %s; LMDB allows one "
			    "environment per file per process, so a second open shares the "
			    "first handle: open it with the same options (or none), or "
			    "close it first",
			    path, why);
		unsigned r = atomic_load(&s->refs);
		while (r && !atomic_compare_exchange_weak(&s->refs, &r, r + 1))
			;
		if (!r)
			return SHARE_DYING;
		if (!(o->flags & LRD_STORE_NOSYNC) && (s->flags & LRD_STORE_NOSYNC)) {
			mdb_env_set_flags(s->env, MDB_NOSYNC, 0); /* the stricter asks win */
			s->flags &= ~(unsigned)LRD_STORE_NOSYNC;
		}
		s->opens++;
		*out = s;
		return SHARE_OK;
	}
	return SHARE_NONE;
}

int lrd__mdb_err(int rc, const char *what)
{
	int code;
	switch (rc) {
	case MDB_NOTFOUND:
		code = LRD_ENOTFOUND;
		break;
	case MDB_KEYEXIST:
		code = LRD_EEXIST;
		break;
	case MDB_MAP_FULL:
	case MDB_MAP_RESIZED:
		code = LRD_EMAPFULL;
		break;
	case MDB_READERS_FULL:
	case MDB_DBS_FULL:
	case MDB_TXN_FULL:
		code = LRD_ELIMIT;
		break;
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		code = LRD_EFORMAT;
		break;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		code = LRD_ECORRUPT;
		break;
	case ENOMEM:
		code = LRD_ENOMEM;
		break;
	case ENOSPC:
		code = LRD_ENOSPC;
		break;
	case EACCES:
	case EROFS:
		code = LRD_EREADONLY;
		break;
	case ENOENT:
		code = LRD_ENOTFOUND;
		break;
	default:
		code = LRD_EIO;
	}
	return lrd__err(code, "%s: %s", what, mdb_strerror(rc));
}

/* Below this much free space, an I/O error at commit is taken for a full disk. */
#define COMMIT_FULL_BYTES ((uint64_t)1 << 20)

/* LMDB reports a write cut short as EIO (a short pwrite), whatever cut it short, so an I/O
 * error at commit is checked against its two usual causes: a filesystem with (almost) no
 * space left is LRD_ENOSPC; a data file that reached the process's file size limit
 * (RLIMIT_FSIZE, `ulimit -f`: EFBIG, or a short write ending at the limit) is LRD_ELIMIT. */
int lrd__commit_err(const char *path, unsigned flags, int mrc)
{
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
	char data[4200], lock[4200];
	struct rlimit lim;
	struct stat st;
	lrd__store_file_paths(path, flags, data, lock, sizeof data);
	if ((mrc == EFBIG || mrc == EIO) && getrlimit(RLIMIT_FSIZE, &lim) == 0 &&
	    lim.rlim_cur != RLIM_INFINITY &&
	    (mrc == EFBIG || (stat(data, &st) == 0 && (uint64_t)st.st_size >= lim.rlim_cur)))
		return lrd__err(LRD_ELIMIT,
		                "committing to store '%s': '%s' would grow past this process's "
		                "file size limit of %llu bytes (RLIMIT_FSIZE, `ulimit -f`; nothing "
		                "of the transaction was committed)",
		                path, data, (unsigned long long)lim.rlim_cur);
	char what[4200];
	snprintf(what, sizeof what, "committing to store '%s'", path);
	return lrd__mdb_err(mrc, what);
}

int lrd__store_check(const lrd_store *s)
{
	if (!s)
		return lrd__err(LRD_EINVAL, "store is NULL");
	if (s->fork_gen != lrd__fork_gen)
		return lrd__err(LRD_EINVAL,
		                "store opened before fork(): open it again in this process");
	return LRD_OK;
}

static int meta_get(MDB_txn *t, MDB_dbi dbi, const char *name, MDB_val *v)
{
	MDB_val k = {strlen(name), (void *)name};
	return mdb_get(t, dbi, &k, v);
}

static int meta_put(MDB_txn *t, MDB_dbi dbi, const char *name, const void *p, size_t n)
{
	MDB_val k = {strlen(name), (void *)name}, v = {n, (void *)p};
	return mdb_put(t, dbi, &k, &v, 0);
}

/* Initialise a new store's metadata inside t. */
static int meta_create(lrd_store *s, MDB_txn *t, const lrd_store_options *o)
{
	uint8_t b[8];
	int rc = meta_put(t, s->meta, "magic", META_MAGIC, strlen(META_MAGIC));
	lrd__put_u64(b, LRD_STORE_FORMAT_VERSION);
	if (!rc)
		rc = meta_put(t, s->meta, "format", b, 4);
	lrd__put_u64(b, 1);
	if (!rc)
		rc = meta_put(t, s->meta, "next_id", b, 8);
	const char *codec = s->codec ? s->codec->name : "raw"; /* resolved: no level */
	if (!rc)
		rc = meta_put(t, s->meta, "codec", codec, strlen(codec));
	lrd__put_u64(b, o && o->chunk_size ? o->chunk_size : STORE_DEFAULT_CHUNK);
	if (!rc)
		rc = meta_put(t, s->meta, "chunk_size", b, 8);
	s->writemap_recorded = o && (o->flags & LRD_STORE_WRITEMAP);
	if (!rc && s->writemap_recorded)
		rc = meta_put(t, s->meta, "writemap", "1", 1);
	return rc ? lrd__mdb_err(rc, "writing store metadata") : LRD_OK;
}

/* The store's default codec from a spec ("lz4", "blosc:9"; NULL or "raw": none): a level in the
 * spec becomes the default level, which the codec must take. */
static int resolve_codec(lrd_store *s, const char *spec)
{
	int level = 0;
	s->codec = NULL;
	int rc = spec ? lrd_codec_parse(spec, LRD_CODEC_CHUNK, &s->codec, &level) : LRD_OK;
	if (!rc && level)
		s->params.level = level;
	return rc ? rc : lrd__codec_level_check(s->codec, s->params.level);
}

/* Check an existing store's metadata and adopt its recorded defaults where opts leave them. */
static int meta_check(lrd_store *s, MDB_txn *t, const char *path, const lrd_store_options *o)
{
	MDB_val v;
	if (meta_get(t, s->meta, "magic", &v) || v.mv_size != strlen(META_MAGIC) ||
	    memcmp(v.mv_data, META_MAGIC, v.mv_size))
		return lrd__err(LRD_EFORMAT, "'%s' is an LMDB environment but not a larder store",
		                path);
	if (meta_get(t, s->meta, "format", &v) || v.mv_size != 4)
		return lrd__err(LRD_EFORMAT, "'%s': store format version missing", path);
	const uint8_t *f = v.mv_data;
	uint32_t ver =
	    (uint32_t)f[0] | (uint32_t)f[1] << 8 | (uint32_t)f[2] << 16 | (uint32_t)f[3] << 24;
	if (ver > LRD_STORE_FORMAT_VERSION)
		return lrd__err(LRD_EVERSION,
		                "'%s': store format version %u is newer than this larder's (%u)",
		                path, ver, LRD_STORE_FORMAT_VERSION);
	s->writemap_recorded = meta_get(t, s->meta, "writemap", &v) == 0;
	char name[64] = "raw";
	if (!(o && o->codec) && meta_get(t, s->meta, "codec", &v) == 0 && v.mv_size < sizeof name) {
		memcpy(name, v.mv_data, v.mv_size);
		name[v.mv_size] = 0;
	}
	if (!(o && o->chunk_size) && meta_get(t, s->meta, "chunk_size", &v) == 0 &&
	    v.mv_size == 8) {
		uint64_t chunk_size = lrd__get_u64(v.mv_data);
		if (chunk_size && chunk_size <= STORE_MAX_CHUNK)
			s->chunk_size = (size_t)chunk_size;
	}
	return resolve_codec(s, o && o->codec ? o->codec : name);
}

/* Without "meta", a main database that still names one of larder's other sub-databases is a
 * damaged larder store rather than a foreign LMDB environment. */
static bool has_larder_dbs(MDB_txn *t)
{
	static const char *const names[] = {"objects", "chunks", "kv"};
	MDB_dbi main;
	if (mdb_dbi_open(t, NULL, 0, &main) != 0)
		return false;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		MDB_val k = {strlen(names[i]), (void *)names[i]}, v;
		if (mdb_get(t, main, &k, &v) == 0)
			return true;
	}
	return false;
}

static int open_dbis(lrd_store *s, const char *path, const lrd_store_options *o)
{
	bool rdonly = s->flags & LRD_STORE_RDONLY;
	MDB_txn *t;
	int rc = mdb_txn_begin(s->env, NULL, rdonly ? MDB_RDONLY : 0, &t);
	if (rc)
		return lrd__mdb_err(rc, "beginning the open transaction");
	MDB_dbi meta;
	rc = mdb_dbi_open(t, "meta", 0, &meta);
	bool fresh = false;
	if (rc == MDB_NOTFOUND && !rdonly) {
		MDB_stat st;
		MDB_dbi main;
		/* A new store is an empty environment; anything else without "meta" is foreign. */
		if (mdb_dbi_open(t, NULL, 0, &main) == 0 && mdb_stat(t, main, &st) == 0 &&
		    st.ms_entries == 0) {
			fresh = true;
			rc = mdb_dbi_open(t, "meta", MDB_CREATE, &meta);
		}
	}
	if (rc) {
		bool ours = (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) && has_larder_dbs(t);
		mdb_txn_abort(t);
		if (ours)
			return lrd__err(
			    LRD_ECORRUPT,
			    "'%s': a larder store whose metadata sub-database is missing "
			    "(damaged)",
			    path);
		if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
			return lrd__err(LRD_EFORMAT,
			                "'%s' is an LMDB environment but not a larder store", path);
		return lrd__mdb_err(rc, "opening the metadata");
	}
	s->meta = meta;
	unsigned cf = rdonly ? 0 : MDB_CREATE;
	if ((rc = mdb_dbi_open(t, "objects", cf, &s->objects)) ||
	    (rc = mdb_dbi_open(t, "chunks", cf, &s->chunks)) ||
	    (rc = mdb_dbi_open(t, "kv", cf, &s->kv))) {
		mdb_txn_abort(t);
		/* "meta" was found, so this is a larder store: a missing sub-database is damage. */
		return rc == MDB_NOTFOUND && !fresh
		           ? lrd__err(LRD_ECORRUPT, "'%s': store is missing a sub-database", path)
		           : lrd__mdb_err(rc, "opening the sub-databases");
	}
	int err = fresh ? resolve_codec(s, o ? o->codec : NULL) : meta_check(s, t, path, o);
	if (!err && fresh)
		err = meta_create(s, t, o);
	if (err) {
		mdb_txn_abort(t);
		return err;
	}
	rc = mdb_txn_commit(t);
	return rc ? lrd__commit_err(path, s->flags, rc) : LRD_OK;
}

/* An existing directory holds a store when LMDB's data file is in it: an empty directory
 * must not become a store under LRD_STORE_NOCREATE. */
static bool dir_has_store(const char *path)
{
	struct stat st;
	char buf[4096];
	int n = snprintf(buf, sizeof buf, "%s/data.mdb", path);
	if (n < 0 || (size_t)n >= sizeof buf)
		return true; /* too long to check here: let mdb_env_open decide */
	return stat(buf, &st) == 0;
}

static int check_path(const char *path, unsigned flags)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		bool dir = S_ISDIR(st.st_mode);
		if (dir && (flags & LRD_STORE_NOSUBDIR))
			return lrd__err(LRD_EINVAL,
			                "'%s' is a directory (LRD_STORE_NOSUBDIR given)", path);
		if (!dir && !(flags & LRD_STORE_NOSUBDIR))
			return lrd__err(LRD_EFORMAT, "'%s' is %s, not a store directory", path,
			                S_ISREG(st.st_mode)    ? "a file"
			                : S_ISCHR(st.st_mode)  ? "a character device"
			                : S_ISBLK(st.st_mode)  ? "a block device"
			                : S_ISFIFO(st.st_mode) ? "a FIFO"
			                                       : "not a directory");
		if (dir && (flags & (LRD_STORE_NOCREATE | LRD_STORE_RDONLY)) &&
		    !dir_has_store(path))
			return lrd__err(LRD_ENOTFOUND, "no store at '%s'", path);
		return LRD_OK;
	}
	if (errno != ENOENT)
		return lrd__err(LRD_EIO, "'%s': %s", path, strerror(errno));
	if (flags & (LRD_STORE_NOCREATE | LRD_STORE_RDONLY))
		return lrd__err(LRD_ENOTFOUND, "no store at '%s'", path);
	if (!(flags & LRD_STORE_NOSUBDIR) && mkdir(path, 0777) != 0 && errno != EEXIST)
		return lrd__err(LRD_EIO, "creating '%s': %s", path, strerror(errno));
	return LRD_OK;
}

static uint64_t round_map(uint64_t n)
{
	return (n + STORE_MAP_ROUND - 1) / STORE_MAP_ROUND * STORE_MAP_ROUND;
}

/* locked: the caller holds opens_lock (a failing open). */
static void store_free(lrd_store *s, bool locked)
{
	lrd__txn_pool_free(s);
	if (!locked)
		pthread_mutex_lock(&opens_lock);
	open_list_remove(s);
	if (s->env) /* closed before another open of these files can start */
		mdb_env_close(s->env);
	s->env = NULL;
	if (!locked)
		pthread_mutex_unlock(&opens_lock);
	lrd__store_files_unguard(s->files);
	pthread_mutex_destroy(&s->mu);
	lrd__codec_params_release(&s->params);
	lrd__free(s);
}

/* Create and open the LMDB environment, clear stale reader slots, open the databases. */
static int env_open(lrd_store *s, const char *path, const lrd_store_options *o, uint64_t map)
{
	unsigned ef = MDB_NOTLS | MDB_NORDAHEAD;
	if (o->flags & LRD_STORE_RDONLY)
		ef |= MDB_RDONLY;
	if (o->flags & LRD_STORE_NOSYNC)
		ef |= MDB_NOSYNC;
	if (o->flags & LRD_STORE_NOSUBDIR)
		ef |= MDB_NOSUBDIR;
	if ((o->flags & LRD_STORE_WRITEMAP) && !(o->flags & LRD_STORE_RDONLY))
		ef |= MDB_WRITEMAP;
	int mrc = mdb_env_create(&s->env);
	if (!mrc)
		mrc = mdb_env_set_maxdbs(s->env, 8);
	if (!mrc && o->max_readers)
		mrc = mdb_env_set_maxreaders(s->env, o->max_readers);
	if (!mrc)
		mrc = mdb_env_set_mapsize(s->env, map);
	if (!mrc)
		mrc = mdb_env_open(s->env, path, ef, o->mode ? o->mode : 0644);
	if (mrc) {
		if (mrc == MDB_INVALID || mrc == MDB_VERSION_MISMATCH)
			return lrd__err(LRD_EFORMAT, "'%s' is not an LMDB store: %s", path,
			                mdb_strerror(mrc));
		if (mrc == EACCES)
			return lrd__err(
			    LRD_EREADONLY,
			    "'%s': permission denied: opening a store, even to read it, "
			    "needs write access to its lock file (%s) and read access to "
			    "its data file",
			    path, (o->flags & LRD_STORE_NOSUBDIR) ? "<file>-lock" : "lock.mdb");
		if (mrc == ENOMEM)
			return lrd__err(
			    LRD_ENOMEM,
			    "'%s': could not reserve a map of %llu MiB of address space "
			    "(a `ulimit -v` limit?): ask for a smaller one with "
			    "lrd_store_options.map_size (the CLI: LARDER_MAP_SIZE=256M)",
			    path, (unsigned long long)(map >> 20));
		return lrd__mdb_err(mrc, path);
	}
	/* An existing store may be larger than asked; LMDB adopts the larger size, check the cap.
	 */
	MDB_envinfo info;
	mdb_env_info(s->env, &info);
	if (s->map_max && info.me_mapsize > s->map_max)
		s->map_max = info.me_mapsize;
	int dead = 0;
	mdb_reader_check(s->env, &dead);
	return open_dbis(s, path, o);
}

/* env_open, and with a default map (shrink) retry at half the size while the reservation
 * itself fails, down to STORE_MIN_RESERVE; *map is the size finally asked for. */
static int env_open_fitting(lrd_store *s, const char *path, const lrd_store_options *o,
                            uint64_t *map, bool shrink)
{
	for (;;) {
		int rc = env_open(s, path, o, *map);
		if (rc != LRD_ENOMEM || !shrink || *map / 2 < STORE_MIN_RESERVE)
			return rc;
		mdb_env_close(s->env);
		s->env = NULL;
		*map = *map / 2 / STORE_MAP_ROUND * STORE_MAP_ROUND;
	}
}

int lrd_store_open(const char *path, const lrd_store_options *opts, lrd_store **out)
{
	if (out)
		*out = NULL;
	if (!path || !*path || !out)
		return lrd__err(LRD_EINVAL, "lrd_store_open: %s",
		                !out    ? "out is NULL"
		                : !path ? "path is NULL"
		                        : "the store path is empty");
	lrd_store_options o = opts ? *opts : (lrd_store_options){0};
	int rc = LRD__RESERVED_CHECK(&o, "lrd_store_options");
	if (!rc)
		rc = LRD__RESERVED_CHECK(&o.params, "lrd_store_options.params");
	if (rc)
		return rc;
	if (o.chunk_size && (rc = lrd_chunk_size_check(o.chunk_size)))
		return rc;
	if (o.map_max && o.map_size && o.map_size > o.map_max)
		return lrd__err(LRD_EINVAL, "map_size exceeds map_max");
	rc = check_path(path, o.flags);
	if (!rc)
		rc = lrd__store_file_check(path, o.flags);
	if (rc)
		return rc;
	uint64_t map = round_map(o.map_size ? o.map_size : lrd__map_default(path, o.flags));
	if (o.map_max && map > o.map_max)
		map = o.map_max;
	pthread_once(&atfork_once, install_atfork);

	for (;;) { /* a handle whose last reference is going: wait until its files are closed */
		pthread_mutex_lock(&opens_lock);
		int sh = share_open(path, &o, out);
		if (sh != SHARE_DYING) {
			if (sh == SHARE_NONE)
				break;
			pthread_mutex_unlock(&opens_lock);
			return sh == SHARE_OK ? LRD_OK : sh;
		}
		pthread_mutex_unlock(&opens_lock);
		sched_yield();
	}
	/* opens_lock is held until the new store is listed (or has failed) */
	lrd_store *s = lrd__calloc(1, sizeof *s);
	if (!s) {
		pthread_mutex_unlock(&opens_lock);
		return LRD_ENOMEM;
	}
	pthread_mutex_init(&s->mu, NULL);
	s->flags = o.flags;
	s->map_max = o.map_max;
	s->fork_gen = lrd__fork_gen;
	atomic_init(&s->refs, 1);
	s->chunk_size = o.chunk_size ? o.chunk_size : STORE_DEFAULT_CHUNK;
	s->threads = o.threads;
	if (lrd__codec_params_copy(&s->params, &o.params)) { /* kept: own params.inner */
		store_free(s, true);
		pthread_mutex_unlock(&opens_lock);
		return LRD_ENOMEM;
	}

	rc = env_open_fitting(s, path, &o, &map, !o.map_size);
	if (rc == LRD_OK && !(o.flags & LRD_STORE_RDONLY) &&
	    !(s->flags & LRD_STORE_WRITEMAP) != !s->writemap_recorded) {
		/* LMDB forbids mixing writers with and without MDB_WRITEMAP: follow the store */
		mdb_env_close(s->env);
		s->env = NULL;
		o.flags ^= LRD_STORE_WRITEMAP;
		s->flags = o.flags;
		rc = env_open_fitting(s, path, &o, &map, !o.map_size);
	}
	if (rc) {
		store_free(s, true);
		pthread_mutex_unlock(&opens_lock);
		return rc;
	}
	lrd__store_files_guard(path, o.flags, s->files);
	s->opens = 1;
	s->next_open = open_list;
	open_list = s;
	pthread_mutex_unlock(&opens_lock);
	*out = s;
	return LRD_OK;
}

void lrd__store_unref(lrd_store *s)
{
	if (atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	if (s->fork_gen != lrd__fork_gen) {
		/* The parent's environment: leave its handles, locks and map alone. */
		pthread_mutex_lock(&opens_lock);
		open_list_remove(s);
		pthread_mutex_unlock(&opens_lock);
		lrd__codec_params_release(&s->params);
		lrd__store_files_unguard(s->files);
		lrd__free(s);
		return;
	}
	store_free(s, false);
}

void lrd_store_close(lrd_store *s)
{
	if (!s)
		return;
	/* one close per open; at the last, the pooled txns end (in a child: memory only, they are
	 * the parent's); zero-copy values still out keep the environment open until the last is
	 * freed, and an open meanwhile takes it up again */
	pthread_mutex_lock(&opens_lock);
	if (s->opens && --s->opens == 0)
		lrd__txn_pool_free(s);
	pthread_mutex_unlock(&opens_lock);
	lrd__store_unref(s); /* the reference this open held */
}

const char *lrd_store_path(const lrd_store *s)
{
	const char *p = NULL;
	if (s && s->env && mdb_env_get_path(s->env, &p) != MDB_SUCCESS)
		p = NULL;
	return p;
}

int lrd_store_sync(lrd_store *s)
{
	int rc = lrd__store_check(s);
	if (rc)
		return rc;
	if (s->flags & LRD_STORE_RDONLY)
		return LRD_OK;
	int mrc = mdb_env_sync(s->env, 1);
	return mrc ? lrd__mdb_err(mrc, "sync") : LRD_OK;
}

int lrd_store_map_size(lrd_store *s, uint64_t *size, uint64_t *max)
{
	int rc = lrd__store_check(s);
	if (rc)
		return rc;
	MDB_envinfo info;
	mdb_env_info(s->env, &info);
	if (size)
		*size = info.me_mapsize;
	if (max)
		*max = s->map_max;
	return LRD_OK;
}

int lrd__store_key_check(const char *key, size_t *len)
{
	if (!key)
		return lrd__err(LRD_EINVAL, "key is NULL");
	size_t n = strnlen(key, LRD_STORE_MAX_KEY + 1);
	if (n == 0)
		return lrd__err(LRD_EINVAL, "key is empty");
	if (n > LRD_STORE_MAX_KEY)
		return lrd__err(LRD_EINVAL, "key is longer than %u bytes", LRD_STORE_MAX_KEY);
	if (!lrd__utf8_valid(key, n))
		return lrd__err(LRD_EINVAL, "key is not valid UTF-8");
	*len = n;
	return LRD_OK;
}
