/* The value tree: scalars, strings, bytes, lists, and the whole-tree operations (free, equality,
 * clone). Maps live in map.c, arrays in array.c.
 *
 * Invariants: every value has exactly one owner — the caller for a root, else the list or map
 * its `parent` points to. A container takes ownership of an item on every call that is handed
 * one, so a failed append frees the item instead of leaking it; the only exceptions are items
 * it cannot own (NULL, already in a tree, the container or one of its ancestors), which are
 * refused untouched. Parent links make cycles impossible and let lrd_value_free walk any depth
 * without recursion. nil, false and true are three shared read-only nodes (value_internal.h):
 * a list of a million nils costs a million pointers. A decoder may build a small map, its keys
 * and its int/float items as one allocation (lrd__map_new_block; the flags in value_internal.h):
 * freeing such an item releases nothing, the map's free releases the block. Values carry no
 * locks (see value.h for the threading rule). */
#include <string.h>

#include "engine/value/value_internal.h"

lrd_value *lrd__value_alloc(lrd_kind kind, size_t extra)
{
	size_t n;
	if (!lrd__add_ok(sizeof(lrd_value), extra, &n)) {
		lrd__err(LRD_ENOMEM, "value too large");
		return NULL;
	}
	lrd_value *v = lrd__malloc(n); /* malloc + memset: half the cost of calloc when small */
	if (v) {
		memset(v, 0, n);
		v->kind = kind;
	}
	return v;
}

/* Begin a constructor: check and set *out to a new node of `kind` (NULL on failure). */
static int start(lrd_kind kind, lrd_value **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_value_new_%s: NULL output", lrd_kind_name(kind));
	*out = lrd__value_alloc(kind, 0);
	return *out ? LRD_OK : LRD_ENOMEM;
}

/* Read-only: a write through a missed check faults instead of racing between threads. */
const lrd_value lrd__shared_nodes[3] = {
    {.kind = LRD_KIND_NIL, .flags = LRD__V_SHARED},
    {.kind = LRD_KIND_BOOL, .flags = LRD__V_SHARED, .u.b = false},
    {.kind = LRD_KIND_BOOL, .flags = LRD__V_SHARED, .u.b = true}};

int lrd_value_new_nil(lrd_value **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_value_new_nil: NULL output");
	*out = LRD__NIL;
	return LRD_OK;
}

int lrd_value_new_bool(bool b, lrd_value **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_value_new_bool: NULL output");
	*out = LRD__BOOL(b);
	return LRD_OK;
}

int lrd_value_new_int(int64_t i, lrd_value **out)
{
	int rc = start(LRD_KIND_INT, out);
	if (rc == LRD_OK)
		(*out)->u.i = i;
	return rc;
}

int lrd_value_new_float(double f, lrd_value **out)
{
	int rc = start(LRD_KIND_FLOAT, out);
	if (rc == LRD_OK)
		(*out)->u.f = f;
	return rc;
}

/* str and bytes share one representation: a private copy with a NUL after the last byte. The
 * node and the bytes are two allocations: each then stays small enough for the allocator's
 * per-thread caches (glibc's tcache holds blocks up to 1032 bytes) where one block of node +
 * bytes would not, which matters for the common values of about 1 KiB. */
int lrd__blob_new_uninit(lrd_kind kind, size_t n, lrd_value **out)
{
	size_t cap;
	if (!lrd__add_ok(n, 1, &cap))
		return lrd__err(LRD_ENOMEM, "%s of %zu bytes", lrd_kind_name(kind), n);
	int rc = start(kind, out);
	if (rc != LRD_OK)
		return rc;
	lrd_value *v = *out;
	if (!(v->u.s.p = lrd__malloc(cap))) {
		lrd__free(v);
		*out = NULL;
		return LRD_ENOMEM;
	}
	v->u.s.p[n] = '\0';
	v->u.s.len = n;
	return LRD_OK;
}

static int new_blob(lrd_kind kind, const void *p, size_t n, lrd_value **out)
{
	int rc = lrd__blob_new_uninit(kind, n, out);
	if (rc == LRD_OK && n)
		memcpy((*out)->u.s.p, p, n);
	return rc;
}

int lrd_value_new_str(const char *s, size_t len, lrd_value **out)
{
	if (out)
		*out = NULL;
	if (!s && len)
		return lrd__err(LRD_EINVAL, "lrd_value_new_str: NULL text");
	if (len == SIZE_MAX)
		len = s ? strlen(s) : 0;
	if (!lrd__utf8_valid(s, len))
		return lrd__err(LRD_EINVAL, "string of %zu bytes is not valid UTF-8", len);
	return new_blob(LRD_KIND_STR, s, len, out);
}

int lrd_value_new_bytes(const void *p, size_t n, lrd_value **out)
{
	if (out)
		*out = NULL;
	if (!p && n)
		return lrd__err(LRD_EINVAL, "lrd_value_new_bytes: NULL data");
	return new_blob(LRD_KIND_BYTES, p, n, out);
}

int lrd_value_new_list(lrd_value **out) { return start(LRD_KIND_LIST, out); }

/* ---- ownership of items ------------------------------------------------------------------ */

int lrd__adopt_check(lrd_value *container, lrd_kind kind, lrd_value *item, const char *what)
{
	if (!item)
		return lrd__err(LRD_EINVAL, "%s: NULL item", what);
	if (item->parent)
		return lrd__err(LRD_EINVAL, "%s: item already belongs to a list or map", what);
	for (lrd_value *a = container; a; a = a->parent)
		if (a == item)
			return lrd__err(LRD_EINVAL, "%s: a value cannot contain itself", what);
	if (!container || container->kind != kind) {
		lrd_value_free(item);
		return lrd__err(LRD_EINVAL, "%s: not a %s", what, lrd_kind_name(kind));
	}
	return LRD_OK;
}

int lrd__list_reserve(lrd_value *list, size_t n)
{
	size_t bytes;
	if (n <= list->u.list.cap)
		return LRD_OK;
	lrd_value **items = NULL;
	if (lrd__mul_ok(n, sizeof *items, &bytes))
		items = lrd__realloc(list->u.list.items, bytes);
	if (!items)
		return lrd__err(LRD_ENOMEM, "list of %zu items", n);
	list->u.list.items = items;
	list->u.list.cap = n;
	return LRD_OK;
}

int lrd_list_append(lrd_value *list, lrd_value *item)
{
	int rc = lrd__adopt_check(list, LRD_KIND_LIST, item, "lrd_list_append");
	if (rc != LRD_OK)
		return rc;
	if (list->u.list.len == list->u.list.cap) {
		size_t cap = list->u.list.cap ? list->u.list.cap * 2 : 4, bytes;
		lrd_value **items = NULL;
		if (lrd__mul_ok(cap, sizeof *items, &bytes))
			items = lrd__realloc(list->u.list.items, bytes);
		if (!items) {
			lrd_value_free(item);
			return lrd__err(LRD_ENOMEM, "list of %zu items", list->u.list.len);
		}
		list->u.list.items = items;
		list->u.list.cap = cap;
	}
	list->u.list.items[list->u.list.len++] = item;
	if (!lrd__value_shared(item))
		item->parent = list;
	return LRD_OK;
}

/* ---- access -------------------------------------------------------------------------------- */

lrd_kind lrd_value_kind(const lrd_value *v) { return v ? v->kind : LRD_KIND_NIL; }

const char *lrd_kind_name(lrd_kind k)
{
	static const char *const names[] = {"nil",   "bool", "int", "float", "str",
	                                    "bytes", "list", "map", "array"};
	return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

static int want(const lrd_value *v, lrd_kind kind, const void *out)
{
	if (!v || !out)
		return lrd__err(LRD_EINVAL, "lrd_value_get_%s: NULL argument", lrd_kind_name(kind));
	if (v->kind != kind)
		return lrd__err(LRD_EINVAL, "value is a %s, not a %s", lrd_kind_name(v->kind),
		                lrd_kind_name(kind));
	return LRD_OK;
}

int lrd_value_get_bool(const lrd_value *v, bool *out)
{
	int rc = want(v, LRD_KIND_BOOL, out);
	if (rc == LRD_OK)
		*out = v->u.b;
	return rc;
}

int lrd_value_get_int(const lrd_value *v, int64_t *out)
{
	int rc = want(v, LRD_KIND_INT, out);
	if (rc == LRD_OK)
		*out = v->u.i;
	return rc;
}

int lrd_value_get_float(const lrd_value *v, double *out)
{
	int rc = want(v, LRD_KIND_FLOAT, out);
	if (rc == LRD_OK)
		*out = v->u.f;
	return rc;
}

const char *lrd_value_str(const lrd_value *v, size_t *len)
{
	if (!v || v->kind != LRD_KIND_STR)
		return NULL;
	if (len)
		*len = v->u.s.len;
	return v->u.s.p;
}

const void *lrd_value_bytes(const lrd_value *v, size_t *len)
{
	if (!v || v->kind != LRD_KIND_BYTES)
		return NULL;
	if (len)
		*len = v->u.s.len;
	return v->u.s.p;
}

size_t lrd_value_len(const lrd_value *v)
{
	if (v && v->kind == LRD_KIND_LIST)
		return v->u.list.len;
	if (v && v->kind == LRD_KIND_MAP)
		return v->u.map.len;
	return 0;
}

lrd_value *lrd_list_at(const lrd_value *list, size_t i)
{
	if (!list || list->kind != LRD_KIND_LIST || i >= list->u.list.len)
		return NULL;
	return list->u.list.items[i];
}

/* ---- whole trees ----------------------------------------------------------------------------- */

/* Detach and return the last child of v, or NULL if it has none left. */
static lrd_value *pop_child(lrd_value *v)
{
	if (v->kind == LRD_KIND_LIST && v->u.list.len)
		return v->u.list.items[--v->u.list.len];
	if (v->kind == LRD_KIND_MAP && v->u.map.len) {
		struct lrd__map_entry *e = &v->u.map.ent[--v->u.map.len];
		if (v->u.map.len >= v->nblockkeys)
			lrd__free(e->key);
		e->key = NULL;
		return e->item;
	}
	return NULL;
}

static void free_node(lrd_value *v)
{
	switch (v->kind) {
	case LRD_KIND_STR:
	case LRD_KIND_BYTES:
		lrd__free(v->u.s.p);
		break;
	case LRD_KIND_LIST:
		lrd__free(v->u.list.items);
		break;
	case LRD_KIND_MAP:
		lrd__map_release(v);
		break;
	case LRD_KIND_ARRAY:
		lrd__array_release(v);
		break;
	default:
		break;
	}
	if (!(v->flags & LRD__V_EMBEDDED))
		lrd__free(v);
}

void lrd_value_free(lrd_value *v)
{
	if (!v || v->parent || lrd__value_shared(v))
		return;
	lrd_value *cur = v;
	for (;;) {
		lrd_value *child = pop_child(cur);
		if (child) {
			if (lrd__value_shared(child))
				continue;
			if (child->kind == LRD_KIND_INT || child->kind == LRD_KIND_FLOAT) {
				if (!(child->flags & LRD__V_EMBEDDED)) /* a leaf holding nothing */
					lrd__free(child);
				continue;
			}
			cur = child;
			continue;
		}
		lrd_value *up = cur->parent;
		free_node(cur);
		if (cur == v)
			return;
		cur = up;
	}
}

bool lrd_value_equal(const lrd_value *a, const lrd_value *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->kind != b->kind)
		return false;
	switch (a->kind) {
	case LRD_KIND_NIL:
		return true;
	case LRD_KIND_BOOL:
		return a->u.b == b->u.b;
	case LRD_KIND_INT:
		return a->u.i == b->u.i;
	case LRD_KIND_FLOAT:
		return memcmp(&a->u.f, &b->u.f, sizeof(double)) == 0;
	case LRD_KIND_STR:
	case LRD_KIND_BYTES:
		return a->u.s.len == b->u.s.len && memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
	case LRD_KIND_LIST:
		if (a->u.list.len != b->u.list.len)
			return false;
		for (size_t i = 0; i < a->u.list.len; i++)
			if (!lrd_value_equal(a->u.list.items[i], b->u.list.items[i]))
				return false;
		return true;
	case LRD_KIND_MAP:
		if (a->u.map.len != b->u.map.len)
			return false;
		for (size_t i = 0; i < a->u.map.len; i++) {
			const struct lrd__map_entry *x = &a->u.map.ent[i], *y = &b->u.map.ent[i];
			if (x->keylen != y->keylen || memcmp(x->key, y->key, x->keylen) != 0 ||
			    !lrd_value_equal(x->item, y->item))
				return false;
		}
		return true;
	case LRD_KIND_ARRAY:
		return lrd__array_equal(a, b);
	}
	return false;
}

int lrd_value_clone(const lrd_value *v, lrd_value **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_value_clone: NULL output");
	*out = NULL;
	if (!v)
		return lrd__err(LRD_EINVAL, "lrd_value_clone: NULL value");
	int rc;
	lrd_value *c = NULL;
	switch (v->kind) {
	case LRD_KIND_NIL:
		rc = lrd_value_new_nil(&c);
		break;
	case LRD_KIND_BOOL:
		rc = lrd_value_new_bool(v->u.b, &c);
		break;
	case LRD_KIND_INT:
	case LRD_KIND_FLOAT:
		rc = start(v->kind, &c);
		if (rc == LRD_OK)
			c->u = v->u;
		break;
	case LRD_KIND_STR:
	case LRD_KIND_BYTES:
		rc = new_blob(v->kind, v->u.s.p, v->u.s.len, &c);
		break;
	case LRD_KIND_LIST:
		rc = lrd_value_new_list(&c);
		for (size_t i = 0; rc == LRD_OK && i < v->u.list.len; i++) {
			lrd_value *item;
			rc = lrd_value_clone(v->u.list.items[i], &item);
			if (rc == LRD_OK)
				rc = lrd_list_append(c, item);
		}
		break;
	case LRD_KIND_MAP:
		rc = lrd_value_new_map(&c);
		for (size_t i = 0; rc == LRD_OK && i < v->u.map.len; i++) {
			const struct lrd__map_entry *e = &v->u.map.ent[i];
			lrd_value *item;
			rc = lrd_value_clone(e->item, &item);
			if (rc == LRD_OK)
				rc = lrd__map_set_n(c, e->key, e->keylen, item);
		}
		break;
	case LRD_KIND_ARRAY:
		rc = lrd__array_clone(v, &c);
		break;
	default:
		rc = lrd__err(LRD_EINVAL, "lrd_value_clone: unknown kind %d", (int)v->kind);
	}
	if (rc != LRD_OK) {
		lrd_value_free(c);
		return rc;
	}
	*out = c;
	return LRD_OK;
}
