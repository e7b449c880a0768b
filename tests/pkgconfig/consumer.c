/* A program that knows larder only as an installed package: `make installcheck` builds it with
 * `pkg-config --cflags --libs larder` against the installed prefix (tests/pkgconfig/run.sh) and
 * runs it. It dumps a map holding a float64 array to DIR/consumer.lrd.zst (whole-file zstd: the
 * installed plugin) and to memory, loads both back and compares; exit 0 when all of it worked. */
#include <larder.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, int rc)
{
	fprintf(stderr, "consumer: %s: %s (%s)\n", what, lrd_errmsg(), lrd_strerror(rc));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: consumer DIR\n");
		return 2;
	}
	if (strcmp(lrd_version_string(), LRD_VERSION_STRING) != 0) {
		fprintf(stderr, "consumer: header %s, library %s\n", LRD_VERSION_STRING,
		        lrd_version_string());
		return 1;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/consumer.lrd.zst", argv[1]);

	lrd_dtype f8;
	lrd_value *map, *arr, *name, *back = NULL, *back_mem = NULL;
	uint64_t shape[2] = {100, 10};
	int rc;
	if ((rc = lrd_dtype_parse("<f8", &f8)) || (rc = lrd_value_new_map(&map)) ||
	    (rc = lrd_array_new(f8, 2, shape, LRD_ORDER_C, &arr)))
		return fail("building the value", rc);
	double *d = lrd_array_data(arr);
	for (size_t i = 0; i < 1000; i++)
		d[i] = (double)i / 8;
	if ((rc = lrd_map_set(map, "weights", arr)) ||
	    (rc = lrd_value_new_str("consumer", 8, &name)) || (rc = lrd_map_set(map, "name", name)))
		return fail("building the value", rc);

	/* zstd by name, not by suffix: without the plugin this is an error, not an uncompressed
	 * file */
	lrd_dump_options zstd = {.codec = "zstd"};
	if (!lrd_codec_by_name("zstd")) {
		fprintf(stderr, "consumer: the installed zstd plugin was not loaded\n");
		return 1;
	}
	if ((rc = lrd_dump(map, path, &zstd)))
		return fail(path, rc);
	if ((rc = lrd_load(path, &back, NULL)))
		return fail(path, rc);
	void *mem;
	size_t n;
	if ((rc = lrd_dump_memory(map, &mem, &n, NULL)) ||
	    (rc = lrd_load_memory(mem, n, &back_mem, NULL)))
		return fail("memory round trip", rc);
	lrd_free(mem);
	int same = lrd_value_equal(map, back) && lrd_value_equal(map, back_mem);
	printf("consumer: larder %s, %s and %zu bytes in memory: %s\n", lrd_version_string(), path,
	       n, same ? "loaded back equal" : "DIFFERENT");
	lrd_value_free(back);
	lrd_value_free(back_mem);
	lrd_value_free(map);
	return same ? 0 : 1;
}
