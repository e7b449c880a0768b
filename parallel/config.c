/* Option resolution: explicit options, then this thread's scoped defaults (innermost push
 * first, like joblib's nested parallel_config), then $LARDER_N_JOBS / $LARDER_BACKEND, then the
 * built-in defaults. The scope stack is thread-local, so no locking; strings pushed are copied
 * into the stack's own buffers. Environment values are validated on every map so that a bad
 * value is an error naming the variable, never a silent fallback. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "parallel/parallel_internal.h"

#define MAX_DEPTH 16
#define MAX_JOBS  1024
#define PATH_CAP  4096

struct scope {
	lrd_parallel_options o;
	char backend[LRD_TASK_MAX_NAME + 1];
	char store[PATH_CAP];
};

static _Thread_local struct scope scopes[MAX_DEPTH];
static _Thread_local int depth;

double lrd__par_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int lrd__par_cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MAX_JOBS ? MAX_JOBS : (int)n;
}

int lrd_parallel_config_push(const lrd_parallel_options *opts)
{
	if (!opts)
		return lrd__err(LRD_EINVAL, "lrd_parallel_config_push: NULL options");
	if (depth == MAX_DEPTH)
		return lrd__err(LRD_ELIMIT, "parallel config pushed more than %d deep", MAX_DEPTH);
	if (opts->backend && strlen(opts->backend) > LRD_TASK_MAX_NAME)
		return lrd__err(LRD_EINVAL, "backend name longer than %d bytes", LRD_TASK_MAX_NAME);
	if (opts->store && strlen(opts->store) >= PATH_CAP)
		return lrd__err(LRD_EINVAL, "store path longer than %d bytes", PATH_CAP - 1);
	struct scope *s = &scopes[depth];
	s->o = *opts;
	if (opts->backend) {
		strcpy(s->backend, opts->backend);
		s->o.backend = s->backend;
	}
	if (opts->store) {
		strcpy(s->store, opts->store);
		s->o.store = s->store;
	}
	depth++;
	return LRD_OK;
}

int lrd_parallel_config_pop(void)
{
	if (depth == 0)
		return lrd__err(LRD_EINVAL, "lrd_parallel_config_pop: nothing pushed");
	depth--;
	return LRD_OK;
}

/* Fill the zero fields of *o from the scopes, innermost first. */
static void apply_scopes(lrd_parallel_options *o)
{
	for (int d = depth - 1; d >= 0; d--) {
		const lrd_parallel_options *s = &scopes[d].o;
#define TAKE(f)                                                                                    \
	do {                                                                                       \
		if (!o->f)                                                                         \
			o->f = s->f;                                                               \
	} while (0)
		TAKE(n_jobs);
		TAKE(backend);
		TAKE(batch_size);
		TAKE(pre_dispatch);
		TAKE(verbose);
		TAKE(max_nbytes);
		TAKE(store);
		TAKE(flags);
		if (o->timeout == 0)
			o->timeout = s->timeout;
#undef TAKE
	}
}

/* n_jobs in joblib's meaning to a count >= 1; *out. */
static int jobs_count(int n_jobs, const char *from, int *out)
{
	if (n_jobs < -MAX_JOBS || n_jobs > MAX_JOBS)
		return lrd__err(LRD_EINVAL, "%s: n_jobs %d out of range -%d..%d", from, n_jobs,
		                MAX_JOBS, MAX_JOBS);
	int cores = lrd__par_cores();
	int n = n_jobs > 0 ? n_jobs : cores + 1 + n_jobs;
	*out = n < 1 ? 1 : n;
	return LRD_OK;
}

static int env_n_jobs(int *out)
{
	const char *e = getenv("LARDER_N_JOBS");
	if (!e || !*e)
		return 0;
	char *end;
	errno = 0;
	long v = strtol(e, &end, 10);
	if (errno || *end || v == 0 || v < -MAX_JOBS || v > MAX_JOBS)
		return lrd__err(LRD_EINVAL, "LARDER_N_JOBS='%s': not a non-zero integer in -%d..%d",
		                e, MAX_JOBS, MAX_JOBS);
	*out = (int)v;
	return 1;
}

static int resolve_backend(const char *name, const lrd_parallel_backend **vt, const char **used)
{
	if (!name) {
		const char *e = getenv("LARDER_BACKEND");
		name = e && *e ? e : "threads";
		if (e && *e && !lrd__par_name_ok(e))
			return lrd__err(LRD_EINVAL, "LARDER_BACKEND='%.64s': not a backend name",
			                e);
	}
	*used = name;
	return lrd__par_backend_find(name, vt);
}

int lrd__par_resolve(const lrd_parallel_options *opts, lrd__par_conf *c)
{
	lrd_parallel_options o = {0};
	if (opts)
		o = *opts;
	int rc = LRD__RESERVED_CHECK(&o, "lrd_parallel_options");
	if (rc)
		return rc;
	apply_scopes(&o);
	memset(c, 0, sizeof *c);
	if (o.timeout < 0 || o.timeout != o.timeout)
		return lrd__err(LRD_EINVAL, "timeout %g: must be >= 0 seconds", o.timeout);
	if (o.verbose < 0)
		return lrd__err(LRD_EINVAL, "verbose %d: must be >= 0", o.verbose);
	if (o.flags & ~(unsigned)(LRD_PARALLEL_UNORDERED | LRD_PARALLEL_NESTED))
		return lrd__err(LRD_EINVAL, "unknown lrd_parallel_flags 0x%x", o.flags);
	int requested = o.n_jobs;
	const char *from = "n_jobs";
	if (!requested) {
		int found = env_n_jobs(&requested);
		if (found < 0)
			return found;
		from = found ? "LARDER_N_JOBS" : from;
		if (!found)
			requested = 1;
	}
	const char *name = NULL;
	rc = resolve_backend(o.backend, &c->vt, &name);
	if (rc)
		return rc;
	/* A map started inside a task runs in that worker, sequentially, unless asked otherwise. */
	if (lrd_parallel_in_worker() && !(o.flags & LRD_PARALLEL_NESTED)) {
		name = "sequential";
		c->vt = &lrd__par_sequential;
	}
	strcpy(c->backend, name);
	int n = 1;
	if ((rc = jobs_count(requested, from, &n)))
		return rc;
	c->n_jobs = c->vt->effective_n_jobs(n);
	if (c->n_jobs < 1)
		c->n_jobs = 1;
	c->batch_size = o.batch_size;
	c->pre_dispatch = o.pre_dispatch ? o.pre_dispatch : 2 * (size_t)c->n_jobs;
	c->timeout = o.timeout;
	c->verbose = o.verbose;
	c->max_nbytes = o.max_nbytes ? o.max_nbytes : (size_t)1 << 20;
	c->store = o.store;
	c->flags = o.flags;
	return LRD_OK;
}

int lrd_parallel_effective_n_jobs(int n_jobs, const char *backend)
{
	lrd_parallel_options o = {.n_jobs = n_jobs, .backend = backend};
	lrd__par_conf c;
	int rc = lrd__par_resolve(&o, &c);
	return rc ? rc : c.n_jobs;
}
