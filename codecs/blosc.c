/* blosc (id 7): a chunk codec only — one-shot calls, no streaming form, no file extension.
 *
 * Only blosc's context API (blosc_compress_ctx / blosc_decompress_ctx) is used: it keeps no
 * global state and takes its thread count per call, so any number of threads may compress and
 * decompress at once; the global blosc_compress/blosc_set_nthreads API is not thread-safe and
 * is never called. A blosc buffer is self-describing (a 16-byte header with format version,
 * flags, typesize, raw size, block size and compressed size), so decompression needs no params.
 *
 * Invariants: every header is checked (blosc_cbuffer_validate: compressed size equals the input
 * length, raw size within blosc's limit) and the raw size compared with the caller's capacity
 * *before* blosc touches the payload; one call handles at most BLOSC_MAX_BUFFERSIZE (~2 GiB). */
#include <blosc.h>
#include <string.h>

#include "codecs/codec_internal.h"

/* Header layout (blosc 1.x): version, compressor format version, flags, typesize, then
 * little-endian u32 raw size, block size, compressed size. */
enum { HDR_VERSION = 0, HDR_VERSIONLZ = 1, HDR_FLAGS = 2, HDR_TYPESIZE = 3 };

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const char *bl_version(void) { return blosc_get_version_string(); }

/* blosc has no magic number; accept only headers whose every field is plausible, so random
 * bytes or another codec's stream are (almost) never taken for blosc. */
static int bl_sniff(const void *head, size_t n)
{
	const unsigned char *h = head;
	if (n < BLOSC_MIN_HEADER_LENGTH)
		return 0;
	uint32_t nbytes = le32(h + 4), blocksize = le32(h + 8), cbytes = le32(h + 12);
	unsigned compcode = h[HDR_FLAGS] >> 5;
	if (h[HDR_VERSION] < 1 || h[HDR_VERSION] > BLOSC_VERSION_FORMAT)
		return 0;
	/* every compressor blosc 1.x knows writes format version 1 */
	if (h[HDR_VERSIONLZ] != 1 || compcode > BLOSC_ZSTD_FORMAT)
		return 0;
	if (h[HDR_TYPESIZE] == 0 || (h[HDR_FLAGS] & 0x08)) /* bit 3 is reserved, always zero */
		return 0;
	if (nbytes > BLOSC_MAX_BUFFERSIZE || cbytes < BLOSC_MIN_HEADER_LENGTH ||
	    cbytes > (uint64_t)nbytes + BLOSC_MAX_OVERHEAD)
		return 0;
	/* blocks: at least one byte each, at most the whole buffer (an empty buffer says 1) */
	if (blocksize == 0 || blocksize > (nbytes ? nbytes : 1))
		return 0;
	if ((h[HDR_FLAGS] & BLOSC_MEMCPYED) && cbytes != (uint64_t)nbytes + BLOSC_MAX_OVERHEAD)
		return 0;
	return 1;
}

static size_t bl_bound(size_t n, const lrd_codec_params *p)
{
	return n > BLOSC_MAX_BUFFERSIZE ? 0 : n + BLOSC_MAX_OVERHEAD;
}

static int shuffle_code(lrd_shuffle s, int *code)
{
	switch (s) {
	case LRD_SHUFFLE_DEFAULT:
	case LRD_SHUFFLE_BYTE:
		*code = BLOSC_SHUFFLE;
		return LRD_OK;
	case LRD_SHUFFLE_NONE:
		*code = BLOSC_NOSHUFFLE;
		return LRD_OK;
	case LRD_SHUFFLE_BIT:
		*code = BLOSC_BITSHUFFLE;
		return LRD_OK;
	}
	return lrd__err(LRD_EINVAL, "blosc: unknown shuffle mode %d", (int)s);
}

static int inner_name(const char *inner, const char **name)
{
	static const char *const known[] = {"lz4", "lz4hc", "zstd", "zlib", "blosclz"};
	if (!inner) {
		*name = "lz4";
		return LRD_OK;
	}
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		if (strcmp(inner, known[i]) == 0) {
			/* the list is fixed; whether this libblosc was built with it is its own
			 * matter */
			if (blosc_compname_to_compcode(known[i]) < 0)
				return lrd__err(LRD_EUNSUPPORTED, "blosc: this libblosc lacks '%s'",
				                inner);
			*name = known[i];
			return LRD_OK;
		}
	}
	return lrd__err(LRD_EINVAL,
	                "blosc: unknown inner compressor '%s' (lz4, lz4hc, zstd, zlib, blosclz)",
	                inner);
}

static int clamp_threads(int t)
{
	return t < 1 ? 1 : t > BLOSC_MAX_THREADS ? BLOSC_MAX_THREADS : t;
}

static int bl_compress(const lrd_codec_params *p, const void *src, size_t n, void *dst, size_t cap,
                       size_t *out)
{
	int shuffle = BLOSC_SHUFFLE, rc;
	const char *inner = "lz4";
	if ((rc = shuffle_code(p->shuffle, &shuffle)) || (rc = inner_name(p->inner, &inner)))
		return rc;
	if (n > BLOSC_MAX_BUFFERSIZE)
		return lrd__err(LRD_ELIMIT, "blosc: %zu bytes exceed its limit of %d per call", n,
		                BLOSC_MAX_BUFFERSIZE);
	if (cap < BLOSC_MAX_OVERHEAD)
		return lrd__err(LRD_EBUFSIZE,
		                "blosc: output buffer of %zu bytes is below the header size", cap);
	/* typesize above blosc's maximum: treat the data as a byte stream, as blosc itself would */
	size_t typesize = p->typesize > BLOSC_MAX_TYPESIZE ? 1 : p->typesize;
	int r = blosc_compress_ctx(p->level, shuffle, typesize, n, src, dst, cap, inner, 0,
	                           clamp_threads(p->threads));
	if (r == 0)
		return lrd__err(LRD_EBUFSIZE, "blosc: output larger than %zu bytes", cap);
	if (r < 0)
		return lrd__err(LRD_ECODEC, "blosc: compression failed (blosc error %d)", r);
	*out = (size_t)r;
	return LRD_OK;
}

static int bl_decompress(const lrd_codec_params *p, const void *src, size_t n, void *dst,
                         size_t cap, size_t *out)
{
	size_t nbytes;
	if (n == 0)
		return lrd__err(LRD_ECORRUPT, "blosc: empty input");
	if (n < BLOSC_MIN_HEADER_LENGTH)
		return lrd__err(LRD_ECORRUPT, "blosc: %zu bytes, shorter than a header", n);
	if (!bl_sniff(src, n) || blosc_cbuffer_validate(src, n, &nbytes) != 0)
		return lrd__err(LRD_ECORRUPT,
		                "blosc: invalid header for a %zu-byte buffer (says %u bytes)", n,
		                (unsigned)le32((const unsigned char *)src + 12));
	if (nbytes > cap)
		return lrd__err(LRD_EBUFSIZE, "blosc: output of %zu bytes exceeds %zu", nbytes,
		                cap);
	if (nbytes == 0) {
		*out = 0;
		return LRD_OK;
	}
	int r = blosc_decompress_ctx(src, dst, nbytes, clamp_threads(p->threads));
	if (r <= 0 || (size_t)r != nbytes)
		return lrd__err(LRD_ECORRUPT,
		                "blosc: corrupt data (blosc returned %d for %zu bytes)", r, nbytes);
	*out = nbytes;
	return LRD_OK;
}

const lrd_codec lrd__codec_blosc = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "blosc",
    .id = LRD_CODEC_ID_BLOSC,
    .flags = LRD_CODEC_CHUNK,
    .extensions = NULL,
    .min_level = 0,
    .max_level = 9,
    .default_level = 5,
    .magic_size = BLOSC_MIN_HEADER_LENGTH,
    .version = bl_version,
    .sniff = bl_sniff,
    .bound = bl_bound,
    .compress = bl_compress,
    .decompress = bl_decompress,
};
