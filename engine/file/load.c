/* Load (file.h): the reading frame (load_internal.h) and full, mapped and partial loads.
 *
 * The frame sniffs the first bytes: the larder magic means the stream is the logical stream;
 * a codec's magic means it is unwrapped on the fly (never seeking); anything else is named if
 * recognised. Mapped loads read the tree from a map of the whole file and hand out arrays that
 * point into it, each holding a reference to the mapping (an atomic count: values may be freed
 * from any thread); the loader's own reference is dropped when it returns. */
#include <stdio.h>

#include "engine/file/load_internal.h"
#include "engine/value/value_internal.h"

void lrd__mapref_release(void *ctx)
{
	lrd__mapref *m = ctx;
	if (m && atomic_fetch_sub(&m->refs, 1) == 1) {
		lrd__stream_unmap(&m->m);
		lrd__free(m);
	}
}

static int not_larder(const lrd__file_input *fr, const uint8_t *h, size_t n)
{
	char hex[3 * 8 + 1] = "";
	for (size_t i = 0, at = 0; i < n && i < 8; i++)
		at += (size_t)snprintf(hex + at, sizeof hex - at, i ? " %02x" : "%02x", h[i]);
	const char *what = lrd__magic_name(h, n);
	if (fr->whole)
		return lrd__err(LRD_EFORMAT,
		                "%s stream holding a non-larder payload (starts with %s%s%s%s)",
		                fr->whole->name, n ? hex : "nothing", what ? ": " : "",
		                what ? what : "", what ? "?" : "");
	if (n == 0)
		return lrd__err(LRD_EFORMAT, "not a larder file: %s is empty",
		                lrd__stream_name(fr->s));
	return lrd__err(LRD_EFORMAT, "not a larder file: starts with %s%s%s%s", hex,
	                what ? " (" : "", what ? what : "", what ? "?)" : "");
}

int lrd__file_input_open(lrd__file_input *fr, lrd_stream *s, unsigned flags)
{
	*fr = (lrd__file_input){.s = s};
	const uint8_t *head;
	size_t n, want = lrd_codec_magic_max();
	int rc;
	if (!s)
		return lrd__err(LRD_EINVAL, "load: NULL stream");
	if ((rc = lrd__stream_peek(s, want > LRD__MAGIC_SIZE ? want : LRD__MAGIC_SIZE, &head, &n)))
		return rc;
	int64_t size = lrd__stream_size(s);
	fr->input_size = size > 0 ? (uint64_t)size : 0;
	if (n < LRD__MAGIC_SIZE || memcmp(head, LRD__MAGIC, LRD__MAGIC_SIZE) != 0)
		fr->whole = lrd_codec_sniff(head, n);
	if (fr->whole && !(fr->whole->flags & LRD_CODEC_STREAM))
		fr->whole = NULL;
	if (!fr->whole && (n < LRD__MAGIC_SIZE || memcmp(head, LRD__MAGIC, LRD__MAGIC_SIZE) != 0))
		return not_larder(fr, head, n);
	if (fr->whole && (flags & LRD__INPUT_MMAP))
		return lrd__err(LRD_EINVAL,
		                "%s is a %s-compressed file: it cannot be memory-mapped; "
		                "load it without mmap or decompress it first",
		                lrd__stream_name(s), fr->whole->name);
	if (fr->whole && (flags & LRD__INPUT_SEEK))
		return lrd__err(LRD_EUNSUPPORTED,
		                "%s is a %s-compressed file: partial reads need an "
		                "uncompressed or per-chunk compressed file",
		                lrd__stream_name(s), fr->whole->name);
	if ((flags & LRD__INPUT_SEEK) && !lrd__stream_seekable(s))
		return lrd__err(LRD_EUNSUPPORTED,
		                "%s cannot seek: partial reads need a file or memory",
		                lrd__stream_name(s));
	if (fr->whole) {
		if ((rc = lrd__unwrap_new(s, fr->whole, &fr->u)))
			return rc;
		fr->in = lrd__unwrap_reader(fr->u);
		fr->info.codec = fr->whole->name;
	} else if (flags & LRD__INPUT_MMAP) {
		if (!(fr->map = lrd__calloc(1, sizeof *fr->map)))
			return LRD_ENOMEM;
		atomic_init(&fr->map->refs, 1);
		if ((rc = lrd__stream_map(s, &fr->map->m)))
			return rc;
		fr->in = lrd__memsrc_reader(&fr->ms, fr->map->m.data, fr->map->m.size);
	} else {
		fr->in = lrd__stream_reader(s);
	}
	uint8_t magic[LRD__MAGIC_SIZE];
	rc = lrd__reader_get(&fr->in, magic, sizeof magic);
	if (rc == LRD_ECORRUPT && fr->whole)
		return not_larder(fr, magic, 0);
	if (rc)
		return rc;
	if (memcmp(magic, LRD__MAGIC, LRD__MAGIC_SIZE) != 0)
		return not_larder(fr, magic, sizeof magic);
	if ((rc = lrd__file_reader_init(&fr->f, &fr->in, flags & LRD__INPUT_HASH)))
		return rc;
	return lrd__file_reader_header(&fr->f, magic, &fr->info);
}

int lrd__file_input_finish(lrd__file_input *fr)
{
	int rc = lrd__file_reader_trailer(&fr->f);
	if (rc)
		return rc;
	if (fr->u)
		return lrd__unwrap_finish(fr->u);
	if (fr->in.avail != LRD__AVAIL_UNKNOWN) {
		if (fr->in.avail)
			return lrd__err(LRD_ECORRUPT,
			                "%llu bytes of trailing data after the larder file",
			                (unsigned long long)fr->in.avail);
		return LRD_OK;
	}
	uint8_t b;
	size_t got;
	rc = lrd__stream_read_some(fr->s, &b, 1, &got);
	if (!rc && got)
		rc = lrd__err(LRD_ECORRUPT, "trailing data after the larder file");
	return rc;
}

void lrd__file_input_close(lrd__file_input *fr)
{
	lrd__file_reader_destroy(&fr->f);
	lrd__unwrap_free(fr->u);
	lrd__mapref_release(fr->map);
	*fr = (lrd__file_input){0};
}

int lrd__keypath_split(const char *keypath, char **buf, const char ***parts, size_t *n)
{
	*buf = NULL;
	*parts = NULL;
	*n = 0;
	if (!keypath || !*keypath)
		return LRD_OK;
	size_t count = 1;
	for (const char *p = keypath; *p; p++)
		count += *p == '/';
	if (!(*buf = lrd__strdup(keypath)) || !(*parts = lrd__calloc(count, sizeof **parts))) {
		lrd__free(*buf);
		*buf = NULL;
		return LRD_ENOMEM;
	}
	char *save = *buf;
	for (size_t i = 0; i < count; i++) {
		(*parts)[i] = save;
		char *slash = strchr(save, '/');
		if (slash) {
			*slash = '\0';
			save = slash + 1;
		}
	}
	*n = count;
	for (size_t i = 0; i < count; i++)
		if (!*(*parts)[i]) { /* "/k", "k/", "k//": refused, wherever the input comes from */
			lrd__free(*parts);
			lrd__free(*buf);
			*parts = NULL;
			*buf = NULL;
			*n = 0;
			return lrd__err(LRD_EINVAL, "entry path '%s' has an empty component",
			                keypath);
		}
	return LRD_OK;
}

/* The entry of a loaded tree at parts, by the rules lrd__tree_decode_path applies to a file:
 * a borrowed pointer, or LRD_ENOTFOUND naming the component. */
static int pick_entry(const lrd_value *v, const char *const *parts, size_t n, const lrd_value **out)
{
	for (size_t k = 0; k < n; k++) {
		lrd_kind kind = lrd_value_kind(v);
		uint64_t i;
		if (kind != LRD_KIND_MAP && kind != LRD_KIND_LIST)
			return lrd__err(LRD_ENOTFOUND, "'%s': not inside a map or list", parts[k]);
		if (kind == LRD_KIND_LIST && lrd__keypath_index(parts[k], &i))
			return lrd__err(LRD_ENOTFOUND, "'%s': a list needs a decimal index",
			                parts[k]);
		v = kind == LRD_KIND_MAP ? lrd_map_get(v, parts[k])
		    : i < SIZE_MAX       ? lrd_list_at(v, (size_t)i)
		                         : NULL;
		if (!v)
			return lrd__err(LRD_ENOTFOUND, "'%s': no such entry", parts[k]);
	}
	*out = v;
	return LRD_OK;
}

/* ---- the array hook of loads ----------------------------------------------------------------- */

struct loader {
	lrd__file_input *fr;
	const lrd_load_options *o;
	lrd__budget budget;
	char what[64];
};

static int load_array(void *ctx, const lrd__array_desc *d, lrd__reader *r, lrd_value **out)
{
	struct loader *L = ctx;
	lrd__payload_reader p;
	(void)r;
	snprintf(L->what, sizeof L->what, "the array at offset %llu",
	         (unsigned long long)L->fr->f.channel.pos);
	int rc = lrd__payload_reader_begin(&p, &L->fr->f, d, L->o, L->what);
	if (!rc && out)
		rc = lrd__budget_charge(&L->budget, d->nbytes);
	if (rc || !out) {
		if (!rc)
			rc = lrd__payload_reader_skip(&p);
		lrd__payload_reader_destroy(&p);
		return rc;
	}
	lrd_value *a = NULL;
	if (L->fr->map && p.layout == LRD__LAYOUT_CONTIGUOUS) {
		const uint8_t *data = L->fr->map->m.data + p.start;
		p.next = p.nchunks;
		if (!(rc = lrd__file_reader_skipdata(&L->fr->f, d->nbytes)) &&
		    !(rc = lrd__payload_reader_end(&p, data, L->o && L->o->verify)) &&
		    !(rc = lrd__array_new_mapped(d->dtype, d->ndim, d->shape, d->order, data,
		                                 (size_t)d->nbytes, lrd__mapref_release, L->fr->map,
		                                 &a)))
			atomic_fetch_add(&L->fr->map->refs, 1);
	} else {
		rc = lrd__payload_reader_read_array(&p, L->o ? L->o->threads : 0, &a);
	}
	lrd__payload_reader_destroy(&p);
	if (rc) {
		lrd_value_free(a);
		return rc;
	}
	*out = a;
	return LRD_OK;
}

static unsigned load_flags(const lrd_load_options *o) { return o && o->mmap ? LRD__INPUT_MMAP : 0; }

int lrd__load_options_check(const lrd_load_options *o)
{
	return o ? LRD__RESERVED_CHECK(o, "lrd_load_options") : LRD_OK;
}

/* The default bound: LRD_LOAD_MAX_TOTAL_DEFAULT, or 16 x the input's size (every node costs at
 * least one byte of the file and counts 8) when that is larger. */
#define LOAD_TOTAL_PER_INPUT_BYTE 16

lrd__budget lrd__load_budget(const lrd__file_input *fr, const lrd_load_options *o)
{
	uint64_t limit = o ? o->max_total_bytes : 0;
	if (!limit) {
		limit = LRD_LOAD_MAX_TOTAL_DEFAULT;
		if (fr->input_size > limit / LOAD_TOTAL_PER_INPUT_BYTE)
			limit = fr->input_size > UINT64_MAX / LOAD_TOTAL_PER_INPUT_BYTE
			            ? UINT64_MAX
			            : fr->input_size * LOAD_TOTAL_PER_INPUT_BYTE;
	}
	return (lrd__budget){.limit = limit,
	                     .what = lrd__stream_name(fr->s),
	                     .raise = "lrd_load_options.max_total_bytes (larder --max-bytes)"};
}

int lrd_load_stream(lrd_stream *s, lrd_value **out, const lrd_load_options *opts)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "load: NULL output");
	*out = NULL;
	int rc = lrd__load_options_check(opts);
	if (rc)
		return rc;
	lrd__file_input fr;
	rc = lrd__file_input_open(&fr, s, LRD__INPUT_HASH | load_flags(opts));
	if (!rc) {
		struct loader L = {.fr = &fr, .o = opts, .budget = lrd__load_budget(&fr, opts)};
		lrd__tree_hooks h = {.array_in = load_array,
		                     .ctx = &L,
		                     .max_depth = opts ? opts->max_depth : 0,
		                     .budget = &L.budget};
		rc = lrd__tree_decode(&fr.f.channel, &h, out);
		if (!rc)
			rc = lrd__file_input_finish(&fr);
	}
	lrd__file_input_close(&fr);
	if (rc) {
		lrd_value_free(*out);
		*out = NULL;
	}
	return rc;
}

int lrd_load_entry_stream(lrd_stream *s, const char *keypath, lrd_value **out,
                          const lrd_load_options *opts)
{
	if (!out)
		return lrd__err(LRD_EINVAL, "load: NULL output");
	*out = NULL;
	char *buf;
	const char **parts;
	size_t n;
	lrd__file_input fr;
	int rc = lrd__load_options_check(opts);
	if (!rc)
		rc = lrd__keypath_split(keypath, &buf, &parts, &n);
	if (rc)
		return rc;
	if (s && !lrd__stream_seekable(s)) {
		/* a pipe cannot skip to the entry: load the whole tree (checked as lrd_load_stream
		 * checks it) and take the entry from it, by the same path rules */
		lrd_value *root;
		const lrd_value *e = NULL;
		if (!(rc = lrd_load_stream(s, &root, opts))) {
			if (!(rc = pick_entry(root, parts, n, &e)))
				rc = lrd_value_clone(e, out);
			lrd_value_free(root);
		}
		lrd__free(parts);
		lrd__free(buf);
		return rc;
	}
	if (!(rc = lrd__file_input_open(&fr, s, LRD__INPUT_SEEK | load_flags(opts)))) {
		struct loader L = {.fr = &fr, .o = opts, .budget = lrd__load_budget(&fr, opts)};
		lrd__tree_hooks h = {.array_in = load_array,
		                     .ctx = &L,
		                     .max_depth = opts ? opts->max_depth : 0,
		                     .budget = &L.budget};
		rc = lrd__tree_decode_path(&fr.f.channel, &h, parts, n, out);
	}
	lrd__file_input_close(&fr);
	lrd__free(parts);
	lrd__free(buf);
	return rc;
}

/* ---- the other entry points: open a stream, run, close --------------------------------------- */

typedef int (*load_fn)(lrd_stream *s, void *args);

static int with_stream(int rc, lrd_stream **s, load_fn fn, void *args)
{
	if (rc)
		return rc;
	rc = fn(*s, args);
	lrd_stream_close(*s);
	return rc;
}

struct load_args {
	lrd_value **out;
	const lrd_load_options *o;
	const char *keypath;
};

static int run_load(lrd_stream *s, void *args)
{
	struct load_args *a = args;
	return lrd_load_stream(s, a->out, a->o);
}

static int run_entry(lrd_stream *s, void *args)
{
	struct load_args *a = args;
	return lrd_load_entry_stream(s, a->keypath, a->out, a->o);
}

int lrd_load(const char *path, lrd_value **out, const lrd_load_options *opts)
{
	lrd_stream *s = NULL;
	struct load_args a = {out, opts, NULL};
	if (out)
		*out = NULL;
	int rc = lrd_stream_open_path(path, "r", &s);
	return with_stream(rc, &s, run_load, &a);
}

int lrd_load_file(FILE *f, lrd_value **out, const lrd_load_options *opts)
{
	lrd_stream *s = NULL;
	struct load_args a = {out, opts, NULL};
	int rc = lrd_stream_open_file(f, "r", &s);
	return with_stream(rc, &s, run_load, &a);
}

int lrd_load_fd(int fd, lrd_value **out, const lrd_load_options *opts)
{
	lrd_stream *s = NULL;
	struct load_args a = {out, opts, NULL};
	int rc = lrd_stream_open_fd(fd, "r", &s);
	return with_stream(rc, &s, run_load, &a);
}

int lrd_load_memory(const void *data, size_t size, lrd_value **out, const lrd_load_options *opts)
{
	lrd_stream *s = NULL;
	struct load_args a = {out, opts, NULL};
	int rc = lrd_stream_open_memory(data, size, &s);
	return with_stream(rc, &s, run_load, &a);
}

int lrd_load_entry(const char *path, const char *keypath, lrd_value **out,
                   const lrd_load_options *opts)
{
	lrd_stream *s = NULL;
	struct load_args a = {out, opts, keypath};
	int rc = lrd_stream_open_path(path, "r", &s);
	return with_stream(rc, &s, run_entry, &a);
}
