/* The "sequential" backend: batches queue up in submit() and run, one per collect(), in the
 * thread that runs the map. No worker, no locking; a timeout can only be reported after the
 * task returns (or when it polls lrd_parallel_canceled()). */
#include "parallel/parallel_internal.h"

typedef struct seq_pool {
	lrd_parallel_batch *head, *tail;
} seq_pool;

static int seq_n_jobs(int n)
{
	(void)n;
	return 1;
}

static int seq_configure(const lrd_parallel_setup *setup, void **pool)
{
	(void)setup;
	seq_pool *p = lrd__calloc(1, sizeof *p);
	if (!p)
		return LRD_ENOMEM;
	*pool = p;
	return LRD_OK;
}

static int seq_submit(void *pool, lrd_parallel_batch *b)
{
	seq_pool *p = pool;
	b->next = NULL;
	if (p->tail)
		p->tail->next = b;
	else
		p->head = b;
	p->tail = b;
	return LRD_OK;
}

static int seq_collect(void *pool, double wait, lrd_parallel_batch **done)
{
	(void)wait;
	seq_pool *p = pool;
	lrd_parallel_batch *b = p->head;
	if (!b)
		return lrd__err(LRD_EINVAL, "sequential backend: collect() with nothing submitted");
	p->head = b->next;
	if (!p->head)
		p->tail = NULL;
	lrd_parallel_batch_run(b);
	*done = b;
	return LRD_OK;
}

static void seq_abort(void *pool) { (void)pool; /* batch_run sees the job's stop flag */ }

static void seq_release(void *pool) { lrd__free(pool); }

const lrd_parallel_backend lrd__par_sequential = {
    .abi = LRD_PARALLEL_BACKEND_ABI,
    .effective_n_jobs = seq_n_jobs,
    .configure = seq_configure,
    .submit = seq_submit,
    .collect = seq_collect,
    .abort = seq_abort,
    .release = seq_release,
};
