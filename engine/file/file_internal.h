/* Internal pieces of the .lrd format (FORMAT.md) shared by dump, load, scan and the array
 * streams: the file header and trailer, channels that hash the meta bytes, option resolution,
 * the array payload emitter (emit.c) and the array payload reader (payload.c). Not installed. */
#ifndef LRD_ENGINE_LRDFILE_H
#define LRD_ENGINE_LRDFILE_H

#include <xxhash.h>

#include "engine/record/chunk.h"
#include "engine/record/chunk_pool.h"
#include "engine/io/io_internal.h"
#include "engine/record/tree.h"
#include "larder/file.h"

#define LRD__MAGIC             "\x89LRD\r\n\x1a\n"
#define LRD__MAGIC_SIZE        8
#define LRD__FILE_HDR_SIZE     32
#define LRD__END_MAGIC         "LRDEND\r\n"
#define LRD__TRAILER_SIZE      16
#define LRD__ALIGNMENT         64
#define LRD__LAYOUT_CONTIGUOUS 0
#define LRD__LAYOUT_CHUNKED    1
/* Decompression-bomb guard when no explicit limit is set (lrd_load_options.max_array_bytes). */
#define LRD__BOMB_BASE  ((uint64_t)64 << 20)
#define LRD__BOMB_RATIO 8192

/* A writer that hashes every byte except chunk data into the meta checksum. */
typedef struct lrd__fwr {
	lrd__wr *out;
	XXH3_state_t *h;
	bool hashing;
	lrd__wr ch; /* write through this; ch.pos is the logical offset */
} lrd__fwr;

int lrd__fwr_init(lrd__fwr *f, lrd__wr *out);
void lrd__fwr_destroy(lrd__fwr *f);
int lrd__fwr_header(lrd__fwr *f);
/* Write chunk data (not hashed). */
int lrd__fwr_data(lrd__fwr *f, const void *p, size_t n);
int lrd__fwr_trailer(lrd__fwr *f);

/* The reading counterpart; with hashing disabled (h NULL) for partial reads. */
typedef struct lrd__frd {
	lrd__rd *in;
	XXH3_state_t *h;
	bool hashing;
	lrd__rd ch; /* read through this; ch.pos is the logical offset, ch.avail the bytes left */
} lrd__frd;

int lrd__frd_init(lrd__frd *f, lrd__rd *in, bool hash);
void lrd__frd_destroy(lrd__frd *f);
/* Check the header whose first 8 bytes (magic, already consumed from the input before
 * lrd__frd_init) are given, reading the rest: magic (LRD_EFORMAT), version (LRD_EVERSION). */
int lrd__frd_header(lrd__frd *f, const uint8_t magic[LRD__MAGIC_SIZE], lrd_file_info *info);
int lrd__frd_data(lrd__frd *f, void *p, size_t n);
int lrd__frd_skipdata(lrd__frd *f, uint64_t n);
/* Read the trailer, check the meta checksum (when hashing) and the end magic. */
int lrd__frd_trailer(lrd__frd *f);

/* Dump options resolved to codecs. */
typedef struct lrd__dumpcfg {
	const lrd_codec *whole;
	lrd_codec_params whole_p;
	const lrd_codec *chunk;
	lrd_codec_params chunk_p;
	uint64_t chunk_size;
	int threads; /* lrd_dump_options.threads */
} lrd__dumpcfg;

/* path may be NULL (no suffix rule). cfg is then released with lrd__dumpcfg_destroy(), even
 * when resolving failed. */
int lrd__dumpcfg_resolve(const lrd_dump_options *o, const char *path, lrd__dumpcfg *cfg);
void lrd__dumpcfg_destroy(lrd__dumpcfg *cfg);

/* ---- the array payload emitter (emit.c) ---------------------------------------------------- */

struct lrd__emit;
/* Layout 1: one window slot of the chunk queue: a chunk being compressed and its buffers. */
typedef struct lrd__emit_slot {
	struct lrd__emit *e;
	const void *src; /* the chunk's bytes: caller memory or cbuf */
	size_t n;
	uint64_t index;
	uint8_t *cbuf;    /* a chunk gathered from pushes that are not chunk-sized */
	uint8_t *scratch; /* compressed output, e->scap bytes */
	lrd__chunk hdr;
	const void *stored;
} lrd__emit_slot;

typedef struct lrd__emit {
	lrd__fwr *f;
	const lrd_codec *codec; /* NULL: layout 0 */
	lrd_codec_params params;
	uint64_t nbytes, cs, done, nchunks, ci; /* ci: chunks written */
	uint8_t *table;  /* layout 0: the chunk table, filled as chunks complete */
	XXH3_state_t *h; /* layout 0: checksum of the current chunk */
	/* layout 1: chunks are compressed on the chunk pool and written in order */
	lrd__cq *q;
	lrd__emit_slot *slots; /* lrd__cq_window(q) of them */
	uint64_t submitted;    /* chunks handed to q */
	uint64_t borrowed_end; /* chunks up to here may point into the caller's memory */
	size_t cfill;          /* bytes gathered in the next slot's cbuf */
	size_t scap;
	int failed;
} lrd__emit;

/* Write the payload prefix (layout, chunk size, padding) of an array of nbytes. */
int lrd__emit_begin(lrd__emit *e, lrd__fwr *f, const lrd__dumpcfg *cfg, lrd_dtype dt,
                    uint64_t nbytes);
int lrd__emit_push(lrd__emit *e, const void *p, size_t n);
/* After exactly nbytes were pushed: the last chunk and the chunk table. */
int lrd__emit_end(lrd__emit *e);
void lrd__emit_destroy(lrd__emit *e);

/* ---- the array payload reader (payload.c) ---------------------------------------------------- */

typedef struct lrd__parr {
	lrd__frd *f;
	lrd__array_desc d;
	uint8_t layout;
	uint64_t cs, nchunks, next;
	uint64_t start;   /* logical offset of the payload (0) or first chunk header (1) */
	uint64_t *sums;   /* layout 0, sequential: checksums of chunks read so far */
	uint8_t *scratch; /* layout 1: stored bytes of compressed chunks */
	size_t scap;
	uint64_t stored_bytes; /* chunk data bytes seen */
	unsigned codec_ids;
	const char *what; /* "'path'" for messages */
} lrd__parr;

/* Read the payload prefix and validate sizes against the input and limits. bomb_input: the
 * physical input size for the default guard (0 if unknown). */
int lrd__parr_begin(lrd__parr *p, lrd__frd *f, const lrd__array_desc *d, const lrd_load_options *o,
                    uint64_t bomb_input, const char *what);
/* Raw size of chunk i. */
uint64_t lrd__parr_chunk_raw(const lrd__parr *p, uint64_t i);
/* Read the next chunk into dst (lrd__parr_chunk_raw bytes), verified and decompressed.
 * dst NULL with layout 0: skip the data (used by mapped loads; verification then needs
 * lrd__parr_end's table and the mapped bytes). */
int lrd__parr_chunk(lrd__parr *p, void *dst);
/* Read every remaining chunk into dst (the whole array's bytes; chunk i at i x cs). Layout 1
 * with threads != 1 (lrd_load_options.threads): chunks are read in order on this thread and
 * verified and decompressed on the chunk pool, at most 2 x threads in flight, each with a
 * buffer of its stored size. Otherwise lrd__parr_chunk in a loop. */
int lrd__parr_read_all(lrd__parr *p, uint8_t *dst, int threads);
/* After the last chunk: layout 0 reads the chunk table and checks it against the chunks
 * read (mapped: against `mapped` bytes if verify, else sizes only). */
int lrd__parr_end(lrd__parr *p, const uint8_t *mapped, bool verify);
/* Skip the whole payload, checking structure but not chunk data. */
int lrd__parr_skip(lrd__parr *p);
/* Point *out at the scratch buffer, grown to hold the n stored bytes of one compressed chunk
 * (n was checked against the chunk's raw size; earlier contents are not kept). */
int lrd__parr_scratch(lrd__parr *p, uint64_t n, uint8_t **out);
void lrd__parr_destroy(lrd__parr *p);
/* Check that an array of nbytes may be allocated under the options (LRD_ELIMIT). */
int lrd__parr_limit(const lrd__parr *p, const lrd_load_options *o, uint64_t bomb_input);

/* A human description of a non-larder start ("HDF5"), or NULL. */
const char *lrd__magic_name(const uint8_t *head, size_t n);

#endif
