/* Maps: string keys in insertion order, with a hash index once they grow.
 *
 * Entries live in one array in insertion order (what iteration and equality see). A map of
 * up to SMALL entries is searched linearly; beyond that an open-addressing table of entry
 * numbers (linear probing, load <= 1/2) indexes them. Keys are hashed with XXH3 seeded by the
 * map's own address, so keys crafted to collide in one process's maps (a hostile file) do not
 * collide predictably; the seed is stable for the map's lifetime because maps never move.
 * Entries are never removed, so the table needs no tombstones. */
#include <string.h>
#include <xxhash.h>

#include "engine/value/value_internal.h"

#define SMALL 8

int lrd_value_new_map(lrd_value **out)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "lrd_value_new_map: NULL output");
	*out = lrd__value_alloc(LRD_KIND_MAP, 0);
	return *out ? LRD_OK : LRD_ENOMEM;
}

void lrd__map_release(lrd_value *m)
{
	for (size_t i = m->nblockkeys; i < m->u.map.len; i++)
		lrd__free(m->u.map.ent[i].key);
	if (!(m->flags & LRD__V_BLOCK_ENT))
		lrd__free(m->u.map.ent);
	lrd__free(m->u.map.slots);
}

int lrd__map_new_block(const lrd__map_init *in, size_t n, lrd_value **out)
{
	/* node, entries, embedded nodes, keys: each part keeps the alignment of the next */
	size_t nodes = 0, keybytes = 0;
	for (size_t i = 0; i < n; i++) {
		nodes += !in[i].item;
		keybytes += in[i].keylen + 1;
	}
	size_t ent_off = sizeof(lrd_value), node_off = ent_off + n * sizeof(struct lrd__map_entry),
	       key_off = node_off + nodes * sizeof(lrd_value);
	uint8_t *b = lrd__malloc(key_off + keybytes);
	if (!b)
		return LRD_ENOMEM;
	lrd_value *m = (lrd_value *)b;
	struct lrd__map_entry *ent = (struct lrd__map_entry *)(b + ent_off);
	lrd_value *node = (lrd_value *)(b + node_off);
	char *key = (char *)(b + key_off);
	*m = (lrd_value){.kind = LRD_KIND_MAP,
	                 .flags = LRD__V_BLOCK_ENT,
	                 .nblockkeys = (uint16_t)n,
	                 .u.map = {.ent = ent, .len = n, .cap = n}};
	for (size_t i = 0; i < n; i++) {
		lrd_value *item = in[i].item;
		if (!item) {
			item = node++;
			*item = (lrd_value){.kind = in[i].kind, .flags = LRD__V_EMBEDDED};
			memcpy(&item->u.i, &in[i].bits, sizeof item->u.i);
		}
		if (!lrd__value_shared(item))
			item->parent = m;
		memcpy(key, in[i].key, in[i].keylen);
		key[in[i].keylen] = '\0';
		ent[i] = (struct lrd__map_entry){key, in[i].keylen, 0, item};
		key += in[i].keylen + 1;
	}
	*out = m;
	return LRD_OK;
}

static uint64_t key_hash(const lrd_value *m, const char *key, size_t len)
{
	return XXH3_64bits_withSeed(key, len, (uint64_t)(uintptr_t)m * 0x9E3779B97F4A7C15u);
}

/* Index of the entry with this key, or SIZE_MAX. */
static size_t find(const lrd_value *m, const char *key, size_t len, uint64_t h)
{
	const struct lrd__map_entry *ent = m->u.map.ent;
	if (!m->u.map.slots) {
		for (size_t i = 0; i < m->u.map.len; i++)
			if (ent[i].keylen == len && memcmp(ent[i].key, key, len) == 0)
				return i;
		return SIZE_MAX;
	}
	size_t mask = m->u.map.nslots - 1;
	for (size_t s = h & mask;; s = (s + 1) & mask) {
		size_t e = m->u.map.slots[s];
		if (e == 0)
			return SIZE_MAX;
		e--;
		if (ent[e].hash == h && ent[e].keylen == len && memcmp(ent[e].key, key, len) == 0)
			return e;
	}
}

static void slot_insert(size_t *slots, size_t nslots, uint64_t h, size_t entry)
{
	size_t mask = nslots - 1, s = h & mask;
	while (slots[s])
		s = (s + 1) & mask;
	slots[s] = entry + 1;
}

/* Make room for one more entry in the entry array and, past SMALL, in the index. */
static int reserve(lrd_value *m)
{
	size_t len = m->u.map.len, bytes;
	if (len == m->u.map.cap) {
		size_t cap = m->u.map.cap ? m->u.map.cap * 2 : 4;
		bool in_block = m->flags & LRD__V_BLOCK_ENT;
		struct lrd__map_entry *ent = NULL;
		if (lrd__mul_ok(cap, sizeof *ent, &bytes))
			ent = lrd__realloc(in_block ? NULL : m->u.map.ent, bytes);
		if (!ent)
			return lrd__err(LRD_ENOMEM, "map of %zu entries", len);
		if (in_block && len)
			memcpy(ent, m->u.map.ent, len * sizeof *ent);
		m->flags &= (uint16_t)~LRD__V_BLOCK_ENT;
		m->u.map.ent = ent;
		m->u.map.cap = cap;
	}
	if (len + 1 <= SMALL || (len + 1) * 2 <= m->u.map.nslots)
		return LRD_OK;
	size_t nslots = m->u.map.nslots ? m->u.map.nslots * 2 : 4 * SMALL;
	size_t *slots = NULL;
	if (lrd__mul_ok(nslots, sizeof *slots, &bytes))
		slots = lrd__calloc(nslots, sizeof *slots);
	if (!slots)
		return lrd__err(LRD_ENOMEM, "index of a map of %zu entries", len);
	/* hashes are kept only while there is an index: a small map never computes them */
	bool first = !m->u.map.slots;
	for (size_t i = 0; i < len; i++) {
		struct lrd__map_entry *e = &m->u.map.ent[i];
		if (first)
			e->hash = key_hash(m, e->key, e->keylen);
		slot_insert(slots, nslots, e->hash, i);
	}
	lrd__free(m->u.map.slots);
	m->u.map.slots = slots;
	m->u.map.nslots = nslots;
	return LRD_OK;
}

int lrd__map_set_n(lrd_value *map, const char *key, size_t keylen, lrd_value *item)
{
	int rc = lrd__adopt_check(map, LRD_KIND_MAP, item, "lrd_map_set");
	if (rc != LRD_OK)
		return rc;
	if (!key || memchr(key, '\0', keylen) || !lrd__utf8_valid(key, keylen)) {
		lrd_value_free(item);
		return lrd__err(LRD_EINVAL, "map key %s",
		                key ? "is not valid UTF-8 without NUL bytes" : "is NULL");
	}
	bool hashed = map->u.map.slots != NULL;
	uint64_t h = hashed ? key_hash(map, key, keylen) : 0;
	size_t at = find(map, key, keylen, h);
	if (at != SIZE_MAX) {
		struct lrd__map_entry *e = &map->u.map.ent[at];
		if (!lrd__value_shared(e->item))
			e->item->parent = NULL;
		lrd_value_free(e->item);
		e->item = item;
		if (!lrd__value_shared(item))
			item->parent = map;
		return LRD_OK;
	}
	char *copy = NULL;
	if ((rc = reserve(map)) != LRD_OK || !(copy = lrd__malloc(keylen + 1))) {
		lrd_value_free(item);
		return rc != LRD_OK ? rc : LRD_ENOMEM;
	}
	memcpy(copy, key, keylen);
	copy[keylen] = '\0';
	if (map->u.map.slots && !hashed) /* reserve() has just built the index */
		h = key_hash(map, key, keylen);
	size_t i = map->u.map.len++;
	map->u.map.ent[i] = (struct lrd__map_entry){copy, keylen, h, item};
	if (map->u.map.slots)
		slot_insert(map->u.map.slots, map->u.map.nslots, h, i);
	if (!lrd__value_shared(item))
		item->parent = map;
	return LRD_OK;
}

int lrd_map_set(lrd_value *map, const char *key, lrd_value *item)
{
	return lrd__map_set_n(map, key, key ? strlen(key) : 0, item);
}

lrd_value *lrd_map_get(const lrd_value *map, const char *key)
{
	if (!map || map->kind != LRD_KIND_MAP || !key)
		return NULL;
	size_t len = strlen(key);
	size_t at = find(map, key, len, map->u.map.slots ? key_hash(map, key, len) : 0);
	return at == SIZE_MAX ? NULL : map->u.map.ent[at].item;
}

const char *lrd_map_key_at(const lrd_value *map, size_t i)
{
	if (!map || map->kind != LRD_KIND_MAP || i >= map->u.map.len)
		return NULL;
	return map->u.map.ent[i].key;
}

lrd_value *lrd_map_value_at(const lrd_value *map, size_t i)
{
	if (!map || map->kind != LRD_KIND_MAP || i >= map->u.map.len)
		return NULL;
	return map->u.map.ent[i].item;
}
