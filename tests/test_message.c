/* message: values as self-delimiting frames (larder/message.h) — round trips of every kind,
 * several frames on one pipe, borrowed and mapped arrays, the bounds on what a frame may make
 * the decoder hold, and refusal of truncated, trailing and malformed frames. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <larder.h>

static lrd_value *sample(void)
{
	lrd_value *m, *x, *l, *a;
	cr_assert_eq(lrd_value_new_map(&m), LRD_OK);
	cr_assert_eq(lrd_value_new_int(-7, &x), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "i", x), LRD_OK);
	cr_assert_eq(lrd_value_new_float(2.5, &x), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "f", x), LRD_OK);
	cr_assert_eq(lrd_value_new_str("héllo", SIZE_MAX, &x), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "s", x), LRD_OK);
	cr_assert_eq(lrd_value_new_list(&l), LRD_OK);
	cr_assert_eq(lrd_value_new_nil(&x), LRD_OK);
	cr_assert_eq(lrd_list_append(l, x), LRD_OK);
	cr_assert_eq(lrd_value_new_bool(true, &x), LRD_OK);
	cr_assert_eq(lrd_list_append(l, x), LRD_OK);
	cr_assert_eq(lrd_value_new_bytes("\0\1\2", 3, &x), LRD_OK);
	cr_assert_eq(lrd_list_append(l, x), LRD_OK);
	lrd_dtype f8;
	cr_assert_eq(lrd_dtype_parse("<f8", &f8), LRD_OK);
	uint64_t shape[2] = {3, 5};
	cr_assert_eq(lrd_array_new(f8, 2, shape, LRD_ORDER_F, &a), LRD_OK);
	double *d = lrd_array_data(a);
	for (int i = 0; i < 15; i++)
		d[i] = i * 0.5;
	cr_assert_eq(lrd_list_append(l, a), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "list", l), LRD_OK);
	return m;
}

static lrd_value *array_value(size_t nbytes)
{
	lrd_dtype u1;
	cr_assert_eq(lrd_dtype_parse("|u1", &u1), LRD_OK);
	uint64_t n = nbytes;
	lrd_value *a;
	cr_assert_eq(lrd_array_new(u1, 1, &n, LRD_ORDER_C, &a), LRD_OK);
	memset(lrd_array_data(a), 0x5a, nbytes);
	return a;
}

Test(message, every_kind_round_trips_through_one_buffer)
{
	lrd_value *v = sample(), *back;
	void *buf;
	size_t len, flen;
	cr_assert_eq(lrd_value_encode(v, NULL, &buf, &len), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(memcmp(buf, "LRDM", 4), 0);
	cr_assert_eq(lrd_value_encoded_size(buf, len, &flen), LRD_OK);
	cr_expect_eq(flen, len);
	cr_assert_eq(lrd_value_decode(buf, len, NULL, &back), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(v, back));
	lrd_value *arr = lrd_list_at(lrd_map_get(back, "list"), 3);
	cr_expect_eq(lrd_array_bufkind(arr), LRD_BUF_OWNED, "copied without BORROW");
	lrd_value_free(back);
	lrd_free(buf);
	lrd_value_free(v);
}

Test(message, header_alone_tells_the_frame_length)
{
	lrd_value *v = array_value(1000);
	void *buf;
	size_t len, flen = 0;
	cr_assert_eq(lrd_value_encode(v, NULL, &buf, &len), LRD_OK);
	cr_expect_eq(lrd_value_encoded_size(buf, LRD_MESSAGE_HEADER_SIZE - 1, &flen), LRD_EBUFSIZE);
	cr_expect_eq(flen, LRD_MESSAGE_HEADER_SIZE);
	cr_expect_eq(lrd_value_encoded_size(buf, LRD_MESSAGE_HEADER_SIZE, &flen), LRD_OK);
	cr_expect_eq(flen, len);
	cr_expect_gt(len, 1000);
	lrd_free(buf);
	lrd_value_free(v);
}

Test(message, borrowed_array_points_into_the_buffer)
{
	lrd_value *v = array_value(8192), *back;
	void *buf;
	size_t len;
	cr_assert_eq(lrd_value_encode(v, NULL, &buf, &len), LRD_OK);
	lrd_decode_options o = {.flags = LRD_DECODE_BORROW};
	cr_assert_eq(lrd_value_decode(buf, len, &o, &back), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_array_bufkind(back), LRD_BUF_BORROWED);
	const uint8_t *p = lrd_array_cdata(back);
	cr_expect(p >= (const uint8_t *)buf && p + 8192 <= (const uint8_t *)buf + len);
	cr_expect_eq(((uintptr_t)p - (uintptr_t)buf) % 64, 0, "payload aligned to 64 in the frame");
	cr_expect(lrd_value_equal(v, back));
	lrd_value_free(back);
	lrd_free(buf);
	lrd_value_free(v);
}

Test(message, several_frames_follow_each_other_on_one_pipe)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	lrd_value *a = sample(), *b, *c = array_value(3000);
	cr_assert_eq(lrd_value_new_str("second", SIZE_MAX, &b), LRD_OK);
	cr_assert_eq(lrd_value_write_fd(fds[1], a, NULL), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_value_write_fd(fds[1], b, NULL), LRD_OK);
	cr_assert_eq(lrd_value_write_fd(fds[1], c, NULL), LRD_OK);
	close(fds[1]);
	lrd_value *r1, *r2, *r3, *end = (lrd_value *)1;
	cr_assert_eq(lrd_value_read_fd(fds[0], NULL, &r1), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_value_read_fd(fds[0], NULL, &r2), LRD_OK, "%s", lrd_errmsg());
	lrd_decode_options o = {.flags = LRD_DECODE_BORROW};
	cr_assert_eq(lrd_value_read_fd(fds[0], &o, &r3), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_value_read_fd(fds[0], NULL, &end), LRD_OK, "clean end of stream");
	cr_expect_null(end);
	close(fds[0]);
	cr_expect(lrd_value_equal(a, r1));
	cr_expect(lrd_value_equal(b, r2));
	cr_expect(lrd_value_equal(c, r3));
	cr_expect_eq(lrd_array_bufkind(r3), LRD_BUF_MAPPED, "mapped over the frame buffer");
	lrd_value_free(r1);
	lrd_value_free(r2);
	lrd_value_free(r3);
	lrd_value_free(a);
	lrd_value_free(b);
	lrd_value_free(c);
}

Test(message, mapped_arrays_share_the_frame_until_the_last_is_freed)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	lrd_value *l;
	cr_assert_eq(lrd_value_new_list(&l), LRD_OK);
	cr_assert_eq(lrd_list_append(l, array_value(100)), LRD_OK);
	cr_assert_eq(lrd_list_append(l, array_value(200)), LRD_OK);
	cr_assert_eq(lrd_value_write_fd(fds[1], l, NULL), LRD_OK);
	close(fds[1]);
	lrd_decode_options o = {.flags = LRD_DECODE_BORROW};
	lrd_value *back, *first;
	cr_assert_eq(lrd_value_read_fd(fds[0], &o, &back), LRD_OK, "%s", lrd_errmsg());
	close(fds[0]);
	cr_assert_eq(lrd_value_clone(lrd_list_at(back, 1), &first), LRD_OK);
	/* free the tree; a detached copy stays valid (ASan would catch a use after free) */
	lrd_value_free(back);
	cr_expect(lrd_value_equal(first, lrd_list_at(l, 1)));
	lrd_value_free(first);
	lrd_value_free(l);
}

Test(message, truncated_and_trailing_frames_are_refused)
{
	lrd_value *v = sample(), *back = (lrd_value *)1;
	void *buf;
	size_t len;
	cr_assert_eq(lrd_value_encode(v, NULL, &buf, &len), LRD_OK);
	for (size_t n = 0; n < len; n++) {
		cr_expect_neq(lrd_value_decode(buf, n, NULL, &back), LRD_OK, "prefix of %zu", n);
		cr_expect_null(back);
	}
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, buf, len);
	longer[len] = 0;
	cr_expect_eq(lrd_value_decode(longer, len + 1, NULL, &back), LRD_ECORRUPT);
	/* a frame that declares one byte more than its tree holds */
	longer[8]++;
	cr_expect_eq(lrd_value_decode(longer, len + 1, NULL, &back), LRD_ECORRUPT);
	cr_expect(strstr(lrd_errmsg(), "after the value") != NULL, "%s", lrd_errmsg());
	free(longer);
	memcpy(buf, "LRDX", 4);
	cr_expect_eq(lrd_value_decode(buf, len, NULL, &back), LRD_EFORMAT);
	memcpy(buf, "LRDM", 4);
	((uint8_t *)buf)[4] = 9;
	cr_expect_eq(lrd_value_decode(buf, len, NULL, &back), LRD_EVERSION);
	lrd_free(buf);
	lrd_value_free(v);
}

Test(message, stream_ending_inside_a_frame_is_corrupt)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	lrd_value *v = array_value(500), *back;
	void *buf;
	size_t len;
	cr_assert_eq(lrd_value_encode(v, NULL, &buf, &len), LRD_OK);
	cr_assert_eq(write(fds[1], buf, len - 10), (ssize_t)(len - 10));
	close(fds[1]);
	cr_expect_eq(lrd_value_read_fd(fds[0], NULL, &back), LRD_ECORRUPT);
	cr_expect_null(back);
	close(fds[0]);
	lrd_free(buf);
	lrd_value_free(v);
}

Test(message, lying_frame_length_costs_only_what_arrives)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	uint8_t hdr[LRD_MESSAGE_HEADER_SIZE] = {'L', 'R', 'D', 'M', 1, 0, 0, 0};
	uint64_t huge = (uint64_t)1 << 50;
	memcpy(hdr + 8, &huge, 8); /* little-endian host, as the CI machines are */
	cr_assert_eq(write(fds[1], hdr, sizeof hdr), (ssize_t)sizeof hdr);
	close(fds[1]);
	lrd_value *back;
	cr_expect_eq(lrd_value_read_fd(fds[0], NULL, &back), LRD_ECORRUPT, "%s", lrd_errmsg());
	close(fds[0]);
	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(write(fds[1], hdr, sizeof hdr), (ssize_t)sizeof hdr);
	close(fds[1]);
	lrd_decode_options o = {.max_total_bytes = 1 << 20};
	cr_expect_eq(lrd_value_read_fd(fds[0], &o, &back), LRD_ELIMIT);
	close(fds[0]);
}

Test(message, total_bound_counts_every_kind)
{
	lrd_decode_options o = {.max_total_bytes = 4096};
	lrd_value *back, *v;
	void *buf;
	size_t len;
	/* strings */
	char big[5000];
	memset(big, 'x', sizeof big);
	cr_assert_eq(lrd_value_new_str(big, sizeof big, &v), LRD_OK);
	cr_assert_eq(lrd_value_encode(v, NULL, &buf, &len), LRD_OK);
	cr_expect_eq(lrd_value_decode(buf, len, &o, &back), LRD_ELIMIT);
	lrd_free(buf);
	lrd_value_free(v);
	/* bytes */
	cr_assert_eq(lrd_value_new_bytes(big, sizeof big, &v), LRD_OK);
	cr_assert_eq(lrd_value_encode(v, NULL, &buf, &len), LRD_OK);
	cr_expect_eq(lrd_value_decode(buf, len, &o, &back), LRD_ELIMIT);
	lrd_free(buf);
	lrd_value_free(v);
	/* arrays, borrowed too */
	v = array_value(5000);
	cr_assert_eq(lrd_value_encode(v, NULL, &buf, &len), LRD_OK);
	cr_expect_eq(lrd_value_decode(buf, len, &o, &back), LRD_ELIMIT);
	o.flags = LRD_DECODE_BORROW;
	cr_expect_eq(lrd_value_decode(buf, len, &o, &back), LRD_ELIMIT);
	o.flags = 0;
	lrd_free(buf);
	lrd_value_free(v);
	/* many small items: 1000 nils are 1 KB of input but 8 KB counted */
	cr_assert_eq(lrd_value_new_list(&v), LRD_OK);
	for (int i = 0; i < 1000; i++) {
		lrd_value *n;
		cr_assert_eq(lrd_value_new_nil(&n), LRD_OK);
		cr_assert_eq(lrd_list_append(v, n), LRD_OK);
	}
	cr_assert_eq(lrd_value_encode(v, NULL, &buf, &len), LRD_OK);
	cr_expect_lt(len, 4096);
	cr_expect_eq(lrd_value_decode(buf, len, &o, &back), LRD_ELIMIT);
	o.max_total_bytes = 0;
	cr_expect_eq(lrd_value_decode(buf, len, &o, &back), LRD_OK);
	lrd_value_free(back);
	lrd_free(buf);
	lrd_value_free(v);
}

Test(message, nesting_beyond_max_depth_is_refused)
{
	lrd_value *root, *cur;
	cr_assert_eq(lrd_value_new_list(&root), LRD_OK);
	cur = root;
	for (int i = 0; i < 10; i++) {
		lrd_value *n;
		cr_assert_eq(lrd_value_new_list(&n), LRD_OK);
		cr_assert_eq(lrd_list_append(cur, n), LRD_OK);
		cur = n;
	}
	void *buf;
	size_t len;
	cr_assert_eq(lrd_value_encode(root, NULL, &buf, &len), LRD_OK);
	lrd_decode_options o = {.max_depth = 5};
	lrd_value *back;
	cr_expect_eq(lrd_value_decode(buf, len, &o, &back), LRD_ECORRUPT);
	o.max_depth = 0;
	cr_expect_eq(lrd_value_decode(buf, len, &o, &back), LRD_OK);
	lrd_value_free(back);
	lrd_free(buf);
	lrd_value_free(root);
}

Test(message, bad_arguments_are_einval)
{
	void *buf = (void *)1;
	size_t len = 1;
	lrd_value *v;
	cr_expect_eq(lrd_value_encode(NULL, NULL, &buf, &len), LRD_EINVAL);
	cr_expect_null(buf);
	cr_expect_eq(len, 0);
	cr_assert_eq(lrd_value_new_nil(&v), LRD_OK);
	lrd_encode_options eo = {.reserved = {1}};
	cr_expect_eq(lrd_value_encode(v, &eo, &buf, &len), LRD_EINVAL);
	cr_assert_eq(lrd_value_encode(v, NULL, &buf, &len), LRD_OK);
	lrd_decode_options o = {.flags = 0x80};
	lrd_value *back;
	cr_expect_eq(lrd_value_decode(buf, len, &o, &back), LRD_EINVAL);
	cr_expect_eq(lrd_value_decode(buf, len, NULL, NULL), LRD_EINVAL);
	lrd_free(buf);
	lrd_value_free(v);
}

Test(message, encode_into_a_caller_buffer_says_the_length_it_needs)
{
	lrd_value *v = sample();
	void *ref;
	size_t rlen, len = 0;
	cr_assert_eq(lrd_value_encode(v, NULL, &ref, &rlen), LRD_OK);
	cr_expect_eq(lrd_value_encode_into(v, NULL, NULL, 0, &len), LRD_EBUFSIZE);
	cr_expect_eq(len, rlen);
	unsigned char *buf = aligned_alloc(64, (rlen + 63) / 64 * 64);
	memset(buf, 0xee, rlen);
	cr_expect_eq(lrd_value_encode_into(v, NULL, buf, rlen - 1, &len), LRD_EBUFSIZE);
	cr_expect_eq(buf[0], 0xee, "nothing written into a buffer too small");
	cr_assert_eq(lrd_value_encode_into(v, NULL, buf, rlen, &len), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(len, rlen);
	cr_expect_eq(memcmp(buf, ref, rlen), 0, "the same frame as lrd_value_encode");
	free(buf);
	lrd_free(ref);
	lrd_value_free(v);
}

static int releases;
static void count_release(void *ctx)
{
	releases++;
	free(ctx);
}

Test(message, a_released_buffer_lives_until_its_last_mapped_array_is_freed)
{
	lrd_value *l;
	cr_assert_eq(lrd_value_new_list(&l), LRD_OK);
	cr_assert_eq(lrd_list_append(l, array_value(100)), LRD_OK);
	cr_assert_eq(lrd_list_append(l, array_value(200)), LRD_OK);
	void *buf;
	size_t len;
	cr_assert_eq(lrd_value_encode(l, NULL, &buf, &len), LRD_OK);
	void *copy = malloc(len);
	memcpy(copy, buf, len);
	lrd_free(buf);
	releases = 0;
	lrd_decode_options o = {
	    .flags = LRD_DECODE_BORROW, .release = count_release, .release_ctx = copy};
	lrd_value *back;
	cr_assert_eq(lrd_value_decode(copy, len, &o, &back), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_array_bufkind(lrd_list_at(back, 0)), LRD_BUF_MAPPED);
	cr_expect_eq(releases, 0);
	cr_expect(lrd_value_equal(back, l));
	lrd_value_free(back);
	cr_expect_eq(releases, 1, "released once, with the tree");

	/* no array to map, or a failure: released before the call returns */
	lrd_value *x;
	cr_assert_eq(lrd_value_new_int(3, &x), LRD_OK);
	cr_assert_eq(lrd_value_encode(x, NULL, &buf, &len), LRD_OK);
	o.release_ctx = malloc(1);
	cr_assert_eq(lrd_value_decode(buf, len, &o, &back), LRD_OK);
	cr_expect_eq(releases, 2);
	lrd_value_free(back);
	o.release_ctx = malloc(1);
	cr_expect_eq(lrd_value_decode(buf, len - 1, &o, &back), LRD_ECORRUPT);
	cr_expect_eq(releases, 3);
	o.flags = 0;
	o.release_ctx = malloc(1);
	cr_expect_eq(lrd_value_decode(buf, len, &o, &back), LRD_EINVAL, "release needs BORROW");
	cr_expect_eq(releases, 4);
	lrd_free(buf);
	lrd_value_free(x);
	lrd_value_free(l);
}

/* A frame holding tree[0..n) (header written here). */
static size_t frame_of(uint8_t *out, const uint8_t *tree, size_t n)
{
	size_t len = 16 + n;
	memcpy(out, "LRDM\1\0\0\0", 8);
	for (int i = 0; i < 8; i++)
		out[8 + i] = (uint8_t)((uint64_t)len >> (8 * i));
	memcpy(out + 16, tree, n);
	return len;
}

Test(message, decoded_small_maps_are_ordinary_maps)
{
	/* small maps are decoded into one block with their scalars: editing one must still work
	 * (replacing an item made in the block, growing past the block and past the index) */
	lrd_value *m, *x, *back;
	cr_assert_eq(lrd_value_new_map(&m), LRD_OK);
	cr_assert_eq(lrd_value_new_int(42, &x), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "n", x), LRD_OK);
	cr_assert_eq(lrd_value_new_float(0.5, &x), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "alpha", x), LRD_OK);
	cr_assert_eq(lrd_value_new_bool(true, &x), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "ok", x), LRD_OK);
	cr_assert_eq(lrd_value_new_str("héllo", SIZE_MAX, &x), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "s", x), LRD_OK);
	void *buf;
	size_t len;
	cr_assert_eq(lrd_value_encode(m, NULL, &buf, &len), LRD_OK);
	cr_assert_eq(lrd_value_decode(buf, len, NULL, &back), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(m, back));
	lrd_hash128 h1, h2;
	cr_assert_eq(lrd_value_hash128(m, 0, &h1), LRD_OK);
	cr_assert_eq(lrd_value_hash128(back, 0, &h2), LRD_OK);
	cr_expect(memcmp(&h1, &h2, sizeof h1) == 0);
	/* replace a scalar made in the block, and the string */
	cr_assert_eq(lrd_value_new_int(7, &x), LRD_OK);
	cr_assert_eq(lrd_map_set(back, "n", x), LRD_OK);
	cr_assert_eq(lrd_value_new_int(8, &x), LRD_OK);
	cr_assert_eq(lrd_map_set(back, "s", x), LRD_OK);
	int64_t i;
	cr_assert_eq(lrd_value_get_int(lrd_map_get(back, "n"), &i), LRD_OK);
	cr_expect_eq(i, 7);
	double f;
	cr_assert_eq(lrd_value_get_float(lrd_map_get(back, "alpha"), &f), LRD_OK);
	cr_expect_eq(f, 0.5);
	/* grow past the entries of the block and past the linear search (an index is built) */
	for (int k = 0; k < 40; k++) {
		char key[16];
		snprintf(key, sizeof key, "k%d", k);
		cr_assert_eq(lrd_value_new_int(k, &x), LRD_OK);
		cr_assert_eq(lrd_map_set(back, key, x), LRD_OK);
		cr_assert_eq(lrd_value_new_int(-k, &x), LRD_OK);
		cr_assert_eq(lrd_map_set(m, key, x), LRD_OK);
	}
	cr_expect_eq(lrd_value_len(back), 44);
	cr_expect_str_eq(lrd_map_key_at(back, 1), "alpha");
	for (int k = 0; k < 40; k++) {
		char key[16];
		snprintf(key, sizeof key, "k%d", k);
		cr_assert_eq(lrd_value_get_int(lrd_map_get(back, key), &i), LRD_OK);
		cr_expect_eq(i, k);
	}
	cr_expect_not_null(lrd_map_get(back, "ok"));
	cr_expect_not_null(lrd_map_get(back, "alpha"));
	cr_expect_null(lrd_map_get(back, "nope"));
	/* clones of a decoded map are independent of its block */
	lrd_value *c;
	cr_assert_eq(lrd_value_clone(back, &c), LRD_OK);
	lrd_value_free(back);
	cr_expect_str_eq(lrd_map_key_at(c, 2), "ok");
	lrd_value_free(c);
	/* a small map nested in a list, and an empty one */
	lrd_value *l, *e;
	cr_assert_eq(lrd_value_new_list(&l), LRD_OK);
	cr_assert_eq(lrd_value_new_map(&e), LRD_OK);
	cr_assert_eq(lrd_list_append(l, e), LRD_OK);
	cr_assert_eq(lrd_list_append(l, m), LRD_OK);
	lrd_free(buf);
	cr_assert_eq(lrd_value_encode(l, NULL, &buf, &len), LRD_OK);
	cr_assert_eq(lrd_value_decode(buf, len, NULL, &back), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(l, back));
	cr_assert_eq(lrd_value_new_int(1, &x), LRD_OK);
	cr_assert_eq(lrd_map_set(lrd_list_at(back, 0), "a", x), LRD_OK);
	cr_expect_eq(lrd_value_len(lrd_list_at(back, 0)), 1);
	lrd_value_free(back);
	lrd_free(buf);
	lrd_value_free(l);
}

Test(message, bad_keys_of_small_maps_are_corrupt)
{
	static const struct {
		const char *what;
		uint8_t tree[32];
		size_t n;
		const char *msg;
	} cases[] = {
	    {"repeated key", {8, 2, 1, 'a', 0, 1, 'a', 3, 1, 0, 0, 0, 0, 0, 0, 0}, 16, "twice"},
	    {"repeated key, ints",
	     {8, 2, 1, 'a', 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 2},
	     16,
	     "twice"},
	    {"key not UTF-8", {8, 1, 2, 0xc3, 0x28, 0}, 6, "UTF-8"},
	    {"key with NUL", {8, 1, 2, 'a', 0, 0}, 6, "NUL"},
	    {"truncated int", {8, 1, 1, 'a', 3, 0, 0}, 7, NULL},
	    {"unknown tag in an item",
	     {8, 2, 1, 'a', 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'b', 0x7f},
	     16,
	     "tag"},
	    {"string item not UTF-8", {8, 1, 1, 'a', 5, 1, 0xff}, 7, "UTF-8"},
	};
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		uint8_t fr[64];
		size_t len = frame_of(fr, cases[k].tree, cases[k].n);
		lrd_value *back = (lrd_value *)1;
		cr_expect_eq(lrd_value_decode(fr, len, NULL, &back), LRD_ECORRUPT, "%s: %s",
		             cases[k].what, lrd_errmsg());
		cr_expect_null(back);
		if (cases[k].msg)
			cr_expect(strstr(lrd_errmsg(), cases[k].msg) != NULL, "%s: %s",
			          cases[k].what, lrd_errmsg());
	}
	/* the same bytes with distinct keys decode */
	uint8_t fr[64];
	static const uint8_t ok[] = {8, 2, 1, 'a', 3, 9, 0, 0, 0, 0, 0, 0, 0, 1, 'b', 2};
	lrd_value *back;
	cr_assert_eq(lrd_value_decode(fr, frame_of(fr, ok, sizeof ok), NULL, &back), LRD_OK, "%s",
	             lrd_errmsg());
	int64_t i;
	cr_assert_eq(lrd_value_get_int(lrd_map_get(back, "a"), &i), LRD_OK);
	cr_expect_eq(i, 9);
	lrd_value_free(back);
}

Test(message, sizes_counted_before_writing_match_what_is_written)
{
	/* lengths of one and more varint bytes, arrays at every offset modulo 64 */
	lrd_value *l, *x, *m;
	cr_assert_eq(lrd_value_new_list(&l), LRD_OK);
	char *big = malloc(20000);
	memset(big, 'a', 20000);
	size_t lens[] = {0, 1, 127, 128, 200, 16383, 16384, 20000};
	for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
		cr_assert_eq(lrd_value_new_str(big, lens[k], &x), LRD_OK);
		cr_assert_eq(lrd_list_append(l, x), LRD_OK);
		cr_assert_eq(lrd_value_new_bytes(big, lens[k], &x), LRD_OK);
		cr_assert_eq(lrd_list_append(l, x), LRD_OK);
	}
	cr_assert_eq(lrd_value_new_map(&m), LRD_OK);
	for (int k = 0; k < 130; k++) {
		char key[200];
		snprintf(key, sizeof key, "%0*d", k + 1, k);
		cr_assert_eq(lrd_value_new_float(k, &x), LRD_OK);
		cr_assert_eq(lrd_map_set(m, key, x), LRD_OK);
	}
	cr_assert_eq(lrd_list_append(l, m), LRD_OK);
	for (int k = 0; k < 70; k++) {
		cr_assert_eq(lrd_list_append(l, array_value((size_t)k * 3)), LRD_OK);
		cr_assert_eq(lrd_value_new_bytes(big, (size_t)k, &x), LRD_OK);
		cr_assert_eq(lrd_list_append(l, x), LRD_OK);
	}
	free(big);
	void *buf;
	size_t len, need;
	cr_assert_eq(lrd_value_encode(l, NULL, &buf, &len), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_value_encode_into(l, NULL, NULL, 0, &need), LRD_EBUFSIZE);
	cr_expect_eq(need, len);
	lrd_value *back;
	cr_assert_eq(lrd_value_decode(buf, len, NULL, &back), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(l, back));
	lrd_value_free(back);
	lrd_free(buf);
	lrd_value_free(l);
}
