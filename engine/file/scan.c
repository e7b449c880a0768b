/* Scan and verify (file.h): read a whole file once, sequentially, verifying every chunk and
 * the meta checksum, and report its tree.
 *
 * The tree is decoded with an array hook that streams each payload through one chunk buffer
 * (checking it) and leaves a nil placeholder in the tree, recording the array's description
 * beside it; the tree is then walked depth first and each placeholder reported as its array.
 * Memory: the tree's scalars and one chunk. */
#include <stdio.h>

#include "engine/file/load_internal.h"

struct arrinfo {
	const lrd_value *placeholder;
	lrd__array_desc d;
	unsigned layout, codec_ids;
	uint64_t chunk_size, nchunks, stored, offset;
};

struct scanner {
	lrd__file_input *fr;
	const lrd_load_options *o;
	struct arrinfo *arr;
	size_t narr, cap;
	uint8_t *buf;
	size_t bufcap;
	char what[64];
};

static int scan_array(void *ctx, const lrd__array_desc *d, lrd__reader *r, lrd_value **out)
{
	struct scanner *S = ctx;
	lrd__payload_reader p;
	(void)r;
	uint64_t at = S->fr->f.channel.pos;
	snprintf(S->what, sizeof S->what, "array at offset %llu", (unsigned long long)at);
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
	if (!rc && out && S->narr == S->cap) {
		size_t ncap = S->cap ? S->cap * 2 : 8;
		struct arrinfo *na = lrd__realloc(S->arr, ncap * sizeof *na);
		if (!na)
			rc = LRD_ENOMEM;
		else
			S->arr = na, S->cap = ncap;
	}
	if (!rc && out && !(rc = lrd_value_new_nil(out)))
		S->arr[S->narr++] = (struct arrinfo){.placeholder = *out,
		                                     .d = *d,
		                                     .layout = p.layout,
		                                     .codec_ids = p.codec_ids,
		                                     .chunk_size = p.chunk_size,
		                                     .nchunks = p.nchunks,
		                                     .stored = p.stored_bytes,
		                                     .offset = p.start};
	lrd__payload_reader_destroy(&p);
	return rc;
}

struct walker {
	lrd_node_fn fn;
	void *ctx;
	struct scanner *S;
	size_t next;
	char path[1024];
	lrd_file_info *info;
};

static int walk(struct walker *W, const lrd_value *v, unsigned depth, const char *key, size_t plen)
{
	lrd_node n = {.depth = depth, .path = W->path, .key = key, .kind = lrd_value_kind(v)};
	struct arrinfo *a = NULL;
	if (W->next < W->S->narr && W->S->arr[W->next].placeholder == v)
		a = &W->S->arr[W->next++];
	if (a) {
		n.kind = LRD_KIND_ARRAY;
		n.dtype = a->d.dtype;
		n.ndim = a->d.ndim;
		n.shape = a->d.shape;
		n.order = a->d.order;
		n.layout = a->layout;
		n.chunk_size = a->chunk_size;
		n.nchunks = a->nchunks;
		n.raw_bytes = a->d.nbytes;
		n.stored_bytes = a->stored;
		n.offset = a->offset;
		n.codec_ids = a->codec_ids;
		if (W->info) {
			W->info->raw_bytes += a->d.nbytes;
			W->info->stored_bytes += a->stored;
		}
	} else if (n.kind == LRD_KIND_LIST || n.kind == LRD_KIND_MAP) {
		n.len = lrd_value_len(v);
	} else {
		n.value = v;
	}
	int rc = W->fn ? W->fn(W->ctx, &n) : 0;
	if (rc || a || (n.kind != LRD_KIND_LIST && n.kind != LRD_KIND_MAP))
		return rc;
	for (size_t i = 0; i < n.len && !rc; i++) {
		char idx[24];
		const char *k = n.kind == LRD_KIND_MAP ? lrd_map_key_at(v, i) : NULL;
		if (!k)
			snprintf(idx, sizeof idx, "%zu", i);
		int m = snprintf(W->path + plen, sizeof W->path - plen, "%s%s", plen ? "/" : "",
		                 k ? k : idx);
		size_t nlen = m < 0 ? plen : plen + (size_t)m;
		if (nlen >= sizeof W->path)
			nlen = sizeof W->path - 1;
		rc = walk(W, n.kind == LRD_KIND_MAP ? lrd_map_value_at(v, i) : lrd_list_at(v, i),
		          depth + 1, k, nlen);
		W->path[plen] = '\0';
	}
	return rc;
}

int lrd_scan(lrd_stream *s, const lrd_load_options *opts, lrd_file_info *info, lrd_node_fn fn,
             void *ctx)
{
	lrd__file_input fr;
	lrd_value *root = NULL;
	struct scanner S = {.fr = &fr, .o = opts};
	int rc = lrd__load_options_check(opts);
	if (rc)
		return rc;
	rc = lrd__file_input_open(&fr, s, LRD__INPUT_HASH);
	if (!rc) {
		lrd__tree_hooks h = {
		    .array_in = scan_array, .ctx = &S, .max_depth = opts ? opts->max_depth : 0};
		rc = lrd__tree_decode(&fr.f.channel, &h, &root);
		if (!rc)
			rc = lrd__file_input_finish(&fr);
	}
	if (!rc) {
		if (info) {
			*info = fr.info;
			info->size = fr.f.channel.pos;
		}
		struct walker W = {.fn = fn, .ctx = ctx, .S = &S, .info = info};
		rc = walk(&W, root, 0, NULL, 0);
	}
	lrd_value_free(root);
	lrd__free(S.arr);
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
