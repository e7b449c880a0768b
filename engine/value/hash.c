/* lrd_value_hash128: XXH3-128 over a canonical encoding of a value tree (see value.h for the
 * encoding and the choices on -0.0 and NaN). Arrays are streamed: C-order data is hashed in
 * place, Fortran-order data is gathered row by row (C order) into a small buffer, so nothing
 * the size of the array is ever copied. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack: no allocation per hash */
#include <xxhash.h>

#include "engine/value/value_internal.h"

/* Tags of the canonical encoding (one byte each, then the kind's payload). */
enum { T_NIL = 0x10, T_BOOL, T_INT, T_FLOAT, T_STR, T_BYTES, T_LIST, T_MAP, T_ARRAY };

/* Bytes gathered per update when a Fortran-order array is streamed in C order. */
#define GATHER_BYTES (64u * 1024u)

static void put_u64(XXH3_state_t *h, uint64_t x)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(x >> (8 * i));
	XXH3_128bits_update(h, b, 8);
}

static void put_tag(XXH3_state_t *h, unsigned tag)
{
	unsigned char t = (unsigned char)tag;
	XXH3_128bits_update(h, &t, 1);
}

static void put_blob(XXH3_state_t *h, unsigned tag, const void *p, size_t n)
{
	put_tag(h, tag);
	put_u64(h, n);
	if (n)
		XXH3_128bits_update(h, p, n);
}

static void put_float(XXH3_state_t *h, double f)
{
	uint64_t bits;
	if (isnan(f))
		bits = 0x7ff8000000000000ull; /* every NaN hashes as the canonical quiet NaN */
	else {
		if (f == 0.0)
			f = 0.0; /* -0.0 hashes as +0.0 */
		memcpy(&bits, &f, 8);
	}
	put_tag(h, T_FLOAT);
	put_u64(h, bits);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct lrd__map_entry *x = *(const struct lrd__map_entry *const *)a;
	const struct lrd__map_entry *y = *(const struct lrd__map_entry *const *)b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);
	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* The data of a Fortran-order array, in C order: for each C-order row (the last axis varies
 * fastest), gather its elements (strided in memory) into buf, and hash buf when full. */
static int put_fortran(XXH3_state_t *h, const struct lrd__array *a)
{
	size_t isz = a->dt.itemsize, nd = a->ndim;
	uint64_t fstride[LRD_MAX_NDIM], idx[LRD_MAX_NDIM] = {0};
	uint64_t s = isz;
	for (size_t k = 0; k < nd; k++) {
		fstride[k] = s;
		s *= a->shape[k];
	}
	unsigned char *buf = lrd__malloc(GATHER_BYTES > isz ? GATHER_BYTES : isz);
	if (!buf)
		return LRD_ENOMEM;
	size_t cap = GATHER_BYTES > isz ? GATHER_BYTES / isz : 1, used = 0;
	const unsigned char *base = a->data;
	uint64_t last = a->shape[nd - 1], lstride = fstride[nd - 1];
	for (uint64_t row = 0, rows = a->count / last; row < rows; row++) {
		uint64_t off = 0;
		for (size_t k = 0; k + 1 < nd; k++)
			off += idx[k] * fstride[k];
		for (uint64_t j = 0; j < last; j++) {
			memcpy(buf + used * isz, base + off + j * lstride, isz);
			if (++used == cap) {
				XXH3_128bits_update(h, buf, used * isz);
				used = 0;
			}
		}
		for (size_t k = nd - 1; k-- > 0;) { /* next row index, last-but-one axis fastest */
			if (++idx[k] < a->shape[k])
				break;
			idx[k] = 0;
		}
	}
	if (used)
		XXH3_128bits_update(h, buf, used * isz);
	lrd__free(buf);
	return LRD_OK;
}

static int put_array(XXH3_state_t *h, const struct lrd__array *a)
{
	put_tag(h, T_ARRAY);
	unsigned char dt[2] = {(unsigned char)a->dt.order, (unsigned char)a->dt.kind};
	if (a->dt.itemsize == 1)
		dt[0] = '|'; /* byte order means nothing for one-byte items */
	XXH3_128bits_update(h, dt, 2);
	put_u64(h, a->dt.itemsize);
	put_u64(h, a->ndim);
	unsigned big = 0; /* axes longer than 1: with at most one, C and F bytes are the same */
	for (unsigned k = 0; k < a->ndim; k++) {
		put_u64(h, a->shape[k]);
		big += a->shape[k] > 1;
	}
	if (a->nbytes == 0)
		return LRD_OK;
	if (a->order == LRD_ORDER_C || big <= 1) {
		XXH3_128bits_update(h, a->data, a->nbytes);
		return LRD_OK;
	}
	return put_fortran(h, a);
}

static int put_value(XXH3_state_t *h, const lrd_value *v)
{
	switch (v->kind) {
	case LRD_KIND_NIL:
		put_tag(h, T_NIL);
		return LRD_OK;
	case LRD_KIND_BOOL:
		put_tag(h, T_BOOL);
		put_tag(h, v->u.b ? 1 : 0);
		return LRD_OK;
	case LRD_KIND_INT:
		put_tag(h, T_INT);
		put_u64(h, (uint64_t)v->u.i);
		return LRD_OK;
	case LRD_KIND_FLOAT:
		put_float(h, v->u.f);
		return LRD_OK;
	case LRD_KIND_STR:
		put_blob(h, T_STR, v->u.s.p, v->u.s.len);
		return LRD_OK;
	case LRD_KIND_BYTES:
		put_blob(h, T_BYTES, v->u.s.p, v->u.s.len);
		return LRD_OK;
	case LRD_KIND_LIST:
		put_tag(h, T_LIST);
		put_u64(h, v->u.list.len);
		for (size_t i = 0; i < v->u.list.len; i++) {
			int rc = put_value(h, v->u.list.items[i]);
			if (rc != LRD_OK)
				return rc;
		}
		return LRD_OK;
	case LRD_KIND_MAP: {
		size_t n = v->u.map.len;
		put_tag(h, T_MAP);
		put_u64(h, n);
		if (n == 0)
			return LRD_OK;
		const struct lrd__map_entry **ord = lrd__malloc(n * sizeof *ord);
		if (!ord)
			return LRD_ENOMEM;
		for (size_t i = 0; i < n; i++)
			ord[i] = &v->u.map.ent[i];
		qsort(ord, n, sizeof *ord, cmp_entry);
		int rc = LRD_OK;
		for (size_t i = 0; rc == LRD_OK && i < n; i++) {
			put_u64(h, ord[i]->keylen);
			XXH3_128bits_update(h, ord[i]->key, ord[i]->keylen);
			rc = put_value(h, ord[i]->item);
		}
		lrd__free(ord);
		return rc;
	}
	case LRD_KIND_ARRAY:
		return put_array(h, v->u.a);
	}
	return lrd__err(LRD_EINVAL, "lrd_value_hash128: unknown kind %d", (int)v->kind);
}

int lrd_value_hash128(const lrd_value *v, uint64_t seed, lrd_hash128 *out)
{
	if (!v || !out)
		return lrd__err(LRD_EINVAL, "lrd_value_hash128: NULL argument");
	XXH3_state_t h;
	XXH3_INITSTATE(&h);
	XXH3_128bits_reset_withSeed(&h, seed);
	int rc = put_value(&h, v);
	if (rc == LRD_OK) {
		XXH128_hash_t r = XXH3_128bits_digest(&h);
		out->lo = r.low64;
		out->hi = r.high64;
	} else if (rc == LRD_ENOMEM)
		lrd__err(LRD_ENOMEM, "lrd_value_hash128: out of memory");
	return rc;
}
