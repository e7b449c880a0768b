/* Arrays: construction over owned (64-byte aligned), borrowed and mapped buffers, accessors,
 * and the array parts of equality, clone and free.
 *
 * Invariants: dt is valid (canonical), ndim <= LRD_MAX_NDIM, count and nbytes are the shape's
 * product and byte size and nbytes <= PTRDIFF_MAX, checked before anything is allocated; the
 * description and the shape live in the same allocation as the value; data is non-NULL whenever
 * nbytes > 0. An owned buffer is `block` rounded up to LRD__ALIGN; a mapped buffer's release
 * callback runs exactly once, from lrd_value_free. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/value/dtype_internal.h"
#include "engine/value/value_internal.h"

int lrd__array_size(lrd_dtype dt, unsigned ndim, const uint64_t *shape, uint64_t *count,
                    size_t *nbytes)
{
	if (!lrd_dtype_valid(dt)) {
		char s[16];
		return lrd__err(LRD_EDTYPE,
		                "array dtype %s (order 0x%02x, kind 0x%02x, itemsize %u)",
		                lrd__dtype_str(dt, s), (unsigned char)dt.order,
		                (unsigned char)dt.kind, dt.itemsize);
	}
	if (ndim > LRD_MAX_NDIM)
		return lrd__err(LRD_EINVAL, "array of %u dimensions (at most %d)", ndim,
		                LRD_MAX_NDIM);
	if (ndim && !shape)
		return lrd__err(LRD_EINVAL, "array of %u dimensions without a shape", ndim);
	uint64_t n = 1, bound = dt.itemsize;
	for (unsigned i = 0; i < ndim; i++) {
		n *= shape[i];
		if (shape[i] > 1 && __builtin_mul_overflow(bound, shape[i], &bound))
			bound = UINT64_MAX;
		if (bound > (uint64_t)PTRDIFF_MAX)
			return lrd__err(
			    LRD_ELIMIT,
			    "array shape overflows: dimension %u of %u has %llu elements", i, ndim,
			    (unsigned long long)shape[i]);
	}
	*count = n;
	*nbytes = (size_t)(n * dt.itemsize);
	return LRD_OK;
}

static int array_alloc(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                       lrd_value **out, lrd_value **a)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "array constructor: NULL output");
	*out = NULL;
	if (order != LRD_ORDER_C && order != LRD_ORDER_F)
		return lrd__err(LRD_EINVAL, "array order %d is neither C nor Fortran", (int)order);
	uint64_t count;
	size_t nbytes;
	int rc = lrd__array_size(dt, ndim, shape, &count, &nbytes);
	if (rc != LRD_OK)
		return rc;
	lrd_value *v =
	    lrd__value_alloc(LRD_KIND_ARRAY, sizeof(struct lrd__array) + ndim * sizeof(uint64_t));
	if (!v)
		return LRD_ENOMEM;
	struct lrd__array *arr = v->u.a = (struct lrd__array *)(v + 1);
	arr->dt = dt;
	arr->ndim = ndim;
	arr->order = order;
	arr->count = count;
	arr->nbytes = nbytes;
	if (ndim) {
		arr->shape = (uint64_t *)(arr + 1);
		memcpy(arr->shape, shape, ndim * sizeof(uint64_t));
	}
	*a = v;
	return LRD_OK;
}

/* Ask for transparent huge pages on big buffers, as numpy does: with THP in "madvise" mode
 * (Debian's default) filling or copying a large array with 4 KiB pages costs about three times
 * as long in page faults and TLB misses. Advice only; failure changes nothing. */
static void advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	long page = sysconf(_SC_PAGESIZE);
	if (n < ((size_t)4 << 20) || page <= 0)
		return;
	uintptr_t b = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	uintptr_t e = ((uintptr_t)p + n) & ~((uintptr_t)page - 1);
	if (e > b)
		madvise((void *)b, e - b, MADV_HUGEPAGE);
#endif
}

static int new_owned(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order, bool zero,
                     lrd_value **out)
{
	lrd_value *v;
	int rc = array_alloc(dt, ndim, shape, order, out, &v);
	if (rc != LRD_OK)
		return rc;
	struct lrd__array *arr = v->u.a;
	/* nbytes <= PTRDIFF_MAX, so adding the alignment slack cannot wrap. */
	size_t total = arr->nbytes + LRD__ALIGN;
	arr->block = zero ? lrd__calloc(1, total) : lrd__malloc(total);
	if (!arr->block) {
		lrd__free(v);
		return lrd__err(LRD_ENOMEM, "array of %zu bytes", total - LRD__ALIGN);
	}
	uintptr_t p = ((uintptr_t)arr->block + LRD__ALIGN - 1) & ~(uintptr_t)(LRD__ALIGN - 1);
	arr->data = (void *)p;
	arr->bufkind = LRD_BUF_OWNED;
	advise_huge(arr->data, arr->nbytes);
	*out = v;
	return LRD_OK;
}

int lrd_array_new(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                  lrd_value **out)
{
	return new_owned(dt, ndim, shape, order, true, out);
}

int lrd__array_new_uninit(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                          lrd_value **out)
{
	return new_owned(dt, ndim, shape, order, false, out);
}

int lrd__array_new_adopt(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                         void *block, void *data, lrd_value **out)
{
	lrd_value *v;
	int rc = array_alloc(dt, ndim, shape, order, out, &v);
	if (rc != LRD_OK)
		return rc;
	if (((uintptr_t)data & (LRD__ALIGN - 1)) || (!data && v->u.a->nbytes)) {
		lrd__free(v);
		return lrd__err(LRD_EINVAL,
		                "internal: adopted array data %p is not %d-byte aligned", data,
		                LRD__ALIGN);
	}
	v->u.a->block = block;
	v->u.a->data = data;
	v->u.a->bufkind = LRD_BUF_OWNED;
	*out = v;
	return LRD_OK;
}

static int new_over(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                    const void *data, size_t size, lrd_bufkind kind, lrd_value **out)
{
	lrd_value *v;
	int rc = array_alloc(dt, ndim, shape, order, out, &v);
	if (rc != LRD_OK)
		return rc;
	if (size != v->u.a->nbytes || (!data && size)) {
		size_t want = v->u.a->nbytes;
		lrd__free(v);
		return lrd__err(LRD_EINVAL, "array buffer of %zu bytes%s, shape needs %zu", size,
		                data ? "" : " (NULL)", want);
	}
	v->u.a->data = (void *)data;
	v->u.a->bufkind = kind;
	*out = v;
	return LRD_OK;
}

int lrd_array_wrap(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order, void *data,
                   size_t size, lrd_value **out)
{
	return new_over(dt, ndim, shape, order, data, size, LRD_BUF_BORROWED, out);
}

int lrd__array_new_mapped(lrd_dtype dt, unsigned ndim, const uint64_t *shape, lrd_order order,
                          const void *data, size_t size, void (*release)(void *ctx), void *ctx,
                          lrd_value **out)
{
	int rc = new_over(dt, ndim, shape, order, data, size, LRD_BUF_MAPPED, out);
	if (rc == LRD_OK) {
		(*out)->u.a->release = release;
		(*out)->u.a->ctx = ctx;
	}
	return rc;
}

void lrd__array_release(lrd_value *a)
{
	if (a->u.a->bufkind == LRD_BUF_OWNED)
		lrd__free(a->u.a->block);
	else if (a->u.a->bufkind == LRD_BUF_MAPPED && a->u.a->release)
		a->u.a->release(a->u.a->ctx);
}

bool lrd__array_equal(const lrd_value *a, const lrd_value *b)
{
	const struct lrd__array *x = a->u.a, *y = b->u.a;
	if (!lrd_dtype_equal(x->dt, y->dt) || x->ndim != y->ndim || x->order != y->order)
		return false;
	if (x->ndim && memcmp(x->shape, y->shape, x->ndim * sizeof(uint64_t)) != 0)
		return false;
	return x->nbytes == 0 || x->data == y->data || memcmp(x->data, y->data, x->nbytes) == 0;
}

int lrd__array_clone(const lrd_value *a, lrd_value **out)
{
	const struct lrd__array *x = a->u.a;
	int rc = lrd__array_new_uninit(x->dt, x->ndim, x->shape, x->order, out);
	if (rc == LRD_OK && x->nbytes)
		memcpy((*out)->u.a->data, x->data, x->nbytes);
	return rc;
}

/* ---- accessors ------------------------------------------------------------------------------ */

static const struct lrd__array *arr(const lrd_value *v)
{
	return v && v->kind == LRD_KIND_ARRAY ? v->u.a : NULL;
}

lrd_dtype lrd_array_dtype(const lrd_value *a) { return arr(a) ? arr(a)->dt : (lrd_dtype){0, 0, 0}; }

unsigned lrd_array_ndim(const lrd_value *a) { return arr(a) ? arr(a)->ndim : 0; }

const uint64_t *lrd_array_shape(const lrd_value *a) { return arr(a) ? arr(a)->shape : NULL; }

lrd_order lrd_array_order(const lrd_value *a) { return arr(a) ? arr(a)->order : LRD_ORDER_C; }

uint64_t lrd_array_count(const lrd_value *a) { return arr(a) ? arr(a)->count : 0; }

size_t lrd_array_nbytes(const lrd_value *a) { return arr(a) ? arr(a)->nbytes : 0; }

lrd_bufkind lrd_array_bufkind(const lrd_value *a)
{
	return arr(a) ? arr(a)->bufkind : LRD_BUF_OWNED;
}

void *lrd_array_data(lrd_value *a) { return arr(a) ? arr(a)->data : NULL; }

const void *lrd_array_cdata(const lrd_value *a) { return arr(a) ? arr(a)->data : NULL; }
