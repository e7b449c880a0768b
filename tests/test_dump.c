/* dump: round trips of every value kind and dtype through every stream kind, whole-file and
 * per-chunk codecs, mapped loads, partial loads and out-of-core array streams. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <larder.h>

#include "tests/common/common.h"

#define OK(expr)                                                                                   \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		cr_assert_eq(rc_, LRD_OK, "%s: %s (%s)", #expr, lrd_errname(rc_), lrd_errmsg());   \
	} while (0)

static lrd_value *array_of(const char *typestr, unsigned ndim, const uint64_t *shape, lrd_order o)
{
	lrd_dtype dt;
	lrd_value *a;
	OK(lrd_dtype_parse(typestr, &dt));
	OK(lrd_array_new(dt, ndim, shape, o, &a));
	tc_fill_random(lrd_array_data(a), lrd_array_nbytes(a));
	return a;
}

static void put(lrd_value *map, const char *key, lrd_value *item)
{
	OK(lrd_map_set(map, key, item));
}

/* A tree holding every kind and every dtype. */
static lrd_value *sample_tree(void)
{
	static const char *dtypes[] = {"|b1", "|i1", "|u1",  "<i2", ">i2", "<i4",
	                               ">u4", "<i8", ">u8",  "<f2", ">f4", "<f8",
	                               ">f8", "<c8", ">c16", "|S7", "<u2"};
	lrd_value *root, *v, *list, *arrays;
	OK(lrd_value_new_map(&root));
	OK(lrd_value_new_nil(&v));
	put(root, "nil", v);
	OK(lrd_value_new_bool(true, &v));
	put(root, "yes", v);
	OK(lrd_value_new_bool(false, &v));
	put(root, "no", v);
	OK(lrd_value_new_int(INT64_MIN, &v));
	put(root, "int", v);
	OK(lrd_value_new_float(-0.0, &v));
	put(root, "negzero", v);
	OK(lrd_value_new_float(NAN, &v));
	put(root, "nan", v);
	OK(lrd_value_new_str("h\xc3\xa9llo \xe2\x82\xac", SIZE_MAX, &v));
	put(root, "str", v);
	OK(lrd_value_new_str("a\0b", 3, &v));
	put(root, "nul", v);
	OK(lrd_value_new_bytes("\x00\xff\x01", 3, &v));
	put(root, "bytes", v);
	OK(lrd_value_new_bytes(NULL, 0, &v));
	put(root, "empty", v);
	OK(lrd_value_new_list(&list));
	OK(lrd_value_new_int(1, &v));
	OK(lrd_list_append(list, v));
	OK(lrd_value_new_list(&v));
	OK(lrd_list_append(list, v));
	OK(lrd_value_new_map(&v));
	OK(lrd_list_append(list, v));
	put(root, "list", list);
	OK(lrd_value_new_map(&arrays));
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
		uint64_t shape[2] = {3 + i, 5};
		put(arrays, dtypes[i],
		    array_of(dtypes[i], 2, shape, i % 2 ? LRD_ORDER_F : LRD_ORDER_C));
	}
	uint64_t zero[3] = {4, 0, 2};
	put(arrays, "empty", array_of("<f8", 3, zero, LRD_ORDER_C));
	put(arrays, "scalar", array_of("<i4", 0, NULL, LRD_ORDER_C));
	uint64_t big[1] = {100000}; /* several chunks at 16 KiB */
	put(arrays, "big", array_of("<f8", 1, big, LRD_ORDER_C));
	put(root, "arrays", arrays);
	return root;
}

static void roundtrip_memory(const lrd_dump_options *dopts)
{
	lrd_value *v = sample_tree(), *back;
	void *buf;
	size_t n;
	OK(lrd_dump_memory(v, &buf, &n, dopts));
	OK(lrd_load_memory(buf, n, &back, NULL));
	cr_assert(lrd_value_equal(v, back), "tree differs after a round trip");
	lrd_value_free(back);
	lrd_free(buf);
	lrd_value_free(v);
}

Test(dump, every_kind_and_dtype_round_trips_through_memory)
{
	roundtrip_memory(NULL);
	lrd_dump_options o = {.chunk_size = 16384};
	roundtrip_memory(&o);
}

Test(dump, every_codec_round_trips_whole_file_and_per_chunk)
{
	for (size_t i = 0; i < lrd_codec_count(); i++) {
		const lrd_codec *c = lrd_codec_at(i);
		if (c->flags & LRD_CODEC_STREAM) {
			lrd_dump_options o = {.codec = c->name, .chunk_size = 16384};
			roundtrip_memory(&o);
		}
		lrd_dump_options o = {.chunk_codec = c->name, .chunk_size = 16384};
		roundtrip_memory(&o);
	}
}

Test(dump, path_file_fd_and_callbacks_round_trip)
{
	char *dir = tc_tmpdir(), *p = tc_path(dir, "x.lrd");
	lrd_value *v = sample_tree(), *back;
	OK(lrd_dump(v, p, NULL));
	OK(lrd_load(p, &back, NULL));
	cr_assert(lrd_value_equal(v, back));
	lrd_value_free(back);

	FILE *f = fopen(p, "w+b");
	fputs("junk before", f);
	OK(lrd_dump_file(v, f, NULL));
	fseek(f, 11, SEEK_SET);
	OK(lrd_load_file(f, &back, NULL));
	cr_assert(lrd_value_equal(v, back));
	lrd_value_free(back);
	fclose(f);

	int fd = open(p, O_RDWR | O_TRUNC);
	OK(lrd_dump_fd(v, fd, NULL));
	lseek(fd, 0, SEEK_SET);
	OK(lrd_load_fd(fd, &back, NULL));
	cr_assert(lrd_value_equal(v, back));
	lrd_value_free(back);
	close(fd);
	lrd_value_free(v);
	tc_rmtree(dir);
	free(p);
	free(dir);
}

/* Callbacks over a memory buffer, without seek or size: as a socket would be. */
struct cbuf {
	unsigned char *data;
	size_t size, cap, off;
};

static int cb_write(void *ctx, const void *p, size_t n)
{
	struct cbuf *b = ctx;
	if (b->size + n > b->cap) {
		b->cap = (b->size + n) * 2;
		b->data = realloc(b->data, b->cap);
	}
	memcpy(b->data + b->size, p, n);
	b->size += n;
	return LRD_OK;
}

static ptrdiff_t cb_read(void *ctx, void *p, size_t n)
{
	struct cbuf *b = ctx;
	if (n > 1000)
		n = 1000; /* short reads, like a socket */
	if (n > b->size - b->off)
		n = b->size - b->off;
	memcpy(p, b->data + b->off, n);
	b->off += n;
	return (ptrdiff_t)n;
}

Test(dump, callbacks_without_seek_round_trip_with_short_reads)
{
	struct cbuf b = {0};
	lrd_io_callbacks cb = {.read = cb_read, .write = cb_write, .ctx = &b};
	lrd_value *v = sample_tree(), *back;
	lrd_stream *s;
	const char *codecs[] = {NULL, "gzip"};
	for (int i = 0; i < 2; i++) {
		if (codecs[i] && !lrd_codec_by_name(codecs[i]))
			continue;
		b.size = b.off = 0;
		lrd_dump_options o = {.codec = codecs[i]};
		OK(lrd_stream_open_callbacks(&cb, "w", &s));
		OK(lrd_dump_stream(v, s, &o));
		OK(lrd_stream_close(s));
		OK(lrd_stream_open_callbacks(&cb, "r", &s));
		OK(lrd_load_stream(s, &back, NULL));
		lrd_stream_close(s);
		cr_assert(lrd_value_equal(v, back));
		lrd_value_free(back);
	}
	free(b.data);
	lrd_value_free(v);
}

Test(dump, a_real_pipe_carries_a_dump)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	lrd_value *v = sample_tree(), *back;
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		lrd_dump_options o = {.codec = lrd_codec_by_name("gzip") ? "gzip" : NULL};
		_exit(lrd_dump_fd(v, fds[1], &o) == LRD_OK ? 0 : 1);
	}
	close(fds[1]);
	OK(lrd_load_fd(fds[0], &back, NULL));
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert(lrd_value_equal(v, back));
	lrd_value_free(back);
	lrd_value_free(v);
}

Test(dump, mmap_load_gives_aligned_mapped_arrays)
{
	char *dir = tc_tmpdir(), *p = tc_path(dir, "m.lrd");
	lrd_value *v = sample_tree(), *back;
	OK(lrd_dump(v, p, &(lrd_dump_options){.chunk_size = 16384}));
	OK(lrd_load(p, &back, &(lrd_load_options){.mmap = true, .verify = true}));
	cr_assert(lrd_value_equal(v, back));
	lrd_value *big = lrd_map_get(lrd_map_get(back, "arrays"), "big");
	cr_assert_eq(lrd_array_bufkind(big), LRD_BUF_MAPPED);
	cr_assert_eq((uintptr_t)lrd_array_cdata(big) % 64, 0);
	/* the map outlives the file and the rest of the tree */
	unlink(p);
	lrd_value *keep;
	OK(lrd_value_clone(big, &keep));
	lrd_value_free(back);
	lrd_value_free(keep);
	lrd_value_free(v);
	tc_rmtree(dir);
	free(p);
	free(dir);
}

Test(dump, mmap_of_a_whole_file_compressed_file_is_einval)
{
	if (!lrd_codec_by_name("gzip"))
		cr_skip_test("no gzip codec in this build");
	char *dir = tc_tmpdir(), *p = tc_path(dir, "m.lrd.gz");
	lrd_value *v = sample_tree(), *back;
	OK(lrd_dump(v, p, NULL));
	cr_assert_eq(lrd_load(p, &back, &(lrd_load_options){.mmap = true}), LRD_EINVAL);
	cr_assert(strstr(lrd_errmsg(), "gzip"), "%s", lrd_errmsg());
	lrd_value_free(v);
	tc_rmtree(dir);
	free(p);
	free(dir);
}

Test(dump, entry_and_range_load_without_the_rest)
{
	char *dir = tc_tmpdir(), *p = tc_path(dir, "e.lrd");
	lrd_value *v = sample_tree(), *e;
	for (int chunked = 0; chunked < 2; chunked++) {
		lrd_dump_options o = {.chunk_size = 16384, .chunk_codec = chunked ? "lz4" : NULL};
		if (o.chunk_codec && !lrd_codec_by_name(o.chunk_codec))
			continue;
		OK(lrd_dump(v, p, &o));
		OK(lrd_load_entry(p, "list/0", &e, NULL));
		cr_assert(lrd_value_equal(e, lrd_list_at(lrd_map_get(v, "list"), 0)));
		lrd_value_free(e);
		OK(lrd_load_entry(p, "arrays/<f8", &e, NULL));
		cr_assert(lrd_value_equal(e, lrd_map_get(lrd_map_get(v, "arrays"), "<f8")));
		lrd_value_free(e);
		cr_assert_eq(lrd_load_entry(p, "arrays/nope", &e, NULL), LRD_ENOTFOUND);
		cr_assert(strstr(lrd_errmsg(), "nope"));
		const lrd_value *big = lrd_map_get(lrd_map_get(v, "arrays"), "big");
		unsigned char got[40000];
		OK(lrd_load_range(p, "arrays/big", 12345, got, sizeof got, NULL));
		cr_assert(memcmp(got, (const char *)lrd_array_cdata(big) + 12345, sizeof got) == 0);
		cr_assert_eq(lrd_load_range(p, "arrays/big", 799990, got, 20, NULL), LRD_EINVAL);
		cr_assert_eq(lrd_load_range(p, "str", 0, got, 1, NULL), LRD_EINVAL);
	}
	lrd_value_free(v);
	tc_rmtree(dir);
	free(p);
	free(dir);
}

Test(dump, array_writer_and_reader_stream_out_of_core)
{
	const char *cc[] = {NULL, "lz4", "blosc"};
	for (int k = 0; k < 3; k++) {
		if (cc[k] && !lrd_codec_by_name(cc[k]))
			continue;
		lrd_stream *s;
		lrd_array_writer *w;
		lrd_dtype dt;
		OK(lrd_dtype_parse("<i8", &dt));
		uint64_t shape[2] = {1000, 37};
		size_t nbytes = 1000 * 37 * 8;
		int64_t *ramp = malloc(nbytes);
		tc_fill_ramp(ramp, nbytes / 8);
		OK(lrd_stream_open_membuf(&s));
		lrd_dump_options o = {.chunk_size = 4096, .chunk_codec = cc[k]};
		OK(lrd_array_writer_new(s, dt, 2, shape, LRD_ORDER_C, &o, &w));
		for (size_t off = 0; off < nbytes;) {
			size_t step = 1 + tc_rand() % 9000;
			if (step > nbytes - off)
				step = nbytes - off;
			OK(lrd_array_writer_write(w, (char *)ramp + off, step));
			off += step;
		}
		cr_assert_eq(lrd_array_writer_write(w, ramp, 1), LRD_EINVAL);
		OK(lrd_array_writer_finish(w));
		lrd_array_writer_free(w);
		void *file;
		size_t fsize;
		OK(lrd_stream_take_memory(s, &file, &fsize));
		lrd_stream_close(s);

		/* as a value */
		lrd_value *back;
		OK(lrd_load_memory(file, fsize, &back, NULL));
		cr_assert(memcmp(lrd_array_cdata(back), ramp, nbytes) == 0);
		lrd_value_free(back);

		/* chunk by chunk */
		lrd_array_reader *r;
		OK(lrd_stream_open_memory(file, fsize, &s));
		OK(lrd_array_reader_new(s, NULL, &r));
		uint64_t total;
		lrd_array_reader_describe(r, NULL, NULL, NULL, NULL, &total);
		cr_assert_eq(total, nbytes);
		unsigned char sample[3000];
		OK(lrd_array_reader_read_range(r, 100001, sample, sizeof sample));
		cr_assert(memcmp(sample, (char *)ramp + 100001, sizeof sample) == 0);
		size_t at = 0;
		const void *chunk;
		size_t n;
		for (;;) {
			OK(lrd_array_reader_next(r, &chunk, &n));
			if (n == 0)
				break;
			cr_assert(memcmp(chunk, (char *)ramp + at, n) == 0);
			at += n;
		}
		cr_assert_eq(at, nbytes);
		lrd_array_reader_free(r);
		lrd_stream_close(s);
		lrd_free(file);
		free(ramp);
	}
}

Test(dump, options_with_nonzero_reserved_words_are_refused)
{
	uint64_t shape[1] = {1000};
	lrd_value *a = array_of("<f8", 1, shape, LRD_ORDER_C), *back = NULL;
	void *file;
	size_t fsize;
	lrd_dump_options d = {0};
	d.reserved[7] = 1;
	cr_expect_eq(lrd_dump_memory(a, &file, &fsize, &d), LRD_EINVAL);
	cr_expect(strstr(lrd_errmsg(), "lrd_dump_options.reserved[7]"), "%s", lrd_errmsg());
	d = (lrd_dump_options){.chunk_codec = "lz4"};
	d.chunk_params.reserved[0] = 1;
	cr_expect_eq(lrd_dump_memory(a, &file, &fsize, &d), LRD_EINVAL);
	OK(lrd_dump_memory(a, &file, &fsize, NULL));
	lrd_load_options l = {0};
	l.reserved[0] = 1;
	cr_expect_eq(lrd_load_memory(file, fsize, &back, &l), LRD_EINVAL);
	cr_expect_null(back);
	lrd_stream *s;
	OK(lrd_stream_open_memory(file, fsize, &s));
	lrd_array_reader *r;
	cr_expect_eq(lrd_array_reader_new(s, &l, &r), LRD_EINVAL);
	cr_expect_eq(lrd_load_entry_stream(s, "", &back, &l), LRD_EINVAL);
	cr_expect_eq(lrd_scan(s, &l, NULL, NULL, NULL), LRD_EINVAL);
	double x;
	cr_expect_eq(lrd_load_range_stream(s, "", 0, &x, sizeof x, &l), LRD_EINVAL);
	lrd_stream_close(s);
	lrd_free(file);
	lrd_value_free(a);
}

Test(dump, array_writer_keeps_its_own_copy_of_the_chunk_params)
{
	char *inner = strdup("zstd");
	lrd_dump_options o = {.chunk_codec = "blosc", .chunk_params = {.inner = inner}};
	lrd_dtype dt;
	OK(lrd_dtype_parse("<f8", &dt));
	uint64_t shape[1] = {100000};
	lrd_stream *s;
	OK(lrd_stream_open_membuf(&s));
	lrd_array_writer *w;
	OK(lrd_array_writer_new(s, dt, 1, shape, LRD_ORDER_C, &o, &w));
	strcpy(inner, "nope"); /* the caller's string changes after the call */
	double *data = malloc(shape[0] * sizeof *data);
	tc_fill_floats(data, shape[0]);
	OK(lrd_array_writer_write(w, data, shape[0] * sizeof *data));
	OK(lrd_array_writer_finish(w));
	lrd_array_writer_free(w);
	void *file;
	size_t fsize;
	OK(lrd_stream_take_memory(s, &file, &fsize));
	lrd_stream_close(s);
	lrd_value *back;
	OK(lrd_load_memory(file, fsize, &back, NULL));
	cr_expect(memcmp(lrd_array_cdata(back), data, shape[0] * sizeof *data) == 0);
	lrd_value_free(back);
	lrd_free(file);
	free(data);
	free(inner);
}

/* ---- chunk threads (lrd_dump_options.threads, lrd_load_options.threads) ------------------ */

static const int thread_counts[] = {1, 2, 8};
#define NTHREADS (sizeof thread_counts / sizeof thread_counts[0])

/* A ramp array of n int64 (compressible, so chunks really are compressed). */
static lrd_value *ramp_array(size_t n)
{
	lrd_dtype dt;
	lrd_value *a;
	uint64_t shape[1] = {n};
	OK(lrd_dtype_parse("<i8", &dt));
	OK(lrd_array_new(dt, 1, shape, LRD_ORDER_C, &a));
	tc_fill_ramp(lrd_array_data(a), n);
	return a;
}

Test(dump, chunk_threads_1_2_8_write_identical_files_that_load_with_1_2_8)
{
	const char *codecs[] = {"lz4", "zlib", "gzip", "blosc", "zstd"};
	for (size_t k = 0; k < sizeof codecs / sizeof codecs[0]; k++) {
		if (!lrd_codec_by_name(codecs[k]))
			continue;
		lrd_value *root, *a = ramp_array(200000); /* 98 chunks of 16 KiB */
		OK(lrd_value_new_map(&root));
		put(root, "ramp", a);
		put(root, "tree", sample_tree());
		void *first = NULL;
		size_t first_n = 0;
		for (size_t t = 0; t < NTHREADS; t++) {
			lrd_dump_options o = {.chunk_codec = codecs[k],
			                      .chunk_size = 16384,
			                      .threads = thread_counts[t]};
			void *buf;
			size_t n;
			OK(lrd_dump_memory(root, &buf, &n, &o));
			if (!first) {
				first = buf;
				first_n = n;
			} else {
				cr_expect(n == first_n && memcmp(buf, first, n) == 0,
				          "%s: %d threads wrote a different file than 1 thread",
				          codecs[k], thread_counts[t]);
				lrd_free(buf);
			}
		}
		for (size_t t = 0; t < NTHREADS; t++) {
			lrd_load_options lo = {.threads = thread_counts[t]};
			lrd_value *back;
			OK(lrd_load_memory(first, first_n, &back, &lo));
			cr_expect(lrd_value_equal(root, back), "%s: loaded with %d threads differs",
			          codecs[k], thread_counts[t]);
			lrd_value_free(back);
		}
		lrd_free(first);
		lrd_value_free(root);
	}
}

Test(dump, array_writer_with_1_2_8_threads_writes_what_dump_writes)
{
	size_t count = 150000, nbytes = count * 8;
	lrd_value *a = ramp_array(count);
	void *want;
	size_t want_n;
	lrd_dump_options o = {.chunk_codec = "lz4", .chunk_size = 8192, .threads = 1};
	OK(lrd_dump_memory(a, &want, &want_n, &o));
	for (size_t t = 0; t < NTHREADS; t++) {
		o.threads = thread_counts[t];
		lrd_stream *s;
		lrd_array_writer *w;
		uint64_t shape[1] = {count};
		OK(lrd_stream_open_membuf(&s));
		OK(lrd_array_writer_new(s, lrd_array_dtype(a), 1, shape, LRD_ORDER_C, &o, &w));
		/* pieces of every size: some cover whole chunks, most are gathered */
		const char *src = lrd_array_cdata(a);
		for (size_t off = 0; off < nbytes;) {
			size_t step = 1 + tc_rand() % 40000;
			if (step > nbytes - off)
				step = nbytes - off;
			OK(lrd_array_writer_write(w, src + off, step));
			off += step;
		}
		OK(lrd_array_writer_finish(w));
		lrd_array_writer_free(w);
		void *got;
		size_t got_n;
		OK(lrd_stream_take_memory(s, &got, &got_n));
		lrd_stream_close(s);
		cr_expect(got_n == want_n && memcmp(got, want, got_n) == 0,
		          "array writer with %d threads: file differs from lrd_dump's",
		          thread_counts[t]);
		lrd_free(got);
	}
	lrd_free(want);
	lrd_value_free(a);
}

Test(dump, threaded_load_of_a_damaged_chunk_names_it)
{
	lrd_value *a = ramp_array(100000);
	lrd_dump_options o = {.chunk_codec = "lz4", .chunk_size = 16384};
	void *buf;
	size_t n;
	OK(lrd_dump_memory(a, &buf, &n, &o));
	((unsigned char *)buf)[n / 2] ^= 0x40; /* inside some chunk's stored bytes */
	for (size_t t = 0; t < NTHREADS; t++) {
		lrd_load_options lo = {.threads = thread_counts[t]};
		lrd_value *back = NULL;
		int rc = lrd_load_memory(buf, n, &back, &lo);
		cr_expect(rc == LRD_ECHECKSUM || rc == LRD_ECORRUPT,
		          "%d threads: damaged chunk gave %s", thread_counts[t], lrd_errname(rc));
		cr_expect(strstr(lrd_errmsg(), "chunk "), "%d threads: message '%s' names no chunk",
		          thread_counts[t], lrd_errmsg());
		cr_expect_null(back);
	}
	lrd_free(buf);
	lrd_value_free(a);
}

/* Raw (contiguous) arrays: whole chunks are checksummed on the chunk pool while written, other
 * pieces inline; files from lrd_dump and from the array writer in pieces of every size are
 * byte-identical with 1, 2 and 8 threads, and load back. */
Test(dump, raw_dumps_with_1_2_8_threads_write_identical_files)
{
	size_t count = 150000, nbytes = count * 8;
	lrd_value *a = ramp_array(count);
	const char *src = lrd_array_cdata(a);
	void *want;
	size_t want_n;
	lrd_dump_options o = {.chunk_size = 8192, .threads = 1};
	OK(lrd_dump_memory(a, &want, &want_n, &o));
	for (size_t t = 0; t < NTHREADS; t++) {
		o.threads = thread_counts[t];
		void *got;
		size_t got_n;
		OK(lrd_dump_memory(a, &got, &got_n, &o));
		cr_expect(got_n == want_n && memcmp(got, want, got_n) == 0,
		          "raw dump with %d threads differs", thread_counts[t]);
		lrd_free(got);
		lrd_stream *s;
		lrd_array_writer *w;
		OK(lrd_stream_open_membuf(&s));
		OK(lrd_array_writer_new(s, lrd_array_dtype(a), 1, (uint64_t[]){count}, LRD_ORDER_C,
		                        &o, &w));
		for (size_t off = 0; off < nbytes;) { /* some pieces hold whole chunks, some not */
			size_t step = 1 + tc_rand() % 40000;
			if (step > nbytes - off)
				step = nbytes - off;
			OK(lrd_array_writer_write(w, src + off, step));
			off += step;
		}
		OK(lrd_array_writer_finish(w));
		lrd_array_writer_free(w);
		OK(lrd_stream_take_memory(s, &got, &got_n));
		lrd_stream_close(s);
		cr_expect(got_n == want_n && memcmp(got, want, got_n) == 0,
		          "raw array writer with %d threads differs from lrd_dump's",
		          thread_counts[t]);
		lrd_value *back;
		OK(lrd_load_memory(got, got_n, &back, NULL));
		cr_expect(lrd_value_equal(a, back));
		lrd_value_free(back);
		lrd_free(got);
	}
	lrd_free(want);
	lrd_value_free(a);
}

/* lrd_load_options.threads in lrd_array_reader_next: chunks decoded ahead on the chunk pool
 * still come out one by one, in order, each whole and equal to what was written. */
Test(dump, array_reader_with_1_2_8_threads_hands_out_every_chunk_in_order)
{
	const char *codecs[] = {"lz4", "zstd", "blosc", "zlib"};
	size_t count = 150000, nbytes = count * 8, cs = 16384;
	lrd_value *a = ramp_array(count);
	const char *src = lrd_array_cdata(a);
	for (size_t k = 0; k < sizeof codecs / sizeof codecs[0]; k++) {
		if (!lrd_codec_by_name(codecs[k]))
			continue;
		lrd_dump_options o = {.chunk_codec = codecs[k], .chunk_size = cs};
		void *file;
		size_t fsize;
		OK(lrd_dump_memory(a, &file, &fsize, &o));
		for (size_t t = 0; t < NTHREADS; t++) {
			lrd_load_options lo = {.threads = thread_counts[t]};
			lrd_stream *s;
			lrd_array_reader *r;
			OK(lrd_stream_open_memory(file, fsize, &s));
			OK(lrd_array_reader_new(s, &lo, &r));
			size_t at = 0, chunks = 0;
			const void *chunk;
			size_t n;
			for (;;) {
				OK(lrd_array_reader_next(r, &chunk, &n));
				if (n == 0)
					break;
				cr_assert_eq(n, nbytes - at < cs ? nbytes - at : cs,
				             "%s, %d threads: chunk %zu has %zu bytes", codecs[k],
				             thread_counts[t], chunks, n);
				cr_assert(memcmp(chunk, src + at, n) == 0,
				          "%s, %d threads: chunk %zu differs", codecs[k],
				          thread_counts[t], chunks);
				if (chunks == 3) { /* a range read in between leaves next() alone */
					unsigned char sample[5000];
					OK(lrd_array_reader_read_range(r, 70001, sample,
					                               sizeof sample));
					cr_assert(memcmp(sample, src + 70001, sizeof sample) == 0);
				}
				at += n;
				chunks++;
			}
			cr_expect_eq(at, nbytes);
			cr_expect_eq(chunks, (nbytes + cs - 1) / cs);
			OK(lrd_array_reader_next(r, &chunk, &n)); /* and it stays at the end */
			cr_expect_eq(n, 0);
			lrd_array_reader_free(r);
			lrd_stream_close(s);
		}
		lrd_free(file);
	}
	lrd_value_free(a);
}

/* A damaged chunk in the middle: every chunk before it is handed out first, then its error,
 * naming it, on this call and every later one — whatever was decoded ahead of it. */
Test(dump, array_reader_with_threads_reports_a_damaged_middle_chunk_at_its_turn)
{
	size_t count = 100000, cs = 16384;
	lrd_value *a = ramp_array(count);
	const char *src = lrd_array_cdata(a);
	lrd_dump_options o = {.chunk_codec = "lz4", .chunk_size = cs};
	void *buf;
	size_t n;
	OK(lrd_dump_memory(a, &buf, &n, &o));
	((unsigned char *)buf)[n / 2] ^= 0x40; /* inside some chunk's stored bytes */
	for (size_t t = 0; t < NTHREADS; t++) {
		lrd_load_options lo = {.threads = thread_counts[t]};
		lrd_stream *s;
		lrd_array_reader *r;
		OK(lrd_stream_open_memory(buf, n, &s));
		OK(lrd_array_reader_new(s, &lo, &r));
		size_t good = 0;
		const void *chunk;
		size_t len;
		int rc;
		while ((rc = lrd_array_reader_next(r, &chunk, &len)) == LRD_OK && len) {
			cr_assert(memcmp(chunk, src + good * cs, len) == 0,
			          "%d threads: chunk %zu differs", thread_counts[t], good);
			good++;
		}
		cr_expect(rc == LRD_ECHECKSUM || rc == LRD_ECORRUPT, "%d threads: %s",
		          thread_counts[t], lrd_errname(rc));
		cr_expect(good > 0 && good < count * 8 / cs, "%d threads: %zu good chunks",
		          thread_counts[t], good);
		char want[64], first[512];
		snprintf(want, sizeof want, "chunk %zu of the root", good);
		snprintf(first, sizeof first, "%s", lrd_errmsg());
		cr_expect(strstr(first, want), "%d threads: '%s' does not name %s",
		          thread_counts[t], first, want);
		cr_expect_eq(lrd_array_reader_next(r, &chunk, &len), rc);
		cr_expect_str_eq(lrd_errmsg(), first);
		cr_expect_null(chunk);
		lrd_array_reader_free(r);
		lrd_stream_close(s);
	}
	lrd_free(buf);
	lrd_value_free(a);
}

Test(dump, a_forked_child_dumps_with_threads_of_its_own)
{
	lrd_value *a = ramp_array(100000);
	lrd_dump_options o = {.chunk_codec = "lz4", .chunk_size = 16384, .threads = 2};
	void *buf;
	size_t n;
	OK(lrd_dump_memory(a, &buf, &n, &o)); /* the parent's workers exist now */
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		void *cbuf;
		size_t cn;
		lrd_value *back = NULL;
		lrd_load_options lo = {.threads = 2};
		int ok = lrd_dump_memory(a, &cbuf, &cn, &o) == LRD_OK && cn == n &&
		         memcmp(cbuf, buf, n) == 0 &&
		         lrd_load_memory(cbuf, cn, &back, &lo) == LRD_OK &&
		         lrd_value_equal(a, back);
		_exit(ok ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	          "the child's threaded dump and load failed (status %d)", status);
	lrd_free(buf);
	lrd_value_free(a);
}

/* ---- a small file that legitimately holds much (issue 9.11) -------------------------------- */

#define BIG ((size_t)256 << 20)

/* A 12 KB file holding a 256 MiB array of zeros in zstd chunks. */
static void make_zstd_zeros(const char *path)
{
	lrd_dtype dt;
	lrd_value *a;
	uint64_t shape[1] = {BIG};
	if (lrd_dtype_parse("|u1", &dt) || lrd_array_new(dt, 1, shape, LRD_ORDER_C, &a))
		_exit(1);
	lrd_dump_options o = {.chunk_codec = "zstd", .threads = 1};
	_exit(lrd_dump(a, path, &o) ? 2 : 0);
}

static void expect_zeros(lrd_value *v)
{
	cr_assert_eq(lrd_value_kind(v), LRD_KIND_ARRAY);
	cr_assert_eq(lrd_array_nbytes(v), BIG);
	const uint64_t *p = lrd_array_cdata(v);
	cr_assert_eq((uintptr_t)p % 64, 0, "loaded array data is not 64-byte aligned");
	uint64_t acc = 0;
	for (size_t i = 0; i < BIG / 8; i++)
		acc |= p[i];
	cr_assert_eq(acc, 0);
}

Test(dump, a_small_file_of_many_zeros_in_zstd_chunks_loads_by_path_and_pipe)
{
	/* the quick start builds the plugin, and this program (linked dynamically) finds it */
	cr_assert_not_null(lrd_codec_by_name("zstd"), "zstd plugin not found");
	char *dir = tc_tmpdir(), *path = tc_path(dir, "zeros.lrd");
	cr_assert(tc_in_child(make_zstd_zeros, path), "generator of %s failed", path);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_lt(st.st_size, 64 << 10, "%lld bytes", (long long)st.st_size);
	lrd_value *v;
	for (int threads = 1; threads <= 2; threads++) {
		lrd_load_options o = {.threads = threads};
		OK(lrd_load(path, &v, &o));
		expect_zeros(v);
		lrd_value_free(v);
	}
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		size_t n;
		void *bytes = tc_read_file(path, &n);
		_exit(bytes && write(fds[1], bytes, n) == (ssize_t)n ? 0 : 1);
	}
	close(fds[1]);
	OK(lrd_load_fd(fds[0], &v, NULL));
	close(fds[0]);
	waitpid(pid, NULL, 0);
	expect_zeros(v);
	lrd_value_free(v);
	/* and an explicit bound below its size refuses it */
	cr_expect_eq(lrd_load(path, &v, &(lrd_load_options){.max_total_bytes = BIG - 1}),
	             LRD_ELIMIT);
	tc_rmtree(dir);
	free(path);
	free(dir);
}
