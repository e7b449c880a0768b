/* Value tree encoding and strict decoding (tree.h). One recursive walker serves decoding and
 * skipping (out == NULL), so both accept exactly the same inputs. Recursion depth is bounded by
 * the hooks' depth limit; allocation happens only for bytes that were actually read (strings,
 * keys: lrd__reader_alloc) or for containers holding items that were decoded. Stateless. */
#include <stdlib.h>

#include "engine/record/tree.h"
#include "engine/value/value_internal.h"

static unsigned depth_limit(const lrd__tree_hooks *h)
{
	return h && h->max_depth ? h->max_depth : LRD__TREE_MAX_DEPTH;
}

int lrd__budget_charge(lrd__budget *b, uint64_t n)
{
	if (!b || !b->limit)
		return LRD_OK;
	if (n > b->limit - b->used)
		return lrd__err(
		    LRD_ELIMIT,
		    "%s%sdecoded values exceed the bound of %llu bytes (strings, bytes, "
		    "arrays and %d bytes per value counted)%s%s",
		    b->what ? b->what : "", b->what ? ": " : "", (unsigned long long)b->limit,
		    LRD__TREE_NODE_COST, b->raise ? "; raise " : "", b->raise ? b->raise : "");
	b->used += n;
	return LRD_OK;
}

static inline int charge(const lrd__tree_hooks *h, uint64_t n)
{
	return h && h->budget && h->budget->limit ? lrd__budget_charge(h->budget, n) : LRD_OK;
}

/* ---- encoding -------------------------------------------------------------------------------- */

static int put_lenbytes(lrd__writer *w, uint8_t tag, const void *p, size_t n)
{
	int rc = tag ? lrd__writer_u8(w, tag) : LRD_OK;
	if (!rc)
		rc = lrd__writer_varint(w, n);
	return rc ? rc : lrd__writer_put(w, p, n);
}

static inline int put_fixed64(lrd__writer *w, uint8_t tag, uint64_t bits)
{
	uint8_t b[9], *p = lrd__writer_reserve(w, sizeof b);
	(p ? p : b)[0] = tag;
	lrd__put_u64((p ? p : b) + 1, bits);
	return p ? LRD_OK : lrd__writer_put(w, b, sizeof b);
}

int lrd__tree_array_header(lrd__writer *w, lrd_dtype dt, lrd_order order, unsigned ndim,
                           const uint64_t *shape)
{
	char ts[32];
	int rc = lrd_dtype_format(dt, ts, sizeof ts);
	if (rc)
		return rc;
	if (ndim > LRD_MAX_NDIM)
		return lrd__err(LRD_EINVAL, "array with %u dimensions (max %d)", ndim,
		                LRD_MAX_NDIM);
	rc = put_lenbytes(w, LRD__TAG_ARRAY, ts, strlen(ts));
	if (!rc)
		rc = lrd__writer_u8(w, order == LRD_ORDER_F ? 1 : 0);
	if (!rc)
		rc = lrd__writer_u8(w, (uint8_t)ndim);
	for (unsigned i = 0; !rc && i < ndim; i++)
		rc = lrd__writer_varint(w, shape[i]);
	return rc;
}

static inline int put_varint(lrd__writer *w, uint64_t v)
{
	uint8_t b = (uint8_t)v;
	return v < 0x80 ? lrd__writer_put(w, &b, 1) : lrd__writer_varint(w, v);
}

/* The tag, a length of one byte or more, then the bytes. */
static int put_tagged(lrd__writer *w, uint8_t tag, const void *p, size_t n)
{
	uint8_t *d = n < 0x80 ? lrd__writer_reserve(w, 2 + n) : NULL;
	if (!d)
		return put_lenbytes(w, tag, p, n);
	d[0] = tag;
	d[1] = (uint8_t)n;
	if (n)
		memcpy(d + 2, p, n);
	return LRD_OK;
}

/* A map key: length, then the bytes. */
static inline int put_key(lrd__writer *w, const char *k, size_t n)
{
	uint8_t *d = n < 0x80 ? lrd__writer_reserve(w, 1 + n) : NULL;
	if (!d)
		return put_lenbytes(w, 0, k, n);
	d[0] = (uint8_t)n;
	memcpy(d + 1, k, n);
	return LRD_OK;
}

/* A scalar leaf (nil, bool, int, float) without a call; other kinds: -1 (no error code is: they
 * lie in larder's negative band), nothing written. */
static inline int put_scalar(lrd__writer *w, const lrd_value *v)
{
	uint64_t bits;
	switch (v ? v->kind : LRD_KIND_STR) {
	case LRD_KIND_NIL:
		return lrd__writer_u8(w, LRD__TAG_NIL);
	case LRD_KIND_BOOL:
		return lrd__writer_u8(w, v->u.b ? LRD__TAG_TRUE : LRD__TAG_FALSE);
	case LRD_KIND_INT:
		return put_fixed64(w, LRD__TAG_INT, (uint64_t)v->u.i);
	case LRD_KIND_FLOAT:
		memcpy(&bits, &v->u.f, sizeof bits);
		return put_fixed64(w, LRD__TAG_FLOAT, bits);
	default:
		return -1;
	}
}

int lrd__tree_encode(const lrd_value *v, lrd__writer *w, const lrd__tree_hooks *h)
{
	if (!v)
		return lrd__err(LRD_EINVAL, "encoding a NULL value");
	int rc = put_scalar(w, v);
	if (rc != -1)
		return rc;
	rc = LRD_OK;
	switch (v->kind) {
	case LRD_KIND_NIL:
	case LRD_KIND_BOOL:
	case LRD_KIND_INT:
	case LRD_KIND_FLOAT:
		break; /* written by put_scalar */
	case LRD_KIND_STR:
		return put_tagged(w, LRD__TAG_STR, v->u.s.p, v->u.s.len);
	case LRD_KIND_BYTES:
		return put_tagged(w, LRD__TAG_BYTES, v->u.s.p, v->u.s.len);
	case LRD_KIND_LIST: {
		size_t n = v->u.list.len;
		rc = lrd__writer_u8(w, LRD__TAG_LIST);
		if (!rc)
			rc = put_varint(w, n);
		for (size_t i = 0; !rc && i < n; i++)
			rc = lrd__tree_encode(v->u.list.items[i], w, h);
		return rc;
	}
	case LRD_KIND_MAP: {
		size_t n = v->u.map.len;
		uint8_t *d = n < 0x80 ? lrd__writer_reserve(w, 2) : NULL;
		if (d) {
			d[0] = LRD__TAG_MAP;
			d[1] = (uint8_t)n;
		} else if (!(rc = lrd__writer_u8(w, LRD__TAG_MAP))) {
			rc = put_varint(w, n);
		}
		for (size_t i = 0; !rc && i < n; i++) {
			const struct lrd__map_entry *e = &v->u.map.ent[i];
			if (!(rc = put_key(w, e->key, e->keylen)) &&
			    (rc = put_scalar(w, e->item)) == -1)
				rc = lrd__tree_encode(e->item, w, h);
		}
		return rc;
	}
	case LRD_KIND_ARRAY:
		rc = lrd__tree_array_header(w, lrd_array_dtype(v), lrd_array_order(v),
		                            lrd_array_ndim(v), lrd_array_shape(v));
		if (rc)
			return rc;
		if (!h || !h->array_out)
			return lrd__err(LRD_EUNSUPPORTED, "this container cannot hold arrays");
		return h->array_out(h->ctx, v, w);
	}
	return lrd__err(LRD_EINVAL, "value of unknown kind %d", (int)v->kind);
}

static uint64_t varint_len(uint64_t v)
{
	uint64_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

int lrd__tree_size(const lrd_value *v, uint64_t *pos, const lrd__tree_hooks *h)
{
	if (!v)
		return lrd__err(LRD_EINVAL, "encoding a NULL value");
	uint64_t p = *pos + 1; /* the tag */
	int rc = LRD_OK;
	switch (v->kind) {
	case LRD_KIND_NIL:
	case LRD_KIND_BOOL:
		break;
	case LRD_KIND_INT:
	case LRD_KIND_FLOAT:
		p += 8;
		break;
	case LRD_KIND_STR:
	case LRD_KIND_BYTES:
		p += varint_len(v->u.s.len) + v->u.s.len;
		break;
	case LRD_KIND_LIST:
		p += varint_len(v->u.list.len);
		for (size_t i = 0; !rc && i < v->u.list.len; i++)
			rc = lrd__tree_size(v->u.list.items[i], &p, h);
		break;
	case LRD_KIND_MAP:
		p += varint_len(v->u.map.len);
		for (size_t i = 0; !rc && i < v->u.map.len; i++) {
			const struct lrd__map_entry *e = &v->u.map.ent[i];
			p += varint_len(e->keylen) + e->keylen;
			lrd_kind k = e->item ? e->item->kind : LRD_KIND_STR;
			if (k == LRD_KIND_NIL || k == LRD_KIND_BOOL)
				p += 1;
			else if (k == LRD_KIND_INT || k == LRD_KIND_FLOAT)
				p += 9;
			else
				rc = lrd__tree_size(e->item, &p, h);
		}
		break;
	case LRD_KIND_ARRAY: {
		/* the header through a counting writer: the same code that writes it */
		lrd__writer cw = {.pos = *pos};
		if ((rc = lrd__tree_array_header(&cw, lrd_array_dtype(v), lrd_array_order(v),
		                                 lrd_array_ndim(v), lrd_array_shape(v))))
			return rc;
		if (!h || !h->array_size)
			return lrd__err(LRD_EUNSUPPORTED, "this container cannot hold arrays");
		p = cw.pos;
		rc = h->array_size(h->ctx, v, &p);
		break;
	}
	default:
		return lrd__err(LRD_EINVAL, "value of unknown kind %d", (int)v->kind);
	}
	if (!rc)
		*pos = p;
	return rc;
}

/* ---- decoding -------------------------------------------------------------------------------- */

int lrd__tree_read_array_desc(lrd__reader *r, lrd__array_desc *d)
{
	uint64_t tlen;
	char ts[17];
	uint8_t ord, ndim;
	int rc = lrd__reader_varint(r, &tlen);
	if (rc)
		return rc;
	if (tlen == 0 || tlen > 16)
		return lrd__err(LRD_ECORRUPT, "array typestr of %llu bytes",
		                (unsigned long long)tlen);
	if ((rc = lrd__reader_get(r, ts, (size_t)tlen)) || (rc = lrd__reader_u8(r, &ord)) ||
	    (rc = lrd__reader_u8(r, &ndim)))
		return rc;
	ts[tlen] = '\0';
	if (memchr(ts, '\0', (size_t)tlen))
		return lrd__err(LRD_EDTYPE, "array typestr contains NUL");
	*d = (lrd__array_desc){.order = ord ? LRD_ORDER_F : LRD_ORDER_C, .ndim = ndim, .count = 1};
	if ((rc = lrd_dtype_parse(ts, &d->dtype)))
		return rc;
	if (ord > 1)
		return lrd__err(LRD_ECORRUPT, "array order byte %u", ord);
	if (ndim > LRD_MAX_NDIM)
		return lrd__err(LRD_ECORRUPT, "array with %u dimensions (max %d)", ndim,
		                LRD_MAX_NDIM);
	bool overflow = false;
	for (unsigned i = 0; i < ndim; i++) {
		if ((rc = lrd__reader_varint(r, &d->shape[i])))
			return rc;
		overflow |= __builtin_mul_overflow(d->count, d->shape[i], &d->count);
	}
	if (overflow || __builtin_mul_overflow(d->count, (uint64_t)d->dtype.itemsize, &d->nbytes))
		return lrd__err(LRD_ECORRUPT, "array shape overflows 64-bit byte counts");
	if (d->count == 0)
		d->nbytes = 0;
	return LRD_OK;
}

/* Read a length-prefixed string into a NUL-terminated buffer; NUL inside is refused. */
static int read_text(lrd__reader *r, char **out, size_t *len, const char *what)
{
	uint64_t n;
	int rc = lrd__reader_varint(r, &n);
	if (rc)
		return rc;
	if ((rc = lrd__reader_alloc(r, n, 1, (uint8_t **)out)))
		return lrd__errctx(rc, "%s of %llu bytes", what, (unsigned long long)n);
	*len = (size_t)n;
	if (memchr(*out, '\0', *len)) {
		lrd__free(*out);
		*out = NULL;
		return lrd__err(LRD_ECORRUPT, "%s contains a NUL byte", what);
	}
	return LRD_OK;
}

/* A str or bytes whose n bytes the input is known to hold: read straight into the value, one
 * allocation and one copy. */
static int decode_blob_known(lrd__reader *r, uint8_t tag, size_t n, lrd_value **out)
{
	lrd_kind kind = tag == LRD__TAG_STR ? LRD_KIND_STR : LRD_KIND_BYTES;
	int rc = lrd__blob_new_uninit(kind, n, out);
	if (rc)
		return rc;
	char *p = (*out)->u.s.p;
	if (!(rc = lrd__reader_get(r, p, n)) && kind == LRD_KIND_STR && !lrd__utf8_valid(p, n))
		rc = lrd__err(LRD_ECORRUPT, "string of %zu bytes is not valid UTF-8", n);
	if (rc) {
		lrd_value_free(*out);
		*out = NULL;
	}
	return rc;
}

/* A map key: straight from a memory reader's buffer when it is there (no copy), else read into
 * *owned (freed by the caller). *key is not NUL-terminated; NUL inside is refused. Keys are
 * charged to the budget only when building. */
static int read_key(lrd__reader *r, const lrd__tree_hooks *h, bool build, const char **key,
                    size_t *klen, char **owned, bool *ascii)
{
	uint64_t n;
	int rc = lrd__reader_varint(r, &n);
	if (rc || (build && (rc = charge(h, n))))
		return rc;
	const uint8_t *p = n <= SIZE_MAX ? lrd__reader_take(r, (size_t)n) : NULL;
	if (!p) {
		if ((rc = lrd__reader_alloc(r, n, 1, (uint8_t **)owned)))
			return lrd__errctx(rc, "map key of %llu bytes", (unsigned long long)n);
		p = (const uint8_t *)*owned;
	}
	*key = (const char *)p;
	*klen = (size_t)n;
	bool nul;
	if (n <= 32) { /* short keys, the usual ones: one pass for NUL and non-ASCII bytes */
		uint8_t all = 0xff, any = 0;
		for (size_t i = 0; i < n; i++) {
			all &= (uint8_t)(p[i] ? 0xff : 0);
			any |= p[i];
		}
		nul = !all;
		*ascii = !(any & 0x80);
	} else {
		nul = memchr(p, '\0', *klen) != NULL;
		*ascii = false;
	}
	if (nul) {
		lrd__free(*owned); /* the caller frees *owned only after a success */
		*owned = NULL;
		return lrd__err(LRD_ECORRUPT, "map key contains a NUL byte");
	}
	return LRD_OK;
}

static int walk(lrd__reader *r, const lrd__tree_hooks *h, unsigned depth, lrd_value **out);
static int walk_body(lrd__reader *r, const lrd__tree_hooks *h, uint8_t tag, unsigned depth,
                     lrd_value **out);

/* walk() building one map item into e: an int or float is left for lrd__map_new_block to make
 * inside the map's block (e->item NULL), anything else is built as walk() would. */
static int walk_map_item(lrd__reader *r, const lrd__tree_hooks *h, unsigned depth, lrd__map_init *e)
{
	uint8_t tag, b8[8];
	int rc = lrd__reader_u8(r, &tag);
	if (!rc)
		rc = charge(h, LRD__TREE_NODE_COST);
	if (rc)
		return rc;
	e->item = NULL;
	if (tag != LRD__TAG_INT && tag != LRD__TAG_FLOAT) {
		if ((rc = walk_body(r, h, tag, depth, &e->item)))
			e->item = NULL; /* nothing built is left owned on failure */
		return rc;
	}
	if ((rc = lrd__reader_get(r, b8, 8)))
		return rc;
	e->kind = tag == LRD__TAG_INT ? LRD_KIND_INT : LRD_KIND_FLOAT;
	e->bits = lrd__get_u64(b8);
	return LRD_OK;
}

/* A map of n <= LRD__MAP_BLOCK_MAX entries, built once all of them are decoded as one
 * allocation (lrd__map_new_block). Accepts and refuses exactly what the general loop in
 * walk_body does, with the same errors in the same order. */
static int decode_small_map(lrd__reader *r, const lrd__tree_hooks *h, unsigned depth, size_t n,
                            lrd_value **out)
{
	lrd__map_init in[LRD__MAP_BLOCK_MAX];
	char *owned[LRD__MAP_BLOCK_MAX];
	size_t got = 0;
	int rc = LRD_OK;
	while (got < n) {
		lrd__map_init *e = &in[got];
		owned[got] = NULL;
		bool ascii;
		if ((rc = read_key(r, h, true, &e->key, &e->keylen, &owned[got], &ascii)))
			break;
		got++; /* from here on, in[got - 1] is released on failure */
		e->item = NULL;
		if ((rc = walk_map_item(r, h, depth + 1, e)))
			break;
		int kl = e->keylen > 40 ? 40 : (int)e->keylen;
		if (!ascii && !lrd__utf8_valid(e->key, e->keylen)) {
			rc =
			    lrd__err(LRD_ECORRUPT, "map key '%.*s' is not valid UTF-8", kl, e->key);
			break;
		}
		for (size_t i = 0; i + 1 < got; i++)
			if (in[i].keylen == e->keylen &&
			    memcmp(in[i].key, e->key, e->keylen) == 0) {
				rc = lrd__err(LRD_ECORRUPT, "map key '%.*s' appears twice", kl,
				              e->key);
				break;
			}
		if (rc)
			break;
	}
	if (!rc)
		rc = lrd__map_new_block(in, n, out);
	for (size_t i = 0; i < got; i++) {
		if (rc)
			lrd_value_free(in[i].item);
		if (owned[i])
			lrd__free(owned[i]);
	}
	return rc;
}

static int walk_body(lrd__reader *r, const lrd__tree_hooks *h, uint8_t tag, unsigned depth,
                     lrd_value **out)
{
	uint8_t b8[8];
	uint64_t n;
	int rc;
	switch (tag) {
	case LRD__TAG_NIL:
		if (out)
			*out = LRD__NIL;
		return LRD_OK;
	case LRD__TAG_FALSE:
	case LRD__TAG_TRUE:
		if (out)
			*out = LRD__BOOL(tag == LRD__TAG_TRUE);
		return LRD_OK;
	case LRD__TAG_INT:
	case LRD__TAG_FLOAT:
		if ((rc = lrd__reader_get(r, b8, 8)) || !out)
			return rc;
		n = lrd__get_u64(b8);
		if (tag == LRD__TAG_INT)
			return lrd_value_new_int((int64_t)n, out);
		double f;
		memcpy(&f, &n, sizeof f);
		return lrd_value_new_float(f, out);
	case LRD__TAG_STR:
	case LRD__TAG_BYTES: {
		if ((rc = lrd__reader_varint(r, &n)))
			return rc;
		if (!out)
			return lrd__reader_skip(r, n);
		if ((rc = charge(h, n)))
			return rc;
		if (r->avail != LRD__AVAIL_UNKNOWN && n <= r->avail)
			return decode_blob_known(r, tag, (size_t)n, out);
		uint8_t *p;
		if ((rc = lrd__reader_alloc(r, n, 1, &p)))
			return rc;
		rc = tag == LRD__TAG_STR ? lrd_value_new_str((char *)p, (size_t)n, out)
		                         : lrd_value_new_bytes(p, (size_t)n, out);
		lrd__free(p);
		if (rc == LRD_EINVAL)
			rc = lrd__err(LRD_ECORRUPT, "string of %llu bytes is not valid UTF-8",
			              (unsigned long long)n);
		return rc;
	}
	case LRD__TAG_LIST:
	case LRD__TAG_MAP:
		break;
	case LRD__TAG_ARRAY: {
		lrd__array_desc d;
		if ((rc = lrd__tree_read_array_desc(r, &d)))
			return rc;
		if (!h || !h->array_in)
			return lrd__err(LRD_ECORRUPT, "array where this container allows none");
		return h->array_in(h->ctx, &d, r, out);
	}
	default:
		return lrd__err(LRD_ECORRUPT, "unknown value tag 0x%02x at offset %llu", tag,
		                (unsigned long long)(r->pos - 1));
	}
	if (depth >= depth_limit(h))
		return lrd__err(LRD_ECORRUPT, "values nested deeper than %u", depth_limit(h));
	if ((rc = lrd__reader_varint(r, &n)))
		return rc;
	if (out && tag == LRD__TAG_MAP && n <= LRD__MAP_BLOCK_MAX)
		return decode_small_map(r, h, depth, (size_t)n, out);
	lrd_value *c = NULL;
	if (out && (rc = tag == LRD__TAG_LIST ? lrd_value_new_list(&c) : lrd_value_new_map(&c)))
		return rc;
	/* Every item takes a byte at least: the input vouches for that many, and no more; nor
	 * more than the budget left could pay for. */
	if (c && tag == LRD__TAG_LIST && r->avail != LRD__AVAIL_UNKNOWN) {
		uint64_t k = n < r->avail ? n : r->avail;
		const lrd__budget *b = h ? h->budget : NULL;
		if (b && b->limit && k > (b->limit - b->used) / LRD__TREE_NODE_COST)
			k = (b->limit - b->used) / LRD__TREE_NODE_COST;
		if ((rc = lrd__list_reserve(c, (size_t)k))) {
			lrd_value_free(c);
			return rc;
		}
	}
	for (uint64_t i = 0; i < n && !rc; i++) {
		const char *key = NULL;
		char *owned = NULL;
		size_t klen = 0;
		lrd_value *item = NULL;
		bool ascii;
		if (tag == LRD__TAG_MAP &&
		    (rc = read_key(r, h, out != NULL, &key, &klen, &owned, &ascii)))
			break;
		rc = walk(r, h, depth + 1, out ? &item : NULL);
		if (!rc && c && tag == LRD__TAG_LIST) {
			rc = lrd_list_append(c, item);
		} else if (!rc && c) {
			size_t before = lrd_value_len(c);
			int kl = klen > 40 ? 40 : (int)klen;
			rc = lrd__map_set_n(c, key, klen, item);
			if (rc == LRD_EINVAL)
				rc = lrd__err(LRD_ECORRUPT, "map key '%.*s' is not valid UTF-8", kl,
				              key);
			else if (!rc && lrd_value_len(c) == before)
				rc =
				    lrd__err(LRD_ECORRUPT, "map key '%.*s' appears twice", kl, key);
		}
		lrd__free(owned);
	}
	if (rc) {
		lrd_value_free(c);
		return rc;
	}
	if (out)
		*out = c;
	return LRD_OK;
}

static int walk(lrd__reader *r, const lrd__tree_hooks *h, unsigned depth, lrd_value **out)
{
	uint8_t tag;
	int rc = lrd__reader_u8(r, &tag);
	if (!rc && out)
		rc = charge(h, LRD__TREE_NODE_COST);
	return rc ? rc : walk_body(r, h, tag, depth, out);
}

int lrd__tree_decode(lrd__reader *r, const lrd__tree_hooks *h, lrd_value **out)
{
	*out = NULL;
	return walk(r, h, 0, out);
}

int lrd__tree_skip(lrd__reader *r, const lrd__tree_hooks *h) { return walk(r, h, 0, NULL); }

static int visit(lrd__reader *r, const lrd__tree_hooks *h, lrd__tree_node *n, lrd__tree_visit_fn fn,
                 void *ctx)
{
	int rc = lrd__reader_u8(r, &n->tag);
	if (rc)
		return rc;
	if (n->tag != LRD__TAG_LIST && n->tag != LRD__TAG_MAP) {
		lrd_value *v = NULL;
		if (!(rc = walk_body(r, h, n->tag, n->depth, &v))) {
			n->value = v;
			rc = fn(ctx, n);
		}
		lrd_value_free(v);
		return rc;
	}
	if (n->depth >= depth_limit(h))
		return lrd__err(LRD_ECORRUPT, "values nested deeper than %u", depth_limit(h));
	if ((rc = lrd__reader_varint(r, &n->len)) || (rc = fn(ctx, n)))
		return rc;
	for (uint64_t i = 0; i < n->len && !rc; i++) {
		lrd__tree_node item = {.depth = n->depth + 1, .index = i};
		char *key = NULL;
		if (n->tag == LRD__TAG_MAP) {
			const char *k;
			size_t klen;
			char *owned = NULL;
			bool ascii;
			if ((rc = read_key(r, h, false, &k, &klen, &owned, &ascii)))
				return rc;
			if (!ascii && !lrd__utf8_valid(k, klen)) {
				int kl = klen > 40 ? 40 : (int)klen;
				rc = lrd__err(LRD_ECORRUPT, "map key '%.*s' is not valid UTF-8", kl,
				              k);
			} else if (!owned && !(key = lrd__malloc(klen + 1))) {
				rc = LRD_ENOMEM;
			} else if (!owned) {
				memcpy(key, k, klen);
				key[klen] = '\0';
			} else {
				key = owned; /* lrd__reader_alloc left a NUL after it */
				owned = NULL;
			}
			lrd__free(owned);
			item.key = key;
		}
		if (!rc)
			rc = visit(r, h, &item, fn, ctx);
		lrd__free(key);
	}
	return rc;
}

int lrd__tree_visit(lrd__reader *r, const lrd__tree_hooks *h, lrd__tree_visit_fn fn, void *ctx)
{
	lrd__tree_node root = {0};
	return visit(r, h, &root, fn, ctx);
}

int lrd__keypath_index(const char *s, uint64_t *idx)
{
	char *end;
	if (!*s || *s < '0' || *s > '9')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end)
		return -1;
	*idx = v;
	return 0;
}

int lrd__tree_decode_path(lrd__reader *r, const lrd__tree_hooks *h, const char *const *path,
                          size_t npath, lrd_value **out)
{
	*out = NULL;
	unsigned depth = 0;
	for (size_t k = 0; k < npath; k++, depth++) {
		uint8_t tag;
		uint64_t n, want = 0;
		int rc = lrd__reader_u8(r, &tag);
		if (rc)
			return rc;
		if (depth >= depth_limit(h))
			return lrd__err(LRD_ECORRUPT, "values nested deeper than %u",
			                depth_limit(h));
		if (tag != LRD__TAG_MAP && tag != LRD__TAG_LIST)
			return lrd__err(LRD_ENOTFOUND, "'%s': not inside a map or list", path[k]);
		if (tag == LRD__TAG_LIST && lrd__keypath_index(path[k], &want))
			return lrd__err(LRD_ENOTFOUND, "'%s': a list needs a decimal index",
			                path[k]);
		if ((rc = lrd__reader_varint(r, &n)))
			return rc;
		bool found = false;
		for (uint64_t i = 0; i < n && !found; i++) {
			if (tag == LRD__TAG_MAP) {
				char *key;
				size_t klen;
				if ((rc = read_text(r, &key, &klen, "map key")))
					return rc;
				found = strcmp(key, path[k]) == 0;
				lrd__free(key);
			} else {
				found = i == want;
			}
			if (!found && (rc = walk(r, h, depth + 1, NULL)))
				return rc;
		}
		if (!found)
			return lrd__err(LRD_ENOTFOUND, "'%s': no such entry", path[k]);
	}
	return walk(r, h, depth, out);
}
