/* Internal interface of the parallel executor (parallel/): the job and batch structures shared
 * by the core, the batch runner and the built-in backends. Not installed.
 *
 * A job is one map or iterator. Its batches are carved from consecutive inputs and write their
 * outputs straight into the job's output slots (outs[start..start+count)), which only the
 * batch's holder touches until the backend hands the batch back from collect(): that hand-over
 * (a mutex or a pipe read) is the synchronisation. The job's cancel flag is an atomic read by
 * every running batch before each task; the first failure is recorded under the job's mutex. */
#ifndef LRD_PARALLEL_INTERNAL_H
#define LRD_PARALLEL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/base.h"
#include "larder/parallel.h"

#define LRD__PAR_MSG 512

typedef struct lrd__par_job {
	const lrd_value *const *inputs;
	size_t n;
	lrd_value **outs; /* n slots */
	char task[LRD_TASK_MAX_NAME + 1];
	lrd_task_fn fn;
	void *ctx;
	double timeout;
	atomic_int stop;
	pthread_mutex_t mu; /* guards the failure record */
	int fail_code;      /* 0: none yet */
	size_t fail_index;
	char fail_msg[LRD__PAR_MSG];
} lrd__par_job;

struct lrd_parallel_batch {
	lrd__par_job *job;
	size_t start, count;
	double elapsed;                  /* seconds the batch ran, measured where it ran */
	_Atomic double item_t0;          /* start of the running item (monotonic s), for timeouts */
	struct lrd_parallel_batch *next; /* free for the backend holding the batch */
	void *backend_data;              /* free for the backend holding the batch */
};

/* Monotonic clock, seconds. */
double lrd__par_now(void);

/* Task and backend registries (registry.c). */
int lrd__par_backend_find(const char *name, const lrd_parallel_backend **vt);

/* A FIFO of batches linked through their `next` (batch.c), for backends that queue them. */
void lrd__par_queue_push(lrd_parallel_batch **head, lrd_parallel_batch **tail,
                         lrd_parallel_batch *b);
lrd_parallel_batch *lrd__par_queue_pop(lrd_parallel_batch **head, lrd_parallel_batch **tail);

/* lrd_parallel_map() with opts->memo set (memo_attach.c). */
int lrd__par_map_memo(const lrd_parallel_options *opts, const char *task, void *ctx,
                      const lrd_value *const *inputs, size_t n, lrd_value **outputs);
bool lrd__par_name_ok(const char *name);

/* Built-in backends (backend_*.c). */
extern const lrd_parallel_backend lrd__par_sequential;
extern const lrd_parallel_backend lrd__par_threads;
extern const lrd_parallel_backend lrd__par_processes;

/* Resolved options (config.c): scoped defaults, then the environment, then built-in defaults. */
typedef struct lrd__par_conf {
	int n_jobs; /* effective, >= 1 */
	const lrd_parallel_backend *vt;
	char backend[LRD_TASK_MAX_NAME + 1];
	size_t batch_size; /* 0: auto */
	size_t pre_dispatch;
	double timeout;
	int verbose;
	size_t max_nbytes;
	const char *store;
	unsigned flags;
} lrd__par_conf;
int lrd__par_resolve(const lrd_parallel_options *opts, lrd__par_conf *c);
/* The cores of this machine (>= 1). */
int lrd__par_cores(void);

/* The batch runner's thread state (batch.c): nesting depth of batch_run in this thread, and in
 * a process worker, 1 for good. */
void lrd__par_set_worker_process(void);

/* Progress output (progress.c). */
typedef struct lrd__par_progress {
	int verbose;
	bool tty;
	int n_jobs;
	size_t total, done, next_report;
	double t0, last_draw;
} lrd__par_progress;
void lrd__par_progress_start(lrd__par_progress *p, int verbose, int n_jobs, const char *backend,
                             size_t total);
void lrd__par_progress_update(lrd__par_progress *p, size_t done, bool force);
void lrd__par_progress_finish(lrd__par_progress *p, bool ok);

/* Record a failure of item i of b (the batch.c home of lrd_parallel_batch_fail). */
void lrd__par_fail(lrd__par_job *job, size_t index, int code, const char *msg);

/* Payloads through shared memory (shm.c): at most this many descriptors per message. */
#define LRD__PAR_MAX_FDS 64
typedef struct lrd__par_fdlist {
	int fd[LRD__PAR_MAX_FDS];
	unsigned n, next; /* received, taken */
} lrd__par_fdlist;
/* v's frame in a new sealed memfd: *fd (the caller's to close) holding *len bytes. */
int lrd__par_shm_put(const lrd_value *v, int *fd, uint64_t *len);
/* Decode the memfd fd of len bytes (from lrd__par_shm_put; fd stays the caller's) into *v,
 * its arrays mapped over it (LRD_BUF_MAPPED) until the last is freed. */
int lrd__par_shm_get(int fd, uint64_t len, lrd_value **v);
/* send() all of p[0..n), the descriptors fds[0..nfds) with the first bytes (SCM_RIGHTS). */
int lrd__par_send_fds(int sock, const void *p, size_t n, const int *fds, unsigned nfds);
/* Read exactly n bytes, adding descriptors that arrive to got: 1 all read, 0 end of file
 * before the first byte, -1 error, short read or truncated descriptors. */
int lrd__par_recv_fds(int sock, void *p, size_t n, lrd__par_fdlist *got);
/* Close the descriptors of l not yet taken; empty it. */
void lrd__par_fdlist_close(lrd__par_fdlist *l);

#endif
