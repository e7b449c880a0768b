/* The task and backend registries: two small tables of names, each behind its own mutex.
 * Tasks are looked up once per map (and once per worker process), so a linear scan over at most
 * 1024 names is cheap enough and keeps the table trivially fork-safe: a worker forked while no
 * map holds the lock inherits a consistent copy. The built-in backends are added on first use. */
#include <pthread.h>
#include <string.h>

#include "parallel/parallel_internal.h"

#define MAX_TASKS    1024
#define MAX_BACKENDS 32

struct named {
	char name[LRD_TASK_MAX_NAME + 1];
	const void *p;
};

static pthread_mutex_t task_mu = PTHREAD_MUTEX_INITIALIZER;
static struct named tasks[MAX_TASKS];
static size_t ntasks;

static pthread_mutex_t backend_mu = PTHREAD_MUTEX_INITIALIZER;
static struct named backends[MAX_BACKENDS];
static size_t nbackends;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

bool lrd__par_name_ok(const char *name)
{
	if (!name || !name[0] || strlen(name) > LRD_TASK_MAX_NAME)
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || strchr("_.:-", *c)))
			return false;
	return true;
}

/* Add (name, p) to a table; the caller holds its lock. */
static int table_add(struct named *t, size_t *n, size_t cap, const char *what, const char *name,
                     const void *p)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].p == p ? LRD_OK
			                   : lrd__err(LRD_EEXIST, "%s '%s' is already registered",
			                              what, name);
	if (*n == cap)
		return lrd__err(LRD_ELIMIT, "more than %zu %ss registered", cap, what);
	strcpy(t[*n].name, name);
	t[*n].p = p;
	(*n)++;
	return LRD_OK;
}

static const void *table_find(const struct named *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].p;
	return NULL;
}

int lrd_task_register(const char *name, lrd_task_fn fn)
{
	if (!lrd__par_name_ok(name) || !fn)
		return lrd__err(LRD_EINVAL,
		                "task name must be 1..%d bytes of [A-Za-z0-9_.:-] and fn "
		                "not NULL",
		                LRD_TASK_MAX_NAME);
	pthread_mutex_lock(&task_mu);
	int rc = table_add(tasks, &ntasks, MAX_TASKS, "task", name, (const void *)fn);
	pthread_mutex_unlock(&task_mu);
	return rc;
}

int lrd_task_find(const char *name, lrd_task_fn *fn)
{
	if (!name || !fn)
		return lrd__err(LRD_EINVAL, "lrd_task_find: NULL argument");
	pthread_mutex_lock(&task_mu);
	const void *p = table_find(tasks, ntasks, name);
	pthread_mutex_unlock(&task_mu);
	if (!p)
		return lrd__err(LRD_ENOTFOUND, "no task named '%s' is registered", name);
	*fn = (lrd_task_fn)p;
	return LRD_OK;
}

static void add_builtins(void)
{
	table_add(backends, &nbackends, MAX_BACKENDS, "backend", "sequential",
	          &lrd__par_sequential);
	table_add(backends, &nbackends, MAX_BACKENDS, "backend", "threads", &lrd__par_threads);
	table_add(backends, &nbackends, MAX_BACKENDS, "backend", "processes", &lrd__par_processes);
}

int lrd_parallel_register_backend(const char *name, const lrd_parallel_backend *vt)
{
	if (!lrd__par_name_ok(name) || !vt)
		return lrd__err(LRD_EINVAL,
		                "backend name must be 1..%d bytes of [A-Za-z0-9_.:-] and "
		                "the vtable not NULL",
		                LRD_TASK_MAX_NAME);
	if (vt->abi != LRD_PARALLEL_BACKEND_ABI)
		return lrd__err(LRD_EVERSION, "backend '%s' has ABI %u, this larder speaks %d",
		                name, vt->abi, LRD_PARALLEL_BACKEND_ABI);
	if (!vt->effective_n_jobs || !vt->configure || !vt->submit || !vt->collect || !vt->abort ||
	    !vt->release)
		return lrd__err(LRD_EINVAL, "backend '%s': every vtable member must be set", name);
	pthread_once(&builtin_once, add_builtins);
	pthread_mutex_lock(&backend_mu);
	int rc = table_add(backends, &nbackends, MAX_BACKENDS, "backend", name, vt);
	pthread_mutex_unlock(&backend_mu);
	return rc;
}

int lrd__par_backend_find(const char *name, const lrd_parallel_backend **vt)
{
	pthread_once(&builtin_once, add_builtins);
	pthread_mutex_lock(&backend_mu);
	const void *p = table_find(backends, nbackends, name);
	pthread_mutex_unlock(&backend_mu);
	if (!p)
		return lrd__err(LRD_ENOTFOUND,
		                "no parallel backend named '%s' (built in: sequential, "
		                "threads, processes)",
		                name);
	*vt = p;
	return LRD_OK;
}

size_t lrd_parallel_backends(const char **names, size_t cap)
{
	pthread_once(&builtin_once, add_builtins);
	pthread_mutex_lock(&backend_mu);
	size_t n = nbackends;
	for (size_t i = 0; i < n && i < cap; i++)
		names[i] = backends[i].name;
	pthread_mutex_unlock(&backend_mu);
	return n;
}
