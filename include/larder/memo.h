/* larder — the memoizer: compute a function's result once, keep it in a store, across threads,
 * processes and crashes (joblib.Memory in C).
 *
 * Keys. A call's key is XXH3-128 (lrd_value_hash128) of the function's name, its version
 * string and its arguments (minus the ignored ones): the same arguments give the same key
 * whatever the layout of their arrays or the insertion order of their maps.
 *
 * Storage. A memo lives in a store (store.h) under a namespace, so several memos share a store.
 * Each entry is a stored object "memo/<namespace>/<32 hex digits of the key>" (the result,
 * arrays compressed with the memo's codec) plus index records in key-value namespaces
 * "memo.<namespace>.*" (the entry, an LRU list, a per-function list, the functions' versions,
 * the statistics). The result and its index records are written in one write transaction, so
 * whatever crashes, an entry is whole or absent.
 *
 * A call (lrd_memo_call):
 *   1. hashes the arguments and looks the key up in one read snapshot (no write lock). A hit
 *      loads the result and returns it. Its access time and the hit count are recorded later,
 *      in batches (every 256 hits or second, and at lrd_memo_close / stats / reduce), in one
 *      write transaction; the access time only when the recorded one is older than
 *      atime_resolution_s (60 s by default), so a hit on an entry used recently writes nothing
 *      but the counters.
 *   2. on a miss, takes the key's compute lock: an open-file-description byte-range lock
 *      (fcntl F_OFD_SETLKW) on byte (key mod 2^20) of a lock file beside the store
 *      ("<store dir>/memo.lock", or "<data file>-memo.lock" with LRD_STORE_NOSUBDIR). A caller
 *      that finds the lock taken — another thread, or another process — sleeps in the kernel
 *      until the holder releases it, then looks again: it finds the result (a hit, "waited") or,
 *      if the holder died (the kernel drops its locks at death, SIGKILL included) or failed,
 *      computes itself. So a key is computed once however many callers want it, waiters wake
 *      as soon as the result is committed, and nobody polls.
 *   3. runs the function with no store transaction open and no lock but its key's, so a
 *      memoized function may call memoized functions, itself included (recursion costs the
 *      memo one small stack frame per level). A call of a key this thread is already computing
 *      (a cycle) fails with LRD_EBUSY instead of deadlocking. Two keys of one thread that share
 *      a lock byte (one in 2^20) share the lock: the inner one is then not protected against a
 *      concurrent computation elsewhere (it may be computed twice; never wrongly).
 *   4. stores the result and its index records in one write transaction, releases the lock,
 *      and returns the result. A function that fails is not cached: its error comes back as
 *      it returned it. A result that cannot be stored (map full at map_max, disk full) is
 *      returned anyway, with info.cached false (and a line at verbose >= 1).
 * Limits (bytes, items, age) are enforced after each store at a bounded cost — at most 16
 * least-recently-used entries evicted per call — and fully by lrd_memo_reduce().
 *
 * Bad entries. A damaged result (checksum mismatch, corrupt record) is a miss: recomputed and
 * replaced, reported at verbose >= 1, never returned. An entry written by a newer memo format
 * is refused with LRD_EVERSION; so is a namespace whose memo format is newer (at open).
 *
 * Zero-copy hits. Results are stored with LRD_PUT_MAPPABLE: an array stored raw (codec "raw",
 * or NULL on a store whose default is raw) is one chunk (up to 1 GiB) and comes back from a hit or
 * from lrd_memo_ref_load() as LRD_BUF_MAPPED: read-only, valid until the value is freed, whatever
 * is written, evicted or cleared meanwhile (the value holds its read snapshot; store.h says
 * what a long-held one costs). Compressed arrays come back in owned buffers (LRD_BUF_OWNED).
 *
 * Threads and processes. A lrd_memo may be used by any number of threads at once (each thread
 * keeps its own descriptor of the lock file, as OFD locks need). Processes open the store and
 * their memo themselves; a memo must not be used across fork() (open it again in the child).
 * Versions: a function's entries of another version are deleted when a call with the new
 * version first stores a result (said at verbose >= 1); two processes alternating between two
 * versions of one function keep invalidating each other. */
#ifndef LARDER_MEMO_H
#define LARDER_MEMO_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "store.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The memo format this build writes; namespaces and entries with a newer one are refused. */
#define LRD_MEMO_FORMAT_VERSION 1u
/** Longest function name and version string, in bytes. */
#define LRD_MEMO_MAX_NAME 255u

typedef struct lrd_memo lrd_memo;

/** Limits of a memo (lrd_memo_options.limits, lrd_memo_reduce). Zero in a field: no limit. */
typedef struct lrd_memo_limits {
	uint64_t bytes; /**< stored bytes of all results (as stored, compressed); 0: no limit */
	uint64_t items; /**< number of entries; 0: no limit */
	double age_s;   /**< entries not accessed for longer than this many seconds go; 0: none */
} lrd_memo_limits;

/** Options of lrd_memo_open(). Zero in any field means its default; NULL means all defaults. */
typedef struct lrd_memo_options {
	const char *name_space; /**< namespace of this memo in the store, 1..32 bytes of
	                             [A-Za-z0-9_.-]; NULL: "default" */
	lrd_memo_limits limits; /**< enforced after every store (bounded cost) and by
	                             lrd_memo_reduce(NULL); all zero: no limits */
	const char *codec;      /**< codec spec of the results' array chunks ("lz4", "blosc:9"; see
	                             lrd_codec_parse); NULL: the store's default */
	int verbose;            /**< 0: silent; 1: a line per miss on stderr
	                             ("[Memory] Calling f(3)", "[Memory] f: miss, 12.0ms, 8.0KB
	                             stored"), versions invalidated, damaged entries, results not
	                             cached; 2: also a line per hit; 0 by default */
	const char *lock_path;  /**< the lock file; NULL: beside the store (see above) */
	double atime_resolution_s; /**< a hit rewrites an entry's access time only when the
	                                recorded one is older than this (as relatime does), so
	                                hits on many keys cost no index writes; LRU order is
	                                exact to this resolution; 0: 60 s; never more than a
	                                quarter of limits.age_s */
	uint64_t reserved[7];      /**< must be zero */
} lrd_memo_options;

/** What an entry looks like (lrd_memo_list, validation callbacks). */
typedef struct lrd_memo_entry {
	lrd_hash128 key;
	char key_hex[33];    /**< the key as 32 hex digits (hi then lo) and a NUL */
	const char *func;    /**< function name, valid during the callback */
	const char *version; /**< function version, valid during the callback */
	uint64_t bytes;      /**< stored bytes of the result */
	double created;      /**< seconds since the epoch when it was stored */
	double accessed;     /**< seconds since the epoch of the last recorded access */
	double compute_s;    /**< seconds the function took */
} lrd_memo_entry;

/** A memoized function. fn computes *result (a new root the memo takes over) from args (a map
 * or a list, or any value; borrowed) and returns LRD_OK, or an error code (not cached; the
 * memo call returns it). ctx is lrd_memo_call's. */
typedef int (*lrd_memo_fn)(const lrd_value *args, lrd_value **result, void *ctx);

/** Describes a memoized function; kept by the caller, read at every call. */
typedef struct lrd_memo_func {
	const char *name;          /**< required, 1..LRD_MEMO_MAX_NAME bytes: part of the key */
	const char *version;       /**< part of the key: a new version invalidates the old entries;
	                                NULL: "" */
	lrd_memo_fn fn;            /**< required */
	const char *const *ignore; /**< NULL-terminated names of map arguments left out of the
	                                key (args a map); NULL: none */
	double age_limit_s;        /**< an entry older than this (since stored) is a miss and is
	                                recomputed (joblib's expires_after); 0: none */
	/** Optional (joblib's cache_validation_callback): called on a hit with the entry; return
	 * false to make it a miss (recomputed and replaced). NULL: every entry is valid. */
	bool (*validate)(const lrd_memo_entry *e, void *ctx);
} lrd_memo_func;

/** What a call did (lrd_memo_call, lrd_memo_shelve). */
typedef struct lrd_memo_info {
	bool hit;         /**< the result came from the store */
	bool waited;      /**< the caller waited for another caller computing the same key */
	bool cached;      /**< the result is in the store now (false: storing failed, see above) */
	bool damaged;     /**< a damaged entry was found and replaced */
	double compute_s; /**< seconds the function took (on a hit: when it was computed) */
	double total_s;   /**< seconds this call took */
	uint64_t bytes;   /**< stored bytes of the result (0 if not cached) */
	lrd_hash128 key;
} lrd_memo_info;

/** Persistent statistics of a memo namespace (all processes), plus this handle's unflushed
 * hits. */
typedef struct lrd_memo_stats {
	uint64_t hits, misses; /**< calls served from the store / computed */
	uint64_t entries;      /**< entries now */
	uint64_t bytes;        /**< stored bytes of their results */
	uint64_t evictions;    /**< entries removed by limits */
	double compute_s;      /**< seconds spent computing results (misses) */
	double saved_s;        /**< seconds of computation saved by hits */
} lrd_memo_stats;

/** Open the memo of namespace opts->name_space in store s (which must stay open until
 * lrd_memo_close). Creates the namespace's records on first use unless the store is read-only.
 * *out is the caller's, closed with lrd_memo_close(); NULL on failure.
 * Errors: LRD_EINVAL (NULL argument, bad namespace name, negative age limit, nonzero
 * reserved), LRD_EVERSION (the namespace was
 * written by a newer memo format), LRD_EIO (the lock file cannot be created: path and errno's
 * text), LRD_ECODEC (unknown codec), LRD_ENOMEM, and the store's errors. */
LRD_API int lrd_memo_open(lrd_store *s, const lrd_memo_options *opts, lrd_memo **out);

/** Flush pending access times and hit counts (errors are ignored: only statistics are lost),
 * and free the memo. No call may be running on it. NULL is ignored. */
LRD_API void lrd_memo_close(lrd_memo *m);

/** Call f on args through the memo: *result (the caller's, freed with lrd_value_free) is the
 * stored result on a hit, the fresh one on a miss. info may be NULL.
 * Errors: LRD_EINVAL (NULL argument, bad descriptor), LRD_EBUSY (a cycle: this thread is
 * already computing this key), LRD_EVERSION (entry of a newer memo format), whatever f
 * returned (f failed; not cached), LRD_EIO (lock file), LRD_ENOMEM, and the store's errors
 * on reading. On failure *result is NULL. */
LRD_API int lrd_memo_call(lrd_memo *m, const lrd_memo_func *f, const lrd_value *args, void *ctx,
                          lrd_value **result, lrd_memo_info *info);

/** 1 if a call of f on args would be a hit now (stored, not expired, valid), 0 if not; or a
 * negative error (LRD_EINVAL, LRD_EVERSION, the store's). Computes nothing. */
LRD_API int lrd_memo_contains(lrd_memo *m, const lrd_memo_func *f, const lrd_value *args,
                              void *ctx);

/** A reference to a stored result (lrd_memo_shelve). */
typedef struct lrd_memo_ref lrd_memo_ref;

/** Like lrd_memo_call, but the result is not loaded: *ref names the stored result, loaded by
 * lrd_memo_ref_load() later (as often as wanted). On a miss the result is computed and stored
 * (and freed). If it could not be stored, fails with LRD_EMAPFULL / LRD_ENOSPC (nothing to
 * refer to). *ref is the caller's, freed with lrd_memo_ref_free(). Errors: as lrd_memo_call. */
LRD_API int lrd_memo_shelve(lrd_memo *m, const lrd_memo_func *f, const lrd_value *args, void *ctx,
                            lrd_memo_ref **ref, lrd_memo_info *info);

/** Load the result a reference names into *out (the caller's). The memo must be open.
 * Errors: LRD_ENOTFOUND (evicted or cleared since: the message says so), LRD_ECHECKSUM,
 * LRD_ECORRUPT, and the store's errors. */
LRD_API int lrd_memo_ref_load(const lrd_memo_ref *ref, lrd_value **out);

/** The stored object key of the result ("memo/<ns>/<hex>"), valid while ref lives. */
LRD_API const char *lrd_memo_ref_key(const lrd_memo_ref *ref);

/** Free a reference (the stored result stays). NULL is ignored. */
LRD_API void lrd_memo_ref_free(lrd_memo_ref *ref);

/** Delete the entry of one call (f, args). Errors: LRD_ENOTFOUND (not cached), LRD_EINVAL,
 * and the store's. */
LRD_API int lrd_memo_forget(lrd_memo *m, const lrd_memo_func *f, const lrd_value *args);

/** Delete every entry of the function named func (NULL: all entries of the namespace), in one
 * write transaction; *removed (may be NULL) gets the count. Errors: LRD_EINVAL, the store's. */
LRD_API int lrd_memo_clear(lrd_memo *m, const char *func, uint64_t *removed);

/** Evict least recently used entries until limits (NULL: the memo's own) hold, and entries
 * idle for longer than limits->age_s; *removed (may be NULL) gets the count.
 * Errors: the store's. */
LRD_API int lrd_memo_reduce(lrd_memo *m, const lrd_memo_limits *limits, uint64_t *removed);

/** The namespace's statistics (after flushing this handle's pending hits). Errors: the
 * store's. */
LRD_API int lrd_memo_stats_get(lrd_memo *m, lrd_memo_stats *st);

/** Called by lrd_memo_list for each entry; return non-zero to stop (returned by list). */
typedef int (*lrd_memo_list_fn)(const lrd_memo_entry *e, void *ctx);

/** Call cb for each entry of function func (NULL: all), in key order, in one read snapshot.
 * Errors: LRD_EVERSION (newer entry format), LRD_ECORRUPT (unreadable index record), the
 * store's, or cb's non-zero return. */
LRD_API int lrd_memo_list(lrd_memo *m, const char *func, lrd_memo_list_fn cb, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
