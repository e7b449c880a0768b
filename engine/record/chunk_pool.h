/* The engine's chunk pool: worker threads started once (on first use) and shared by every
 * dump, load and array writer of the process, and ordered job queues over them. Not installed.
 *
 * A queue (lrd__chunk_queue) runs jobs — "compress chunk i", "decompress chunk i" — on at most
 * `threads` workers at once and hands them back in submission order, so chunks are written in
 * order. At most lrd__chunk_queue_window(q) = 2 x threads jobs are submitted and not yet retired:
 * callers keep one buffer set per window slot (job k uses slot k % window), which bounds memory.
 * With threads == 1 a job runs inside lrd__chunk_queue_submit on the caller's thread: the
 * single-threaded path, with no worker and no locking.
 *
 * A job's error message (larder's messages are per thread) is carried back and set again on the
 * thread that retires it. Workers are detached and wait for work until the process exits. After
 * fork() the child starts with no workers (pthread_atfork) and starts its own on first use; a
 * queue created before the fork must not be used in the child. */
#ifndef LRD_ENGINE_CHUNK_POOL_H
#define LRD_ENGINE_CHUNK_POOL_H

#include <stdbool.h>
#include <stddef.h>

/* Upper bound of threads a queue runs on (requests above are clamped). */
#define LRD__POOL_MAX_THREADS 64

typedef struct lrd__chunk_queue lrd__chunk_queue;
typedef int (*lrd__chunk_queue_fn)(void *arg);

/* The thread count a `threads` option means: 0 (or negative) the number of online cores,
 * clamped to [1, LRD__POOL_MAX_THREADS]. */
int lrd__pool_threads(int threads);

/* A queue running on lrd__pool_threads(threads) threads (fewer if the system refuses to start
 * more; 1 when none can be started). Errors: LRD_ENOMEM. */
int lrd__chunk_queue_new(int threads, lrd__chunk_queue **out);
/* Threads the queue really uses, and its window (2 x threads; 1 with one thread). */
int lrd__chunk_queue_threads(const lrd__chunk_queue *q);
size_t lrd__chunk_queue_window(const lrd__chunk_queue *q);
/* Jobs submitted and not yet retired. */
size_t lrd__chunk_queue_pending(const lrd__chunk_queue *q);
/* Slot of the next job to be submitted (its index modulo the window). */
size_t lrd__chunk_queue_next_slot(const lrd__chunk_queue *q);
/* Submit fn(arg); the queue must not be full (pending < window). */
void lrd__chunk_queue_submit(lrd__chunk_queue *q, lrd__chunk_queue_fn fn, void *arg);
/* Wait for the oldest pending job (there must be one); returns fn's result, with its error
 * message set on this thread, and its arg in *arg (may be NULL). */
int lrd__chunk_queue_retire(lrd__chunk_queue *q, void **arg);
/* Wait until every submitted job has run, keeping their results for retire. */
void lrd__chunk_queue_wait(lrd__chunk_queue *q);
/* Wait for every pending job, discarding results; then free. NULL is accepted. */
void lrd__chunk_queue_free(lrd__chunk_queue *q);

/* ---- the chunk compressor: an array's bytes, pushed in pieces of any size, cut into chunks of
 * cs bytes (the last one shorter), compressed on a queue and handed to `sink` in order ------- */

#include "engine/record/chunk.h"

struct lrd__cpipe;
/* Called on the pushing thread, chunk by chunk in order: store or write it. */
typedef int (*lrd__cpipe_sink)(void *ctx, uint64_t index, const lrd__chunk *hdr,
                               const void *stored);

typedef struct lrd__cpipe_slot {
	struct lrd__cpipe *p;
	const void *src; /* the chunk's bytes: caller memory or cbuf */
	size_t n;
	uint64_t index;
	uint8_t *cbuf;    /* a chunk gathered from pushes that do not cover it whole */
	uint8_t *scratch; /* compressed output, p->scap bytes */
	lrd__chunk hdr;
	const void *stored;
} lrd__cpipe_slot;

typedef struct lrd__cpipe {
	const lrd_codec *codec; /* NULL: raw chunks (checksummed only) */
	lrd_codec_params params;
	uint64_t nbytes, cs, done;
	uint64_t submitted, retired;
	uint64_t borrowed_end; /* chunks before this may point into the caller's memory */
	size_t cfill;          /* bytes gathered in the next slot's cbuf */
	size_t scap;
	lrd__chunk_queue *q;
	lrd__cpipe_slot *slots; /* lrd__chunk_queue_window(q) of them */
	lrd__cpipe_sink sink;
	void *ctx;
	int failed;
} lrd__cpipe;

/* Memory: per window slot a scratch of the codec's bound of a chunk and, only when pushes do not
 * cover chunks whole, a chunk buffer. Every chunk read from the caller's memory is compressed
 * and sunk before lrd__cpipe_push returns. threads as lrd__chunk_queue_new (no more than chunks).
 * Errors: LRD_ELIMIT (the codec cannot take chunks of cs bytes), LRD_ENOMEM. */
int lrd__cpipe_init(lrd__cpipe *p, const lrd_codec *codec, const lrd_codec_params *params,
                    uint64_t cs, uint64_t nbytes, int threads, lrd__cpipe_sink sink, void *ctx);
/* Errors: LRD_EINVAL (past nbytes), the codec's and the sink's (with "chunk N" context). */
int lrd__cpipe_push(lrd__cpipe *p, const void *src, size_t n);
/* After exactly nbytes were pushed: sink what is left. */
int lrd__cpipe_finish(lrd__cpipe *p);
/* Waits for running jobs; frees the buffers. Safe after a failed or missing init (zeroed p). */
void lrd__cpipe_destroy(lrd__cpipe *p);

/* ---- the chunk decoder: chunks fetched in order on the calling thread (read from a file into a
 * slot's buffer, or found in a map), verified and decompressed on a queue, handed back in order
 * by lrd__dpipe_next — the reading counterpart of lrd__cpipe, for whole loads and gets (each
 * chunk decoded into its place in the array) and for chunk-by-chunk readers (each into its
 * slot's own buffer) alike ------------------------------------------------------------------- */

typedef struct lrd__dpipe_slot {
	uint64_t index; /* the chunk's index (set before fetch) */
	lrd__chunk hdr; /* fetch: the validated header */
	const void
	    *stored;      /* fetch: its stored bytes (in a map, in dst, or in the slot's buffer) */
	uint8_t *dst;     /* fetch: where its raw bytes go; NULL: a raw chunk is only verified
	                     where it is (data = stored), a compressed one decoded into own */
	size_t raw;       /* fetch: its raw size */
	const void *data; /* after decoding: the chunk's raw bytes */
	uint8_t *sbuf;    /* lrd__dpipe_slot_stored: a buffer for stored bytes */
	size_t scap;
	uint8_t *own; /* lrd__dpipe_slot_own: one chunk's raw bytes */
} lrd__dpipe_slot;

/* Fill slot s for chunk s->index, on the calling thread. Its errors are passed on as they are,
 * so it names the chunk itself. */
typedef int (*lrd__dpipe_fetch)(void *ctx, lrd__dpipe_slot *s);

typedef struct lrd__dpipe {
	lrd__chunk_queue *q;
	lrd__dpipe_slot *slots; /* lrd__chunk_queue_window(q) of them */
	uint64_t end, fetched;  /* chunks [0, end); the next to fetch */
	size_t own_size;        /* bytes of a slot's own buffer: the largest chunk */
	lrd__dpipe_fetch fetch;
	void *ctx;
	const char *what; /* "'key'", "the root array": decode errors say "chunk N of <what>" */
	int fetch_rc;     /* a failed fetch, reported once the chunks before it are out */
	int failed;       /* sticky: every later call repeats msg */
	char msg[512];
} lrd__dpipe;

/* A decoder of chunks [first, end) (own_size: the largest chunk's raw size) on
 * lrd__pool_threads(threads) threads, no more than chunks. Memory: per window slot (2 x
 * threads; 1 single-threaded) the buffers fetch asks for. Errors: LRD_ENOMEM. */
int lrd__dpipe_init(lrd__dpipe *p, int threads, uint64_t first, uint64_t end, size_t own_size,
                    lrd__dpipe_fetch fetch, void *ctx, const char *what);
/* For fetch: a buffer of at least n bytes in the slot (grown; earlier contents lost). */
int lrd__dpipe_slot_stored(lrd__dpipe_slot *s, size_t n, uint8_t **out);
/* For fetch: the slot's own raw buffer (own_size bytes). */
int lrd__dpipe_slot_own(const lrd__dpipe *p, lrd__dpipe_slot *s, uint8_t **out);
/* The next chunk, decoded: first fetches (and submits) chunks until the window is full, then
 * waits for the oldest. *out is valid until the next call (its slot is then refetched); NULL
 * after the last chunk. A chunk's error is returned when its turn comes, so every chunk before
 * it is handed out first; after an error every call returns it again, and no job is left
 * running. Errors: fetch's, and the decoding's with "chunk N of <what>". */
int lrd__dpipe_next(lrd__dpipe *p, lrd__dpipe_slot **out);
/* Wait until no job runs (the chunks fetched stay for later calls): before what fetch pointed
 * into goes away. A zeroed p is accepted. */
void lrd__dpipe_quiesce(lrd__dpipe *p);
/* Every remaining chunk (for decoders whose fetch places each chunk in its final place). */
int lrd__dpipe_run(lrd__dpipe *p);
/* Waits for running jobs; frees the buffers. Safe after a failed or missing init (zeroed p). */
void lrd__dpipe_destroy(lrd__dpipe *p);

#endif
