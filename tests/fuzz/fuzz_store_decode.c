/* Fuzz target: the decoders that read what the store holds — an object record (header, tree
 * checksum, value tree with array references) and a chunk record (chunk header, checksum,
 * decompression by the codec its id names). The first input byte picks the decoder; the rest
 * is the record. Decoding must fail cleanly on anything, never crash, hang or allocate beyond
 * what the input justifies.
 *
 * Built with libFuzzer under --enable-fuzz (CC=clang) as tests/fuzz/fuzz_store_decode; the
 * saved corpus (tests/fuzz/corpus/store_decode) replays in make check through replay.c. */
#include <stdlib.h>
#include <string.h>

#include "engine/store/store_internal.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_MAX_RAW ((uint64_t)1 << 20)

/* Array references are read and checked as the store reads them; the chunks they point to are
 * not there, so a placeholder stands in for the array. */
static int array_in(void *ctx, const lrd__array_desc *d, lrd__reader *r, lrd_value **out)
{
	lrd__array_ref a;
	int rc = lrd__array_ref_read(r, d, &a);
	if (!rc && a.nchunks)
		(void)lrd__array_ref_chunk_raw(&a, d->nbytes, a.nchunks - 1);
	return rc || !out ? rc : lrd_value_new_nil(out);
}

static void object_record(const uint8_t *p, size_t n)
{
	lrd__object_header h;
	if (lrd__object_header_decode(p, n, &h))
		return;
	const uint8_t *tree = p + STORE_OBJ_HDR;
	size_t tlen = n - STORE_OBJ_HDR;
	(void)(lrd__checksum(tree, tlen) == h.checksum); /* the store refuses a mismatch; go on */
	lrd__memsrc m;
	lrd__reader r = lrd__memsrc_reader(&m, tree, tlen);
	lrd__tree_hooks hk = {.array_in = array_in};
	lrd_value *v = NULL;
	if (lrd__tree_decode(&r, &hk, &v) == LRD_OK)
		lrd_value_free(v);
	r = lrd__memsrc_reader(&m, tree, tlen);
	(void)lrd__tree_skip(&r, &hk);
}

static void chunk_record(const uint8_t *p, size_t n)
{
	if (n < STORE_CHUNK_PREFIX)
		return;
	lrd__chunk h;
	if (lrd__chunk_decode(p, FUZZ_MAX_RAW, n - STORE_CHUNK_PREFIX, &h))
		return;
	if (h.stored_size != n - STORE_CHUNK_PREFIX)
		return;
	/* the checksum would stop almost every input: patch it in so the codecs get fuzzed */
	h.checksum = lrd__checksum(p + STORE_CHUNK_PREFIX, (size_t)h.stored_size);
	uint8_t *dst = malloc(h.raw_size ? (size_t)h.raw_size : 1);
	if (dst)
		(void)lrd__chunk_decompress(&h, p + STORE_CHUNK_PREFIX, dst, (size_t)h.raw_size);
	free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		chunk_record(data + 1, size - 1);
	else
		object_record(data + 1, size - 1);
	return 0;
}
