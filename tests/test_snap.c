/* store snapshots: implicit reads on a pooled, renewed snapshot (issue 9 item 8) and values
 * read zero-copy that keep their snapshot alive (item 9). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/testhook.h"
#include "tests/common/store_fixture.h"

static char *dir;
static lrd_store *st;

static void open_at(unsigned max_readers)
{
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC, .max_readers = max_readers};
	cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK, "%s", lrd_errmsg());
}

static void setup(void)
{
	dir = tc_tmpdir();
	cr_assert(dir);
	open_at(0);
}

static void teardown(void)
{
	lrd_store_close(st);
	st = NULL;
	tc_rmtree(dir);
	free(dir);
}

static void put_int(const char *key, int64_t i)
{
	lrd_value *v;
	cr_assert_eq(lrd_value_new_int(i, &v), LRD_OK);
	cr_assert_eq(lrd_store_put(st, NULL, key, v, NULL), LRD_OK, "%s", lrd_errmsg());
	lrd_value_free(v);
}

static int64_t get_int(lrd_txn *t, const char *key)
{
	lrd_value *v;
	int64_t i = -1;
	cr_assert_eq(lrd_store_get(st, t, key, &v), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_value_get_int(v, &i), LRD_OK);
	lrd_value_free(v);
	return i;
}

// cppcheck-suppress unknownMacro
TestSuite(snap, .init = setup, .fini = teardown);

/* ---- item 8: implicit reads reuse a snapshot ------------------------------------------------ */

/* Once a thread has read, its next implicit read renews a pooled txn: no allocation, so it
 * works even when the next allocation would fail (before: a txn was allocated per call). */
Test(snap, an_implicit_read_renews_a_pooled_txn_and_allocates_nothing)
{
	put_int("k", 7);
	cr_assert_eq(lrd_store_exists(st, NULL, "k"), 1);
	lrd__alloc_failafter(0);
	int rc = lrd_store_exists(st, NULL, "k");
	lrd__alloc_failafter(-1);
	cr_expect_eq(rc, 1, "implicit read failed: %s", lrd_errmsg());
	lrd_object_info info;
	lrd__alloc_failafter(0);
	rc = lrd_store_info(st, NULL, "k", &info);
	lrd__alloc_failafter(-1);
	cr_expect_eq(rc, LRD_OK, "%s", lrd_errmsg());
}

/* The renewed snapshot is always current: each implicit get sees the last commit. */
Test(snap, each_implicit_read_sees_the_last_commit)
{
	for (int i = 0; i < 200; i++) {
		put_int("k", i);
		cr_assert_eq(get_int(NULL, "k"), i);
		cr_assert_eq(lrd_store_exists(st, NULL, "gone"), 0);
	}
}

/* Idle pooled txns keep LMDB reader slots (MDB_NOTLS): when the slots run out, a new txn
 * takes them back instead of failing. */
Test(snap, reader_slots_held_by_the_pool_are_given_back_when_slots_run_out)
{
	lrd_store_close(st);
	tc_rmtree(dir);
	open_at(2);
	put_int("k", 1);
	cr_assert_eq(get_int(NULL, "k"), 1); /* the pool now holds a slot */
	lrd_txn *a, *b;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &a), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &b), LRD_OK, "%s", lrd_errmsg());
	lrd_txn *c;
	cr_expect_eq(lrd_txn_begin(st, LRD_TXN_READ, &c), LRD_ELIMIT, "two slots, two txns");
	lrd_txn_abort(a);
	lrd_txn_abort(b);
	cr_expect_eq(get_int(NULL, "k"), 1);
}

struct reader_arg {
	int reads;
	int bad;
};

static void *implicit_reader(void *p)
{
	struct reader_arg *a = p;
	int64_t last = -1;
	for (int i = 0; i < a->reads; i++) {
		lrd_value *v;
		int64_t x = -2;
		if (lrd_store_get(st, NULL, "counter", &v) != LRD_OK || lrd_value_get_int(v, &x) ||
		    x < last)
			a->bad++;
		lrd_value_free(v);
		last = x;
		lrd_buf b;
		lrd_txn *t;
		if (lrd_txn_begin(st, LRD_TXN_READ, &t) != LRD_OK)
			a->bad++;
		else {
			if (lrd_store_kv_get(t, "ns", "key", 3, &b) != LRD_OK || b.size != 5)
				a->bad++;
			lrd_txn_abort(t);
		}
	}
	return NULL;
}

/* Four threads read implicitly while this one rewrites the key: every read succeeds, and a
 * thread never sees the counter go back (each read is a fresh snapshot, never a stale one). */
Test(snap, implicit_reads_from_several_threads_while_a_writer_rewrites, .timeout = 120)
{
	put_int("counter", 0);
	cr_assert_eq(lrd_store_kv_put(st, NULL, "ns", "key", 3, "value", 5, 0), LRD_OK);
	pthread_t th[4];
	struct reader_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (struct reader_arg){.reads = 2000};
		cr_assert_eq(pthread_create(&th[i], NULL, implicit_reader, &args[i]), 0);
	}
	for (int i = 1; i <= 300; i++)
		put_int("counter", i);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(args[i].bad, 0, "thread %d: %d bad reads", i, args[i].bad);
	}
	cr_expect_eq(get_int(NULL, "counter"), 300);
}

/* A child of fork() must not touch the pooled txns it inherited (the parent's reader slots):
 * closing the store there frees memory only, and the parent reads on. */
Test(snap, a_child_closing_the_store_leaves_the_parents_pooled_snapshots_alone)
{
	put_int("k", 5);
	cr_assert_eq(get_int(NULL, "k"), 5);
	pid_t pid = fork();
	if (pid == 0) {
		lrd_value *v;
		int rc = lrd_store_get(st, NULL, "k", &v);
		lrd_store_close(st);
		_exit(rc == LRD_EINVAL ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	for (int i = 0; i < 50; i++) {
		put_int("k", i);
		cr_assert_eq(get_int(NULL, "k"), i);
	}
	lrd_store_stat s;
	cr_assert_eq(lrd_store_stat_get(st, NULL, &s), LRD_OK);
	cr_expect_geq(s.readers, 1, "the parent's pooled slot is still registered");
}

/* ---- item 9: zero-copy values keep their snapshot -------------------------------------------- */

static const lrd_get_options mmap_opts = {.mmap = true};

/* Rewrite key with fresh data n times, churning pages (other keys put and deleted), so that
 * any page a dead snapshot held is reused. */
static void churn(lrd_store *s, const char *key, int n)
{
	lrd_value *w = fx_floats(5000);
	double *d = lrd_array_data(w);
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < 5000; j++)
			d[j] = -i - j;
		cr_assert_eq(lrd_store_put(s, NULL, key, w, NULL), LRD_OK, "%s", lrd_errmsg());
		char tmp[32];
		snprintf(tmp, sizeof tmp, "tmp%d", i);
		cr_assert_eq(lrd_store_put(s, NULL, tmp, w, NULL), LRD_OK);
		cr_assert_eq(lrd_store_del(s, NULL, tmp), LRD_OK);
	}
	lrd_value_free(w);
}

static bool same_bytes(const lrd_value *a, const lrd_value *b)
{
	return lrd_array_nbytes(a) == lrd_array_nbytes(b) &&
	       !memcmp(lrd_array_cdata(a), lrd_array_cdata(b), lrd_array_nbytes(a));
}

/* A zero-copy value read in an explicit txn stays byte-identical after the txn is aborted (or
 * reset, or committed) while the key is rewritten hundreds of times (before: its pages were
 * reused once the txn ended). */
Test(snap, a_mapped_value_outlives_its_txn_while_the_key_is_rewritten)
{
	lrd_value *v = fx_floats(5000), *m[3];
	cr_assert_eq(lrd_store_put(st, NULL, "k", v, NULL), LRD_OK);
	for (int end = 0; end < 3; end++) {
		lrd_txn *r;
		cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
		cr_assert_eq(lrd_store_get(st, r, "k", &m[end]), LRD_OK, "%s", lrd_errmsg());
		cr_assert_eq(lrd_array_bufkind(m[end]), LRD_BUF_MAPPED);
		if (end == 0) {
			lrd_txn_abort(r);
		} else if (end == 1) {
			cr_assert_eq(lrd_txn_commit(r), LRD_OK);
		} else {
			/* reset with a value out: renew takes a new snapshot, the value keeps its
			 * own */
			cr_assert_eq(lrd_txn_reset(r), LRD_OK);
			cr_assert_eq(lrd_txn_renew(r), LRD_OK, "%s", lrd_errmsg());
			lrd_value *again;
			cr_assert_eq(lrd_store_get(st, r, "k", &again), LRD_OK);
			cr_expect(same_bytes(again, v));
			lrd_value_free(again);
			lrd_txn_abort(r);
		}
	}
	churn(st, "k", 300);
	for (int end = 0; end < 3; end++) {
		cr_expect(same_bytes(m[end], v), "value %d changed under it", end);
		lrd_value_free(m[end]);
	}
	lrd_value *now;
	cr_assert_eq(lrd_store_get(st, NULL, "k", &now), LRD_OK);
	cr_expect(!same_bytes(now, v), "the store holds the rewritten data");
	lrd_value_free(now);
	lrd_value_free(v);
}

/* The same while another process rewrites the key. */
Test(snap, a_mapped_value_stays_while_another_process_rewrites_the_key, .timeout = 120)
{
	lrd_value *v = fx_floats(5000), *m;
	cr_assert_eq(lrd_store_put(st, NULL, "k", v, NULL), LRD_OK);
	cr_assert_eq(lrd_store_get_opts(st, NULL, "k", &m, &mmap_opts), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_array_bufkind(m), LRD_BUF_MAPPED);
	pid_t pid = fork();
	if (pid == 0) {
		lrd_store *c;
		lrd_store_options o = {.flags = LRD_STORE_NOSYNC};
		if (lrd_store_open(dir, &o, &c) != LRD_OK)
			_exit(2);
		churn(c, "k", 300);
		lrd_store_close(c);
		_exit(0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	cr_expect(same_bytes(m, v), "the value changed while another process rewrote the key");
	lrd_value_free(m);
	lrd_value *now;
	cr_assert_eq(lrd_store_get(st, NULL, "k", &now), LRD_OK);
	cr_expect(!same_bytes(now, v), "the child's writes are visible");
	lrd_value_free(now);
	lrd_value_free(v);
}

/* An implicit get is zero-copy when asked (lrd_get_options.mmap), copied otherwise; nonzero
 * reserved words are refused. */
Test(snap, an_implicit_get_is_zero_copy_with_mmap)
{
	lrd_value *v = fx_floats(5000), *m, *c;
	cr_assert_eq(lrd_store_put(st, NULL, "k", v, NULL), LRD_OK);
	cr_assert_eq(lrd_store_get(st, NULL, "k", &c), LRD_OK);
	cr_expect_eq(lrd_array_bufkind(c), LRD_BUF_OWNED, "implicit gets copy by default");
	cr_assert_eq(lrd_store_get_opts(st, NULL, "k", &m, &mmap_opts), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_array_bufkind(m), LRD_BUF_MAPPED);
	churn(st, "k", 300);
	cr_expect(same_bytes(m, v) && same_bytes(c, v));
	lrd_value_free(m);
	lrd_value_free(c);
	/* after the value let go, implicit reads go on (the pooled txn took a new snapshot) */
	cr_assert_eq(lrd_store_get_opts(st, NULL, "k", &m, &mmap_opts), LRD_OK);
	cr_expect(!same_bytes(m, v));
	lrd_value_free(m);
	lrd_txn *w;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_WRITE, &w), LRD_OK);
	cr_assert_eq(lrd_store_get_opts(st, w, "k", &m, &mmap_opts), LRD_OK);
	cr_expect_eq(lrd_array_bufkind(m), LRD_BUF_OWNED, "never zero-copy in a write txn");
	lrd_value_free(m);
	lrd_txn_abort(w);
	lrd_get_options bad = {.reserved[3] = 1};
	cr_expect_eq(lrd_store_get_opts(st, NULL, "k", &m, &bad), LRD_EINVAL);
	cr_expect_null(m);
	lrd_value_free(v);
}

/* trust skips the chunk checksums of the whole tree: a damaged chunk is ECHECKSUM without it,
 * and comes back (damaged) with it, zero-copy or copied, raw or compressed. */
Test(snap, trust_skips_chunk_checksums_for_the_whole_tree)
{
	size_t count = 4096;
	uint64_t *data = malloc(count * 8);
	for (size_t i = 0; i < count; i++)
		data[i] = 0x1122334455667788ull ^ (i * 0x9e3779b97f4a7c15ull);
	lrd_dtype dt;
	lrd_dtype_parse("<u8", &dt);
	lrd_value *one, *many, *tree;
	lrd_array_wrap(dt, 1, (uint64_t[]){count}, LRD_ORDER_C, data, count * 8, &one);
	lrd_array_wrap(dt, 1, (uint64_t[]){count}, LRD_ORDER_C, data, count * 8, &many);
	lrd_value_new_map(&tree);
	lrd_map_set(tree, "one", one);   /* one raw chunk: zero-copy in a read txn */
	lrd_map_set(tree, "many", many); /* four chunks: always copied */
	lrd_put_options po1 = {0}, po4 = {.chunk_size = 8192};
	cr_assert_eq(lrd_store_put(st, NULL, "one", one, &po1), LRD_OK);
	cr_assert_eq(lrd_store_put(st, NULL, "many", many, &po4), LRD_OK);
	lrd_store_close(st);
	st = NULL;
	char *file = tc_path(dir, "data.mdb");
	/* the same bytes are in both arrays: damage both copies */
	cr_assert_eq(fx_corrupt_file(file, data + 2048 + 100, 64), 0);
	cr_assert_eq(fx_corrupt_file(file, data + 2048 + 100, 64), 0);
	free(file);
	open_at(0);
	const lrd_get_options trust = {.trust = true}, trust_mmap = {.trust = true, .mmap = true};
	lrd_txn *r;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	const char *keys[] = {"one", "many"};
	for (int k = 0; k < 2; k++) {
		lrd_value *got;
		cr_expect_eq(lrd_store_get(st, NULL, keys[k], &got), LRD_ECHECKSUM, "%s", keys[k]);
		cr_expect_eq(lrd_store_get(st, r, keys[k], &got), LRD_ECHECKSUM, "%s", keys[k]);
		cr_expect_eq(lrd_store_get_opts(st, NULL, keys[k], &got, &mmap_opts),
		             LRD_ECHECKSUM);
		const lrd_get_options *with[] = {&trust, &trust_mmap};
		for (int o = 0; o < 2; o++) {
			for (int t = 0; t < 2; t++) {
				int rc =
				    lrd_store_get_opts(st, t ? r : NULL, keys[k], &got, with[o]);
				cr_assert_eq(rc, LRD_OK, "%s: %s", keys[k], lrd_errmsg());
				cr_expect_eq(lrd_array_nbytes(got), count * 8);
				cr_expect(memcmp(lrd_array_cdata(got), data, count * 8) != 0,
				          "the damage is there, unchecked");
				lrd_value_free(got);
			}
		}
	}
	lrd_txn_abort(r);
	lrd_value_free(tree);
	free(data);
}

struct holder_arg {
	int rounds;
	int bad;
};

/* Each round: an implicit zero-copy get, a few more reads while holding it, then a check that
 * the held bytes are still a consistent version (all elements from one write). */
static void *mapped_reader(void *p)
{
	struct holder_arg *a = p;
	for (int i = 0; i < a->rounds; i++) {
		lrd_value *m;
		if (lrd_store_get_opts(st, NULL, "k", &m, &mmap_opts) != LRD_OK) {
			a->bad++;
			continue;
		}
		for (int j = 0; j < 3; j++)
			if (lrd_store_exists(st, NULL, "k") != 1)
				a->bad++;
		const double *d = lrd_array_cdata(m);
		size_t n = lrd_array_nbytes(m) / 8;
		for (size_t j = 1; j < n; j++)
			if (d[j] != d[0] - (double)j) {
				a->bad++;
				break;
			}
		lrd_value_free(m);
	}
	return NULL;
}

/* Threads hold zero-copy values from implicit reads while this one rewrites the key: every
 * value they hold stays one consistent version. */
Test(snap, threads_hold_zero_copy_values_from_implicit_reads_during_rewrites, .timeout = 120)
{
	churn(st, "k", 1);
	pthread_t th[3];
	struct holder_arg args[3];
	for (int i = 0; i < 3; i++) {
		args[i] = (struct holder_arg){.rounds = 300};
		cr_assert_eq(pthread_create(&th[i], NULL, mapped_reader, &args[i]), 0);
	}
	churn(st, "k", 200);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(args[i].bad, 0, "thread %d: %d bad reads", i, args[i].bad);
	}
}

/* A zero-copy value counts as an open transaction: the map cannot grow while it lives (a put
 * that needs more map fails with LRD_EMAPFULL), and grows when it is freed. */
Test(snap, a_held_mapped_value_holds_map_growth_back_until_freed)
{
	lrd_store_close(st);
	tc_rmtree(dir);
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC, .map_size = 1 << 20};
	cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK);
	lrd_value *small = fx_floats(1000), *big = fx_floats(1 << 18), *m; /* 2 MiB */
	cr_assert_eq(lrd_store_put(st, NULL, "small", small, NULL), LRD_OK);
	cr_assert_eq(lrd_store_get_opts(st, NULL, "small", &m, &mmap_opts), LRD_OK);
	cr_assert_eq(lrd_array_bufkind(m), LRD_BUF_MAPPED);
	cr_expect_eq(lrd_store_put(st, NULL, "big", big, NULL), LRD_EMAPFULL,
	             "the map grew under a live zero-copy value");
	cr_expect(same_bytes(m, small));
	lrd_value_free(m);
	cr_expect_eq(lrd_store_put(st, NULL, "big", big, NULL), LRD_OK, "%s", lrd_errmsg());
	lrd_value_free(small);
	lrd_value_free(big);
}

/* A child of fork() freeing a zero-copy value it inherited must not end the parent's
 * snapshot under the parent's own copy of that value. */
Test(snap, a_child_freeing_an_inherited_mapped_value_leaves_the_parents_snapshot)
{
	lrd_value *v = fx_floats(5000), *m;
	cr_assert_eq(lrd_store_put(st, NULL, "k", v, NULL), LRD_OK);
	cr_assert_eq(lrd_store_get_opts(st, NULL, "k", &m, &mmap_opts), LRD_OK);
	pid_t pid = fork();
	if (pid == 0) {
		lrd_value_free(m);
		lrd_store_close(st);
		_exit(0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	churn(st, "k", 300);
	cr_expect(same_bytes(m, v), "the parent's zero-copy data changed under it");
	lrd_value_free(m);
	lrd_value_free(v);
}

/* A zero-copy value may outlive its store handle: the map stays until the value is freed
 * (before: lrd_store_close unmapped it under the value). */
Test(snap, a_mapped_value_outlives_lrd_store_close)
{
	lrd_value *v = fx_floats(5000), *m, *n;
	cr_assert_eq(lrd_store_put(st, NULL, "k", v, NULL), LRD_OK);
	cr_assert_eq(lrd_store_get_opts(st, NULL, "k", &m, &mmap_opts), LRD_OK);
	lrd_txn *r;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	cr_assert_eq(lrd_store_get(st, r, "k", &n), LRD_OK);
	lrd_txn_abort(r);
	cr_assert_eq(lrd_array_bufkind(m), LRD_BUF_MAPPED);
	cr_assert_eq(lrd_array_bufkind(n), LRD_BUF_MAPPED);
	lrd_store_close(st);
	st = NULL;
	cr_expect(same_bytes(m, v), "the data went with the handle");
	lrd_value_free(m);
	cr_expect(same_bytes(n, v));
	lrd_value_free(n); /* the last one: closes the environment */
	open_at(0);
	cr_expect_eq(lrd_store_exists(st, NULL, "k"), 1, "the store reopens");
	lrd_value_free(v);
}
