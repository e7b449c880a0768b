/* The chunk record (chunk.h): header encoding with validation, and compress/verify/decompress
 * of one chunk. Stateless and thread-safe; allocation-free (callers provide every buffer), so
 * a chunk costs nothing beyond the scratch its caller reuses from one chunk to the next. */
#include <xxhash.h>

#include "engine/record/chunk.h"
#include "engine/record/wire.h"

/* XXH3 hashes the same on every path; where libxxhash was built with its x86 dispatcher (as
 * Debian's is), XXH3_64bits_dispatch picks the widest vector unit at run time, while plain
 * XXH3_64bits is compiled for the baseline (SSE2). A weak reference keeps libraries without the
 * dispatcher working. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && defined(__ELF__)
XXH64_hash_t XXH3_64bits_dispatch(const void *input, size_t len) __attribute__((weak));
#define LRD_XXH3_DISPATCH 1
#endif

uint64_t lrd__checksum(const void *p, size_t n)
{
#ifdef LRD_XXH3_DISPATCH
	if (XXH3_64bits_dispatch)
		return (uint64_t)XXH3_64bits_dispatch(p, n);
#endif
	return (uint64_t)XXH3_64bits(p, n);
}

void lrd__chunk_encode(const lrd__chunk *c, uint8_t out[LRD__CHUNK_HDR_SIZE])
{
	out[0] = c->codec;
	out[1] = c->flags;
	lrd__put_u16(out + 2, 0);
	lrd__put_u32(out + 4, c->typesize);
	lrd__put_u64(out + 8, c->raw_size);
	lrd__put_u64(out + 16, c->stored_size);
	lrd__put_u64(out + 24, c->checksum);
}

int lrd__chunk_decode(const uint8_t in[LRD__CHUNK_HDR_SIZE], uint64_t max_raw, uint64_t max_stored,
                      lrd__chunk *out)
{
	*out = (lrd__chunk){
	    .codec = in[0],
	    .flags = in[1],
	    .typesize = lrd__get_u32(in + 4),
	    .raw_size = lrd__get_u64(in + 8),
	    .stored_size = lrd__get_u64(in + 16),
	    .checksum = lrd__get_u64(in + 24),
	};
	if (max_raw > LRD__CHUNK_MAX_RAW)
		max_raw = LRD__CHUNK_MAX_RAW;
	if (out->flags || lrd__get_u16(in + 2))
		return lrd__err(LRD_ECORRUPT, "chunk header: unknown flags 0x%02x/0x%04x",
		                out->flags, lrd__get_u16(in + 2));
	if (out->raw_size > max_raw)
		return lrd__err(LRD_ECORRUPT, "chunk header: raw size %llu exceeds %llu",
		                (unsigned long long)out->raw_size, (unsigned long long)max_raw);
	if (out->stored_size > max_stored)
		return lrd__err(
		    LRD_ECORRUPT, "chunk header: stored size %llu exceeds the %llu bytes left",
		    (unsigned long long)out->stored_size, (unsigned long long)max_stored);
	if (out->codec == LRD_CODEC_ID_RAW) {
		if (out->stored_size != out->raw_size)
			return lrd__err(
			    LRD_ECORRUPT,
			    "chunk header: raw chunk with stored size %llu != raw size %llu",
			    (unsigned long long)out->stored_size,
			    (unsigned long long)out->raw_size);
	} else if (!lrd_codec_by_id(out->codec)) {
		return lrd__err(LRD_ECODEC,
		                "chunk header: unknown codec id %u (plugin not loaded?)",
		                out->codec);
	}
	return LRD_OK;
}

size_t lrd__chunk_scratch_size(const lrd_codec *codec, size_t n, const lrd_codec_params *p)
{
	if (!codec)
		return n;
	size_t b = lrd_codec_bound(codec, n, p);
	if (b == 0 && n != 0)
		return 0;
	return b > n ? b : n;
}

int lrd__chunk_compress(const lrd_codec *codec, const lrd_codec_params *p, const void *src,
                        size_t n, void *scratch, size_t cap, lrd__chunk *hdr, const void **stored)
{
	if ((!src && n) || !hdr || !stored || n > LRD__CHUNK_MAX_RAW)
		return lrd__err(LRD_EINVAL, "chunk compress: bad arguments (%zu bytes)", n);
	*hdr = (lrd__chunk){.raw_size = n, .stored_size = n};
	*stored = src;
	if (codec && n > 0) {
		hdr->typesize = p && p->typesize ? (uint32_t)p->typesize : 0;
		size_t out = 0;
		int rc = lrd_codec_compress(codec, p, src, n, scratch, cap, &out);
		if (rc && rc != LRD_EBUFSIZE)
			return lrd__errctx(rc, "%s chunk compression of %zu bytes", codec->name, n);
		if (rc == LRD_OK && out < n) {
			hdr->codec = codec->id;
			hdr->stored_size = out;
			*stored = scratch;
		}
	}
	hdr->checksum = lrd__checksum(*stored, (size_t)hdr->stored_size);
	return LRD_OK;
}

int lrd__chunk_verify(const lrd__chunk *hdr, const void *stored)
{
	uint64_t sum = lrd__checksum(stored, (size_t)hdr->stored_size);
	if (sum != hdr->checksum)
		return lrd__err(LRD_ECHECKSUM,
		                "checksum mismatch: header 0x%016llx, data 0x%016llx",
		                (unsigned long long)hdr->checksum, (unsigned long long)sum);
	return LRD_OK;
}

int lrd__chunk_decompress(const lrd__chunk *hdr, const void *stored, void *dst, size_t dst_size)
{
	int rc = lrd__chunk_verify(hdr, stored);
	return rc ? rc : lrd__chunk_decompress_trusted(hdr, stored, dst, dst_size);
}

int lrd__chunk_decompress_trusted(const lrd__chunk *hdr, const void *stored, void *dst,
                                  size_t dst_size)
{
	if (dst_size != hdr->raw_size)
		return lrd__err(LRD_EINVAL,
		                "chunk decompress: buffer of %zu bytes for a %llu-byte chunk",
		                dst_size, (unsigned long long)hdr->raw_size);
	int rc;
	if (hdr->codec == LRD_CODEC_ID_RAW) {
		if (dst_size)
			memcpy(dst, stored, dst_size);
		return LRD_OK;
	}
	const lrd_codec *c = lrd_codec_by_id(hdr->codec);
	if (!c)
		return lrd__err(LRD_ECODEC, "unknown codec id %u (plugin not loaded?)", hdr->codec);
	size_t out = 0;
	rc = lrd_codec_decompress(c, NULL, stored, (size_t)hdr->stored_size, dst, dst_size, &out);
	if (rc == LRD_EBUFSIZE)
		return lrd__err(LRD_ECORRUPT,
		                "%s chunk decompresses to more than its declared %zu bytes",
		                c->name, dst_size);
	if (rc)
		return lrd__errctx(rc == LRD_ECODEC ? LRD_ECODEC : LRD_ECORRUPT, "%s chunk",
		                   c->name);
	if (out != dst_size)
		return lrd__err(LRD_ECORRUPT, "%s chunk decompresses to %zu bytes, header says %zu",
		                c->name, out, dst_size);
	return LRD_OK;
}

int lrd_chunk_size_check(size_t n)
{
	if (n < LRD_CHUNK_SIZE_MIN || n > LRD_CHUNK_SIZE_MAX)
		return lrd__err(LRD_EINVAL,
		                "chunk size %zu outside %zu (4 KiB) .. %zu (1 GiB) bytes", n,
		                LRD_CHUNK_SIZE_MIN, LRD_CHUNK_SIZE_MAX);
	return LRD_OK;
}
