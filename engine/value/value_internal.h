/* Internal view of values for engine code: the value struct, array constructors used by
 * loaders and the store (uninitialised owned buffers, mapped buffers with a release callback),
 * size computation of shapes, map insertion with an explicit key length and UTF-8 validation.
 * Not installed; memo/ and parallel/ must not include it. */
#ifndef LRD_VALUE_INTERNAL_H
#define LRD_VALUE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "larder/value.h"

/* Alignment of owned array buffers (a cache line; what AVX-512 loads like). */
#define LRD__ALIGN 64

struct lrd__array {
	lrd_dtype dt;
	unsigned ndim;
	lrd_order order;
	lrd_bufkind bufkind;
	uint64_t count;
	size_t nbytes;
	uint64_t *shape;            /* ndim extents, stored after this struct; NULL if 0-d */
	void *data;                 /* never NULL when nbytes > 0 */
	void *block;                /* owned: the allocation data lies in */
	void (*release)(void *ctx); /* mapped: called once by lrd_value_free */
	void *ctx;
};

struct lrd__map_entry {
	char *key; /* NUL-terminated, valid UTF-8, no embedded NUL */
	size_t keylen;
	uint64_t hash; /* set only while the map has its index (slots) */
	lrd_value *item;
};

/* lrd_value.flags. A node built by a decoder may share one allocation (a "block") with its
 * container: the container is the block's head and frees it; nothing else in it is freed
 * alone. There is no way to take an item out of a container other than freeing it (a replaced
 * map item is freed), so an embedded node never outlives the block. */
enum {
	/* The node lies in its container's block: freeing it releases what it holds, and its
	 * memory goes with the block. */
	LRD__V_EMBEDDED = 0x1,
	/* Map: u.map.ent (capacity u.map.cap) lies in the node's block (growth moves it out). */
	LRD__V_BLOCK_ENT = 0x2,
	/* One of the three shared read-only nodes (nil, false, true; see lrd__value_shared). */
	LRD__V_SHARED = 0x4,
};

struct lrd_value {
	lrd_kind kind;
	uint16_t flags;      /* LRD__V_* */
	uint16_t nblockkeys; /* map: the keys of entries [0, nblockkeys) lie in the node's block */
	lrd_value *parent;   /* the list or map holding this value, NULL for a root */
	union {
		bool b;
		int64_t i;
		double f;
		struct {
			char *p; /* str: NUL-terminated; bytes: never NULL */
			size_t len;
		} s;
		struct {
			lrd_value **items;
			size_t len, cap;
		} list;
		struct {
			struct lrd__map_entry *ent; /* insertion order */
			size_t len, cap;
			size_t *slots; /* open-addressing index: entry number + 1, 0 empty; NULL
			                  while small */
			size_t nslots;
		} map;
		struct lrd__array *a; /* in the value's own allocation, after it: the union
		                         stays small for the common scalar nodes */
	} u;
};

/* nil, false and true are immutable and shared: lrd_value_new_nil/_bool return one static
 * node each, which has no parent, is never written and never freed; a list or map may hold it
 * any number of times. Code that writes a node's parent or frees it skips these. */
/* The shared nodes themselves: nil, false, true (what lrd_value_new_nil/_bool return). */
extern const lrd_value lrd__shared_nodes[3];
#define LRD__NIL     ((lrd_value *)&lrd__shared_nodes[0])
#define LRD__BOOL(b) ((lrd_value *)&lrd__shared_nodes[(b) ? 2 : 1])
static inline bool lrd__value_shared(const lrd_value *v) { return v && (v->flags & LRD__V_SHARED); }

/* Element count and byte size of a shape. Every extent counts at least 1 for the overflow
 * check (so strides fit too), and the byte size must not exceed PTRDIFF_MAX.
 * Errors: LRD_EDTYPE (invalid dt), LRD_EINVAL (ndim > 32, shape NULL with ndim > 0),
 * LRD_ELIMIT (overflow). */
int lrd__array_size(lrd_dtype dt, unsigned ndim, const uint64_t *shape, uint64_t *count,
                    size_t *nbytes);

/* Like lrd_array_new but the owned, 64-byte aligned buffer is left uninitialised, for loaders
 * that fill every byte. */
int lrd__array_new_uninit(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                          lrd_value **out);

/* An owned array over memory the caller allocated: block (lrd__malloc'd; freed with the
 * value) holds the array's bytes at data, which is LRD__ALIGN-aligned. For loaders that grow
 * the buffer as bytes arrive. On failure block stays the caller's. */
int lrd__array_new_adopt(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                         void *block, void *data, lrd_value **out);

/* An array over read-only mapped memory (LRD_BUF_MAPPED). `size` must equal the array's byte
 * size. release(ctx), if not NULL, is called exactly once when the value is freed. On failure
 * release is not called: the caller still owns the mapping. */
int lrd__array_new_mapped(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                          const void *data, size_t size, void (*release)(void *ctx), void *ctx,
                          lrd_value **out);

/* One entry of a map built whole by lrd__map_new_block: item (owned), or, with item NULL, a
 * scalar node of `kind` (LRD_KIND_INT or LRD_KIND_FLOAT, value in `bits`) made inside the
 * block. */
typedef struct lrd__map_init {
	const char *key;
	size_t keylen;
	lrd_value *item;
	lrd_kind kind;
	uint64_t bits;
} lrd__map_init;

/* A map of the n entries in[0..n), in that order, as one allocation: the node, its entry
 * array, the scalar items that in[] leaves for it to make, and the keys. The caller has
 * checked the keys (valid UTF-8, no NUL, no two alike) and n <= LRD__MAP_BLOCK_MAX. On success
 * the map owns every in[i].item; on failure (LRD_ENOMEM) they stay the caller's. */
#define LRD__MAP_BLOCK_MAX 8
int lrd__map_new_block(const lrd__map_init *in, size_t n, lrd_value **out);

/* lrd_map_set with a key of explicit length (not NUL-terminated). LRD_EINVAL if the key holds
 * a NUL byte or is not valid UTF-8. Ownership of item as for lrd_map_set. */
int lrd__map_set_n(lrd_value *map, const char *key, size_t keylen, lrd_value *item);

/* Make room for n items in a list (a decoder that knows the input holds them: no count read
 * from untrusted input may reach here unchecked). LRD_ENOMEM. */
int lrd__list_reserve(lrd_value *list, size_t n);

/* A str or bytes value of n bytes, left for the caller to fill (u.s.p[0..n)), NUL-terminated.
 * The caller validates UTF-8 for a str (engine/value.c). */
int lrd__blob_new_uninit(lrd_kind kind, size_t n, lrd_value **out);

/* A value of `kind` with everything else zero (engine/value.c). */
lrd_value *lrd__value_alloc(lrd_kind kind, size_t extra);

/* Checks run before `container` (expected of `kind`) takes `item`. On failure returns the error
 * and frees item, unless item is NULL, already in a tree, or container itself or one of its
 * ancestors (freeing it then would free a value someone else owns). */
int lrd__adopt_check(lrd_value *container, lrd_kind kind, lrd_value *item, const char *what);

/* Array parts of the tree operations (engine/array.c). */
void lrd__array_release(lrd_value *a);
bool lrd__array_equal(const lrd_value *a, const lrd_value *b);
int lrd__array_clone(const lrd_value *a, lrd_value **out);

/* Map parts (engine/map.c): free the keys and the index, not the items. */
void lrd__map_release(lrd_value *m);

/* true if p[0..n) is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
bool lrd__utf8_valid(const void *p, size_t n);

#endif
