/* Helpers shared by the built-in stream codecs (deflate.c, bz2.c, xz.c, lz4.c): one-shot entry
 * points that go through the codec's own streaming form, size clamping for libraries whose
 * buffer lengths are 32-bit, and the allocator adapter that routes native allocations through
 * lrd__malloc so fault injection reaches them. */
#ifndef LRD_STREAM_CODEC_H
#define LRD_STREAM_CODEC_H

#include <limits.h>

#include "codecs/codec_internal.h"

/* The built-in stream codecs, listed in codecs/builtin.c's table. */
extern const lrd_codec lrd__codec_zlib, lrd__codec_gzip; /* deflate.c */
extern const lrd_codec lrd__codec_bz2;                   /* bz2.c */
extern const lrd_codec lrd__codec_xz, lrd__codec_lzma;   /* xz.c */
extern const lrd_codec lrd__codec_lz4;                   /* lz4.c */

/* Define static PREFIX_compress/PREFIX_decompress for a codec vtable CODEC (declared before
 * use) as lrd__codec_oneshot calls: exact LRD_EBUFSIZE checks and multi-member decoding. */
#define LRD__STREAM_ONESHOT(prefix, codec)                                                         \
	static int prefix##_compress(const lrd_codec_params *p, const void *src, size_t n,         \
	                             void *dst, size_t cap, size_t *out)                           \
	{                                                                                          \
		return lrd__codec_oneshot(&(codec), p, LRD_CODEC_ENCODE, src, n, dst, cap, out);   \
	}                                                                                          \
	static int prefix##_decompress(const lrd_codec_params *p, const void *src, size_t n,       \
	                               void *dst, size_t cap, size_t *out)                         \
	{                                                                                          \
		return lrd__codec_oneshot(&(codec), p, LRD_CODEC_DECODE, src, n, dst, cap, out);   \
	}

/* Bytes a library taking `unsigned int` lengths may be offered in one call. */
static inline unsigned lrd__clamp_uint(size_t n) { return n > UINT_MAX ? UINT_MAX : (unsigned)n; }

/* zlib-style allocation callbacks: (opaque, items, size) through lrd__malloc. */
void *lrd__native_alloc(void *opaque, unsigned items, unsigned size);
void lrd__native_free(void *opaque, void *p);

/* Inputs larger than this get bound() == 0 ("too large"), so bound formulas cannot overflow. */
#define LRD__BOUND_MAX (SIZE_MAX / 4)

/* Current read and write positions of a step. Never NULL: native libraries refuse NULL buffer
 * pointers even with zero lengths, and NULL + 0 is undefined. */
const void *lrd__io_in(const lrd_codec_io *io);
void *lrd__io_out(lrd_codec_io *io);

#endif
