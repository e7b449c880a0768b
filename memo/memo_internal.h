/* Internal parts of the memoizer shared by memo/memo.c (calls, locks, verbose lines) and
 * memo/memo_index.c (the index records in the store: entries, LRU, per-function lists,
 * versions, statistics; removal and limits). Uses only the public API and base/. */
#ifndef LRD_MEMO_INTERNAL_H
#define LRD_MEMO_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "base/base.h"
#include "larder/error.h"
#include "larder/memo.h"
#include "larder/store.h"

#define MEMO_MAX_NS         32u
#define MEMO_NSLOT_BITS     20u /* lock bytes: key mod 2^20 */
#define MEMO_PENDING_MAX    256u
#define MEMO_EVICT_PER_CALL 16u

/* An entry's index record (key-value "memo.<ns>.e", under the 16-byte key), little endian:
 *   0 u8 format (LRD_MEMO_FORMAT_VERSION), 1..7 zero,
 *   8 u64 stored bytes, 16 u64 created (ns since epoch), 24 u64 accessed (ns), 32 u64 compute
 *   time (ns), 40 u16 name length, 42 u16 version length, 44 name, version. */
#define MEMO_REC_HEAD 44u

typedef struct memo_rec {
	unsigned format;
	uint64_t bytes, created_ns, atime_ns, compute_ns;
	char name[LRD_MEMO_MAX_NAME + 1];
	char version[LRD_MEMO_MAX_NAME + 1];
} memo_rec;

/* Statistics record ("memo.<ns>.s" key "stats"): 7 u64 little endian, in this order. */
typedef struct memo_stat {
	uint64_t hits, misses, entries, bytes, evictions, compute_ns, saved_ns;
} memo_stat;

/* A hit waiting to be recorded (access time, hit count, time saved). */
typedef struct memo_pending {
	unsigned char key[16];
	uint64_t atime_ns, saved_ns;
} memo_pending;

struct lrd_memo {
	lrd_store *s;
	char ns[MEMO_MAX_NS + 1];
	char ns_e[MEMO_MAX_NS + 8], ns_l[MEMO_MAX_NS + 8], ns_f[MEMO_MAX_NS + 8],
	    ns_v[MEMO_MAX_NS + 8], ns_s[MEMO_MAX_NS + 8];
	lrd_memo_limits limits;
	char *codec;
	int verbose;
	char *lock_path;
	bool lock_ok; /* the lock file could be opened read-write */
	pthread_key_t tls_key;
	pthread_mutex_t mu; /* guards pending, threads */
	memo_pending *pending;
	size_t npending, cappending;
	uint64_t atime_res_ns;          /* a hit rewrites the access time only when older */
	uint64_t hits_only, saved_only; /* pending hits whose access time is recent enough */
	uint64_t last_flush_ns;
	struct memo_tls *threads; /* every thread's state, to close at lrd_memo_close */
};

/* A write transaction of the memo, with the statistics record loaded (written at commit). */
typedef struct memo_w {
	lrd_memo *m;
	lrd_txn *txn;
	memo_stat st;
} memo_w;

uint64_t memo_now_ns(void);  /* CLOCK_REALTIME */
uint64_t memo_mono_ns(void); /* CLOCK_MONOTONIC */
void memo_key_bytes(lrd_hash128 k, unsigned char out[16]);
lrd_hash128 memo_key_from(const unsigned char b[16]);
void memo_objkey(const lrd_memo *m, const unsigned char key[16], char *out, size_t cap);
void memo_hex(const unsigned char key[16], char out[33]);

/* Decode an index record: LRD_OK, LRD_EVERSION (newer format), LRD_ECORRUPT. */
int memo_rec_decode(const lrd_buf *b, memo_rec *r);
/* Look up key's record in txn: LRD_OK, LRD_ENOTFOUND, or an error. */
int memo_rec_get(lrd_memo *m, lrd_txn *txn, const unsigned char key[16], memo_rec *r);
/* Fill an lrd_memo_entry from a record (pointers into r). */
void memo_entry_fill(const unsigned char key[16], const memo_rec *r, lrd_memo_entry *e);

int memo_stat_read(lrd_memo *m, lrd_txn *txn, memo_stat *st);
int memo_w_begin(lrd_memo *m, memo_w *w);
int memo_w_commit(memo_w *w); /* writes the statistics, commits */
void memo_w_abort(memo_w *w);

/* Write (replacing) the index records of a new entry. */
int memo_index_put(memo_w *w, const unsigned char key[16], const memo_rec *r);
/* Remove an entry (its object and index records); LRD_ENOTFOUND if there is none. */
int memo_remove(memo_w *w, const unsigned char key[16]);
/* Remove every entry of function name (NULL: all); adds the count to *removed. */
int memo_remove_func(memo_w *w, const char *name, uint64_t *removed);
/* Make the function's recorded version `version`, removing its other entries; *changed is set
 * when entries of another version existed. */
int memo_set_version(memo_w *w, const char *name, const char *version, uint64_t *removed);
/* Evict LRU entries while lim is exceeded (at most max, 0: no bound); adds to *removed. */
int memo_enforce(memo_w *w, const lrd_memo_limits *lim, unsigned max, uint64_t *removed);
/* Record pending hits (access times and counts) inside w. */
int memo_apply_pending(memo_w *w, memo_pending *p, size_t n); /* sorts p */

#endif
