/* Reset/renew benchmark: a namespace get on a reused read transaction (lrd_txn_renew +
 * lrd_store_kv_get + lrd_txn_reset) against raw LMDB doing the same (mdb_txn_renew + mdb_get +
 * mdb_txn_reset) on the same store. Usage: bench/txn_renew_bench larder|raw [iterations].
 * Uses /tmp/rbstore. Not built by make (BENCHMARKS.md gives the command). */
#include <larder.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}
int main(int argc, char **argv)
{
	int N = argc > 2 ? atoi(argv[2]) : 200000;
	const char *mode = argv[1];
	system("rm -rf /tmp/rbstore && mkdir -p /tmp/rbstore");
	lrd_store *s;
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC};
	if (lrd_store_open("/tmp/rbstore", &o, &s)) {
		puts(lrd_errmsg());
		return 1;
	}
	lrd_store_kv_put(s, NULL, "ns", "key", 3, "value-bytes", 11, 0);
	lrd_store_close(s);
	double t0, t1;
	volatile size_t sum = 0;
	if (!strcmp(mode, "larder")) {
		lrd_store_open("/tmp/rbstore", &o, &s);
		lrd_txn *r;
		lrd_txn_begin(s, LRD_TXN_READ, &r);
		lrd_txn_reset(r);
		t0 = now();
		for (int i = 0; i < N; i++) {
			lrd_buf b;
			lrd_txn_renew(r);
			if (lrd_store_kv_get(r, "ns", "key", 3, &b))
				return 2;
			sum += b.size;
			lrd_txn_reset(r);
		}
		t1 = now();
		lrd_txn_abort(r);
		lrd_store_close(s);
	} else {
		MDB_env *e;
		mdb_env_create(&e);
		mdb_env_set_maxdbs(e, 16);
		if (mdb_env_open(e, "/tmp/rbstore", MDB_RDONLY, 0644))
			return 3;
		MDB_txn *t;
		MDB_dbi d;
		mdb_txn_begin(e, NULL, MDB_RDONLY, &t);
		int rc = mdb_dbi_open(t, "kv", 0, &d);
		if (rc) {
			printf("dbi %s\n", mdb_strerror(rc));
		}
		mdb_txn_reset(t);
		/* raw key as larder stores it is internal; use the same key length */
		char kb[16] = "ns\0key";
		MDB_val k = {6, kb}, v;
		t0 = now();
		for (int i = 0; i < N; i++) {
			mdb_txn_renew(t);
			mdb_get(t, d, &k, &v);
			sum += v.mv_size;
			mdb_txn_reset(t);
		}
		t1 = now();
		mdb_txn_abort(t);
		mdb_env_close(e);
	}
	printf("%s: %.1f ns per renew+get+reset\n", mode, (t1 - t0) / N);
	return 0;
}
