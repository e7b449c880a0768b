/* Fuzz target: the decoders that read what the store holds — an object record (header, tree
 * checksum, value tree with array references) and a chunk record (chunk header, checksum,
 * decompression by the codec its id names). The first input byte picks the decoder; the rest
 * is the record. Decoding must fail cleanly on anything, never crash, hang or allocate beyond
 * what the input justifies.
 *
 * Built with libFuzzer under --enable-fuzz (CC=clang); otherwise a replay main() runs every
 * file of the saved corpus (tests/fuzz/corpus/store_decode, or the paths given) in make check. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/store_internal.h"

#define FUZZ_MAX_RAW ((uint64_t)1 << 20)

/* Array references are read and checked as the store reads them; the chunks they point to are
 * not there, so a placeholder stands in for the array. */
static int array_in(void *ctx, const lrd__array_desc *d, lrd__rd *r, lrd_value **out)
{
	lrd__aref a;
	int rc = lrd__aref_read(r, d, &a);
	if (!rc && a.nchunks)
		(void)lrd__aref_chunk_raw(&a, d->nbytes, a.nchunks - 1);
	return rc || !out ? rc : lrd_value_new_nil(out);
}

static void object_record(const uint8_t *p, size_t n)
{
	lrd__objhdr h;
	if (lrd__objhdr_decode(p, n, &h))
		return;
	const uint8_t *tree = p + STORE_OBJ_HDR;
	size_t tlen = n - STORE_OBJ_HDR;
	(void)(lrd__checksum(tree, tlen) == h.checksum); /* the store refuses a mismatch; go on */
	lrd__memsrc m;
	lrd__rd r = lrd__memsrc_reader(&m, tree, tlen);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
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

#ifndef LRD_FUZZING
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	uint8_t *buf = malloc(1 << 22);
	size_t n = buf ? fread(buf, 1, 1 << 22, f) : 0;
	fclose(f);
	if (!buf)
		return -1;
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int replay_dir(const char *dir, int *count)
{
	DIR *d = opendir(dir);
	if (!d)
		return replay_file(dir) == 0 ? (++*count, 0) : -1;
	struct dirent *e;
	char path[4096];
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (replay_file(path) == 0)
			++*count;
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	int count = 0;
	char def[4096];
	if (argc < 2) {
		const char *src = getenv("LARDER_TEST_SRCDIR");
		snprintf(def, sizeof def, "%s/fuzz/corpus/store_decode", src ? src : "tests");
		if (replay_dir(def, &count)) {
			fprintf(stderr, "fuzz_store_decode: no corpus at %s\n", def);
			return 1;
		}
	}
	for (int i = 1; i < argc; i++)
		if (replay_dir(argv[i], &count)) {
			fprintf(stderr, "fuzz_store_decode: cannot read %s\n", argv[i]);
			return 1;
		}
	printf("fuzz_store_decode: replayed %d inputs\n", count);
	return count > 0 ? 0 : 1;
}
#endif
