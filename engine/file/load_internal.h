/* The reading side of a logical stream, shared by load, partial load, scan and the array
 * reader: magic sniffing, the whole-file codec layer, optional mapping, the meta-checksum
 * channel and the header; and the end-of-input checks. Not installed. */
#ifndef LRD_ENGINE_LOAD_INTERNAL_H
#define LRD_ENGINE_LOAD_INTERNAL_H

#include <stdatomic.h>

#include "engine/file/file_internal.h"

/* A mapping shared by the arrays that point into it; freed with the last of them. */
typedef struct lrd__mapref {
	lrd__mapping m;
	atomic_long refs;
} lrd__mapref;

typedef struct lrd__file_input {
	lrd_stream *s;
	const lrd_codec *whole; /* whole-file codec, or NULL */
	lrd__unwrap *u;
	lrd__mapref *map; /* mapped input, or NULL */
	lrd__memsrc ms;
	lrd__reader in;
	lrd__file_reader f;  /* read the root value through f.channel */
	uint64_t input_size; /* physical input size if known, else 0 */
	lrd_file_info info;
} lrd__file_input;

enum {
	LRD__INPUT_HASH = 1, /* verify the meta checksum (whole-file reads) */
	LRD__INPUT_MMAP = 2, /* map the input (LRD_EINVAL if whole-file compressed) */
	LRD__INPUT_SEEK = 4, /* random access needed (LRD_EUNSUPPORTED if impossible) */
};

/* Every entry point taking lrd_load_options checks it first: LRD_EINVAL for a nonzero reserved
 * tail, LRD_OK for NULL. */
int lrd__load_options_check(const lrd_load_options *o);
/* The bound on what a load of fr builds (lrd_load_options.max_total_bytes resolved: its
 * default depends on fr->input_size), with fr's stream named in its message. */
lrd__budget lrd__load_budget(const lrd__file_input *fr, const lrd_load_options *o);

int lrd__file_input_open(lrd__file_input *fr, lrd_stream *s, unsigned flags);
/* After the root value: trailer, then nothing may follow. */
int lrd__file_input_finish(lrd__file_input *fr);
void lrd__file_input_close(lrd__file_input *fr);

/* Release one reference to a mapping (the release callback of mapped arrays). */
void lrd__mapref_release(void *ctx);

/* Split "a/b/0" into components (pointers into *buf, which the caller frees with lrd__free).
 * "" or NULL gives zero components; an empty component ("/k", "k/", "k//") is LRD_EINVAL. */
int lrd__keypath_split(const char *keypath, char **buf, const char ***parts, size_t *n);

#endif
