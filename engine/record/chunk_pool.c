/* The chunk pool (chunk_pool.h): one mutex guards the shared FIFO of runnable jobs, the worker
 * count and every queue's counters; jobs are chunk-sized (>= 4 KiB, typically MiBs), so the lock
 * is taken a few times per chunk and never contended for long. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "engine/record/chunk_pool.h"

#define MSG_MAX 512

enum { JOB_WAITING, JOB_QUEUED, JOB_DONE };

struct job {
	lrd__chunk_queue_fn fn;
	void *arg;
	int rc;
	int state;
	lrd__chunk_queue *q;
	struct job *next; /* in the shared FIFO */
	char msg[MSG_MAX];
};

struct lrd__chunk_queue {
	int threads;
	size_t window;
	size_t head, tail, dispatched; /* job counts: retired, submitted, given to the pool */
	int active;                    /* jobs of this queue in the FIFO or running */
	pthread_cond_t done;
	struct job ring[];
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t work;
	struct job *first, *last;
	int workers;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_mutex_lock(&pool.mu); }
static void fork_parent(void) { pthread_mutex_unlock(&pool.mu); }
/* The child has none of the parent's workers: forget them (and the queued jobs, which belong
 * to threads that do not exist here either). */
static void fork_child(void)
{
	pool.first = pool.last = NULL;
	pool.workers = 0;
	pthread_cond_init(&pool.work, NULL);
	pthread_mutex_unlock(&pool.mu);
}
static void register_atfork(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

int lrd__pool_threads(int threads)
{
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (n > LRD__POOL_MAX_THREADS ? LRD__POOL_MAX_THREADS : (int)n) : 1;
	}
	return threads > LRD__POOL_MAX_THREADS ? LRD__POOL_MAX_THREADS : threads;
}

/* Move the queue's waiting jobs into the FIFO while it runs fewer than q->threads. Locked. */
static void dispatch(lrd__chunk_queue *q)
{
	while (q->active < q->threads && q->dispatched < q->tail) {
		struct job *j = &q->ring[q->dispatched++ % q->window];
		j->state = JOB_QUEUED;
		j->next = NULL;
		if (pool.last)
			pool.last->next = j;
		else
			pool.first = j;
		pool.last = j;
		q->active++;
		pthread_cond_signal(&pool.work);
	}
}

static void *worker(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&pool.mu);
	for (;;) {
		while (!pool.first)
			pthread_cond_wait(&pool.work, &pool.mu);
		struct job *j = pool.first;
		pool.first = j->next;
		if (!pool.first)
			pool.last = NULL;
		pthread_mutex_unlock(&pool.mu);
		int rc = j->fn(j->arg);
		if (rc < 0)
			snprintf(j->msg, sizeof j->msg, "%s", lrd_errmsg());
		pthread_mutex_lock(&pool.mu);
		lrd__chunk_queue *q = j->q;
		j->rc = rc;
		j->state = JOB_DONE;
		q->active--;
		dispatch(q);
		pthread_cond_broadcast(&q->done);
	}
	return NULL;
}

/* Start workers until there are `want`; returns how many there are. Locked. */
static int grow(int want)
{
	while (pool.workers < want) {
		pthread_t t;
		pthread_attr_t a;
		if (pthread_attr_init(&a))
			break;
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		int e = pthread_create(&t, &a, worker, NULL);
		pthread_attr_destroy(&a);
		if (e)
			break;
		pool.workers++;
	}
	return pool.workers;
}

int lrd__chunk_queue_new(int threads, lrd__chunk_queue **out)
{
	int t = lrd__pool_threads(threads);
	if (t > 1) {
		pthread_once(&atfork_once, register_atfork);
		pthread_mutex_lock(&pool.mu);
		int have = grow(t);
		pthread_mutex_unlock(&pool.mu);
		t = have < t ? (have > 1 ? have : 1) : t;
	}
	size_t window = t > 1 ? 2 * (size_t)t : 1;
	lrd__chunk_queue *q = lrd__calloc(1, sizeof *q + window * sizeof q->ring[0]);
	if (!q)
		return lrd__err(LRD_ENOMEM, "out of memory for a chunk queue");
	q->threads = t;
	q->window = window;
	if (t > 1 && pthread_cond_init(&q->done, NULL)) {
		lrd__free(q);
		return lrd__err(LRD_ENOMEM, "cannot create a condition variable");
	}
	*out = q;
	return LRD_OK;
}

int lrd__chunk_queue_threads(const lrd__chunk_queue *q) { return q->threads; }
size_t lrd__chunk_queue_window(const lrd__chunk_queue *q) { return q->window; }
size_t lrd__chunk_queue_pending(const lrd__chunk_queue *q) { return q->tail - q->head; }
size_t lrd__chunk_queue_next_slot(const lrd__chunk_queue *q) { return q->tail % q->window; }

void lrd__chunk_queue_submit(lrd__chunk_queue *q, lrd__chunk_queue_fn fn, void *arg)
{
	struct job *j = &q->ring[q->tail % q->window];
	*j = (struct job){.fn = fn, .arg = arg, .q = q, .state = JOB_WAITING};
	if (q->threads == 1) {
		j->rc = fn(arg);
		j->state = JOB_DONE;
		q->tail++;
		return;
	}
	pthread_mutex_lock(&pool.mu);
	q->tail++;
	dispatch(q);
	pthread_mutex_unlock(&pool.mu);
}

int lrd__chunk_queue_retire(lrd__chunk_queue *q, void **arg)
{
	struct job *j = &q->ring[q->head % q->window];
	if (q->threads > 1) {
		pthread_mutex_lock(&pool.mu);
		while (j->state != JOB_DONE)
			pthread_cond_wait(&q->done, &pool.mu);
		pthread_mutex_unlock(&pool.mu);
	}
	q->head++;
	if (arg)
		*arg = j->arg;
	if (j->rc < 0 && q->threads > 1)
		return lrd__err(j->rc, "%s", j->msg);
	return j->rc;
}

void lrd__chunk_queue_wait(lrd__chunk_queue *q)
{
	if (q->threads == 1)
		return;
	pthread_mutex_lock(&pool.mu);
	while (q->active || q->dispatched < q->tail)
		pthread_cond_wait(&q->done, &pool.mu);
	pthread_mutex_unlock(&pool.mu);
}

void lrd__chunk_queue_free(lrd__chunk_queue *q)
{
	if (!q)
		return;
	while (q->head < q->tail)
		lrd__chunk_queue_retire(q, NULL);
	if (q->threads > 1)
		pthread_cond_destroy(&q->done);
	lrd__free(q);
}

/* ---- the chunk compressor ------------------------------------------------------------------ */

int lrd__cpipe_init(lrd__cpipe *p, const lrd_codec *codec, const lrd_codec_params *params,
                    uint64_t cs, uint64_t nbytes, int threads, lrd__cpipe_sink sink, void *ctx)
{
	*p = (lrd__cpipe){.codec = codec, .nbytes = nbytes, .cs = cs, .sink = sink, .ctx = ctx};
	if (params)
		p->params = *params;
	uint64_t nchunks = nbytes / cs + (nbytes % cs != 0);
	size_t first = nbytes < cs ? (size_t)nbytes : (size_t)cs;
	p->scap = codec ? lrd__chunk_scratch_size(codec, first, &p->params) : 0;
	if (codec && p->scap == 0 && first)
		return lrd__err(LRD_ELIMIT, "%s cannot compress chunks of %zu bytes", codec->name,
		                first);
	threads = lrd__pool_threads(threads);
	if ((uint64_t)threads > nchunks)
		threads = nchunks ? (int)nchunks : 1;
	int rc = lrd__chunk_queue_new(threads, &p->q);
	if (rc)
		return rc;
	p->slots = lrd__calloc(lrd__chunk_queue_window(p->q), sizeof *p->slots);
	return p->slots ? LRD_OK : LRD_ENOMEM;
}

static int cpipe_job(void *arg)
{
	lrd__cpipe_slot *sl = arg;
	const lrd__cpipe *p = sl->p;
	return lrd__chunk_compress(p->codec, &p->params, sl->src, sl->n, sl->scratch, p->scap,
	                           &sl->hdr, &sl->stored);
}

/* Wait for the oldest chunk in flight and sink it. */
static int cpipe_retire(lrd__cpipe *p)
{
	void *arg;
	int rc = lrd__chunk_queue_retire(p->q, &arg);
	lrd__cpipe_slot *sl = arg;
	p->retired++;
	if (!rc)
		rc = p->sink(p->ctx, sl->index, &sl->hdr, sl->stored);
	return rc ? lrd__errctx(rc, "chunk %llu", (unsigned long long)sl->index) : LRD_OK;
}

/* After an error no job may still read the caller's memory: wait for all of them. */
static int cpipe_fail(lrd__cpipe *p, int rc)
{
	while (lrd__chunk_queue_pending(p->q)) {
		lrd__chunk_queue_retire(p->q, NULL);
		p->retired++;
	}
	p->failed = rc;
	return rc;
}

static int cpipe_submit(lrd__cpipe *p, lrd__cpipe_slot *sl, const void *src, size_t n,
                        bool borrowed)
{
	if (!sl->scratch && p->scap && !(sl->scratch = lrd__malloc(p->scap)))
		return LRD_ENOMEM;
	sl->p = p;
	sl->src = src;
	sl->n = n;
	sl->index = p->submitted++;
	if (borrowed)
		p->borrowed_end = p->submitted;
	lrd__chunk_queue_submit(p->q, cpipe_job, sl);
	return LRD_OK;
}

int lrd__cpipe_push(lrd__cpipe *p, const void *src, size_t n)
{
	const uint8_t *b = src;
	int rc;
	if (p->failed)
		return lrd__err(p->failed, "an earlier chunk failed");
	if (n > p->nbytes - p->done)
		return lrd__err(LRD_EINVAL, "%zu bytes pushed past the end of a %llu-byte array", n,
		                (unsigned long long)p->nbytes);
	while (n) {
		uint64_t at = p->submitted * p->cs;
		size_t raw = (size_t)(p->nbytes - at < p->cs ? p->nbytes - at : p->cs);
		if (p->cfill == 0 &&
		    lrd__chunk_queue_pending(p->q) == lrd__chunk_queue_window(p->q) &&
		    (rc = cpipe_retire(p)))
			return cpipe_fail(p, rc);
		lrd__cpipe_slot *sl = &p->slots[lrd__chunk_queue_next_slot(p->q)];
		if (p->cfill == 0 && n >= raw) {
			if ((rc = cpipe_submit(p, sl, b, raw, true)))
				return cpipe_fail(p, rc);
			b += raw;
			n -= raw;
			p->done += raw;
			continue;
		}
		if (!sl->cbuf &&
		    !(sl->cbuf = lrd__malloc((size_t)(p->nbytes < p->cs ? p->nbytes : p->cs))))
			return cpipe_fail(p, LRD_ENOMEM);
		size_t k = n < raw - p->cfill ? n : raw - p->cfill;
		memcpy(sl->cbuf + p->cfill, b, k);
		p->cfill += k;
		b += k;
		n -= k;
		p->done += k;
		if (p->cfill == raw) {
			p->cfill = 0;
			if ((rc = cpipe_submit(p, sl, sl->cbuf, raw, false)))
				return cpipe_fail(p, rc);
		}
	}
	/* the caller may reuse its memory once we return */
	while (p->retired < p->borrowed_end)
		if ((rc = cpipe_retire(p)))
			return cpipe_fail(p, rc);
	return LRD_OK;
}

int lrd__cpipe_finish(lrd__cpipe *p)
{
	int rc;
	if (p->failed)
		return lrd__err(p->failed, "an earlier chunk failed");
	if (p->done != p->nbytes)
		return lrd__err(LRD_EINVAL, "array ended after %llu of its %llu bytes",
		                (unsigned long long)p->done, (unsigned long long)p->nbytes);
	while (lrd__chunk_queue_pending(p->q))
		if ((rc = cpipe_retire(p)))
			return cpipe_fail(p, rc);
	return LRD_OK;
}

void lrd__cpipe_destroy(lrd__cpipe *p)
{
	if (p->q) {
		size_t w = lrd__chunk_queue_window(p->q);
		lrd__chunk_queue_free(p->q); /* waits for the jobs still running */
		for (size_t i = 0; p->slots && i < w; i++) {
			lrd__free(p->slots[i].cbuf);
			lrd__free(p->slots[i].scratch);
		}
	}
	lrd__free(p->slots);
	*p = (lrd__cpipe){0};
}

/* ---- the chunk decoder --------------------------------------------------------------------- */

int lrd__dpipe_init(lrd__dpipe *p, int threads, uint64_t first, uint64_t end, size_t own_size,
                    lrd__dpipe_fetch fetch, void *ctx, const char *what)
{
	uint64_t nchunks = end > first ? end - first : 0;
	*p = (lrd__dpipe){.end = end,
	                  .fetched = first,
	                  .own_size = own_size,
	                  .fetch = fetch,
	                  .ctx = ctx,
	                  .what = what ? what : "the array"};
	threads = lrd__pool_threads(threads);
	if ((uint64_t)threads > nchunks)
		threads = nchunks ? (int)nchunks : 1;
	int rc = lrd__chunk_queue_new(threads, &p->q);
	if (rc)
		return rc;
	p->slots = lrd__calloc(lrd__chunk_queue_window(p->q), sizeof *p->slots);
	return p->slots ? LRD_OK : LRD_ENOMEM;
}

int lrd__dpipe_slot_stored(lrd__dpipe_slot *s, size_t n, uint8_t **out)
{
	if (n > s->scap) {
		lrd__free(s->sbuf);
		s->scap = 0;
		if (!(s->sbuf = lrd__malloc(n ? n : 1)))
			return LRD_ENOMEM;
		s->scap = n;
	}
	*out = s->sbuf;
	return LRD_OK;
}

int lrd__dpipe_slot_own(const lrd__dpipe *p, lrd__dpipe_slot *s, uint8_t **out)
{
	if (!s->own && !(s->own = lrd__malloc(p->own_size ? p->own_size : 1)))
		return LRD_ENOMEM;
	*out = s->own;
	return LRD_OK;
}

static int dpipe_job(void *arg)
{
	lrd__dpipe_slot *s = arg;
	if (s->hdr.codec == LRD_CODEC_ID_RAW && (!s->dst || s->dst == s->stored)) {
		s->data = s->stored;
		return lrd__chunk_verify(&s->hdr, s->stored);
	}
	s->data = s->dst ? s->dst : s->own;
	return lrd__chunk_decompress(&s->hdr, s->stored, (void *)s->data, s->raw);
}

/* Remember the error rc (its message is this thread's), wait for every job still running (the
 * caller may free what they write to once we return) and return it. */
static int dpipe_fail(lrd__dpipe *p, int rc)
{
	snprintf(p->msg, sizeof p->msg, "%s", lrd_errmsg());
	while (lrd__chunk_queue_pending(p->q))
		lrd__chunk_queue_retire(p->q, NULL);
	p->failed = rc;
	return lrd__err(rc, "%s", p->msg);
}

int lrd__dpipe_next(lrd__dpipe *p, lrd__dpipe_slot **out)
{
	*out = NULL;
	if (p->failed)
		return lrd__err(p->failed, "%s", p->msg);
	size_t w = lrd__chunk_queue_window(p->q);
	while (!p->fetch_rc && p->fetched < p->end && lrd__chunk_queue_pending(p->q) < w) {
		lrd__dpipe_slot *s = &p->slots[lrd__chunk_queue_next_slot(p->q)];
		s->index = p->fetched;
		s->stored = s->data = NULL;
		s->dst = NULL;
		s->raw = 0;
		int rc = p->fetch(p->ctx, s);
		if (rc) {
			p->fetch_rc = rc;
			snprintf(p->msg, sizeof p->msg, "%s", lrd_errmsg());
			break;
		}
		p->fetched++;
		lrd__chunk_queue_submit(p->q, dpipe_job, s);
	}
	if (!lrd__chunk_queue_pending(p->q)) {
		if (!p->fetch_rc)
			return LRD_OK; /* the end */
		p->failed = p->fetch_rc;
		return lrd__err(p->failed, "%s", p->msg);
	}
	void *arg;
	int rc = lrd__chunk_queue_retire(p->q, &arg);
	lrd__dpipe_slot *s = arg;
	if (rc)
		return dpipe_fail(
		    p, lrd__errctx(rc, "chunk %llu of %s", (unsigned long long)s->index, p->what));
	*out = s;
	return LRD_OK;
}

void lrd__dpipe_quiesce(lrd__dpipe *p)
{
	if (p->q)
		lrd__chunk_queue_wait(p->q);
}

int lrd__dpipe_run(lrd__dpipe *p)
{
	lrd__dpipe_slot *s;
	int rc;
	do
		rc = lrd__dpipe_next(p, &s);
	while (!rc && s);
	return rc;
}

void lrd__dpipe_destroy(lrd__dpipe *p)
{
	if (p->q) {
		size_t w = lrd__chunk_queue_window(p->q);
		lrd__chunk_queue_free(p->q);
		for (size_t i = 0; p->slots && i < w; i++) {
			lrd__free(p->slots[i].sbuf);
			lrd__free(p->slots[i].own);
		}
	}
	lrd__free(p->slots);
	*p = (lrd__dpipe){0};
}
