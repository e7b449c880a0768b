/* Store benchmark: larder's store against LMDB's own C API doing the same work.
 *
 *   store_bench kv DIR N              1 KiB puts (one per txn, 1,000 per txn) and gets, larder
 *                                     and raw LMDB, ops/s
 *   store_bench stream-in DIR CODEC   stream a 1 GiB float64 array into the store in 4 MiB
 *                                     pieces (CODEC: raw or blosc-lz4), GB/s
 *   store_bench stream-out DIR        stream it back chunk by chunk, GB/s
 *   store_bench memcpy-in DIR         raw LMDB: the same 1 GiB as 4 MiB MDB_RESERVE + memcpy
 *   store_bench view DIR N            reader + zero-copy view of a raw one-chunk array, N times
 *   store_bench snap DIR WHICH N      one read on a reused snapshot, ns per read (best of 3
 *                                     passes of N after a warm-up): WHICH is raw-kv (LMDB:
 *                                     mdb_txn_renew + mdb_get of an 11-byte value in "kv" +
 *                                     mdb_txn_reset), kv (lrd_txn_renew + lrd_store_kv_get +
 *                                     lrd_txn_reset of that value), raw-get (LMDB: renew + get
 *                                     of the record of a scalar object, copied into a malloc'd
 *                                     buffer that is freed, + reset), get (implicit
 *                                     lrd_store_get of that scalar, txn NULL, + lrd_value_free),
 *                                     get-txn (lrd_txn_renew + lrd_store_get + lrd_txn_reset +
 *                                     lrd_value_free). bench/store_bench.sh also runs each
 *                                     under callgrind for instructions per read.
 *
 * Every mode prints one line "RESULT <name> <value> <unit>"; bench/store_bench.sh runs each in a
 * process of its own under /usr/bin/time -v for the peak RSS. Stores are opened NOSYNC
 * (larder and raw LMDB alike) so the figures measure the code, not the disk's fsync. */
#include <larder.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define VAL   1024
#define BATCH 1000
#define GIB   ((size_t)1 << 30)
#define PIECE ((size_t)4 << 20)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(int rc, const char *what)
{
	fprintf(stderr, "store_bench: %s: %s (%s)\n", what, lrd_errname(rc), lrd_errmsg());
	exit(1);
}

static void mdie(int rc, const char *what)
{
	fprintf(stderr, "store_bench: %s: %s\n", what, mdb_strerror(rc));
	exit(1);
}

static lrd_store *open_store(const char *dir)
{
	lrd_store *s;
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC, .map_size = (uint64_t)4 << 30};
	if (getenv("STORE_BENCH_WRITEMAP"))
		o.flags |= LRD_STORE_WRITEMAP;
	int rc = lrd_store_open(dir, &o, &s);
	if (rc)
		die(rc, dir);
	return s;
}

static void key_of(char *k, long i) { snprintf(k, 32, "key%012ld", i * 7919 % 1000003); }

static void bench_kv_larder(const char *dir, long n)
{
	lrd_store *s = open_store(dir);
	char val[VAL], key[32];
	memset(val, 'v', sizeof val);
	lrd_value *v;
	lrd_value_new_bytes(val, sizeof val, &v);
	double t0 = now();
	for (long i = 0; i < n / 10; i++) {
		key_of(key, i);
		int rc = lrd_store_put(s, NULL, key, v, NULL);
		if (rc)
			die(rc, "put");
	}
	double t1 = now();
	printf("RESULT larder_put_1_per_txn %.0f ops/s\n", (double)(n / 10) / (t1 - t0));
	t0 = now();
	for (long i = 0; i < n; i += BATCH) {
		lrd_txn *t;
		int rc = lrd_txn_begin(s, LRD_TXN_WRITE, &t);
		for (long j = i; !rc && j < i + BATCH && j < n; j++) {
			key_of(key, j);
			rc = lrd_store_put(s, t, key, v, NULL);
		}
		if (rc || (rc = lrd_txn_commit(t)))
			die(rc, "batched put");
	}
	t1 = now();
	printf("RESULT larder_put_1000_per_txn %.0f ops/s\n", (double)n / (t1 - t0));
	lrd_txn *t;
	lrd_txn_begin(s, LRD_TXN_READ, &t);
	for (long i = 0; i < n; i++) { /* warm up: fault the map in, as raw LMDB's pass does */
		key_of(key, i);
		lrd_store_exists(s, t, key);
	}
	size_t total = 0;
	double best = 1e9; /* best of 3 passes: the machine is shared */
	for (int pass = 0; pass < 3; pass++) {
		t0 = now();
		for (long i = 0; i < n; i++) {
			key_of(key, i);
			lrd_value *out;
			int rc = lrd_store_get(s, t, key, &out);
			if (rc)
				die(rc, "get");
			size_t len;
			lrd_value_bytes(out, &len);
			total += len;
			lrd_value_free(out);
		}
		if (now() - t0 < best)
			best = now() - t0;
	}
	lrd_txn_abort(t);
	t1 = t0 + best;
	printf("RESULT larder_get %.0f ops/s\n", (double)n / (t1 - t0));
	(void)total;
	lrd_value_free(v);
	lrd_store_close(s);
}

static void (*volatile release)(void *) = free;

static void bench_kv_lmdb(const char *dir, long n)
{
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	int rc;
	mkdir(dir, 0755);
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_mapsize(env, (size_t)4 << 30)) ||
	    (rc = mdb_env_open(env, dir, MDB_NOSYNC | MDB_NOTLS, 0644)))
		mdie(rc, dir);
	mdb_txn_begin(env, NULL, 0, &t);
	mdb_dbi_open(t, NULL, 0, &dbi);
	mdb_txn_commit(t);
	char val[VAL], key[32];
	memset(val, 'v', sizeof val);
	double t0 = now();
	for (long i = 0; i < n / 10; i++) {
		key_of(key, i);
		MDB_val k = {strlen(key), key}, v = {VAL, val};
		if ((rc = mdb_txn_begin(env, NULL, 0, &t)) || (rc = mdb_put(t, dbi, &k, &v, 0)) ||
		    (rc = mdb_txn_commit(t)))
			mdie(rc, "put");
	}
	double t1 = now();
	printf("RESULT lmdb_put_1_per_txn %.0f ops/s\n", (double)(n / 10) / (t1 - t0));
	t0 = now();
	for (long i = 0; i < n; i += BATCH) {
		mdb_txn_begin(env, NULL, 0, &t);
		for (long j = i; j < i + BATCH && j < n; j++) {
			key_of(key, j);
			MDB_val k = {strlen(key), key}, v = {VAL, val};
			if ((rc = mdb_put(t, dbi, &k, &v, 0)))
				mdie(rc, "batched put");
		}
		if ((rc = mdb_txn_commit(t)))
			mdie(rc, "commit");
	}
	t1 = now();
	printf("RESULT lmdb_put_1000_per_txn %.0f ops/s\n", (double)n / (t1 - t0));
	mdb_txn_begin(env, NULL, MDB_RDONLY, &t);
	for (long i = 0; i < n; i++) {
		key_of(key, i);
		MDB_val k = {strlen(key), key}, v;
		mdb_get(t, dbi, &k, &v);
	}
	size_t total = 0;
	double best = 1e9;
	for (int pass = 0; pass < 3; pass++) {
		t0 = now();
		for (long i = 0; i < n; i++) {
			key_of(key, i);
			MDB_val k = {strlen(key), key}, v;
			if ((rc = mdb_get(t, dbi, &k, &v)))
				mdie(rc, "get");
			/* the same work larder's get does: a value the caller owns (freed through
			 * a volatile pointer, or the compiler drops the malloc/memcpy/free) */
			void *copy = malloc(v.mv_size);
			memcpy(copy, v.mv_data, v.mv_size);
			total += v.mv_size;
			release(copy);
		}
		if (now() - t0 < best)
			best = now() - t0;
	}
	mdb_txn_abort(t);
	t1 = t0 + best;
	printf("RESULT lmdb_get %.0f ops/s\n", (double)n / (t1 - t0));
	(void)total;
	mdb_env_close(env);
}

static void fill(double *p, size_t n, size_t base)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (double)(base + i) * 0.001; /* smooth: blosc has something to do */
}

static void stream_in(const char *dir, const char *codec)
{
	lrd_store *s = open_store(dir);
	double *piece = malloc(PIECE);
	lrd_dtype dt;
	lrd_dtype_parse("<f8", &dt);
	uint64_t count = GIB / 8;
	lrd_put_options po = {.codec = strcmp(codec, "raw") ? "blosc" : "raw"};
	if (strcmp(codec, "raw"))
		po.params = (lrd_codec_params){.inner = "lz4", .threads = 2};
	char key[64];
	snprintf(key, sizeof key, "big.%s", codec);
	double t0 = now();
	lrd_store_writer *w;
	int rc = lrd_store_writer_new(s, NULL, key, dt, 1, &count, LRD_ORDER_C, &po, &w);
	for (size_t off = 0; !rc && off < GIB; off += PIECE) {
		fill(piece, PIECE / 8, off / 8);
		rc = lrd_store_writer_write(w, piece, PIECE);
	}
	if (rc || (rc = lrd_store_writer_finish(w)))
		die(rc, "stream in");
	lrd_store_writer_free(w);
	double t1 = now();
	printf("RESULT stream_in_%s %.2f GB/s\n", codec, (double)GIB / (t1 - t0) / 1e9);
	lrd_object_info info;
	lrd_store_info(s, NULL, key, &info);
	printf("RESULT stored_bytes_%s %.0f MiB\n", codec, (double)info.stored_bytes / 1048576);
	free(piece);
	lrd_store_close(s);
}

static void stream_out(const char *dir, const char *codec)
{
	lrd_store *s = open_store(dir);
	char key[64];
	snprintf(key, sizeof key, "big.%s", codec);
	double t0 = now();
	lrd_store_reader *r;
	int rc = lrd_store_reader_new(s, NULL, key, &r);
	if (rc)
		die(rc, "reader");
	const void *p;
	size_t n, total = 0;
	double sum = 0;
	while ((rc = lrd_store_reader_next(r, &p, &n)) == LRD_OK && n > 0) {
		sum += ((const double *)p)[n / 8 - 1]; /* touch the chunk's last element */
		total += n;
	}
	if (rc != LRD_OK || total != GIB)
		die(rc, "stream out");
	lrd_store_reader_free(r);
	double t1 = now();
	printf("RESULT stream_out_%s %.2f GB/s (checksums verified; sum %.0f)\n", codec,
	       (double)GIB / (t1 - t0) / 1e9, sum);
	lrd_store_close(s);
}

static void memcpy_in(const char *dir)
{
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	int rc;
	mkdir(dir, 0755);
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_mapsize(env, (size_t)4 << 30)) ||
	    (rc = mdb_env_open(env, dir, MDB_NOSYNC | MDB_NOTLS, 0644)))
		mdie(rc, dir);
	double *piece = malloc(PIECE);
	double t0 = now();
	mdb_txn_begin(env, NULL, 0, &t);
	mdb_dbi_open(t, NULL, 0, &dbi);
	for (uint64_t i = 0; i < GIB / PIECE; i++) {
		fill(piece, PIECE / 8, i * PIECE / 8);
		uint8_t kb[8];
		for (int b = 0; b < 8; b++)
			kb[b] = (uint8_t)(i >> (56 - 8 * b));
		MDB_val k = {8, kb}, v = {PIECE, NULL};
		if ((rc = mdb_put(t, dbi, &k, &v, MDB_RESERVE)))
			mdie(rc, "put");
		memcpy(v.mv_data, piece, PIECE);
	}
	if ((rc = mdb_txn_commit(t)))
		mdie(rc, "commit");
	double t1 = now();
	printf("RESULT memcpy_into_lmdb %.2f GB/s\n", (double)GIB / (t1 - t0) / 1e9);
	free(piece);
	mdb_env_close(env);
}

static void view(const char *dir, long n)
{
	lrd_store *s = open_store(dir);
	lrd_dtype dt;
	lrd_dtype_parse("<f8", &dt);
	size_t sizes[] = {(size_t)8 << 10, (size_t)8 << 20, (size_t)256 << 20};
	for (int k = 0; k < 3; k++) {
		uint64_t count = sizes[k] / 8;
		lrd_value *a;
		lrd_array_new(dt, 1, &count, LRD_ORDER_C, &a);
		lrd_put_options po = {.chunk_size = sizes[k]};
		int rc = lrd_store_put(s, NULL, "view", a, &po);
		lrd_value_free(a);
		if (rc)
			die(rc, "put");
		lrd_txn *t;
		lrd_txn_begin(s, LRD_TXN_READ, &t);
		double best = 1e9;
		for (long i = 0; i < n; i++) {
			double t0 = now();
			lrd_store_reader *r;
			const void *p;
			size_t len;
			if ((rc = lrd_store_reader_new(s, t, "view", &r)) ||
			    (rc = lrd_store_reader_view(r, true, &p, &len)))
				die(rc, "view");
			lrd_store_reader_free(r);
			double took = now() - t0;
			if (took < best)
				best = took;
		}
		lrd_txn_abort(t);
		printf("RESULT view_%zu_bytes %.2f us (best of %ld: reader_new + view + free)\n",
		       sizes[k], best * 1e6, n);
	}
	lrd_store_close(s);
}

/* ---- one read on a reused snapshot ---------------------------------------------------------- */

#define SNAP_WARM 1000

static void snap_setup(const char *dir)
{
	lrd_store *s = open_store(dir);
	lrd_value *v;
	int rc = lrd_store_kv_put(s, NULL, "ns", "key", 3, "value-bytes", 11, 0);
	if (!rc && !(rc = lrd_value_new_int(42, &v))) {
		rc = lrd_store_put(s, NULL, "scalar", v, NULL);
		lrd_value_free(v);
	}
	if (rc)
		die(rc, "snap setup");
	lrd_store_close(s);
}

static double snap_raw(const char *dir, bool kv, long n)
{
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	int rc;
	if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 8)) ||
	    (rc = mdb_env_set_mapsize(env, (size_t)4 << 30)) ||
	    (rc = mdb_env_open(env, dir, MDB_NOTLS | MDB_RDONLY, 0644)))
		mdie(rc, dir);
	/* a dbi opened in a read txn lives on only if that txn commits */
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &t)) ||
	    (rc = mdb_dbi_open(t, kv ? "kv" : "objects", 0, &dbi)) || (rc = mdb_txn_commit(t)) ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &t)))
		mdie(rc, "opening the sub-database");
	mdb_txn_reset(t);
	char kb[16];
	MDB_val k = kv ? (MDB_val){6, memcpy(kb, "ns\0key", 6)} : (MDB_val){6, "scalar"}, v;
	size_t total = 0;
	double best = 1e9;
	for (int pass = -1; pass < 3; pass++) {
		long m = pass < 0 ? SNAP_WARM : n;
		double t0 = now();
		for (long i = 0; i < m; i++) {
			if ((rc = mdb_txn_renew(t)) || (rc = mdb_get(t, dbi, &k, &v)))
				mdie(rc, "renew + get");
			if (!kv) { /* the caller gets a value of its own, as lrd_store_get gives */
				void *copy = malloc(v.mv_size);
				memcpy(copy, v.mv_data, v.mv_size);
				release(copy);
			}
			total += v.mv_size;
			mdb_txn_reset(t);
		}
		if (pass >= 0 && now() - t0 < best)
			best = now() - t0;
	}
	mdb_txn_abort(t);
	mdb_env_close(env);
	(void)total;
	return best / (double)n;
}

static double snap_larder(const char *dir, const char *which, long n)
{
	lrd_store *s = open_store(dir);
	lrd_txn *t;
	int rc = lrd_txn_begin(s, LRD_TXN_READ, &t);
	if (rc || (rc = lrd_txn_reset(t)))
		die(rc, "begin + reset");
	bool kv = !strcmp(which, "kv"), implicit = !strcmp(which, "get");
	size_t total = 0;
	double best = 1e9;
	for (int pass = -1; pass < 3; pass++) {
		long m = pass < 0 ? SNAP_WARM : n;
		double t0 = now();
		for (long i = 0; i < m; i++) {
			if (!implicit && (rc = lrd_txn_renew(t)))
				die(rc, "renew");
			if (kv) {
				lrd_buf b;
				if ((rc = lrd_store_kv_get(t, "ns", "key", 3, &b)))
					die(rc, "kv get");
				total += b.size;
			} else {
				lrd_value *v;
				if ((rc = lrd_store_get(s, implicit ? NULL : t, "scalar", &v)))
					die(rc, "get");
				total += (size_t)lrd_value_kind(v);
				lrd_value_free(v);
			}
			if (!implicit)
				lrd_txn_reset(t);
		}
		if (pass >= 0 && now() - t0 < best)
			best = now() - t0;
	}
	lrd_txn_abort(t);
	lrd_store_close(s);
	(void)total;
	return best / (double)n;
}

static void snap(const char *dir, const char *which, long n)
{
	char data[4096];
	struct stat st;
	snprintf(data, sizeof data, "%s/data.mdb", dir);
	if (stat(data, &st) != 0)
		snap_setup(dir);
	double ns;
	if (!strcmp(which, "raw-kv") || !strcmp(which, "raw-get"))
		ns = snap_raw(dir, !strcmp(which, "raw-kv"), n);
	else if (!strcmp(which, "kv") || !strcmp(which, "get") || !strcmp(which, "get-txn"))
		ns = snap_larder(dir, which, n);
	else {
		fprintf(stderr, "store_bench snap: WHICH is raw-kv, kv, raw-get, get or get-txn\n");
		exit(2);
	}
	printf("RESULT snap_%s %.1f ns per read (best of 3 passes of %ld)\n", which, ns * 1e9, n);
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "kv")) {
		char a[4096], b[4096];
		snprintf(a, sizeof a, "%s/larder", argv[2]);
		snprintf(b, sizeof b, "%s/lmdb", argv[2]);
		long n = atol(argv[3]);
		mkdir(argv[2], 0755);
		bench_kv_larder(a, n);
		bench_kv_lmdb(b, n);
	} else if (argc >= 4 && !strcmp(argv[1], "stream-in")) {
		stream_in(argv[2], argv[3]);
	} else if (argc >= 4 && !strcmp(argv[1], "stream-out")) {
		stream_out(argv[2], argv[3]);
	} else if (argc >= 3 && !strcmp(argv[1], "memcpy-in")) {
		memcpy_in(argv[2]);
	} else if (argc >= 4 && !strcmp(argv[1], "view")) {
		view(argv[2], atol(argv[3]));
	} else if (argc >= 5 && !strcmp(argv[1], "snap")) {
		snap(argv[2], argv[3], atol(argv[4]));
	} else {
		fprintf(stderr, "usage: store_bench kv DIR N | stream-in DIR raw|blosc-lz4 | "
		                "stream-out DIR raw|blosc-lz4 | memcpy-in DIR | view DIR N | "
		                "snap DIR raw-kv|kv|raw-get|get|get-txn N\n");
		return 2;
	}
	return 0;
}
