/* numpy .npy files (NEP 1): the strict header parser, the header writer, and loading and
 * saving on paths, FILE* streams and memory.
 *
 * A file is: "\x93NUMPY", major and minor version bytes, the header length (uint16 LE for
 * 1.0, uint32 LE for 2.0 and 3.0), the header — a Python dict literal padded with spaces and
 * ended by '\n' — then the raw array bytes in the header's dtype and order. Nothing is
 * allocated from a header's claims before they are checked against what the input can hold:
 * memory and regular files are measured first; streams of unknown length are read in steps
 * that double with the bytes received. The writer reproduces numpy >= 1.24 byte for byte:
 * sorted keys, room for the first axis to grow to 21 digits, the data offset padded to a
 * multiple of 64 (a whole 64 more when already aligned, as numpy does). Stateless. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/io/io_internal.h"
#include "engine/value/dtype_internal.h"
#include "engine/value/value_internal.h"
#include "larder/npy.h"

#define MAGIC         "\x93NUMPY"
#define MAGIC_LEN     6
#define PREAMBLE_MAX  12 /* magic, version, 4-byte length */
#define ALIGN         64
#define GROWTH_DIGITS 21
#define STREAM_STEP   ((size_t)1 << 20)

/* ---- header parsing -------------------------------------------------------------------------- */

struct cursor {
	const char *p, *start, *end;
};

static int syntax(const struct cursor *c, const char *what)
{
	return lrd__err(LRD_EFORMAT, "npy header: expected %s at offset %td", what,
	                c->p - c->start);
}

static void skip_spaces(struct cursor *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

static bool accept(struct cursor *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		skip_spaces(c);
		return true;
	}
	return false;
}

static bool accept_word(struct cursor *c, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
		c->p += n;
		skip_spaces(c);
		return true;
	}
	return false;
}

/* A quoted string without escapes; *s points into the header. */
static int parse_string(struct cursor *c, const char **s, size_t *n)
{
	if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
		return syntax(c, "a quoted string");
	char q = *c->p++;
	const char *b = c->p;
	while (c->p < c->end && *c->p != q) {
		if (*c->p == '\\')
			return lrd__err(LRD_EFORMAT, "npy header: escape in a string at offset %td",
			                c->p - c->start);
		c->p++;
	}
	if (c->p >= c->end)
		return syntax(c, "the end of a string");
	*s = b;
	*n = (size_t)(c->p - b);
	c->p++;
	skip_spaces(c);
	return LRD_OK;
}

static int parse_descr(struct cursor *c, lrd_dtype *dt)
{
	if (c->p < c->end && *c->p == '[')
		return lrd__err(LRD_EDTYPE,
		                "npy: structured dtypes (a list 'descr') are not supported");
	const char *s;
	size_t n;
	int rc = parse_string(c, &s, &n);
	if (rc != LRD_OK)
		return rc;
	char typestr[40];
	if (n >= sizeof typestr)
		return lrd__err(LRD_EDTYPE, "npy: dtype '%.40s...' is not supported", s);
	memcpy(typestr, s, n);
	typestr[n] = '\0';
	if (n >= 2 && typestr[1] == 'O')
		return lrd__err(LRD_EDTYPE,
		                "npy: object arrays (dtype '%s') are refused: loading "
		                "them would need pickle",
		                typestr);
	rc = lrd_dtype_parse(typestr, dt);
	return rc == LRD_OK ? rc : lrd__errctx(rc, "npy descr");
}

static int parse_shape(struct cursor *c, lrd_npy_header *h)
{
	if (!accept(c, '('))
		return syntax(c, "'(' opening the shape");
	unsigned n = 0;
	bool comma = false;
	while (!accept(c, ')')) {
		if (n && !comma)
			return syntax(c, "',' or ')' in the shape");
		if (c->p >= c->end || *c->p < '0' || *c->p > '9')
			return syntax(c, "a non-negative integer in the shape");
		if (*c->p == '0' && c->p + 1 < c->end && c->p[1] >= '0' && c->p[1] <= '9')
			return syntax(c, "an integer without leading zeros");
		uint64_t v = 0;
		for (; c->p < c->end && *c->p >= '0' && *c->p <= '9'; c->p++) {
			if (v > (UINT64_MAX - 9) / 10)
				return lrd__err(LRD_ELIMIT, "npy: shape extent %u is too large", n);
			v = v * 10 + (uint64_t)(*c->p - '0');
		}
		if (c->p < c->end && *c->p == 'L') /* Python 2 long, as numpy still reads */
			c->p++;
		skip_spaces(c);
		if (n == LRD_MAX_NDIM)
			return lrd__err(LRD_ELIMIT, "npy: more than %d dimensions", LRD_MAX_NDIM);
		h->shape[n++] = v;
		comma = accept(c, ',');
	}
	if (n == 1 && !comma)
		return lrd__err(LRD_EFORMAT, "npy header: a one-element shape needs a comma: (n,)");
	h->ndim = n;
	return LRD_OK;
}

static int parse_dict(struct cursor *c, lrd_npy_header *h)
{
	enum { DESCR = 1, FORTRAN = 2, SHAPE = 4 };
	unsigned seen = 0;
	int rc;
	if (!accept(c, '{'))
		return syntax(c, "'{'");
	while (!accept(c, '}')) {
		const char *k;
		size_t kn;
		if ((rc = parse_string(c, &k, &kn)) != LRD_OK)
			return rc;
		if (!accept(c, ':'))
			return syntax(c, "':'");
		unsigned key = kn == 5 && memcmp(k, "descr", 5) == 0             ? DESCR
		               : kn == 13 && memcmp(k, "fortran_order", 13) == 0 ? FORTRAN
		               : kn == 5 && memcmp(k, "shape", 5) == 0           ? SHAPE
		                                                                 : 0;
		if (!key)
			return lrd__err(LRD_EFORMAT, "npy header: unexpected key '%.*s'",
			                (int)(kn > 40 ? 40 : kn), k);
		if (seen & key)
			return lrd__err(LRD_EFORMAT, "npy header: key '%.*s' appears twice",
			                (int)kn, k);
		seen |= key;
		if (key == DESCR)
			rc = parse_descr(c, &h->dtype);
		else if (key == SHAPE)
			rc = parse_shape(c, h);
		else if (accept_word(c, "True"))
			h->order = LRD_ORDER_F;
		else if (accept_word(c, "False"))
			h->order = LRD_ORDER_C;
		else
			rc = syntax(c, "True or False for 'fortran_order'");
		if (rc != LRD_OK)
			return rc;
		if (!accept(c, ',') && (c->p >= c->end || *c->p != '}'))
			return syntax(c, "',' or '}'");
	}
	if (seen != (DESCR | FORTRAN | SHAPE))
		return lrd__err(LRD_EFORMAT, "npy header: missing key '%s'",
		                !(seen & DESCR)     ? "descr"
		                : !(seen & FORTRAN) ? "fortran_order"
		                                    : "shape");
	if (c->p != c->end)
		return syntax(c, "only spaces after '}'");
	return LRD_OK;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int need(lrd_npy_header *out, size_t n)
{
	out->data_offset = n;
	return lrd__err(LRD_EBUFSIZE, "npy: header needs %zu bytes", n);
}

int lrd_npy_read_header(const void *buf, size_t len, lrd_npy_header *out)
{
	if (!out || (!buf && len))
		return lrd__err(LRD_EINVAL, "lrd_npy_read_header: NULL argument");
	memset(out, 0, sizeof *out);
	const unsigned char *b = buf;
	size_t m = len < MAGIC_LEN ? len : MAGIC_LEN;
	if (m && memcmp(b, MAGIC, m) != 0) {
		char hex[3 * 8 + 1] = "";
		for (size_t i = 0; i < len && i < 8; i++)
			snprintf(hex + 3 * i, 4, "%02x ", b[i]);
		return lrd__err(LRD_EFORMAT, "not a .npy file: starts with %s", hex);
	}
	if (len < MAGIC_LEN + 2)
		return need(out, MAGIC_LEN + 2 + 2);
	out->major = b[6];
	out->minor = b[7];
	if (out->major < 1 || out->major > 3 || out->minor != 0)
		return lrd__err(LRD_EVERSION,
		                "npy format version %u.%u (larder reads 1.0, 2.0, 3.0)", out->major,
		                out->minor);
	size_t lensize = out->major == 1 ? 2 : 4, pre = MAGIC_LEN + 2 + lensize;
	if (len < pre)
		return need(out, pre);
	size_t hlen = lensize == 2 ? (size_t)b[8] | (size_t)b[9] << 8 : le32(b + 8);
	if (hlen > LRD_NPY_MAX_HEADER)
		return lrd__err(LRD_ELIMIT, "npy header of %zu bytes (at most %d)", hlen,
		                LRD_NPY_MAX_HEADER);
	if (len < pre + hlen)
		return need(out, pre + hlen);
	const char *text = (const char *)b + pre;
	if (hlen == 0 || text[hlen - 1] != '\n')
		return lrd__err(LRD_EFORMAT, "npy header does not end with a newline");
	/* 1.0 and 2.0 headers are latin-1, 3.0 headers UTF-8; either way no control bytes. */
	for (size_t i = 0; i + 1 < hlen; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			return lrd__err(LRD_EFORMAT,
			                "npy header: control byte 0x%02x at offset %zu",
			                (unsigned char)text[i], i);
	if (out->major == 3 && !lrd__utf8_valid(text, hlen))
		return lrd__err(LRD_EFORMAT, "npy 3.0 header is not valid UTF-8");
	struct cursor c = {text, text, text + hlen - 1};
	int rc = parse_dict(&c, out);
	if (rc == LRD_OK)
		rc = lrd__array_size(out->dtype, out->ndim, out->shape, &out->count, &out->nbytes);
	if (rc != LRD_OK) {
		memset(out, 0, sizeof *out);
		return rc;
	}
	out->data_offset = pre + hlen;
	return LRD_OK;
}

/* ---- loading --------------------------------------------------------------------------------- */

static int check_options(const lrd_npy_load_options *opts)
{
	return opts ? LRD__RESERVED_CHECK(opts, "lrd_npy_load_options") : LRD_OK;
}

static int check_limit(const lrd_npy_header *h, const lrd_npy_load_options *opts)
{
	if (opts && opts->max_array_bytes && h->nbytes > opts->max_array_bytes)
		return lrd__err(LRD_ELIMIT, "npy array of %zu bytes exceeds the limit of %llu",
		                h->nbytes, (unsigned long long)opts->max_array_bytes);
	return LRD_OK;
}

static int data_size_mismatch(const lrd_npy_header *h, size_t have)
{
	if (have < h->nbytes)
		return lrd__err(LRD_ECORRUPT,
		                "npy data truncated: the shape needs %zu bytes, %zu follow",
		                h->nbytes, have);
	return lrd__err(LRD_ECORRUPT, "npy: %zu bytes after the %zu bytes of data",
	                have - h->nbytes, h->nbytes);
}

static int new_array(const lrd_npy_header *h, const void *data, lrd_value **out)
{
	int rc = lrd__array_new_uninit(h->dtype, h->ndim, h->shape, h->order, out);
	if (rc == LRD_OK && h->nbytes)
		memcpy(lrd_array_data(*out), data, h->nbytes);
	return rc;
}

static int header_mem(const void *buf, size_t len, lrd_npy_header *h)
{
	int rc = lrd_npy_read_header(buf, len, h);
	if (rc == LRD_EBUFSIZE)
		return lrd__err(LRD_ECORRUPT, "npy header truncated: %zu of %zu bytes", len,
		                h->data_offset);
	return rc;
}

int lrd_npy_load_memory(const void *buf, size_t len, lrd_value **out,
                        const lrd_npy_load_options *opts)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_npy_load_memory: NULL output");
	*out = NULL;
	int rc = check_options(opts);
	if (rc != LRD_OK)
		return rc;
	lrd_npy_header h;
	rc = header_mem(buf, len, &h);
	if (rc == LRD_OK && len - h.data_offset != h.nbytes)
		rc = data_size_mismatch(&h, len - h.data_offset);
	if (rc == LRD_OK)
		rc = check_limit(&h, opts);
	if (rc == LRD_OK)
		rc = new_array(&h, (const char *)buf + h.data_offset, out);
	return rc;
}

static int read_error(FILE *f, const char *what)
{
	if (ferror(f))
		return lrd__err(LRD_EIO, "npy: reading the %s: %s", what, strerror(errno));
	return lrd__err(LRD_ECORRUPT, "npy %s truncated", what);
}

static int header_file(FILE *f, lrd_npy_header *h, char *buf)
{
	size_t have = fread(buf, 1, PREAMBLE_MAX, f);
	int rc = lrd_npy_read_header(buf, have, h);
	if (rc == LRD_EBUFSIZE && have == PREAMBLE_MAX) {
		size_t want = h->data_offset;
		have += fread(buf + have, 1, want - have, f);
		rc = lrd_npy_read_header(buf, have, h);
	}
	if (rc == LRD_EBUFSIZE)
		return read_error(f, "header");
	return rc;
}

/* Bytes left in f if it is a regular file, else -1. */
static long long remaining(FILE *f)
{
	struct stat st;
	int fd = fileno(f);
	off_t pos;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (pos = ftello(f)) < 0)
		return -1;
	return st.st_size > pos ? (long long)(st.st_size - pos) : 0;
}

/* Read h->nbytes from a stream of unknown length, growing the buffer with what arrived. */
static int read_stream(FILE *f, const lrd_npy_header *h, lrd_value **out)
{
	size_t cap = h->nbytes < STREAM_STEP ? h->nbytes : STREAM_STEP, have = 0;
	char *buf = lrd__malloc(cap);
	if (!buf)
		return LRD_ENOMEM;
	int rc = LRD_OK;
	while (have < h->nbytes) {
		if (have == cap) {
			size_t ncap = cap > h->nbytes / 2 ? h->nbytes : cap * 2;
			char *nb = lrd__realloc(buf, ncap);
			if (!nb) {
				rc = LRD_ENOMEM;
				break;
			}
			buf = nb;
			cap = ncap;
		}
		size_t got = fread(buf + have, 1, cap - have, f);
		have += got;
		if (got == 0) {
			rc = ferror(f) ? read_error(f, "data") : data_size_mismatch(h, have);
			break;
		}
	}
	if (rc == LRD_OK)
		rc = new_array(h, buf, out);
	lrd__free(buf);
	return rc;
}

static int load_stream(FILE *f, lrd_value **out, const lrd_npy_load_options *opts, bool whole)
{
	char buf[PREAMBLE_MAX + LRD_NPY_MAX_HEADER];
	lrd_npy_header h;
	int rc = header_file(f, &h, buf);
	if (rc == LRD_OK)
		rc = check_limit(&h, opts);
	if (rc != LRD_OK)
		return rc;
	long long left = remaining(f);
	if (left < 0) {
		rc = read_stream(f, &h, out);
		if (rc == LRD_OK && whole && fgetc(f) != EOF) {
			lrd_value_free(*out);
			*out = NULL;
			rc = lrd__err(LRD_ECORRUPT, "npy: bytes after the %zu bytes of data",
			              h.nbytes);
		}
		return rc;
	}
	if ((unsigned long long)left < h.nbytes || (whole && (unsigned long long)left != h.nbytes))
		return data_size_mismatch(&h, (size_t)left);
	if ((rc = lrd__array_new_uninit(h.dtype, h.ndim, h.shape, h.order, out)) != LRD_OK)
		return rc;
	if (fread(lrd_array_data(*out), 1, h.nbytes, f) != h.nbytes) {
		lrd_value_free(*out);
		*out = NULL;
		return read_error(f, "data");
	}
	return LRD_OK;
}

int lrd_npy_load_file(FILE *f, lrd_value **out, const lrd_npy_load_options *opts)
{
	if (!out || !f)
		return lrd__err(LRD_EINVAL, "lrd_npy_load_file: NULL argument");
	*out = NULL;
	int rc = check_options(opts);
	return rc ? rc : load_stream(f, out, opts, false);
}

struct mapping {
	void *base;
	size_t len;
};

static void unmap(void *ctx)
{
	struct mapping *m = ctx;
	munmap(m->base, m->len);
	lrd__free(m);
}

/* Map the whole file; *out stays NULL (and LRD_OK is returned) when the data is misaligned
 * and should be read instead. */
static int load_mapped(FILE *f, const char *path, lrd_value **out, const lrd_npy_load_options *opts)
{
	long long size = remaining(f);
	if (size < 0)
		return LRD_OK;
	if (size == 0)
		return lrd__err(LRD_ECORRUPT, "npy header truncated: '%s' is empty", path);
	struct mapping *m = lrd__malloc(sizeof *m);
	if (!m)
		return LRD_ENOMEM;
	m->len = (size_t)size;
	m->base = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fileno(f), 0);
	if (m->base == MAP_FAILED) {
		lrd__free(m);
		return lrd__err(LRD_EIO, "npy: mapping '%s': %s", path, strerror(errno));
	}
	lrd_npy_header h;
	int rc = header_mem(m->base, m->len, &h);
	if (rc == LRD_OK && m->len - h.data_offset != h.nbytes)
		rc = data_size_mismatch(&h, m->len - h.data_offset);
	if (rc == LRD_OK)
		rc = check_limit(&h, opts);
	if (rc == LRD_OK && h.data_offset % 16 == 0)
		rc =
		    lrd__array_new_mapped(h.dtype, h.ndim, h.shape, h.order,
		                          (char *)m->base + h.data_offset, h.nbytes, unmap, m, out);
	if (rc != LRD_OK || !*out)
		unmap(m);
	return rc;
}

int lrd_npy_load(const char *path, lrd_value **out, const lrd_npy_load_options *opts)
{
	if (!out || !path)
		return lrd__err(LRD_EINVAL, "lrd_npy_load: NULL argument");
	*out = NULL;
	int rc = check_options(opts);
	if (rc)
		return rc;
	/* O_NONBLOCK: a FIFO without a writer must not block the open (it then reads as empty) */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	FILE *f = NULL;
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFL);
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			close(fd);
			return lrd__err(LRD_EIO, "npy: '%s': %s (a file was expected)", path,
			                strerror(EISDIR));
		}
		if (fl >= 0)
			(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		if (!(f = fdopen(fd, "rb")))
			close(fd);
	}
	if (!f)
		return lrd__err(errno == ENOENT ? LRD_ENOTFOUND : LRD_EIO, "npy: opening '%s': %s",
		                path, strerror(errno));
	if (opts && opts->mmap)
		rc = load_mapped(f, path, out, opts);
	if (rc == LRD_OK && !*out)
		rc = load_stream(f, out, opts, true);
	fclose(f);
	return rc == LRD_OK ? rc : lrd__errctx(rc, "'%s'", path);
}

/* ---- saving ---------------------------------------------------------------------------------- */

/* Format the header of a into buf (cap >= PREAMBLE_MAX + LRD_NPY_MAX_HEADER); *len gets its
 * size, which is also the data offset. */
static int format_header(const lrd_value *a, const lrd_npy_save_options *opts, char *buf,
                         size_t cap, size_t *len)
{
	if (lrd_value_kind(a) != LRD_KIND_ARRAY)
		return lrd__err(LRD_EINVAL, "npy: can only save an array, not a %s",
		                a ? lrd_kind_name(lrd_value_kind(a)) : "NULL value");
	int rc = opts ? LRD__RESERVED_CHECK(opts, "lrd_npy_save_options") : LRD_OK;
	if (rc != LRD_OK)
		return rc;
	int version = opts ? opts->version : 0;
	if (version < 0 || version > 3)
		return lrd__err(LRD_EINVAL, "npy: no format version %d (1, 2 or 3)", version);
	char typestr[16], dict[1024];
	rc = lrd_dtype_format(lrd_array_dtype(a), typestr, sizeof typestr);
	if (rc != LRD_OK)
		return rc;
	unsigned ndim = lrd_array_ndim(a);
	const uint64_t *shape = lrd_array_shape(a);
	bool fortran = lrd_array_order(a) == LRD_ORDER_F;
	size_t n =
	    (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': (",
	                     typestr, fortran ? "True" : "False");
	for (unsigned i = 0; i < ndim; i++)
		n += (size_t)snprintf(dict + n, sizeof dict - n, i ? ", %llu" : "%llu",
		                      (unsigned long long)shape[i]);
	n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }", ndim == 1 ? "," : "");
	if (ndim) {
		char grow[24];
		int digits = snprintf(grow, sizeof grow, "%llu",
		                      (unsigned long long)shape[fortran ? ndim - 1 : 0]);
		for (int i = digits; i < GROWTH_DIGITS; i++)
			dict[n++] = ' ';
	}
	if (version == 0)
		version = ALIGN - (MAGIC_LEN + 2 + 2 + n + 1) % ALIGN + n + 1 <= 0xFFFF ? 1 : 2;
	size_t pre = MAGIC_LEN + 2 + (version == 1 ? 2 : 4);
	size_t pad = ALIGN - (pre + n + 1) % ALIGN, hlen = n + pad + 1;
	if (pre + hlen > cap)
		return lrd__err(LRD_ELIMIT, "npy header of %zu bytes is too long", hlen);
	memcpy(buf, MAGIC, MAGIC_LEN);
	buf[6] = (char)version;
	buf[7] = 0;
	for (size_t i = 0; i < pre - 8; i++)
		buf[8 + i] = (char)(hlen >> (8 * i));
	memcpy(buf + pre, dict, n);
	memset(buf + pre + n, ' ', pad);
	buf[pre + hlen - 1] = '\n';
	*len = pre + hlen;
	return LRD_OK;
}

int lrd_npy_save_file(const lrd_value *array, FILE *f, const lrd_npy_save_options *opts)
{
	if (!f)
		return lrd__err(LRD_EINVAL, "lrd_npy_save_file: NULL stream");
	char head[PREAMBLE_MAX + LRD_NPY_MAX_HEADER];
	size_t hn;
	int rc = format_header(array, opts, head, sizeof head, &hn);
	if (rc != LRD_OK)
		return rc;
	size_t nbytes = lrd_array_nbytes(array);
	if (fwrite(head, 1, hn, f) != hn ||
	    (nbytes && fwrite(lrd_array_cdata(array), 1, nbytes, f) != nbytes))
		return lrd__err(LRD_EIO, "npy: writing: %s", strerror(errno));
	return LRD_OK;
}

int lrd_npy_save(const lrd_value *array, const char *path, const lrd_npy_save_options *opts)
{
	if (!path)
		return lrd__err(LRD_EINVAL, "lrd_npy_save: NULL path");
	char head[PREAMBLE_MAX + LRD_NPY_MAX_HEADER];
	size_t hn;
	int rc = format_header(array, opts, head, sizeof head, &hn);
	if (rc != LRD_OK)
		return rc;
	lrd_stream *s;
	if ((rc = lrd_stream_open_path(path, "w", &s)))
		return rc;
	size_t nbytes = lrd_array_nbytes(array);
	rc = lrd__stream_write(s, head, hn);
	if (!rc && nbytes)
		rc = lrd__stream_write(s, lrd_array_cdata(array), nbytes);
	if (rc) {
		lrd_stream_abort(s); /* removes only larder's temporary file */
		return rc;
	}
	return lrd_stream_close(s);
}

int lrd_npy_save_memory(const lrd_value *array, void **out, size_t *len,
                        const lrd_npy_save_options *opts)
{
	if (!out || !len)
		return lrd__err(LRD_EINVAL, "lrd_npy_save_memory: NULL output");
	*out = NULL;
	*len = 0;
	char head[PREAMBLE_MAX + LRD_NPY_MAX_HEADER];
	size_t hn, total;
	int rc = format_header(array, opts, head, sizeof head, &hn);
	if (rc != LRD_OK)
		return rc;
	size_t nbytes = lrd_array_nbytes(array);
	if (!lrd__add_ok(hn, nbytes, &total))
		return lrd__err(LRD_ELIMIT, "npy image of %zu bytes", nbytes);
	char *p = lrd__malloc(total);
	if (!p)
		return LRD_ENOMEM;
	memcpy(p, head, hn);
	if (nbytes)
		memcpy(p + hn, lrd_array_cdata(array), nbytes);
	*out = p;
	*len = total;
	return LRD_OK;
}
