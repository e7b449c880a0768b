/* The codec registry: lookup by name, id, file name and magic bytes; run-time registration.
 *
 * Built-ins are registered, then the plugin directories scanned, exactly once, on the first
 * call into the registry (pthread_once). Entries are only ever added, never removed, so a
 * codec pointer handed out stays valid; the table is guarded by a read-write lock so lookups
 * from many threads proceed together while a registration waits for them. */
#include <pthread.h>
#include <string.h>

#include "codecs/codec_internal.h"

#define MAX_CODECS 256

struct entry {
	const lrd_codec *codec;
	const char *origin; /* plugin path (owned, static until exit) or NULL */
};

static struct entry table[MAX_CODECS]; /* sorted by id */
static size_t ntable;
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
	for (size_t i = 0; i < lrd__builtin_codec_count; i++)
		lrd__codec_add(lrd__builtin_codecs[i], NULL);
	lrd__plugins_scan();
}

static void ensure_init(void) { pthread_once(&once, init); }

static bool valid_name(const char *s)
{
	if (!s || !*s || strlen(s) > 32)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '-'))
			return false;
	return true;
}

int lrd__codec_validate(const lrd_codec *c)
{
	if (!c)
		return lrd__err(LRD_EINVAL, "codec is NULL");
	if (c->abi != LRD_CODEC_ABI_VERSION)
		return lrd__err(LRD_EVERSION, "codec ABI version %u, this larder needs %u", c->abi,
		                LRD_CODEC_ABI_VERSION);
	if (!valid_name(c->name))
		return lrd__err(LRD_EINVAL, "codec name must be 1-32 characters of [a-z0-9_-]");
	if (c->id == LRD_CODEC_ID_RAW || c->id == 255)
		return lrd__err(LRD_EINVAL, "codec '%s': id %u is reserved", c->name, c->id);
	if (!c->version || !c->bound || !c->compress || !c->decompress)
		return lrd__err(LRD_EINVAL,
		                "codec '%s': version, bound, compress and decompress are required",
		                c->name);
	if (!c->version()) /* printed by `larder codecs`, recorded by benchmarks */
		return lrd__err(LRD_EINVAL, "codec '%s': version() returned NULL", c->name);
	if (c->magic_size && !c->sniff)
		return lrd__err(LRD_EINVAL, "codec '%s': magic_size set but no sniff function",
		                c->name);
	bool stream = c->stream_new && c->stream_step && c->stream_free;
	bool any = c->stream_new || c->stream_step || c->stream_free;
	if (any != stream || stream != !!(c->flags & LRD_CODEC_STREAM))
		return lrd__err(LRD_EINVAL,
		                "codec '%s': LRD_CODEC_STREAM needs all three stream functions",
		                c->name);
	if (c->min_level > c->max_level || c->default_level < c->min_level ||
	    c->default_level > c->max_level)
		return lrd__err(LRD_EINVAL, "codec '%s': default level outside [min, max]",
		                c->name);
	for (const char *const *e = c->extensions; e && *e; e++)
		if ((*e)[0] != '.' || !(*e)[1] || strchr(*e + 1, '.'))
			return lrd__err(LRD_EINVAL,
			                "codec '%s': extension '%s' must be one '.suffix'", c->name,
			                *e);
	return LRD_OK;
}

/* Under the write lock: LRD_EEXIST if c clashes with the table or with the first k of batch. */
static int check_clash(const lrd_codec *c, const lrd_codec *const *batch, size_t k)
{
	for (size_t i = 0; i < ntable + k; i++) {
		const lrd_codec *o = i < ntable ? table[i].codec : batch[i - ntable];
		if (o->id == c->id)
			return lrd__err(LRD_EEXIST, "codec '%s': id %u is taken by '%s'", c->name,
			                c->id, o->name);
		if (strcmp(o->name, c->name) == 0)
			return lrd__err(LRD_EEXIST, "codec name '%s' is already registered",
			                c->name);
		for (const char *const *e = c->extensions; e && *e; e++)
			for (const char *const *f = o->extensions; f && *f; f++)
				if (strcmp(*e, *f) == 0)
					return lrd__err(LRD_EEXIST,
					                "codec '%s': extension '%s' is already "
					                "registered by '%s'",
					                c->name, *e, o->name);
	}
	return LRD_OK;
}

int lrd__codec_add_all(const lrd_codec *const *codecs, size_t n, const char *origin)
{
	int rc = LRD_OK;
	for (size_t k = 0; k < n && !rc; k++)
		rc = lrd__codec_validate(codecs[k]);
	if (rc)
		return rc;
	pthread_rwlock_wrlock(&lock);
	if (ntable + n > MAX_CODECS)
		rc = lrd__err(LRD_ELIMIT, "codec table full (%d codecs)", MAX_CODECS);
	for (size_t k = 0; k < n && !rc; k++)
		rc = check_clash(codecs[k], codecs, k);
	for (size_t k = 0; k < n && !rc; k++) {
		const lrd_codec *c = codecs[k];
		size_t at = ntable;
		while (at > 0 && table[at - 1].codec->id > c->id) {
			table[at] = table[at - 1];
			at--;
		}
		table[at] = (struct entry){c, origin};
		ntable++;
	}
	pthread_rwlock_unlock(&lock);
	return rc;
}

int lrd__codec_add(const lrd_codec *c, const char *origin)
{
	return lrd__codec_add_all(&c, 1, origin);
}

int lrd_codec_register(const lrd_codec *codec)
{
	ensure_init();
	return lrd__codec_add(codec, NULL);
}

/* Run `match` over the table under the read lock; returns the first codec it accepts. */
static const lrd_codec *find(bool (*match)(const lrd_codec *, const void *), const void *arg)
{
	const lrd_codec *found = NULL;
	ensure_init();
	pthread_rwlock_rdlock(&lock);
	for (size_t i = 0; i < ntable && !found; i++)
		if (match(table[i].codec, arg))
			found = table[i].codec;
	pthread_rwlock_unlock(&lock);
	return found;
}

static bool match_name(const lrd_codec *c, const void *name) { return strcmp(c->name, name) == 0; }

static bool match_id(const lrd_codec *c, const void *id) { return c->id == *(const unsigned *)id; }

static bool match_ext(const lrd_codec *c, const void *ext)
{
	for (const char *const *e = c->extensions; e && *e; e++)
		if (strcmp(*e, ext) == 0)
			return true;
	return false;
}

struct head {
	const void *p;
	size_t n;
};

static bool match_magic(const lrd_codec *c, const void *arg)
{
	const struct head *h = arg;
	return c->magic_size && c->sniff && c->sniff(h->p, h->n) == 1;
}

const lrd_codec *lrd_codec_by_name(const char *name)
{
	return name ? find(match_name, name) : NULL;
}

const lrd_codec *lrd_codec_by_id(unsigned id)
{
	return id == LRD_CODEC_ID_RAW ? NULL : find(match_id, &id);
}

const lrd_codec *lrd_codec_by_filename(const char *path)
{
	if (!path)
		return NULL;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	const char *dot = strrchr(base, '.');
	if (!dot || dot == base)
		return NULL;
	return find(match_ext, dot);
}

const lrd_codec *lrd_codec_sniff(const void *head, size_t n)
{
	struct head h = {head, n};
	return head ? find(match_magic, &h) : NULL;
}

size_t lrd_codec_magic_max(void)
{
	size_t m = 0;
	ensure_init();
	pthread_rwlock_rdlock(&lock);
	for (size_t i = 0; i < ntable; i++)
		if (table[i].codec->magic_size > m)
			m = table[i].codec->magic_size;
	pthread_rwlock_unlock(&lock);
	return m;
}

size_t lrd_codec_count(void)
{
	ensure_init();
	pthread_rwlock_rdlock(&lock);
	size_t n = ntable;
	pthread_rwlock_unlock(&lock);
	return n;
}

const lrd_codec *lrd_codec_at(size_t i)
{
	ensure_init();
	pthread_rwlock_rdlock(&lock);
	const lrd_codec *c = i < ntable ? table[i].codec : NULL;
	pthread_rwlock_unlock(&lock);
	return c;
}

const char *lrd_codec_origin(const lrd_codec *codec)
{
	const char *origin = NULL;
	ensure_init();
	pthread_rwlock_rdlock(&lock);
	for (size_t i = 0; i < ntable; i++)
		if (table[i].codec == codec)
			origin = table[i].origin;
	pthread_rwlock_unlock(&lock);
	return origin;
}
