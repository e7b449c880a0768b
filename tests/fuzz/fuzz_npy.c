/* Fuzz target for the .npy reader. The input is a whole .npy image. It goes to
 * lrd_npy_load_memory and, through fmemopen (a stream of unknown length), to lrd_npy_load_file,
 * and the two must agree: both fail with a documented code, or both give equal arrays
 * (load_file may stop before trailing bytes that load_mem refuses). An accepted array must
 * match its header, and saving it and loading the result must give it back. */
#include <stdio.h>
#include <string.h>

#include <larder.h>

#include "tests/fuzz/fuzz.h"

static int documented(int rc)
{
	return rc == LRD_EFORMAT || rc == LRD_EVERSION || rc == LRD_EDTYPE || rc == LRD_ECORRUPT ||
	       rc == LRD_ELIMIT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lrd_npy_load_options opts = {.max_array_bytes = (uint64_t)64 << 20};
	lrd_value *a = NULL, *b = NULL, *c = NULL;
	int rc = lrd_npy_load_memory(data, size, &a, &opts);
	FUZZ_CHECK(rc == LRD_OK || documented(rc), "load_mem: %s: %s", lrd_errname(rc),
	           lrd_errmsg());
	FUZZ_CHECK((rc == LRD_OK) == (a != NULL), "load_mem: output and code disagree");

	FILE *f = size ? fmemopen((void *)data, size, "rb") : NULL;
	if (f) {
		int rc2 = lrd_npy_load_file(f, &b, &opts);
		FUZZ_CHECK(rc2 == LRD_OK || documented(rc2), "load_file: %s: %s", lrd_errname(rc2),
		           lrd_errmsg());
		if (rc == LRD_OK)
			FUZZ_CHECK(rc2 == LRD_OK && lrd_value_equal(a, b),
			           "load_file disagrees: %s", lrd_errname(rc2));
		fclose(f);
	}

	if (rc == LRD_OK) {
		lrd_npy_header h;
		FUZZ_CHECK(lrd_npy_read_header(data, size, &h) == LRD_OK, "header reread");
		FUZZ_CHECK(h.data_offset + lrd_array_nbytes(a) == size, "size");
		FUZZ_CHECK(lrd_dtype_equal(h.dtype, lrd_array_dtype(a)), "dtype");
		void *img;
		size_t len;
		FUZZ_CHECK(lrd_npy_save_memory(a, &img, &len, NULL) == LRD_OK, "save: %s",
		           lrd_errmsg());
		FUZZ_CHECK(lrd_npy_load_memory(img, len, &c, NULL) == LRD_OK, "reload: %s",
		           lrd_errmsg());
		FUZZ_CHECK(lrd_value_equal(a, c), "round trip changed the array");
		lrd_free(img);
	}
	lrd_value_free(a);
	lrd_value_free(b);
	lrd_value_free(c);
	return 0;
}
