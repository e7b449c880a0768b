/* The store stop of `larder demo`: the tour's arrays are streamed into the embedded store in
 * pieces, raw and blosc-compressed, and come back inside one read transaction: raw arrays as
 * zero-copy views into the LMDB map (checksum verified by lrd_store_get; the bare view skips
 * that and takes constant time), the compressed one decompressed. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/bench_codec.h"
#include "tools/cli.h"

#define STORE_TOUR_BYTES ((size_t)8 << 20)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int put_tour(lrd_store *s, const char *key, enum bench_data kind, const char *codec,
                    const void *data)
{
	lrd_dtype dt;
	lrd_dtype_parse(kind == BENCH_FLOATS ? "<f8" : "<i8", &dt);
	uint64_t shape[2] = {STORE_TOUR_BYTES / 8 / 1024, 1024};
	lrd_put_options po = {.codec = codec};
	lrd_store_writer *w;
	/* streamed in 1 MiB pieces, as a producer that never holds the whole array would */
	int rc = lrd_store_writer_new(s, NULL, key, dt, 2, shape, LRD_ORDER_C, &po, &w);
	for (size_t off = 0; !rc && off < STORE_TOUR_BYTES; off += 1 << 20)
		rc = lrd_store_writer_write(w, (const char *)data + off, 1 << 20);
	if (!rc)
		rc = lrd_store_writer_finish(w);
	lrd_store_writer_free(w);
	if (rc)
		return cli_fail(rc, key);
	lrd_object_info info;
	if ((rc = lrd_store_info(s, NULL, key, &info)) != LRD_OK)
		return cli_fail(rc, key);
	printf("  put %-16s %-5s %6.2f MiB raw, %6.2f MiB stored in %llu chunks\n", key, codec,
	       (double)info.raw_bytes / 1048576, (double)info.stored_bytes / 1048576,
	       (unsigned long long)info.chunks);
	return CLI_OK;
}

static int read_back(lrd_store *s, lrd_txn *t, const char *key, const void *want)
{
	lrd_value *v;
	double t0 = now();
	int rc = lrd_store_get(s, t, key, &v);
	double dt = now() - t0;
	if (rc)
		return cli_fail(rc, key);
	bool same = lrd_array_nbytes(v) == STORE_TOUR_BYTES &&
	            memcmp(lrd_array_cdata(v), want, STORE_TOUR_BYTES) == 0;
	printf("  get %-16s %s in %8.1f us, %s\n", key,
	       lrd_array_bufkind(v) == LRD_BUF_MAPPED ? "zero-copy view" : "decompressed  ",
	       dt * 1e6, same ? "identical" : "DIFFERENT");
	lrd_value_free(v);
	return same ? CLI_OK : CLI_FAIL;
}

/* The keys the tour writes. */
static const char *const tour_keys[] = {"tour/ramp", "tour/floats", "tour/ramp.blosc"};

void demo_store_warn(const char *path)
{
	lrd_store *s;
	if (lrd_store_open(path, &(lrd_store_options){.flags = LRD_STORE_RDONLY}, &s) != LRD_OK)
		return; /* no store yet, or one demo_store will report on */
	bool any = false;
	for (size_t i = 0; i < sizeof tour_keys / sizeof *tour_keys; i++)
		if (lrd_store_exists(s, NULL, tour_keys[i]) == 1) {
			fprintf(stderr, "%s%s", any ? ", " : "larder demo: overwriting ",
			        tour_keys[i]);
			any = true;
		}
	if (any)
		fprintf(stderr, " in the existing store %s\n", path);
	lrd_store_close(s);
}

int demo_store(const char *path)
{
	printf("== store: the tour's arrays in the embedded LMDB store at %s\n", path);
	lrd_store *s;
	lrd_store_options o = {.chunk_size = STORE_TOUR_BYTES};
	int rc = lrd_store_open(path, &o, &s);
	if (rc)
		return cli_fail(rc, path);
	void *ramp = malloc(STORE_TOUR_BYTES), *floats = malloc(STORE_TOUR_BYTES);
	int status = CLI_OK;
	if (!ramp || !floats) {
		status = cli_fail(LRD_ENOMEM, "demo");
		goto out;
	}
	bench_data_fill(BENCH_RAMP, ramp, STORE_TOUR_BYTES);
	bench_data_fill(BENCH_FLOATS, floats, STORE_TOUR_BYTES);
	if ((status = put_tour(s, tour_keys[0], BENCH_RAMP, "raw", ramp)) ||
	    (status = put_tour(s, tour_keys[1], BENCH_FLOATS, "raw", floats)) ||
	    (status = put_tour(s, tour_keys[2], BENCH_RAMP, "blosc", ramp)))
		goto out;
	lrd_txn *t;
	if ((rc = lrd_txn_begin(s, LRD_TXN_READ, &t)) != LRD_OK) {
		status = cli_fail(rc, "read transaction");
		goto out;
	}
	if (!(status = read_back(s, t, "tour/ramp", ramp)) &&
	    !(status = read_back(s, t, "tour/floats", floats)))
		status = read_back(s, t, "tour/ramp.blosc", ramp);
	if (!status) {
		/* the view alone, without verifying the checksum: constant time at any size */
		lrd_store_reader *r;
		const void *p;
		size_t n;
		double t0 = now();
		rc = lrd_store_reader_new(s, t, "tour/floats", &r);
		if (!rc)
			rc = lrd_store_reader_view(r, true, &p, &n);
		double dt = now() - t0;
		if (rc)
			status = cli_fail(rc, "view");
		else
			printf(
			    "  view %-15s %zu bytes at %p in %.1f us (reader + view, unverified)\n",
			    "tour/floats", n, p, dt * 1e6);
		lrd_store_reader_free(r);
	}
	lrd_txn_abort(t);
	if (!status) {
		lrd_store_stat st;
		if ((rc = lrd_store_stat_get(s, NULL, &st)) != LRD_OK) {
			status = cli_fail(rc, "stat");
			goto out;
		}
		printf("  store: %llu objects, %.1f MiB raw, %.1f MiB stored; map %.0f MiB\n",
		       (unsigned long long)st.objects, (double)st.raw_bytes / 1048576,
		       (double)st.stored_bytes / 1048576, (double)st.map_size / 1048576);
	}
out:
	free(ramp);
	free(floats);
	lrd_store_close(s);
	return status;
}
