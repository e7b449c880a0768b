/* larder — values: the trees that dump, load and the store move around.
 *
 * A value is nil, bool, int64, float64, UTF-8 string, bytes, list, map (string keys, insertion
 * order kept) or an n-dimensional array. A tree is owned by its root: lrd_value_free() frees
 * the whole tree, and containers take ownership of the items added to them, even when adding
 * fails (so a failed append never leaks). The only items a container refuses without freeing
 * are those it could not own: NULL, an item already inside a list or map, and the container
 * itself or one of its ancestors (a tree has no cycles).
 *
 * An array has a dtype (numpy's typestr: "<f8", ">i4", "|u1", "|b1", "<c16", "<f2", "|S16"),
 * ndim 0..32, a shape, C or Fortran order and a data buffer that is owned (freed with the
 * value), borrowed (the caller keeps it alive) or mapped read-only (from a file or store map;
 * valid while the value lives, or as the function that returned it says).
 *
 * To send a tree to another process (a pipe, a socket, shared memory), see larder/message.h.
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
	LRD_KIND_NIL = 0,
	LRD_KIND_BOOL = 1,
	LRD_KIND_INT = 2,
	LRD_KIND_FLOAT = 3,
	LRD_KIND_STR = 4,
	LRD_KIND_BYTES = 5,
	LRD_KIND_LIST = 6,
	LRD_KIND_MAP = 7,
	LRD_KIND_ARRAY = 8,
} lrd_kind;

/** An element type, as numpy's typestr spells it: byte order, kind, item size.
 * Valid dtypes are canonical: b1, i1, u1 and S<n> have order '|', every other dtype '<' or '>'
 * (lrd_dtype_parse normalises other spellings; constructors refuse non-canonical structs). */
typedef struct lrd_dtype {
	char order; /**< '<' little endian, '>' big endian, '|' not applicable (1-byte, S) */
	char kind;  /**< 'b' bool, 'i' signed, 'u' unsigned, 'f' float, 'c' complex, 'S' bytes */
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
 * of size 1 and 'S' normalise to '|'). Strict: no leading zeros, no trailing text, no '|' on a
 * multi-byte numeric kind, no kinds outside b/i/u/f/c/S (so "|O", "<U4", "<f16" are refused).
 * Errors: LRD_EINVAL (NULL argument), LRD_EDTYPE with the offending text. */
LRD_API int lrd_dtype_parse(const char *typestr, lrd_dtype *out);
/** Write the canonical typestr into buf (cap >= 16 always suffices). Errors: LRD_EDTYPE
 * (invalid dtype), LRD_EBUFSIZE. */
LRD_API int lrd_dtype_format(lrd_dtype dt, char *buf, size_t cap);
/** true if dt is a dtype larder supports (see lrd_dtype.itemsize) in canonical form. */
LRD_API bool lrd_dtype_valid(lrd_dtype dt);
/** The same dtype in this machine's byte order ('|' dtypes are returned unchanged). */
LRD_API lrd_dtype lrd_dtype_native(lrd_dtype dt);
/** Field-by-field equality ("<f8" and ">f8" differ). */
LRD_API bool lrd_dtype_equal(lrd_dtype a, lrd_dtype b);

/* ---- construction: each returns LRD_ENOMEM or LRD_EINVAL (NULL out); on success *out is a
 * new root owned by the caller (free with lrd_value_free), on failure *out is set to NULL. -- */

/** nil, false and true are immutable values shared by the whole process (they never fail
 * with LRD_ENOMEM): each call returns the same pointer, which any number of lists and maps may
 * hold at once (adding it never counts as "already in a list or map"), and lrd_value_free of
 * it does nothing. A list of a million nils costs a million pointers. */
LRD_API int lrd_value_new_nil(lrd_value **out);
LRD_API int lrd_value_new_bool(bool b, lrd_value **out);
LRD_API int lrd_value_new_int(int64_t v, lrd_value **out);
LRD_API int lrd_value_new_float(double v, lrd_value **out);
/** Copy `len` bytes of UTF-8 text (len = SIZE_MAX: s is NUL-terminated). LRD_EINVAL if not
 * valid UTF-8 (overlong forms, surrogates and code points above U+10FFFF are invalid) or if s
 * is NULL with len > 0. The stored copy is NUL-terminated; embedded NULs are kept. */
LRD_API int lrd_value_new_str(const char *s, size_t len, lrd_value **out);
/** Copy n bytes (p may be NULL when n is 0). Errors: LRD_EINVAL (out NULL, p NULL with n > 0),
 * LRD_ENOMEM. */
LRD_API int lrd_value_new_bytes(const void *p, size_t n, lrd_value **out);
LRD_API int lrd_value_new_list(lrd_value **out);
LRD_API int lrd_value_new_map(lrd_value **out);

/** Allocate an array with an owned, zero-filled, 64-byte aligned buffer (LRD_BUF_OWNED; non-NULL
 * even for 0 elements). shape (ndim extents, copied) may be NULL when ndim is 0; a 0-d array
 * has one element. Errors: LRD_EDTYPE (invalid or non-canonical dt), LRD_EINVAL (ndim > 32,
 * NULL shape, bad order), LRD_ELIMIT (the byte size, counting every extent as at least 1,
 * exceeds PTRDIFF_MAX), LRD_ENOMEM. */
LRD_API int lrd_array_new(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                          lrd_value **out);
/** Make an array over caller memory without copying (LRD_BUF_BORROWED). `size` must equal the
 * array's byte size (LRD_EINVAL otherwise; data may be NULL only when size is 0). The memory
 * must outlive the value and is never freed by larder. Other errors as lrd_array_new. */
LRD_API int lrd_array_wrap(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                           void *data, size_t size, lrd_value **out);

/* ---- containers ---------------------------------------------------------------------------- */

/** Append item (a root) to a list; the list owns item afterwards, and frees it if appending
 * fails — except for the refusals below marked "untouched", where the caller keeps item.
 * The cycle check walks from list up to its root: appending costs O(depth of list).
 * Errors: LRD_EINVAL (not a list: item freed; item NULL, already in a list or map, or the list
 * itself or one of its ancestors: untouched), LRD_ENOMEM (item freed). */
LRD_API int lrd_list_append(lrd_value *list, lrd_value *item);
/** Set key (UTF-8, NUL-terminated, copied) to item (a root); an existing key keeps its position
 * and its old value is freed. The map owns item afterwards, and frees it if setting fails —
 * except for the refusals marked "untouched". Lookup is by hash once a map has more than a few
 * keys; the cycle check costs O(depth of map), as for lrd_list_append.
 * Errors: LRD_EINVAL (not a map, key NULL or invalid UTF-8: item freed; item NULL,
 * already in a list or map, or the map itself or one of its ancestors: untouched),
 * LRD_ENOMEM (item freed). */
LRD_API int lrd_map_set(lrd_value *map, const char *key, lrd_value *item);

/* ---- access: pointers returned are borrowed from the tree and live as long as it ----------- */

/** The kind of v (LRD_KIND_NIL for NULL). */
LRD_API lrd_kind lrd_value_kind(const lrd_value *v);
/** Name of a kind: "nil", "bool", "int", "float", "str", "bytes", "list", "map", "array";
 * "unknown" for anything else. Never NULL. */
LRD_API const char *lrd_kind_name(lrd_kind k);
/** Scalar getters: LRD_EINVAL if v is not of that kind (or an argument is NULL). */
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
/** The i-th key of a map in insertion order; NULL if out of range or not a map. */
LRD_API const char *lrd_map_key_at(const lrd_value *map, size_t i);
/** The i-th item of a map in insertion order; NULL if out of range or not a map. */
LRD_API lrd_value *lrd_map_value_at(const lrd_value *map, size_t i);

/** Array accessors; on a value that is not an array they return zero/NULL (a zero dtype,
 * LRD_ORDER_C, LRD_BUF_OWNED). */
LRD_API lrd_dtype lrd_array_dtype(const lrd_value *a);
LRD_API unsigned lrd_array_ndim(const lrd_value *a);
/** Pointer to ndim extents (NULL for ndim 0). */
LRD_API const uint64_t *lrd_array_shape(const lrd_value *a);
LRD_API lrd_order lrd_array_order(const lrd_value *a);
LRD_API uint64_t lrd_array_count(const lrd_value *a); /**< number of elements */
LRD_API size_t lrd_array_nbytes(const lrd_value *a);  /**< count * itemsize */
LRD_API lrd_bufkind lrd_array_bufkind(const lrd_value *a);
/** The array's data (NULL for a non-array; non-NULL for an array with elements). Writable
 * unless lrd_array_bufkind() is LRD_BUF_MAPPED: mapped pages are read-only and writing them
 * faults. Valid as long as the value (and, for borrowed buffers, the caller's memory). */
LRD_API void *lrd_array_data(lrd_value *a);
/** lrd_array_data of a const value: the same pointer, read-only. */
LRD_API const void *lrd_array_cdata(const lrd_value *a);

/* ---- whole trees ----------------------------------------------------------------------------- */

/** Deep equality: same kinds, same scalars (floats bitwise, so NaN equals the same NaN and 0.0
 * differs from -0.0), same map keys in the same order, arrays with equal dtype, shape, order
 * and bytes (whatever their buffer kind). Two NULLs are equal; NULL and a value are not.
 * Recursion depth is the tree's depth. */
LRD_API bool lrd_value_equal(const lrd_value *a, const lrd_value *b);
/** A 128-bit hash (lrd_value_hash128). */
typedef struct lrd_hash128 {
	uint64_t lo, hi;
} lrd_hash128;

/** XXH3-128 (seeded with seed; 0 is a fine default) of a canonical encoding of v, for keys of
 * caches and content addresses. The encoding is: a type tag per value; booleans, integers
 * (64-bit two's complement) and floats (64-bit IEEE) in 8 little-endian bytes; strings and
 * bytes by length and bytes; lists by length and items in order; maps by length and entries
 * sorted by key bytes (insertion order does not matter); arrays by dtype, ndim, shape and
 * their elements in C order — an array and its Fortran-order copy with the same elements hash
 * the same; the data is streamed (Fortran order gathered row by row through a 64 KiB buffer,
 * never a copy of the array). Choices:
 *   - every NaN hashes the same (payload and sign ignored), and -0.0 hashes as +0.0;
 *   - a dtype's byte order is part of the hash ('<f8' and '>f8' arrays differ unless items
 *     are one byte), and so are its kind and size (an int64 array is not a float64 one);
 *   - a 0-d array differs from the scalar of the same number.
 * So lrd_value_equal(a, b) implies equal hashes, but not the reverse: lrd_value_equal is
 * bitwise on floats (NaN payloads and the sign of zero count) and compares map order and
 * array order, which the hash deliberately ignores.
 * The value of a hash is stable across runs, machines and larder versions of this format.
 * Errors: LRD_EINVAL (NULL argument), LRD_ENOMEM. Recursion depth is the tree's depth. */
LRD_API int lrd_value_hash128(const lrd_value *v, uint64_t seed, lrd_hash128 *out);

/** Deep copy into a new root owned by the caller; arrays are copied into owned buffers.
 * Errors: LRD_EINVAL (NULL argument), LRD_ENOMEM (nothing is left allocated). Recursion depth
 * is the tree's depth. */
LRD_API int lrd_value_clone(const lrd_value *v, lrd_value **out);
/** Free a whole tree (and owned array buffers; mapped buffers are released; borrowed ones are
 * left alone), at any depth without recursion. v must be a root: a value inside a list or map
 * is freed with its root, and passing one here does nothing. NULL is ignored. */
LRD_API void lrd_value_free(lrd_value *v);

#ifdef __cplusplus
}
#endif
#endif
