/* Checked allocation with a countdown fault-injection hook (after SQLite's test_malloc.c).
 *
 * lrd__alloc_failafter(n) makes the (n+1)-th following allocation on any thread fail, once
 * enabled; tests use it to prove every allocation failure path returns LRD_ENOMEM cleanly. The
 * countdown is atomic so threaded code under test stays well-defined. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/testhook.h"

static atomic_long countdown = -1;

void lrd__alloc_failafter(long n) { atomic_store(&countdown, n); }

static bool inject_failure(void)
{
	long c = atomic_load(&countdown);
	while (c >= 0) {
		if (atomic_compare_exchange_weak(&countdown, &c, c - 1))
			return c == 0;
	}
	return false;
}

static void *fail(size_t n)
{
	lrd__err(LRD_ENOMEM, "out of memory allocating %zu bytes", n);
	return NULL;
}

void *lrd__malloc(size_t n)
{
	void *p = inject_failure() ? NULL : malloc(n ? n : 1);
	return p ? p : fail(n);
}

void *lrd__calloc(size_t n, size_t size)
{
	void *p = inject_failure() ? NULL : calloc(n ? n : 1, size ? size : 1);
	return p ? p : fail(n * size);
}

void *lrd__realloc(void *old, size_t n)
{
	void *p = inject_failure() ? NULL : realloc(old, n ? n : 1);
	return p ? p : fail(n);
}

char *lrd__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = lrd__malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

void lrd__free(void *p) { free(p); }
