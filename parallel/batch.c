/* Batches: running one in the calling thread, and the accessors a backend uses to take one
 * apart and fill it in elsewhere. lrd_parallel_batch_run() is the only place a task is called:
 * it checks the job's cancel flag before each task, times items when the map has a timeout,
 * and records the first failure (lrd__par_fail, under the job's mutex: failures are rare, and
 * the lock orders them so that the first real failure wins over the cancellations it causes).
 * Thread-local state says which batch this thread is running (for lrd_parallel_canceled()) and
 * whether it is a worker (for nesting). */
#include <stdio.h>
#include <string.h>

#include "parallel/parallel_internal.h"

static _Thread_local lrd_parallel_batch *current;
static _Thread_local int worker_depth;
static bool worker_process;

void lrd__par_set_worker_process(void) { worker_process = true; }

bool lrd_parallel_in_worker(void) { return worker_depth > 0 || worker_process; }

bool lrd_parallel_canceled(void)
{
	lrd_parallel_batch *b = current;
	if (!b)
		return false;
	if (atomic_load_explicit(&b->job->stop, memory_order_relaxed))
		return true;
	return b->job->timeout > 0 && lrd__par_now() - b->item_t0 > b->job->timeout;
}

void lrd__par_fail(lrd__par_job *job, size_t index, int code, const char *msg)
{
	bool stopping = atomic_load(&job->stop);
	pthread_mutex_lock(&job->mu);
	/* A task giving up because the map was already stopping is not the map's error. */
	if (!job->fail_code && !(stopping && code == LRD_ECANCELED)) {
		job->fail_code = code;
		job->fail_index = index;
		snprintf(job->fail_msg, sizeof job->fail_msg, "%s", msg ? msg : "");
	}
	pthread_mutex_unlock(&job->mu);
	atomic_store(&job->stop, 1);
}

int lrd_parallel_batch_run(lrd_parallel_batch *b)
{
	lrd__par_job *job = b->job;
	lrd_parallel_batch *saved = current;
	current = b;
	worker_depth++;
	double t0 = lrd__par_now();
	int rc = LRD_OK;
	for (size_t i = 0; i < b->count; i++) {
		if (atomic_load_explicit(&job->stop, memory_order_relaxed))
			break;
		double ti = 0;
		if (job->timeout > 0)
			b->item_t0 = ti = lrd__par_now();
		lrd_value *o = NULL;
		rc = job->fn(job->ctx, job->inputs[b->start + i], &o);
		if (rc == LRD_OK && !o)
			rc = lrd__err(LRD_EINVAL,
			              "the task returned LRD_OK without an output value");
		if (rc == LRD_OK && job->timeout > 0 && lrd__par_now() - ti > job->timeout) {
			lrd_value_free(o);
			o = NULL;
			rc = lrd__err(LRD_ETIMEOUT, "ran for %.3f s, past the timeout of %g s",
			              lrd__par_now() - ti, job->timeout);
		} else if (rc == LRD_ECANCELED && job->timeout > 0 &&
		           lrd__par_now() - ti > job->timeout)
			rc =
			    lrd__err(LRD_ETIMEOUT, "stopped after %.3f s, past the timeout of %g s",
			             lrd__par_now() - ti, job->timeout);
		if (rc != LRD_OK) {
			lrd_value_free(o);
			lrd__par_fail(job, b->start + i, rc, lrd_errmsg());
			break;
		}
		job->outs[b->start + i] = o;
	}
	b->elapsed = lrd__par_now() - t0;
	worker_depth--;
	current = saved;
	return rc;
}

size_t lrd_parallel_batch_start(const lrd_parallel_batch *b) { return b->start; }
size_t lrd_parallel_batch_count(const lrd_parallel_batch *b) { return b->count; }

const lrd_value *lrd_parallel_batch_input(const lrd_parallel_batch *b, size_t i)
{
	return i < b->count ? b->job->inputs[b->start + i] : NULL;
}

void lrd_parallel_batch_set_output(lrd_parallel_batch *b, size_t i, lrd_value *v)
{
	if (i >= b->count) {
		lrd_value_free(v);
		return;
	}
	lrd_value_free(b->job->outs[b->start + i]);
	b->job->outs[b->start + i] = v;
}

void lrd_parallel_batch_fail(lrd_parallel_batch *b, size_t i, int code, const char *msg)
{
	lrd__par_fail(b->job, b->start + (i < b->count ? i : 0), code ? code : LRD_ETASK, msg);
}

void lrd_parallel_batch_set_elapsed(lrd_parallel_batch *b, double seconds)
{
	b->elapsed = seconds > 0 ? seconds : 0;
}

void lrd_parallel_batch_cancel(lrd_parallel_batch *b) { atomic_store(&b->job->stop, 1); }

bool lrd_parallel_batch_canceled(const lrd_parallel_batch *b)
{
	return atomic_load_explicit(&b->job->stop, memory_order_relaxed) != 0;
}

void lrd__par_queue_push(lrd_parallel_batch **head, lrd_parallel_batch **tail,
                         lrd_parallel_batch *b)
{
	b->next = NULL;
	if (*tail)
		(*tail)->next = b;
	else
		*head = b;
	*tail = b;
}

lrd_parallel_batch *lrd__par_queue_pop(lrd_parallel_batch **head, lrd_parallel_batch **tail)
{
	lrd_parallel_batch *b = *head;
	if (b && !(*head = b->next))
		*tail = NULL;
	return b;
}
