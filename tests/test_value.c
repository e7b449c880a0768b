/* value: the value tree, dtypes, arrays (owned, borrowed, mapped), equality, clone, ownership
 * rules and allocation failure paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <larder.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define NO_LEAKS() cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "leaks (see stderr)")
#else
#define NO_LEAKS() ((void)0)
#endif

#include "base/testhook.h"
#include "engine/value/dtype_internal.h"
#include "engine/value/value_internal.h"

static lrd_dtype dt(const char *s)
{
	lrd_dtype d;
	cr_assert_eq(lrd_dtype_parse(s, &d), LRD_OK, "%s: %s", s, lrd_errmsg());
	return d;
}

/* ---- scalars, strings, bytes --------------------------------------------------------------- */

Test(value, scalars_round_trip_through_getters)
{
	lrd_value *n, *b, *i, *f;
	cr_assert_eq(lrd_value_new_nil(&n), LRD_OK);
	cr_assert_eq(lrd_value_new_bool(true, &b), LRD_OK);
	cr_assert_eq(lrd_value_new_int(INT64_MIN, &i), LRD_OK);
	cr_assert_eq(lrd_value_new_float(-2.5, &f), LRD_OK);
	cr_expect_eq(lrd_value_kind(n), LRD_KIND_NIL);
	cr_expect_eq(lrd_value_kind(b), LRD_KIND_BOOL);
	cr_expect_eq(lrd_value_kind(i), LRD_KIND_INT);
	cr_expect_eq(lrd_value_kind(f), LRD_KIND_FLOAT);
	bool bv = false;
	int64_t iv = 0;
	double fv = 0;
	cr_expect_eq(lrd_value_get_bool(b, &bv), LRD_OK);
	cr_expect(bv);
	cr_expect_eq(lrd_value_get_int(i, &iv), LRD_OK);
	cr_expect_eq(iv, INT64_MIN);
	cr_expect_eq(lrd_value_get_float(f, &fv), LRD_OK);
	cr_expect_eq(fv, -2.5);
	lrd_value_free(n);
	lrd_value_free(b);
	lrd_value_free(i);
	lrd_value_free(f);
}

Test(value, getters_refuse_other_kinds)
{
	lrd_value *i;
	cr_assert_eq(lrd_value_new_int(7, &i), LRD_OK);
	bool b;
	double d;
	int64_t x;
	cr_expect_eq(lrd_value_get_bool(i, &b), LRD_EINVAL);
	cr_expect(strstr(lrd_errmsg(), "int") != NULL, "%s", lrd_errmsg());
	cr_expect_eq(lrd_value_get_float(i, &d), LRD_EINVAL);
	cr_expect_eq(lrd_value_get_int(NULL, &x), LRD_EINVAL);
	cr_expect_eq(lrd_value_get_int(i, NULL), LRD_EINVAL);
	cr_expect_null(lrd_value_str(i, NULL));
	cr_expect_null(lrd_value_bytes(i, NULL));
	cr_expect_eq(lrd_value_len(i), 0);
	cr_expect_null(lrd_list_at(i, 0));
	cr_expect_null(lrd_map_get(i, "a"));
	cr_expect_eq(lrd_array_ndim(i), 0);
	cr_expect_null(lrd_array_data(i));
	cr_expect_eq(lrd_array_dtype(i).kind, 0);
	lrd_value_free(i);
}

Test(value, constructors_refuse_null_output)
{
	cr_expect_eq(lrd_value_new_nil(NULL), LRD_EINVAL);
	cr_expect_eq(lrd_value_new_int(1, NULL), LRD_EINVAL);
	cr_expect_eq(lrd_value_new_str("x", 1, NULL), LRD_EINVAL);
	cr_expect_eq(lrd_value_new_list(NULL), LRD_EINVAL);
	cr_expect_eq(lrd_value_new_map(NULL), LRD_EINVAL);
	cr_expect_eq(lrd_array_new(dt("<f8"), 0, NULL, LRD_ORDER_C, NULL), LRD_EINVAL);
}

Test(value, kind_names)
{
	const char *want[] = {"nil",   "bool", "int", "float", "str",
	                      "bytes", "list", "map", "array"};
	for (int k = LRD_KIND_NIL; k <= LRD_KIND_ARRAY; k++)
		cr_expect_str_eq(lrd_kind_name((lrd_kind)k), want[k]);
	cr_expect_str_eq(lrd_kind_name((lrd_kind)99), "unknown");
	cr_expect_eq(lrd_value_kind(NULL), LRD_KIND_NIL);
}

Test(value, str_copies_text_and_terminates_it)
{
	char buf[] = "héllo wörld";
	lrd_value *s, *t, *e;
	cr_assert_eq(lrd_value_new_str(buf, SIZE_MAX, &s), LRD_OK);
	cr_assert_eq(lrd_value_new_str(buf, 5, &t), LRD_OK);
	cr_assert_eq(lrd_value_new_str("a\0b", 3, &e), LRD_OK);
	buf[0] = 'X';
	size_t len;
	cr_expect_str_eq(lrd_value_str(s, &len), "héllo wörld");
	cr_expect_eq(len, strlen("héllo wörld"));
	cr_expect_str_eq(lrd_value_str(t, &len), "héll");
	cr_expect_eq(len, 5);
	cr_expect_eq(memcmp(lrd_value_str(e, &len), "a\0b\0", 4), 0);
	cr_expect_eq(len, 3);
	lrd_value_free(s);
	lrd_value_free(t);
	lrd_value_free(e);
}

Test(value, str_refuses_invalid_utf8)
{
	static const struct {
		const char *s;
		size_t n;
	} bad[] = {
	    {"\x80", 1},             /* lone continuation */
	    {"\xC0\x80", 2},         /* overlong NUL */
	    {"\xC1\xBF", 2},         /* overlong */
	    {"\xE0\x80\xAF", 3},     /* overlong '/' */
	    {"\xED\xA0\x80", 3},     /* surrogate U+D800 */
	    {"\xF0\x8F\xBF\xBF", 4}, /* overlong */
	    {"\xF4\x90\x80\x80", 4}, /* above U+10FFFF */
	    {"\xF5\x80\x80\x80", 4}, /* invalid lead */
	    {"\xFF", 1},
	    {"ab\xE2\x82", 4},   /* truncated */
	    {"\xE2\x28\xA1", 3}, /* bad continuation */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		lrd_value *v = (lrd_value *)1;
		cr_expect_eq(lrd_value_new_str(bad[i].s, bad[i].n, &v), LRD_EINVAL, "case %zu", i);
		cr_expect_null(v);
	}
	const char *good = "\xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF \xEF\xBF\xBF \xE2\x82\xAC";
	lrd_value *v;
	cr_expect_eq(lrd_value_new_str(good, SIZE_MAX, &v), LRD_OK);
	lrd_value_free(v);
	cr_expect_eq(lrd_value_new_str(NULL, 3, &v), LRD_EINVAL);
	cr_expect_eq(lrd_value_new_str(NULL, 0, &v), LRD_OK);
	cr_expect_str_eq(lrd_value_str(v, NULL), "");
	lrd_value_free(v);
}

Test(value, bytes_copy_and_empty_bytes_are_not_null)
{
	unsigned char raw[4] = {0, 0xFF, 0x80, 1};
	lrd_value *b, *e;
	cr_assert_eq(lrd_value_new_bytes(raw, 4, &b), LRD_OK);
	cr_assert_eq(lrd_value_new_bytes(NULL, 0, &e), LRD_OK);
	raw[0] = 9;
	size_t n;
	const unsigned char *p = lrd_value_bytes(b, &n);
	cr_expect_eq(n, 4);
	cr_expect_eq(p[0], 0);
	cr_expect_eq(p[1], 0xFF);
	cr_expect_not_null(lrd_value_bytes(e, &n));
	cr_expect_eq(n, 0);
	cr_expect_null(lrd_value_str(b, NULL));
	lrd_value_free(e);
	cr_expect_eq(lrd_value_new_bytes(NULL, 1, &e), LRD_EINVAL);
	cr_expect_null(e);
	lrd_value_free(b);
}

/* ---- lists and maps ------------------------------------------------------------------------- */

static lrd_value *mkint(int64_t i)
{
	lrd_value *v;
	cr_assert_eq(lrd_value_new_int(i, &v), LRD_OK);
	return v;
}

Test(value, list_keeps_order_and_bounds)
{
	lrd_value *l;
	cr_assert_eq(lrd_value_new_list(&l), LRD_OK);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(lrd_list_append(l, mkint(i)), LRD_OK);
	cr_expect_eq(lrd_value_len(l), 100);
	for (int i = 0; i < 100; i++) {
		int64_t x;
		lrd_value_get_int(lrd_list_at(l, i), &x);
		cr_expect_eq(x, i);
	}
	cr_expect_null(lrd_list_at(l, 100));
	lrd_value_free(l);
}

Test(value, append_to_non_list_frees_the_item)
{
	lrd_value *m;
	cr_assert_eq(lrd_value_new_map(&m), LRD_OK);
	/* ASan's leak checker proves the item is freed. */
	cr_expect_eq(lrd_list_append(m, mkint(1)), LRD_EINVAL);
	cr_expect_eq(lrd_list_append(NULL, mkint(2)), LRD_EINVAL);
	cr_expect_eq(lrd_map_set(NULL, "k", mkint(3)), LRD_EINVAL);
	lrd_value *l;
	cr_assert_eq(lrd_value_new_list(&l), LRD_OK);
	cr_expect_eq(lrd_map_set(l, "k", mkint(4)), LRD_EINVAL);
	cr_expect_eq(lrd_map_set(m, "\xC0\x80", mkint(5)), LRD_EINVAL);
	cr_expect_eq(lrd_map_set(m, NULL, mkint(6)), LRD_EINVAL);
	cr_expect_eq(lrd_value_len(m), 0);
	lrd_value_free(m);
	lrd_value_free(l);
	NO_LEAKS();
}

Test(value, items_owned_elsewhere_are_refused_untouched)
{
	lrd_value *a, *b, *c, *x;
	cr_assert_eq(lrd_value_new_list(&a), LRD_OK);
	cr_assert_eq(lrd_value_new_list(&b), LRD_OK);
	cr_assert_eq(lrd_value_new_map(&c), LRD_OK);
	x = mkint(1);
	cr_assert_eq(lrd_list_append(a, x), LRD_OK);
	cr_expect_eq(lrd_list_append(b, x), LRD_EINVAL); /* already in a */
	cr_expect_eq(lrd_map_set(c, "x", x), LRD_EINVAL);
	cr_expect_eq(lrd_list_append(a, NULL), LRD_EINVAL);
	cr_expect_eq(lrd_list_append(a, a), LRD_EINVAL); /* itself */
	cr_assert_eq(lrd_list_append(b, c), LRD_OK);
	cr_expect_eq(lrd_map_set(c, "b", b), LRD_EINVAL); /* an ancestor: would be a cycle */
	cr_expect(strstr(lrd_errmsg(), "itself") != NULL, "%s", lrd_errmsg());
	/* Freeing a value that belongs to a tree does nothing; its root frees it. */
	lrd_value_free(x);
	int64_t v;
	cr_expect_eq(lrd_value_get_int(lrd_list_at(a, 0), &v), LRD_OK);
	cr_expect_eq(v, 1);
	lrd_value_free(a);
	lrd_value_free(b);
}

Test(value, map_keeps_insertion_order_and_replaces_in_place)
{
	lrd_value *m;
	cr_assert_eq(lrd_value_new_map(&m), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "zeta", mkint(1)), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "alpha", mkint(2)), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "ключ", mkint(3)), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "zeta", mkint(4)), LRD_OK);
	cr_expect_eq(lrd_value_len(m), 3);
	cr_expect_str_eq(lrd_map_key_at(m, 0), "zeta");
	cr_expect_str_eq(lrd_map_key_at(m, 1), "alpha");
	cr_expect_str_eq(lrd_map_key_at(m, 2), "ключ");
	cr_expect_null(lrd_map_key_at(m, 3));
	cr_expect_null(lrd_map_value_at(m, 3));
	int64_t v;
	lrd_value_get_int(lrd_map_get(m, "zeta"), &v);
	cr_expect_eq(v, 4);
	lrd_value_get_int(lrd_map_value_at(m, 2), &v);
	cr_expect_eq(v, 3);
	cr_expect_null(lrd_map_get(m, "missing"));
	cr_expect_null(lrd_map_get(m, NULL));
	cr_expect_eq(lrd_map_set(m, "", mkint(5)), LRD_OK);
	cr_expect_not_null(lrd_map_get(m, ""));
	lrd_value_free(m);
}

Test(value, big_map_lookup_finds_every_key)
{
	enum { N = 50000 };
	lrd_value *m;
	cr_assert_eq(lrd_value_new_map(&m), LRD_OK);
	char key[32];
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "key-%d", i);
		cr_assert_eq(lrd_map_set(m, key, mkint(i)), LRD_OK);
	}
	for (int i = 0; i < N; i += 7) {
		snprintf(key, sizeof key, "key-%d", i);
		cr_assert_eq(lrd_map_set(m, key, mkint(-i)), LRD_OK);
	}
	cr_expect_eq(lrd_value_len(m), N);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "key-%d", i);
		int64_t v;
		cr_assert_eq(lrd_value_get_int(lrd_map_get(m, key), &v), LRD_OK, "%s", key);
		cr_assert_eq(v, i % 7 ? i : -i);
		cr_assert_str_eq(lrd_map_key_at(m, i), key);
	}
	cr_expect_null(lrd_map_get(m, "key-50000"));
	lrd_value_free(m);
}

/* ---- dtypes --------------------------------------------------------------------------------- */

Test(value, dtype_parses_and_formats_every_kind_in_both_orders)
{
	static const char *const multi[] = {"i2", "i4", "i8", "u2", "u4", "u8",
	                                    "f2", "f4", "f8", "c8", "c16"};
	char buf[16];
	for (size_t i = 0; i < sizeof multi / sizeof multi[0]; i++) {
		for (const char *o = "<>"; *o; o++) {
			char s[8];
			snprintf(s, sizeof s, "%c%s", *o, multi[i]);
			lrd_dtype d = dt(s);
			cr_expect_eq(d.order, *o);
			cr_expect_eq(d.kind, multi[i][0]);
			cr_expect_eq(d.itemsize, (uint32_t)atoi(multi[i] + 1));
			cr_expect(lrd_dtype_valid(d));
			cr_assert_eq(lrd_dtype_format(d, buf, sizeof buf), LRD_OK);
			cr_expect_str_eq(buf, s);
		}
	}
	static const char *const single[][2] = {
	    {"|b1", "|b1"},
	    {"|i1", "|i1"},
	    {"|u1", "|u1"},
	    {"<u1", "|u1"},
	    {">i1", "|u1"},
	    {"b1", "|b1"},
	    {"=i1", "|i1"},
	    {"|S1", "|S1"},
	    {"<S16", "|S16"},
	    {"S7", "|S7"},
	    {"|S2147483648", "|S2147483648"},
	};
	for (size_t i = 0; i < sizeof single / sizeof single[0]; i++) {
		lrd_dtype d = dt(single[i][0]);
		cr_assert_eq(lrd_dtype_format(d, buf, sizeof buf), LRD_OK);
		if (strcmp(single[i][0], ">i1") == 0)
			cr_expect_str_eq(buf, "|i1");
		else
			cr_expect_str_eq(buf, single[i][1]);
	}
}

Test(value, dtype_native_spellings)
{
	char native[] = "<f8";
	native[0] = LRD__NATIVE_ORDER;
	cr_expect(lrd_dtype_equal(dt("=f8"), dt(native)));
	cr_expect(lrd_dtype_equal(dt("f8"), dt(native)));
	cr_expect(lrd_dtype_equal(lrd_dtype_native(dt("<f8")), dt(native)));
	cr_expect(lrd_dtype_equal(lrd_dtype_native(dt(">f8")), dt(native)));
	cr_expect(lrd_dtype_equal(lrd_dtype_native(dt("|S3")), dt("|S3")));
	cr_expect(!lrd_dtype_equal(dt("<f8"), dt(">f8")));
	cr_expect(lrd__dtype_is_native(dt(native)));
	cr_expect(lrd__dtype_is_native(dt("|u1")));
}

Test(value, dtype_refuses_invalid_strings)
{
	static const char *const bad[] = {
	    "",     "<",    "<f",   "<f3",          "<f16", "<c4",
	    "<c32", "<i3",  "<i16", "<u0",          "|b2",  "|O",
	    "|O8",  "<U4",  "<M8",  "<m8",          "|V8",  "|S0",
	    "|S",   "<f08", "<f8 ", " <f8",         "<<f8", "|f8",
	    "|i4",  "<x8",  "f8\n", "|S4294967296", "<F8",  "|S99999999999999999999",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		lrd_dtype d = {'<', 'f', 8};
		cr_expect_eq(lrd_dtype_parse(bad[i], &d), LRD_EDTYPE, "'%s'", bad[i]);
		cr_expect_eq(d.kind, 'f', "output untouched on failure");
	}
	lrd_dtype d;
	cr_expect_eq(lrd_dtype_parse("<f3", &d), LRD_EDTYPE);
	cr_expect(strstr(lrd_errmsg(), "<f3") != NULL, "%s", lrd_errmsg());
	cr_expect_eq(lrd_dtype_parse(NULL, &d), LRD_EINVAL);
	cr_expect_eq(lrd_dtype_parse("<f8", NULL), LRD_EINVAL);
}

Test(value, dtype_validity_requires_canonical_form)
{
	cr_expect(!lrd_dtype_valid((lrd_dtype){'<', 'u', 1}));
	cr_expect(!lrd_dtype_valid((lrd_dtype){'|', 'f', 8}));
	cr_expect(!lrd_dtype_valid((lrd_dtype){'=', 'f', 8}));
	cr_expect(!lrd_dtype_valid((lrd_dtype){'<', 'S', 4}));
	cr_expect(!lrd_dtype_valid((lrd_dtype){'|', 'S', 0}));
	cr_expect(!lrd_dtype_valid((lrd_dtype){'|', 'O', 8}));
	cr_expect(!lrd_dtype_valid((lrd_dtype){0, 0, 0}));
	cr_expect(lrd_dtype_valid((lrd_dtype){'>', 'c', 16}));
	char buf[16];
	cr_expect_eq(lrd_dtype_format((lrd_dtype){'|', 'f', 8}, buf, sizeof buf), LRD_EDTYPE);
	cr_expect_str_eq(lrd__dtype_str((lrd_dtype){'|', 'f', 8}, buf), "<invalid dtype>");
}

Test(value, dtype_format_reports_small_buffers)
{
	char buf[4];
	cr_expect_eq(lrd_dtype_format(dt("<c16"), buf, sizeof buf), LRD_EBUFSIZE);
	cr_expect_eq(lrd_dtype_format(dt("<f8"), buf, sizeof buf), LRD_OK);
	cr_expect_str_eq(buf, "<f8");
	cr_expect_eq(lrd_dtype_format(dt("<f8"), NULL, 0), LRD_EINVAL);
}

Test(value, byteswap_reverses_units_and_complex_halves)
{
	uint16_t h[2] = {0x0102, 0xA0B0};
	lrd__dtype_byteswap(dt("<f2"), h, 2);
	cr_expect_eq(h[0], 0x0201);
	cr_expect_eq(h[1], 0xB0A0);
	uint32_t c[4] = {0x01020304, 0x05060708, 0x11223344, 0x55667788};
	lrd__dtype_byteswap(dt(">c8"), c, 2);
	cr_expect_eq(c[0], 0x04030201);
	cr_expect_eq(c[1], 0x08070605);
	cr_expect_eq(c[3], 0x88776655);
	cr_expect_eq(lrd__dtype_swap_unit(dt("<c16")), 8);
	double d = 1.5, e;
	unsigned char raw[9];
	memcpy(raw + 1, &d, 8); /* unaligned on purpose */
	lrd__dtype_byteswap(dt("<f8"), raw + 1, 1);
	lrd__dtype_byteswap(dt(">f8"), raw + 1, 1);
	memcpy(&e, raw + 1, 8);
	cr_expect_eq(e, 1.5);
	unsigned char s[3] = {1, 2, 3};
	lrd__dtype_byteswap(dt("|S3"), s, 1);
	lrd__dtype_byteswap(dt("|u1"), s, 3);
	cr_expect_eq(s[0], 1);
	cr_expect_eq(s[2], 3);
}

/* ---- arrays --------------------------------------------------------------------------------- */

Test(value, array_new_is_zeroed_aligned_and_owned)
{
	uint64_t shape[3] = {2, 3, 4};
	lrd_value *a;
	cr_assert_eq(lrd_array_new(dt("<i4"), 3, shape, LRD_ORDER_F, &a), LRD_OK);
	shape[0] = 99; /* the shape was copied */
	cr_expect_eq(lrd_value_kind(a), LRD_KIND_ARRAY);
	cr_expect_eq(lrd_array_ndim(a), 3);
	cr_expect_eq(lrd_array_shape(a)[0], 2);
	cr_expect_eq(lrd_array_shape(a)[2], 4);
	cr_expect_eq(lrd_array_order(a), LRD_ORDER_F);
	cr_expect_eq(lrd_array_count(a), 24);
	cr_expect_eq(lrd_array_nbytes(a), 96);
	cr_expect_eq(lrd_array_bufkind(a), LRD_BUF_OWNED);
	cr_expect(lrd_dtype_equal(lrd_array_dtype(a), dt("<i4")));
	const unsigned char *p = lrd_array_cdata(a);
	cr_expect_eq((uintptr_t)p % 64, 0);
	for (int i = 0; i < 96; i++)
		cr_assert_eq(p[i], 0);
	cr_expect_eq(lrd_value_len(a), 0);
	lrd_value_free(a);
}

Test(value, zero_d_and_empty_arrays)
{
	lrd_value *z, *e;
	cr_assert_eq(lrd_array_new(dt(">c16"), 0, NULL, LRD_ORDER_C, &z), LRD_OK);
	cr_expect_eq(lrd_array_count(z), 1);
	cr_expect_eq(lrd_array_nbytes(z), 16);
	cr_expect_null(lrd_array_shape(z));
	uint64_t shape[2] = {5, 0};
	cr_assert_eq(lrd_array_new(dt("|S8"), 2, shape, LRD_ORDER_C, &e), LRD_OK);
	cr_expect_eq(lrd_array_count(e), 0);
	cr_expect_eq(lrd_array_nbytes(e), 0);
	cr_expect_not_null(lrd_array_data(e));
	lrd_value_free(z);
	lrd_value_free(e);
}

Test(value, array_refuses_bad_dtype_ndim_order_and_overflow)
{
	uint64_t shape[33];
	for (int i = 0; i < 33; i++)
		shape[i] = 1;
	lrd_value *a = (lrd_value *)1;
	cr_expect_eq(lrd_array_new(dt("<f8"), 33, shape, LRD_ORDER_C, &a), LRD_EINVAL);
	cr_expect_null(a);
	cr_expect_eq(lrd_array_new(dt("<f8"), 32, shape, LRD_ORDER_C, &a), LRD_OK);
	lrd_value_free(a);
	cr_expect_eq(lrd_array_new(dt("<f8"), 2, NULL, LRD_ORDER_C, &a), LRD_EINVAL);
	cr_expect_eq(lrd_array_new(dt("<f8"), 1, shape, (lrd_order)2, &a), LRD_EINVAL);
	cr_expect_eq(lrd_array_new((lrd_dtype){'<', 'u', 1}, 1, shape, LRD_ORDER_C, &a),
	             LRD_EDTYPE);
	cr_expect_eq(lrd_array_new((lrd_dtype){'<', 'f', 3}, 1, shape, LRD_ORDER_C, &a),
	             LRD_EDTYPE);
	uint64_t huge[1] = {UINT64_C(1) << 60};
	cr_expect_eq(lrd_array_new(dt("<f8"), 1, huge, LRD_ORDER_C, &a), LRD_ELIMIT);
	cr_expect(strstr(lrd_errmsg(), "overflow") != NULL, "%s", lrd_errmsg());
	uint64_t big[3] = {UINT64_C(1) << 32, UINT64_C(1) << 32, 0};
	cr_expect_eq(lrd_array_new(dt("|u1"), 3, big, LRD_ORDER_C, &a), LRD_ELIMIT,
	             "a zero extent does not excuse an overflowing shape");
	uint64_t wrap[2] = {UINT64_C(1) << 33, UINT64_C(1) << 31};
	cr_expect_eq(lrd_array_new(dt("|u1"), 2, wrap, LRD_ORDER_C, &a), LRD_ELIMIT);
	uint64_t s2[1] = {UINT64_C(1) << 32};
	cr_expect_eq(lrd_array_new(dt("|S2147483648"), 1, s2, LRD_ORDER_C, &a), LRD_ELIMIT);
	uint64_t max1[1] = {(uint64_t)PTRDIFF_MAX / 8 + 1};
	cr_expect_eq(lrd_array_new(dt("<f8"), 1, max1, LRD_ORDER_C, &a), LRD_ELIMIT);
}

Test(value, wrap_borrows_without_copying_or_freeing)
{
	double buf[6] = {1, 2, 3, 4, 5, 6};
	uint64_t shape[2] = {2, 3};
	lrd_value *a;
	cr_expect_eq(lrd_array_wrap(dt("<f8"), 2, shape, LRD_ORDER_C, buf, 40, &a), LRD_EINVAL);
	cr_expect_eq(lrd_array_wrap(dt("<f8"), 2, shape, LRD_ORDER_C, NULL, 48, &a), LRD_EINVAL);
	cr_assert_eq(lrd_array_wrap(dt("<f8"), 2, shape, LRD_ORDER_C, buf, sizeof buf, &a), LRD_OK);
	cr_expect_eq(lrd_array_bufkind(a), LRD_BUF_BORROWED);
	cr_expect_eq(lrd_array_data(a), buf);
	lrd_value_free(a); /* buf is on the stack: freeing it would crash */
	uint64_t zero[1] = {0};
	cr_expect_eq(lrd_array_wrap(dt("<f8"), 1, zero, LRD_ORDER_C, NULL, 0, &a), LRD_OK);
	lrd_value_free(a);
}

static int releases;
static void count_release(void *ctx)
{
	releases++;
	cr_expect_eq(ctx, &releases);
}

Test(value, mapped_buffer_is_released_once_with_its_tree)
{
	static const int32_t data[4] = {1, 2, 3, 4};
	uint64_t shape[1] = {4};
	lrd_value *a, *l, *c;
	releases = 0;
	cr_expect_eq(lrd__array_new_mapped(dt("<i4"), 1, shape, LRD_ORDER_C, data, 12,
	                                   count_release, &releases, &a),
	             LRD_EINVAL);
	cr_expect_eq(releases, 0, "not called when construction fails");
	cr_assert_eq(lrd__array_new_mapped(dt("<i4"), 1, shape, LRD_ORDER_C, data, 16,
	                                   count_release, &releases, &a),
	             LRD_OK);
	cr_expect_eq(lrd_array_bufkind(a), LRD_BUF_MAPPED);
	cr_expect_eq(lrd_array_cdata(a), data);
	cr_assert_eq(lrd_value_clone(a, &c), LRD_OK);
	cr_expect_eq(lrd_array_bufkind(c), LRD_BUF_OWNED);
	cr_expect(lrd_value_equal(a, c));
	cr_assert_eq(lrd_value_new_list(&l), LRD_OK);
	cr_assert_eq(lrd_list_append(l, a), LRD_OK);
	cr_expect_eq(releases, 0);
	lrd_value_free(l);
	cr_expect_eq(releases, 1);
	lrd_value_free(c);
	cr_expect_eq(releases, 1);
	cr_assert_eq(
	    lrd__array_new_mapped(dt("<i4"), 1, shape, LRD_ORDER_C, data, 16, NULL, NULL, &a),
	    LRD_OK);
	lrd_value_free(a);
}

Test(value, uninit_array_is_aligned_and_sized)
{
	uint64_t shape[2] = {3, 7};
	lrd_value *a;
	cr_assert_eq(lrd__array_new_uninit(dt(">u2"), 2, shape, LRD_ORDER_C, &a), LRD_OK);
	cr_expect_eq((uintptr_t)lrd_array_data(a) % LRD__ALIGN, 0);
	cr_expect_eq(lrd_array_nbytes(a), 42);
	memset(lrd_array_data(a), 0xAB, 42);
	lrd_value_free(a);
	uint64_t count;
	size_t nbytes;
	cr_expect_eq(lrd__array_size(dt("<c8"), 2, shape, &count, &nbytes), LRD_OK);
	cr_expect_eq(count, 21);
	cr_expect_eq(nbytes, 168);
}

/* ---- equality, clone, free ------------------------------------------------------------------ */

static lrd_value *sample_tree(void)
{
	lrd_value *root, *l, *m, *v, *a;
	cr_assert_eq(lrd_value_new_map(&root), LRD_OK);
	cr_assert_eq(lrd_value_new_list(&l), LRD_OK);
	cr_assert_eq(lrd_value_new_map(&m), LRD_OK);
	cr_assert_eq(lrd_value_new_float(NAN, &v), LRD_OK);
	cr_assert_eq(lrd_list_append(l, v), LRD_OK);
	cr_assert_eq(lrd_value_new_str("text", SIZE_MAX, &v), LRD_OK);
	cr_assert_eq(lrd_list_append(l, v), LRD_OK);
	cr_assert_eq(lrd_value_new_bytes("\0\1", 2, &v), LRD_OK);
	cr_assert_eq(lrd_list_append(l, v), LRD_OK);
	cr_assert_eq(lrd_value_new_nil(&v), LRD_OK);
	cr_assert_eq(lrd_list_append(l, v), LRD_OK);
	cr_assert_eq(lrd_value_new_bool(false, &v), LRD_OK);
	cr_assert_eq(lrd_map_set(m, "flag", v), LRD_OK);
	uint64_t shape[2] = {3, 2};
	cr_assert_eq(lrd_array_new(dt("<f8"), 2, shape, LRD_ORDER_C, &a), LRD_OK);
	double *d = lrd_array_data(a);
	for (int i = 0; i < 6; i++)
		d[i] = i * 0.5;
	cr_assert_eq(lrd_map_set(m, "weights", a), LRD_OK);
	cr_assert_eq(lrd_map_set(root, "items", l), LRD_OK);
	cr_assert_eq(lrd_map_set(root, "inner", m), LRD_OK);
	cr_assert_eq(lrd_map_set(root, "n", mkint(42)), LRD_OK);
	return root;
}

Test(value, clone_is_deep_and_equal)
{
	lrd_value *t = sample_tree(), *c;
	cr_assert_eq(lrd_value_clone(t, &c), LRD_OK);
	cr_expect(lrd_value_equal(t, c));
	lrd_value *w = lrd_map_get(lrd_map_get(c, "inner"), "weights");
	cr_expect_neq(lrd_array_data(w),
	              lrd_array_data(lrd_map_get(lrd_map_get(t, "inner"), "weights")));
	((double *)lrd_array_data(w))[5] = -1;
	cr_expect(!lrd_value_equal(t, c));
	lrd_value_free(c);
	cr_expect_eq(lrd_value_clone(NULL, &c), LRD_EINVAL);
	cr_expect_null(c);
	cr_expect_eq(lrd_value_clone(t, NULL), LRD_EINVAL);
	lrd_value_free(t);
}

Test(value, equality_is_bitwise_for_floats)
{
	lrd_value *a, *b, *z, *nz;
	cr_assert_eq(lrd_value_new_float(NAN, &a), LRD_OK);
	cr_assert_eq(lrd_value_new_float(NAN, &b), LRD_OK);
	cr_assert_eq(lrd_value_new_float(0.0, &z), LRD_OK);
	cr_assert_eq(lrd_value_new_float(-0.0, &nz), LRD_OK);
	cr_expect(lrd_value_equal(a, b));
	cr_expect(!lrd_value_equal(z, nz));
	cr_expect(!lrd_value_equal(a, z));
	cr_expect(lrd_value_equal(NULL, NULL));
	cr_expect(!lrd_value_equal(a, NULL));
	lrd_value *i;
	cr_assert_eq(lrd_value_new_int(0, &i), LRD_OK);
	cr_expect(!lrd_value_equal(z, i), "kinds differ");
	lrd_value_free(a);
	lrd_value_free(b);
	lrd_value_free(z);
	lrd_value_free(nz);
	lrd_value_free(i);
}

Test(value, map_equality_depends_on_order_and_nesting)
{
	lrd_value *a, *b;
	cr_assert_eq(lrd_value_new_map(&a), LRD_OK);
	cr_assert_eq(lrd_value_new_map(&b), LRD_OK);
	lrd_map_set(a, "x", mkint(1));
	lrd_map_set(a, "y", mkint(2));
	lrd_map_set(b, "y", mkint(2));
	lrd_map_set(b, "x", mkint(1));
	cr_expect(!lrd_value_equal(a, b), "same entries, different order");
	lrd_value *t1 = sample_tree(), *t2 = sample_tree();
	cr_expect(lrd_value_equal(t1, t2));
	lrd_value *l2 = lrd_map_get(t2, "items");
	cr_assert_eq(lrd_list_append(l2, mkint(0)), LRD_OK);
	cr_expect(!lrd_value_equal(t1, t2), "nested list longer");
	lrd_value_free(a);
	lrd_value_free(b);
	lrd_value_free(t1);
	lrd_value_free(t2);
}

Test(value, array_equality_needs_dtype_shape_order_and_bytes)
{
	int32_t d1[6] = {1, 2, 3, 4, 5, 6}, d2[6] = {1, 2, 3, 4, 5, 6};
	uint64_t s23[2] = {2, 3}, s32[2] = {3, 2};
	lrd_value *a, *b, *c, *f, *e, *o;
	cr_assert_eq(lrd_array_wrap(dt("<i4"), 2, s23, LRD_ORDER_C, d1, 24, &a), LRD_OK);
	cr_assert_eq(lrd_array_new(dt("<i4"), 2, s23, LRD_ORDER_C, &o), LRD_OK);
	memcpy(lrd_array_data(o), d2, 24);
	cr_assert_eq(lrd_array_wrap(dt("<i4"), 2, s32, LRD_ORDER_C, d2, 24, &b), LRD_OK);
	cr_assert_eq(lrd_array_wrap(dt("<i4"), 2, s23, LRD_ORDER_F, d2, 24, &f), LRD_OK);
	cr_assert_eq(lrd_array_wrap(dt(">i4"), 2, s23, LRD_ORDER_C, d2, 24, &e), LRD_OK);
	cr_assert_eq(lrd_array_wrap(dt("<u4"), 2, s23, LRD_ORDER_C, d2, 24, &c), LRD_OK);
	cr_expect(lrd_value_equal(a, o), "owned and borrowed with equal bytes");
	cr_expect(!lrd_value_equal(a, b), "shape");
	cr_expect(!lrd_value_equal(a, f), "order");
	cr_expect(!lrd_value_equal(a, e), "byte order");
	cr_expect(!lrd_value_equal(a, c), "kind");
	((int32_t *)lrd_array_data(o))[5] = 7;
	cr_expect(!lrd_value_equal(a, o), "bytes");
	lrd_value_free(a);
	lrd_value_free(b);
	lrd_value_free(c);
	lrd_value_free(f);
	lrd_value_free(e);
	lrd_value_free(o);
}

Test(value, free_handles_very_deep_trees)
{
	/* Built bottom-up: each new container adopts the previous root. */
	lrd_value *root;
	cr_assert_eq(lrd_value_new_nil(&root), LRD_OK);
	for (int i = 0; i < 1000000; i++) {
		lrd_value *next;
		cr_assert_eq(i % 2 ? lrd_value_new_list(&next) : lrd_value_new_map(&next), LRD_OK);
		cr_assert_eq(i % 2 ? lrd_list_append(next, root) : lrd_map_set(next, "k", root),
		             LRD_OK);
		root = next;
	}
	lrd_value_free(root);
	lrd_value_free(NULL);
}

/* ---- allocation failures --------------------------------------------------------------------- */

/* Build a tree touching every allocation path (list and map growth, the map index, strings,
 * bytes, arrays), then clone it; fail each allocation in turn. */
static int build_and_clone(lrd_value **out)
{
	lrd_value *root = NULL, *l = NULL, *v = NULL, *c = NULL;
	int rc = lrd_value_new_map(&root);
	if (rc == LRD_OK)
		rc = lrd_value_new_list(&l);
	if (rc == LRD_OK)
		rc = lrd_map_set(root, "list", l);
	for (int i = 0; rc == LRD_OK && i < 20; i++) {
		char key[16];
		snprintf(key, sizeof key, "k%d", i);
		rc = lrd_value_new_str(key, SIZE_MAX, &v);
		if (rc == LRD_OK)
			rc = lrd_map_set(root, key, v);
		if (rc == LRD_OK)
			rc = lrd_value_new_bytes(key, 2, &v);
		if (rc == LRD_OK)
			rc = lrd_list_append(l, v);
	}
	uint64_t shape[2] = {4, 4};
	if (rc == LRD_OK)
		rc = lrd_array_new((lrd_dtype){'<', 'f', 8}, 2, shape, LRD_ORDER_F, &v);
	if (rc == LRD_OK)
		rc = lrd_map_set(root, "k3", v);
	if (rc == LRD_OK)
		rc = lrd_value_clone(root, &c);
	if (rc == LRD_OK && !lrd_value_equal(root, c))
		rc = LRD_EINVAL;
	lrd_value_free(root);
	*out = c;
	return rc;
}

Test(value, every_allocation_failure_is_reported_without_leaks)
{
	int failures = 0;
	for (long n = 0;; n++) {
		lrd_value *c = NULL;
		lrd__alloc_failafter(n);
		int rc = build_and_clone(&c);
		lrd__alloc_failafter(-1);
		if (rc == LRD_OK) {
			cr_expect_not_null(c);
			lrd_value_free(c);
			break;
		}
		cr_assert_eq(rc, LRD_ENOMEM, "allocation %ld: %s", n, lrd_errname(rc));
		cr_expect_null(c);
		failures++;
	}
	cr_expect_gt(failures, 50);
	NO_LEAKS();
}

Test(value, internal_map_keys_refuse_embedded_nul)
{
	lrd_value *m;
	cr_assert_eq(lrd_value_new_map(&m), LRD_OK);
	cr_expect_eq(lrd__map_set_n(m, "a\0b", 3, mkint(1)), LRD_EINVAL);
	cr_expect_eq(lrd__map_set_n(m, "abc", 2, mkint(2)), LRD_OK);
	cr_expect_not_null(lrd_map_get(m, "ab"));
	cr_expect_eq(lrd_value_len(m), 1);
	lrd_value_free(m);
	NO_LEAKS();
}

/* ---- lrd_value_hash128 ------------------------------------------------------------------- */

static lrd_hash128 hash_of(const lrd_value *v)
{
	lrd_hash128 h = {0, 0};
	cr_assert_eq(lrd_value_hash128(v, 0, &h), LRD_OK, "%s", lrd_errmsg());
	return h;
}

static bool hash_eq(lrd_hash128 a, lrd_hash128 b) { return a.lo == b.lo && a.hi == b.hi; }

Test(hash, fortran_order_array_hashes_as_its_c_order_copy)
{
	lrd_dtype dt;
	lrd_dtype_parse("<i4", &dt);
	uint64_t shape[3] = {3, 4, 5};
	lrd_value *c, *f, *g;
	cr_assert_eq(lrd_array_new(dt, 3, shape, LRD_ORDER_C, &c), LRD_OK);
	cr_assert_eq(lrd_array_new(dt, 3, shape, LRD_ORDER_F, &f), LRD_OK);
	int32_t *pc = lrd_array_data(c), *pf = lrd_array_data(f);
	for (uint64_t i = 0; i < 3; i++)
		for (uint64_t j = 0; j < 4; j++)
			for (uint64_t k = 0; k < 5; k++) {
				int32_t x = (int32_t)(100 * i + 10 * j + k);
				pc[(i * 4 + j) * 5 + k] = x;
				pf[i + 3 * (j + 4 * k)] = x;
			}
	cr_expect(hash_eq(hash_of(c), hash_of(f)));
	/* the same bytes read as a Fortran array are other elements: another hash */
	cr_assert_eq(lrd_array_new(dt, 3, shape, LRD_ORDER_F, &g), LRD_OK);
	memcpy(lrd_array_data(g), pc, lrd_array_nbytes(c));
	cr_expect(!hash_eq(hash_of(c), hash_of(g)));
	lrd_value_free(c);
	lrd_value_free(f);
	lrd_value_free(g);
}

Test(hash, large_fortran_array_streams_through_the_gather_buffer)
{
	lrd_dtype dt;
	lrd_dtype_parse("<f8", &dt);
	uint64_t shape[2] = {300, 257}; /* 600 KiB: several gather buffers, rows not aligned */
	lrd_value *c, *f;
	cr_assert_eq(lrd_array_new(dt, 2, shape, LRD_ORDER_C, &c), LRD_OK);
	cr_assert_eq(lrd_array_new(dt, 2, shape, LRD_ORDER_F, &f), LRD_OK);
	double *pc = lrd_array_data(c), *pf = lrd_array_data(f);
	for (uint64_t i = 0; i < 300; i++)
		for (uint64_t j = 0; j < 257; j++)
			pc[i * 257 + j] = pf[i + 300 * j] = (double)i * 0.5 - (double)j;
	cr_expect(hash_eq(hash_of(c), hash_of(f)));
	pf[7] += 1;
	cr_expect(!hash_eq(hash_of(c), hash_of(f)));
	lrd_value_free(c);
	lrd_value_free(f);
}

Test(hash, map_insertion_order_does_not_matter_but_keys_and_values_do)
{
	lrd_value *a, *b, *x;
	lrd_value_new_map(&a);
	lrd_value_new_map(&b);
	lrd_value_new_int(1, &x);
	lrd_map_set(a, "x", x);
	lrd_value_new_int(2, &x);
	lrd_map_set(a, "y", x);
	lrd_value_new_int(2, &x);
	lrd_map_set(b, "y", x);
	lrd_value_new_int(1, &x);
	lrd_map_set(b, "x", x);
	cr_expect(!lrd_value_equal(a, b)); /* equality keeps order; the hash does not */
	cr_expect(hash_eq(hash_of(a), hash_of(b)));
	lrd_value_new_int(3, &x);
	lrd_map_set(b, "z", x);
	cr_expect(!hash_eq(hash_of(a), hash_of(b)));
	lrd_value_free(a);
	lrd_value_free(b);
}

Test(hash, signed_zeros_and_nans_hash_equal_and_kinds_differ)
{
	lrd_value *pz, *nz, *n1, *n2, *i0, *s, *bt, *l;
	lrd_value_new_float(0.0, &pz);
	lrd_value_new_float(-0.0, &nz);
	uint64_t q = 0x7ff8000000000001ull, r = 0xfff0000000000abcull;
	double d1, d2;
	memcpy(&d1, &q, 8);
	memcpy(&d2, &r, 8);
	lrd_value_new_float(d1, &n1);
	lrd_value_new_float(d2, &n2);
	lrd_value_new_int(0, &i0);
	lrd_value_new_str("ab", 2, &s);
	lrd_value_new_bytes("ab", 2, &bt);
	lrd_value_new_list(&l);
	cr_expect(hash_eq(hash_of(pz), hash_of(nz)));
	cr_expect(hash_eq(hash_of(n1), hash_of(n2)));
	cr_expect(!hash_eq(hash_of(pz), hash_of(i0)));
	cr_expect(!hash_eq(hash_of(s), hash_of(bt)));
	cr_expect(!hash_eq(hash_of(pz), hash_of(n1)));
	/* a seed gives another hash; the same seed the same */
	lrd_hash128 h1, h2;
	lrd_value_hash128(s, 7, &h1);
	lrd_value_hash128(s, 7, &h2);
	cr_expect(hash_eq(h1, h2) && !hash_eq(h1, hash_of(s)));
	/* list nesting is part of the encoding: ["ab"] differs from "ab" */
	lrd_value *c;
	lrd_value_clone(s, &c);
	lrd_list_append(l, c);
	cr_expect(!hash_eq(hash_of(l), hash_of(s)));
	cr_expect_eq(lrd_value_hash128(NULL, 0, &h1), LRD_EINVAL);
	lrd_value *all[] = {pz, nz, n1, n2, i0, s, bt, l};
	for (size_t i = 0; i < 8; i++)
		lrd_value_free(all[i]);
}

Test(hash, value_of_a_known_input_is_stable)
{
	/* pinned: a change of the canonical encoding would silently orphan every memo entry */
	lrd_value *v;
	lrd_value_new_int(42, &v);
	lrd_hash128 h = hash_of(v);
	cr_expect_eq(h.hi, 0x31079cd8ac0d389full);
	cr_expect_eq(h.lo, 0x8d599ed15a8a0cc4ull);
	lrd_value_free(v);
}
