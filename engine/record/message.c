/* Values as messages (larder/message.h): the value tree of tree.c in a length-prefixed frame,
 * array payloads inline and 64-byte aligned from the frame start.
 *
 * Encoding is two passes over the tree with the same hooks: one counting bytes, one writing
 * into a buffer of exactly that size (one allocation, no regrowth). Decoding reads from memory;
 * arrays are copied, borrowed from the caller's buffer, or mapped over a reference-counted frame
 * buffer (lrd_value_read_fd). Stateless; reentrant. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/record/tree.h"
#include "engine/value/value_internal.h"
#include "larder/message.h"

#define MSG_VERSION 1
#define MSG_ALIGN   64

static const uint8_t msg_magic[4] = {'L', 'R', 'D', 'M'};

/* ---- encoding -------------------------------------------------------------------------------- */

static int msg_array_out(void *ctx, const lrd_value *arr, lrd__writer *w)
{
	(void)ctx;
	int rc = lrd__writer_pad(w, MSG_ALIGN);
	return rc ? rc : lrd__writer_put(w, lrd_array_cdata(arr), lrd_array_nbytes(arr));
}

static int msg_array_size(void *ctx, const lrd_value *arr, uint64_t *pos)
{
	(void)ctx;
	uint64_t p = (*pos + MSG_ALIGN - 1) & ~(uint64_t)(MSG_ALIGN - 1);
	if (__builtin_add_overflow(p, (uint64_t)lrd_array_nbytes(arr), pos))
		return lrd__err(LRD_ELIMIT, "message size overflows");
	return LRD_OK;
}

static void put_header(uint8_t *p, size_t len)
{
	memcpy(p, msg_magic, 4);
	lrd__put_u16(p + 4, MSG_VERSION);
	lrd__put_u16(p + 6, 0);
	lrd__put_u64(p + 8, (uint64_t)len);
}

/* The frame length of v (counting pass). */
static int encoded_len(const lrd_value *v, const lrd_encode_options *opts, size_t *len)
{
	int rc = opts ? LRD__RESERVED_CHECK(opts, "lrd_encode_options") : LRD_OK;
	if (rc)
		return rc;
	lrd__tree_hooks h = {.array_size = msg_array_size};
	uint64_t pos = LRD_MESSAGE_HEADER_SIZE;
	if ((rc = lrd__tree_size(v, &pos, &h)))
		return rc;
	if (pos > SIZE_MAX)
		return lrd__err(LRD_ELIMIT, "message of %llu bytes does not fit in memory",
		                (unsigned long long)pos);
	*len = (size_t)pos;
	return LRD_OK;
}

/* Write v's frame of length total (from encoded_len) into p. */
static int encode_frame(const lrd_value *v, uint8_t *p, size_t total)
{
	lrd__tree_hooks h = {.array_out = msg_array_out};
	put_header(p, total);
	lrd__writer w = {
	    .pos = LRD_MESSAGE_HEADER_SIZE, .cur = p + LRD_MESSAGE_HEADER_SIZE, .end = p + total};
	/* the tree is const and read the same way twice, so the sizes agree */
	int rc = lrd__tree_encode(v, &w, &h);
	if (!rc && w.cur != w.end)
		rc = lrd__err(LRD_EINVAL, "value changed while it was being encoded");
	return rc;
}

int lrd_value_encode(const lrd_value *v, const lrd_encode_options *opts, void **buf, size_t *len)
{
	if (buf)
		*buf = NULL;
	if (len)
		*len = 0;
	if (!v || !buf || !len)
		return lrd__err(LRD_EINVAL, "lrd_value_encode: NULL argument");
	size_t total;
	int rc = encoded_len(v, opts, &total);
	if (rc)
		return rc;
	uint8_t *p = lrd__malloc(total);
	if (!p)
		return LRD_ENOMEM;
	if ((rc = encode_frame(v, p, total))) {
		lrd__free(p);
		return rc;
	}
	*buf = p;
	*len = total;
	return LRD_OK;
}

int lrd_value_encode_into(const lrd_value *v, const lrd_encode_options *opts, void *buf, size_t cap,
                          size_t *len)
{
	if (!v || !len || (!buf && cap))
		return lrd__err(LRD_EINVAL, "lrd_value_encode_into: NULL argument");
	int rc = encoded_len(v, opts, len);
	if (rc)
		return rc;
	if (*len > cap)
		return lrd__err(LRD_EBUFSIZE, "message of %zu bytes, buffer of %zu", *len, cap);
	return encode_frame(v, buf, *len);
}

/* ---- frame header ---------------------------------------------------------------------------- */

static int frame_length(const void *buf, size_t avail, size_t *frame_len)
{
	*frame_len = LRD_MESSAGE_HEADER_SIZE;
	if (avail < LRD_MESSAGE_HEADER_SIZE)
		return lrd__err(LRD_EBUFSIZE, "message header needs %d bytes, %zu at hand",
		                LRD_MESSAGE_HEADER_SIZE, avail);
	const uint8_t *p = buf;
	if (memcmp(p, msg_magic, 4) != 0)
		return lrd__err(LRD_EFORMAT, "not a larder message (magic %02x%02x%02x%02x)", p[0],
		                p[1], p[2], p[3]);
	unsigned ver = lrd__get_u16(p + 4), flags = lrd__get_u16(p + 6);
	if (ver != MSG_VERSION || flags != 0)
		return lrd__err(LRD_EVERSION,
		                "message version %u flags 0x%x (this larder reads "
		                "version %d, flags 0)",
		                ver, flags, MSG_VERSION);
	uint64_t n = lrd__get_u64(p + 8);
	if (n < LRD_MESSAGE_HEADER_SIZE || n > SIZE_MAX)
		return lrd__err(LRD_ECORRUPT, "message declares a frame of %llu bytes",
		                (unsigned long long)n);
	*frame_len = (size_t)n;
	return LRD_OK;
}

int lrd_value_encoded_size(const void *buf, size_t avail, size_t *frame_len)
{
	if (!frame_len || (!buf && avail))
		return lrd__err(LRD_EINVAL, "lrd_value_encoded_size: NULL argument");
	return frame_length(buf, avail, frame_len);
}

/* ---- decoding -------------------------------------------------------------------------------- */

/* A frame buffer shared by the mapped arrays decoded from it: lrd_value_read_fd's own buffer
 * (release frees it) or the caller's (lrd_decode_options.release). */
typedef struct shared_frame {
	atomic_size_t refs;
	void (*release)(void *ctx);
	void *ctx;
} shared_frame;

static void shared_frame_unref(void *ctx)
{
	shared_frame *s = ctx;
	if (atomic_fetch_sub(&s->refs, 1) == 1) {
		s->release(s->ctx);
		lrd__free(s);
	}
}

static shared_frame *shared_frame_new(void (*release)(void *ctx), void *ctx)
{
	shared_frame *s = lrd__malloc(sizeof *s);
	if (s) {
		atomic_init(&s->refs, 1);
		s->release = release;
		s->ctx = ctx;
	}
	return s;
}

typedef struct msg_in {
	const uint8_t *base; /* the frame; r->pos is an offset into it */
	bool borrow;
	shared_frame *shared; /* non-NULL: map arrays over it */
	lrd__budget *budget;
} msg_in;

static bool aligned_for(const void *p, uint32_t itemsize)
{
	uintptr_t a = 1;
	while (a < itemsize && a < 16)
		a <<= 1;
	return ((uintptr_t)p & (a - 1)) == 0;
}

static int msg_array_in(void *ctx, const lrd__array_desc *d, lrd__reader *r, lrd_value **out)
{
	msg_in *m = ctx;
	int rc = lrd__reader_pad(r, MSG_ALIGN);
	if (rc)
		return rc;
	if (!lrd__reader_has(r, d->nbytes))
		return lrd__err(LRD_ECORRUPT,
		                "array payload of %llu bytes at offset %llu runs past "
		                "the message",
		                (unsigned long long)d->nbytes, (unsigned long long)r->pos);
	const uint8_t *src = m->base + r->pos;
	size_t nb = (size_t)d->nbytes;
	if (!out)
		return lrd__reader_skip(r, nb);
	if ((rc = lrd__budget_charge(m->budget, nb)))
		return rc;
	if (nb && m->shared && aligned_for(src, d->dtype.itemsize)) {
		atomic_fetch_add(&m->shared->refs, 1);
		rc = lrd__array_new_mapped(d->dtype, d->ndim, d->shape, d->order, src, nb,
		                           shared_frame_unref, m->shared, out);
		if (rc)
			atomic_fetch_sub(&m->shared->refs, 1);
	} else if (nb && m->borrow && aligned_for(src, d->dtype.itemsize)) {
		rc = lrd_array_wrap(d->dtype, d->ndim, d->shape, d->order, (void *)src, nb, out);
	} else {
		rc = lrd__array_new_uninit(d->dtype, d->ndim, d->shape, d->order, out);
		if (!rc && nb)
			memcpy(lrd_array_data(*out), src, nb);
	}
	return rc ? rc : lrd__reader_skip(r, nb);
}

static int check_decode_opts(const lrd_decode_options *opts)
{
	if (opts && (opts->flags & ~LRD_DECODE_BORROW))
		return lrd__err(LRD_EINVAL, "lrd_decode_options: unknown flags 0x%x",
		                opts->flags & ~LRD_DECODE_BORROW);
	if (opts && opts->release && !(opts->flags & LRD_DECODE_BORROW))
		return lrd__err(LRD_EINVAL,
		                "lrd_decode_options: release without LRD_DECODE_BORROW");
	return opts ? LRD__RESERVED_CHECK(opts, "lrd_decode_options") : LRD_OK;
}

static int decode_frame(const uint8_t *buf, size_t len, const lrd_decode_options *opts,
                        shared_frame *shared, lrd_value **out)
{
	size_t flen;
	int rc = !buf && len ? lrd__err(LRD_EINVAL, "lrd_value_encoded_size: NULL argument")
	                     : frame_length(buf, len, &flen);
	if (rc == LRD_EBUFSIZE)
		return lrd__err(LRD_ECORRUPT, "message of %zu bytes is shorter than its header",
		                len);
	if (rc)
		return rc;
	if (flen != len)
		return lrd__err(LRD_ECORRUPT, "message frame declares %zu bytes, %zu given", flen,
		                len);
	lrd__budget budget = {.limit = opts ? opts->max_total_bytes : 0,
	                      .what = "message",
	                      .raise = "lrd_decode_options.max_total_bytes"};
	msg_in m = {.base = buf,
	            .borrow = opts && (opts->flags & LRD_DECODE_BORROW),
	            .shared = shared,
	            .budget = &budget};
	lrd__tree_hooks h = {.array_in = msg_array_in,
	                     .ctx = &m,
	                     .max_depth = opts ? opts->max_depth : 0,
	                     .budget = &budget};
	lrd__memsrc src;
	lrd__reader r = lrd__memsrc_reader(&src, buf, len);
	/* past the header, which lrd_value_encoded_size checked is there (positions stay
	 * counted from the frame start, as padding is) */
	src.off = LRD_MESSAGE_HEADER_SIZE;
	r.pos = LRD_MESSAGE_HEADER_SIZE;
	r.avail -= LRD_MESSAGE_HEADER_SIZE;
	if ((rc = lrd__tree_decode(&r, &h, out)))
		return rc;
	if (r.avail) {
		lrd_value_free(*out);
		*out = NULL;
		return lrd__err(LRD_ECORRUPT, "%llu bytes after the value in the message",
		                (unsigned long long)r.avail);
	}
	return LRD_OK;
}

int lrd_value_decode(const void *buf, size_t len, const lrd_decode_options *opts, lrd_value **out)
{
	void (*release)(void *) = opts ? opts->release : NULL;
	if (out)
		*out = NULL;
	int rc = !out || (!buf && len) ? lrd__err(LRD_EINVAL, "lrd_value_decode: NULL argument")
	                               : check_decode_opts(opts);
	if (rc || !release) {
		if (release)
			release(opts->release_ctx);
		return rc ? rc : decode_frame(buf, len, opts, NULL, out);
	}
	shared_frame *sh = shared_frame_new(release, opts->release_ctx);
	if (!sh) {
		release(opts->release_ctx);
		return LRD_ENOMEM;
	}
	rc = decode_frame(buf, len, opts, sh, out);
	shared_frame_unref(sh); /* the arrays mapped over buf hold their own references */
	return rc;
}

/* ---- file descriptors ------------------------------------------------------------------------ */

static int io_error(const char *what, int err)
{
	return lrd__err(err == ENOSPC ? LRD_ENOSPC : LRD_EIO, "message %s on fd: %s", what,
	                strerror(err));
}

int lrd_value_write_fd(int fd, const lrd_value *v, const lrd_encode_options *opts)
{
	void *buf;
	size_t len;
	int rc = lrd_value_encode(v, opts, &buf, &len);
	if (rc)
		return rc;
	const uint8_t *p = buf;
	size_t off = 0;
	while (off < len) {
		ssize_t k = write(fd, p + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = io_error("write", k < 0 ? errno : EIO);
			break;
		}
		off += (size_t)k;
	}
	lrd_free(buf);
	return rc;
}

/* Read exactly n bytes into p; *got says how many arrived before end of stream. */
static int read_full(int fd, uint8_t *p, size_t n, size_t *got)
{
	*got = 0;
	while (*got < n) {
		ssize_t k = read(fd, p + *got, n - *got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return io_error("read", errno);
		if (k == 0)
			break;
		*got += (size_t)k;
	}
	return LRD_OK;
}

int lrd_value_read_fd(int fd, const lrd_decode_options *opts, lrd_value **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_value_read_fd: NULL argument");
	*out = NULL;
	int rc = check_decode_opts(opts);
	if (rc)
		return rc;
	if (opts && opts->release)
		return lrd__err(LRD_EINVAL, "lrd_value_read_fd: release is for lrd_value_decode");
	uint8_t hdr[LRD_MESSAGE_HEADER_SIZE];
	size_t got, flen;
	if ((rc = read_full(fd, hdr, sizeof hdr, &got)))
		return rc;
	if (got == 0) {
		lrd__errclear();
		return LRD_OK; /* end of stream between messages */
	}
	if (got < sizeof hdr)
		return lrd__err(LRD_ECORRUPT, "stream ends %zu bytes into a message header", got);
	if ((rc = lrd_value_encoded_size(hdr, sizeof hdr, &flen)))
		return rc;
	if (opts && opts->max_total_bytes && flen > opts->max_total_bytes)
		return lrd__err(LRD_ELIMIT, "message of %zu bytes exceeds the bound of %llu bytes",
		                flen, (unsigned long long)opts->max_total_bytes);
	/* Grow as bytes arrive: a lying length costs at most about twice what was read. */
	size_t cap = flen < 65536 ? flen : 65536, have = sizeof hdr;
	uint8_t *buf = lrd__malloc(cap);
	if (!buf)
		return LRD_ENOMEM;
	memcpy(buf, hdr, sizeof hdr);
	while (have < flen) {
		if (have == cap && lrd__grow_toward(&buf, &cap, cap + 1, flen))
			return LRD_ENOMEM;
		if ((rc = read_full(fd, buf + have, cap - have, &got))) {
			lrd__free(buf);
			return rc;
		}
		have += got;
		if (have < cap) {
			lrd__free(buf);
			return lrd__err(LRD_ECORRUPT, "stream ends %zu bytes into a message of %zu",
			                have, flen);
		}
	}
	shared_frame *sh = NULL;
	if (opts && (opts->flags & LRD_DECODE_BORROW) && !(sh = shared_frame_new(lrd__free, buf))) {
		lrd__free(buf);
		return LRD_ENOMEM;
	}
	rc = decode_frame(buf, flen, opts, sh, out);
	if (sh)
		shared_frame_unref(sh); /* the arrays mapped over it hold their own references */
	else
		lrd__free(buf);
	return rc;
}
