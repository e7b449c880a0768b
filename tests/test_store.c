/* store: the LMDB store — open, objects, transactions, namespaces, array streams, map growth,
 * damage detection, processes and threads. */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/testhook.h"
#include "tests/common/store_fixture.h"

static char *dir;
static lrd_store *st;

static void setup(void)
{
	dir = tc_tmpdir();
	cr_assert(dir);
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC};
	cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK, "%s", lrd_errmsg());
}

static void teardown(void)
{
	lrd_store_close(st);
	st = NULL;
	tc_rmtree(dir);
	free(dir);
}

static lrd_value *sample_tree(void)
{
	lrd_value *m, *x;
	lrd_value_new_map(&m);
	lrd_value_new_int(42, &x);
	lrd_map_set(m, "answer", x);
	lrd_value_new_str("héllo", SIZE_MAX, &x);
	lrd_map_set(m, "greeting", x);
	lrd_map_set(m, "weights", fx_floats(1000));
	lrd_value *l;
	lrd_value_new_list(&l);
	lrd_list_append(l, fx_floats(3));
	lrd_value_new_nil(&x);
	lrd_list_append(l, x);
	lrd_map_set(m, "list", l);
	return m;
}

// cppcheck-suppress unknownMacro
TestSuite(store, .init = setup, .fini = teardown);

Test(store, put_get_round_trip_of_a_tree_with_arrays)
{
	lrd_value *v = sample_tree(), *back;
	cr_assert_eq(lrd_store_put(st, NULL, "tree", v, NULL), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_store_get(st, NULL, "tree", &back), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(v, back));
	cr_expect_eq(lrd_array_bufkind(lrd_map_get(back, "weights")), LRD_BUF_OWNED);
	lrd_object_info info;
	cr_assert_eq(lrd_store_info(st, NULL, "tree", &info), LRD_OK);
	cr_expect_eq(info.kind, LRD_KIND_MAP);
	cr_expect_eq(info.arrays, 2);
	cr_expect_gt(info.raw_bytes, 8000);
	lrd_value_free(v);
	lrd_value_free(back);
}

Test(store, every_chunk_codec_round_trips_a_multi_chunk_array)
{
	const char *codecs[] = {"raw", "lz4", "zlib", "blosc", "zstd"};
	lrd_value *v = fx_floats(50000);
	for (size_t i = 0; i < sizeof codecs / sizeof *codecs; i++) {
		if (strcmp(codecs[i], "raw"))
			cr_assert(lrd_codec_by_name(codecs[i]), "codec %s missing", codecs[i]);
		lrd_put_options po = {.codec = codecs[i], .chunk_size = 65536};
		cr_assert_eq(lrd_store_put(st, NULL, codecs[i], v, &po), LRD_OK, "%s: %s",
		             codecs[i], lrd_errmsg());
		lrd_value *back;
		cr_assert_eq(lrd_store_get(st, NULL, codecs[i], &back), LRD_OK, "%s", lrd_errmsg());
		cr_expect(lrd_value_equal(v, back), "%s", codecs[i]);
		lrd_value_free(back);
	}
	lrd_store_stat s;
	cr_assert_eq(lrd_store_stat_get(st, NULL, &s), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(s.objects, 5);
	cr_expect_eq(s.chunks, 5 * 7);
	cr_expect_geq(s.ncodecs, 2);
	cr_expect_eq(s.codecs[0].id, LRD_CODEC_ID_RAW);
	cr_expect_eq(lrd_store_verify(st, NULL, NULL, NULL), LRD_OK, "%s", lrd_errmsg());
	lrd_value_free(v);
}

Test(store, scalars_strings_and_empty_arrays_round_trip)
{
	lrd_value *v;
	lrd_value_new_bytes("\0\1\2", 3, &v);
	cr_assert_eq(lrd_store_put(st, NULL, "b", v, NULL), LRD_OK);
	lrd_value *e;
	lrd_dtype dt;
	lrd_dtype_parse("<i4", &dt);
	uint64_t shape[2] = {0, 5};
	lrd_array_new(dt, 2, shape, LRD_ORDER_F, &e);
	cr_assert_eq(lrd_store_put(st, NULL, "empty", e, NULL), LRD_OK, "%s", lrd_errmsg());
	lrd_value *b1, *b2;
	cr_assert_eq(lrd_store_get(st, NULL, "b", &b1), LRD_OK);
	cr_assert_eq(lrd_store_get(st, NULL, "empty", &b2), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(v, b1));
	cr_expect(lrd_value_equal(e, b2));
	lrd_value_free(v), lrd_value_free(e), lrd_value_free(b1), lrd_value_free(b2);
}

Test(store, keys_are_checked_and_the_limit_is_stated)
{
	lrd_value *v;
	lrd_value_new_int(1, &v);
	char key[600];
	memset(key, 'k', sizeof key);
	key[LRD_STORE_MAX_KEY] = 0;
	cr_expect_eq(lrd_store_put(st, NULL, key, v, NULL), LRD_OK, "%s", lrd_errmsg());
	key[LRD_STORE_MAX_KEY] = 'k';
	key[LRD_STORE_MAX_KEY + 1] = 0;
	cr_expect_eq(lrd_store_put(st, NULL, key, v, NULL), LRD_EINVAL);
	cr_expect(strstr(lrd_errmsg(), "511"), "%s", lrd_errmsg());
	cr_expect_eq(lrd_store_put(st, NULL, "", v, NULL), LRD_EINVAL);
	cr_expect_eq(lrd_store_put(st, NULL, "bad\xff", v, NULL), LRD_EINVAL);
	cr_expect(strstr(lrd_errmsg(), "UTF-8"));
	cr_expect_eq(lrd_store_put(st, NULL, "κλειδί/ключ", v, NULL), LRD_OK);
	lrd_value_free(v);
}

Test(store, get_missing_delete_and_exists)
{
	lrd_value *v, *out = (lrd_value *)1;
	cr_expect_eq(lrd_store_get(st, NULL, "nope", &out), LRD_ENOTFOUND);
	cr_expect_null(out);
	cr_expect_eq(lrd_store_exists(st, NULL, "a"), 0);
	v = fx_floats(10);
	cr_assert_eq(lrd_store_put(st, NULL, "a", v, NULL), LRD_OK);
	cr_expect_eq(lrd_store_exists(st, NULL, "a"), 1);
	cr_expect_eq(lrd_store_del(st, NULL, "a"), LRD_OK);
	cr_expect_eq(lrd_store_exists(st, NULL, "a"), 0);
	cr_expect_eq(lrd_store_del(st, NULL, "a"), LRD_ENOTFOUND);
	lrd_store_stat s;
	lrd_store_stat_get(st, NULL, &s);
	cr_expect_eq(s.chunks, 0, "the deleted object's chunks are gone");
	lrd_put_options no = {.flags = LRD_PUT_NOOVERWRITE};
	cr_expect_eq(lrd_store_put(st, NULL, "a", v, &no), LRD_OK);
	cr_expect_eq(lrd_store_put(st, NULL, "a", v, &no), LRD_EEXIST);
	lrd_value_free(v);
}

Test(store, overwrite_replaces_and_drops_old_chunks)
{
	lrd_put_options po = {.chunk_size = 4096};
	lrd_value *a = fx_floats(5000), *b = fx_floats(10), *back;
	cr_assert_eq(lrd_store_put(st, NULL, "k", a, &po), LRD_OK);
	lrd_store_stat s;
	lrd_store_stat_get(st, NULL, &s);
	cr_expect_eq(s.chunks, 10);
	lrd_txn *r;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	cr_assert_eq(lrd_store_put(st, NULL, "k", b, &po), LRD_OK);
	lrd_store_stat_get(st, NULL, &s);
	cr_expect_eq(s.chunks, 1);
	cr_expect_eq(s.objects, 1);
	cr_assert_eq(lrd_store_get(st, r, "k", &back), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(back, a), "an older snapshot still sees the old object whole");
	lrd_value_free(back);
	lrd_txn_abort(r);
	cr_assert_eq(lrd_store_get(st, NULL, "k", &back), LRD_OK);
	cr_expect(lrd_value_equal(back, b));
	lrd_value_free(back), lrd_value_free(a), lrd_value_free(b);
}

Test(store, explicit_txn_is_all_or_nothing_and_readers_keep_their_snapshot)
{
	lrd_txn *w, *r;
	lrd_value *v;
	lrd_value_new_int(7, &v);
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_WRITE, &w), LRD_OK);
	char key[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "batch/%04d", i);
		cr_assert_eq(lrd_store_put(st, w, key, v, NULL), LRD_OK);
	}
	cr_expect_eq(lrd_store_exists(st, w, "batch/0999"), 1, "a txn sees its own writes");
	cr_expect_eq(lrd_store_exists(st, r, "batch/0000"), 0,
	             "readers don't see uncommitted data");
	cr_expect_eq(lrd_store_put(st, NULL, "x", v, NULL), LRD_EBUSY,
	             "a second write on the same thread is refused, not a deadlock");
	lrd_txn_abort(w);
	cr_expect_eq(lrd_store_exists(st, NULL, "batch/0000"), 0);

	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_WRITE, &w), LRD_OK);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "batch/%04d", i);
		cr_assert_eq(lrd_store_put(st, w, key, v, NULL), LRD_OK);
	}
	cr_assert_eq(lrd_txn_commit(w), LRD_OK);
	cr_expect_eq(lrd_store_exists(st, r, "batch/0000"), 0, "an old snapshot stays old");
	lrd_txn_abort(r);
	cr_expect_eq(lrd_store_exists(st, NULL, "batch/0999"), 1);
	cr_expect_eq(lrd_store_put(st, r == NULL ? NULL : NULL, "y", v, NULL), LRD_OK);
	lrd_value_free(v);
}

Test(store, write_calls_refuse_a_read_txn)
{
	lrd_txn *r;
	lrd_value *v;
	lrd_value_new_int(7, &v);
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	cr_expect_eq(lrd_store_put(st, r, "k", v, NULL), LRD_EINVAL);
	cr_expect_eq(lrd_txn_commit(r), LRD_OK);
	lrd_value_free(v);
}

Test(store, list_by_prefix_in_key_order)
{
	const char *keys[] = {"a/2", "b/1", "a/1", "a/10", "ab", "a"};
	lrd_value *v;
	lrd_value_new_nil(&v);
	for (size_t i = 0; i < 6; i++)
		cr_assert_eq(lrd_store_put(st, NULL, keys[i], v, NULL), LRD_OK);
	lrd_store_iter *it;
	cr_assert_eq(lrd_store_iter_new(st, NULL, "a/", &it), LRD_OK);
	const char *want[] = {"a/1", "a/10", "a/2"}, *k;
	size_t n, i = 0;
	int rc;
	while ((rc = lrd_store_iter_next(it, &k, &n, NULL)) == LRD_OK) {
		cr_assert_lt(i, 3);
		cr_expect_str_eq(k, want[i++]);
		cr_expect_eq(n, strlen(k));
	}
	cr_expect_eq(rc, LRD_ENOTFOUND);
	cr_expect_eq(i, 3);
	lrd_store_iter_free(it);
	cr_assert_eq(lrd_store_iter_new(st, NULL, NULL, &it), LRD_OK);
	for (i = 0; lrd_store_iter_next(it, &k, &n, NULL) == LRD_OK; i++)
		;
	cr_expect_eq(i, 6);
	lrd_store_iter_free(it);
	lrd_value_free(v);
}

Test(store, namespaces_put_get_iterate_and_stay_apart_from_objects)
{
	lrd_txn *r;
	cr_assert_eq(lrd_store_kv_put(st, NULL, "memo.index", "k1", 2, "v1", 2, 0), LRD_OK);
	cr_assert_eq(lrd_store_kv_put(st, NULL, "memo.index", "k2", 2, "value2", 6, 0), LRD_OK);
	cr_assert_eq(lrd_store_kv_put(st, NULL, "memo.indexx", "k3", 2, "x", 1, 0), LRD_OK);
	cr_expect_eq(lrd_store_kv_put(st, NULL, "memo.index", "k1", 2, "z", 1, LRD_KV_NOOVERWRITE),
	             LRD_EEXIST);
	cr_expect_eq(lrd_store_exists(st, NULL, "k1"), 0);
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	lrd_buf b;
	cr_assert_eq(lrd_store_kv_get(r, "memo.index", "k2", 2, &b), LRD_OK);
	cr_expect_eq(b.size, 6);
	cr_expect(!memcmp(b.data, "value2", 6));
	cr_expect_eq(lrd_store_kv_get(r, "memo.index", "k3", 2, &b), LRD_ENOTFOUND);
	lrd_store_iter *it;
	cr_assert_eq(lrd_store_kv_iter_new(st, r, "memo.index", NULL, 0, &it), LRD_OK);
	const char *k;
	size_t n, count = 0;
	while (lrd_store_iter_next(it, &k, &n, &b) == LRD_OK) {
		cr_expect_eq(n, 2);
		cr_expect_eq(k[0], 'k');
		count++;
	}
	cr_expect_eq(count, 2, "another namespace sharing a prefix is not listed");
	lrd_store_iter_free(it);
	lrd_txn_abort(r);
	cr_expect_eq(lrd_store_kv_del(st, NULL, "memo.index", "k1", 2), LRD_OK);
	cr_expect_eq(lrd_store_kv_del(st, NULL, "memo.index", "k1", 2), LRD_ENOTFOUND);
	char longkey[LRD_STORE_MAX_KEY];
	memset(longkey, 'x', sizeof longkey);
	cr_expect_eq(lrd_store_kv_put(st, NULL, "ns", longkey, sizeof longkey, "v", 1, 0),
	             LRD_EINVAL);
	cr_expect_eq(lrd_store_kv_put(st, NULL, "", "k", 1, "v", 1, 0), LRD_EINVAL);
}

Test(store, compare_and_put_takes_and_releases_a_lock)
{
	lrd_buf mine = {"owner-1", 7}, other = {"owner-2", 7};
	cr_expect_eq(lrd_store_kv_cas(st, NULL, "locks", "job", 3, NULL, &mine, NULL), LRD_OK);
	cr_expect_eq(lrd_store_kv_cas(st, NULL, "locks", "job", 3, NULL, &other, NULL),
	             LRD_ECONFLICT);
	cr_expect_eq(lrd_store_kv_cas(st, NULL, "locks", "job", 3, &other, NULL, NULL),
	             LRD_ECONFLICT);
	cr_expect_eq(lrd_store_kv_cas(st, NULL, "locks", "job", 3, &mine, &other, NULL), LRD_OK);
	cr_expect_eq(lrd_store_kv_cas(st, NULL, "locks", "job", 3, &other, NULL, NULL), LRD_OK);
	cr_expect_eq(lrd_store_kv_cas(st, NULL, "locks", "job", 3, &other, NULL, NULL),
	             LRD_ECONFLICT);
	cr_expect_eq(lrd_store_kv_cas(st, NULL, "locks", "job", 3, NULL, &other, NULL), LRD_OK);
}

Test(store, a_failed_compare_and_put_is_econflict_and_can_return_the_current_value)
{
	lrd_buf mine = {"owner-1", 7}, other = {"owner-22", 8}, cur = {(void *)1, 99};
	cr_assert_eq(lrd_store_kv_cas(st, NULL, "locks", "job", 3, NULL, &other, &cur), LRD_OK);
	cr_expect_null(cur.data, "nothing returned on success");
	cr_expect_eq(cur.size, 0);
	cr_expect_eq(lrd_store_kv_cas(st, NULL, "locks", "job", 3, NULL, &mine, &cur),
	             LRD_ECONFLICT);
	cr_assert_eq(cur.size, 8);
	cr_expect_eq(memcmp(cur.data, "owner-22", 8), 0, "the holder is named");
	cr_expect(strstr(lrd_errmsg(), "exists"), "%s", lrd_errmsg());
	lrd_free(cur.data);
	/* absent key against an expected value: current is {NULL, 0} */
	cr_expect_eq(lrd_store_kv_cas(st, NULL, "locks", "other", 5, &mine, NULL, &cur),
	             LRD_ECONFLICT);
	cr_expect_null(cur.data);
	cr_expect_eq(cur.size, 0);
	/* in an explicit txn: the conflict leaves the txn usable and committable */
	lrd_txn *t;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_WRITE, &t), LRD_OK);
	cr_expect_eq(lrd_store_kv_cas(st, t, "locks", "job", 3, &mine, NULL, &cur), LRD_ECONFLICT);
	cr_expect_eq(cur.size, 8);
	lrd_free(cur.data);
	cr_expect_eq(lrd_store_kv_cas(st, t, "locks", "job", 3, &other, &mine, NULL), LRD_OK);
	cr_expect_eq(lrd_txn_commit(t), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_store_kv_cas(st, NULL, "locks", "job", 3, &mine, NULL, NULL), LRD_OK);
}

Test(store, not_found_never_shows_an_earlier_errors_message)
{
	lrd_value *v;
	/* leave an unrelated failure's text behind, then get expected misses */
	cr_expect_eq(lrd_store_get(st, NULL, "", &v), LRD_EINVAL);
	cr_expect_neq(strcmp(lrd_errmsg(), lrd_strerror(LRD_ENOTFOUND)), 0);
	lrd_txn *t;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &t), LRD_OK);
	lrd_buf b;
	cr_expect_eq(lrd_store_kv_get(t, "ns", "k", 1, &b), LRD_ENOTFOUND);
	cr_expect_str_eq(lrd_errmsg(), lrd_strerror(LRD_ENOTFOUND));
	cr_expect_eq(lrd_store_get(st, NULL, "", &v), LRD_EINVAL);
	cr_expect_eq(lrd_store_get(st, t, "missing", &v), LRD_ENOTFOUND);
	cr_expect_str_eq(lrd_errmsg(), lrd_strerror(LRD_ENOTFOUND));
	lrd_store_iter *it;
	cr_assert_eq(lrd_store_iter_new(st, t, NULL, &it), LRD_OK);
	cr_expect_eq(lrd_store_get(st, NULL, "", &v), LRD_EINVAL);
	const char *k;
	size_t kl;
	cr_expect_eq(lrd_store_iter_next(it, &k, &kl, NULL), LRD_ENOTFOUND);
	cr_expect_str_eq(lrd_errmsg(), lrd_strerror(LRD_ENOTFOUND));
	lrd_store_iter_free(it);
	/* a later detailed failure replaces it, with its own text */
	cr_expect_eq(lrd_store_get(st, NULL, "", &v), LRD_EINVAL);
	cr_expect_neq(strcmp(lrd_errmsg(), lrd_strerror(LRD_ENOTFOUND)), 0);
	lrd_txn_abort(t);
}

Test(store, a_damaged_object_record_is_reported_replaced_and_deleted)
{
	static const char marker[] = "a-distinctive-marker-string-in-the-tree";
	lrd_value *m, *x;
	lrd_value_new_map(&m);
	lrd_value_new_str(marker, SIZE_MAX, &x);
	lrd_map_set(m, "s", x);
	lrd_map_set(m, "a", fx_floats(100));
	cr_assert_eq(lrd_store_put(st, NULL, "k", m, NULL), LRD_OK);
	lrd_store_close(st);
	st = NULL;
	char *file = tc_path(dir, "data.mdb");
	cr_assert_eq(fx_corrupt_file(file, marker, sizeof marker - 1), 0);
	cr_assert_eq(lrd_store_open(dir, NULL, &st), LRD_OK);
	lrd_value *back;
	cr_expect_eq(lrd_store_get(st, NULL, "k", &back), LRD_ECHECKSUM);
	cr_expect_eq(lrd_store_exists(st, NULL, "k"), LRD_ECHECKSUM, "exists says it is damaged");
	cr_expect(strstr(lrd_errmsg(), "'k'"), "%s", lrd_errmsg());
	/* replace it */
	cr_expect_eq(lrd_store_put(st, NULL, "k", m, NULL), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_store_exists(st, NULL, "k"), 1);
	cr_assert_eq(lrd_store_get(st, NULL, "k", &back), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(back, m));
	lrd_value_free(back);
	lrd_verify_report rep;
	(void)lrd_store_verify(st, NULL, NULL, &rep);
	cr_expect_eq(rep.orphan_chunks, 1, "the damaged record's chunk is an orphan");
	/* damage it again, then delete it */
	lrd_store_close(st);
	st = NULL;
	cr_assert_eq(fx_corrupt_file(file, marker, sizeof marker - 1), 0);
	free(file);
	cr_assert_eq(lrd_store_open(dir, NULL, &st), LRD_OK);
	cr_expect_eq(lrd_store_exists(st, NULL, "k"), LRD_ECHECKSUM);
	cr_expect_eq(lrd_store_del(st, NULL, "k"), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_store_exists(st, NULL, "k"), 0);
	cr_expect_eq(lrd_store_del(st, NULL, "k"), LRD_ENOTFOUND);
	lrd_value_free(m);
}

/* ---- array streaming ----------------------------------------------------------------------- */

static void stream_in(const char *key, const uint8_t *data, size_t nbytes, uint64_t count,
                      const lrd_put_options *po)
{
	lrd_dtype dt;
	lrd_dtype_parse("<f8", &dt);
	lrd_store_writer *w;
	cr_assert_eq(lrd_store_writer_new(st, NULL, key, dt, 1, &count, LRD_ORDER_C, po, &w),
	             LRD_OK, "%s", lrd_errmsg());
	for (size_t off = 0; off < nbytes;) {
		size_t n = (size_t)(tc_rand() % 20000);
		if (n > nbytes - off)
			n = nbytes - off;
		cr_assert_eq(lrd_store_writer_write(w, data + off, n), LRD_OK, "%s", lrd_errmsg());
		off += n;
	}
	cr_expect_eq(lrd_store_writer_write(w, data, 1), LRD_EINVAL, "no byte past the end");
	lrd_store_writer_free(w);
	cr_assert_eq(lrd_store_writer_new(st, NULL, key, dt, 1, &count, LRD_ORDER_C, po, &w),
	             LRD_OK, "%s", lrd_errmsg());
	for (size_t off = 0; off < nbytes;) {
		size_t n = (size_t)(tc_rand() % 20000);
		if (n > nbytes - off)
			n = nbytes - off;
		cr_assert_eq(lrd_store_writer_write(w, data + off, n), LRD_OK, "%s", lrd_errmsg());
		off += n;
	}
	cr_assert_eq(lrd_store_writer_finish(w), LRD_OK, "%s", lrd_errmsg());
	lrd_store_writer_free(w);
}

static void stream_out_and_check(const char *key, const uint8_t *data, size_t nbytes,
                                 bool expect_zero_copy)
{
	lrd_txn *r;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	lrd_store_reader *rd;
	cr_assert_eq(lrd_store_reader_new(st, r, key, &rd), LRD_OK, "%s", lrd_errmsg());
	uint64_t nb;
	lrd_dtype dt;
	cr_assert_eq(lrd_store_reader_describe(rd, &dt, NULL, NULL, NULL, &nb), LRD_OK);
	cr_assert_eq(nb, nbytes);
	const void *p;
	size_t n, off = 0;
	while (lrd_store_reader_next(rd, &p, &n) == LRD_OK && n > 0) {
		cr_assert_leq(off + n, nbytes);
		cr_assert(!memcmp(p, data + off, n), "chunk at %zu", off);
		if (expect_zero_copy)
			cr_expect(p < (const void *)data || p >= (const void *)(data + nbytes));
		off += n;
	}
	cr_expect_eq(off, nbytes);
	uint8_t *dst = malloc(nbytes);
	for (int i = 0; i < 50; i++) {
		uint64_t a = tc_rand() % nbytes, len = tc_rand() % (nbytes - a + 1);
		cr_assert_eq(lrd_store_reader_read_range(rd, a, dst, (size_t)len), LRD_OK, "%s",
		             lrd_errmsg());
		cr_assert(!memcmp(dst, data + a, (size_t)len), "range %llu+%llu",
		          (unsigned long long)a, (unsigned long long)len);
	}
	cr_expect_eq(lrd_store_reader_read_range(rd, nbytes, dst, 1), LRD_EINVAL);
	free(dst);
	lrd_store_reader_free(rd);
	lrd_txn_abort(r);
}

Test(store, array_writer_cuts_chunks_and_reader_streams_them_back)
{
	size_t count = 300000, nbytes = count * 8;
	double *data = malloc(nbytes);
	tc_fill_floats(data, count);
	lrd_put_options raw = {.codec = "raw", .chunk_size = 100000};
	lrd_put_options lz = {.codec = "lz4", .chunk_size = 100000};
	lrd_put_options bl = {.codec = "blosc", .params = {.threads = 2}, .chunk_size = 1 << 20};
	stream_in("raw", (uint8_t *)data, nbytes, count, &raw);
	stream_in("lz4", (uint8_t *)data, nbytes, count, &lz);
	stream_in("blosc", (uint8_t *)data, nbytes, count, &bl);
	stream_out_and_check("raw", (uint8_t *)data, nbytes, true);
	stream_out_and_check("lz4", (uint8_t *)data, nbytes, false);
	stream_out_and_check("blosc", (uint8_t *)data, nbytes, false);
	lrd_value *v;
	cr_assert_eq(lrd_store_get(st, NULL, "blosc", &v), LRD_OK, "%s", lrd_errmsg());
	cr_expect(!memcmp(lrd_array_cdata(v), data, nbytes));
	lrd_value_free(v);
	lrd_object_info info;
	lrd_store_info(st, NULL, "raw", &info);
	cr_expect_eq(info.chunks, 24);
	cr_expect_eq(lrd_store_verify(st, NULL, NULL, NULL), LRD_OK, "%s", lrd_errmsg());
	free(data);
}

Test(store, writemap_store_streams_arrays_in_and_out)
{
	lrd_store_close(st);
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC | LRD_STORE_WRITEMAP};
	cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK, "%s", lrd_errmsg());
	size_t count = 1 << 20, nbytes = count * 8;
	double *data = malloc(nbytes);
	tc_fill_floats(data, count);
	lrd_put_options raw = {.codec = "raw", .chunk_size = 3 << 20};
	stream_in("wm", (uint8_t *)data, nbytes, count, &raw);
	stream_out_and_check("wm", (uint8_t *)data, nbytes, true);
	cr_expect_eq(lrd_store_verify(st, NULL, NULL, NULL), LRD_OK, "%s", lrd_errmsg());
	/* a later open without the flag follows the store: writers never mix the two modes */
	lrd_store_close(st);
	lrd_store_options plain = {.flags = LRD_STORE_NOSYNC};
	cr_assert_eq(lrd_store_open(dir, &plain, &st), LRD_OK, "%s", lrd_errmsg());
	stream_in("wm2", (uint8_t *)data, nbytes, count, &raw);
	stream_out_and_check("wm", (uint8_t *)data, nbytes, true);
	stream_out_and_check("wm2", (uint8_t *)data, nbytes, true);
	free(data);
}

/* LRD_PUT_MAPPABLE: a raw array larger than the chunk size is still one chunk, got zero-copy;
 * without it the same array is several chunks and comes back copied; compressed: chunked. */
/* A store opened twice in one process is one LMDB environment: a second environment would
 * reset the first one's reader table (at open) or drop its locks (at close), and another
 * process would then clear this one's reader slot and rewrite pages it still reads. Here a
 * mapped value must survive a second open and close and 200 rewrites by another process. */
Test(store, a_store_opened_twice_in_one_process_is_one_environment)
{
	lrd_value *v = fx_floats((size_t)1 << 17), *mapped; /* 1 MiB, one chunk */
	cr_assert_eq(lrd_store_put(st, NULL, "k", v, NULL), LRD_OK, "%s", lrd_errmsg());
	lrd_get_options go = {.mmap = true};
	cr_assert_eq(lrd_store_get_opts(st, NULL, "k", &mapped, &go), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_array_bufkind(mapped), LRD_BUF_MAPPED);
	lrd_store *again, *third, *ro;
	cr_assert_eq(lrd_store_open(dir, NULL, &again), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(again, st, "the same handle");
	lrd_store_options ro_o = {.flags = LRD_STORE_RDONLY};
	cr_expect_eq(lrd_store_open(dir, &ro_o, &ro), LRD_EBUSY);
	cr_expect_null(ro);
	lrd_store_options other = {.codec = "lz4"};
	cr_expect_eq(lrd_store_open(dir, &other, &third), LRD_EBUSY);
	cr_expect(strstr(lrd_errmsg(), dir) && strstr(lrd_errmsg(), "default codec"), "%s",
	          lrd_errmsg());
	cr_expect_null(third);
	lrd_store_close(again); /* st stays open */
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		lrd_store *c;
		if (lrd_store_open(dir, NULL, &c))
			_exit(2);
		for (int i = 0; i < 200; i++) {
			lrd_value *b = fx_floats((size_t)1 << 17);
			if (lrd_store_put(c, NULL, "k", b, NULL))
				_exit(3);
			lrd_value_free(b);
		}
		lrd_store_close(c);
		_exit(0);
	}
	int wst;
	cr_assert_eq(waitpid(pid, &wst, 0), pid);
	cr_assert(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "child status %d", wst);
	cr_expect(lrd_value_equal(v, mapped), "the mapped value changed under the parent");
	lrd_value_free(mapped);
	lrd_value_free(v);
	/* still usable after the shared closes */
	lrd_value *back;
	cr_expect_eq(lrd_store_get(st, NULL, "k", &back), LRD_OK, "%s", lrd_errmsg());
	lrd_value_free(back);
}

Test(store, a_mappable_put_keeps_a_raw_array_in_one_chunk_for_zero_copy_gets)
{
	lrd_value *v = fx_floats((size_t)1 << 20), *back; /* 8 MiB, the default chunk is 4 MiB */
	lrd_put_options one = {.flags = LRD_PUT_MAPPABLE};
	lrd_put_options lz = {.codec = "lz4", .flags = LRD_PUT_MAPPABLE};
	cr_assert_eq(lrd_store_put(st, NULL, "one", v, &one), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_store_put(st, NULL, "many", v, NULL), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_store_put(st, NULL, "lz", v, &lz), LRD_OK, "%s", lrd_errmsg());
	lrd_object_info oi;
	cr_assert_eq(lrd_store_info(st, NULL, "one", &oi), LRD_OK);
	cr_expect_eq(oi.chunks, 1);
	cr_assert_eq(lrd_store_info(st, NULL, "many", &oi), LRD_OK);
	cr_expect_eq(oi.chunks, 2);
	cr_assert_eq(lrd_store_info(st, NULL, "lz", &oi), LRD_OK);
	cr_expect_eq(oi.chunks, 2);
	lrd_get_options go = {.mmap = true};
	cr_assert_eq(lrd_store_get_opts(st, NULL, "one", &back, &go), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_array_bufkind(back), LRD_BUF_MAPPED);
	cr_expect(lrd_value_equal(v, back));
	lrd_value_free(back);
	cr_assert_eq(lrd_store_get_opts(st, NULL, "many", &back, &go), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_array_bufkind(back), LRD_BUF_OWNED);
	cr_expect(lrd_value_equal(v, back));
	lrd_value_free(back);
	lrd_value_free(v);
}

Test(store, a_raw_single_chunk_array_is_viewed_and_got_zero_copy)
{
	lrd_value *v = fx_floats(100000), *back;
	cr_assert_eq(lrd_store_put(st, NULL, "big", v, NULL), LRD_OK);
	lrd_txn *r;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	lrd_store_reader *rd;
	cr_assert_eq(lrd_store_reader_new(st, r, "big", &rd), LRD_OK);
	const void *p;
	size_t n;
	cr_assert_eq(lrd_store_reader_view(rd, false, &p, &n), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(n, 800000);
	cr_expect_eq((uintptr_t)p % 64, 0, "data starts 64-byte aligned in the map");
	cr_expect(!memcmp(p, lrd_array_cdata(v), n));
	cr_assert_eq(lrd_store_get(st, r, "big", &back), LRD_OK);
	cr_expect_eq(lrd_array_bufkind(back), LRD_BUF_MAPPED);
	cr_expect_eq(lrd_array_cdata(back), p, "the value's data is the view: no copy");
	cr_expect(lrd_value_equal(v, back));
	lrd_value_free(back);
	lrd_store_reader_free(rd);
	lrd_txn_abort(r);

	lrd_put_options lz = {.codec = "lz4"};
	memset(lrd_array_data(v), 0, 800000); /* compressible, so it is stored compressed */
	cr_assert_eq(lrd_store_put(st, NULL, "big", v, &lz), LRD_OK);
	cr_assert_eq(lrd_store_reader_new(st, NULL, "big", &rd), LRD_OK);
	cr_expect_eq(lrd_store_reader_view(rd, false, &p, &n), LRD_EUNSUPPORTED);
	lrd_store_reader_free(rd);
	lrd_value_free(v);
}

Test(store, reader_of_a_non_array_or_missing_key_fails_clearly)
{
	lrd_value *v;
	lrd_value_new_int(1, &v);
	lrd_store_put(st, NULL, "int", v, NULL);
	lrd_store_reader *rd;
	cr_expect_eq(lrd_store_reader_new(st, NULL, "int", &rd), LRD_EINVAL);
	cr_expect(strstr(lrd_errmsg(), "not an array"));
	cr_expect_eq(lrd_store_reader_new(st, NULL, "none", &rd), LRD_ENOTFOUND);
	lrd_value_free(v);
}

/* ---- map growth and the cap -------------------------------------------------------------- */

Test(store, map_grows_invisibly_for_single_calls_and_explicit_txns_get_emapfull)
{
	lrd_store_close(st);
	tc_rmtree(dir);
	free(dir);
	dir = tc_tmpdir();
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC, .map_size = 1 << 20};
	cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK);
	uint64_t size0, size1;
	lrd_store_map_size(st, &size0, NULL);
	lrd_value *big = fx_floats(1 << 20); /* 8 MiB, known in advance */
	cr_assert_eq(lrd_store_put(st, NULL, "big", big, NULL), LRD_OK, "%s", lrd_errmsg());
	lrd_store_map_size(st, &size1, NULL);
	cr_expect_gt(size1, size0);

	/* many small puts in one explicit txn until the map is full */
	lrd_value *small = fx_floats(1000);
	lrd_txn *w;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_WRITE, &w), LRD_OK);
	int rc = LRD_OK;
	char key[32];
	int i;
	for (i = 0; i < 100000 && rc == LRD_OK; i++) {
		snprintf(key, sizeof key, "s/%06d", i);
		rc = lrd_store_put(st, w, key, small, NULL);
	}
	cr_assert_eq(rc, LRD_EMAPFULL, "%s", lrd_errmsg());
	cr_expect_eq(lrd_store_put(st, w, "after", small, NULL), LRD_EMAPFULL, "poisoned");
	cr_expect_eq(lrd_txn_commit(w), LRD_EMAPFULL);
	cr_expect_eq(lrd_store_exists(st, NULL, "s/000000"), 0, "nothing of it committed");
	/* the next transaction has room for the same work */
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_WRITE, &w), LRD_OK);
	for (int j = 0; j < i; j++) {
		snprintf(key, sizeof key, "s/%06d", j);
		cr_assert_eq(lrd_store_put(st, w, key, small, NULL), LRD_OK, "%d: %s", j,
		             lrd_errmsg());
	}
	cr_assert_eq(lrd_txn_commit(w), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_store_verify(st, NULL, NULL, NULL), LRD_OK, "%s", lrd_errmsg());
	lrd_value_free(big), lrd_value_free(small);
}

Test(store, a_capped_map_gives_emapfull_and_stays_consistent)
{
	lrd_store_close(st);
	tc_rmtree(dir);
	free(dir);
	dir = tc_tmpdir();
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC, .map_size = 1 << 20, .map_max = 4 << 20};
	cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK);
	lrd_value *v = fx_floats(20000);
	int rc = LRD_OK, n = 0;
	char key[32];
	while (rc == LRD_OK && n < 1000) {
		snprintf(key, sizeof key, "k%d", n);
		if ((rc = lrd_store_put(st, NULL, key, v, NULL)) == LRD_OK)
			n++;
	}
	cr_assert_eq(rc, LRD_EMAPFULL, "%s", lrd_errmsg());
	cr_expect_gt(n, 5);
	uint64_t size, max;
	lrd_store_map_size(st, &size, &max);
	cr_expect_eq(size, 4 << 20);
	cr_expect_eq(lrd_store_exists(st, NULL, key), 0, "the failed put left nothing");
	lrd_verify_report rep;
	cr_expect_eq(lrd_store_verify(st, NULL, NULL, &rep), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(rep.objects, (uint64_t)n);
	cr_expect_eq(rep.orphan_chunks, 0);
	cr_expect_eq(lrd_store_del(st, NULL, "k0"), LRD_OK, "deleting still works when full");
	lrd_value_free(v);
}

/* Issue 9 item 3: a reader and an iterator held open across a long write loop. With the
 * default reservation every write succeeds; with a small map the write that finds it full fails
 * at once with LRD_EMAPFULL (it used to wait 10 s for the reader, every time), and the map grows
 * as soon as the reader ends. The timeout only catches a wait regressing. */
Test(store, writes_never_wait_for_a_reader_or_iterator_held_open, .timeout = 60)
{
	lrd_txn *r;
	lrd_store_iter *it;
	lrd_value *first = fx_floats(10);
	cr_assert_eq(lrd_store_put(st, NULL, "first", first, NULL), LRD_OK);
	lrd_value_free(first);
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	cr_assert_eq(lrd_store_iter_new(st, NULL, NULL, &it), LRD_OK);
	lrd_value *v = fx_floats(64 << 10); /* 512 KiB */
	char key[32];
	for (int i = 0; i < 400; i++) { /* 200 MiB, with the reader and the iterator open */
		snprintf(key, sizeof key, "w%04d", i);
		cr_assert_eq(lrd_store_put(st, NULL, key, v, NULL), LRD_OK, "%d: %s", i,
		             lrd_errmsg());
	}
	const char *k;
	size_t kl;
	cr_expect_eq(lrd_store_iter_next(it, &k, &kl, NULL), LRD_OK);
	cr_expect_str_eq(k, "first", "the iterator's snapshot is the old one");
	cr_expect_eq(lrd_store_exists(st, r, "w0000"), 0, "the reader's snapshot is the old one");
	lrd_store_iter_free(it);
	lrd_txn_abort(r);

	/* a small map, full while a reader is open */
	lrd_store_close(st);
	tc_rmtree(dir);
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC, .map_size = 1 << 20};
	cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	cr_assert_eq(lrd_store_iter_new(st, NULL, NULL, &it), LRD_OK);
	int full = 0;
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof key, "s%04d", i);
		int rc = lrd_store_put(st, NULL, key, v, NULL);
		cr_assert(rc == LRD_OK || rc == LRD_EMAPFULL, "%d: %s", i, lrd_errmsg());
		full += rc == LRD_EMAPFULL;
	}
	cr_expect_gt(full, 10, "the map could not grow with the reader open");
	uint64_t before, after;
	lrd_store_map_size(st, &before, NULL);
	lrd_store_iter_free(it);
	lrd_txn_abort(r); /* the last transaction to end grows the map */
	lrd_store_map_size(st, &after, NULL);
	cr_expect_gt(after, before);
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof key, "s%04d", i);
		cr_expect_eq(lrd_store_put(st, NULL, key, v, NULL), LRD_OK, "%d: %s", i,
		             lrd_errmsg());
	}
	lrd_value_free(v);
}

/* Issue 8 item 10: a commit onto a full disk is LRD_ENOSPC naming the store (LMDB itself says
 * EIO after a short write). Needs a 2 MiB tmpfs, so root and permission to mount; skipped with a
 * message otherwise. */
Test(store, a_commit_onto_a_full_disk_is_enospc_naming_the_store)
{
	lrd_store_close(st);
	st = NULL;
	char mnt[4200], sdir[4300], cmd[4400];
	snprintf(mnt, sizeof mnt, "%s/small", dir);
	cr_assert_eq(mkdir(mnt, 0700), 0);
	snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=2m tmpfs '%s' 2>/dev/null", mnt);
	if (system(cmd) != 0)
		cr_skip_test("cannot mount a 2 MiB tmpfs here (needs root and mount rights)");
	snprintf(sdir, sizeof sdir, "%s/S", mnt);
	lrd_store *s;
	int rc = lrd_store_open(sdir, &(lrd_store_options){.flags = LRD_STORE_NOSYNC}, &s);
	lrd_value *v = fx_floats(512 << 10); /* 4 MiB */
	int put = rc ? rc : lrd_store_put(s, NULL, "big", v, NULL);
	char msg[8192];
	snprintf(msg, sizeof msg, "%s", lrd_errmsg());
	lrd_value *small = fx_floats(10);
	int after = rc ? rc : lrd_store_put(s, NULL, "small", small, NULL);
	int exists = rc ? 0 : lrd_store_exists(s, NULL, "big");
	lrd_store_close(s);
	snprintf(cmd, sizeof cmd, "umount '%s'", mnt);
	int um = system(cmd);
	lrd_value_free(v), lrd_value_free(small);
	cr_assert_eq(rc, LRD_OK, "open on the tmpfs");
	cr_expect_eq(um, 0, "umount");
	cr_expect_eq(put, LRD_ENOSPC, "%s: %s", lrd_errname(put), msg);
	cr_expect(strstr(msg, sdir) && strstr(msg, "no space left"), "message: %s", msg);
	cr_expect_eq(exists, 0, "nothing of the failed put is visible");
	cr_expect_eq(after, LRD_OK, "a small put still fits: %s", lrd_errname(after));
}

Test(store, another_process_follows_a_grown_map)
{
	lrd_store_close(st);
	st = NULL;
	int go[2], done[2];
	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(pipe(done), 0);
	pid_t pid = fork();
	if (pid == 0) {
		/* opened small, before the parent grows the map */
		lrd_store_options o = {.flags = LRD_STORE_NOSYNC, .map_size = 1 << 20};
		lrd_store *s;
		char c;
		if (lrd_store_open(dir, &o, &s) || write(done[1], "o", 1) != 1 ||
		    read(go[0], &c, 1) != 1)
			_exit(1);
		lrd_value *v;
		int ok =
		    lrd_store_get(s, NULL, "big", &v) == LRD_OK && lrd_array_nbytes(v) == 64 << 20;
		lrd_value_free(v);
		lrd_value *small = fx_floats(10);
		ok = ok && lrd_store_put(s, NULL, "from-child", small, NULL) == LRD_OK;
		lrd_value_free(small);
		lrd_store_close(s);
		_exit(ok ? 0 : 2);
	}
	char c;
	cr_assert_eq(read(done[0], &c, 1), 1);
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC, .map_size = 1 << 20};
	cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK);
	lrd_value *big = fx_floats(8 << 20); /* 64 MiB: the map must grow */
	cr_assert_eq(lrd_store_put(st, NULL, "big", big, NULL), LRD_OK, "%s", lrd_errmsg());
	lrd_value_free(big);
	cr_assert_eq(write(go[1], "g", 1), 1);
	int status;
	waitpid(pid, &status, 0);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child read the object");
	cr_expect_eq(lrd_store_exists(st, NULL, "from-child"), 1);
}

/* Whether LMDB's reader table of the store at path has a slot of process pid, read through
 * LMDB's own API (which, unlike lrd_store_open, does not clear stale slots). */
struct slot_search {
	pid_t pid;
	bool found;
};

static int find_slot(const char *line, void *ctx)
{
	struct slot_search *q = ctx;
	long pid;
	if (sscanf(line, " %ld", &pid) == 1 && pid == (long)q->pid)
		q->found = true;
	return 0;
}

static bool has_reader_slot(const char *path, pid_t pid)
{
	MDB_env *env;
	struct slot_search q = {pid, false};
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	cr_assert_eq(mdb_env_open(env, path, MDB_RDONLY, 0644), 0);
	mdb_reader_list(env, find_slot, &q);
	mdb_env_close(env);
	return q.found;
}

Test(store, a_killed_readers_slot_is_cleared_on_open)
{
	lrd_store_close(st);
	st = NULL;
	/* A holder keeps the environment open throughout, so that LMDB does not simply reset the
	 * whole reader table when the last process leaves: only mdb_reader_check can clear the
	 * dead reader's slot. */
	int up[2], quit[2];
	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(quit), 0);
	pid_t holder = fork();
	if (holder == 0) {
		lrd_store *s;
		char c;
		if (lrd_store_open(dir, NULL, &s) || write(up[1], "h", 1) != 1)
			_exit(1);
		ssize_t n = read(quit[0], &c, 1);
		lrd_store_close(s);
		_exit(n == 1 ? 0 : 1);
	}
	char c;
	cr_assert_eq(read(up[0], &c, 1), 1);
	pid_t reader = fork();
	if (reader == 0) {
		lrd_store *s;
		lrd_txn *t;
		if (lrd_store_open(dir, NULL, &s) || lrd_txn_begin(s, LRD_TXN_READ, &t) ||
		    write(up[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	cr_assert_eq(read(up[0], &c, 1), 1);
	kill(reader, SIGKILL);
	int status;
	cr_assert_eq(waitpid(reader, &status, 0), reader);
	cr_assert(WIFSIGNALED(status));
	cr_expect(has_reader_slot(dir, reader), "the killed reader's slot is left behind");
	cr_assert_eq(lrd_store_open(dir, NULL, &st), LRD_OK, "%s", lrd_errmsg());
	lrd_store_close(st);
	st = NULL;
	cr_expect(!has_reader_slot(dir, reader), "reopening cleared the stale slot");
	cr_assert_eq(write(quit[1], "q", 1), 1);
	cr_assert_eq(waitpid(holder, &status, 0), holder);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- damage and foreign files ------------------------------------------------------------ */

Test(store, altered_chunk_bytes_give_echecksum_naming_key_and_chunk)
{
	size_t count = 4096;
	uint64_t *data = malloc(count * 8);
	for (size_t i = 0; i < count; i++)
		data[i] = 0x1122334455667788ull ^ (i * 0x9e3779b97f4a7c15ull);
	lrd_dtype dt;
	lrd_dtype_parse("<u8", &dt);
	lrd_value *v;
	lrd_array_wrap(dt, 1, (uint64_t[]){count}, LRD_ORDER_C, data, count * 8, &v);
	lrd_put_options po = {.chunk_size = 8192};
	cr_assert_eq(lrd_store_put(st, NULL, "weights", v, &po), LRD_OK);
	lrd_store_close(st);
	st = NULL;
	char *file = tc_path(dir, "data.mdb");
	cr_assert_eq(fx_corrupt_file(file, data + 2048 + 100, 64), 0);
	free(file);
	cr_assert_eq(lrd_store_open(dir, NULL, &st), LRD_OK);
	lrd_value *back;
	cr_expect_eq(lrd_store_get(st, NULL, "weights", &back), LRD_ECHECKSUM);
	cr_expect(strstr(lrd_errmsg(), "chunk 2 of 'weights'"), "%s", lrd_errmsg());
	lrd_verify_report rep;
	cr_expect_eq(lrd_store_verify(st, NULL, NULL, &rep), LRD_ECHECKSUM);
	cr_expect(strstr(lrd_errmsg(), "chunk 2 of 'weights'"), "%s", lrd_errmsg());
	cr_expect_eq(rep.bad_objects, 1);
	lrd_store_reader *rd;
	cr_assert_eq(lrd_store_reader_new(st, NULL, "weights", &rd), LRD_OK);
	uint8_t buf[64];
	cr_expect_eq(lrd_store_reader_read_range(rd, 0, buf, 64), LRD_OK, "chunk 0 is fine");
	cr_expect_eq(lrd_store_reader_read_range(rd, 2 * 8192, buf, 64), LRD_ECHECKSUM);
	lrd_store_reader_free(rd);
	lrd_value_free(v);
	free(data);
}

/* n int64 of a ramp: compressible, so lz4 and zstd chunks really are compressed. */
static lrd_value *fx_ramp(size_t n)
{
	lrd_dtype dt;
	lrd_value *a = NULL;
	lrd_dtype_parse("<i8", &dt);
	if (lrd_array_new(dt, 1, (uint64_t[]){n}, LRD_ORDER_C, &a) == LRD_OK)
		tc_fill_ramp(lrd_array_data(a), n);
	return a;
}

/* lrd_store_reader_next with 1, 2 and 8 chunk threads: raw and compressed chunks, decoded
 * ahead, come out in order and whole; a damaged chunk in the middle comes after every chunk
 * before it, naming key and chunk, and again on every later call. */
Test(store, reader_with_1_2_8_threads_streams_in_order_and_names_a_damaged_chunk)
{
	static const int counts[] = {1, 2, 8};
	const char *codecs[] = {"raw", "lz4", "zstd"};
	size_t count = 8192, cs = 8192, nbytes = count * 8;
	uint64_t *data = malloc(nbytes);
	for (size_t i = 0; i < count; i++) /* found once in the file, to damage it */
		data[i] = 0x1122334455667788ull ^ (i * 0x9e3779b97f4a7c15ull);
	lrd_value *v, *ramp = fx_ramp(count);
	lrd_dtype dt;
	lrd_dtype_parse("<u8", &dt);
	lrd_array_wrap(dt, 1, (uint64_t[]){count}, LRD_ORDER_C, data, nbytes, &v);
	for (size_t c = 0; c < 3; c++) {
		lrd_put_options po = {.codec = codecs[c], .chunk_size = cs};
		cr_assert_eq(lrd_store_put(st, NULL, codecs[c], ramp, &po), LRD_OK, "%s",
		             lrd_errmsg());
	}
	cr_assert_eq(lrd_store_put(st, NULL, "weights", v, &(lrd_put_options){.chunk_size = cs}),
	             LRD_OK);
	lrd_store_close(st);
	st = NULL;
	char *file = tc_path(dir, "data.mdb");
	cr_assert_eq(fx_corrupt_file(file, data + 2 * cs / 8 + 3 * cs / 8 + 100, 64), 0);
	free(file);
	for (size_t t = 0; t < 3; t++) {
		lrd_store_options o = {.flags = LRD_STORE_NOSYNC, .threads = counts[t]};
		cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK, "%s", lrd_errmsg());
		for (size_t c = 0; c < 3; c++) {
			const uint8_t *want = lrd_array_cdata(ramp);
			lrd_store_reader *rd;
			cr_assert_eq(lrd_store_reader_new(st, NULL, codecs[c], &rd), LRD_OK);
			const void *p;
			size_t n, at = 0, chunks = 0;
			while (lrd_store_reader_next(rd, &p, &n) == LRD_OK && n) {
				cr_assert_eq(n, cs);
				cr_assert(memcmp(p, want + at, n) == 0, "%s, %d threads: chunk %zu",
				          codecs[c], counts[t], chunks);
				at += n;
				chunks++;
			}
			cr_expect_eq(at, nbytes, "%s, %d threads: %s", codecs[c], counts[t],
			             lrd_errmsg());
			lrd_store_reader_free(rd);
		}
		/* chunk 5 of 8 is damaged */
		lrd_store_reader *rd;
		cr_assert_eq(lrd_store_reader_new(st, NULL, "weights", &rd), LRD_OK);
		const void *p;
		size_t n, good = 0;
		int rc;
		while ((rc = lrd_store_reader_next(rd, &p, &n)) == LRD_OK && n) {
			cr_assert(memcmp(p, (uint8_t *)data + good * cs, n) == 0);
			good++;
		}
		cr_expect_eq(rc, LRD_ECHECKSUM, "%d threads: %s", counts[t], lrd_errmsg());
		cr_expect_eq(good, 5, "%d threads", counts[t]);
		cr_expect(strstr(lrd_errmsg(), "chunk 5 of 'weights'"), "%s", lrd_errmsg());
		cr_expect_eq(lrd_store_reader_next(rd, &p, &n), LRD_ECHECKSUM);
		cr_expect(strstr(lrd_errmsg(), "chunk 5 of 'weights'"), "%s", lrd_errmsg());
		lrd_store_reader_free(rd);
		lrd_store_close(st);
		st = NULL;
	}
	cr_assert_eq(lrd_store_open(dir, NULL, &st), LRD_OK);
	lrd_value_free(v);
	lrd_value_free(ramp);
	free(data);
}

/* A reader on the caller's read txn decodes ahead; ending the txn first waits for those jobs
 * (they read the map), and the reader is freed after. */
Test(store, a_reader_reading_ahead_survives_its_callers_txn_ending_first)
{
	lrd_store_close(st);
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC, .threads = 4};
	cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK);
	lrd_value *v = fx_ramp(200000);
	cr_assert_eq(lrd_store_put(st, NULL, "a", v,
	                           &(lrd_put_options){.codec = "lz4", .chunk_size = 16384}),
	             LRD_OK);
	for (int reset = 0; reset < 2; reset++) {
		lrd_txn *t;
		lrd_store_reader *r1, *r2;
		cr_assert_eq(lrd_txn_begin(st, 0, &t), LRD_OK);
		cr_assert_eq(lrd_store_reader_new(st, t, "a", &r1), LRD_OK);
		cr_assert_eq(lrd_store_reader_new(st, t, "a", &r2), LRD_OK);
		const void *p;
		size_t n;
		cr_assert_eq(lrd_store_reader_next(r1, &p, &n), LRD_OK);
		cr_assert_eq(lrd_store_reader_next(r2, &p, &n), LRD_OK);
		cr_assert(memcmp(p, lrd_array_cdata(v), n) == 0);
		lrd_store_reader_free(r1); /* one freed before the txn ends, one after */
		if (reset)
			cr_assert_eq(lrd_txn_reset(t), LRD_OK);
		lrd_txn_abort(t);
		lrd_store_reader_free(r2);
	}
	lrd_value_free(v);
}

Test(store, a_file_that_is_not_lmdb_is_refused_clearly)
{
	lrd_store_close(st);
	st = NULL;
	char *file = tc_path(dir, "data.mdb");
	char junk[8192];
	memset(junk, 'J', sizeof junk);
	tc_write_file(file, junk, sizeof junk);
	free(file);
	lrd_store *s2 = (lrd_store *)1;
	cr_expect_eq(lrd_store_open(dir, NULL, &s2), LRD_EFORMAT);
	cr_expect_null(s2);
	cr_expect(strstr(lrd_errmsg(), "not an LMDB"), "%s", lrd_errmsg());
	char *plain = tc_path(dir, "plain");
	tc_write_file(plain, "x", 1);
	cr_expect_eq(lrd_store_open(plain, NULL, &s2), LRD_EFORMAT);
	free(plain);
}

static void raw_lmdb(const char *path, const char *db, const char *key, const void *val, size_t n)
{
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	cr_assert_eq(mdb_env_open(env, path, 0, 0644), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &t), 0);
	cr_assert_eq(mdb_dbi_open(t, db, MDB_CREATE, &dbi), 0);
	MDB_val k = {strlen(key), (void *)key}, v = {n, (void *)val};
	cr_assert_eq(mdb_put(t, dbi, &k, &v, 0), 0);
	cr_assert_eq(mdb_txn_commit(t), 0);
	mdb_env_close(env);
}

Test(store, an_lmdb_store_that_is_not_larders_is_refused)
{
	char *other = tc_path(dir, "other");
	mkdir(other, 0755);
	raw_lmdb(other, NULL, "hello", "world", 5);
	lrd_store *s2;
	cr_expect_eq(lrd_store_open(other, NULL, &s2), LRD_EFORMAT);
	cr_expect(strstr(lrd_errmsg(), "not a larder store"), "%s", lrd_errmsg());
	free(other);
}

Test(store, a_newer_store_format_is_refused)
{
	lrd_store_close(st);
	st = NULL;
	raw_lmdb(dir, "meta", "format", "\x63\0\0\0", 4);
	lrd_store *s2;
	cr_expect_eq(lrd_store_open(dir, NULL, &s2), LRD_EVERSION);
	cr_expect(strstr(lrd_errmsg(), "newer"), "%s", lrd_errmsg());
}

Test(store, read_only_and_nocreate)
{
	lrd_value *v;
	lrd_value_new_int(3, &v);
	cr_assert_eq(lrd_store_put(st, NULL, "k", v, NULL), LRD_OK);
	lrd_store *ro;
	lrd_store_options o = {.flags = LRD_STORE_RDONLY};
	/* not while this process has it open read-write: that would be a second environment */
	cr_expect_eq(lrd_store_open(dir, &o, &ro), LRD_EBUSY);
	cr_expect(strstr(lrd_errmsg(), "open read-write"), "%s", lrd_errmsg());
	lrd_store_close(st);
	st = NULL;
	cr_assert_eq(lrd_store_open(dir, &o, &ro), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_store_put(ro, NULL, "k2", v, NULL), LRD_EREADONLY);
	cr_expect_eq(lrd_store_exists(ro, NULL, "k"), 1);
	lrd_store_close(ro);
	char *nowhere = tc_path(dir, "nowhere");
	cr_expect_eq(lrd_store_open(nowhere, &o, &ro), LRD_ENOTFOUND);
	o.flags = LRD_STORE_NOCREATE;
	cr_expect_eq(lrd_store_open(nowhere, &o, &ro), LRD_ENOTFOUND);
	cr_assert_eq(mkdir(nowhere, 0777), 0);
	cr_expect_eq(lrd_store_open(nowhere, &o, &ro), LRD_ENOTFOUND);
	cr_expect(strstr(lrd_errmsg(), "no store at"), "%s", lrd_errmsg());
	char *mdb = tc_path(nowhere, "data.mdb");
	cr_expect_eq(access(mdb, F_OK), -1, "nothing was created in the empty directory");
	o.flags = LRD_STORE_RDONLY;
	cr_expect_eq(lrd_store_open(nowhere, &o, &ro), LRD_ENOTFOUND);
	free(mdb);
	free(nowhere);
	lrd_value_free(v);
}

Test(store, one_file_store_and_compacted_copy)
{
	char *file = tc_path(dir, "one.lmdb"), *copy = tc_path(dir, "copy.lmdb");
	lrd_store_options o = {.flags = LRD_STORE_NOSUBDIR | LRD_STORE_NOSYNC};
	lrd_store *s2;
	cr_assert_eq(lrd_store_open(file, &o, &s2), LRD_OK, "%s", lrd_errmsg());
	lrd_value *v = sample_tree(), *back;
	for (int i = 0; i < 20; i++) {
		char key[16];
		snprintf(key, sizeof key, "k%d", i);
		cr_assert_eq(lrd_store_put(s2, NULL, key, v, NULL), LRD_OK);
		if (i % 2)
			cr_assert_eq(lrd_store_del(s2, NULL, key), LRD_OK);
	}
	cr_assert_eq(lrd_store_compact(s2, copy), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_store_compact(s2, copy), LRD_EEXIST);
	lrd_store_close(s2);
	cr_assert_eq(lrd_store_open(copy, &o, &s2), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_store_get(s2, NULL, "k18", &back), LRD_OK);
	cr_expect(lrd_value_equal(v, back));
	cr_expect_eq(lrd_store_exists(s2, NULL, "k19"), 0);
	cr_expect_eq(lrd_store_verify(s2, NULL, NULL, NULL), LRD_OK);
	lrd_store_close(s2);
	lrd_value_free(v), lrd_value_free(back);
	free(file), free(copy);
}

Test(store, a_handle_is_refused_after_fork)
{
	pid_t pid = fork();
	if (pid == 0) {
		lrd_value *v;
		int rc = lrd_store_get(st, NULL, "x", &v);
		int ok = rc == LRD_EINVAL && strstr(lrd_errmsg(), "fork");
		lrd_store_close(st);
		_exit(ok ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	lrd_value *v;
	cr_expect_eq(lrd_store_get(st, NULL, "x", &v), LRD_ENOTFOUND, "the parent is unaffected");
}

/* A forked worker that tidies up the handles it inherited must not end the parent's LMDB
 * reader slots: the parent's zero-copy data and snapshot must survive hundreds of rewrites. */
Test(store, a_child_ending_inherited_handles_leaves_the_parents_snapshot_alone)
{
	lrd_value *v = fx_floats(5000), *mapped;
	cr_assert_eq(lrd_store_put(st, NULL, "k", v, NULL), LRD_OK);
	lrd_txn *r;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	cr_assert_eq(lrd_store_get(st, r, "k", &mapped), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_array_bufkind(mapped), LRD_BUF_MAPPED);
	const void *p = lrd_array_cdata(mapped);
	lrd_store_iter *it_own, *it_txn;
	lrd_store_reader *rd_own, *rd_txn;
	cr_assert_eq(lrd_store_iter_new(st, NULL, NULL, &it_own), LRD_OK);
	cr_assert_eq(lrd_store_iter_new(st, r, NULL, &it_txn), LRD_OK);
	cr_assert_eq(lrd_store_reader_new(st, NULL, "k", &rd_own), LRD_OK);
	cr_assert_eq(lrd_store_reader_new(st, r, "k", &rd_txn), LRD_OK);
	pid_t pid = fork();
	if (pid == 0) {
		lrd_store_iter_free(it_own);
		lrd_store_iter_free(it_txn);
		lrd_store_reader_free(rd_own);
		lrd_store_reader_free(rd_txn);
		int rc = lrd_txn_commit(r); /* refused, but frees */
		lrd_store_close(st);
		_exit(rc == LRD_EINVAL ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	lrd_value *w = fx_floats(5000);
	for (int i = 0; i < 300; i++) {
		double *d = lrd_array_data(w);
		d[i] = -i;
		cr_assert_eq(lrd_store_put(st, NULL, "k", w, NULL), LRD_OK, "%s", lrd_errmsg());
		char key[32];
		snprintf(key, sizeof key, "tmp%d", i);
		cr_assert_eq(lrd_store_put(st, NULL, key, w, NULL), LRD_OK);
		cr_assert_eq(lrd_store_del(st, NULL, key), LRD_OK);
	}
	cr_expect(!memcmp(p, lrd_array_cdata(v), lrd_array_nbytes(v)),
	          "the parent's zero-copy data changed under it");
	lrd_value *again;
	cr_assert_eq(lrd_store_get(st, r, "k", &again), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(again, v), "the parent's snapshot changed");
	lrd_value_free(again);
	const char *key;
	size_t kl;
	int n = 0, rc;
	while ((rc = lrd_store_iter_next(it_txn, &key, &kl, NULL)) == LRD_OK) {
		cr_expect_str_eq(key, "k", "the parent's snapshot holds only k");
		n++;
	}
	cr_expect_eq(rc, LRD_ENOTFOUND, "%s", lrd_errmsg());
	cr_expect_eq(n, 1, "keys vanished from the parent's snapshot");
	lrd_store_iter_free(it_own);
	lrd_store_iter_free(it_txn);
	lrd_store_reader_free(rd_own);
	lrd_store_reader_free(rd_txn);
	lrd_value_free(mapped);
	lrd_txn_abort(r);
	lrd_value_free(v);
	lrd_value_free(w);
}

Test(store, a_reset_read_txn_is_renewed_onto_a_fresh_snapshot)
{
	lrd_value *a, *b, *got;
	lrd_value_new_int(1, &a);
	lrd_value_new_int(2, &b);
	cr_assert_eq(lrd_store_put(st, NULL, "k", a, NULL), LRD_OK);
	lrd_txn *r;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	cr_assert_eq(lrd_store_get(st, r, "k", &got), LRD_OK);
	cr_expect(lrd_value_equal(got, a));
	lrd_value_free(got);
	cr_assert_eq(lrd_txn_reset(r), LRD_OK);
	cr_expect_eq(lrd_txn_reset(r), LRD_OK, "resetting twice does nothing");
	cr_expect_eq(lrd_store_get(st, r, "k", &got), LRD_EINVAL, "a reset txn is refused");
	lrd_buf buf;
	cr_expect_eq(lrd_store_kv_get(r, "ns", "x", 1, &buf), LRD_EINVAL);
	/* a write while it is reset: no snapshot holds it back, and renew sees it */
	cr_assert_eq(lrd_store_put(st, NULL, "k", b, NULL), LRD_OK);
	cr_assert_eq(lrd_txn_renew(r), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_txn_renew(r), LRD_EINVAL, "renewing a live txn is refused");
	cr_assert_eq(lrd_store_get(st, r, "k", &got), LRD_OK);
	cr_expect(lrd_value_equal(got, b), "the renewed snapshot is current");
	lrd_value_free(got);
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(lrd_txn_reset(r), LRD_OK);
		cr_assert_eq(lrd_txn_renew(r), LRD_OK);
	}
	cr_assert_eq(lrd_txn_reset(r), LRD_OK);
	lrd_txn_abort(r); /* frees a reset txn */
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_READ, &r), LRD_OK);
	cr_assert_eq(lrd_txn_reset(r), LRD_OK);
	cr_expect_eq(lrd_txn_commit(r), LRD_OK, "committing a reset read txn just ends it");
	lrd_txn *w;
	cr_assert_eq(lrd_txn_begin(st, LRD_TXN_WRITE, &w), LRD_OK);
	cr_expect_eq(lrd_txn_reset(w), LRD_EINVAL, "only read txns are reset");
	lrd_txn_abort(w);
	cr_expect_eq(lrd_txn_reset(NULL), LRD_EINVAL);
	cr_expect_eq(lrd_txn_renew(NULL), LRD_EINVAL);
	lrd_value_free(a);
	lrd_value_free(b);
}

Test(store, allocation_failures_are_reported_cleanly)
{
	lrd_value *v = sample_tree(), *back = NULL;
	int ok = 0;
	for (long n = 0; n < 200 && !ok; n++) {
		lrd__alloc_failafter(n);
		int rc = lrd_store_put(st, NULL, "t", v, NULL);
		lrd__alloc_failafter(-1);
		cr_assert(rc == LRD_OK || rc == LRD_ENOMEM, "%ld: %s", n, lrd_errname(rc));
		ok = rc == LRD_OK;
	}
	cr_assert(ok);
	ok = 0;
	for (long n = 0; n < 200 && !ok; n++) {
		lrd__alloc_failafter(n);
		int rc = lrd_store_get(st, NULL, "t", &back);
		lrd__alloc_failafter(-1);
		cr_assert(rc == LRD_OK || rc == LRD_ENOMEM, "%ld: %s", n, lrd_errname(rc));
		ok = rc == LRD_OK;
	}
	cr_expect(lrd_value_equal(v, back));
	lrd_value_free(v), lrd_value_free(back);
}

Test(store, a_put_failing_halfway_in_an_explicit_txn_cannot_be_committed)
{
	lrd_value *old = sample_tree(), *nv = sample_tree(), *back;
	lrd_map_set(nv, "extra", fx_floats(5000));
	lrd_put_options po = {.chunk_size = 4096};
	cr_assert_eq(lrd_store_put(st, NULL, "k", old, &po), LRD_OK);
	int failures = 0;
	for (long n = 0; n < 60; n++) {
		lrd_txn *t;
		cr_assert_eq(lrd_txn_begin(st, LRD_TXN_WRITE, &t), LRD_OK);
		lrd__alloc_failafter(n);
		int rc = lrd_store_put(st, t, "k", nv, &po);
		lrd__alloc_failafter(-1);
		if (rc == LRD_OK) {
			lrd_txn_abort(t);
			break;
		}
		cr_assert_eq(rc, LRD_ENOMEM, "%ld: %s", n, lrd_errname(rc));
		failures++;
		lrd_txn_commit(t); /* refused if the put had begun; harmless otherwise */
		cr_assert_eq(lrd_store_get(st, NULL, "k", &back), LRD_OK, "%ld: %s", n,
		             lrd_errmsg());
		cr_assert(lrd_value_equal(back, old), "%ld: the old object is intact", n);
		lrd_value_free(back);
	}
	cr_expect_gt(failures, 3);
	cr_expect_eq(lrd_store_verify(st, NULL, NULL, NULL), LRD_OK, "%s", lrd_errmsg());
	lrd_verify_report rep;
	lrd_store_verify(st, NULL, NULL, &rep);
	cr_expect_eq(rep.orphan_chunks, 0);
	lrd_value_free(old), lrd_value_free(nv);
}

/* ---- processes and threads ------------------------------------------------------------------ */

#define WORKERS_PER_PROC   2
#define OBJECTS_PER_WORKER 1500

struct worker {
	lrd_store *s;
	int proc, thread, failures;
};

static void note(struct worker *w, int rc, const char *key)
{
	if (rc) {
		w->failures++;
		fprintf(stderr, "%s: %s: %s\n", key, lrd_errname(rc), lrd_errmsg());
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char key[64];
	for (int i = 0; i < OBJECTS_PER_WORKER; i++) {
		lrd_value *m, *x;
		lrd_value_new_map(&m);
		lrd_value_new_int(i, &x);
		lrd_map_set(m, "i", x);
		uint64_t n = 1 + (uint64_t)(i % 50);
		lrd_dtype dt;
		lrd_dtype_parse("<i8", &dt);
		lrd_value *a;
		lrd_array_new(dt, 1, &n, LRD_ORDER_C, &a);
		int64_t *d = lrd_array_data(a);
		for (uint64_t j = 0; j < n; j++)
			d[j] = w->proc * 1000000 + w->thread * 100000 + i + (int64_t)j;
		lrd_map_set(m, "a", a);
		snprintf(key, sizeof key, "p%d/t%d/%05d", w->proc, w->thread, i);
		lrd_put_options po = {.codec = i % 3 == 0 ? "lz4" : NULL};
		if (i % 10 == 0) { /* sometimes several in one explicit txn */
			int rc = LRD_EMAPFULL;
			/* an explicit txn that fills the map fails whole; the next one has room */
			for (int attempt = 0; rc == LRD_EMAPFULL && attempt < 3; attempt++) {
				lrd_txn *t;
				rc = lrd_txn_begin(w->s, LRD_TXN_WRITE, &t);
				if (!rc)
					rc = lrd_store_put(w->s, t, key, m, &po);
				if (!rc)
					rc = lrd_store_kv_put(w->s, t, "progress", key, strlen(key),
					                      "1", 1, 0);
				rc = rc ? (lrd_txn_abort(t), rc) : lrd_txn_commit(t);
			}
			note(w, rc, key);
		} else {
			note(w, lrd_store_put(w->s, NULL, key, m, &po), key);
		}
		/* read back something written earlier by anyone */
		if (i > 0) {
			lrd_txn *r;
			if (lrd_txn_begin(w->s, LRD_TXN_READ, &r) == LRD_OK) {
				snprintf(key, sizeof key, "p%d/t%d/%05d", w->proc, w->thread,
				         i - 1);
				lrd_value *back;
				if (lrd_store_get(w->s, r, key, &back) == LRD_OK) {
					int64_t got;
					lrd_value_get_int(lrd_map_get(back, "i"), &got);
					w->failures += got != i - 1;
					lrd_value_free(back);
				} else {
					note(w, LRD_ENOTFOUND, key);
				}
				lrd_txn_abort(r);
			}
		}
		lrd_value_free(m);
	}
	return NULL;
}

static int run_process(const char *path, int proc)
{
	lrd_store *s;
	/* the default reservation: with a small map, a write that finds it full while the other
	 * thread holds a transaction fails at once with LRD_EMAPFULL instead of waiting */
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC};
	if (lrd_store_open(path, &o, &s))
		return 1;
	pthread_t th[WORKERS_PER_PROC];
	struct worker w[WORKERS_PER_PROC];
	for (int t = 0; t < WORKERS_PER_PROC; t++) {
		w[t] = (struct worker){.s = s, .proc = proc, .thread = t};
		pthread_create(&th[t], NULL, worker_main, &w[t]);
	}
	int failures = 0;
	for (int t = 0; t < WORKERS_PER_PROC; t++) {
		pthread_join(th[t], NULL);
		failures += w[t].failures;
	}
	lrd_store_close(s);
	if (failures)
		fprintf(stderr, "process %d: %d failures\n", proc, failures);
	return failures != 0;
}

Test(store, two_processes_with_two_threads_each_write_and_read_thousands, .timeout = 240)
{
	lrd_store_close(st); /* the children open their own handles */
	st = NULL;
	pid_t pids[2];
	for (int p = 0; p < 2; p++) {
		pids[p] = fork();
		if (pids[p] == 0)
			_exit(run_process(dir, p));
	}
	for (int p = 0; p < 2; p++) {
		int status;
		waitpid(pids[p], &status, 0);
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d", p);
	}
	cr_assert_eq(lrd_store_open(dir, NULL, &st), LRD_OK);
	lrd_verify_report rep;
	cr_expect_eq(lrd_store_verify(st, NULL, NULL, &rep), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(rep.objects, 2 * WORKERS_PER_PROC * OBJECTS_PER_WORKER);
	cr_expect_eq(rep.orphan_chunks, 0);
	lrd_value *back;
	cr_assert_eq(lrd_store_get(st, NULL, "p1/t1/01234", &back), LRD_OK);
	const int64_t *d = lrd_array_cdata(lrd_map_get(back, "a"));
	cr_expect_eq(d[0], 1000000 + 100000 + 1234);
	lrd_value_free(back);
	lrd_store_stat s;
	lrd_store_stat_get(st, NULL, &s);
	cr_expect_eq(s.kv_entries, 2 * WORKERS_PER_PROC * OBJECTS_PER_WORKER / 10);
}

/* ---- the CLI ------------------------------------------------------------------------------ */

Test(store, cli_ls_stat_verify_rm_compact)
{
	lrd_value *v = sample_tree();
	lrd_put_options lz = {.codec = "lz4"};
	cr_assert_eq(lrd_store_put(st, NULL, "runs/a", v, &lz), LRD_OK);
	cr_assert_eq(lrd_store_put(st, NULL, "runs/b", v, NULL), LRD_OK);
	cr_assert_eq(lrd_store_put(st, NULL, "other", v, NULL), LRD_OK);
	lrd_store_close(st);
	st = NULL;
	char *out = tc_path(dir, "out.txt"), *copy = tc_path(dir, "copy");
	char *text;
	cr_assert_eq(tc_sh("%s ls %s runs/ >%s", LARDER_EXE, dir, out), 0);
	text = fx_read_text(out);
	cr_expect_str_eq(text, "runs/a\nruns/b\n");
	free(text);
	cr_assert_eq(tc_sh("%s ls --json %s >%s", LARDER_EXE, dir, out), 0);
	text = fx_read_text(out);
	cr_expect(strstr(text, "{\"key\": \"other\", \"kind\": \"map\""), "%s", text);
	free(text);
	cr_assert_eq(tc_sh("%s stat --json %s >%s", LARDER_EXE, dir, out), 0);
	text = fx_read_text(out);
	cr_expect(strstr(text, "\"objects\": 3,"), "%s", text);
	cr_expect(strstr(text, "{\"codec\": \"raw\""), "%s", text);
	free(text);
	cr_expect_eq(tc_sh("%s verify %s >%s", LARDER_EXE, dir, out), 0);
	cr_expect_eq(tc_sh("%s rm %s runs/a runs/b >%s", LARDER_EXE, dir, out), 0);
	cr_expect_eq(tc_sh("%s rm %s runs/a 2>%s", LARDER_EXE, dir, out), 1);
	cr_expect_eq(tc_sh("%s compact %s %s", LARDER_EXE, dir, copy), 0);
	cr_assert_eq(tc_sh("%s ls %s >%s", LARDER_EXE, copy, out), 0);
	text = fx_read_text(out);
	cr_expect_str_eq(text, "other\n");
	free(text);
	cr_expect_eq(tc_sh("%s ls %s/nowhere 2>%s", LARDER_EXE, dir, out), 1);
	cr_expect_eq(tc_sh("%s ls 2>%s", LARDER_EXE, out), 2);
	free(out), free(copy);
	lrd_value_free(v);
}

Test(store, cli_verify_reports_damage_with_exit_status_3)
{
	lrd_value *v = fx_floats(5000);
	const double *d = lrd_array_cdata(v);
	cr_assert_eq(lrd_store_put(st, NULL, "w", v, NULL), LRD_OK);
	lrd_store_close(st);
	st = NULL;
	char *file = tc_path(dir, "data.mdb"), *out = tc_path(dir, "out.json");
	cr_assert_eq(fx_corrupt_file(file, d + 1000, 64), 0);
	cr_expect_eq(tc_sh("%s verify --json %s >%s", LARDER_EXE, dir, out), 3);
	char *text = fx_read_text(out);
	cr_expect(strstr(text, "\"key\": \"w\", \"chunk\": 0, \"error\": \"LRD_ECHECKSUM\""), "%s",
	          text);
	cr_expect(strstr(text, "\"bad_objects\": 1"), "%s", text);
	free(text), free(file), free(out);
	lrd_value_free(v);
}

Test(store, cli_put_and_get_move_lrd_files_of_any_codec)
{
	lrd_store_close(st);
	st = NULL;
	lrd_value *tree = sample_tree(), *arr = fx_floats(300000), *back;
	char *tf = tc_path(dir, "tree.lrd.gz"), *af = tc_path(dir, "arr.lrd"),
	     *out1 = tc_path(dir, "out-tree.lrd.xz"), *out2 = tc_path(dir, "out-arr.lrd.gz"),
	     *sdir = tc_path(dir, "s");
	cr_assert_eq(lrd_dump(tree, tf, NULL), LRD_OK, "%s", lrd_errmsg());
	lrd_dump_options per_chunk = {.chunk_codec = "lz4", .chunk_size = 1 << 16};
	cr_assert_eq(lrd_dump(arr, af, &per_chunk), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(tc_sh("%s put %s tree %s", LARDER_EXE, sdir, tf), 0, "creates the store");
	lrd_store *s2;
	cr_assert_eq(
	    tc_sh("%s put --codec blosc --chunk-size 100K %s arr %s", LARDER_EXE, sdir, af), 0);
	cr_assert_eq(tc_sh("%s get %s tree %s", LARDER_EXE, sdir, out1), 0);
	cr_assert_eq(tc_sh("%s get %s arr %s", LARDER_EXE, sdir, out2), 0);
	cr_assert_eq(lrd_load(out1, &back, NULL), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(tree, back));
	lrd_value_free(back);
	cr_assert_eq(lrd_load(out2, &back, NULL), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(arr, back));
	lrd_value_free(back);
	cr_assert_eq(lrd_store_open(sdir, NULL, &s2), LRD_OK);
	lrd_object_info info;
	cr_assert_eq(lrd_store_info(s2, NULL, "arr", &info), LRD_OK);
	cr_expect_eq(info.chunks, 24, "stored with the store-side chunk size");
	lrd_store_close(s2);
	cr_expect_eq(tc_sh("%s get %s nothing %s", LARDER_EXE, sdir, out1), 1);
	cr_expect_eq(tc_sh("%s put %s bad %s/nofile", LARDER_EXE, sdir, dir), 1);
	cr_expect_eq(tc_sh("%s verify %s", LARDER_EXE, af), 0, "a file goes to the file verifier");
	cr_expect_eq(tc_sh("%s verify %s", LARDER_EXE, sdir), 0);
	lrd_value_free(tree), lrd_value_free(arr);
	free(tf), free(af), free(out1), free(out2), free(sdir);
}

Test(store, cli_put_and_get_move_npy_files_byte_identical)
{
	lrd_value *tree = sample_tree();
	cr_assert_eq(lrd_store_put(st, NULL, "tree", tree, NULL), LRD_OK);
	lrd_store_close(st);
	st = NULL;
	lrd_value_free(tree);
	static const char *const names[] = {"f8le_v1.npy", "f8le_fortran.npy", "f8le_0d.npy",
	                                    "S1_4d.npy", "f8le_empty.npy"};
	char *out = tc_path(dir, "out.npy"), *err = tc_path(dir, "err.txt");
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char *src = tc_path(tc_datadir(), "npy");
		char *fix = tc_path(src, names[i]);
		cr_assert_eq(tc_sh("%s put --codec lz4 %s k %s", LARDER_EXE, dir, fix), 0, "%s",
		             names[i]);
		cr_assert_eq(tc_sh("%s get %s k %s", LARDER_EXE, dir, out), 0, "%s", names[i]);
		size_t a, b;
		void *want = tc_read_file(fix, &a), *got = tc_read_file(out, &b);
		cr_assert(want && got);
		cr_expect(a == b && !memcmp(want, got, a), "%s: bytes differ", names[i]);
		free(want), free(got), free(fix), free(src);
	}
	/* numpy itself reads what get wrote */
	char *fix = tc_path(tc_datadir(), "npy/f8le_v1.npy"), *lrd = tc_path(dir, "a.lrd.gz");
	cr_assert_eq(tc_sh("%s put %s k %s", LARDER_EXE, dir, fix), 0);
	cr_assert_eq(tc_sh("%s get %s k %s", LARDER_EXE, dir, out), 0);
	cr_expect_eq(
	    tc_sh("/usr/bin/python3 -c 'import numpy as np, sys; a = np.load(sys.argv[1]); "
	          "b = np.load(sys.argv[2]); sys.exit(0 if a.dtype == b.dtype and "
	          "a.shape == b.shape and (a == b).all() else 1)' %s %s",
	          out, fix),
	    0);
	/* .npy in, .lrd out and back to .npy */
	cr_assert_eq(tc_sh("%s get %s k %s", LARDER_EXE, dir, lrd), 0);
	cr_assert_eq(tc_sh("%s put %s k2 %s", LARDER_EXE, dir, lrd), 0);
	cr_assert_eq(tc_sh("%s get %s k2 %s", LARDER_EXE, dir, out), 0);
	size_t a, b;
	void *want = tc_read_file(fix, &a), *got = tc_read_file(out, &b);
	cr_expect(a == b && !memcmp(want, got, a), "npy -> lrd.gz -> npy changed the bytes");
	free(want), free(got);
	/* a value that is not an array cannot be a .npy file */
	cr_expect_eq(tc_sh("%s get %s tree %s 2>%s", LARDER_EXE, dir, out, err), 1);
	char *text = fx_read_text(err);
	cr_expect(strstr(text, "not an array"), "%s", text);
	free(text);
	free(fix), free(lrd), free(out), free(err);
}

Test(store, reader_gives_ok_and_zero_length_after_the_last_chunk)
{
	lrd_value *a = fx_floats(100000); /* 800000 bytes: 8 chunks of 100000 */
	lrd_put_options po = {.chunk_size = 100000};
	cr_assert_eq(lrd_store_put(st, NULL, "a", a, &po), LRD_OK, "%s", lrd_errmsg());
	lrd_store_reader *rd;
	cr_assert_eq(lrd_store_reader_new(st, NULL, "a", &rd), LRD_OK, "%s", lrd_errmsg());
	const void *p;
	size_t n, total = 0, chunks = 0;
	for (;;) {
		cr_assert_eq(lrd_store_reader_next(rd, &p, &n), LRD_OK, "%s", lrd_errmsg());
		if (n == 0)
			break;
		total += n;
		chunks++;
	}
	cr_expect_eq(chunks, 8);
	cr_expect_eq(total, lrd_array_nbytes(a));
	cr_expect_null(p);
	cr_expect_eq(lrd_store_reader_next(rd, &p, &n), LRD_OK); /* and it stays at the end */
	cr_expect_eq(n, 0);
	lrd_store_reader_free(rd);
	lrd_value_free(a);
}

Test(store, the_store_keeps_its_own_copy_of_the_default_codec_params)
{
	lrd_store_close(st);
	tc_rmtree(dir);
	char *inner = strdup("zstd");
	lrd_store_options o = {
	    .flags = LRD_STORE_NOSYNC, .codec = "blosc", .params = {.inner = inner}};
	cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK, "%s", lrd_errmsg());
	strcpy(inner, "nope"); /* the caller's string changes after the call */
	lrd_value *a = fx_floats(10000), *back;
	lrd_put_options po = {.params = {.level = 1}}; /* other fields: the store's defaults */
	cr_assert_eq(lrd_store_put(st, NULL, "a", a, &po), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_store_get(st, NULL, "a", &back), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(a, back));
	lrd_value_free(back);
	lrd_value_free(a);
	free(inner);
}

Test(store, options_with_nonzero_reserved_words_or_unknown_flags_are_refused)
{
	char *d2 = tc_tmpdir();
	lrd_store *s2 = NULL;
	lrd_store_options o = {0};
	o.reserved[0] = 1;
	cr_expect_eq(lrd_store_open(d2, &o, &s2), LRD_EINVAL);
	cr_expect(strstr(lrd_errmsg(), "lrd_store_options.reserved[0]"), "%s", lrd_errmsg());
	o = (lrd_store_options){0};
	o.params.reserved[7] = 1;
	cr_expect_eq(lrd_store_open(d2, &o, &s2), LRD_EINVAL);
	cr_expect_null(s2);
	tc_rmtree(d2);
	free(d2);

	lrd_value *a = fx_floats(100);
	lrd_put_options po = {0};
	po.reserved[3] = 1;
	cr_expect_eq(lrd_store_put(st, NULL, "a", a, &po), LRD_EINVAL);
	po = (lrd_put_options){0};
	po.params.reserved[1] = 1;
	cr_expect_eq(lrd_store_put(st, NULL, "a", a, &po), LRD_EINVAL);
	po = (lrd_put_options){.flags = 1u << 7};
	cr_expect_eq(lrd_store_put(st, NULL, "a", a, &po), LRD_EINVAL);
	lrd_store_writer *w;
	uint64_t shape[1] = {100};
	cr_expect_eq(
	    lrd_store_writer_new(st, NULL, "a", lrd_array_dtype(a), 1, shape, LRD_ORDER_C, &po, &w),
	    LRD_EINVAL);
	cr_expect_eq(lrd_store_exists(st, NULL, "a"), 0);
	lrd_value_free(a);
}

/* lrd_store_options.threads / lrd_put_options.threads: puts and writers with 1, 2 and 8 chunk
 * threads store chunks that gets with 1, 2 and 8 threads read back. */
Test(store, chunk_threads_1_2_8_put_and_get_the_same_arrays)
{
	static const int counts[] = {1, 2, 8};
	const char *codecs[] = {"raw", "lz4", "zstd", "blosc"};
	size_t n = 60000, nbytes = n * 8;
	lrd_value *v = fx_floats(n);
	const char *src = lrd_array_cdata(v);
	char key[64];
	lrd_store_close(st); /* the fixture's store, reopened below with each thread count */
	st = NULL;
	for (size_t t = 0; t < 3; t++) {
		lrd_store_options o = {.flags = LRD_STORE_NOSYNC, .threads = counts[t]};
		cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK, "%s", lrd_errmsg());
		for (size_t c = 0; c < sizeof codecs / sizeof *codecs; c++) {
			lrd_put_options po = {.codec = codecs[c], .chunk_size = 16384};
			snprintf(key, sizeof key, "put-%d-%s", counts[t], codecs[c]);
			cr_assert_eq(lrd_store_put(st, NULL, key, v, &po), LRD_OK, "%s: %s", key,
			             lrd_errmsg());
			/* a writer in pieces of every size, with its own thread count */
			po.threads = counts[2 - t];
			snprintf(key, sizeof key, "writer-%d-%s", counts[2 - t], codecs[c]);
			lrd_store_writer *w;
			uint64_t shape[1] = {n};
			cr_assert_eq(lrd_store_writer_new(st, NULL, key, lrd_array_dtype(v), 1,
			                                  shape, LRD_ORDER_C, &po, &w),
			             LRD_OK, "%s: %s", key, lrd_errmsg());
			for (size_t off = 0; off < nbytes;) {
				size_t step = 1 + tc_rand() % 40000;
				if (step > nbytes - off)
					step = nbytes - off;
				cr_assert_eq(lrd_store_writer_write(w, src + off, step), LRD_OK,
				             "%s", lrd_errmsg());
				off += step;
			}
			cr_assert_eq(lrd_store_writer_finish(w), LRD_OK, "%s: %s", key,
			             lrd_errmsg());
			lrd_store_writer_free(w);
		}
		lrd_store_close(st);
		st = NULL;
	}
	for (size_t t = 0; t < 3; t++) {
		lrd_store_options o = {.flags = LRD_STORE_NOSYNC, .threads = counts[t]};
		cr_assert_eq(lrd_store_open(dir, &o, &st), LRD_OK, "%s", lrd_errmsg());
		for (size_t k = 0; k < 3; k++)
			for (size_t c = 0; c < sizeof codecs / sizeof *codecs; c++)
				for (int wr = 0; wr < 2; wr++) {
					snprintf(key, sizeof key, "%s-%d-%s", wr ? "writer" : "put",
					         counts[k], codecs[c]);
					lrd_value *back;
					cr_assert_eq(lrd_store_get(st, NULL, key, &back), LRD_OK,
					             "%s: %s", key, lrd_errmsg());
					cr_expect(lrd_value_equal(v, back),
					          "%s read with %d threads differs", key,
					          counts[t]);
					lrd_value_free(back);
				}
		cr_expect_eq(lrd_store_verify(st, NULL, NULL, NULL), LRD_OK, "%s", lrd_errmsg());
		if (t < 2) {
			lrd_store_close(st);
			st = NULL;
		}
	}
	lrd_value_free(v);
}
