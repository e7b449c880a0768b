/* larder — numpy .npy files: read and write single arrays in numpy's own format.
 *
 * Versions 1.0, 2.0 and 3.0 are read (3.0 differs only in allowing a UTF-8 header); every
 * dtype of value.h (b1, i1..i8, u1..u8, f2/f4/f8, c8/c16, S<n>) in either byte order, C and
 * Fortran order, 0-d and empty arrays. Object arrays ('|O'), structured dtypes (a list descr)
 * and every other dtype are refused with LRD_EDTYPE: loading never runs code.
 *
 * Byte order is kept: loading a '>f8' file gives a '>f8' array (convert it yourself if you
 * need native numbers), and saving writes the array's dtype as it is. Fortran order is kept
 * as the array's order flag; the bytes are never transposed.
 *
 * The header is parsed strictly, as the Python dict literal numpy writes: exactly the keys
 * 'descr', 'fortran_order' and 'shape' (any order, each once), single- or double-quoted
 * strings without escapes, True/False, a tuple of non-negative decimal integers (a one-element
 * tuple needs its comma), optional trailing comma, then spaces and a final newline. Headers
 * longer than LRD_NPY_MAX_HEADER bytes are refused (numpy's own default limit).
 *
 * Threading: every function is reentrant; distinct calls may run on distinct threads. */
#ifndef LARDER_NPY_H
#define LARDER_NPY_H

#include <stdio.h>

#include "common.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest header (the dict text, after the length field) accepted, as numpy >= 1.24. */
#define LRD_NPY_MAX_HEADER 10000

/** What a .npy header says. */
typedef struct lrd_npy_header {
	uint8_t major, minor;         /**< format version: 1.0, 2.0 or 3.0 */
	lrd_dtype dtype;              /**< as in the file, byte order included */
	lrd_order order;              /**< LRD_ORDER_F when 'fortran_order' is True */
	unsigned ndim;                /**< 0..LRD_MAX_NDIM */
	uint64_t shape[LRD_MAX_NDIM]; /**< ndim extents; the rest are 0 */
	uint64_t count;               /**< number of elements (1 for 0-d) */
	size_t nbytes;                /**< count * itemsize: the size of the data */
	size_t data_offset; /**< bytes before the data: magic, version, length and header */
} lrd_npy_header;

/* Options structs (CONVENTIONS.md): zero in a field means its default, `= {0}` or NULL means
 * all defaults. Each ends with `reserved`, which must stay zero (LRD_EINVAL otherwise): a later
 * release carves new fields out of it, so the size never changes within a major version. */

/** Options of the loaders. The names and types are those of lrd_load_options. */
typedef struct lrd_npy_load_options {
	/** lrd_npy_load only: map the file read-only instead of reading it, giving an
	 * LRD_BUF_MAPPED array valid as long as the value (the mapping is released by
	 * lrd_value_free). Files whose data offset is not a multiple of 16 are read instead
	 * (check lrd_array_bufkind). Default false: read into an owned buffer. */
	bool mmap;
	/** Refuse arrays whose data is larger than this many bytes (LRD_ELIMIT). Default 0: no
	 * limit other than what the input holds. */
	uint64_t max_array_bytes;
	uint64_t reserved[8]; /**< must be zero */
} lrd_npy_load_options;

/** Options of the writers. */
typedef struct lrd_npy_save_options {
	/** Format version to write: 1, 2 or 3. Default 0: 1.0 when the header fits its 16-bit
	 * length, else 2.0 (the choice numpy makes; larder's headers never need 3.0). */
	int version;
	uint64_t reserved[8]; /**< must be zero */
} lrd_npy_save_options;

/** Parse the header at the start of buf[0..len) into *out. When buf is too short but what it
 * holds is a valid start, returns LRD_EBUFSIZE with out->data_offset set to the number of
 * bytes needed (the first call may pass as few as 0 bytes; 12 are always enough to learn the
 * full size). Errors: LRD_EINVAL (NULL argument), LRD_EFORMAT (not .npy, malformed header),
 * LRD_EVERSION (unknown format version), LRD_EDTYPE (object, structured or unsupported
 * dtype), LRD_ELIMIT (header longer than LRD_NPY_MAX_HEADER, more than 32 dimensions, byte
 * size overflowing), LRD_EBUFSIZE. */
LRD_API int lrd_npy_read_header(const void *buf, size_t len, lrd_npy_header *out);

/** Load the array of a .npy file. The file must hold exactly the header and the data the
 * shape calls for. On success *out is a new array owned by the caller (lrd_value_free); on
 * failure *out is NULL. Errors: those of lrd_npy_read_header (LRD_EBUFSIZE becomes
 * LRD_ECORRUPT), LRD_ENOTFOUND (no such file, as lrd_load), LRD_EIO (any other open, read or
 * map failure; the message names the path and the system error), LRD_ECORRUPT (header or data
 * truncated, or bytes after the data), LRD_ELIMIT (opts->max_array_bytes), LRD_EINVAL (NULL
 * argument, nonzero opts->reserved), LRD_ENOMEM. */
LRD_API int lrd_npy_load(const char *path, lrd_value **out, const lrd_npy_load_options *opts);

/** Load one array from the current position of f, leaving f just after its data, so that
 * several arrays written one after another are read one call each (as numpy.load on an open
 * file does); bytes after the data are therefore not an error here. When f is a regular file
 * its size is checked before anything is allocated; for pipes and other streams of unknown
 * length the data is read in steps that grow with what arrived, so a lying header costs at
 * most twice the bytes actually received. opts->mmap is ignored. Errors as lrd_npy_load except
 * LRD_ENOTFOUND. */
LRD_API int lrd_npy_load_file(FILE *f, lrd_value **out, const lrd_npy_load_options *opts);

/** Load the array of a .npy image in memory: buf[0..len) must hold exactly the header and
 * the data. The data is copied into an owned buffer; buf may be freed afterwards. Errors as
 * lrd_npy_load except LRD_ENOTFOUND and LRD_EIO. */
LRD_API int lrd_npy_load_memory(const void *buf, size_t len, lrd_value **out,
                                const lrd_npy_load_options *opts);

/** Write an array as a .npy file at path (created or truncated), with the header numpy 1.24+
 * writes (keys sorted, room to grow the first axis, data offset a multiple of 64), so that
 * numpy reads it and the bytes equal numpy's own for the same array and version. A partial
 * file is removed on failure. Errors: LRD_EINVAL (not an array, NULL argument, bad version,
 * nonzero opts->reserved), LRD_EDTYPE, LRD_EIO (the message names the path and the system error).
 */
LRD_API int lrd_npy_save(const lrd_value *array, const char *path,
                         const lrd_npy_save_options *opts);

/** Write an array as .npy at the current position of f (no seek needed: pipes work).
 * Errors as lrd_npy_save. */
LRD_API int lrd_npy_save_file(const lrd_value *array, FILE *f, const lrd_npy_save_options *opts);

/** Write an array as .npy into memory that larder allocates: on success *out (free with
 * lrd_free()) holds *len bytes. Errors as lrd_npy_save, LRD_ENOMEM instead of LRD_EIO. */
LRD_API int lrd_npy_save_memory(const lrd_value *array, void **out, size_t *len,
                                const lrd_npy_save_options *opts);

#ifdef __cplusplus
}
#endif
#endif
