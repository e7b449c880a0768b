/* The byte encoding of a value tree, shared by .lrd files and the store. Not installed.
 *
 * Encoding (FORMAT.md, "Value tree"): one tag byte, then the body.
 *
 *   0x00 nil     (no body)
 *   0x01 false   (no body)        0x02 true (no body)
 *   0x03 int     8 bytes, two's complement, little endian
 *   0x04 float   8 bytes, IEEE 754 binary64 bits, little endian
 *   0x05 str     varint length, then that many bytes of UTF-8 (no NUL terminator)
 *   0x06 bytes   varint length, then the bytes
 *   0x07 list    varint count, then count values
 *   0x08 map     varint count, then count × (varint key length, UTF-8 key, value), in order
 *   0x09 array   varint typestr length (1..16), ASCII numpy typestr ("<f8"); u8 order (0 C,
 *                1 Fortran); u8 ndim (0..32); ndim varint extents; then the payload, whose
 *                encoding belongs to the container (the hooks below)
 *
 * varint = unsigned LEB128, at most 10 bytes. Decoding is strict: unknown tags, invalid UTF-8,
 * NUL in keys, repeated keys, trailing nonzero bits, element counts whose byte size overflows,
 * and nesting deeper than the depth limit are LRD_ECORRUPT (LRD_EDTYPE for a bad typestr);
 * every length is checked against the bytes left before anything is allocated, and a count
 * preallocates no more list items than the bytes left could hold (one byte each at least). The
 * meaning of these functions and of the hooks is fixed: the store depends on them. */
#ifndef LRD_ENGINE_TREE_H
#define LRD_ENGINE_TREE_H

#include "engine/record/wire.h"
#include "larder/value.h"

enum {
	LRD__TAG_NIL = 0x00,
	LRD__TAG_FALSE = 0x01,
	LRD__TAG_TRUE = 0x02,
	LRD__TAG_INT = 0x03,
	LRD__TAG_FLOAT = 0x04,
	LRD__TAG_STR = 0x05,
	LRD__TAG_BYTES = 0x06,
	LRD__TAG_LIST = 0x07,
	LRD__TAG_MAP = 0x08,
	LRD__TAG_ARRAY = 0x09,
};

/* Default nesting limit (containers inside containers) for decoding. */
#define LRD__TREE_MAX_DEPTH 64

/* An array's description as decoded from the tree, before its payload. */
typedef struct lrd__array_desc {
	lrd_dtype dtype;
	lrd_order order;
	unsigned ndim;
	uint64_t shape[LRD_MAX_NDIM];
	uint64_t count;  /* product of shape (1 for ndim 0) */
	uint64_t nbytes; /* count * itemsize, checked not to overflow 64 bits */
} lrd__array_desc;

/* A bound on what decoding may build, over every kind of value: each value node counts
 * LRD__TREE_NODE_COST bytes, each string, bytes value and map key its length, each array its
 * byte size (charged by array_in, once it has checked the declared size against the input and
 * before it allocates). Going over is LRD_ELIMIT. Only building counts (skipping does not). */
#define LRD__TREE_NODE_COST 8
typedef struct lrd__budget {
	uint64_t limit; /* 0: unbounded */
	uint64_t used;
	/* For the LRD_ELIMIT message (NULL: left out): what is decoded ("'x.lrd'") and how to
	 * raise the bound ("lrd_load_options.max_total_bytes"). */
	const char *what, *raise;
} lrd__budget;

/* Charge n bytes to b (NULL or limit 0: no bound). LRD_ELIMIT with a message on going over. */
int lrd__budget_charge(lrd__budget *b, uint64_t n);

/* How a container writes and reads array payloads. */
typedef struct lrd__tree_hooks {
	/* Emit the payload of arr after its header (files: the chunks in line; the store: a
	 * reference to its chunk database). */
	int (*array_out)(void *ctx, const lrd_value *arr, lrd__writer *w);
	/* Read the payload of the array described by d. out != NULL: charge d->nbytes to budget
	 * (lrd__budget_charge) and build the array value into *out (owned by the caller).
	 * out == NULL: skip the payload without building anything. */
	int (*array_in)(void *ctx, const lrd__array_desc *d, lrd__reader *r, lrd_value **out);
	/* For lrd__tree_size: advance *pos (the writer's pos after arr's header) past what
	 * array_out would write for arr. */
	int (*array_size)(void *ctx, const lrd_value *arr, uint64_t *pos);
	void *ctx;
	unsigned max_depth;  /* 0: LRD__TREE_MAX_DEPTH */
	lrd__budget *budget; /* NULL: no bound on what decoding builds */
} lrd__tree_hooks;

/* Encode v. Errors: those of the writer and of array_out; LRD_EINVAL for a NULL value. */
int lrd__tree_encode(const lrd_value *v, lrd__writer *w, const lrd__tree_hooks *h);
/* Add to *pos the bytes lrd__tree_encode(v) would write through a writer whose pos is *pos
 * (arrays through h->array_size), without writing them. Errors: those lrd__tree_encode would
 * return before writing anything; *pos is left alone on failure. */
int lrd__tree_size(const lrd_value *v, uint64_t *pos, const lrd__tree_hooks *h);
/* Write the array header (tag, dtype, order, ndim, shape) of arr; array_out writes the rest.
 * Exposed for writers that produce an array without an lrd_value (lrd_array_writer). */
int lrd__tree_array_header(lrd__writer *w, lrd_dtype dt, lrd_order order, unsigned ndim,
                           const uint64_t *shape);

/* Decode one value into *out (owned by the caller; NULL on failure). */
int lrd__tree_decode(lrd__reader *r, const lrd__tree_hooks *h, lrd_value **out);
/* Skip one value without building it (arrays through array_in with out == NULL). */
int lrd__tree_skip(lrd__reader *r, const lrd__tree_hooks *h);
/* Decode only the value at a path: each component is a map key, or a decimal index into a
 * list. Siblings are skipped, not built. npath 0 decodes the whole value. LRD_ENOTFOUND (with
 * the missing component named) when the path leads nowhere; the reader is then left
 * mid-value. */
/* The one rule for a list index in an entry path: decimal digits only ("1", "01"; not "",
 * "1x", "-1", "+1"). 0 and *idx set, or -1. */
int lrd__keypath_index(const char *s, uint64_t *idx);
int lrd__tree_decode_path(lrd__reader *r, const lrd__tree_hooks *h, const char *const *path,
                          size_t npath, lrd_value **out);
/* One node as lrd__tree_visit reports it; pointers are valid during the callback only. */
typedef struct lrd__tree_node {
	unsigned depth;  /* 0 for the root */
	const char *key; /* map key of this node (NUL-terminated, valid UTF-8), or NULL */
	uint64_t index;  /* position in its list or map */
	uint8_t tag;     /* LRD__TAG_* */
	uint64_t len;    /* items of a list or map */
	/* Anything else: the value as decoding builds it (for an array, what array_in built). */
	const lrd_value *value;
} lrd__tree_node;
typedef int (*lrd__tree_visit_fn)(void *ctx, const lrd__tree_node *n);

/* Walk one value in file order, calling fn for each node (depth first, a container before its
 * items) without building the tree: containers are only counted, each other node is decoded
 * alone (as lrd__tree_decode would, with the same checks) and freed after fn. Memory: the
 * largest single leaf and one key per open map level. A nonzero return of fn stops the walk
 * and is returned. */
int lrd__tree_visit(lrd__reader *r, const lrd__tree_hooks *h, lrd__tree_visit_fn fn, void *ctx);

/* Read an array header whose tag byte was already consumed. */
int lrd__tree_read_array_desc(lrd__reader *r, lrd__array_desc *d);

#endif
