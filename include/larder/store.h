/* larder — the embedded LMDB store: values under keys, chunked arrays, transactions.
 *
 * A store is one LMDB environment (a directory holding data.mdb and lock.mdb, or one file with
 * LRD_STORE_NOSUBDIR). It holds:
 *   - objects: any value (see value.h) under a UTF-8 key of 1..LRD_STORE_MAX_KEY bytes. Arrays
 *     inside a value are cut into chunks, each compressed with the chosen codec (or raw) and
 *     checksummed (XXH3-64 of the stored bytes), kept in their own key space so that no array
 *     needs one huge LMDB value;
 *   - key-value namespaces: small raw byte values under (namespace, key), for the indexes,
 *     locks and leases of the memoizer and the executor, with compare-and-put;
 *   - metadata: the store format version (a newer one is refused) and the default codec and
 *     chunk size recorded when the store was created.
 *
 * Transactions. Every call takes an optional transaction. NULL runs the call in an implicit
 * transaction of its own (a write call commits before returning). An implicit read does not
 * begin one: it renews a read transaction the store keeps reset for it (a pool, about one per
 * thread reading at the same moment) and resets it after, so a single get costs about what
 * LMDB's renew + get + reset cost (figures in BENCHMARKS.md). Idle pooled transactions keep
 * their LMDB reader slots (counted in lrd_store_stat.readers); a transaction that finds every
 * slot taken frees them first. An explicit transaction groups
 * calls: all the puts of one write transaction become visible together at lrd_txn_commit(), or
 * not at all. LMDB's rules apply, and larder states them here:
 *   - one write transaction at a time per store across all threads and processes: a second
 *     lrd_txn_begin(LRD_TXN_WRITE) waits until the first ends, however long that takes (LMDB's
 *     writer lock is a robust mutex in lock.mdb with no timed form: a writer that is stopped
 *     holds every other writer; one that dies releases it). Opening a store read-write, a
 *     write with a NULL txn and a store writer owning its transaction take the same lock, and
 *     wait the same way; readers never do. (The CLI's write commands say that they wait and
 *     take a --wait SECONDS limit.) A thread that already holds a
 *     write transaction on a store and asks for another write (explicit, or implicitly through
 *     a NULL txn) gets LRD_EBUSY instead of a deadlock.
 *   - a write transaction is used only by the thread that began it.
 *   - read transactions are not tied to threads (the env is opened with MDB_NOTLS): a thread may
 *     hold several, and may hand one to another thread as long as only one thread uses it at a
 *     time. Readers never block the writer or each other; each sees the snapshot taken when it
 *     began.
 *   - long-lived read transactions keep old pages alive and make the file grow: end them.
 * Every pointer that larder returns into the map (lrd_buf from lrd_store_kv_get, chunks of an
 * array reader) is, like mdb_get's: valid only until the transaction it was read in ends (or
 * is reset), or until the next write in that transaction if it is a write transaction. It must
 * not be written to. Values are different: an array that lrd_store_get returns zero-copy
 * (LRD_BUF_MAPPED, read-only) holds a reference on the read snapshot it points into, and
 * stays valid and unchanged until the value is freed — whatever becomes of the transaction
 * (reset, renewed, committed, aborted) and whatever is written meanwhile. The snapshot itself
 * ends when the transaction and every such value are done with it.
 * What a long-held zero-copy value costs: as long as it lives, its snapshot is open. LMDB then
 * cannot reuse the pages freed by later writes (the data file grows under rewrites instead of
 * recycling space), the snapshot keeps one reader slot (max_readers), and it counts as an open
 * transaction of this process, so the map cannot grow meanwhile (see "Map size and growth": a
 * write that needs more map fails with LRD_EMAPFULL until the value is freed). Copy what you
 * keep for long (lrd_value_clone gives owned buffers), or free the value.
 *
 * Map size and growth. No write ever waits on an unrelated reader. LMDB maps a fixed amount of
 * address space but grows data.mdb only as pages are used, so by default (map_size 0) a store
 * is opened with a large map reserved up front: the free space of its filesystem plus what the
 * store already holds, at least 1 GiB, at most 256 GiB (512 MiB on 32-bit) and a quarter of
 * RLIMIT_AS. If the reservation itself fails (a `ulimit -v` limit), open retries at half the
 * size down to 64 MiB, then fails with LRD_ENOMEM naming the path and how to ask for a smaller
 * map (map_size; the CLI reads LARDER_MAP_SIZE). A store created with LRD_STORE_WRITEMAP gets a
 * data file as large as its map (sparse where the filesystem allows).
 * The map grows past that only at a moment when no transaction of this process is open: before
 * a put whose size is known would not fit, between transactions when the map is more than 80%
 * used, and after a single-call put (txn NULL) hits MDB_MAP_FULL (the put is retried after
 * growing, invisibly). If transactions of this process are open at that moment, nothing waits
 * for them: the write fails at once with LRD_EMAPFULL and the map grows when the last of them
 * ends. An explicit write transaction that runs out of map fails with LRD_EMAPFULL: every later
 * call in it returns LRD_EMAPFULL, lrd_txn_commit() aborts it and returns LRD_EMAPFULL, nothing
 * of it is committed, and the next transaction has room. (Any call that fails after it began
 * modifying an explicit transaction — a put that ran out of memory halfway, say — poisons it the
 * same way, so that half an object can never be committed; calls refused up front, such as
 * LRD_EEXIST or a bad key, leave it usable.) Growth stops at lrd_store_options.map_max. Other
 * processes adopt a map grown past theirs on their next transaction (under the same rule: with
 * other transactions of theirs open, that transaction fails with LRD_EMAPFULL). With the
 * default reservation MDB_MAP_FULL means the disk is nearly full, and a commit that runs out of
 * disk fails with LRD_ENOSPC naming the store (nothing of the transaction is committed); one
 * stopped by the file size limit (`ulimit -f`) fails with LRD_ELIMIT, saying so.
 *
 * Processes and fork(). Several processes may open one store at once. A store handle must not
 * be used across fork(): in the child every call on a handle opened by the parent returns
 * LRD_EINVAL ("store opened before fork()"), and lrd_store_close() there releases only memory.
 * Open the store again in the child. Reader slots left by killed processes are cleared on open.
 *
 * Trust. A store file is trusted as LMDB trusts it: LMDB maps data.mdb and follows its page
 * numbers without bounds checks, so a damaged store can crash the process that reads it. Open
 * only stores you would run code from. larder checks what it cheaply can at open, and refuses
 * with a message naming the path: a data file shorter than its meta pages claim (truncated, or
 * left by a compact that did not finish: LRD_ECORRUPT with both sizes), an empty data file,
 * and a data or lock file that is a FIFO, device or directory (LRD_EFORMAT). lrd_store_verify
 * is the one call that survives any damage (see there). .lrd and .npy files are not trusted:
 * every length, offset and checksum in them is checked before use.
 *
 * Files. Opening a store needs write access to its lock file (lock.mdb, or "<file>-lock"),
 * even read-only: a user who may only read the directory gets LRD_EREADONLY. While a store is
 * open, an output opened by path onto its data or lock file (lrd_dump, lrd_npy_save,
 * lrd_stream_open_path) is refused with LRD_EINVAL.
 *
 * Threading: a lrd_store is shared by all threads of the process that opened it. Readers,
 * writers and iterators belong to one thread at a time. */
#ifndef LARDER_STORE_H
#define LARDER_STORE_H

#include <stdbool.h>

#include "codec.h"
#include "common.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest object key, in bytes (LMDB's default maximum key size). */
#define LRD_STORE_MAX_KEY 511u
/** Longest key-value namespace name, in bytes. A namespace key plus its namespace name plus one
 * must fit in LRD_STORE_MAX_KEY. */
#define LRD_STORE_MAX_NS 64u
/** The store format version this build writes; stores with a newer one are refused. */
#define LRD_STORE_FORMAT_VERSION 1u

typedef struct lrd_store lrd_store;
typedef struct lrd_txn lrd_txn;

/** lrd_store_options.flags */
enum lrd_store_flags {
	LRD_STORE_RDONLY = 1u << 0,   /**< open read-only; every write returns LRD_EREADONLY */
	LRD_STORE_NOSYNC = 1u << 1,   /**< don't fsync at commit (MDB_NOSYNC): much faster; a
	                                   system crash (not a process crash) may lose the last
	                                   commits or, with a file system that reorders writes,
	                                   corrupt the store. lrd_store_sync() flushes. */
	LRD_STORE_NOSUBDIR = 1u << 2, /**< path is the data file itself (plus "<path>-lock"),
	                                   not a directory */
	LRD_STORE_NOCREATE = 1u << 3, /**< fail with LRD_ENOTFOUND instead of creating a store,
	                                   whether the path is missing or is a directory
	                                   holding no store (no data.mdb) */
	LRD_STORE_WRITEMAP = 1u << 4, /**< write through a writable map (MDB_WRITEMAP): a write
	                                   transaction's pages go straight to the file instead of
	                                   being held in memory until commit, so an array larger
	                                   than memory can be streamed in (lrd_store_writer) in
	                                   bounded memory. Costs: the data file is extended to the
	                                   full map size (sparse on most file systems), and a stray
	                                   write through a pointer into the map can corrupt the
	                                   store. Without it, LMDB keeps every page a write
	                                   transaction dirtied in memory until it ends. LMDB
	                                   forbids mixing writers with and without it, so this is
	                                   a property of the store, fixed when it is created: later
	                                   opens follow it whatever their flags say. */
};

/* Options structs (CONVENTIONS.md): zero in a field means its default, `= {0}` or NULL means
 * all defaults. Each ends with `reserved`, which must stay zero (LRD_EINVAL otherwise): a later
 * release carves new fields out of it, so the size never changes within a major version. */

/** Options of lrd_store_open(). */
typedef struct lrd_store_options {
	uint64_t map_size;       /**< initial map size in bytes; 0: a large reservation (see "Map
	                              size and growth"), or the size the store already uses if
	                              larger. Rounded up to 1 MiB. */
	uint64_t map_max;        /**< the map never grows past this; 0: no cap (bounded by address
	                              space and disk). Must be >= map_size when both are given. */
	unsigned flags;          /**< lrd_store_flags; 0: read-write, synced, directory, created */
	unsigned max_readers;    /**< concurrent read transactions, all processes; 0: 126 (LMDB's
	                              default). Only honoured by the first process to open. */
	unsigned mode;           /**< permission bits of created files; 0: 0644 */
	const char *codec;       /**< default array chunk codec, a spec (lrd_codec_parse): "blosc",
	                              "lz4:9", "zstd", …; NULL: the store's recorded default, "raw"
	                              for a new store. "raw" or "none": no compression. A new store
	                              records the name; a level in the spec is this handle's
	                              default level (it wins over params.level). */
	lrd_codec_params params; /**< default codec parameters (typesize 0 means: the array's item
	                              size); all zero: codec defaults. The store keeps a copy,
	                              params.inner included: the caller's string may go. */
	size_t chunk_size;       /**< default raw bytes per array chunk; 0: the store's recorded
	                              default, 4 MiB for a new store. Else within
	                              [LRD_CHUNK_SIZE_MIN, LRD_CHUNK_SIZE_MAX] (4 KiB..1 GiB;
	                              lrd_chunk_size_check). */
	int threads;             /**< array chunks compressed (puts, writers) and verified and
	                              decompressed (gets) at once on larder's chunk pool (shared
	                              worker threads; LMDB is only touched by the calling thread;
	                              at most 2 x threads chunks in flight). 0: the number of
	                              online cores; 1: one after another on the calling thread. */
	uint64_t reserved[8];    /**< must be zero */
} lrd_store_options;

/* ---- environment ---------------------------------------------------------------------------- */

/** Open (and create, unless LRD_STORE_NOCREATE or LRD_STORE_RDONLY) the store at path.
 * On success *out is the caller's, closed with lrd_store_close(). On failure nothing is left
 * to clean up and *out is NULL.
 * Once per process: LMDB allows one environment per file per process (a second one on the
 * same files resets or drops the first one's locks, and another process may then reuse pages
 * that this one still reads), so opening a store this process already has open (through a
 * handle, or through zero-copy values that outlived their handle) returns that same handle,
 * to be closed once per open. Its settings stay the first open's, except that an open without
 * LRD_STORE_NOSYNC turns syncing on for all; an open asking other settings (read-only on a
 * read-write handle or the reverse, another default codec, chunk size, threads, codec
 * parameters, map_max) fails with LRD_EBUSY saying which; map_size and max_readers are then
 * ignored (the map grows by itself; readers are set by the first process).
 * Errors: LRD_EINVAL (NULL argument, bad option), LRD_ENOTFOUND (no store there and not
 * creating), LRD_EFORMAT (the file is not an LMDB environment, or an LMDB environment that is
 * not a larder store), LRD_EVERSION (written by a newer larder), LRD_ECODEC (unknown codec
 * name), LRD_EBUSY (open in this process with other settings), LRD_EIO (file system errors,
 * with errno's text), LRD_ENOMEM. */
LRD_API int lrd_store_open(const char *path, const lrd_store_options *opts, lrd_store **out);

/** Close a store (once per lrd_store_open that returned it; the last close closes it). Every
 * transaction, reader, writer and iterator on it must have ended by then.
 * Values it returned zero-copy (LRD_BUF_MAPPED) may outlive the handle: the environment (its
 * map, files and reader slots) is then closed when the last of them is freed. NULL is
 * ignored. */
LRD_API void lrd_store_close(lrd_store *s);

/** The path the store was opened with (a directory, or the data file with
 * LRD_STORE_NOSUBDIR), owned by the store and valid while it is open; NULL for NULL. Clients
 * use it to place files beside the store (the memoizer's lock file). */
LRD_API const char *lrd_store_path(const lrd_store *s);

/** Flush to disk (useful with LRD_STORE_NOSYNC; LRD_OK at once on a read-only store).
 * Errors: LRD_EINVAL (s NULL, or opened before fork()), LRD_EIO (fsync failed, errno's text). */
LRD_API int lrd_store_sync(lrd_store *s);

/** The current map size (as this process maps it; grows by itself, see "Map growth") and its
 * cap lrd_store_options.map_max (0: none), in bytes. size and max may each be NULL.
 * Errors: LRD_EINVAL (s NULL, or opened before fork()). */
LRD_API int lrd_store_map_size(lrd_store *s, uint64_t *size, uint64_t *max);

/* ---- transactions --------------------------------------------------------------------------- */

enum lrd_txn_flags {
	LRD_TXN_READ = 0, /**< a read-only snapshot */
	LRD_TXN_WRITE = 1u << 0,
};

/** Begin a transaction (see the rules at the top of this header). *out is ended by exactly one
 * of lrd_txn_commit() or lrd_txn_abort().
 * Errors: LRD_EREADONLY (write on a read-only store), LRD_EBUSY (this thread already holds a
 * write transaction on this store), LRD_ELIMIT (all reader slots taken: max_readers),
 * LRD_EMAPFULL (the map could not be grown to follow another process), LRD_EIO, LRD_ENOMEM. */
LRD_API int lrd_txn_begin(lrd_store *s, unsigned flags, lrd_txn **out);

/** Commit and free txn. A read transaction just ends. On failure the transaction was aborted
 * and nothing of it is visible. NULL gives LRD_EINVAL.
 * Errors: LRD_EMAPFULL (see "Map growth"), the first error a call inside it hit if that error
 * poisoned it (LRD_EMAPFULL, LRD_EIO), LRD_ENOSPC (the disk is full), LRD_ELIMIT (the data
 * file would grow past the process's file size limit, RLIMIT_FSIZE), LRD_EIO (a write or the
 * sync failed otherwise). Each names the store. */
LRD_API int lrd_txn_commit(lrd_txn *txn);

/** Abort and free txn; nothing of it is visible. NULL is ignored. */
LRD_API void lrd_txn_abort(lrd_txn *txn);

/** Release a read transaction's snapshot but keep the handle, for lrd_txn_renew() (LMDB's
 * mdb_txn_reset): cheaper than abort + begin when a thread reads again and again. While reset
 * the txn holds no snapshot and no place in the map-resize count; every call given it fails
 * with LRD_EINVAL, except lrd_txn_renew() and lrd_txn_abort() (which frees it). Values returned
 * zero-copy (LRD_BUF_MAPPED) from it stay valid: they keep the old snapshot, and the renewed
 * txn takes a new one (a begin's cost instead of a renew's, once). Pointers from
 * lrd_store_kv_get and readers must not be touched after the reset. Resetting a reset txn
 * does nothing. Errors: LRD_EINVAL (NULL, a write transaction, or one begun before fork()). */
LRD_API int lrd_txn_reset(lrd_txn *txn);

/** Take a fresh snapshot in a reset read transaction (mdb_txn_renew). Errors: LRD_EINVAL (NULL,
 * not reset, a write transaction, or one begun before fork()), LRD_ELIMIT (no reader slot),
 * LRD_EIO; after a failure the txn stays reset (abort it or renew again). */
LRD_API int lrd_txn_renew(lrd_txn *txn);

/** true if txn is a write transaction; false for a read transaction and for NULL. */
LRD_API bool lrd_txn_is_write(const lrd_txn *txn);

/* ---- objects -------------------------------------------------------------------------------- */

/** lrd_put_options.flags */
enum lrd_put_flags {
	LRD_PUT_NOOVERWRITE = 1u << 0, /**< fail with LRD_EEXIST if the key exists */
	LRD_PUT_MAPPABLE = 1u << 1,    /**< an array stored raw goes in one chunk (up to
	                                    LRD_CHUNK_SIZE_MAX bytes, whatever chunk_size says),
	                                    so that gets can return it zero-copy
	                                    (LRD_BUF_MAPPED); compressed arrays are chunked as
	                                    usual */
};

/** How lrd_store_put() and lrd_store_writer_new() store arrays. Zero fields: the store's
 * defaults (lrd_store_options). NULL or `= {0}`: all store defaults. Read during the call only. */
typedef struct lrd_put_options {
	const char *codec; /**< chunk codec spec (lrd_codec_parse): "lz4", "blosc:9", "raw"/"none";
	                        NULL: the store's default. A level in the spec wins over
	                        params.level; another codec than the store's does not take the
	                        store's default level. */
	/** Codec parameters; each zero field takes the store's default for that field
	 * (lrd_store_options.params), then the codec's. typesize 0 with no store default: the
	 * array's item size. */
	lrd_codec_params params;
	size_t chunk_size;    /**< raw bytes per chunk; 0: the store's default; else within
	                           [LRD_CHUNK_SIZE_MIN, LRD_CHUNK_SIZE_MAX] (4 KiB..1 GiB) */
	unsigned flags;       /**< lrd_put_flags; 0: replace an existing object */
	int threads;          /**< chunks compressed at once (see lrd_store_options.threads);
	                           0: the store's setting */
	uint64_t reserved[8]; /**< must be zero */
} lrd_put_options;

/** Store value v under key (a NUL-terminated UTF-8 string of 1..LRD_STORE_MAX_KEY bytes).
 * An existing object under key is replaced atomically: its chunks are deleted in the same
 * transaction, and readers see either the old or the new object, never a mixture. The value
 * is read, never kept.
 * txn: a write transaction or NULL (implicit, retried after growing the map on MDB_MAP_FULL).
 * Errors: LRD_EINVAL (bad key: empty, too long — the message says the limit —, not UTF-8; txn
 * not a write transaction; nonzero opts->reserved), LRD_EEXIST (LRD_PUT_NOOVERWRITE and
 * the key exists), LRD_ECODEC (unknown codec or codec
 * failure), LRD_EREADONLY, LRD_EMAPFULL, LRD_EBUSY, LRD_EIO, LRD_ENOMEM. */
LRD_API int lrd_store_put(lrd_store *s, lrd_txn *txn, const char *key, const lrd_value *v,
                          const lrd_put_options *opts);

/** Load the value under key into *out (the caller's; free with lrd_value_free()), with the
 * default lrd_get_options: lrd_store_get_opts(s, txn, key, out, NULL).
 * With an explicit read transaction, an array stored raw in one chunk whose data is suitably
 * aligned in the map is returned as LRD_BUF_MAPPED: zero-copy, read-only, valid until the
 * value is freed (it keeps its snapshot: see the top of this header for what that costs). Its
 * checksum is still verified, which reads every byte once (lrd_get_options.trust skips that).
 * Other arrays, arrays read in a write transaction, and every array when txn is NULL (unless
 * lrd_get_options.mmap), are copied into owned buffers.
 * Errors: LRD_ENOTFOUND (no such key; lrd_errmsg() says "not found"), LRD_EINVAL, LRD_ECHECKSUM
 * (naming key and chunk), LRD_ECORRUPT, LRD_ECODEC (codec missing: e.g. the zstd plugin not found),
 * LRD_ENOMEM, LRD_EIO. */
LRD_API int lrd_store_get(lrd_store *s, lrd_txn *txn, const char *key, lrd_value **out);

/** How lrd_store_get_opts() reads. NULL or `= {0}`: as lrd_store_get(). */
typedef struct lrd_get_options {
	bool mmap;            /**< zero-copy (LRD_BUF_MAPPED) arrays where possible also when txn
	                           is NULL: the value then holds the implicit read's snapshot until
	                           it is freed. With an explicit read transaction arrays are
	                           zero-copy where possible anyway; never in a write transaction */
	bool trust;           /**< don't re-verify the checksums of the arrays' chunks, for every
	                           array of the value (zero-copy ones included): for callers that
	                           trust the store (see "Trust"), saving a read of every byte. The
	                           record's own small checksum is still checked, and sizes and the
	                           codecs' own checks still apply. false: verify every chunk */
	uint64_t reserved[8]; /**< must be zero */
} lrd_get_options;

/** lrd_store_get() with options (opts may be NULL). Errors: those of lrd_store_get(), and
 * LRD_EINVAL for nonzero opts->reserved. */
LRD_API int lrd_store_get_opts(lrd_store *s, lrd_txn *txn, const char *key, lrd_value **out,
                               const lrd_get_options *opts);

/** Delete the object under key and its chunks. txn: write or NULL. A damaged record (see
 * lrd_store_exists) is deleted too; its chunks are then left as orphans.
 * Errors: LRD_ENOTFOUND (no such key), LRD_EINVAL, LRD_EREADONLY, LRD_EMAPFULL, LRD_EIO. */
LRD_API int lrd_store_del(lrd_store *s, lrd_txn *txn, const char *key);

/** 1 if an intact object record exists under key, 0 if there is none, or a negative error:
 * LRD_ECHECKSUM or LRD_ECORRUPT when the record is there but damaged (its header or tree
 * checksum is wrong; the tree is checksummed, the arrays' chunks are not read), LRD_EVERSION
 * (written by a newer larder), LRD_EINVAL (bad key, NULL store), LRD_ELIMIT (txn NULL and no
 * reader slot free), LRD_EIO. A damaged record can still be replaced with lrd_store_put() and
 * deleted with lrd_store_del(); its chunks are then left as orphans, which lrd_store_verify()
 * reports. */
LRD_API int lrd_store_exists(lrd_store *s, lrd_txn *txn, const char *key);

/** Sizes of one object, without loading it. */
typedef struct lrd_object_info {
	lrd_kind kind;         /**< kind of the root value */
	uint64_t raw_bytes;    /**< bytes of the encoded value and of its arrays, uncompressed */
	uint64_t stored_bytes; /**< bytes the object and its chunks take, as stored */
	uint64_t arrays;       /**< arrays in the value */
	uint64_t chunks;       /**< chunks of those arrays */
} lrd_object_info;

/** Describe the object under key. Errors: LRD_ENOTFOUND, LRD_EINVAL, LRD_ECORRUPT, LRD_EIO. */
LRD_API int lrd_store_info(lrd_store *s, lrd_txn *txn, const char *key, lrd_object_info *info);

/* ---- listing -------------------------------------------------------------------------------- */

/** An iterator over object keys (or namespace keys) in byte order. */
typedef struct lrd_store_iter lrd_store_iter;

/** Iterate over the object keys that start with prefix (NULL or "": all), in byte order.
 * txn may be NULL: the iterator then holds a read transaction of its own until it is freed.
 * *out is the caller's, freed with lrd_store_iter_free() (before txn ends).
 * Errors: LRD_EINVAL, LRD_ELIMIT (no reader slot), LRD_ENOMEM, LRD_EIO. */
LRD_API int lrd_store_iter_new(lrd_store *s, lrd_txn *txn, const char *prefix,
                               lrd_store_iter **out);

/** Step to the next key. *key points at the key (not NUL-terminated for namespace keys; object
 * keys are NUL-terminated) and *klen receives its length; both are valid until the next step.
 * For a namespace iterator *val (may be NULL) receives the value, pointing into the map.
 * Returns LRD_OK, LRD_ENOTFOUND at the end (lrd_errmsg() says "not found"), or an error (LRD_EIO).
 */
LRD_API int lrd_store_iter_next(lrd_store_iter *it, const char **key, size_t *klen, lrd_buf *val);

/** Free an iterator (and end its own read transaction). NULL is ignored. */
LRD_API void lrd_store_iter_free(lrd_store_iter *it);

/* ---- key-value namespaces ------------------------------------------------------------------- */
/* Small raw values for the indexes and locks of larder's own clients (the memoizer, the
 * executor) and of users. A namespace is a name of 1..LRD_STORE_MAX_NS bytes without NUL
 * ("memo.index"); its keys are any bytes, 1..(LRD_STORE_MAX_KEY - strlen(ns) - 1) of them.
 * Values are stored as given (no checksum, no compression), up to 1 GiB. Namespaces never
 * mix with object keys. */

/** lrd_store_kv_put flags */
enum lrd_kv_flags {
	LRD_KV_NOOVERWRITE = 1u << 0, /**< fail with LRD_EEXIST if the key exists */
};

/** Put val under (ns, key). txn: write or NULL.
 * Errors: LRD_EINVAL (bad namespace, key length), LRD_EEXIST (LRD_KV_NOOVERWRITE and the key
 * exists), LRD_EREADONLY, LRD_EMAPFULL, LRD_EBUSY, LRD_EIO. */
LRD_API int lrd_store_kv_put(lrd_store *s, lrd_txn *txn, const char *ns, const void *key,
                             size_t klen, const void *val, size_t vlen, unsigned flags);

/** Get the value under (ns, key) without copying: *val points into the map, valid until txn
 * ends or its next write (mdb_get's rule). txn is required (read or write).
 * Errors: LRD_ENOTFOUND (lrd_errmsg() says "not found"), LRD_EINVAL, LRD_EIO. */
LRD_API int lrd_store_kv_get(lrd_txn *txn, const char *ns, const void *key, size_t klen,
                             lrd_buf *val);

/** Delete (ns, key). txn: write or NULL. Errors: LRD_ENOTFOUND, LRD_EINVAL, LRD_EREADONLY,
 * LRD_EMAPFULL, LRD_EIO. */
LRD_API int lrd_store_kv_del(lrd_store *s, lrd_txn *txn, const char *ns, const void *key,
                             size_t klen);

/** Compare-and-put, atomically: if the current value of (ns, key) equals *expected (NULL: the
 * key must be absent), replace it with *desired (NULL: delete the key). For locks and leases:
 * take a lock with expected NULL; release it with desired NULL.
 * txn: write or NULL. current (may be NULL): on LRD_ECONFLICT, a copy of the value found
 * (current->data freed by the caller with lrd_free(); {NULL, 0} when the key is absent); on
 * every other return {NULL, 0}. Errors: LRD_ECONFLICT (the current value differs, or the key
 * exists/is absent against expectation; nothing changed; in an explicit txn the txn stays
 * usable), LRD_EINVAL, LRD_EREADONLY, LRD_EMAPFULL, LRD_EBUSY (this thread already holds
 * another write transaction), LRD_ENOMEM, LRD_EIO. */
LRD_API int lrd_store_kv_cas(lrd_store *s, lrd_txn *txn, const char *ns, const void *key,
                             size_t klen, const lrd_buf *expected, const lrd_buf *desired,
                             lrd_buf *current);

/** Iterate over the keys of namespace ns that start with the bytes prefix[0..plen) (plen 0:
 * all), in byte order; lrd_store_iter_next() gives key and value. txn may be NULL (see
 * lrd_store_iter_new). Errors: as lrd_store_iter_new. */
LRD_API int lrd_store_kv_iter_new(lrd_store *s, lrd_txn *txn, const char *ns, const void *prefix,
                                  size_t plen, lrd_store_iter **out);

/* ---- chunked array streaming ---------------------------------------------------------------- */

/** A writer streaming one array into the store. The writer itself holds one chunk and one
 * compressed chunk. LMDB keeps the pages a write transaction dirtied in memory until it ends
 * (unless the store was opened with LRD_STORE_WRITEMAP), so a writer that owns its transaction
 * (txn NULL) commits its chunks in batches of 32 MiB and writes the object's record last: its
 * memory stays bounded whatever the array's size, and the object still appears atomically at
 * lrd_store_writer_finish(). Between batches other writers may commit, and lrd_store_verify()
 * counts the chunks committed so far as orphans. The chunks of a writer killed mid-way stay
 * behind as orphans (verify reports them); the next writer of the same key and
 * lrd_store_compact() remove them (only those of processes that are gone). A writer freed
 * unfinished removes its own. With the caller's transaction nothing can be committed early:
 * the whole array's dirty pages are then held until the caller commits. */
typedef struct lrd_store_writer lrd_store_writer;

/** Start writing an array of dtype dt, ndim dims of shape (C or Fortran order: the order of the
 * bytes to come) under key. The object appears at lrd_store_writer_finish(), atomically
 * replacing any object under key. txn: a write transaction that stays open until the writer
 * finishes (other calls may use it meanwhile), or NULL: the writer holds its own write
 * transaction, committed in batches and last by lrd_store_writer_finish() (see above).
 * Errors: LRD_EINVAL (key, ndim > LRD_MAX_NDIM, txn not write), LRD_EDTYPE, LRD_ELIMIT (byte
 * size overflows), LRD_ECODEC, LRD_EEXIST (LRD_PUT_NOOVERWRITE), LRD_EREADONLY, LRD_EBUSY,
 * LRD_EMAPFULL, LRD_ENOMEM, LRD_EIO. On failure *out is NULL. */
LRD_API int lrd_store_writer_new(lrd_store *s, lrd_txn *txn, const char *key, lrd_dtype dt,
                                 unsigned ndim, const uint64_t *shape, lrd_order order,
                                 const lrd_put_options *opts, lrd_store_writer **out);

/** Append n bytes of the array's data (any n; chunks are cut by the writer). Writing more bytes
 * than the array holds gives LRD_EINVAL. Errors: LRD_EINVAL, LRD_ECODEC, LRD_EMAPFULL, LRD_EIO,
 * LRD_ENOMEM; after an error the writer can only be freed. */
LRD_API int lrd_store_writer_write(lrd_store_writer *w, const void *p, size_t n);

/** Write the last chunk and the object's header (and commit, if the writer owns its
 * transaction). Errors: LRD_EINVAL (fewer bytes written than the array holds), and those of
 * lrd_store_writer_write. The writer must still be freed. */
LRD_API int lrd_store_writer_finish(lrd_store_writer *w);

/** Free a writer. An unfinished writer's chunks are discarded: with its own transaction it
 * aborts it; inside a caller's transaction the chunks written so far stay in it, unreferenced,
 * until the caller aborts (or they are removed by a later put of that key). NULL is ignored. */
LRD_API void lrd_store_writer_free(lrd_store_writer *w);

/** A reader of one stored array. */
typedef struct lrd_store_reader lrd_store_reader;

/** Open the array stored under key (its root value must be an array). txn may be NULL: the
 * reader then holds a read transaction of its own until it is freed.
 * Errors: LRD_ENOTFOUND, LRD_EINVAL (not an array), LRD_ECORRUPT, LRD_ELIMIT, LRD_ENOMEM,
 * LRD_EIO. */
LRD_API int lrd_store_reader_new(lrd_store *s, lrd_txn *txn, const char *key,
                                 lrd_store_reader **out);

/** The array's description: dtype, ndim, shape, order and byte size; any output may be NULL.
 * *shape points into the reader, valid while it lives. Errors: LRD_EINVAL (r NULL). */
LRD_API int lrd_store_reader_describe(const lrd_store_reader *r, lrd_dtype *dt, unsigned *ndim,
                                      const uint64_t **shape, lrd_order *order, uint64_t *nbytes);

/** The next chunk of data, in order: *p and *n. A raw chunk is returned without copying, a
 * pointer into the map valid until the reader's transaction ends; a compressed chunk is
 * decompressed into a buffer of the reader's, valid until the next call. Every chunk's checksum
 * is verified. In a read transaction the chunks are verified and decompressed ahead on
 * lrd_store_options.threads threads of larder's chunk pool (up to 2 x threads chunks, one
 * chunk-sized buffer each); ending, resetting or committing the transaction first waits for
 * them, so a reader may still be freed after its caller's transaction ended. A damaged chunk's
 * error comes at its turn, after every chunk before it, and again on every later call. After
 * the last chunk it returns LRD_OK with *n = 0 (*p NULL), on every further call too, as
 * lrd_array_reader_next does.
 * Errors: LRD_EINVAL (NULL argument), LRD_ECHECKSUM / LRD_ECORRUPT (naming key and chunk),
 * LRD_ECODEC, LRD_ENOMEM, LRD_EIO. */
LRD_API int lrd_store_reader_next(lrd_store_reader *r, const void **p, size_t *n);

/** Copy len bytes of the array's data from byte offset off into dst (caller's, >= len bytes),
 * reading only the chunks that hold them. Errors: LRD_EINVAL (range beyond the array), and
 * those of lrd_store_reader_next. */
LRD_API int lrd_store_reader_read_range(lrd_store_reader *r, uint64_t off, void *dst, size_t len);

/** A contiguous zero-copy view of the whole array's data: possible when it is stored raw in one
 * chunk (or is empty). *p is valid until the reader's transaction ends, read-only. The checksum
 * is verified unless `trust` is true (verifying reads every byte).
 * Errors: LRD_EUNSUPPORTED (compressed or in several chunks: use next/read_range),
 * LRD_ECHECKSUM, LRD_EIO. */
LRD_API int lrd_store_reader_view(lrd_store_reader *r, bool trust, const void **p, size_t *n);

/** Free a reader (and end its own read transaction). NULL is ignored. */
LRD_API void lrd_store_reader_free(lrd_store_reader *r);

/* ---- whole-store operations ----------------------------------------------------------------- */

/** Per-codec totals in lrd_store_stat. */
typedef struct lrd_store_codec_stat {
	unsigned id; /**< codec id, LRD_CODEC_ID_RAW (0) for raw chunks */
	uint64_t chunks;
	uint64_t raw_bytes;
	uint64_t stored_bytes;
} lrd_store_codec_stat;

typedef struct lrd_store_stat {
	uint64_t objects;      /**< number of objects */
	uint64_t arrays;       /**< arrays inside them */
	uint64_t chunks;       /**< array chunks */
	uint64_t raw_bytes;    /**< encoded values plus array data, uncompressed */
	uint64_t stored_bytes; /**< encoded values plus chunks as stored */
	uint64_t kv_entries;   /**< entries in all key-value namespaces */
	uint64_t map_size;     /**< current map size */
	uint64_t map_used;     /**< bytes of the map in use (last page) */
	uint64_t page_size;
	unsigned readers; /**< reader slots in use */
	unsigned max_readers;
	unsigned ncodecs;                /**< entries used in codecs[] */
	lrd_store_codec_stat codecs[16]; /**< per codec id, in id order */
} lrd_store_stat;

/** Totals of the store into *st (the caller's), read in one snapshot (txn, or an implicit read
 * transaction). Walks every object and chunk header: O(number of chunks).
 * Errors: LRD_EINVAL (NULL argument), LRD_ELIMIT (no reader slot), LRD_ECORRUPT, LRD_EIO. */
LRD_API int lrd_store_stat_get(lrd_store *s, lrd_txn *txn, lrd_store_stat *st);

/** Called by lrd_store_verify for every damaged object: key, chunk index (-1: the object's
 * header) and the error with its message. Return non-zero to stop. */
typedef int (*lrd_verify_fn)(void *ctx, const char *key, int64_t chunk, int code, const char *msg);

typedef struct lrd_verify_report {
	uint64_t objects, chunks; /**< checked */
	uint64_t bad_objects;     /**< objects with at least one problem */
	uint64_t orphan_chunks;   /**< chunks no object references */
} lrd_verify_report;

/** Check every object of the store in one read snapshot: its header decodes, each of its
 * chunks exists, decompresses to its recorded size and matches its checksum; and no chunk is
 * left unreferenced. cb (may be NULL) hears of each problem; rep (may be NULL) gets counts.
 *
 * What verify promises: it survives any damage. The walk runs in a forked child process that
 * opens the store afresh read-only; if reading a damaged B-tree page makes LMDB fault or fail
 * an assertion, the child dies and verify reports damage (LRD_ECORRUPT, the signal and the
 * object being checked named) instead of taking the caller down. LMDB's own code is named in
 * the message (MDB_CORRUPTED, MDB_PAGE_NOTFOUND). The callback runs in the calling process.
 *
 * Returns LRD_OK when all is well; for damage LRD_ECHECKSUM or LRD_ECORRUPT (the first
 * problem, its message naming key and chunk); LRD_ECODEC when nothing is damaged but some
 * chunk could not be checked (its codec plugin is not loaded, or the codec fails on bytes that
 * match their checksum): a failure to check, not damage; LRD_EIO/LRD_ENOMEM when the walk
 * could not run (fork, pipe). */
LRD_API int lrd_store_verify(lrd_store *s, lrd_verify_fn cb, void *ctx, lrd_verify_report *rep);

/** Write a compacted copy of the store (free pages omitted, mdb_env_copyfd2 with
 * MDB_CP_COMPACT) to dst, in the store's own form: a directory (created if missing; must not
 * hold a data.mdb) for a directory store, a file (must not exist) for an LRD_STORE_NOSUBDIR
 * store. The copy is written to a temporary file beside its final name, synced, and renamed
 * into place only when complete: a compact that is killed or fails (a full disk) leaves no
 * data file behind, and a directory it created is removed. The copy is one consistent
 * snapshot; writers may go on meanwhile. The copy opens as a store of its own. First, unless
 * the store is open read-only, the chunks left by writers killed mid-way (see
 * lrd_store_writer) are removed from the store itself, in one write transaction, so neither
 * holds them afterwards. Errors: LRD_EEXIST (dst already holds data), LRD_EINVAL, LRD_ENOSPC,
 * LRD_EIO. */
LRD_API int lrd_store_compact(lrd_store *s, const char *dst);

#ifdef __cplusplus
}
#endif
#endif
