/* larder — parallel maps: one task over many values, on a pluggable backend.
 *
 * The executor runs a registered task over an array of input values and gives back one output
 * value per input, the way joblib's Parallel(n_jobs=...)(delayed(f)(x) for x in inputs) does:
 *
 *     static int square(void *ctx, const lrd_value *in, lrd_value **out)
 *     {
 *             int64_t x;
 *             int rc = lrd_value_get_int(in, &x);
 *             return rc ? rc : lrd_value_new_int(x * x, out);
 *     }
 *     lrd_task_register("square", square);
 *     lrd_parallel_options o = {.n_jobs = -1, .backend = "processes"};
 *     rc = lrd_parallel_map(&o, "square", NULL, inputs, n, outputs);
 *
 * Tasks are found by name (lrd_task_register()): a task that crosses a process boundary (the
 * "processes" backend, the MPI backend of liblarder-mpi) travels by its name, never by function
 * pointer, so every process must register the same names before it maps.
 *
 * Backends. "sequential" (the calling thread), "threads" (a pool of threads started per map),
 * "processes" (workers forked once per map and reused for every batch). More can be added with
 * lrd_parallel_register_backend(): a backend is a small vtable (configure, effective n_jobs,
 * submit a batch, collect a finished batch, abort, release) over opaque batches that it runs
 * with lrd_parallel_batch_run() in whatever thread or process it likes, or takes apart with the
 * lrd_parallel_batch_* accessors to ship it elsewhere.
 *
 * Batching. Tasks are dispatched in batches of consecutive inputs. batch_size 0 (auto) starts
 * at one task per batch and doubles or halves the size so that a batch takes about 50 ms
 * (joblib's auto batching targets 200 ms on Python's overheads); a fixed batch_size is used as
 * given.
 *
 * Failures. The first task that fails stops the map: batches not yet started are canceled,
 * running ones stop before their next task, every output already made is freed, and the map
 * returns LRD_ETASK with a message "task 17 of 'square': LRD_EINVAL: <the task's message>"
 * (lrd_parallel_failed_index() gives 17). A process worker that dies gives LRD_EWORKER naming
 * the signal or exit status and the task it was running; the pool replaces the worker. A task
 * running longer than `timeout` gives LRD_ETIMEOUT: a process worker is killed and replaced;
 * a thread cannot be killed safely, so in-process backends (sequential, threads) only raise
 * lrd_parallel_canceled() for that task and report LRD_ETIMEOUT when it returns — a task that
 * never polls lrd_parallel_canceled() and never returns hangs the map (use "processes" for hard
 * timeouts).
 *
 * Threading. lrd_parallel_map() may be called from several threads at once. Registries are
 * protected by a lock; register tasks and backends before mapping. The scoped defaults
 * (lrd_parallel_config_push/pop) are per thread, like joblib's parallel_config context.
 */
#ifndef LARDER_PARALLEL_H
#define LARDER_PARALLEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "error.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tasks ---------------------------------------------------------------------------------- */

/** A task: compute *out from in. Return LRD_OK with *out set to a new value (the executor owns
 * it from then on), or a negative LRD_E* code, with a message set by lrd_error_set(), and *out
 * left NULL. `in` is borrowed for the call only. `ctx` is the map's ctx argument; with the
 * "processes" backend it points into the worker's copy of the parent's memory as it was when
 * the pool was forked (so it may be read, but writes stay in the worker). A task may be run
 * by several threads at once. */
typedef int (*lrd_task_fn)(void *ctx, const lrd_value *in, lrd_value **out);

/** Longest task and backend name, in bytes. */
#define LRD_TASK_MAX_NAME 63

/** Register fn under name (1..LRD_TASK_MAX_NAME bytes of [A-Za-z0-9_.:-]). Registering the same
 * name with the same fn again is a no-op.
 * Errors: LRD_EINVAL (bad name, NULL fn), LRD_EEXIST (the name is taken by another fn),
 * LRD_ELIMIT (more than 1024 tasks). */
LRD_API int lrd_task_register(const char *name, lrd_task_fn fn);

/** Look up a task by name. Errors: LRD_ENOTFOUND (not registered; message names it),
 * LRD_EINVAL. */
LRD_API int lrd_task_find(const char *name, lrd_task_fn *fn);

/* ---- options -------------------------------------------------------------------------------- */

enum lrd_parallel_flags {
	LRD_PARALLEL_UNORDERED = 1u << 0, /**< iterator: yield results as they complete (joblib's
	                                       "generator_unordered"); default: input order */
	LRD_PARALLEL_NESTED = 1u << 1,    /**< a map started inside a task uses its own options;
	                                       default: it runs sequentially in that task's
	                                       worker, as joblib does */
};

/** Options of lrd_parallel_map() and lrd_parallel_iter_new(). Zero in any field means its
 * default (after the scoped defaults of lrd_parallel_config_push() and the environment); NULL
 * means all defaults. It ends with `reserved`, which must stay zero: a later release carves new
 * fields out of it, so the size never changes within a major version (CONVENTIONS.md). */
typedef struct lrd_parallel_options {
	int n_jobs;          /**< workers, joblib's meaning: n >= 1 exactly n, -1 all cores, -2 all
	                          but one, -k all but k-1 (at least 1); 0: the scoped default, else
	                          $LARDER_N_JOBS, else 1 (as joblib's None). Capped at 1024. */
	const char *backend; /**< "sequential", "threads", "processes" or a registered name; NULL:
	                          the scoped default, else $LARDER_BACKEND, else "threads" */
	size_t batch_size;   /**< tasks per batch; 0: auto (see the top of this header) */
	size_t pre_dispatch; /**< batches in flight at once; 0: 2 * n_jobs (joblib's "2*n_jobs") */
	double timeout;      /**< seconds a single task may run; 0: no limit */
	int verbose;         /**< 0: silent. > 0: progress on stderr, joblib's lines
	                          "[Parallel(n_jobs=2)]: Done  12 out of  12 | elapsed:    2.3s
	                          finished" (more lines for larger values, every batch from 10),
	                          or on a terminal one progress line with rate and ETA */
	size_t max_nbytes;   /**< "processes": inputs and results whose arrays, strings and bytes
	                          add up to more than this travel through `store` by key (stored
	                          raw, one chunk per array up to 1 GiB, and mapped by the
	                          receiver), or without a store as one copy in shared memory (a
	                          sealed memfd passed over the socket) that the receiver maps:
	                          either way such results come back LRD_BUF_MAPPED (read-only;
	                          lrd_value_clone for a writable copy), so results larger than the
	                          caller's memory can be held. Smaller ones go as larder/message.h
	                          frames through each worker's socket pair. 0: 1 MiB */
	const char *store;   /**< path of a store for large payloads, opened by the parent and by
	                          every worker after fork (in the parent it shares the caller's
	                          handle if the caller has it open: see lrd_store_open); its
	                          temporary keys ("lrd.parallel/…") are deleted before the map
	                          returns (a result still mapped keeps its snapshot and the store's
	                          environment, see store.h). NULL: no store */
	unsigned flags;      /**< lrd_parallel_flags; 0: ordered, nested maps sequential */
	/** lrd_parallel_map() only: cache every task's result in this memo (larder/memo.h), under
	 * the task's name and memo_version. Inputs already cached are loaded in the calling
	 * process and never dispatched; the others are mapped as usual and their results stored
	 * before the map returns, so a second identical map computes nothing. A result that could
	 * not be stored is still returned. NULL: no memo. The iterator refuses it (LRD_EINVAL). */
	struct lrd_memo *memo;
	const char *memo_version; /**< the memo's function version for `task`; NULL: "" */
	uint64_t reserved[6];     /**< must be zero (LRD_EINVAL otherwise) */
} lrd_parallel_options;

/** Push a scoped default: fields set (non-zero) in *opts override the defaults of every map
 * this thread starts until the matching lrd_parallel_config_pop() (joblib's parallel_config
 * context manager). Pushes nest up to 16 deep; an inner push overrides only what it sets.
 * The strings are copied. Errors: LRD_EINVAL (NULL), LRD_ELIMIT (too deep). */
LRD_API int lrd_parallel_config_push(const lrd_parallel_options *opts);

/** Pop the innermost scoped default. Errors: LRD_EINVAL (nothing pushed). */
LRD_API int lrd_parallel_config_pop(void);

/** The number of workers n_jobs resolves to on this machine (after defaults, for `backend`,
 * NULL: the default backend), or a negative error: LRD_ENOTFOUND (no such backend),
 * LRD_EINVAL (n_jobs or $LARDER_N_JOBS out of range). */
LRD_API int lrd_parallel_effective_n_jobs(int n_jobs, const char *backend);

/* ---- maps ----------------------------------------------------------------------------------- */

/** Run task `task` over inputs[0..n): outputs[i] = task(ctx, inputs[i]). The inputs are
 * borrowed and must stay unchanged until the call returns; on LRD_OK outputs[0..n) are the
 * caller's, each freed with lrd_value_free(); on failure every outputs[i] is NULL. n == 0 is a
 * no-op. outputs may be NULL when n == 0.
 * Errors: LRD_EINVAL (NULL argument, an input NULL, bad option), LRD_ENOTFOUND (no such task
 * or backend), LRD_ETASK (a task failed: its index and message), LRD_EWORKER (a worker died:
 * its signal or status and the task index), LRD_ETIMEOUT (a task ran past `timeout`),
 * LRD_ENOMEM, LRD_EIO (pipes, fork, the store), or an error of the backend's own. */
LRD_API int lrd_parallel_map(const lrd_parallel_options *opts, const char *task, void *ctx,
                             const lrd_value *const *inputs, size_t n, lrd_value **outputs);

/** The input index of the task that made the calling thread's last map or iterator fail, or
 * SIZE_MAX if it did not fail on a task (or succeeded). */
LRD_API size_t lrd_parallel_failed_index(void);

/** true inside a task that should stop early: the map is being canceled (another task
 * failed, the iterator was freed) or the task is past its timeout. Cheap; tasks that run for
 * long should poll it and return LRD_ECANCELED. false outside tasks. */
LRD_API bool lrd_parallel_canceled(void);

/** true in a thread or process that is running a task for a map. */
LRD_API bool lrd_parallel_in_worker(void);

typedef struct lrd_parallel_iter lrd_parallel_iter;

/** Start a map whose results are taken one at a time with lrd_parallel_iter_next(), in input
 * order or, with LRD_PARALLEL_UNORDERED, as they complete (joblib's return_as="generator"
 * and "generator_unordered"). Work starts at once and runs ahead by pre_dispatch batches.
 * inputs are borrowed until lrd_parallel_iter_free(). *out is the caller's.
 * Errors: as lrd_parallel_map() for setting up (LRD_EINVAL, LRD_ENOTFOUND, LRD_ENOMEM, LRD_EIO). */
LRD_API int lrd_parallel_iter_new(const lrd_parallel_options *opts, const char *task, void *ctx,
                                  const lrd_value *const *inputs, size_t n,
                                  lrd_parallel_iter **out);

/** Take the next result: *index is its input index, *out the output value (the caller's).
 * Returns LRD_ENOTFOUND (no message) when every result has been taken, or the map's error
 * (as lrd_parallel_map(): LRD_ETASK, LRD_EWORKER, LRD_ETIMEOUT, …) once, after which the
 * iterator only returns LRD_ECANCELED. */
LRD_API int lrd_parallel_iter_next(lrd_parallel_iter *it, size_t *index, lrd_value **out);

/** Cancel what has not started, wait for the tasks running (lrd_parallel_canceled() turns
 * true in them; each stops before its next task), stop the workers, free every result not taken
 * and the iterator. NULL is ignored. */
LRD_API void lrd_parallel_iter_free(lrd_parallel_iter *it);

/* ---- backends ------------------------------------------------------------------------------- */

/** A batch: consecutive inputs [start, start + count) of one map, and their outputs. Owned by
 * the executor; a backend holds it from submit() until it hands it back from collect(). */
typedef struct lrd_parallel_batch lrd_parallel_batch;

/** What a backend's pool is for, given to configure(). Valid until release(). */
typedef struct lrd_parallel_setup {
	int n_jobs;        /**< workers wanted: the backend's effective_n_jobs() of the request */
	const char *task;  /**< task name (registered in this process) */
	lrd_task_fn fn;    /**< that task's function, for in-process backends */
	void *ctx;         /**< the map's ctx */
	double timeout;    /**< seconds per task; 0: none */
	size_t max_nbytes; /**< payloads larger than this go through the store (when given) */
	const char *store; /**< store path or NULL */
	const char *env_threads; /**< "N" for OMP_NUM_THREADS & co. in workers: cores / n_jobs */
} lrd_parallel_setup;

#define LRD_PARALLEL_BACKEND_ABI 1

/** A backend. Every function is called by the thread running the map, never concurrently for
 * one pool. Return codes are LRD_OK or a negative LRD_E* with a message. */
typedef struct lrd_parallel_backend {
	unsigned abi; /**< LRD_PARALLEL_BACKEND_ABI */
	/** Workers this backend would use for a request of n >= 1 (e.g. sequential: 1). */
	int (*effective_n_jobs)(int n);
	/** Start a pool for setup; *pool is the backend's state. */
	int (*configure)(const lrd_parallel_setup *setup, void **pool);
	/** Take batch b and start (or queue) it; never blocks for long. */
	int (*submit)(void *pool, lrd_parallel_batch *b);
	/** Wait at most `wait` seconds (0: don't wait, < 0: no limit) for a submitted batch to
	 * finish and give it back in *done (each batch exactly once, in any order), with every
	 * item's output or failure recorded (lrd_parallel_batch_run() does that). LRD_ETIMEOUT
	 * (no message needed) if none finished in time. Another error ends the map. */
	int (*collect)(void *pool, double wait, lrd_parallel_batch **done);
	/** Cancel: stop running batches as soon as possible (lrd_parallel_batch_cancel()); every
	 * submitted batch must still come back from collect(). */
	void (*abort)(void *pool);
	/** Free the pool: no batch is held any more. Workers are joined or reaped. */
	void (*release)(void *pool);
} lrd_parallel_backend;

/** Add a backend under name (as task names). The vtable is borrowed and must outlive every map
 * using it. Errors: LRD_EINVAL (bad name, NULL member), LRD_EVERSION (abi), LRD_EEXIST,
 * LRD_ELIMIT (more than 32 backends). */
LRD_API int lrd_parallel_register_backend(const char *name, const lrd_parallel_backend *vt);

/** The registered backend names, in registration order, into names[0..cap); returns their
 * number (which may exceed cap). */
LRD_API size_t lrd_parallel_backends(const char **names, size_t cap);

/** Run every item of b in the calling thread: sets outputs or records the first failure, and
 * stops early if the map is canceled. Returns LRD_OK, or the failing code. */
LRD_API int lrd_parallel_batch_run(lrd_parallel_batch *b);
/** First input index of b and its number of items. */
LRD_API size_t lrd_parallel_batch_start(const lrd_parallel_batch *b);
LRD_API size_t lrd_parallel_batch_count(const lrd_parallel_batch *b);
/** Input i (0-based in the batch), borrowed. */
LRD_API const lrd_value *lrd_parallel_batch_input(const lrd_parallel_batch *b, size_t i);
/** Record the output of item i (ownership passes to the executor). */
LRD_API void lrd_parallel_batch_set_output(lrd_parallel_batch *b, size_t i, lrd_value *v);
/** Record that item i failed with code (the task's, LRD_EWORKER, LRD_ETIMEOUT, …) and message
 * msg (copied; NULL: none). Items after i count as canceled. */
LRD_API void lrd_parallel_batch_fail(lrd_parallel_batch *b, size_t i, int code, const char *msg);
/** Record how long b ran where it ran, in seconds (a backend that ships batches elsewhere
 * reports the worker's time, so auto batching sizes batches on it). */
LRD_API void lrd_parallel_batch_set_elapsed(lrd_parallel_batch *b, double seconds);
/** Ask b's map to stop (as on a failure): lrd_parallel_canceled() turns true in its tasks. */
LRD_API void lrd_parallel_batch_cancel(lrd_parallel_batch *b);
/** true if b's map is being canceled. */
LRD_API bool lrd_parallel_batch_canceled(const lrd_parallel_batch *b);

#ifdef __cplusplus
}
#endif
#endif
