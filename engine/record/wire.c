/* Little-endian varints and the sequential writer/reader channels of wire.h.
 *
 * Invariants: lrd__writer.pos and lrd__reader.pos/avail are only changed here, after the underlying
 * callback succeeded, so after a failure they still describe the last good position. Nothing
 * here allocates more than its caller's declared length justifies (lrd__reader_alloc grows by what
 * actually arrived when the input size is unknown). No shared state: one channel, one thread. */
#include <stdlib.h>

#include "engine/record/wire.h"

size_t lrd__varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		p[n++] = b | (v ? 0x80 : 0);
	} while (v);
	return n;
}

int lrd__writer_put_slow(lrd__writer *w, const void *p, size_t n)
{
	if (n == 0)
		return LRD_OK;
	if (!w->write)
		return lrd__err(LRD_EINVAL, "writing %zu bytes past the end of a fixed buffer", n);
	int rc = w->write(w->ctx, p, n);
	if (rc == LRD_OK)
		w->pos += n;
	return rc;
}

int lrd__writer_pad(lrd__writer *w, uint64_t align)
{
	static const uint8_t zeros[64];
	uint64_t pad = (align - (w->pos & (align - 1))) & (align - 1);
	while (pad) {
		size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
		int rc = lrd__writer_put(w, zeros, k);
		if (rc)
			return rc;
		pad -= k;
	}
	return LRD_OK;
}

/* ---- membuf --------------------------------------------------------------------------------- */

int lrd__membuf_append(lrd__membuf *m, const void *p, size_t n)
{
	size_t need;
	if (!lrd__add_ok(m->size, n, &need))
		return lrd__err(LRD_ELIMIT, "memory buffer would exceed SIZE_MAX");
	if (need > m->cap) {
		size_t cap = m->cap ? m->cap : 256;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		uint8_t *d = lrd__realloc(m->data, cap);
		if (!d)
			return LRD_ENOMEM;
		m->data = d;
		m->cap = cap;
	}
	if (n)
		memcpy(m->data + m->size, p, n);
	m->size = need;
	return LRD_OK;
}

static int membuf_write(void *ctx, const void *p, size_t n)
{
	return lrd__membuf_append(ctx, p, n);
}

lrd__writer lrd__membuf_writer(lrd__membuf *m)
{
	return (lrd__writer){.write = membuf_write, .ctx = m};
}

void lrd__membuf_free(lrd__membuf *m)
{
	lrd__free(m->data);
	*m = (lrd__membuf){0};
}

/* ---- reader --------------------------------------------------------------------------------- */

static int truncated(const lrd__reader *r, uint64_t n)
{
	return lrd__err(LRD_ECORRUPT, "truncated: needed %llu bytes at offset %llu",
	                (unsigned long long)n, (unsigned long long)r->pos);
}

static void advance(lrd__reader *r, uint64_t n)
{
	r->pos += n;
	if (r->avail != LRD__AVAIL_UNKNOWN)
		r->avail -= n;
}

int lrd__reader_get_slow(lrd__reader *r, void *p, size_t n)
{
	if (n == 0)
		return LRD_OK;
	if (!lrd__reader_has(r, n))
		return truncated(r, n);
	int rc = r->read(r->ctx, p, n);
	if (rc == LRD_OK)
		advance(r, n);
	return rc;
}

int lrd__reader_skip(lrd__reader *r, uint64_t n)
{
	if (!lrd__reader_has(r, n))
		return truncated(r, n);
	if (r->skip) {
		int rc = r->skip(r->ctx, n);
		if (rc == LRD_OK)
			advance(r, n);
		return rc;
	}
	uint8_t scratch[4096];
	while (n) {
		size_t k = n < sizeof scratch ? (size_t)n : sizeof scratch;
		int rc = lrd__reader_get(r, scratch, k);
		if (rc)
			return rc;
		n -= k;
	}
	return LRD_OK;
}

int lrd__reader_varint_slow(lrd__reader *r, uint64_t *v)
{
	uint64_t x = 0;
	for (int i = 0; i < LRD__VARINT_MAX; i++) {
		uint8_t b;
		int rc = lrd__reader_u8(r, &b);
		if (rc)
			return rc;
		if (i == 9 && b > 1)
			break;
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = x;
			return LRD_OK;
		}
	}
	return lrd__err(LRD_ECORRUPT, "varint longer than 64 bits at offset %llu",
	                (unsigned long long)r->pos);
}

int lrd__reader_pad(lrd__reader *r, uint64_t align)
{
	uint64_t pad = (align - (r->pos & (align - 1))) & (align - 1);
	uint8_t b[64];
	if (pad == 0)
		return LRD_OK;
	int rc = lrd__reader_get(r, b, (size_t)pad);
	if (rc)
		return rc;
	for (uint64_t i = 0; i < pad; i++)
		if (b[i])
			return lrd__err(LRD_ECORRUPT, "nonzero padding byte at offset %llu",
			                (unsigned long long)(r->pos - pad + i));
	return LRD_OK;
}

int lrd__grow_toward(uint8_t **buf, size_t *cap, size_t need, size_t total)
{
	size_t ncap = *cap > total / 2 ? total : *cap * 2;
	if (ncap < need)
		ncap = need;
	uint8_t *nb = lrd__realloc(*buf, ncap);
	if (!nb) {
		lrd__free(*buf);
		*buf = NULL;
		return LRD_ENOMEM;
	}
	*buf = nb;
	*cap = ncap;
	return LRD_OK;
}

int lrd__grow_toward_aligned(uint8_t **block, size_t *cap, size_t *off, size_t keep, size_t need,
                             size_t total, size_t align)
{
	size_t old = *off;
	int rc = lrd__grow_toward(block, cap, need + align, total + align);
	if (rc)
		return lrd__err(rc, "buffer of %zu bytes", need + align);
	size_t at = (size_t)(-(uintptr_t)*block & (uintptr_t)(align - 1));
	if (at != old && keep)
		memmove(*block + at, *block + old, keep);
	*off = at;
	return LRD_OK;
}

int lrd__reader_alloc(lrd__reader *r, uint64_t n, size_t extra, uint8_t **out)
{
	*out = NULL;
	size_t total;
	if (n > SIZE_MAX || !lrd__add_ok((size_t)n, extra, &total))
		return lrd__err(LRD_ELIMIT, "length %llu does not fit in memory",
		                (unsigned long long)n);
	if (!lrd__reader_has(r, n))
		return truncated(r, n);
	size_t cap = r->avail == LRD__AVAIL_UNKNOWN && total > 65536 ? 65536 : total;
	uint8_t *buf = lrd__malloc(cap);
	if (!buf)
		return LRD_ENOMEM;
	size_t got = 0;
	while (got < n) {
		if (got == cap && lrd__grow_toward(&buf, &cap, cap + 1, total))
			return LRD_ENOMEM;
		size_t want = (size_t)n - got;
		size_t k = want < cap - got ? want : cap - got;
		int rc = lrd__reader_get(r, buf + got, k);
		if (rc) {
			lrd__free(buf);
			return rc;
		}
		got += k;
	}
	/* the doubling may have stopped at exactly n bytes: room for the extra ones too */
	if (cap < total && lrd__grow_toward(&buf, &cap, total, total))
		return LRD_ENOMEM;
	if (extra)
		memset(buf + (size_t)n, 0, extra);
	*out = buf;
	return LRD_OK;
}

/* ---- memory source --------------------------------------------------------------------------- */

static int memsrc_read(void *ctx, void *p, size_t n)
{
	lrd__memsrc *m = ctx;
	if (n > m->size - m->off)
		return lrd__err(LRD_ECORRUPT, "truncated: needed %zu bytes at offset %zu", n,
		                m->off);
	memcpy(p, m->data + m->off, n);
	m->off += n;
	return LRD_OK;
}

static int memsrc_skip(void *ctx, uint64_t n)
{
	lrd__memsrc *m = ctx;
	if (n > m->size - m->off)
		return lrd__err(LRD_ECORRUPT, "truncated: needed %llu bytes at offset %zu",
		                (unsigned long long)n, m->off);
	m->off += (size_t)n;
	return LRD_OK;
}

lrd__reader lrd__memsrc_reader(lrd__memsrc *m, const void *data, size_t size)
{
	*m = (lrd__memsrc){.data = data, .size = size};
	return (lrd__reader){
	    .read = memsrc_read, .skip = memsrc_skip, .ctx = m, .avail = size, .mem = m};
}
