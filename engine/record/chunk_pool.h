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
/* Wait for every pending job, discarding results; then free. NULL is accepted. */
void lrd__chunk_queue_free(lrd__chunk_queue *q);

#endif
