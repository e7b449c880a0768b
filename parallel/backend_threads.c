/* The "threads" backend: n_jobs threads started by configure() and joined by release(), a FIFO
 * of submitted batches and a FIFO of finished ones, each behind the pool's one mutex with a
 * condition variable per direction. The per-task cost is that of the task: the lock is taken
 * twice per batch, and auto batching makes batches long.
 *
 * Timeouts: a thread cannot be killed or interrupted safely (its task may hold locks, or memory
 * it would leak), so this backend does not replace a thread whose task is past its timeout.
 * The task sees lrd_parallel_canceled() turn true, and when it returns the item is reported as
 * LRD_ETIMEOUT and the map stops; a task that never returns keeps its thread, and the map waits
 * for it. The "processes" backend kills and replaces the worker instead. */
#include <pthread.h>

#include "parallel/parallel_internal.h"

typedef struct thr_pool {
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	lrd_parallel_batch *qhead, *qtail; /* submitted */
	lrd_parallel_batch *dhead, *dtail; /* finished */
	bool quit;
	int nthreads;
	pthread_t threads[];
} thr_pool;

static void *worker(void *arg)
{
	thr_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->qhead && !p->quit)
			pthread_cond_wait(&p->work, &p->mu);
		if (!p->qhead)
			break;
		lrd_parallel_batch *b = lrd__par_queue_pop(&p->qhead, &p->qtail);
		pthread_mutex_unlock(&p->mu);
		lrd_parallel_batch_run(b);
		pthread_mutex_lock(&p->mu);
		lrd__par_queue_push(&p->dhead, &p->dtail, b);
		pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int thr_n_jobs(int n) { return n; }

static void thr_release(void *pool)
{
	thr_pool *p = pool;
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	lrd__free(p);
}

static int thr_configure(const lrd_parallel_setup *setup, void **pool)
{
	thr_pool *p = lrd__calloc(1, sizeof *p + (size_t)setup->n_jobs * sizeof(pthread_t));
	if (!p)
		return LRD_ENOMEM;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	for (int i = 0; i < setup->n_jobs; i++) {
		int e = pthread_create(&p->threads[i], NULL, worker, p);
		if (e) {
			thr_release(p);
			return lrd__err(LRD_ENOMEM,
			                "threads backend: starting thread %d of %d failed (%d)",
			                i + 1, setup->n_jobs, e);
		}
		p->nthreads++;
	}
	*pool = p;
	return LRD_OK;
}

static int thr_submit(void *pool, lrd_parallel_batch *b)
{
	thr_pool *p = pool;
	pthread_mutex_lock(&p->mu);
	lrd__par_queue_push(&p->qhead, &p->qtail, b);
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
	return LRD_OK;
}

static int thr_collect(void *pool, double wait, lrd_parallel_batch **done)
{
	thr_pool *p = pool;
	struct timespec until;
	if (wait > 0) {
		clock_gettime(CLOCK_REALTIME, &until);
		double t = (double)until.tv_sec + (double)until.tv_nsec * 1e-9 + wait;
		until.tv_sec = (time_t)t;
		until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
	}
	pthread_mutex_lock(&p->mu);
	while (!p->dhead) {
		if (wait == 0)
			break;
		if (wait < 0)
			pthread_cond_wait(&p->done, &p->mu);
		else if (pthread_cond_timedwait(&p->done, &p->mu, &until))
			break;
	}
	lrd_parallel_batch *b = lrd__par_queue_pop(&p->dhead, &p->dtail);
	pthread_mutex_unlock(&p->mu);
	if (!b)
		return LRD_ETIMEOUT;
	*done = b;
	return LRD_OK;
}

static void thr_abort(void *pool) { (void)pool; /* queued batches see the stop flag at once */ }

const lrd_parallel_backend lrd__par_threads = {
    .abi = LRD_PARALLEL_BACKEND_ABI,
    .effective_n_jobs = thr_n_jobs,
    .configure = thr_configure,
    .submit = thr_submit,
    .collect = thr_collect,
    .abort = thr_abort,
    .release = thr_release,
};
