/* larder — values: the trees that dump, load and the store move around.
 *
 * A value is nil, bool, int64, float64, UTF-8 string, bytes, list, map (string keys, insertion
 * order kept) or an n-dimensional array. A tree is owned by its root: lrd_value_free() frees
 * the whole tree, and containers take ownership of the items added to them, even when adding
 * fails (so a failed append never leaks).
 *
 * An array has a dtype (numpy's typestr: "<f8", ">i4", "|u1", "|b1", "<c16", "<f2", "|S16"),
 * ndim 0..32, a shape, C or Fortran order and a data buffer that is owned (freed with the
 * value), borrowed (the caller keeps it alive) or mapped read-only (from a file or store map;
 * valid while the value lives, or as the function that returned it says).
 *
 * Threading: values are plain data; distinct values may be used from distinct threads, one
 * value from several threads only for reading. */
#ifndef LARDER_VALUE_H
#define LARDER_VALUE_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LRD_MAX_NDIM 32

typedef struct lrd_value lrd_value;

typedef enum lrd_kind {
	LRD_NIL = 0,
	LRD_BOOL = 1,
	LRD_INT = 2,
	LRD_FLOAT = 3,
	LRD_STR = 4,
	LRD_BYTES = 5,
	LRD_LIST = 6,
	LRD_MAP = 7,
	LRD_ARRAY = 8,
} lrd_kind;

/** An element type, as numpy's typestr spells it: byte order, kind, item size. */
typedef struct lrd_dtype {
	char order;        /**< '<' little endian, '>' big endian, '|' not applicable (1-byte, S) */
	char kind;         /**< 'b' bool, 'i' signed, 'u' unsigned, 'f' float, 'c' complex, 'S' bytes */
	uint32_t itemsize; /**< bytes per element: b1; i/u 1,2,4,8; f 2,4,8; c 8,16; S 1..2^31 */
} lrd_dtype;

typedef enum lrd_order { LRD_ORDER_C = 0, LRD_ORDER_F = 1 } lrd_order;

typedef enum lrd_bufkind {
	LRD_BUF_OWNED = 0,    /**< freed by lrd_value_free */
	LRD_BUF_BORROWED = 1, /**< caller's memory; must outlive the value */
	LRD_BUF_MAPPED = 2,   /**< read-only mapping owned by larder */
} lrd_bufkind;

/* ---- dtypes -------------------------------------------------------------------------------- */

/** Parse a numpy typestr ("<f8", "|b1", ">c16", "|S7"; "=" and no order mean native; 'b'/'u'/'i'
 * of size 1 and 'S' normalise to '|'). Errors: LRD_EDTYPE with the offending text. */
LRD_API int lrd_dtype_parse(const char *typestr, lrd_dtype *out);
/** Write the canonical typestr into buf (cap >= 16 always suffices). Errors: LRD_EDTYPE
 * (invalid dtype), LRD_EBUFSIZE. */
LRD_API int lrd_dtype_format(lrd_dtype dt, char *buf, size_t cap);
/** true if dt is a dtype larder supports (see lrd_dtype.itemsize). */
LRD_API bool lrd_dtype_valid(lrd_dtype dt);
/** The same dtype in this machine's byte order. */
LRD_API lrd_dtype lrd_dtype_native(lrd_dtype dt);
LRD_API bool lrd_dtype_equal(lrd_dtype a, lrd_dtype b);

/* ---- construction: each returns LRD_ENOMEM or LRD_EINVAL; *out is owned by the caller ------ */

LRD_API int lrd_value_new_nil(lrd_value **out);
LRD_API int lrd_value_new_bool(bool b, lrd_value **out);
LRD_API int lrd_value_new_int(int64_t v, lrd_value **out);
LRD_API int lrd_value_new_float(double v, lrd_value **out);
/** Copy `len` bytes of UTF-8 text (len = SIZE_MAX: s is NUL-terminated). LRD_EINVAL if not
 * valid UTF-8. The stored copy is NUL-terminated. */
LRD_API int lrd_value_new_str(const char *s, size_t len, lrd_value **out);
/** Copy n bytes. */
LRD_API int lrd_value_new_bytes(const void *p, size_t n, lrd_value **out);
LRD_API int lrd_value_new_list(lrd_value **out);
LRD_API int lrd_value_new_map(lrd_value **out);

/** Allocate an array with an owned, zero-filled, 64-byte aligned buffer. shape may be NULL when
 * ndim is 0. Errors: LRD_EDTYPE, LRD_EINVAL (ndim > 32), LRD_ELIMIT (byte size overflows),
 * LRD_ENOMEM. */
LRD_API int lrd_array_new(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                          lrd_value **out);
/** Make an array over caller memory without copying (LRD_BUF_BORROWED). `size` must equal the
 * array's byte size (LRD_EINVAL otherwise). The memory must outlive the value. */
LRD_API int lrd_array_wrap(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                           void *data, size_t size, lrd_value **out);

/* ---- containers ---------------------------------------------------------------------------- */

/** Append item to a list; the list owns item afterwards, and frees it if appending fails.
 * Errors: LRD_EINVAL (not a list, item NULL or item already in a tree), LRD_ENOMEM. */
LRD_API int lrd_list_append(lrd_value *list, lrd_value *item);
/** Set key (UTF-8, NUL-terminated, copied) to item; an existing key keeps its position and its
 * old value is freed. The map owns item afterwards, and frees it if setting fails.
 * Errors: LRD_EINVAL (not a map, invalid UTF-8, item NULL), LRD_ENOMEM. */
LRD_API int lrd_map_set(lrd_value *map, const char *key, lrd_value *item);

/* ---- access: pointers returned are borrowed from the tree and live as long as it ----------- */

LRD_API lrd_kind lrd_value_kind(const lrd_value *v);
/** Name of a kind: "nil", "bool", "int", "float", "str", "bytes", "list", "map", "array". */
LRD_API const char *lrd_kind_name(lrd_kind k);
/** Scalar getters: LRD_EINVAL if v is not of that kind. */
LRD_API int lrd_value_get_bool(const lrd_value *v, bool *out);
LRD_API int lrd_value_get_int(const lrd_value *v, int64_t *out);
LRD_API int lrd_value_get_float(const lrd_value *v, double *out);
/** The NUL-terminated text of a string and its length; NULL if v is not a string. */
LRD_API const char *lrd_value_str(const lrd_value *v, size_t *len);
/** The bytes of a bytes value and their count; NULL if v is not bytes (an empty bytes value
 * gives a non-NULL pointer and 0). */
LRD_API const void *lrd_value_bytes(const lrd_value *v, size_t *len);
/** Number of items of a list or map; 0 for other kinds. */
LRD_API size_t lrd_value_len(const lrd_value *v);
/** The i-th item of a list; NULL if out of range or not a list. */
LRD_API lrd_value *lrd_list_at(const lrd_value *list, size_t i);
/** The item under key; NULL if absent or not a map. */
LRD_API lrd_value *lrd_map_get(const lrd_value *map, const char *key);
/** The i-th key and item of a map in insertion order; NULL if out of range or not a map. */
LRD_API const char *lrd_map_key_at(const lrd_value *map, size_t i);
LRD_API lrd_value *lrd_map_value_at(const lrd_value *map, size_t i);

/** Array accessors; on a value that is not an array they return zero/NULL. */
LRD_API lrd_dtype lrd_array_dtype(const lrd_value *a);
LRD_API unsigned lrd_array_ndim(const lrd_value *a);
/** Pointer to ndim extents (NULL for ndim 0). */
LRD_API const uint64_t *lrd_array_shape(const lrd_value *a);
LRD_API lrd_order lrd_array_order(const lrd_value *a);
LRD_API uint64_t lrd_array_count(const lrd_value *a);  /**< number of elements */
LRD_API size_t lrd_array_nbytes(const lrd_value *a);   /**< count * itemsize */
LRD_API lrd_bufkind lrd_array_bufkind(const lrd_value *a);
/** The array's data; writable unless the buffer is mapped. */
LRD_API void *lrd_array_data(lrd_value *a);
LRD_API const void *lrd_array_cdata(const lrd_value *a);

/* ---- whole trees ----------------------------------------------------------------------------- */

/** Deep equality: same kinds, same scalars (floats bitwise, so NaN equals the same NaN), same
 * map keys in the same order, arrays with equal dtype, shape, order and bytes. */
LRD_API bool lrd_value_equal(const lrd_value *a, const lrd_value *b);
/** Deep copy; arrays are copied into owned buffers. */
LRD_API int lrd_value_clone(const lrd_value *v, lrd_value **out);
/** Free a whole tree (and owned array buffers; mapped buffers are released). NULL is ignored. */
LRD_API void lrd_value_free(lrd_value *v);

#ifdef __cplusplus
}
#endif
#endif
