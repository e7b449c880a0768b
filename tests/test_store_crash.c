/* store (long tier): crash safety. A writer process puts arrays in a loop — single calls,
 * explicit multi-put transactions, streamed arrays, raw and compressed — and reports each
 * returned commit through a pipe; it is SIGKILLed at a random moment, 200 times. After every
 * kill the store must open, every reported object must be intact, and every object present
 * (the reported ones plus at most the one whose commit had not been reported yet) must have
 * exactly the content its key implies: nothing is ever partly visible. */
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/store_fixture.h"

#define ROUNDS 200

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static uint64_t key_hash(const char *key)
{
	uint64_t h = 1469598103934665603ull;
	for (; *key; key++)
		h = (h ^ (uint8_t)*key) * 1099511628211ull;
	return mix(h);
}

/* The content a key implies: n u64 values, n from the key. */
static size_t expected(const char *key, uint64_t **out)
{
	uint64_t h = key_hash(key);
	size_t n = 1 + (size_t)(h % 60000);
	uint64_t *d = malloc(n * 8);
	for (size_t j = 0; j < n; j++)
		d[j] = j % 7 == 0 ? mix(h + j) : h + j / 64; /* partly compressible */
	*out = d;
	return n;
}

static const char *codec_for(uint64_t h)
{
	static const char *c[] = {"raw", "lz4", "blosc", "zlib"};
	return c[(h >> 8) % 4];
}

static int put_one(lrd_store *s, lrd_txn *t, const char *key)
{
	uint64_t *d;
	size_t n = expected(key, &d);
	uint64_t h = key_hash(key);
	lrd_dtype dt;
	lrd_dtype_parse("<u8", &dt);
	lrd_put_options po = {.codec = codec_for(h),
	                      .chunk_size = LRD_CHUNK_SIZE_MIN + (size_t)(h >> 16) % 300000};
	int rc;
	if ((h >> 40) % 2 && !t) {
		lrd_store_writer *w;
		uint64_t shape = n;
		rc = lrd_store_writer_new(s, NULL, key, dt, 1, &shape, LRD_ORDER_C, &po, &w);
		for (size_t off = 0; !rc && off < n * 8; off += 50000)
			rc = lrd_store_writer_write(w, (uint8_t *)d + off,
			                            n * 8 - off < 50000 ? n * 8 - off : 50000);
		if (!rc)
			rc = lrd_store_writer_finish(w);
		lrd_store_writer_free(w);
	} else {
		lrd_value *v;
		rc = lrd_array_wrap(dt, 1, (uint64_t[]){n}, LRD_ORDER_C, d, n * 8, &v);
		if (!rc)
			rc = lrd_store_put(s, t, key, v, &po);
		lrd_value_free(v);
	}
	free(d);
	return rc;
}

struct report {
	int round, first, count; /* objects round/first .. first+count-1 are committed */
};

static void writer(const char *dir, int round, int fd)
{
	lrd_store *s;
	lrd_store_options o = {.map_size = 4 << 20, .flags = round % 2 ? LRD_STORE_NOSYNC : 0};
	if (lrd_store_open(dir, &o, &s))
		_exit(3);
	char key[64];
	for (int i = 0;; i++) {
		struct report r = {round, i, 1};
		int rc;
		if (i % 4 == 3) { /* three objects in one explicit transaction */
			lrd_txn *t;
			rc = lrd_txn_begin(s, LRD_TXN_WRITE, &t);
			for (int j = 0; !rc && j < 3; j++) {
				snprintf(key, sizeof key, "r%03d/o%05d", round, i + j);
				rc = put_one(s, t, key);
			}
			rc = rc ? (lrd_txn_abort(t), rc) : lrd_txn_commit(t);
			r.count = 3;
			if (rc == LRD_EMAPFULL) { /* the next transaction has room */
				i--;
				continue;
			}
			i += 2;
		} else {
			snprintf(key, sizeof key, "r%03d/o%05d", round, i);
			rc = put_one(s, NULL, key);
		}
		if (rc) {
			fprintf(stderr, "writer: %s: %s\n", key, lrd_errmsg());
			_exit(4);
		}
		if (write(fd, &r, sizeof r) != sizeof r)
			_exit(5);
	}
}

static bool content_ok(lrd_store *s, const char *key)
{
	lrd_value *v;
	if (lrd_store_get(s, NULL, key, &v) != LRD_OK)
		return false;
	uint64_t *d;
	size_t n = expected(key, &d);
	bool ok = lrd_array_nbytes(v) == n * 8 && !memcmp(lrd_array_cdata(v), d, n * 8);
	free(d);
	lrd_value_free(v);
	return ok;
}

// cppcheck-suppress unknownMacro
Test(store, killed_writers_never_leave_a_partial_object, .timeout = 900)
{
	char *dir = tc_tmpdir();
	int *committed = calloc(ROUNDS, sizeof *committed);
	uint64_t total = 0;
	for (int round = 0; round < ROUNDS; round++) {
		int fds[2];
		cr_assert_eq(pipe(fds), 0);
		pid_t pid = fork();
		if (pid == 0) {
			close(fds[0]);
			writer(dir, round, fds[1]);
		}
		close(fds[1]);
		struct timespec ts = {0, (long)(1 + tc_rand() % 150) * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		cr_assert(WIFSIGNALED(status), "round %d: writer exited by itself (%d)", round,
		          WEXITSTATUS(status));
		struct report r;
		while (read(fds[0], &r, sizeof r) == sizeof r)
			committed[round] = r.first + r.count;
		close(fds[0]);

		lrd_store *s;
		cr_assert_eq(lrd_store_open(dir, NULL, &s), LRD_OK, "round %d: %s", round,
		             lrd_errmsg());
		char key[64];
		for (int i = 0; i < committed[round]; i++) {
			snprintf(key, sizeof key, "r%03d/o%05d", round, i);
			cr_assert(content_ok(s, key), "round %d: committed %s damaged or missing",
			          round, key);
		}
		/* anything beyond the reported commits is a whole object or absent */
		lrd_store_iter *it;
		snprintf(key, sizeof key, "r%03d/", round);
		cr_assert_eq(lrd_store_iter_new(s, NULL, key, &it), LRD_OK);
		const char *k;
		size_t kl;
		int present = 0;
		while (lrd_store_iter_next(it, &k, &kl, NULL) == LRD_OK) {
			present++;
			cr_assert(content_ok(s, k), "round %d: %s partly visible", round, k);
		}
		lrd_store_iter_free(it);
		cr_assert_geq(present, committed[round]);
		cr_assert_leq(present, committed[round] + 3);
		if (round % 20 == 19) {
			lrd_verify_report rep;
			cr_assert_eq(lrd_store_verify(s, NULL, NULL, &rep), LRD_OK, "round %d: %s",
			             round, lrd_errmsg());
			cr_assert_eq(rep.orphan_chunks, 0, "round %d", round);
		}
		total += (uint64_t)present;
		lrd_store_close(s);
	}
	/* earlier rounds are still intact at the end */
	lrd_store *s;
	cr_assert_eq(lrd_store_open(dir, NULL, &s), LRD_OK);
	cr_assert_eq(lrd_store_verify(s, NULL, NULL, NULL), LRD_OK, "%s", lrd_errmsg());
	lrd_store_stat st;
	lrd_store_stat_get(s, NULL, &st);
	cr_expect_eq(st.objects, total);
	fprintf(stderr, "crash test: %d kills, %llu objects, %llu MiB map\n", ROUNDS,
	        (unsigned long long)total, (unsigned long long)(st.map_size >> 20));
	lrd_store_close(s);
	tc_rmtree(dir);
	free(dir);
	free(committed);
}

/* Issue 9 item 10: a streaming writer that owns its transaction commits its chunks in batches.
 * Killed after some batches: the key keeps its old object, verify counts the committed chunks
 * as orphans, and the next writer of that key (or a compact) removes them. */
#define STREAM_BYTES ((uint64_t)160 << 20) /* five 32 MiB batches */

static pid_t killed_writer(const char *dir)
{
	int ready[2];
	cr_assert_eq(pipe(ready), 0);
	pid_t pid = fork();
	if (pid == 0) {
		lrd_store *s;
		lrd_store_writer *w;
		lrd_dtype dt;
		lrd_dtype_parse("|u1", &dt);
		uint64_t n = STREAM_BYTES;
		static uint8_t piece[1 << 20];
		memset(piece, 7, sizeof piece);
		if (lrd_store_open(dir, &(lrd_store_options){.flags = LRD_STORE_NOSYNC}, &s) ||
		    lrd_store_writer_new(s, NULL, "big", dt, 1, &n, LRD_ORDER_C, NULL, &w))
			_exit(1);
		for (uint64_t off = 0; off < STREAM_BYTES / 2 + (8 << 20); off += sizeof piece)
			if (lrd_store_writer_write(w, piece, sizeof piece))
				_exit(2);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		pause(); /* killed here, mid-stream, with batches committed */
		_exit(4);
	}
	char c;
	close(ready[1]);
	cr_assert_eq(read(ready[0], &c, 1), 1, "the writer got halfway");
	close(ready[0]);
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	cr_assert(WIFSIGNALED(status));
	return pid;
}

static uint64_t orphans(lrd_store *s)
{
	lrd_verify_report rep;
	cr_assert_eq(lrd_store_verify(s, NULL, NULL, &rep), LRD_OK, "%s", lrd_errmsg());
	return rep.orphan_chunks;
}

Test(store,
     a_streaming_writer_killed_mid_way_leaves_orphans_that_the_next_writer_or_compact_removes,
     .timeout = 300)
{
	char *dir = tc_tmpdir();
	lrd_store *s;
	lrd_store_options o = {.flags = LRD_STORE_NOSYNC};
	cr_assert_eq(lrd_store_open(dir, &o, &s), LRD_OK);
	lrd_value *old = fx_floats(100);
	cr_assert_eq(lrd_store_put(s, NULL, "big", old, NULL), LRD_OK);
	lrd_store_close(s);

	killed_writer(dir);
	cr_assert_eq(lrd_store_open(dir, &o, &s), LRD_OK);
	lrd_value *back;
	cr_assert_eq(lrd_store_get(s, NULL, "big", &back), LRD_OK, "the old object stays");
	cr_expect_eq(lrd_array_nbytes(back), 800);
	lrd_value_free(back);
	cr_expect_gt(orphans(s), 0, "verify reports the killed writer's chunks");
	/* the next writer of the key removes them */
	lrd_store_writer *w;
	lrd_dtype dt;
	lrd_dtype_parse("|u1", &dt);
	uint64_t n = 10;
	cr_assert_eq(lrd_store_writer_new(s, NULL, "big", dt, 1, &n, LRD_ORDER_C, NULL, &w),
	             LRD_OK);
	cr_assert_eq(lrd_store_writer_write(w, "0123456789", 10), LRD_OK);
	cr_assert_eq(lrd_store_writer_finish(w), LRD_OK, "%s", lrd_errmsg());
	lrd_store_writer_free(w);
	cr_expect_eq(orphans(s), 0, "the next writer of the key removed them");
	lrd_store_close(s);

	killed_writer(dir);
	cr_assert_eq(lrd_store_open(dir, &o, &s), LRD_OK);
	cr_expect_gt(orphans(s), 0);
	char dst[4200];
	snprintf(dst, sizeof dst, "%s/copy", dir);
	cr_assert_eq(lrd_store_compact(s, dst), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(orphans(s), 0, "compact removed them from the store");
	lrd_store_close(s);
	cr_assert_eq(lrd_store_open(dst, &o, &s), LRD_OK);
	cr_expect_eq(orphans(s), 0, "and the copy has none");
	cr_expect_eq(lrd_store_exists(s, NULL, "big"), 1);
	lrd_store_close(s);
	lrd_value_free(old);
	tc_rmtree(dir);
	free(dir);
}

/* A whole stream, and one freed unfinished, leave no orphans either. */
Test(store, a_batched_stream_appears_whole_and_a_freed_unfinished_one_cleans_up, .timeout = 300)
{
	char *dir = tc_tmpdir();
	lrd_store *s;
	cr_assert_eq(lrd_store_open(dir, &(lrd_store_options){.flags = LRD_STORE_NOSYNC}, &s),
	             LRD_OK);
	lrd_dtype dt;
	lrd_dtype_parse("|u1", &dt);
	uint64_t n = STREAM_BYTES;
	static uint8_t piece[1 << 20];
	for (int round = 0; round < 2; round++) {
		lrd_store_writer *w;
		cr_assert_eq(lrd_store_writer_new(s, NULL, "k", dt, 1, &n, LRD_ORDER_C, NULL, &w),
		             LRD_OK);
		uint64_t upto = round == 0 ? STREAM_BYTES : STREAM_BYTES / 2;
		for (uint64_t off = 0; off < upto; off += sizeof piece) {
			memset(piece, (int)(off >> 20), sizeof piece);
			cr_assert_eq(lrd_store_writer_write(w, piece, sizeof piece), LRD_OK);
			if (round == 0 && off == STREAM_BYTES / 2)
				cr_assert_eq(lrd_store_exists(s, NULL, "k"), 0,
				             "not visible before finish");
		}
		if (round == 0)
			cr_assert_eq(lrd_store_writer_finish(w), LRD_OK, "%s", lrd_errmsg());
		lrd_store_writer_free(w);
		cr_expect_eq(orphans(s), 0, "round %d", round);
	}
	lrd_store_reader *r;
	cr_assert_eq(lrd_store_reader_new(s, NULL, "k", &r), LRD_OK);
	uint8_t b;
	cr_assert_eq(lrd_store_reader_read_range(r, STREAM_BYTES - 1, &b, 1), LRD_OK);
	cr_expect_eq(b, (uint8_t)((STREAM_BYTES - 1) >> 20));
	lrd_store_reader_free(r);
	lrd_store_close(s);
	tc_rmtree(dir);
	free(dir);
}
