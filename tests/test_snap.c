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
