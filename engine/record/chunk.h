/* The chunk record shared by .lrd files and the LMDB store. Not installed.
 *
 * A chunk is a run of at most LRD__CHUNK_MAX_RAW bytes of an array, stored raw or compressed by
 * one codec, described by a fixed 32-byte little-endian header (FORMAT.md, "Chunk header"):
 *
 *   offset size field
 *   0      1    codec id        LRD_CODEC_ID_RAW (0) or a registered codec's id
 *   1      1    flags           0 (no flags are defined; nonzero is refused)
 *   2      2    reserved        0
 *   4      4    typesize        element size the compressor was told (informational; 0: n/a)
 *   8      8    raw size        bytes after decompression
 *   16     8    stored size     bytes stored (== raw size when codec id is 0)
 *   24     8    checksum        XXH3-64 (seed 0) of the stored bytes
 *
 * This layout and the meaning of every function below are fixed: the store and the file format
 * both depend on them. */
#ifndef LRD_ENGINE_CHUNK_H
#define LRD_ENGINE_CHUNK_H

#include <stdint.h>

#include "base/base.h"
#include "larder/codec.h"

#define LRD__CHUNK_HDR_SIZE 32
/* Largest raw size of one chunk (1 GiB); larger values in a header are LRD_ECORRUPT. */
#define LRD__CHUNK_MAX_RAW ((uint64_t)1 << 30)

typedef struct lrd__chunk {
	uint8_t codec;        /* LRD_CODEC_ID_RAW or a codec id */
	uint8_t flags;        /* 0 */
	uint32_t typesize;    /* informational */
	uint64_t raw_size;    /* bytes once decompressed */
	uint64_t stored_size; /* bytes stored */
	uint64_t checksum;    /* XXH3-64, seed 0, of the stored bytes */
} lrd__chunk;

/* XXH3-64 (seed 0) of n bytes: the checksum every larder record uses. */
uint64_t lrd__checksum(const void *p, size_t n);

/* Serialise a header into exactly LRD__CHUNK_HDR_SIZE bytes. */
void lrd__chunk_encode(const lrd__chunk *c, uint8_t out[LRD__CHUNK_HDR_SIZE]);

/* Parse and validate a header: flags and reserved bytes zero; raw size <= max_raw (which is at
 * most LRD__CHUNK_MAX_RAW; pass what the container declares for this chunk, e.g. its chunk
 * size); stored size <= max_stored (pass the bytes the input can still hold, or UINT64_MAX);
 * raw chunks have stored == raw. Errors: LRD_ECORRUPT (message names the field and values),
 * LRD_ECODEC when the codec id names no registered codec ("unknown codec id 77: plugin not
 * loaded?") — *out is filled even then, so callers such as `larder verify` can still check
 * the checksum. */
int lrd__chunk_decode(const uint8_t in[LRD__CHUNK_HDR_SIZE], uint64_t max_raw, uint64_t max_stored,
                      lrd__chunk *out);

/* Scratch capacity that lrd__chunk_compress needs for n input bytes (>= n; 0 on overflow). */
size_t lrd__chunk_scratch_size(const lrd_codec *codec, size_t n, const lrd_codec_params *p);

/* Compress one chunk of n bytes (n <= LRD__CHUNK_MAX_RAW). codec NULL means raw. Compression
 * goes into scratch (cap bytes, see lrd__chunk_scratch_size); when it does not shrink the data
 * (or the codec reports LRD_EBUFSIZE) the chunk is stored raw. On success *hdr is complete
 * (checksum included) and *stored points at the bytes to store: scratch, or src itself for a
 * raw chunk (no copy). Errors: LRD_EINVAL, LRD_ECODEC and other codec failures with the codec
 * named in the message. */
int lrd__chunk_compress(const lrd_codec *codec, const lrd_codec_params *p, const void *src,
                        size_t n, void *scratch, size_t cap, lrd__chunk *hdr, const void **stored);

/* Check the stored bytes (hdr->stored_size of them) against hdr->checksum.
 * Errors: LRD_ECHECKSUM ("checksum mismatch: header 0x..., data 0x..."). */
int lrd__chunk_verify(const lrd__chunk *hdr, const void *stored);

/* Verify, then decompress one chunk into dst, which must hold exactly hdr->raw_size bytes
 * (dst_size must equal it: LRD_EINVAL otherwise). Errors: LRD_ECHECKSUM, LRD_ECODEC (unknown
 * codec id), LRD_ECORRUPT (decompressed size differs from the declared raw size, or the codec
 * found the data corrupt), LRD_ENOMEM and other codec errors passed through. Callers add their
 * context ("chunk 17 of 'weights'") with lrd__errctx. */
int lrd__chunk_decompress(const lrd__chunk *hdr, const void *stored, void *dst, size_t dst_size);
/* The same without checking the checksum, for callers that trust where the bytes come from
 * (lrd_get_options.trust): sizes and the codec's own checks still apply. */
int lrd__chunk_decompress_trusted(const lrd__chunk *hdr, const void *stored, void *dst,
                                  size_t dst_size);

#endif
