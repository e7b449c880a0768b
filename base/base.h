/* Internal helpers shared by every layer: error reporting, checked allocation with a fault
 * injection hook, overflow-checked arithmetic. Not installed. */
#ifndef LRD_BASE_H
#define LRD_BASE_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "larder/error.h"

#define LRD__INTERNAL __attribute__((visibility("hidden")))

/* Set the thread's error message and return code. */
int lrd__err(int code, const char *fmt, ...) LRD_PRINTF(2, 3);
/* Prefix the current message with context: "chunk 3: <old message>"; returns code. */
int lrd__errctx(int code, const char *fmt, ...) LRD_PRINTF(2, 3);
/* An expected outcome reported without detail (LRD_ENOTFOUND for an absent key or at the end
 * of an iteration): lrd_errmsg() then gives the code's description, never an earlier failure's
 * text. Costs two thread-local stores, no formatting: for hot paths. Returns code. */
int lrd__quiet(int code);
/* Clear the thread's message. */
void lrd__errclear(void);
/* The thread's error outcome, kept across clean-up that reports errors of its own (deleting
 * what may be absent, closing): save before, restore after, and the caller sees the first. */
typedef struct lrd__errsaved {
	int quiet_code;
	char msg[512];
} lrd__errsaved;
void lrd__errsave(lrd__errsaved *s);
void lrd__errrestore(const lrd__errsaved *s);

/* Allocation goes through these so tests can fail the Nth allocation (see lrd__alloc_failafter).
 * lrd__malloc/calloc/realloc set an LRD_ENOMEM message on failure. */
void *lrd__malloc(size_t n);
void *lrd__calloc(size_t n, size_t size);
void *lrd__realloc(void *p, size_t n);
char *lrd__strdup(const char *s);
void lrd__free(void *p);

/* Options structs end with `uint64_t reserved[8]` that callers leave zero (CONVENTIONS.md):
 * LRD_OK if every word of reserved[0..n) is zero, else LRD_EINVAL naming the struct `what`. */
int lrd__reserved_check(const uint64_t *reserved, size_t n, const char *what);
#define LRD__RESERVED_CHECK(opts, what)                                                            \
	lrd__reserved_check((opts)->reserved, sizeof(opts)->reserved / sizeof(opts)->reserved[0],  \
	                    what)

/* Overflow-checked size arithmetic: false on overflow. */
static inline bool lrd__mul_ok(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}
static inline bool lrd__add_ok(size_t a, size_t b, size_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

/* Files an open store maps or locks, by (st_dev, st_ino), counted: an output opened by path
 * onto one of them is refused (base/fileguard.c). */
void lrd__guard_add(dev_t dev, ino_t ino);
void lrd__guard_del(dev_t dev, ino_t ino);
bool lrd__guarded(dev_t dev, ino_t ino);

#endif
