/* Fixtures shared by the store test programs: a fresh store in a temporary directory, value
 * builders, and helpers to corrupt files on disk. */
#ifndef LRD_TEST_STORE_FIXTURE_H
#define LRD_TEST_STORE_FIXTURE_H

#include <larder.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/common.h"

/* An array of n float64 filled from the seeded generator. */
static inline lrd_value *fx_floats(size_t n)
{
	lrd_dtype dt;
	lrd_dtype_parse("<f8", &dt);
	uint64_t shape[1] = {n};
	lrd_value *a = NULL;
	if (lrd_array_new(dt, 1, shape, LRD_ORDER_C, &a) == LRD_OK)
		tc_fill_floats(lrd_array_data(a), n);
	return a;
}

/* Flip one byte of the first occurrence of needle (n bytes) in file path; 0 if found. */
static inline int fx_corrupt_file(const char *path, const void *needle, size_t n)
{
	size_t len;
	unsigned char *buf = tc_read_file(path, &len);
	if (!buf)
		return -1;
	int rc = -1;
	for (size_t i = 0; i + n <= len; i++)
		if (!memcmp(buf + i, needle, n)) {
			FILE *f = fopen(path, "r+b");
			if (f && fseek(f, (long)(i + n / 2), SEEK_SET) == 0) {
				unsigned char c = buf[i + n / 2] ^ 0x5a;
				rc = fwrite(&c, 1, 1, f) == 1 ? 0 : -1;
			}
			if (f)
				fclose(f);
			break;
		}
	free(buf);
	return rc;
}

/* A whole text file, NUL-terminated (malloc'd); "" if unreadable. */
static inline char *fx_read_text(const char *path)
{
	size_t n = 0;
	char *buf = tc_read_file(path, &n), *t = malloc(n + 1);
	if (buf && n)
		memcpy(t, buf, n);
	t[n] = 0;
	free(buf);
	return t;
}

#endif
