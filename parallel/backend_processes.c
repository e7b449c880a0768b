/* The "processes" backend: n_jobs workers forked by configure(), reused for every batch of the
 * map, each talking to the parent over its own AF_UNIX stream socket pair (a bidirectional
 * pipe; writes use MSG_NOSIGNAL so a dead peer is an error, never SIGPIPE).
 *
 * Wire. A request is a header (magic, item count, first index, payload length) and one entry
 * per input; a reply is a header (magic, items done, failure code and item, elapsed time,
 * payload length), one entry per output done, then the failure's message. An entry is a kind
 * byte and either a value message (lrd_value_encode's self-delimiting frame) or, for a value
 * whose arrays, strings and bytes add up to more than max_nbytes, with a store the key of a
 * temporary object in it ("lrd.parallel/<pid>.<pool>/in.<index>" or ".../out.<index>"), and
 * without one the frame's length, the frame itself in a sealed memfd whose descriptor travels
 * with the message's first bytes (shm.c; up to LRD__PAR_MAX_FDS per message, the rest inline),
 * mapped by the receiver. Inputs are decoded in the worker with arrays borrowed from the
 * request buffer; large results reach the caller mapped (LRD_BUF_MAPPED, read-only).
 *
 * Workers. Each worker opens the store itself (lazily, after fork) and never touches the
 * parent's handle. A page of shared memory holds the pool's stop flag and, per worker, the
 * index of the task it is running and when it started: the parent reads it to name the task a
 * dead worker was running and to kill a worker whose task is past its timeout. A worker that
 * dies or is killed is reaped at once (no zombies) and replaced by a fresh fork; its batch
 * comes back failed with LRD_EWORKER or LRD_ETIMEOUT. Workers die with the parent
 * (PR_SET_PDEATHSIG) and exit when their socket reaches end of file.
 *
 * Temporary store objects are deleted as soon as their batch is back, and release() deletes
 * whatever is left under the pool's prefix (a worker killed after writing a result). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "larder/message.h"
#include "larder/store.h"
#include "parallel/parallel_internal.h"

#define REQ_MAGIC 0x4252504cu /* "LPRB" */
#define REP_MAGIC 0x5252504cu /* "LPRR" */
#define KIND_MSG  0
#define KIND_KEY  1
#define KIND_SHM  2

typedef struct req_hdr {
	uint32_t magic, count;
	uint64_t start, len;
} req_hdr;

typedef struct rep_hdr {
	uint32_t magic, done;
	int32_t fail_code;
	uint32_t fail_item;
	double elapsed;
	uint64_t len;
} rep_hdr;

typedef struct slot {
	_Atomic int64_t index; /* task running, -1: none */
	_Atomic double t0;
} slot;

typedef struct shared {
	atomic_int stop;
	slot slots[];
} shared;

typedef struct worker {
	pid_t pid;
	int fd;
	lrd_parallel_batch *batch; /* busy when set */
} worker;

typedef struct buf {
	unsigned char *p;
	size_t len, cap;
} buf;

typedef struct proc_pool {
	lrd_parallel_setup setup;
	int n;
	worker *w;
	shared *sh;
	size_t shsize;
	lrd_parallel_batch *qhead, *qtail, *dhead, *dtail;
	lrd_store *store;
	char prefix[64];
	buf out;                 /* request being built */
	lrd__par_fdlist out_fds; /* its shared payloads */
} proc_pool;

static unsigned pool_seq;

/* ---- small helpers ------------------------------------------------------------------------ */

static int buf_put(buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n)
			cap *= 2;
		unsigned char *q = realloc(b->p, cap);
		if (!q)
			return lrd__err(LRD_ENOMEM, "out of memory for a %zu-byte message",
			                b->len + n);
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return LRD_OK;
}

/* 1: all read, 0: end of file before the first byte, < 0: error or short. */
static int recv_all(int fd, void *p, size_t n)
{
	char *c = p;
	size_t got = 0;
	while (got < n) {
		ssize_t k = read(fd, c + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return got == 0 && k == 0 ? 0 : -1;
		got += (size_t)k;
	}
	return 1;
}

static void key_of(const char *prefix, const char *dir, uint64_t index, char *key, size_t cap)
{
	snprintf(key, cap, "%s%s.%llu", prefix, dir, (unsigned long long)index);
}

/* Bytes of v's arrays, strings and bytes (what a frame of it holds besides small headers). */
static size_t payload_bytes(const lrd_value *v)
{
	size_t n = 0, len;
	switch (lrd_value_kind(v)) {
	case LRD_KIND_ARRAY:
		return lrd_array_nbytes(v);
	case LRD_KIND_STR:
		lrd_value_str(v, &len);
		return len;
	case LRD_KIND_BYTES:
		lrd_value_bytes(v, &len);
		return len;
	case LRD_KIND_LIST:
		for (size_t i = 0; i < lrd_value_len(v); i++)
			n += payload_bytes(lrd_list_at(v, i));
		return n;
	case LRD_KIND_MAP:
		for (size_t i = 0; i < lrd_value_len(v); i++)
			n += payload_bytes(lrd_map_value_at(v, i));
		return n;
	default:
		return 0;
	}
}

/* Append entry (v) to b: a message, or when its payload is large (decided before encoding, so
 * that a large one is copied once) through the store or shared memory (its fd added to fds). */
static int put_entry(buf *b, const lrd_value *v, lrd_store *store, size_t max_nbytes,
                     const char *prefix, const char *dir, uint64_t index, lrd__par_fdlist *fds)
{
	int rc;
	unsigned char kind;
	bool big = payload_bytes(v) > max_nbytes;
	if (big && store) {
		char key[128];
		key_of(prefix, dir, index, key, sizeof key);
		/* raw, one chunk per array: the receiver maps it instead of copying it */
		lrd_put_options po = {.codec = "raw", .flags = LRD_PUT_MAPPABLE};
		rc = lrd_store_put(store, NULL, key, v, &po);
		uint16_t klen = (uint16_t)strlen(key);
		kind = KIND_KEY;
		if (!rc && !(rc = buf_put(b, &kind, 1)) && !(rc = buf_put(b, &klen, 2)))
			rc = buf_put(b, key, klen);
		return rc;
	}
	if (big && fds->n < LRD__PAR_MAX_FDS) {
		int fd;
		uint64_t len;
		if (!(rc = lrd__par_shm_put(v, &fd, &len))) {
			fds->fd[fds->n++] = fd;
			kind = KIND_SHM;
			if (!(rc = buf_put(b, &kind, 1)))
				rc = buf_put(b, &len, 8);
			return rc;
		}
		if (rc == LRD_EINVAL || rc == LRD_EDTYPE || rc == LRD_ELIMIT)
			return rc; /* the value itself; anything else: try the socket */
	}
	void *frame;
	size_t len;
	rc = lrd_value_encode(v, NULL, &frame, &len);
	if (rc)
		return rc;
	kind = KIND_MSG;
	if (!(rc = buf_put(b, &kind, 1)))
		rc = buf_put(b, frame, len);
	lrd_free(frame);
	return rc;
}

/* Send b with the descriptors of fds, then close them here (the message holds its own). */
static int send_entries(int sock, const buf *b, lrd__par_fdlist *fds)
{
	int rc = lrd__par_send_fds(sock, b->p, b->len, fds->fd, fds->n);
	lrd__par_fdlist_close(fds);
	return rc;
}

/* Parse the entry at *p (end: e) into *v; *key gets the store key if it was one. */
static int get_entry(const unsigned char **p, const unsigned char *e, lrd_store *store,
                     lrd__par_fdlist *fds, unsigned dflags, lrd_value **v, char *key, size_t keycap)
{
	key[0] = 0;
	if (e - *p < 1)
		return lrd__err(LRD_ECORRUPT, "worker message truncated");
	unsigned char kind = *(*p)++;
	if (kind == KIND_SHM) {
		uint64_t len;
		if (e - *p < 8)
			return lrd__err(LRD_ECORRUPT, "worker message truncated");
		memcpy(&len, *p, 8);
		*p += 8;
		if (fds->next >= fds->n)
			return lrd__err(LRD_ECORRUPT,
			                "worker message: a shared payload came without "
			                "its descriptor");
		int fd = fds->fd[fds->next++];
		int rc = lrd__par_shm_get(fd, len, v);
		close(fd);
		return rc;
	}
	if (kind == KIND_KEY) {
		uint16_t klen;
		if (e - *p < 2)
			return lrd__err(LRD_ECORRUPT, "worker message truncated");
		memcpy(&klen, *p, 2);
		*p += 2;
		if ((size_t)(e - *p) < klen || klen >= keycap)
			return lrd__err(LRD_ECORRUPT, "worker message: bad key entry");
		memcpy(key, *p, klen);
		key[klen] = 0;
		*p += klen;
		if (!store)
			return lrd__err(LRD_EINVAL,
			                "a payload went through the store, but none is open");
		/* mapped, not copied: the value holds its snapshot, so deleting the temporary
		 * object once the batch is back does not disturb it; the store is larder's own */
		lrd_get_options go = {.mmap = true, .trust = true};
		return lrd_store_get_opts(store, NULL, key, v, &go);
	}
	size_t flen;
	int rc = lrd_value_encoded_size(*p, (size_t)(e - *p), &flen);
	if (rc)
		return rc;
	if (flen > (size_t)(e - *p))
		return lrd__err(LRD_ECORRUPT, "worker message: frame runs past the batch");
	lrd_decode_options d = {.flags = dflags};
	rc = lrd_value_decode(*p, flen, &d, v);
	*p += flen;
	return rc;
}

/* ---- the worker --------------------------------------------------------------------------- */

/* Temporary payloads need no durability: no fsync per commit. */
static int open_store(const char *path, lrd_store **s)
{
	lrd_store_options so = {.flags = LRD_STORE_NOSYNC};
	return lrd_store_open(path, &so, s);
}

static int worker_store(proc_pool *pp, lrd_store **s)
{
	if (!*s && pp->setup.store)
		return open_store(pp->setup.store, s);
	return LRD_OK;
}

static void set_env_threads(const char *n)
{
	static const char *vars[] = {"OMP_NUM_THREADS",        "OPENBLAS_NUM_THREADS",
	                             "MKL_NUM_THREADS",        "BLIS_NUM_THREADS",
	                             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		if (!getenv(vars[i]))
			setenv(vars[i], n, 0);
}

/* Run one request in the worker; fills reply `r`. */
static void worker_batch(proc_pool *pp, int me, lrd_task_fn fn, lrd_store **store, const req_hdr *h,
                         const unsigned char *payload, lrd__par_fdlist *in_fds, buf *r,
                         lrd__par_fdlist *out_fds)
{
	rep_hdr rh = {.magic = REP_MAGIC};
	char msg[LRD__PAR_MSG] = "";
	const unsigned char *p = payload, *e = payload + h->len;
	slot *sl = &pp->sh->slots[me];
	double t_batch = lrd__par_now();
	r->len = sizeof rh;
	for (uint32_t i = 0; i < h->count; i++) {
		if (atomic_load_explicit(&pp->sh->stop, memory_order_relaxed))
			break;
		lrd_value *in = NULL, *out = NULL;
		char key[128];
		int rc = worker_store(pp, store);
		if (!rc)
			rc = get_entry(&p, e, *store, in_fds, LRD_DECODE_BORROW, &in, key,
			               sizeof key);
		double t0 = lrd__par_now();
		if (!rc) {
			atomic_store(&sl->t0, t0);
			atomic_store(&sl->index, (int64_t)(h->start + i));
			rc = fn(pp->setup.ctx, in, &out);
			if (rc == LRD_OK && !out)
				rc = lrd__err(LRD_EINVAL,
				              "the task returned LRD_OK without an output value");
			if (rc == LRD_OK && pp->setup.timeout > 0 &&
			    lrd__par_now() - t0 > pp->setup.timeout)
				rc = lrd__err(LRD_ETIMEOUT,
				              "ran for %.3f s, past the timeout of %g s",
				              lrd__par_now() - t0, pp->setup.timeout);
			atomic_store(&sl->index, -1);
		}
		lrd_value_free(in);
		if (!rc)
			rc = put_entry(r, out, *store, pp->setup.max_nbytes, pp->prefix, "out",
			               h->start + i, out_fds);
		lrd_value_free(out);
		if (rc) {
			rh.fail_code = rc;
			rh.fail_item = i;
			snprintf(msg, sizeof msg, "%s", lrd_errmsg());
			break;
		}
		rh.done++;
	}
	rh.elapsed = lrd__par_now() - t_batch;
	if (rh.fail_code) {
		uint32_t ml = (uint32_t)strlen(msg);
		if (buf_put(r, &ml, 4) || buf_put(r, msg, ml))
			_exit(70);
	}
	rh.len = r->len - sizeof rh;
	memcpy(r->p, &rh, sizeof rh);
}

static void worker_main(proc_pool *pp, int me, pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	signal(SIGPIPE, SIG_IGN);
	lrd__par_set_worker_process();
	set_env_threads(pp->setup.env_threads);
	int fd = pp->w[me].fd;
	for (int j = 0; j < pp->n; j++)
		if (j != me && pp->w[j].fd >= 0)
			close(pp->w[j].fd);
	lrd_task_fn fn;
	if (lrd_task_find(pp->setup.task, &fn))
		_exit(71);
	lrd_store *store = NULL;
	buf r = {0};
	if (buf_put(&r, &(rep_hdr){0}, sizeof(rep_hdr)))
		_exit(70);
	unsigned char *payload = NULL;
	size_t pcap = 0;
	lrd__par_fdlist in_fds = {0}, out_fds = {0};
	for (;;) {
		req_hdr h;
		lrd__par_fdlist_close(&in_fds);
		int got = lrd__par_recv_fds(fd, &h, sizeof h, &in_fds);
		if (got <= 0 || h.magic != REQ_MAGIC)
			break;
		if (h.len > pcap) {
			free(payload);
			pcap = h.len;
			if (!(payload = malloc(pcap)))
				_exit(70);
		}
		if (h.len && recv_all(fd, payload, h.len) != 1)
			break;
		worker_batch(pp, me, fn, &store, &h, payload, &in_fds, &r, &out_fds);
		if (send_entries(fd, &r, &out_fds))
			break;
	}
	/* Exit without running the parent's atexit handlers or closing its store handle. */
	lrd_store_close(store);
	_exit(0);
}

/* ---- the parent --------------------------------------------------------------------------- */

static int spawn(proc_pool *pp, int i)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return lrd__err(LRD_EIO, "processes backend: socketpair: %s", strerror(errno));
	pp->w[i].fd = sv[1];
	atomic_store(&pp->sh->slots[i].index, -1);
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		pp->w[i].fd = -1;
		return lrd__err(LRD_EIO, "processes backend: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(sv[0]);
		worker_main(pp, i, parent);
	}
	close(sv[1]);
	pp->w[i] = (worker){.pid = pid, .fd = sv[0]};
	return LRD_OK;
}

static void reap(worker *w, int *status)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	while (waitpid(w->pid, status, 0) < 0 && errno == EINTR)
		;
	w->pid = 0;
}

/* Delete the temporary objects of batch b (inputs and outputs). */
static void drop_temps(proc_pool *pp, const lrd_parallel_batch *b)
{
	if (!pp->store)
		return;
	char key[128];
	for (size_t i = 0; i < b->count; i++)
		for (int d = 0; d < 2; d++) {
			key_of(pp->prefix, d ? "out" : "in", b->start + i, key, sizeof key);
			lrd_store_del(pp->store, NULL, key);
		}
}

/* The batch of worker i is over (a reply, a death, a timeout): free the worker, file b. */
static void batch_over(proc_pool *pp, int i)
{
	lrd_parallel_batch *b = pp->w[i].batch;
	pp->w[i].batch = NULL;
	drop_temps(pp, b);
	lrd__par_queue_push(&pp->dhead, &pp->dtail, b);
}

/* Worker i died or was killed: reap it, fail its batch, start another. */
static void worker_lost(proc_pool *pp, int i, bool timed_out)
{
	lrd_parallel_batch *b = pp->w[i].batch;
	int64_t idx = atomic_load(&pp->sh->slots[i].index);
	size_t at = idx >= 0 ? (size_t)idx - b->start : 0;
	pid_t pid = pp->w[i].pid;
	int st = 0;
	if (timed_out)
		kill(pid, SIGKILL);
	reap(&pp->w[i], &st);
	char msg[200];
	if (timed_out)
		snprintf(msg, sizeof msg,
		         "ran past the timeout of %g s; worker %d killed and replaced",
		         pp->setup.timeout, (int)pid);
	else if (WIFSIGNALED(st))
		snprintf(msg, sizeof msg, "worker %d was killed by signal %d (SIG%s)%s", (int)pid,
		         WTERMSIG(st),
		         sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?",
		         WTERMSIG(st) == SIGKILL ? " (the OOM killer sends this one)" : "");
	else
		snprintf(msg, sizeof msg, "worker %d exited with status %d", (int)pid,
		         WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	lrd_parallel_batch_fail(b, at, timed_out ? LRD_ETIMEOUT : LRD_EWORKER, msg);
	batch_over(pp, i);
	spawn(pp, i); /* on failure the slot stays empty and the pool works with fewer */
}

/* Read worker i's reply into its batch. */
static void take_reply(proc_pool *pp, int i, buf *in)
{
	lrd_parallel_batch *b = pp->w[i].batch;
	rep_hdr h;
	lrd__par_fdlist fds = {0};
	if (lrd__par_recv_fds(pp->w[i].fd, &h, sizeof h, &fds) != 1 || h.magic != REP_MAGIC) {
		lrd__par_fdlist_close(&fds);
		worker_lost(pp, i, false);
		return;
	}
	in->len = 0;
	if (h.len > in->cap) {
		free(in->p);
		in->cap = h.len;
		in->p = malloc(h.len);
	}
	if (h.len && (!in->p || recv_all(pp->w[i].fd, in->p, h.len) != 1)) {
		lrd__par_fdlist_close(&fds);
		worker_lost(pp, i, false);
		return;
	}
	const unsigned char *p = in->p, *e = in->p + h.len;
	int rc = LRD_OK;
	for (uint32_t k = 0; k < h.done && !rc; k++) {
		lrd_value *v = NULL;
		char key[128];
		rc = get_entry(&p, e, pp->store, &fds, 0, &v, key, sizeof key);
		if (rc)
			lrd_parallel_batch_fail(b, k, lrd__errctx(rc, "bringing its result back"),
			                        lrd_errmsg());
		else
			lrd_parallel_batch_set_output(b, k, v);
	}
	if (!rc && h.fail_code) {
		uint32_t ml = 0;
		char msg[LRD__PAR_MSG] = "";
		if (e - p >= 4) {
			memcpy(&ml, p, 4);
			p += 4;
			if (ml < sizeof msg && (size_t)(e - p) >= ml)
				memcpy(msg, p, ml);
		}
		lrd_parallel_batch_fail(b, h.fail_item, h.fail_code, msg);
	}
	lrd__par_fdlist_close(&fds);
	b->elapsed = h.elapsed;
	batch_over(pp, i);
}

static int send_batch(proc_pool *pp, int i, lrd_parallel_batch *b)
{
	buf *o = &pp->out;
	o->len = 0;
	req_hdr h = {.magic = REQ_MAGIC, .count = (uint32_t)b->count, .start = b->start};
	int rc = buf_put(o, &h, sizeof h);
	for (size_t k = 0; k < b->count && !rc; k++)
		rc = put_entry(o, lrd_parallel_batch_input(b, k), pp->store, pp->setup.max_nbytes,
		               pp->prefix, "in", b->start + k, &pp->out_fds);
	if (rc) {
		lrd__par_fdlist_close(&pp->out_fds);
		return rc;
	}
	h.len = o->len - sizeof h;
	memcpy(o->p, &h, sizeof h);
	pp->w[i].batch = b;
	if (send_entries(pp->w[i].fd, o, &pp->out_fds))
		worker_lost(pp, i, false); /* it died between batches */
	return LRD_OK;
}

/* Give queued batches to idle workers. */
static int assign(proc_pool *pp)
{
	for (int i = 0; i < pp->n && pp->qhead; i++) {
		if (pp->w[i].batch || pp->w[i].fd < 0)
			continue;
		lrd_parallel_batch *b = lrd__par_queue_pop(&pp->qhead, &pp->qtail);
		if (atomic_load(&pp->sh->stop)) {
			lrd__par_queue_push(&pp->dhead, &pp->dtail, b);
			continue;
		}
		int rc = send_batch(pp, i, b);
		if (rc) {
			lrd_parallel_batch_fail(b, 0, rc, lrd_errmsg());
			lrd__par_queue_push(&pp->dhead, &pp->dtail, b);
		}
	}
	return LRD_OK;
}

static int proc_n_jobs(int n) { return n; }

static void proc_release(void *pool);

static int proc_configure(const lrd_parallel_setup *setup, void **pool)
{
	proc_pool *pp = lrd__calloc(1, sizeof *pp);
	if (!pp)
		return LRD_ENOMEM;
	pp->setup = *setup;
	pp->n = setup->n_jobs;
	snprintf(pp->prefix, sizeof pp->prefix, "lrd.parallel/%d.%u/", (int)getpid(),
	         __atomic_fetch_add(&pool_seq, 1, __ATOMIC_RELAXED));
	pp->shsize = sizeof(shared) + (size_t)pp->n * sizeof(slot);
	pp->sh = mmap(NULL, pp->shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pp->w = lrd__calloc((size_t)pp->n, sizeof *pp->w);
	int rc = pp->sh == MAP_FAILED
	             ? lrd__err(LRD_ENOMEM, "processes backend: mmap: %s", strerror(errno))
	         : pp->w ? LRD_OK
	                 : LRD_ENOMEM;
	if (pp->sh == MAP_FAILED)
		pp->sh = NULL;
	for (int i = 0; pp->w && i < pp->n; i++)
		pp->w[i].fd = -1;
	if (!rc && setup->store)
		rc = open_store(setup->store, &pp->store);
	for (int i = 0; !rc && i < pp->n; i++)
		rc = spawn(pp, i);
	if (rc) {
		proc_release(pp);
		return rc;
	}
	*pool = pp;
	return LRD_OK;
}

static int proc_submit(void *pool, lrd_parallel_batch *b)
{
	proc_pool *pp = pool;
	lrd__par_queue_push(&pp->qhead, &pp->qtail, b);
	return assign(pp);
}

static int proc_collect(void *pool, double wait, lrd_parallel_batch **done)
{
	proc_pool *pp = pool;
	double until = wait > 0 ? lrd__par_now() + wait : 0;
	struct pollfd pf[pp->n > 0 ? pp->n : 1];
	int who[pp->n > 0 ? pp->n : 1];
	buf in = {0};
	for (;;) {
		assign(pp);
		if ((*done = lrd__par_queue_pop(&pp->dhead, &pp->dtail))) {
			free(in.p);
			return LRD_OK;
		}
		int np = 0, live = 0;
		double now = lrd__par_now(), next = until;
		for (int i = 0; i < pp->n; i++) {
			live += pp->w[i].fd >= 0;
			if (!pp->w[i].batch)
				continue;
			if (pp->setup.timeout > 0 && atomic_load(&pp->sh->slots[i].index) >= 0) {
				double dl = atomic_load(&pp->sh->slots[i].t0) + pp->setup.timeout;
				if (dl <= now) {
					worker_lost(pp, i, true);
					continue;
				}
				if (!next || dl < next)
					next = dl;
			}
			pf[np] = (struct pollfd){.fd = pp->w[i].fd, .events = POLLIN};
			who[np++] = i;
		}
		if (pp->dhead)
			continue;
		if (!live) {
			free(in.p);
			return lrd__err(LRD_EWORKER,
			                "processes backend: no worker left (fork failing)");
		}
		if (!np) {
			free(in.p);
			return wait == 0
			           ? LRD_ETIMEOUT
			           : lrd__err(LRD_EINVAL, "processes backend: nothing to collect");
		}
		int ms = -1;
		if (wait == 0)
			ms = 0;
		else if (next) {
			double d = next - now;
			ms = d <= 0 ? 0 : (int)(d * 1000) + 1;
		} else if (pp->setup.timeout > 0)
			ms = (int)(pp->setup.timeout * 1000) + 1; /* a task may start any moment */
		int k = poll(pf, (nfds_t)np, ms);
		if (k < 0 && errno != EINTR) {
			free(in.p);
			return lrd__err(LRD_EIO, "processes backend: poll: %s", strerror(errno));
		}
		for (int j = 0; k > 0 && j < np; j++)
			if (pf[j].revents)
				take_reply(pp, who[j], &in);
		if (!pp->dhead && (wait == 0 || (wait > 0 && lrd__par_now() >= until))) {
			free(in.p);
			return LRD_ETIMEOUT;
		}
	}
}

static void proc_abort(void *pool)
{
	proc_pool *pp = pool;
	atomic_store(&pp->sh->stop, 1);
	lrd_parallel_batch *b;
	while ((b = lrd__par_queue_pop(&pp->qhead, &pp->qtail)))
		lrd__par_queue_push(&pp->dhead, &pp->dtail, b);
}

static void proc_release(void *pool)
{
	proc_pool *pp = pool;
	if (!pp)
		return;
	for (int i = 0; pp->w && i < pp->n; i++) {
		if (!pp->w[i].pid)
			continue;
		if (pp->w[i].batch)
			kill(pp->w[i].pid, SIGKILL);
		int st;
		reap(&pp->w[i], &st);
	}
	if (pp->store) {
		/* whatever a killed worker left behind, in rounds (deleting while iterating is not
		 * allowed) until nothing of the pool's prefix is left */
		for (int nk = 64; nk == 64;) {
			lrd_store_iter *it;
			if (lrd_store_iter_new(pp->store, NULL, pp->prefix, &it) != LRD_OK)
				break;
			const char *key;
			size_t klen;
			lrd_buf val;
			char *keys[64];
			nk = 0;
			while (nk < 64 && lrd_store_iter_next(it, &key, &klen, &val) == LRD_OK)
				keys[nk++] = strndup(key, klen);
			lrd_store_iter_free(it);
			int gone = 0;
			for (int i = 0; i < nk; i++) {
				gone +=
				    keys[i] && lrd_store_del(pp->store, NULL, keys[i]) == LRD_OK;
				free(keys[i]);
			}
			if (!gone)
				break;
		}
		lrd_store_close(pp->store); /* results still mapped keep its environment */
	}
	if (pp->sh)
		munmap(pp->sh, pp->shsize);
	free(pp->out.p);
	lrd__free(pp->w);
	lrd__free(pp);
}

const lrd_parallel_backend lrd__par_processes = {
    .abi = LRD_PARALLEL_BACKEND_ABI,
    .effective_n_jobs = proc_n_jobs,
    .configure = proc_configure,
    .submit = proc_submit,
    .collect = proc_collect,
    .abort = proc_abort,
    .release = proc_release,
};
