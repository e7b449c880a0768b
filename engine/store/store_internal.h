/* Internal interface of the LMDB store, shared by engine/store_*.c. Not installed.
 *
 * Sub-databases of the environment:
 *   meta    "format" → u32 LE format version; "magic" → "larder"; "next_id" → u64 LE;
 *           "codec" → default codec name; "chunk_size" → u64 LE; "writemap" → "1" if the
 *           store was created with LRD_STORE_WRITEMAP (every writer then uses it)
 *           "w:" ‖ array id u64 BE → an unfinished batched writer (store_pending.c)
 *   objects object key (UTF-8, no NUL) → object record (store_object.c)
 *   chunks  array id u64 BE ‖ chunk index u64 BE → chunk record (store_chunks.c)
 *   kv      namespace ‖ 0x00 ‖ key → raw value
 */
#ifndef LRD_STORE_INTERNAL_H
#define LRD_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "base/base.h"
#include "engine/record/chunk.h"
#include "engine/record/chunk_pool.h"
#include "engine/record/tree.h"
#include "engine/record/wire.h"
#include "larder/store.h"

#define STORE_DEFAULT_MAP   (1ull << 30)   /* the smallest default reservation */
#define STORE_RESERVE_MAX   (256ull << 30) /* the largest default reservation (64-bit) */
#define STORE_MIN_RESERVE   (64ull << 20)  /* a failing default reservation retries down to this */
#define STORE_DEFAULT_CHUNK ((size_t)4 << 20)
#define STORE_MAX_CHUNK     ((size_t)1 << 30)
#define STORE_MAP_ROUND     (1ull << 20)
/* Reset read txns a store keeps for implicit reads (about one per thread reading at once). */
#define STORE_SNAP_POOL 16
/* A writer owning its txn commits its chunks every this many stored bytes. */
#define STORE_WRITER_BATCH ((uint64_t)32 << 20)
/* Chunks at least this large are dropped from the resident set once written or passed. */
#define STORE_RELEASE_MIN ((size_t)1 << 20)

/* A file of an open store, registered so outputs cannot overwrite it (store_file.c). */
struct lrd__fileid {
	bool set;
	dev_t dev;
	ino_t ino;
};

struct lrd_store {
	MDB_env *env;
	MDB_dbi meta, objects, chunks, kv;
	unsigned flags;         /* lrd_store_flags */
	bool writemap_recorded; /* the store was created with LRD_STORE_WRITEMAP */
	uint64_t map_max;       /* 0: no cap */
	unsigned fork_gen;      /* lrd__fork_gen at open */
	/* The handle, plus one per read snapshot (struct lrd__snap): a zero-copy value may outlive
	 * lrd_store_close, which then leaves the environment to the last of them. */
	atomic_uint refs;
	/* lrd_store_open calls this handle answers, not yet closed (under the open stores' lock,
	 * store_env.c): a store open in this process is never opened a second time, since a second
	 * LMDB environment on the same files resets or drops the first one's locks. */
	unsigned opens;
	struct lrd_store *next_open; /* the process's open stores, by data file */
	/* Map resizing needs no open transaction in this process: `active` counts them (LMDB
	 * snapshots, whether a txn handle or only mapped values hold them), `resizing` holds new
	 * ones back during one resize; nothing ever waits for `active` to drop. Entering and
	 * leaving are two atomic operations; `mu` is taken only to resize (store_txn.c, enter and
	 * leave, and store_map.c describe the protocol). */
	pthread_mutex_t mu;
	atomic_uint active;
	atomic_bool resizing;
	atomic_bool grow_pending; /* the map must grow: done when no transaction is open */
	uint64_t grow_need;       /* bytes the pending growth must fit (under mu) */
	/* Reset read txns kept for implicit reads (txn NULL): taken and given back with one
	 * atomic exchange each, a thread starting at a slot of its own (store_txn.c). */
	_Atomic(lrd_txn *) snap_pool[STORE_SNAP_POOL];
	/* defaults for arrays */
	const lrd_codec *codec; /* NULL: raw */
	lrd_codec_params params;
	size_t chunk_size;
	struct lrd__fileid files[2]; /* data and lock file, while open */
	int threads;                 /* lrd_store_options.threads */
};

/* One LMDB read snapshot, shared by the read txn handle that took it and by every value read
 * zero-copy from it (LRD_BUF_MAPPED arrays point into its pages): the MDB txn ends, and stops
 * counting in s->active, when the last of them lets go. */
struct lrd__snap {
	lrd_store *s;
	MDB_txn *t;
	atomic_uint refs;  /* the handle while it uses this snapshot, plus one per mapped value */
	bool live;         /* holds a snapshot (counted in s->active); false: MDB txn reset */
	unsigned fork_gen; /* lrd__fork_gen when taken: LMDB is left alone in a child */
};

/* Take one more reference for a value that points into the snapshot; drop one (the last ends
 * the MDB txn; in a child after fork() only memory is freed). lrd__snap_unref's argument is
 * a void * to serve as an array's release callback. */
static inline void lrd__snap_ref(struct lrd__snap *p) { atomic_fetch_add(&p->refs, 1); }
void lrd__snap_unref(void *snap);

struct lrd_txn {
	lrd_store *s;
	MDB_txn *t;             /* the LMDB txn in use: snap->t for a read txn, NULL while reset */
	struct lrd__snap *snap; /* a read txn's snapshot; NULL for a write txn, or reset */
	bool write;
	int poisoned;      /* first fatal error inside a write txn (LRD_EMAPFULL, LRD_EIO), or 0 */
	bool partial;      /* the running call has modified the txn: a failure now must poison it */
	bool reset;        /* a read txn between lrd_txn_reset and lrd_txn_renew: no snapshot */
	bool ended;        /* a failed lrd__txn_checkpoint left no LMDB txn: not counted active */
	unsigned fork_gen; /* lrd__fork_gen when begun: the creating process (see lrd__inherited) */
	lrd_store_reader *readers; /* readers reading ahead in a caller's txn (store_reader.c) */
};

/* store_reader.c: a reader on a caller's txn that reads ahead (chunk jobs reading the map) is
 * linked to the txn; before the txn ends, is reset or commits a checkpoint, this waits for
 * their jobs — unlinking them too when `ending` (the txn is then gone for them). */
void lrd__txn_readers_quiesce(lrd_txn *t, bool ending);

/* store_file.c: the data and lock file paths of a store at path (LRD_STORE_NOSUBDIR: the
 * file and "<file>-lock"); checks run before mdb_env_open (file types, an empty data file, a
 * data file shorter than its meta pages claim: LRD_EFORMAT / LRD_ECORRUPT naming the path);
 * and registration of the open files against being overwritten by an output. */
void lrd__store_file_paths(const char *path, unsigned flags, char *data, char *lock, size_t cap);
int lrd__store_file_check(const char *path, unsigned flags);
void lrd__store_files_guard(const char *path, unsigned flags, struct lrd__fileid id[2]);
void lrd__store_files_unguard(struct lrd__fileid id[2]);

/* Process generation, bumped in the child at fork(); a store opened in an older one refuses. */
extern unsigned lrd__fork_gen;
/* true if a handle stamped with fork generation gen was created by an ancestor process: ending
 * it here must free memory only and never touch LMDB (its reader slot, its writer lock) or the
 * store's mutex, which belong to the parent. Every handle records it: a txn directly, iterators,
 * readers and writers through their txn. */
static inline bool lrd__inherited(unsigned gen) { return gen != lrd__fork_gen; }

/* Drop a reference on the store (store_env.c): the last one closes the environment (in a
 * child after fork(), frees memory only). */
void lrd__store_unref(lrd_store *s);

/* Map an LMDB return code to an LRD code with a message "<what>: <mdb_strerror>". */
int lrd__mdb_err(int rc, const char *what);
/* The error of a failed mdb_txn_commit (mrc) on the store at path: LRD_ENOSPC for a full disk,
 * LRD_ELIMIT for the file size limit (RLIMIT_FSIZE), both of which LMDB may report as EIO;
 * else as lrd__mdb_err. The message names the store. */
int lrd__commit_err(const char *path, unsigned flags, int mrc);
/* LRD_OK, or LRD_EINVAL when s is NULL or was opened before a fork(). */
int lrd__store_check(const lrd_store *s);

/* Transaction bookkeeping (store_txn.c). */
int lrd__txn_begin(lrd_store *s, bool write, lrd_txn **out);
/* Resolve the txn argument of an API call: the caller's txn (checked: same store, write if
 * needed, not poisoned) or an implicit one (*own = true): a new write txn, or for a read a
 * renewed txn from the store's pool. End an implicit one with lrd__txn_done (a read goes back
 * to the pool) or lrd_txn_abort. */
int lrd__txn_use(lrd_store *s, lrd_txn *txn, bool write, lrd_txn **use, bool *own);
/* End an implicit txn: commit if rc == 0, else abort; returns the final code. With an explicit
 * txn, records a MAP_FULL/IO error that poisons it. */
int lrd__txn_done(lrd_txn *use, bool own, int rc);
/* Free the store's pooled read txns (lrd_store_close). */
void lrd__txn_pool_free(lrd_store *s);
/* Commit what a write txn holds so far and go on in a new LMDB txn under the same handle (a
 * batch of a writer that owns its txn). On failure the handle is poisoned and holds no LMDB
 * txn; only lrd_txn_abort() may follow. */
int lrd__txn_checkpoint(lrd_txn *t);
/* Record an error inside an explicit write txn if it poisons it; returns rc. */
int lrd__txn_poison(lrd_txn *t, int rc);
/* Run op(s, txn, ctx) in an implicit write txn, retrying once after growing the map on
 * LRD_EMAPFULL; with an explicit txn, just run it. `need` is the byte size known in advance
 * (0: unknown), used to grow ahead. */
int lrd__store_write(lrd_store *s, lrd_txn *txn, uint64_t need, int (*op)(lrd_txn *t, void *ctx),
                     void *ctx);

/* Map sizing and growth (store_map.c); nothing here waits for a transaction to end.
 * The map reserved when lrd_store_options.map_size is 0, for the store at path. */
uint64_t lrd__map_default(const char *path, unsigned flags);
/* Grow so that `need` more bytes fit with margin, now if no transaction of this process is
 * open; otherwise mark the growth pending (done when the last one ends) and return
 * LRD_EMAPFULL at once. LRD_EMAPFULL too when the cap is reached. */
int lrd__map_grow(lrd_store *s, uint64_t need);
/* Grow ahead if need bytes don't fit comfortably (or a growth is pending); only when no
 * transaction is open, else it stays pending. */
void lrd__map_reserve(lrd_store *s, uint64_t need);
/* With s->mu held: run a pending growth if no transaction is open (store_txn.c's leave). */
void lrd__map_quiet_locked(lrd_store *s);
/* Drop the page-table entries of the whole pages inside [p, p+n) of the map, keeping their
 * contents (the map is a shared file mapping: a later access faults them back in from the page
 * cache, dirty data included). Bounds the resident set of long streams. */
void lrd__map_unresident(const void *p, size_t n);
/* The part of mdb_txn_begin that handles MDB_MAP_RESIZED: adopt the other process's size. */
int lrd__map_follow(lrd_store *s);

/* Call fn on every entry of dbi in key order; stops at fn's first error (store_stat.c). */
int lrd__store_walk(lrd_txn *t, MDB_dbi dbi, int (*fn)(void *ctx, MDB_val *k, MDB_val *v),
                    void *ctx);

/* Keys. */
/* Build namespace ‖ 0 ‖ key into buf (LRD_STORE_MAX_KEY bytes); checks lengths. */
int lrd__kv_key(const char *ns, const void *key, size_t klen, bool allow_empty, uint8_t *buf,
                size_t *n);
int lrd__store_key_check(const char *key, size_t *len);

/* Object deletion shared by put and del (store_object.c). */
int lrd__object_drop(lrd_txn *t, const char *key, size_t klen);

/* ---- chunks (store_chunks.c) ---------------------------------------------------------------
 * A chunk record is the 32-byte chunk header (engine/record/chunk.h), 16 zero bytes, then the
 * stored bytes: in an LMDB overflow page (16-byte page header) the data then starts 64-byte
 * aligned, which lets raw chunks be viewed in place as arrays of any dtype. */
#define STORE_CHUNK_PREFIX 48
#define STORE_CHUNK_KEY    16

/* An array's reference in an object's tree, in place of its payload: three varints. */
typedef struct lrd__array_ref {
	uint64_t id;         /* array id: the first half of its chunk keys */
	uint64_t chunk_size; /* raw bytes per chunk (the last may be shorter) */
	uint64_t nchunks;
} lrd__array_ref;

int lrd__array_ref_write(lrd__writer *w, const lrd__array_ref *a);
/* Read and check against the array's description (chunk count matches its byte size). */
int lrd__array_ref_read(lrd__reader *r, const lrd__array_desc *d, lrd__array_ref *a);
/* Raw size of chunk i of an array of nbytes. */
uint64_t lrd__array_ref_chunk_raw(const lrd__array_ref *a, uint64_t nbytes, uint64_t i);

/* Allocate a fresh array id (meta "next_id") inside a write txn. */
int lrd__store_new_id(lrd_txn *t, uint64_t *id);
/* Store one chunk record; MDB errors mapped. */
int lrd__chunk_put(lrd_txn *t, uint64_t id, uint64_t idx, const lrd__chunk *hdr,
                   const void *stored);
/* Fetch and decode chunk idx of array id, expecting raw size `raw`: *stored points into the
 * map. Missing or malformed: LRD_ECORRUPT. */
int lrd__chunk_get(lrd_txn *t, uint64_t id, uint64_t idx, uint64_t raw, lrd__chunk *hdr,
                   const void **stored);
/* Delete chunks 0..n-1 of array id (missing ones are ignored). */
int lrd__chunks_drop(lrd_txn *t, uint64_t id, uint64_t n);
/* Delete every chunk of array id, however many there are. */
int lrd__chunks_drop_all(lrd_txn *t, uint64_t id);

/* Unfinished writers (store_pending.c): meta "w:" ‖ id marks array id's chunks as committed by
 * a writer of key that has not written its object record yet. */
int lrd__pending_mark(lrd_txn *t, uint64_t id, const char *key, size_t klen);
int lrd__pending_clear(lrd_txn *t, uint64_t id);
/* Remove the chunks and markers of writers whose process is gone: those of key (NULL: of
 * every key). *swept (may be NULL) receives how many writers' leftovers were removed. */
int lrd__pending_sweep(lrd_txn *t, const char *key, size_t klen, uint64_t *swept);

/* Cuts a byte stream into chunks, compresses, checksums and stores them; used by lrd_store_put
 * for arrays inside values and by lrd_store_writer. Memory: one chunk and one scratch. */
typedef struct lrd__chunk_writer {
	lrd_txn *t;
	const lrd_codec *codec;
	lrd_codec_params params;
	lrd__array_ref ref;
	lrd__cpipe pipe;      /* cuts, compresses (on the chunk pool) and hands chunks back */
	uint64_t raw, stored; /* totals, stored counting chunk records */
	uint64_t nbytes;      /* the array's byte size; more is refused */
	uint64_t written;
	uint64_t batch;   /* commit the txn after this many stored bytes (0: never) */
	uint64_t since;   /* stored bytes since the last commit */
	uint64_t batches; /* commits so far */
} lrd__chunk_writer;

/* LRD_EINVAL for a nonzero reserved tail (of the options or their params) or unknown flags;
 * checked before any transaction is touched. */
int lrd__put_options_check(const lrd_put_options *o);
/* Resolve put options against the store defaults (codec, params with typesize, chunk size). */
int lrd__put_resolve(lrd_store *s, const lrd_put_options *o, size_t itemsize,
                     const lrd_codec **codec, lrd_codec_params *params, size_t *chunk_size);
int lrd__chunk_writer_init(lrd__chunk_writer *cw, lrd_txn *t, const lrd_put_options *o,
                           size_t itemsize, uint64_t nbytes);
int lrd__chunk_writer_write(lrd__chunk_writer *cw, const void *p, size_t n);
/* Store the last partial chunk; LRD_EINVAL if fewer than nbytes were written. */
int lrd__chunk_writer_finish(lrd__chunk_writer *cw);
void lrd__chunk_writer_free(lrd__chunk_writer *cw);

/* ---- object records (store_object.c) --------------------------------------------------------
 * objects[key] = 48-byte header, then the value tree (engine/record/tree.h) whose arrays carry an
 * lrd__array_ref as payload:
 *   0 u8 version (1)  1 u8 root kind  2 u16 0  4 u32 0
 *   8 u64 raw bytes  16 u64 stored bytes  24 u64 arrays  32 u64 chunks
 *   40 u64 XXH3-64 of the tree bytes          (all little endian) */
#define STORE_OBJ_HDR     48
#define STORE_OBJ_VERSION 1

typedef struct lrd__object_header {
	uint8_t kind;
	uint64_t raw, stored, arrays, chunks, checksum;
} lrd__object_header;

/* Fetch and check the record of key: header decoded, tree checksum verified; *tree and *tlen
 * point into the map. LRD_ENOTFOUND (lrd__quiet: no detail) if absent; LRD_ECORRUPT/LRD_ECHECKSUM
 * naming the key. */
int lrd__object_fetch(lrd_txn *t, const char *key, size_t klen, lrd__object_header *h,
                      const uint8_t **tree, size_t *tlen);
/* Decode the tree of an object record into *out; arrays mapped (holding a reference on t's
 * snapshot) when mapped_ok, t is a read txn and it is possible; chunk checksums unchecked with
 * trust. */
int lrd__object_decode(lrd_txn *t, const char *key, const uint8_t *tree, size_t tlen,
                       bool mapped_ok, bool trust, lrd_value **out);
/* Decode a record's header from the bytes of the value (n of them). */
int lrd__object_header_decode(const uint8_t *p, size_t n, lrd__object_header *h);
/* Write the record of key: header from h (checksum computed) and tree bytes. */
int lrd__object_store(lrd_txn *t, const char *key, size_t klen, lrd__object_header *h,
                      const uint8_t *tree, size_t tlen);

/* Big-endian u64, for chunk keys (sorted by array, then chunk index). */
static inline void lrd__be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}
static inline uint64_t lrd__rbe64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}
#endif
