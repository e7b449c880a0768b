/* Scan and verify (file.h): read a whole file once, sequentially, verifying every chunk and
 * the meta checksum, and report its tree as it is read.
 *
 * The tree is walked by lrd__tree_visit, which builds no container: each node is reported
 * when it is read, with its key path, and leaves are decoded one at a time and freed after the
 * callback. The array hook streams each payload through one chunk buffer (checking it) and
 * leaves a nil placeholder, the array's description and payload facts beside it for the node
 * callback. Memory: one chunk, the largest leaf, and the path (a few bytes per level): a file
 * of a million nils costs no more than a file of one. */
#include <stdio.h>
#include <string.h>

#include "engine/file/load_internal.h"

struct scanner {
	lrd__file_input *fr;
	const lrd_load_options *o;
	lrd_node_fn fn;
	void *ctx;
	lrd_file_info *info;
	/* the array just read, for the node callback */
	lrd__array_desc d;
	lrd__payload_reader last;
	uint8_t *buf;
	size_t bufcap;
	/* the key path: path[0..plen[depth]) is the path of the node last seen at depth */
	char path[1024];
	size_t *plen;
	size_t nplen;
	char what[64];
};

static int scan_array(void *ctx, const lrd__array_desc *d, lrd__reader *r, lrd_value **out)
{
	struct scanner *S = ctx;
	lrd__payload_reader p;
	(void)r;
	uint64_t at = S->fr->f.channel.pos;
	snprintf(S->what, sizeof S->what, "the array at offset %llu", (unsigned long long)at);
	int rc = lrd__payload_reader_begin(&p, &S->fr->f, d, S->o, S->what);
	if (!rc && p.nchunks && S->bufcap < p.chunk_size) {
		lrd__free(S->buf);
		S->bufcap = 0;
		if (!(S->buf = lrd__malloc((size_t)p.chunk_size)))
			rc = LRD_ENOMEM;
		else
			S->bufcap = (size_t)p.chunk_size;
	}
	for (uint64_t i = 0; !rc && i < p.nchunks; i++)
		rc = lrd__payload_reader_chunk(&p, S->buf);
	if (!rc)
		rc = lrd__payload_reader_end(&p, NULL, false);
	lrd__payload_reader_destroy(&p);
	if (!rc && S->info) {
		S->info->raw_bytes += d->nbytes;
		S->info->stored_bytes += p.stored_bytes;
	}
	S->d = *d;
	S->last = p;
	return rc || !out ? rc : lrd_value_new_nil(out);
}

/* Set the path of a node at depth n->depth (its parent's path, then its key or index). */
static int set_path(struct scanner *S, const lrd__tree_node *n)
{
	if (n->depth >= S->nplen) {
		size_t cap = S->nplen ? S->nplen * 2 : 16;
		size_t *np = lrd__realloc(S->plen, cap * sizeof *np);
		if (!np)
			return LRD_ENOMEM;
		S->plen = np;
		S->nplen = cap;
	}
	if (n->depth == 0) {
		S->path[0] = '\0';
		S->plen[0] = 0;
		return LRD_OK;
	}
	size_t base = S->plen[n->depth - 1], room = sizeof S->path - 1 - base;
	char idx[24], *at = S->path + base;
	const char *comp = n->key;
	size_t len;
	if (comp) {
		len = strlen(comp);
	} else { /* an index, written by hand: snprintf would cost more than the rest per node */
		char *e = idx + sizeof idx, *d = e;
		uint64_t v = n->index;
		do
			*--d = (char)('0' + v % 10);
		while (v /= 10);
		comp = d;
		len = (size_t)(e - d);
	}
	if (base && room) {
		*at++ = '/';
		room--;
	}
	if (len > room)
		len = room;
	memcpy(at, comp, len);
	at[len] = '\0';
	S->plen[n->depth] = (size_t)(at + len - S->path);
	return LRD_OK;
}

static int on_node(void *ctx, const lrd__tree_node *t)
{
	struct scanner *S = ctx;
	if (!S->fn)
		return LRD_OK;
	int rc = set_path(S, t);
	if (rc)
		return rc;
	lrd_node n = {.depth = t->depth, .path = S->path, .key = t->key};
	switch (t->tag) {
	case LRD__TAG_LIST:
	case LRD__TAG_MAP:
		n.kind = t->tag == LRD__TAG_LIST ? LRD_KIND_LIST : LRD_KIND_MAP;
		n.len = t->len;
		break;
	case LRD__TAG_ARRAY:
		n.kind = LRD_KIND_ARRAY;
		n.dtype = S->d.dtype;
		n.ndim = S->d.ndim;
		n.shape = S->d.shape;
		n.order = S->d.order;
		n.layout = S->last.layout;
		n.chunk_size = S->last.chunk_size;
		n.nchunks = S->last.nchunks;
		n.raw_bytes = S->d.nbytes;
		n.stored_bytes = S->last.stored_bytes;
		n.offset = S->last.start;
		n.codec_ids = S->last.codec_ids;
		break;
	default:
		n.kind = lrd_value_kind(t->value);
		n.value = t->value;
	}
	return S->fn(S->ctx, &n);
}

int lrd_scan(lrd_stream *s, const lrd_load_options *opts, lrd_file_info *info, lrd_node_fn fn,
             void *ctx)
{
	lrd__file_input fr;
	lrd_file_info fi = {0};
	struct scanner S = {.fr = &fr, .o = opts, .fn = fn, .ctx = ctx, .info = &fi};
	int rc = lrd__load_options_check(opts);
	if (rc)
		return rc;
	rc = lrd__file_input_open(&fr, s, LRD__INPUT_HASH);
	if (!rc) {
		lrd__tree_hooks h = {
		    .array_in = scan_array, .ctx = &S, .max_depth = opts ? opts->max_depth : 0};
		rc = lrd__tree_visit(&fr.f.channel, &h, on_node, &S);
		if (!rc)
			rc = lrd__file_input_finish(&fr);
	}
	if (!rc && info) {
		*info = fr.info;
		info->size = fr.f.channel.pos;
		info->raw_bytes = fi.raw_bytes;
		info->stored_bytes = fi.stored_bytes;
	}
	lrd__free(S.plen);
	lrd__free(S.buf);
	lrd__file_input_close(&fr);
	return rc;
}

int lrd_verify(const char *path)
{
	lrd_stream *s;
	int rc = lrd_stream_open_path(path, "r", &s);
	if (rc)
		return rc;
	rc = lrd_scan(s, NULL, NULL, NULL, NULL);
	lrd_stream_close(s);
	return rc;
}
