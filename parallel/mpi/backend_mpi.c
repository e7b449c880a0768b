/* The "mpi" backend (larder/mpi.h): rank 0 keeps the executor's batches in a queue and gives
 * one to each idle worker rank; a worker runs it by task name and sends the outputs back.
 * Everything on rank 0 happens in the thread running the map (submit/collect), polling MPI
 * with a growing sleep so that rank 0 does not take a core from the workers.
 *
 * Rank 0 -> worker: BATCH {id, count, timeout, task}, then one DOWN frame per input.
 * Worker -> rank 0: PROG {id, item} before each task when the map has a timeout; at the end
 * RESULT {id, done, failure, elapsed, message}, then one UP frame per output done.
 * CANCEL {id} stops a batch before its next task; STOP ends lrd_mpi_serve(). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallel/mpi/mpi_internal.h"

typedef struct batch_hdr {
	uint64_t id, count;
	double timeout;
	char task[LRD_TASK_MAX_NAME + 1];
} batch_hdr;

typedef struct result_hdr {
	uint64_t id, done, fail_item;
	int32_t fail_code, pad_;
	double elapsed;
	char msg[512];
} result_hdr;

enum { W_IDLE, W_BUSY, W_STUCK };

typedef struct worker {
	int state;
	uint64_t id;           /* batch it runs (BUSY, STUCK) */
	lrd_parallel_batch *b; /* BUSY only */
	size_t item, task_index;
	double item_t0;
	char task[LRD_TASK_MAX_NAME + 1];
} worker;

static struct {
	int inited, we_inited, finalized, rank, size;
	worker *w; /* [size], index = rank; [0] unused */
	uint64_t next_id;
} g;

static pthread_mutex_t map_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct pool {
	bool seq, canceled, nested;
	double timeout;
	char task[LRD_TASK_MAX_NAME + 1];
	lrd_parallel_batch **q; /* pending, q[head..len) */
	size_t head, len, cap;
} pool;

int lrd_mpi_size(void) { return g.inited ? g.size : 0; }

static int mpi_n_jobs(int n)
{
	(void)n;
	return g.size > 1 && g.rank == 0 ? g.size - 1 : 1;
}

static int mpi_configure(const lrd_parallel_setup *setup, void **out)
{
	pool *p = calloc(1, sizeof *p);
	if (!p)
		return lrd_error_set(LRD_ENOMEM, "mpi backend: out of memory");
	/* a map started inside a task (LRD_PARALLEL_NESTED) runs sequentially where it is, and
	 * must not wait for the map around it */
	p->nested = lrd_parallel_in_worker();
	if (!p->nested)
		pthread_mutex_lock(&map_mu);
	p->seq = p->nested || !g.inited || g.finalized || g.size < 2 || g.rank != 0;
	p->timeout = setup->timeout;
	snprintf(p->task, sizeof p->task, "%s", setup->task);
	*out = p;
	return LRD_OK;
}

static int push(pool *p, lrd_parallel_batch *b)
{
	if (p->head == p->len)
		p->head = p->len = 0;
	if (p->len == p->cap) {
		if (p->head) {
			memmove(p->q, p->q + p->head, (p->len - p->head) * sizeof *p->q);
			p->len -= p->head;
			p->head = 0;
		} else {
			size_t cap = p->cap ? 2 * p->cap : 16;
			lrd_parallel_batch **q = realloc(p->q, cap * sizeof *q);
			if (!q)
				return lrd_error_set(LRD_ENOMEM, "mpi backend: out of memory");
			p->q = q;
			p->cap = cap;
		}
	}
	p->q[p->len++] = b;
	return LRD_OK;
}

static lrd_parallel_batch *pop(pool *p) { return p->head < p->len ? p->q[p->head++] : NULL; }

static int send_batch(pool *p, int r, lrd_parallel_batch *b)
{
	worker *w = &g.w[r];
	batch_hdr h;
	memset(&h, 0, sizeof h);
	h.id = ++g.next_id;
	h.count = lrd_parallel_batch_count(b);
	h.timeout = p->timeout;
	snprintf(h.task, sizeof h.task, "%s", p->task);
	if (MPI_Send(&h, sizeof h, MPI_BYTE, r, LRD__MPI_BATCH, MPI_COMM_WORLD) != MPI_SUCCESS)
		return lrd_error_set(LRD_EIO, "mpi backend: sending a batch to rank %d failed", r);
	w->state = W_BUSY;
	w->id = h.id;
	w->b = b;
	w->item = 0;
	w->task_index = lrd_parallel_batch_start(b);
	w->item_t0 = lrd__mpi_now();
	snprintf(w->task, sizeof w->task, "%s", p->task);
	lrd__mpi_out o;
	lrd__mpi_out_init(&o, r, LRD__MPI_DOWN);
	int rc = LRD_OK;
	for (size_t i = 0; i < h.count && rc != LRD_EIO; i++) {
		rc = lrd__mpi_out_value(&o, lrd_parallel_batch_input(b, i));
		if (rc && rc != LRD_EIO) /* the worker got "no value" there and stops before it */
			lrd_parallel_batch_fail(b, i, rc, lrd_errmsg());
	}
	if (rc != LRD_EIO)
		rc = lrd__mpi_out_flush(&o);
	lrd__mpi_out_done(&o);
	return rc == LRD_EIO ? rc : LRD_OK;
}

/* Give pending batches to idle workers. */
static int feed(pool *p)
{
	for (int r = 1; r < g.size && p->head < p->len && !p->canceled; r++)
		if (g.w[r].state == W_IDLE) {
			int rc = send_batch(p, r, pop(p));
			if (rc)
				return rc;
		}
	return LRD_OK;
}

static int mpi_submit(void *vp, lrd_parallel_batch *b)
{
	pool *p = vp;
	int rc = push(p, b);
	return rc || p->seq ? rc : feed(p);
}

/* Receive a RESULT from r (its header already probed) into its batch, or discard it if the
 * batch is no longer waited for (its rank was stuck). Returns the batch or NULL. */
static lrd_parallel_batch *take_result(int r)
{
	worker *w = &g.w[r];
	result_hdr h;
	MPI_Recv(&h, sizeof h, MPI_BYTE, r, LRD__MPI_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	h.msg[sizeof h.msg - 1] = 0;
	lrd_parallel_batch *b = w->state == W_BUSY && w->id == h.id ? w->b : NULL;
	if (w->state == W_STUCK && w->id == h.id)
		fprintf(stderr,
		        "larder mpi: rank %d returned from its timed-out task; using it again\n",
		        r);
	w->state = W_IDLE;
	w->b = NULL;
	size_t n = b ? lrd_parallel_batch_count(b) : SIZE_MAX;
	bool bad = false;
	lrd__mpi_in in;
	lrd__mpi_in_init(&in, r, LRD__MPI_UP);
	for (uint64_t i = 0; i < h.done; i++) {
		lrd_value *v = NULL;
		int rc = lrd__mpi_in_value(&in, &v);
		if (!b || i >= n) {
			lrd_value_free(v);
			continue;
		}
		if (!rc && !v)
			rc = lrd_error_set(LRD_EINVAL,
			                   "the task's output could not be encoded on "
			                   "rank %d",
			                   r);
		if (rc && !bad) {
			bad = true;
			lrd_parallel_batch_fail(b, (size_t)i, rc, lrd_errmsg());
		}
		if (!bad)
			lrd_parallel_batch_set_output(b, (size_t)i, v);
		else
			lrd_value_free(v);
	}
	lrd__mpi_in_done(&in);
	if (b && h.fail_code && !bad)
		lrd_parallel_batch_fail(b, (size_t)h.fail_item, h.fail_code, h.msg);
	if (b)
		lrd_parallel_batch_set_elapsed(b, h.elapsed);
	return b;
}

static void take_prog(int r)
{
	uint64_t m[2];
	MPI_Recv(m, 2, MPI_UINT64_T, r, LRD__MPI_PROG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	worker *w = &g.w[r];
	if (w->state == W_BUSY && w->id == m[0]) {
		w->item = (size_t)m[1];
		w->item_t0 = lrd__mpi_now();
	}
}

/* A message from a worker at hand: handle it; returns a finished batch or NULL. */
static lrd_parallel_batch *take_message(const MPI_Status *st)
{
	int r = st->MPI_SOURCE;
	if (st->MPI_TAG == LRD__MPI_RESULT)
		return take_result(r);
	if (st->MPI_TAG == LRD__MPI_PROG)
		take_prog(r);
	else { /* nothing else is sent to rank 0 outside a result: drop it */
		char c;
		MPI_Recv(&c, 1, MPI_BYTE, r, st->MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	}
	return NULL;
}

static double grace(double timeout) { return timeout / 10 > 1 ? timeout / 10 : 1; }

/* A busy worker past its task's timeout: its batch fails and the rank is set aside. */
static lrd_parallel_batch *check_stuck(pool *p, double now)
{
	if (p->timeout <= 0)
		return NULL;
	for (int r = 1; r < g.size; r++) {
		worker *w = &g.w[r];
		if (w->state != W_BUSY || now < w->item_t0 + p->timeout + grace(p->timeout))
			continue;
		lrd_parallel_batch *b = w->b;
		char msg[400];
		snprintf(msg, sizeof msg,
		         "still running on rank %d after %.1f s, past the timeout of %g s; a rank "
		         "cannot be stopped from rank 0, so rank %d gets no more work until it "
		         "returns",
		         r, now - w->item_t0, p->timeout, r);
		fprintf(stderr, "larder mpi: task %zu of '%s' %s\n", w->task_index + w->item,
		        p->task, msg);
		w->task_index += w->item;
		w->state = W_STUCK;
		w->b = NULL;
		lrd_parallel_batch_fail(b, w->item, LRD_ETIMEOUT, msg);
		return b;
	}
	return NULL;
}

static int usable(void)
{
	int n = 0;
	for (int r = 1; r < g.size; r++)
		n += g.w[r].state != W_STUCK;
	return n;
}

static int mpi_collect(void *vp, double wait, lrd_parallel_batch **done)
{
	pool *p = vp;
	*done = NULL;
	if (p->seq) {
		lrd_parallel_batch *b = pop(p);
		if (!b)
			return lrd_error_set(LRD_EINVAL,
			                     "mpi backend: collect() with nothing submitted");
		lrd_parallel_batch_run(b);
		*done = b;
		return LRD_OK;
	}
	double deadline = wait < 0 ? -1 : lrd__mpi_now() + wait;
	for (;;) {
		if (p->canceled && (*done = pop(p)))
			return LRD_OK; /* not started: its items stay undone */
		int rc = feed(p);
		if (rc)
			return rc;
		if (!usable() && (*done = pop(p))) {
			lrd_parallel_batch_fail(*done, 0, LRD_EWORKER,
			                        "no MPI rank left to run it: every worker rank is "
			                        "stuck in a task past its timeout");
			return LRD_OK;
		}
		double slice = p->timeout > 0 ? 0.05 : -1;
		double until = slice < 0 ? deadline
		                         : (deadline < 0 || lrd__mpi_now() + slice < deadline
		                                ? lrd__mpi_now() + slice
		                                : deadline);
		MPI_Status st;
		if (lrd__mpi_wait(MPI_ANY_SOURCE, MPI_ANY_TAG, until, &st)) {
			if ((*done = take_message(&st)))
				return LRD_OK;
			continue;
		}
		double now = lrd__mpi_now();
		if ((*done = check_stuck(p, now)))
			return LRD_OK;
		if (deadline >= 0 && now >= deadline)
			return LRD_ETIMEOUT;
	}
}

static void mpi_abort(void *vp)
{
	pool *p = vp;
	p->canceled = true;
	if (p->seq)
		return;
	for (int r = 1; r < g.size; r++)
		if (g.w[r].state == W_BUSY) {
			uint64_t id = g.w[r].id;
			MPI_Send(&id, 1, MPI_UINT64_T, r, LRD__MPI_CANCEL, MPI_COMM_WORLD);
		}
}

static void mpi_release(void *vp)
{
	pool *p = vp;
	bool nested = p->nested;
	free(p->q);
	free(p);
	if (!nested)
		pthread_mutex_unlock(&map_mu);
}

static const lrd_parallel_backend mpi_backend = {
    .abi = LRD_PARALLEL_BACKEND_ABI,
    .effective_n_jobs = mpi_n_jobs,
    .configure = mpi_configure,
    .submit = mpi_submit,
    .collect = mpi_collect,
    .abort = mpi_abort,
    .release = mpi_release,
};

int lrd_mpi_init(int *argc, char ***argv, int *rank)
{
	if (!g.inited) {
		int flag = 0, provided = 0;
		MPI_Initialized(&flag);
		if (!flag) {
			if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) !=
			    MPI_SUCCESS)
				return lrd_error_set(LRD_EIO, "MPI_Init_thread failed");
			g.we_inited = 1;
		} else {
			MPI_Query_thread(&provided);
			if (provided < MPI_THREAD_SERIALIZED)
				return lrd_error_set(LRD_EIO,
				                     "MPI was initialised with thread level %d; "
				                     "larder needs MPI_THREAD_SERIALIZED",
				                     provided);
		}
		MPI_Comm_rank(MPI_COMM_WORLD, &g.rank);
		MPI_Comm_size(MPI_COMM_WORLD, &g.size);
		g.w = calloc((size_t)g.size, sizeof *g.w);
		if (!g.w)
			return lrd_error_set(LRD_ENOMEM, "out of memory for %d ranks", g.size);
		int rc = lrd_parallel_register_backend("mpi", &mpi_backend);
		if (rc)
			return rc;
		g.inited = 1;
	}
	if (rank)
		*rank = g.rank;
	return LRD_OK;
}

/* ---- worker ranks ------------------------------------------------------------------------- */

static bool canceled_now(uint64_t id)
{
	int flag = 0;
	MPI_Status st;
	bool stop = false;
	for (;;) {
		MPI_Iprobe(0, LRD__MPI_CANCEL, MPI_COMM_WORLD, &flag, &st);
		if (!flag)
			return stop;
		uint64_t c;
		MPI_Recv(&c, 1, MPI_UINT64_T, 0, LRD__MPI_CANCEL, MPI_COMM_WORLD,
		         MPI_STATUS_IGNORE);
		stop |= c == id;
	}
}

static void run_batch(void *ctx)
{
	batch_hdr h;
	MPI_Recv(&h, sizeof h, MPI_BYTE, 0, LRD__MPI_BATCH, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	h.task[sizeof h.task - 1] = 0;
	size_t n = (size_t)h.count;
	lrd_value **in = calloc(n ? n : 1, sizeof *in), **out = calloc(n ? n : 1, sizeof *out);
	result_hdr res;
	memset(&res, 0, sizeof res);
	res.id = h.id;
	int rc = in && out ? LRD_OK : lrd_error_set(LRD_ENOMEM, "out of memory");
	size_t ok_inputs = n;
	lrd__mpi_in ins;
	lrd__mpi_in_init(&ins, 0, LRD__MPI_DOWN);
	for (size_t i = 0; i < n; i++) {
		lrd_value *v = NULL;
		int r = lrd__mpi_in_value(&ins, &v);
		if (in && !r)
			in[i] = v;
		else
			lrd_value_free(v);
		if ((r || !v) && ok_inputs == n) {
			ok_inputs = i;
			if (r && !rc) { /* rank 0 does not know: report it */
				res.fail_code = r;
				res.fail_item = i;
				snprintf(res.msg, sizeof res.msg,
				         "receiving the input on rank %d: %s", g.rank,
				         lrd_errmsg());
			}
		}
	}
	lrd__mpi_in_done(&ins);
	lrd_task_fn fn = NULL;
	if (!rc)
		rc = lrd_task_find(h.task, &fn);
	double t0 = lrd__mpi_now();
	if (rc) {
		res.fail_code = rc;
		res.fail_item = 0;
		snprintf(res.msg, sizeof res.msg, "on rank %d: %s", g.rank, lrd_errmsg());
	}
	for (size_t i = 0; !rc && i < ok_inputs; i++) {
		if (canceled_now(h.id))
			break;
		if (h.timeout > 0) {
			uint64_t m[2] = {h.id, i};
			MPI_Send(m, 2, MPI_UINT64_T, 0, LRD__MPI_PROG, MPI_COMM_WORLD);
		}
		double ti = lrd__mpi_now();
		lrd_value *o = NULL;
		int r = fn(ctx, in[i], &o);
		if (!r && !o)
			r = lrd_error_set(LRD_EINVAL,
			                  "the task returned LRD_OK without an output value");
		if (!r && h.timeout > 0 && lrd__mpi_now() - ti > h.timeout)
			r = lrd_error_set(LRD_ETIMEOUT, "ran for %.3f s, past the timeout of %g s",
			                  lrd__mpi_now() - ti, h.timeout);
		if (r) {
			lrd_value_free(o);
			res.fail_code = r;
			res.fail_item = i;
			snprintf(res.msg, sizeof res.msg, "%s (on rank %d)", lrd_errmsg(), g.rank);
			break;
		}
		out[i] = o;
		res.done = i + 1;
	}
	res.elapsed = lrd__mpi_now() - t0;
	MPI_Send(&res, sizeof res, MPI_BYTE, 0, LRD__MPI_RESULT, MPI_COMM_WORLD);
	lrd__mpi_out o;
	lrd__mpi_out_init(&o, 0, LRD__MPI_UP);
	for (size_t i = 0; i < res.done; i++) {
		lrd__mpi_out_value(&o, out[i]);
		lrd_value_free(out[i]);
	}
	lrd__mpi_out_flush(&o);
	lrd__mpi_out_done(&o);
	for (size_t i = 0; in && i < n; i++)
		lrd_value_free(in[i]);
	free(in);
	free(out);
}

int lrd_mpi_serve(void *ctx)
{
	if (!g.inited)
		return lrd_error_set(LRD_EINVAL, "lrd_mpi_serve: lrd_mpi_init() was not called");
	if (g.rank == 0)
		return LRD_OK;
	for (;;) {
		MPI_Status st;
		lrd__mpi_wait(0, MPI_ANY_TAG, -1, &st);
		if (st.MPI_TAG == LRD__MPI_BATCH) {
			run_batch(ctx);
			continue;
		}
		uint64_t c = 0;
		MPI_Recv(&c, 1, MPI_UINT64_T, 0, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		if (st.MPI_TAG == LRD__MPI_STOP)
			return LRD_OK;
		/* a CANCEL for a batch already finished: nothing to do */
	}
}

int lrd_mpi_finalize(void)
{
	if (!g.inited || g.finalized)
		return LRD_OK;
	pthread_mutex_lock(&map_mu);
	g.finalized = 1;
	if (g.rank == 0) {
		/* a rank set aside may have come back since: take its late result first */
		MPI_Status st;
		while (lrd__mpi_wait(MPI_ANY_SOURCE, MPI_ANY_TAG, 0, &st))
			take_message(&st);
		for (int r = 1; r < g.size; r++)
			if (g.w[r].state == W_STUCK) {
				fprintf(
				    stderr,
				    "larder mpi: rank %d is still running task %zu of '%s', which "
				    "passed its timeout; aborting the MPI job\n",
				    r, g.w[r].task_index, g.w[r].task);
				fflush(stderr);
				MPI_Abort(MPI_COMM_WORLD, 1);
			}
		uint64_t z = 0;
		for (int r = 1; r < g.size; r++)
			MPI_Send(&z, 1, MPI_UINT64_T, r, LRD__MPI_STOP, MPI_COMM_WORLD);
	}
	pthread_mutex_unlock(&map_mu);
	if (g.we_inited && MPI_Finalize() != MPI_SUCCESS)
		return lrd_error_set(LRD_EIO, "MPI_Finalize failed");
	return LRD_OK;
}
