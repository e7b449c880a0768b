/* larder — shared definitions of the public API: export macro, buffer descriptor, lrd_free.
 * Included by every other public header; never needs to be included directly.
 *
 * The conventions every public header follows (names, errors, ownership, options structs and
 * their reserved tails) are written down in CONVENTIONS.md ("API conventions"). */
#ifndef LARDER_COMMON_H
#define LARDER_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && __GNUC__ >= 4
#define LRD_API __attribute__((visibility("default")))
#else
#define LRD_API
#endif

#if defined(__GNUC__)
#define LRD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LRD_PRINTF(f, a)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** A byte range: a pointer and a length, like LMDB's MDB_val.
 * Who owns `data` is stated by each function that takes or returns one. */
typedef struct lrd_buf {
	void *data;
	size_t size;
} lrd_buf;

/** Limits of the chunk size (raw bytes of an array per chunk) of files and stores alike
 * (FORMAT.md): at least 4 KiB, so that the 32-byte chunk header and the chunk index stay small
 * beside the data, at most 1 GiB. */
#define LRD_CHUNK_SIZE_MIN ((size_t)4096)
#define LRD_CHUNK_SIZE_MAX ((size_t)1 << 30)
/** LRD_OK when n is a chunk size in [LRD_CHUNK_SIZE_MIN, LRD_CHUNK_SIZE_MAX]; else LRD_EINVAL
 * with a message giving the limits. The one rule behind lrd_dump_options.chunk_size,
 * lrd_store_options.chunk_size, lrd_put_options.chunk_size (where 0 means the default and is
 * not passed here) and the CLI's --chunk-size. */
LRD_API int lrd_chunk_size_check(size_t n);
/** Free memory that larder allocated and handed to the caller (the outputs documented as
 * "free with lrd_free()"); NULL is ignored. Values have their own free function (value.h). */
LRD_API void lrd_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
