/* npy: .npy files written by real numpy (tests/data/npy, see make_npy.py) load with the right
 * dtype, shape, order and bytes through every entry point; what larder writes is byte for byte
 * what numpy writes and numpy loads it; bad input is refused with specific errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <larder.h>

#include "base/testhook.h"
#include "tests/common/common.h"

#define PYTHON "/usr/bin/python3"

struct fixture {
	char name[64], status[8], descr[16], order, shape[64], code[32];
	int major;
	size_t nbytes;
	uint64_t fnv;
};

static struct fixture fx[128];
static size_t nfx;

static void load_manifest(void)
{
	char path[4096], line[512];
	snprintf(path, sizeof path, "%s/npy/manifest.txt", tc_datadir());
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	nfx = 0;
	while (fgets(line, sizeof line, f) && nfx < 128) {
		struct fixture *x = &fx[nfx];
		memset(x, 0, sizeof *x);
		unsigned long long fnv = 0;
		int n = sscanf(line, "%63s %7s", x->name, x->status);
		cr_assert_eq(n, 2, "manifest: %s", line);
		if (strcmp(x->status, "ok") == 0) {
			n = sscanf(line, "%*s %*s %d %15s %c %63s %zu %llx", &x->major, x->descr,
			           &x->order, x->shape, &x->nbytes, &fnv);
			cr_assert_eq(n, 6, "manifest: %s", line);
			x->fnv = fnv;
		} else {
			cr_assert_eq(sscanf(line, "%*s %*s %31s", x->code), 1, "manifest: %s",
			             line);
		}
		nfx++;
	}
	fclose(f);
	cr_assert_gt(nfx, 80);
}

static char *fixture_path(const char *name)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/npy", tc_datadir());
	return tc_path(dir, name);
}

static void *read_fixture(const char *name, size_t *len)
{
	char *p = fixture_path(name);
	void *buf = tc_read_file(p, len);
	cr_assert_not_null(buf, "%s", p);
	free(p);
	return buf;
}

static uint64_t fnv1a64(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xCBF29CE484222325u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001B3u;
	return h;
}

static void check_array(const struct fixture *x, const lrd_value *a)
{
	char dt[16], shape[64] = "";
	cr_assert_eq(lrd_value_kind(a), LRD_KIND_ARRAY, "%s", x->name);
	cr_assert_eq(lrd_dtype_format(lrd_array_dtype(a), dt, sizeof dt), LRD_OK);
	cr_expect_str_eq(dt, x->descr, "%s", x->name);
	cr_expect_eq(lrd_array_order(a), x->order == 'F' ? LRD_ORDER_F : LRD_ORDER_C, "%s",
	             x->name);
	unsigned ndim = lrd_array_ndim(a);
	if (ndim == 0)
		strcpy(shape, "-");
	for (unsigned i = 0; i < ndim; i++)
		snprintf(shape + strlen(shape), sizeof shape - strlen(shape), i ? ",%llu" : "%llu",
		         (unsigned long long)lrd_array_shape(a)[i]);
	cr_expect_str_eq(shape, x->shape, "%s", x->name);
	cr_expect_eq(lrd_array_nbytes(a), x->nbytes, "%s", x->name);
	cr_expect_eq(fnv1a64(lrd_array_cdata(a), lrd_array_nbytes(a)), x->fnv, "%s: data bytes",
	             x->name);
}

/* ---- every fixture, every entry point -------------------------------------------------------- */

Test(npy, numpy_fixtures_load_with_dtype_shape_order_and_bytes)
{
	load_manifest();
	size_t ok = 0;
	for (size_t i = 0; i < nfx; i++) {
		struct fixture *x = &fx[i];
		char *path = fixture_path(x->name);
		lrd_value *a = NULL;
		int rc = lrd_npy_load(path, &a, NULL);
		if (strcmp(x->status, "ok") != 0) {
			cr_expect_str_eq(lrd_errname(rc), x->code, "%s: %s", x->name, lrd_errmsg());
			cr_expect_null(a);
			free(path);
			continue;
		}
		cr_assert_eq(rc, LRD_OK, "%s: %s", x->name, lrd_errmsg());
		check_array(x, a);
		cr_expect_eq(lrd_array_bufkind(a), LRD_BUF_OWNED);

		size_t len;
		void *img = read_fixture(x->name, &len);
		lrd_value *b = NULL, *c = NULL, *m = NULL;
		cr_assert_eq(lrd_npy_load_memory(img, len, &b, NULL), LRD_OK, "%s: %s", x->name,
		             lrd_errmsg());
		cr_expect(lrd_value_equal(a, b), "%s: load_mem", x->name);

		FILE *f = fmemopen(img, len, "rb"); /* no file descriptor: the stream path */
		cr_assert_eq(lrd_npy_load_file(f, &c, NULL), LRD_OK, "%s: %s", x->name,
		             lrd_errmsg());
		cr_expect(lrd_value_equal(a, c), "%s: load_file", x->name);
		fclose(f);

		lrd_npy_load_options mo = {.mmap = true};
		cr_assert_eq(lrd_npy_load(path, &m, &mo), LRD_OK, "%s: %s", x->name, lrd_errmsg());
		cr_expect_eq(lrd_array_bufkind(m), LRD_BUF_MAPPED, "%s", x->name);
		cr_expect(lrd_value_equal(a, m), "%s: mapped", x->name);

		lrd_npy_header h;
		cr_assert_eq(lrd_npy_read_header(img, len, &h), LRD_OK);
		cr_expect_eq(h.major, x->major, "%s", x->name);
		cr_expect_eq(h.data_offset % 64, 0);
		cr_expect_eq(h.data_offset + h.nbytes, len);

		lrd_value_free(a);
		lrd_value_free(b);
		lrd_value_free(c);
		lrd_value_free(m);
		free(img);
		free(path);
		ok++;
	}
	cr_expect_gt(ok, 80);
}

Test(npy, values_are_kept_in_the_file_byte_order)
{
	char *p = fixture_path("i4be_v1.npy");
	lrd_value *a;
	cr_assert_eq(lrd_npy_load(p, &a, NULL), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_array_dtype(a).order, '>');
	const unsigned char *d = lrd_array_cdata(a);
	/* pattern i * 37 - 50: element 0 is -50 = 0xFFFFFFCE big-endian, element 2 is 24 */
	cr_expect_eq(d[0], 0xFF);
	cr_expect_eq(d[3], 0xCE);
	cr_expect_eq(d[11], 24);
	lrd_value_free(a);
	free(p);
	p = fixture_path("f8le_fortran.npy");
	cr_assert_eq(lrd_npy_load(p, &a, NULL), LRD_OK, "%s", lrd_errmsg());
	const double *f = lrd_array_cdata(a);
	/* Fortran order: buffer[1] is a[1,0] = 4 * 0.75 - 2.5 */
	cr_expect_eq(f[1], 0.5);
	cr_expect_eq(f[3], 0.75 - 2.5);
	lrd_value_free(a);
	free(p);
}

/* ---- writing ------------------------------------------------------------------------------- */

Test(npy, save_writes_the_bytes_numpy_writes)
{
	load_manifest();
	for (size_t i = 0; i < nfx; i++) {
		struct fixture *x = &fx[i];
		if (strcmp(x->status, "ok") != 0)
			continue;
		size_t len, olen;
		void *img = read_fixture(x->name, &len), *out;
		lrd_value *a;
		cr_assert_eq(lrd_npy_load_memory(img, len, &a, NULL), LRD_OK);
		lrd_npy_save_options so = {.version = x->major};
		cr_assert_eq(lrd_npy_save_memory(a, &out, &olen, &so), LRD_OK, "%s", lrd_errmsg());
		cr_expect_eq(olen, len, "%s", x->name);
		cr_expect(olen == len && memcmp(out, img, len) == 0, "%s: bytes differ", x->name);
		if (so.version == 1) {
			void *auto_out;
			size_t alen;
			cr_assert_eq(lrd_npy_save_memory(a, &auto_out, &alen, NULL), LRD_OK);
			cr_expect(alen == len && memcmp(auto_out, img, len) == 0,
			          "%s: default version", x->name);
			lrd_free(auto_out);
		}
		lrd_free(out);
		lrd_value_free(a);
		free(img);
	}
}

static const char *compare_py =
    "import sys, numpy as np\n"
    "data, out = sys.argv[1], sys.argv[2]\n"
    "bad = 0\n"
    "for line in open(data + \"/manifest.txt\"):\n"
    "    f = line.split()\n"
    "    if f[1] != \"ok\": continue\n"
    "    a = np.load(data + \"/\" + f[0]); b = np.load(out + \"/\" + f[0])\n"
    "    if a.dtype.str != b.dtype.str or a.shape != b.shape or not np.array_equal(a, b) \\\n"
    "       or a.flags.f_contiguous != b.flags.f_contiguous:\n"
    "        print(\"mismatch\", f[0], a.dtype, b.dtype, a.shape, b.shape); bad += 1\n"
    "sys.exit(1 if bad else 0)\n";

Test(npy, numpy_loads_what_larder_writes)
{
	cr_assert(access(PYTHON, X_OK) == 0, "%s with numpy is required", PYTHON);
	load_manifest();
	char *dir = tc_tmpdir(), data[4096];
	snprintf(data, sizeof data, "%s/npy", tc_datadir());
	for (size_t i = 0; i < nfx; i++) {
		struct fixture *x = &fx[i];
		if (strcmp(x->status, "ok") != 0)
			continue;
		char *src = fixture_path(x->name), *dst = tc_path(dir, x->name);
		lrd_value *a;
		cr_assert_eq(lrd_npy_load(src, &a, NULL), LRD_OK);
		lrd_npy_save_options so = {.version =
		                               (int)(i % 3) + 1}; /* every version numpy reads */
		cr_assert_eq(lrd_npy_save(a, dst, &so), LRD_OK, "%s", lrd_errmsg());
		lrd_value_free(a);
		free(src);
		free(dst);
	}
	char *script = tc_path(dir, "compare.py");
	cr_assert_eq(tc_write_file(script, compare_py, strlen(compare_py)), 0);
	cr_expect_eq(tc_sh("%s -W ignore %s '%s' '%s'", PYTHON, script, data, dir), 0);
	free(script);
	tc_rmtree(dir);
	free(dir);
}

Test(npy, numpy_reads_arrays_built_in_c)
{
	char *dir = tc_tmpdir(), *p1 = tc_path(dir, "f.npy"), *p2 = tc_path(dir, "z.npy"),
	     *p3 = tc_path(dir, "s.npy");
	uint64_t shape[2] = {3, 4};
	lrd_dtype dt;
	lrd_value *a;
	cr_assert_eq(lrd_dtype_parse(">i8", &dt), LRD_OK);
	cr_assert_eq(lrd_array_new(dt, 2, shape, LRD_ORDER_F, &a), LRD_OK);
	unsigned char *d = lrd_array_data(a);
	for (int i = 0; i < 12; i++)
		d[i * 8 + 7] = (unsigned char)i; /* big-endian i */
	cr_assert_eq(lrd_npy_save(a, p1, NULL), LRD_OK);
	lrd_value_free(a);
	cr_assert_eq(lrd_dtype_parse("<c16", &dt), LRD_OK);
	cr_assert_eq(lrd_array_new(dt, 0, NULL, LRD_ORDER_C, &a), LRD_OK);
	double *z = lrd_array_data(a);
	z[0] = 1.5;
	z[1] = -2;
	lrd_npy_save_options v3 = {.version = 3};
	cr_assert_eq(lrd_npy_save(a, p2, &v3), LRD_OK);
	lrd_value_free(a);
	cr_assert_eq(lrd_dtype_parse("|S3", &dt), LRD_OK);
	uint64_t two[1] = {2};
	cr_assert_eq(lrd_array_wrap(dt, 1, two, LRD_ORDER_C, "ab\0xyz", 6, &a), LRD_OK);
	cr_assert_eq(lrd_npy_save(a, p3, NULL), LRD_OK);
	lrd_value_free(a);
	cr_expect_eq(
	    tc_sh("%s -c 'import numpy as np, sys\n"
	          "a = np.load(sys.argv[1]); z = np.load(sys.argv[2]); s = np.load(sys.argv[3])\n"
	          "assert a.dtype.str == \">i8\" and np.isfortran(a), a.dtype\n"
	          "assert (a == np.arange(12).reshape(4, 3).T).all(), a\n"
	          "assert z.shape == () and z == 1.5 - 2j, z\n"
	          "assert list(s) == [b\"ab\", b\"xyz\"], s' '%s' '%s' '%s'",
	          PYTHON, p1, p2, p3),
	    0);
	free(p1);
	free(p2);
	free(p3);
	tc_rmtree(dir);
	free(dir);
}

Test(npy, load_file_reads_consecutive_arrays)
{
	FILE *f = tmpfile();
	cr_assert_not_null(f);
	lrd_dtype dt;
	cr_assert_eq(lrd_dtype_parse("<u2", &dt), LRD_OK);
	uint64_t s1[1] = {5}, s2[2] = {2, 2};
	lrd_value *a, *b, *x, *y;
	cr_assert_eq(lrd_array_new(dt, 1, s1, LRD_ORDER_C, &a), LRD_OK);
	cr_assert_eq(lrd_array_new(dt, 2, s2, LRD_ORDER_F, &b), LRD_OK);
	((uint16_t *)lrd_array_data(a))[4] = 9;
	((uint16_t *)lrd_array_data(b))[1] = 7;
	cr_assert_eq(lrd_npy_save_file(a, f, NULL), LRD_OK);
	cr_assert_eq(lrd_npy_save_file(b, f, NULL), LRD_OK);
	rewind(f);
	cr_assert_eq(lrd_npy_load_file(f, &x, NULL), LRD_OK, "%s", lrd_errmsg());
	cr_assert_eq(lrd_npy_load_file(f, &y, NULL), LRD_OK, "%s", lrd_errmsg());
	cr_expect(lrd_value_equal(a, x));
	cr_expect(lrd_value_equal(b, y));
	lrd_value_free(x);
	cr_expect_eq(lrd_npy_load_file(f, &x, NULL), LRD_ECORRUPT, "at EOF");
	cr_expect_null(x);
	fclose(f);
	lrd_value_free(a);
	lrd_value_free(b);
	lrd_value_free(y);
}

Test(npy, save_refuses_non_arrays_and_reports_io_errors)
{
	lrd_value *i, *a;
	cr_assert_eq(lrd_value_new_int(1, &i), LRD_OK);
	void *out;
	size_t len;
	cr_expect_eq(lrd_npy_save_memory(i, &out, &len, NULL), LRD_EINVAL);
	cr_expect_eq(lrd_npy_save_memory(NULL, &out, &len, NULL), LRD_EINVAL);
	lrd_dtype dt;
	cr_assert_eq(lrd_dtype_parse("<f4", &dt), LRD_OK);
	cr_assert_eq(lrd_array_new(dt, 0, NULL, LRD_ORDER_C, &a), LRD_OK);
	lrd_npy_save_options bad = {.version = 4};
	cr_expect_eq(lrd_npy_save_memory(a, &out, &len, &bad), LRD_EINVAL);
	cr_expect_eq(lrd_npy_save(a, "/nonexistent-dir/x.npy", NULL), LRD_EIO);
	cr_expect(strstr(lrd_errmsg(), "/nonexistent-dir/x.npy") != NULL, "%s", lrd_errmsg());
	lrd_value_free(a);
	cr_expect_eq(lrd_npy_load("/nonexistent-dir/x.npy", &a, NULL), LRD_ENOTFOUND);
	cr_expect_null(a);
	lrd_value_free(i);
}

/* ---- bad input ------------------------------------------------------------------------------ */

Test(npy, truncation_at_every_offset_is_corrupt)
{
	static const char *const names[] = {"f8le_v1.npy", "c16be_v2.npy", "S5_v3.npy",
	                                    "f8le_0d.npy"};
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		size_t len;
		unsigned char *img = read_fixture(names[k], &len);
		for (size_t n = 0; n < len; n++) {
			lrd_value *v = NULL;
			unsigned char *cut = malloc(n + 1); /* exact size, so ASan sees overreads */
			memcpy(cut, img, n);
			cr_assert_eq(lrd_npy_load_memory(cut, n, &v, NULL), LRD_ECORRUPT,
			             "%s cut at %zu: %s", names[k], n, lrd_errmsg());
			cr_assert_null(v);
			FILE *f = fmemopen(cut, n ? n : 1, "rb");
			if (n == 0)
				fgetc(f);
			cr_assert_eq(lrd_npy_load_file(f, &v, NULL), LRD_ECORRUPT,
			             "%s stream cut at %zu", names[k], n);
			fclose(f);
			free(cut);
		}
		unsigned char *longer = malloc(len + 1);
		memcpy(longer, img, len);
		longer[len] = 0;
		lrd_value *v;
		cr_expect_eq(lrd_npy_load_memory(longer, len + 1, &v, NULL), LRD_ECORRUPT);
		cr_expect(strstr(lrd_errmsg(), "after") != NULL, "%s", lrd_errmsg());
		free(longer);
		free(img);
	}
}

Test(npy, truncated_and_longer_files_are_corrupt)
{
	size_t len;
	unsigned char *img = read_fixture("i8le_v1.npy", &len);
	char *dir = tc_tmpdir(), *p = tc_path(dir, "t.npy");
	lrd_value *v;
	cr_assert_eq(tc_write_file(p, img, len - 1), 0);
	cr_expect_eq(lrd_npy_load(p, &v, NULL), LRD_ECORRUPT);
	cr_expect(strstr(lrd_errmsg(), "truncated") != NULL, "%s", lrd_errmsg());
	lrd_npy_load_options mo = {.mmap = true};
	cr_expect_eq(lrd_npy_load(p, &v, &mo), LRD_ECORRUPT);
	unsigned char *more = malloc(len + 8);
	memcpy(more, img, len);
	memset(more + len, 0, 8);
	cr_assert_eq(tc_write_file(p, more, len + 8), 0);
	cr_expect_eq(lrd_npy_load(p, &v, NULL), LRD_ECORRUPT);
	cr_expect_eq(lrd_npy_load(p, &v, &mo), LRD_ECORRUPT);
	free(more);
	free(img);
	free(p);
	tc_rmtree(dir);
	free(dir);
}

Test(npy, flipped_header_bits_never_crash)
{
	size_t len;
	unsigned char *img = read_fixture("c8le_v2.npy", &len);
	lrd_npy_header h;
	cr_assert_eq(lrd_npy_read_header(img, len, &h), LRD_OK);
	unsigned char *buf = malloc(len);
	size_t accepted = 0;
	for (size_t i = 0; i < h.data_offset; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(buf, img, len);
			buf[i] ^= (unsigned char)(1u << bit);
			lrd_value *v = NULL;
			int rc = lrd_npy_load_memory(buf, len, &v, NULL);
			cr_assert(rc == LRD_OK || rc == LRD_EFORMAT || rc == LRD_EVERSION ||
			              rc == LRD_EDTYPE || rc == LRD_ECORRUPT || rc == LRD_ELIMIT,
			          "byte %zu bit %d: %s", i, bit, lrd_errname(rc));
			if (rc == LRD_OK) {
				cr_assert_eq(lrd_array_nbytes(v), h.nbytes);
				accepted++;
			}
			lrd_value_free(v);
		}
	}
	/* Only a few flips keep a valid file of the same size ('<c8' -> '>c8'). */
	cr_expect_lt(accepted, 16);
	free(buf);
	free(img);
}

/* A v1.0 file whose header is `dict` (padded as numpy pads), followed by `data` bytes. */
static unsigned char *craft(const char *dict, int major, size_t data, size_t *len)
{
	size_t n = strlen(dict), pre = major == 1 ? 10 : 12, h = n + 1;
	size_t pad = 64 - (pre + h) % 64;
	*len = pre + h + pad + data;
	unsigned char *b = calloc(1, *len);
	memcpy(b, "\x93NUMPY", 6);
	b[6] = (unsigned char)major;
	b[7] = 0;
	size_t hl = h + pad;
	for (size_t i = 0; i < pre - 8; i++)
		b[8 + i] = (unsigned char)(hl >> (8 * i));
	memcpy(b + pre, dict, n);
	memset(b + pre + n, ' ', pad);
	b[pre + hl - 1] = '\n';
	return b;
}

static int load_crafted(const char *dict, int major, size_t data)
{
	size_t len;
	unsigned char *b = craft(dict, major, data, &len);
	lrd_value *v = NULL;
	int rc = lrd_npy_load_memory(b, len, &v, NULL);
	lrd_value_free(v);
	free(b);
	return rc;
}

Test(npy, crafted_headers_are_parsed_strictly)
{
	const char *ok = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
	cr_expect_eq(load_crafted(ok, 1, 16), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(
	    load_crafted("{\"shape\": (2, 1), \"descr\": \"<i2\", \"fortran_order\": True}", 2, 4),
	    LRD_OK, "any key order, double quotes, no trailing comma: %s", lrd_errmsg());
	cr_expect_eq(
	    load_crafted("{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 1L), }", 1, 16),
	    LRD_OK, "Python 2 longs: %s", lrd_errmsg());
	static const struct {
		const char *dict;
		int code;
	} bad[] = {
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2), }", LRD_EFORMAT},
	    {"{'descr': '<f8', 'fortran_order': False, }", LRD_EFORMAT},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}", LRD_EFORMAT},
	    {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,)}",
	     LRD_EFORMAT},
	    {"{'descr': '<f8', 'fortran_order': 0, 'shape': (2,)}", LRD_EFORMAT},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (-2,)}", LRD_EFORMAT},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (02,)}", LRD_EFORMAT},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,,)}", LRD_EFORMAT},
	    {"{'descr': '<f8' 'fortran_order': False, 'shape': (2,)}", LRD_EFORMAT},
	    {"{'descr': '<f\\x38', 'fortran_order': False, 'shape': (2,)}", LRD_EFORMAT},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} x", LRD_EFORMAT},
	    {"['descr', '<f8']", LRD_EFORMAT},
	    {"{'descr': '|O', 'fortran_order': False, 'shape': (2,)}", LRD_EDTYPE},
	    {"{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2,)}", LRD_EDTYPE},
	    {"{'descr': '<U8', 'fortran_order': False, 'shape': (2,)}", LRD_EDTYPE},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (1152921504606846976,)}",
	     LRD_ELIMIT},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
	     LRD_ELIMIT},
	    {"{'descr': '|u1', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
	     "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1)}",
	     LRD_ELIMIT},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = load_crafted(bad[i].dict, 1, 16);
		cr_expect_eq(rc, bad[i].code, "%s: %s (%s)", bad[i].dict, lrd_errname(rc),
		             lrd_errmsg());
	}
}

Test(npy, lying_shapes_allocate_nothing_large)
{
	/* 2^40 doubles = 8 TiB declared, 16 bytes present: refused before any allocation. */
	const char *lie = "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }";
	cr_expect_eq(load_crafted(lie, 1, 16), LRD_ECORRUPT);
	size_t len;
	unsigned char *b = craft(lie, 1, 16, &len);
	FILE *f = fmemopen(b, len, "rb");
	lrd_value *v;
	cr_expect_eq(lrd_npy_load_file(f, &v, NULL), LRD_ECORRUPT, "%s", lrd_errmsg());
	fclose(f);
	char *dir = tc_tmpdir(), *p = tc_path(dir, "lie.npy");
	cr_assert_eq(tc_write_file(p, b, len), 0);
	cr_expect_eq(lrd_npy_load(p, &v, NULL), LRD_ECORRUPT);
	lrd_npy_load_options mo = {.mmap = true};
	cr_expect_eq(lrd_npy_load(p, &v, &mo), LRD_ECORRUPT);
	free(p);
	tc_rmtree(dir);
	free(dir);
	free(b);
	const char *ok = "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }";
	b = craft(ok, 1, 32, &len);
	lrd_npy_load_options lim = {.max_array_bytes = 31};
	cr_expect_eq(lrd_npy_load_memory(b, len, &v, &lim), LRD_ELIMIT);
	lim.max_array_bytes = 32;
	cr_expect_eq(lrd_npy_load_memory(b, len, &v, &lim), LRD_OK);
	lrd_value_free(v);
	free(b);
}

Test(npy, versions_and_lengths_are_checked)
{
	size_t len;
	unsigned char *b =
	    craft("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 1, 8, &len);
	lrd_value *v;
	b[6] = 4;
	cr_expect_eq(lrd_npy_load_memory(b, len, &v, NULL), LRD_EVERSION);
	b[6] = 1;
	b[7] = 1;
	cr_expect_eq(lrd_npy_load_memory(b, len, &v, NULL), LRD_EVERSION);
	b[7] = 0;
	b[0] = 0x89;
	cr_expect_eq(lrd_npy_load_memory(b, len, &v, NULL), LRD_EFORMAT);
	cr_expect(strstr(lrd_errmsg(), "89 4e 55 4d") != NULL, "%s", lrd_errmsg());
	free(b);
	unsigned char big[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0x20, 0x4e, 0, 0};
	lrd_npy_header h;
	cr_expect_eq(lrd_npy_read_header(big, sizeof big, &h), LRD_ELIMIT, "20000-byte header");
	big[9] = 0x01; /* 288 bytes */
	cr_expect_eq(lrd_npy_read_header(big, sizeof big, &h), LRD_EBUFSIZE);
	cr_expect_eq(h.data_offset, 12 + 0x120);
	cr_expect_eq(lrd_npy_read_header(big, 3, &h), LRD_EBUFSIZE);
	cr_expect_eq(lrd_npy_read_header(NULL, 0, &h), LRD_EBUFSIZE);
}

Test(npy, allocation_failures_are_reported_cleanly)
{
	size_t len;
	void *img = read_fixture("c16le_v2.npy", &len);
	int failures = 0;
	for (long n = 0;; n++) {
		lrd_value *a = NULL, *b = NULL;
		void *out = NULL;
		size_t olen;
		FILE *f = fmemopen(img, len, "rb");
		lrd__alloc_failafter(n);
		int rc = lrd_npy_load_memory(img, len, &a, NULL);
		if (rc == LRD_OK)
			rc = lrd_npy_load_file(f, &b, NULL);
		if (rc == LRD_OK)
			rc = lrd_npy_save_memory(a, &out, &olen, NULL);
		lrd__alloc_failafter(-1);
		fclose(f);
		lrd_value_free(a);
		lrd_value_free(b);
		lrd_free(out);
		if (rc == LRD_OK)
			break;
		cr_assert_eq(rc, LRD_ENOMEM, "allocation %ld: %s", n, lrd_errname(rc));
		failures++;
	}
	cr_expect_geq(failures, 4);
	free(img);
}

Test(npy, misaligned_data_is_read_instead_of_mapped)
{
	/* numpy's reader accepts any data offset; this one is 8 mod 64, too loose to map. */
	const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
	size_t n = strlen(dict), off = 10 + n + 1;
	while (off % 64 != 8)
		off++;
	unsigned char *b = calloc(1, off + 16);
	memcpy(b, "\x93NUMPY\x01\x00", 8);
	b[8] = (unsigned char)((off - 10) & 0xFF);
	b[9] = (unsigned char)((off - 10) >> 8);
	memset(b + 10, ' ', off - 10);
	memcpy(b + 10, dict, n);
	b[off - 1] = '\n';
	double two[2] = {1.25, -3};
	memcpy(b + off, two, 16);
	char *dir = tc_tmpdir(), *p = tc_path(dir, "odd.npy");
	cr_assert_eq(tc_write_file(p, b, off + 16), 0);
	lrd_npy_load_options mo = {.mmap = true};
	lrd_value *v;
	cr_assert_eq(lrd_npy_load(p, &v, &mo), LRD_OK, "%s", lrd_errmsg());
	cr_expect_eq(lrd_array_bufkind(v), LRD_BUF_OWNED);
	cr_expect_eq(((const double *)lrd_array_cdata(v))[1], -3);
	lrd_value_free(v);
	free(p);
	tc_rmtree(dir);
	free(dir);
	free(b);
}

Test(npy, options_with_nonzero_reserved_words_are_refused)
{
	lrd_dtype dt;
	lrd_value *a, *back = NULL;
	cr_assert_eq(lrd_dtype_parse("<f4", &dt), LRD_OK);
	uint64_t shape[1] = {3};
	cr_assert_eq(lrd_array_new(dt, 1, shape, LRD_ORDER_C, &a), LRD_OK);
	void *out;
	size_t len;
	lrd_npy_save_options so = {0};
	so.reserved[2] = 1;
	cr_expect_eq(lrd_npy_save_memory(a, &out, &len, &so), LRD_EINVAL);
	cr_expect(strstr(lrd_errmsg(), "lrd_npy_save_options.reserved[2]"), "%s", lrd_errmsg());
	cr_assert_eq(lrd_npy_save_memory(a, &out, &len, NULL), LRD_OK);
	lrd_npy_load_options lo = {0};
	lo.reserved[5] = 1;
	cr_expect_eq(lrd_npy_load_memory(out, len, &back, &lo), LRD_EINVAL);
	cr_expect_null(back);
	cr_expect_eq(lrd_npy_load("/nonexistent-dir/x.npy", &back, &lo), LRD_EINVAL);
	lrd_free(out);
	lrd_value_free(a);
}
