/* The executor's core: one driver behind lrd_parallel_map() and the iterator. It carves the
 * inputs into batches, keeps at most pre_dispatch of them in flight on the backend, sizes them
 * automatically, collects finished ones, and turns the first failure into the map's error.
 *
 * Auto batching: the first batch holds one task; whenever a batch of the current size comes
 * back, the size moves toward target_s / (time per task), by at most x16 up or /2 down, and
 * is capped at remaining / (4 * n_jobs) so the tail of the map still spreads over every worker.
 *
 * Everything here runs in the thread that called the map (or the iterator's functions): the
 * backend is only ever entered from it, so the driver needs no locks of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallel/parallel_internal.h"

#define TARGET_S 0.05

struct lrd_parallel_iter {
	lrd__par_job job;
	lrd__par_conf conf;
	lrd_parallel_setup setup;
	char env_threads[16];
	void *pool;
	size_t next_input, inflight, done;
	size_t bs;
	bool aborted, finished;
	int err; /* the map's error once known */
	bool err_given;
	lrd_parallel_batch *spare; /* batches to reuse */
	/* iterator only: input order (ready flags) or completion order (a ring of indices) */
	bool iter;
	unsigned char *ready;
	size_t *ring, ring_head, ring_tail, next_yield, yielded;
	lrd__par_progress prog;
};

static _Thread_local size_t failed_index = SIZE_MAX;

size_t lrd_parallel_failed_index(void) { return failed_index; }

static int check_args(const char *task, const lrd_value *const *inputs, size_t n)
{
	if (!task || (n && !inputs))
		return lrd__err(LRD_EINVAL, "parallel map: NULL task or inputs");
	for (size_t i = 0; i < n; i++)
		if (!inputs[i])
			return lrd__err(LRD_EINVAL, "parallel map: input %zu is NULL", i);
	return LRD_OK;
}

/* Set up job, options and pool; on failure nothing is left to free but it->job.mu. */
static int start(lrd_parallel_iter *it, const lrd_parallel_options *opts, const char *task,
                 void *ctx, const lrd_value *const *inputs, size_t n, lrd_value **outs)
{
	failed_index = SIZE_MAX;
	pthread_mutex_init(&it->job.mu, NULL);
	int rc = check_args(task, inputs, n);
	if (!rc)
		rc = lrd_task_find(task, &it->job.fn);
	if (!rc)
		rc = lrd__par_resolve(opts, &it->conf);
	if (rc)
		return rc;
	lrd__par_job *job = &it->job;
	job->inputs = inputs;
	job->n = n;
	job->outs = outs;
	snprintf(job->task, sizeof job->task, "%s", task);
	job->ctx = ctx;
	job->timeout = it->conf.timeout;
	atomic_init(&job->stop, 0);
	it->bs = it->conf.batch_size ? it->conf.batch_size : 1;
	int per = lrd__par_cores() / it->conf.n_jobs;
	snprintf(it->env_threads, sizeof it->env_threads, "%d", per < 1 ? 1 : per);
	it->setup = (lrd_parallel_setup){
	    .n_jobs = it->conf.n_jobs,
	    .task = job->task,
	    .fn = job->fn,
	    .ctx = ctx,
	    .timeout = it->conf.timeout,
	    .max_nbytes = it->conf.max_nbytes,
	    .store = it->conf.store,
	    .env_threads = it->env_threads,
	};
	if (n == 0) {
		it->finished = true;
		return LRD_OK;
	}
	rc = it->conf.vt->configure(&it->setup, &it->pool);
	if (rc) {
		it->pool = NULL;
		return rc;
	}
	lrd__par_progress_start(&it->prog, it->conf.verbose, it->conf.n_jobs, it->conf.backend, n);
	return LRD_OK;
}

static size_t batch_size_now(const lrd_parallel_iter *it)
{
	size_t left = it->job.n - it->next_input;
	if (it->conf.batch_size)
		return it->conf.batch_size < left ? it->conf.batch_size : left;
	size_t cap = left / (4 * (size_t)it->conf.n_jobs);
	size_t bs = it->bs < cap ? it->bs : cap;
	if (bs < 1)
		bs = 1;
	return bs < left ? bs : left;
}

static void tune(lrd_parallel_iter *it, const lrd_parallel_batch *b)
{
	if (it->conf.batch_size || b->count < it->bs)
		return;
	size_t bs = it->bs;
	double ideal = b->elapsed > 0 ? (double)bs * TARGET_S / b->elapsed : 1e18;
	if (ideal > (double)bs * 16)
		ideal = (double)bs * 16;
	if (ideal < (double)bs / 2)
		ideal = (double)bs / 2;
	it->bs = ideal < 1 ? 1 : (size_t)ideal;
}

static void stop_backend(lrd_parallel_iter *it)
{
	if (!it->aborted && it->pool) {
		it->aborted = true;
		it->conf.vt->abort(it->pool);
	}
}

static int dispatch(lrd_parallel_iter *it)
{
	while (!atomic_load(&it->job.stop) && it->next_input < it->job.n &&
	       it->inflight < it->conf.pre_dispatch) {
		lrd_parallel_batch *b = it->spare;
		if (b)
			it->spare = b->next;
		else if (!(b = lrd__malloc(sizeof *b)))
			return LRD_ENOMEM;
		memset(b, 0, sizeof *b);
		b->job = &it->job;
		b->start = it->next_input;
		b->count = batch_size_now(it);
		int rc = it->conf.vt->submit(it->pool, b);
		if (rc) {
			lrd__par_fail(&it->job, b->start, rc, lrd_errmsg());
			b->next = it->spare;
			it->spare = b;
			return rc;
		}
		it->next_input += b->count;
		it->inflight++;
	}
	return LRD_OK;
}

/* Take one finished batch from the backend (waiting at most `wait` s) and account for it. */
static int collect_one(lrd_parallel_iter *it, double wait)
{
	lrd_parallel_batch *b = NULL;
	int rc = it->conf.vt->collect(it->pool, wait, &b);
	if (rc == LRD_ETIMEOUT)
		return rc;
	if (rc || !b) {
		/* The backend itself broke: what it still holds cannot be waited for. */
		lrd__par_fail(&it->job, it->next_input, rc ? rc : LRD_EINVAL,
		              rc ? lrd_errmsg() : "backend collect() gave no batch");
		it->inflight = 0;
		return rc ? rc : LRD_EINVAL;
	}
	it->inflight--;
	for (size_t i = b->start; i < b->start + b->count; i++) {
		if (!it->job.outs[i])
			continue;
		it->done++;
		if (it->ready)
			it->ready[i] = 1;
		if (it->ring)
			it->ring[it->ring_tail++] = i;
	}
	tune(it, b);
	b->next = it->spare;
	it->spare = b;
	if (atomic_load(&it->job.stop))
		stop_backend(it);
	lrd__par_progress_update(&it->prog, it->done, false);
	return LRD_OK;
}

static double wait_slice(const lrd_parallel_iter *it) { return it->prog.tty ? 0.2 : -1; }

/* Drain what is in flight after a stop and build the map's error. */
static int finish_error(lrd_parallel_iter *it)
{
	stop_backend(it);
	while (it->inflight)
		if (collect_one(it, -1) && it->inflight == 0)
			break;
	lrd__par_job *job = &it->job;
	lrd__par_progress_finish(&it->prog, false);
	if (!job->fail_code)
		return lrd__err(LRD_ECANCELED, "parallel map of '%s' canceled", job->task);
	failed_index = job->fail_index;
	int code = job->fail_code;
	int out = code == LRD_EWORKER || code == LRD_ETIMEOUT ? code : LRD_ETASK;
	if (code == LRD_ETASK || out != LRD_ETASK)
		return lrd__err(out, "task %zu of '%s': %s", job->fail_index, job->task,
		                job->fail_msg);
	return lrd__err(out, "task %zu of '%s': %s: %s", job->fail_index, job->task,
	                lrd_errname(code), job->fail_msg[0] ? job->fail_msg : lrd_strerror(code));
}

/* One step: dispatch what fits, then collect one batch. */
static int step(lrd_parallel_iter *it)
{
	dispatch(it);
	if (atomic_load(&it->job.stop))
		return LRD_ECANCELED;
	if (it->inflight == 0) {
		/* Everything came back, yet some items are neither done nor failed: a backend that
		 * dropped work. Fail rather than spin. */
		size_t i = 0;
		while (i < it->job.n && it->job.outs[i])
			i++;
		lrd__par_fail(&it->job, i, LRD_EINVAL,
		              "the backend gave a batch back without running all of it");
		return LRD_ECANCELED;
	}
	int rc = collect_one(it, wait_slice(it));
	if (rc == LRD_ETIMEOUT) {
		lrd__par_progress_update(&it->prog, it->done, true);
		return LRD_OK;
	}
	return rc;
}

/* Stop and release everything; the thread's error stays the map's (a backend deleting its
 * temporary payloads reports absent keys of its own). */
static void teardown(lrd_parallel_iter *it)
{
	lrd__errsaved err;
	lrd__errsave(&err);
	if (it->pool) {
		if (it->inflight) {
			atomic_store(&it->job.stop, 1);
			stop_backend(it);
			while (it->inflight)
				if (collect_one(it, -1) && it->inflight == 0)
					break;
		}
		it->conf.vt->release(it->pool);
		it->pool = NULL;
	}
	while (it->spare) {
		lrd_parallel_batch *b = it->spare;
		it->spare = b->next;
		lrd__free(b);
	}
	pthread_mutex_destroy(&it->job.mu);
	lrd__errrestore(&err);
}

int lrd_parallel_map(const lrd_parallel_options *opts, const char *task, void *ctx,
                     const lrd_value *const *inputs, size_t n, lrd_value **outputs)
{
	if (n && !outputs)
		return lrd__err(LRD_EINVAL, "lrd_parallel_map: NULL outputs");
	for (size_t i = 0; i < n; i++)
		outputs[i] = NULL;
	if (opts && opts->memo)
		return lrd__par_map_memo(opts, task, ctx, inputs, n, outputs);
	lrd_parallel_iter it;
	memset(&it, 0, sizeof it);
	int rc = start(&it, opts, task, ctx, inputs, n, outputs);
	while (!rc && it.done < n && !atomic_load(&it.job.stop))
		step(&it);
	if (!rc && it.done < n)
		rc = finish_error(&it);
	else if (!rc)
		lrd__par_progress_finish(&it.prog, true);
	teardown(&it);
	if (rc)
		for (size_t i = 0; i < n; i++) {
			lrd_value_free(outputs[i]);
			outputs[i] = NULL;
		}
	return rc;
}

int lrd_parallel_iter_new(const lrd_parallel_options *opts, const char *task, void *ctx,
                          const lrd_value *const *inputs, size_t n, lrd_parallel_iter **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_parallel_iter_new: NULL out");
	*out = NULL;
	if (opts && opts->memo)
		return lrd__err(LRD_EINVAL,
		                "lrd_parallel_iter_new: a memo is for lrd_parallel_map only");
	lrd_parallel_iter *it = lrd__calloc(1, sizeof *it);
	if (!it)
		return LRD_ENOMEM;
	it->iter = true;
	lrd_value **outs = lrd__calloc(n ? n : 1, sizeof *outs);
	unsigned char *ready = NULL;
	size_t *ring = NULL;
	bool unordered = false;
	int rc = outs ? LRD_OK : LRD_ENOMEM;
	if (!rc)
		rc = start(it, opts, task, ctx, inputs, n, outs);
	if (!rc) {
		unordered = it->conf.flags & LRD_PARALLEL_UNORDERED;
		if (unordered)
			ring = lrd__calloc(n ? n : 1, sizeof *ring);
		else
			ready = lrd__calloc(n ? n : 1, 1);
		if (!ring && !ready)
			rc = LRD_ENOMEM;
	}
	it->ready = ready;
	it->ring = ring;
	if (rc) {
		teardown(it);
		lrd__free(outs);
		lrd__free(ready);
		lrd__free(ring);
		lrd__free(it);
		return rc;
	}
	dispatch(it);
	*out = it;
	return LRD_OK;
}

static bool take(lrd_parallel_iter *it, size_t *index, lrd_value **out)
{
	size_t i;
	if (it->ready) {
		if (it->next_yield >= it->job.n || !it->ready[it->next_yield])
			return false;
		i = it->next_yield++;
	} else {
		if (it->ring_head == it->ring_tail)
			return false;
		i = it->ring[it->ring_head++];
	}
	*index = i;
	*out = it->job.outs[i];
	it->job.outs[i] = NULL;
	it->yielded++;
	return true;
}

int lrd_parallel_iter_next(lrd_parallel_iter *it, size_t *index, lrd_value **out)
{
	if (!it || !index || !out)
		return lrd__err(LRD_EINVAL, "lrd_parallel_iter_next: NULL argument");
	*out = NULL;
	if (it->err_given)
		return lrd__err(LRD_ECANCELED, "the parallel iterator already failed");
	for (;;) {
		if (atomic_load(&it->job.stop)) {
			it->err_given = true;
			return it->err = finish_error(it);
		}
		if (take(it, index, out))
			return LRD_OK;
		if (it->yielded == it->job.n) {
			if (!it->finished) {
				it->finished = true;
				lrd__par_progress_finish(&it->prog, true);
			}
			return LRD_ENOTFOUND;
		}
		int rc = step(it);
		if (rc && !atomic_load(&it->job.stop)) {
			it->err_given = true;
			return rc;
		}
	}
}

void lrd_parallel_iter_free(lrd_parallel_iter *it)
{
	if (!it)
		return;
	teardown(it);
	for (size_t i = 0; i < it->job.n; i++)
		lrd_value_free(it->job.outs[i]);
	lrd__free(it->job.outs);
	lrd__free(it->ready);
	lrd__free(it->ring);
	lrd__free(it);
}
