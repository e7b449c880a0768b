/* io: the stream abstraction (io.h) — ownership of memory buffers, error propagation from
 * callbacks and files — and the memory bound of dump and load: a 256 MiB array goes through
 * callback streams with a peak resident size of the array plus a few chunks, never a copy. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <larder.h>

#include "tests/common/common.h"

#define OK(expr)                                                                                   \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		cr_assert_eq(rc_, LRD_OK, "%s: %s (%s)", #expr, lrd_errname(rc_), lrd_errmsg());   \
	} while (0)

Test(io, membuf_hands_its_buffer_to_the_caller)
{
	lrd_stream *s;
	void *p;
	size_t n;
	OK(lrd_stream_open_membuf(&s));
	OK(lrd_dump_stream(NULL, s, NULL) == LRD_EINVAL ? LRD_OK : LRD_EIO);
	lrd_value *v;
	OK(lrd_value_new_int(7, &v));
	OK(lrd_dump_stream(v, s, NULL));
	OK(lrd_stream_take_memory(s, &p, &n));
	cr_assert_gt(n, 40);
	cr_assert(memcmp(p, "\x89LRD\r\n\x1a\n", 8) == 0);
	void *q;
	size_t m;
	OK(lrd_stream_take_memory(s, &q, &m));
	cr_assert_eq(m, 0, "the buffer was handed over once");
	lrd_stream_close(s);
	lrd_value *back;
	OK(lrd_load_memory(p, n, &back, NULL));
	cr_assert(lrd_value_equal(v, back));
	lrd_free(p);
	lrd_free(q);
	lrd_value_free(v);
	lrd_value_free(back);
}

Test(io, bad_arguments_and_missing_files)
{
	lrd_stream *s;
	cr_assert_eq(lrd_stream_open_path("/nonexistent/x.lrd", "r", &s), LRD_ENOTFOUND);
	cr_assert_eq(lrd_stream_open_path("/tmp/x", "rw", &s), LRD_EINVAL);
	cr_assert_eq(lrd_stream_open_callbacks(&(lrd_io_callbacks){0}, "r", &s), LRD_EINVAL);
	lrd_value *v;
	cr_assert_eq(lrd_load("/nonexistent/x.lrd", &v, NULL), LRD_ENOTFOUND);
	cr_assert_null(v);
	OK(lrd_stream_open_memory("x", 1, &s));
	void *p;
	size_t n;
	cr_assert_eq(lrd_stream_take_memory(s, &p, &n), LRD_EINVAL);
	lrd_stream_close(s);
	cr_assert_eq(lrd_stream_close(NULL), LRD_OK);
}

Test(io, a_failed_open_for_writing_reports_the_path_and_the_system_error)
{
	lrd_stream *s = (lrd_stream *)1;
	cr_assert_eq(lrd_stream_open_path("/nonexistent-dir/x.lrd", "w", &s), LRD_EIO);
	cr_expect_null(s);
	const char *m = lrd_errmsg();
	cr_expect(strstr(m, "/nonexistent-dir/x.lrd"), "%s", m);
	cr_expect(strstr(m, strerror(ENOENT)), "%s", m);
	cr_expect(!strstr(m, "not writable"), "%s", m);
	/* the same through lrd_dump, and for a directory that is not writable as a file */
	lrd_value *v;
	OK(lrd_value_new_int(1, &v));
	cr_expect_eq(lrd_dump(v, "/nonexistent-dir/x.lrd", NULL), LRD_EIO);
	cr_expect(strstr(lrd_errmsg(), strerror(ENOENT)), "%s", lrd_errmsg());
	char *dir = tc_tmpdir();
	cr_expect_eq(lrd_dump(v, dir, NULL), LRD_EIO);
	cr_expect(strstr(lrd_errmsg(), dir) && strstr(lrd_errmsg(), strerror(EISDIR)), "%s",
	          lrd_errmsg());
	tc_rmtree(dir);
	free(dir);
	lrd_value_free(v);
}

static ptrdiff_t failing_read(void *ctx, void *p, size_t n)
{
	(void)ctx, (void)p, (void)n;
	return lrd_error_set(LRD_EIO, "the network went away");
}

static int failing_write(void *ctx, const void *p, size_t n)
{
	int *calls = ctx;
	(void)p, (void)n;
	++*calls;
	return lrd_error_set(LRD_ENOSPC, "bucket full");
}

Test(io, callback_errors_reach_the_caller_with_context)
{
	int calls = 0;
	lrd_io_callbacks cb = {.read = failing_read, .write = failing_write, .ctx = &calls};
	lrd_stream *s;
	lrd_value *v;
	OK(lrd_stream_open_callbacks(&cb, "r", &s));
	cr_assert_eq(lrd_load_stream(s, &v, NULL), LRD_EIO);
	cr_assert(strstr(lrd_errmsg(), "network went away"), "%s", lrd_errmsg());
	lrd_stream_close(s);

	OK(lrd_value_new_str("x", SIZE_MAX, &v));
	OK(lrd_stream_open_callbacks(&cb, "w", &s));
	cr_assert_eq(lrd_dump_stream(v, s, NULL), LRD_ENOSPC);
	cr_assert(strstr(lrd_errmsg(), "bucket full"), "%s", lrd_errmsg());
	cr_assert_eq(lrd_dump_stream(v, s, NULL), LRD_ENOSPC, "write errors are sticky");
	lrd_stream_close(s);
	lrd_value_free(v);
}

Test(io, writing_to_a_full_device_is_enospc)
{
	int fd = open("/dev/full", O_WRONLY);
	if (fd < 0)
		cr_skip_test("no /dev/full");
	lrd_value *v;
	OK(lrd_value_new_bytes("abc", 3, &v));
	cr_assert_eq(lrd_dump_fd(v, fd, NULL), LRD_ENOSPC);
	close(fd);
	lrd_value_free(v);
}

/* ---- memory bound
 * -------------------------------------------------------------------------------- */

#define BIG ((size_t)256 << 20)

static int fd_write(void *ctx, const void *p, size_t n)
{
	return write(*(int *)ctx, p, n) == (ssize_t)n ? LRD_OK : LRD_EIO;
}

static ptrdiff_t fd_read(void *ctx, void *p, size_t n)
{
	ssize_t r = read(*(int *)ctx, p, n);
	return r < 0 ? LRD_EIO : r;
}

/* In a child (fresh high-water mark): dump a touched 256 MiB array through callbacks and
 * report the peak growth in KiB through the exit path's pipe. */
static long child_peak(const char *path, const char *chunk_codec, int load)
{
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		long grow = -1;
		int fd = open(path, load ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC, 0600);
		lrd_io_callbacks cb = {.read = fd_read, .write = fd_write, .ctx = &fd};
		lrd_stream *s;
		lrd_value *v = NULL;
		if (!load) {
			lrd_dtype dt;
			uint64_t shape[1] = {BIG / 8};
			lrd_dtype_parse("<i8", &dt);
			if (lrd_array_new(dt, 1, shape, LRD_ORDER_C, &v) == LRD_OK) {
				tc_fill_ramp(lrd_array_data(v), BIG / 8);
				long base = tc_maxrss_kib();
				lrd_dump_options o = {.chunk_codec = chunk_codec};
				if (lrd_stream_open_callbacks(&cb, "w", &s) == LRD_OK &&
				    lrd_dump_stream(v, s, &o) == LRD_OK &&
				    lrd_stream_close(s) == LRD_OK)
					grow = tc_maxrss_kib() - base;
			}
		} else {
			long base = tc_maxrss_kib();
			if (lrd_stream_open_callbacks(&cb, "r", &s) == LRD_OK &&
			    lrd_load_stream(s, &v, NULL) == LRD_OK && lrd_array_nbytes(v) == BIG)
				grow = tc_maxrss_kib() - base;
			lrd_stream_close(s);
		}
		lrd_value_free(v);
		if (write(pfd[1], &grow, sizeof grow) != sizeof grow)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	long grow = -1;
	cr_assert_eq(read(pfd[0], &grow, sizeof grow), (ssize_t)sizeof grow);
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	return grow;
}

Test(io, dump_and_load_of_256_mib_never_copy_the_array)
{
	char *dir = tc_tmpdir(), *p = tc_path(dir, "big.lrd");
	const char *codecs[] = {NULL, "lz4"};
	for (int i = 0; i < 2; i++) {
		long dump = child_peak(p, codecs[i], 0);
		long load = child_peak(p, codecs[i], 1);
		fprintf(stderr,
		        "%s chunks: dump grew RSS by %ld KiB, load by %ld KiB (array %zu KiB)\n",
		        codecs[i] ? codecs[i] : "raw", dump, load, BIG >> 10);
		cr_assert(dump >= 0 && load >= 0, "dump or load failed in the child");
		if (!tc_rss_bounds_apply("io::dump_and_load_of_256_mib_never_copy_the_array"))
			continue;
		/* dump: a couple of 4 MiB chunks and buffers, not a copy of the array (0.1-4 MiB
		 * measured) */
		cr_assert_lt(dump, 24 << 10, "dump grew by %ld KiB", dump);
		/* load: the array itself plus a couple of chunks (2-4 MiB measured) */
		cr_assert_lt(load, (long)(BIG >> 10) + (24 << 10), "load grew by %ld KiB", load);
	}
	tc_rmtree(dir);
	free(p);
	free(dir);
}
