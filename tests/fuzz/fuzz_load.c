/* Fuzz target for the .lrd reader. The input is a whole file image (possibly whole-file
 * compressed). It goes to lrd_load_memory, to a mapped load of the same memory and to lrd_scan,
 * which must agree: all fail with a documented code, or all succeed with equal trees. An
 * accepted tree must survive a dump and load unchanged. */
#include <stdio.h>

#include <larder.h>

#include "tests/fuzz/fuzz.h"

static int documented(int rc)
{
	return rc == LRD_EFORMAT || rc == LRD_EVERSION || rc == LRD_EDTYPE || rc == LRD_ECORRUPT ||
	       rc == LRD_ECHECKSUM || rc == LRD_ECODEC || rc == LRD_ELIMIT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lrd_load_options o = {.max_array_bytes = (uint64_t)64 << 20};
	lrd_value *a = NULL, *b = NULL, *c = NULL;
	int rc = lrd_load_memory(data, size, &a, &o);
	FUZZ_CHECK(rc == LRD_OK || documented(rc), "load: %s: %s", lrd_errname(rc), lrd_errmsg());
	FUZZ_CHECK((rc == LRD_OK) == (a != NULL), "load: output and code disagree");

	lrd_load_options om = o;
	om.mmap = true;
	om.verify = true;
	int rc2 = lrd_load_memory(data, size, &b, &om);
	FUZZ_CHECK(rc2 == LRD_OK || documented(rc2) || rc2 == LRD_EINVAL, "mmap load: %s: %s",
	           lrd_errname(rc2), lrd_errmsg());
	if (rc == LRD_OK && rc2 == LRD_OK)
		FUZZ_CHECK(lrd_value_equal(a, b), "mapped load differs");
	if (rc2 == LRD_OK)
		FUZZ_CHECK(rc == LRD_OK, "mapped load accepted what load refused");

	lrd_stream *s;
	if (lrd_stream_open_memory(data, size, &s) == LRD_OK) {
		int rc3 = lrd_scan(s, &o, NULL, NULL, NULL);
		FUZZ_CHECK((rc3 == LRD_OK) == (rc == LRD_OK), "scan %s, load %s", lrd_errname(rc3),
		           lrd_errname(rc));
		lrd_stream_close(s);
	}

	if (rc == LRD_OK) {
		void *buf;
		size_t n;
		FUZZ_CHECK(lrd_dump_memory(a, &buf, &n, NULL) == LRD_OK, "re-dump: %s",
		           lrd_errmsg());
		FUZZ_CHECK(lrd_load_memory(buf, n, &c, NULL) == LRD_OK, "re-load: %s",
		           lrd_errmsg());
		FUZZ_CHECK(lrd_value_equal(a, c), "re-dumped tree differs");
		lrd_free(buf);
	}
	lrd_value_free(a);
	lrd_value_free(b);
	lrd_value_free(c);
	return 0;
}
