/* Byte-level building blocks shared by the file format and the store: little-endian integers,
 * LEB128 varints, and the two sequential byte channels every encoder and decoder in engine/
 * uses — a writer (lrd__writer) and a reader (lrd__reader) — with growable-memory and fixed-memory
 * implementations. Not installed.
 *
 * Meaning fixed for other modules: a writer never seeks; `pos` counts bytes written through
 * it. A reader reads exactly what is asked or fails; `avail` is the number of bytes left in the
 * input when known (UINT64_MAX when not, e.g. a pipe), and decoders check every declared length
 * against it before allocating. */
#ifndef LRD_ENGINE_WIRE_H
#define LRD_ENGINE_WIRE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"

#define LRD__AVAIL_UNKNOWN UINT64_MAX
/* Longest LEB128 encoding of a uint64_t. */
#define LRD__VARINT_MAX 10

static inline void lrd__put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline uint16_t lrd__get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Little-endian hosts store and load the field whole (compilers do not always fuse the byte
 * loops). */
static inline void lrd__put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof v); }
static inline void lrd__put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof v); }
static inline uint32_t lrd__get_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}
static inline uint64_t lrd__get_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}
#else
static inline void lrd__put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void lrd__put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t lrd__get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static inline uint64_t lrd__get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
#endif

/* Encode v as LEB128 into p (room for LRD__VARINT_MAX bytes); returns the length. */
size_t lrd__varint_put(uint8_t *p, uint64_t v);

/* ---- writer --------------------------------------------------------------------------------- */

typedef struct lrd__writer {
	/* Write all n bytes or return a negative LRD_E* code with a message. NULL: the inline
	 * destination below. */
	int (*write)(void *ctx, const void *p, size_t n);
	void *ctx;
	uint64_t pos; /* bytes written so far, maintained by lrd__writer_put */
	/* With write NULL: bytes go to fixed memory cur..end (running out is LRD_EINVAL), or, with
	 * cur NULL too, nowhere (a counting writer: pos is the count). */
	uint8_t *cur, *end;
} lrd__writer;

int lrd__writer_put_slow(lrd__writer *w, const void *p, size_t n);
static inline int lrd__writer_put(lrd__writer *w, const void *p, size_t n)
{
	if (w->write || (w->cur && n > (size_t)(w->end - w->cur)))
		return lrd__writer_put_slow(w, p, n);
	if (w->cur && n) {
		memcpy(w->cur, p, n);
		w->cur += n;
	}
	w->pos += n;
	return LRD_OK;
}
/* Room for the next n bytes in a fixed-memory writer, consumed (pos included), for the caller
 * to fill; NULL (nothing consumed) for any other writer or too little room: then use
 * lrd__writer_put. */
static inline uint8_t *lrd__writer_reserve(lrd__writer *w, size_t n)
{
	if (w->write || !w->cur || n > (size_t)(w->end - w->cur))
		return NULL;
	uint8_t *p = w->cur;
	w->cur += n;
	w->pos += n;
	return p;
}
static inline int lrd__writer_u8(lrd__writer *w, uint8_t v) { return lrd__writer_put(w, &v, 1); }
static inline int lrd__writer_varint(lrd__writer *w, uint64_t v)
{
	uint8_t b[LRD__VARINT_MAX];
	return lrd__writer_put(w, b, lrd__varint_put(b, v));
}
/* Write zero bytes until pos is a multiple of align (a power of two). */
int lrd__writer_pad(lrd__writer *w, uint64_t align);

/* A growable memory buffer as a writer: data is lrd__malloc'd, owned by the membuf. */
typedef struct lrd__membuf {
	uint8_t *data;
	size_t size, cap;
} lrd__membuf;

lrd__writer lrd__membuf_writer(lrd__membuf *m);
/* Append n bytes; LRD_ENOMEM/LRD_ELIMIT. */
int lrd__membuf_append(lrd__membuf *m, const void *p, size_t n);
void lrd__membuf_free(lrd__membuf *m);

/* ---- reader --------------------------------------------------------------------------------- */

/* A reader over fixed memory (borrowed; must outlive the reader). */
typedef struct lrd__memsrc {
	const uint8_t *data;
	size_t size, off;
} lrd__memsrc;

typedef struct lrd__reader {
	/* Read exactly n bytes; input that ends first is LRD_ECORRUPT ("truncated"). */
	int (*read)(void *ctx, void *p, size_t n);
	/* Skip n bytes; optional (NULL: lrd__reader_skip reads and discards). */
	int (*skip)(void *ctx, uint64_t n);
	void *ctx;
	uint64_t pos;   /* bytes consumed so far, maintained by the lrd__reader_* helpers */
	uint64_t avail; /* bytes left in the input, or LRD__AVAIL_UNKNOWN */
	/* Set by lrd__memsrc_reader (ctx is then this memsrc): reads from it take the inline
	 * paths below instead of calling read. */
	lrd__memsrc *mem;
} lrd__reader;

/* All of these keep pos/avail current and fail with LRD_ECORRUPT on truncation. */
int lrd__reader_get_slow(lrd__reader *r, void *p, size_t n);
/* The next n bytes of a memory reader, consumed, or NULL (not a memory reader, or fewer than
 * n bytes left: then nothing is consumed and the caller takes the general path). */
static inline const uint8_t *lrd__reader_take(lrd__reader *r, size_t n)
{
	lrd__memsrc *m = r->mem;
	if (!m || n > m->size - m->off || n > r->avail)
		return NULL;
	const uint8_t *p = m->data + m->off;
	m->off += n;
	r->pos += n;
	if (r->avail != LRD__AVAIL_UNKNOWN)
		r->avail -= n;
	return p;
}
static inline int lrd__reader_get(lrd__reader *r, void *p, size_t n)
{
	const uint8_t *src = lrd__reader_take(r, n);
	if (!src)
		return lrd__reader_get_slow(r, p, n);
	memcpy(p, src, n);
	return LRD_OK;
}
int lrd__reader_skip(lrd__reader *r, uint64_t n);
static inline int lrd__reader_u8(lrd__reader *r, uint8_t *v) { return lrd__reader_get(r, v, 1); }
/* LEB128; more than 10 bytes or a value above 2^64-1 is LRD_ECORRUPT. */
int lrd__reader_varint_slow(lrd__reader *r, uint64_t *v);
static inline int lrd__reader_varint(lrd__reader *r, uint64_t *v)
{
	/* one byte from memory: what nearly every length and count takes */
	lrd__memsrc *m = r->mem;
	if (m && m->off < m->size && r->avail && m->data[m->off] < 0x80) {
		*v = m->data[m->off++];
		r->pos++;
		if (r->avail != LRD__AVAIL_UNKNOWN)
			r->avail--;
		return LRD_OK;
	}
	return lrd__reader_varint_slow(r, v);
}
/* Skip padding up to the next multiple of align; nonzero padding is LRD_ECORRUPT. */
int lrd__reader_pad(lrd__reader *r, uint64_t align);
/* true if n more bytes may be present (always true when avail is unknown). */
static inline bool lrd__reader_has(const lrd__reader *r, uint64_t n)
{
	return r->avail == LRD__AVAIL_UNKNOWN || n <= r->avail;
}
/* Read n bytes into a fresh lrd__malloc'd buffer (plus `extra` zero bytes after them, for a
 * terminator). n is first checked against avail; when avail is unknown the buffer grows as
 * bytes actually arrive, so a lying length never allocates more than twice what was read. */
int lrd__reader_alloc(lrd__reader *r, uint64_t n, size_t extra, uint8_t **out);

/* Grow *buf (of *cap bytes; NULL and 0 at first) toward total, doubling, to need bytes at
 * least (need <= total): buffers sized to a declared length grow only as bytes arrive, so a
 * lying length costs at most about twice what was read. Contents are kept (realloc). On
 * LRD_ENOMEM *buf is freed and NULL. */
int lrd__grow_toward(uint8_t **buf, size_t *cap, size_t need, size_t total);

/* lrd__grow_toward for data that must start at an `align`-byte boundary (a power of two)
 * inside its block: *block (*cap bytes) holds the data at offset *off; need and total count
 * data bytes, `keep` of which are kept (moved when realloc changes the alignment). On
 * LRD_ENOMEM *block is freed and NULL. */
int lrd__grow_toward_aligned(uint8_t **block, size_t *cap, size_t *off, size_t keep, size_t need,
                             size_t total, size_t align);

lrd__reader lrd__memsrc_reader(lrd__memsrc *m, const void *data, size_t size);

#endif
