/* Internal pieces of the .lrd format (FORMAT.md) shared by dump, load, scan and the array
 * streams: the file header and trailer, the file reader and writer that hash the meta bytes,
 * option resolution, the array payload writer (emit.c) and the array payload reader
 * (payload.c). Not installed.
 *
 * The read and write stacks, outermost first (each layer reads or writes through the next):
 *
 *   reading (lrd__file_input, load_internal.h)      writing (lrd__file_output, dump_internal.h)
 *   lrd_stream          path, fd, FILE*, memory      lrd_stream          (engine/io/io.c)
 *   lrd__unwrap         whole-file codec, if any     lrd__wrap           whole-file codec, if any
 *     or lrd__memsrc    a mapped input                                   (engine/io/io_codec.c)
 *   lrd__reader         exact reads, pos, avail      lrd__writer         (engine/record/wire.h)
 *   lrd__file_reader    header, trailer; hashes      lrd__file_writer    header, trailer; hashes
 *                       meta bytes, not chunk data                       meta bytes (format.c)
 *   lrd__tree_decode    the value tree through       lrd__tree_encode    (engine/record/tree.c)
 *                       file_reader.channel
 *   lrd__payload_reader one array's chunks, each     lrd__payload_writer one array's chunks
 *                       verified (payload.c)                             (emit.c)
 *
 * The tree code calls back into dump/load/scan (lrd__tree_hooks) at each array, which then runs
 * the payload reader or writer over the same file reader or writer. Compressed chunks may be
 * compressed or decompressed on the shared chunk pool (lrd__chunk_queue, chunk_pool.h); they are
 * still written and read in order through the file writer or reader. */
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
/* A writer that hashes every byte except chunk data into the meta checksum. */
typedef struct lrd__file_writer {
	lrd__writer *out;
	XXH3_state_t *h;
	bool hashing;
	lrd__writer channel; /* write through this; channel.pos is the logical offset */
} lrd__file_writer;

int lrd__file_writer_init(lrd__file_writer *f, lrd__writer *out);
void lrd__file_writer_destroy(lrd__file_writer *f);
int lrd__file_writer_header(lrd__file_writer *f);
/* Write chunk data (not hashed). */
int lrd__file_writer_data(lrd__file_writer *f, const void *p, size_t n);
int lrd__file_writer_trailer(lrd__file_writer *f);

/* The reading counterpart; with hashing disabled (h NULL) for partial reads. */
typedef struct lrd__file_reader {
	lrd__reader *in;
	XXH3_state_t *h;
	bool hashing;
	lrd__reader channel; /* read through this; channel.pos is the logical offset, channel.avail
	                        the bytes left */
} lrd__file_reader;

int lrd__file_reader_init(lrd__file_reader *f, lrd__reader *in, bool hash);
void lrd__file_reader_destroy(lrd__file_reader *f);
/* Check the header whose first 8 bytes (magic, already consumed from the input before
 * lrd__file_reader_init) are given, reading the rest: magic (LRD_EFORMAT), version (LRD_EVERSION).
 */
int lrd__file_reader_header(lrd__file_reader *f, const uint8_t magic[LRD__MAGIC_SIZE],
                            lrd_file_info *info);
int lrd__file_reader_data(lrd__file_reader *f, void *p, size_t n);
int lrd__file_reader_skipdata(lrd__file_reader *f, uint64_t n);
/* Read the trailer, check the meta checksum (when hashing) and the end magic. */
int lrd__file_reader_trailer(lrd__file_reader *f);

/* Dump options resolved to codecs. */
typedef struct lrd__dump_config {
	const lrd_codec *whole;
	lrd_codec_params whole_p;
	const lrd_codec *chunk;
	lrd_codec_params chunk_p;
	uint64_t chunk_size;
	int threads; /* lrd_dump_options.threads */
} lrd__dump_config;

/* path may be NULL (no suffix rule). cfg is then released with lrd__dump_config_destroy(), even
 * when resolving failed. */
int lrd__dump_config_resolve(const lrd_dump_options *o, const char *path, lrd__dump_config *cfg);
void lrd__dump_config_destroy(lrd__dump_config *cfg);

/* ---- the array payload writer (emit.c) ------------------------------------------------------ */

/* Layout 0: one whole chunk's checksum, computed on the chunk pool. */
typedef struct lrd__sum_job {
	const void *p;
	size_t n;
	uint64_t index, sum;
} lrd__sum_job;

typedef struct lrd__payload_writer {
	lrd__file_writer *f;
	const lrd_codec *codec; /* NULL: layout 0 */
	lrd_codec_params params;
	uint64_t nbytes, chunk_size, done, nchunks;
	uint64_t chunk_index;   /* layout 0: chunks checksummed */
	uint8_t *table;         /* layout 0: the chunk table, filled as chunks complete */
	XXH3_state_t *h;        /* layout 0: checksum of the current chunk */
	lrd__chunk_queue *sumq; /* layout 0, threads > 1: checksums of whole chunks */
	lrd__sum_job *sums;     /* one per window slot of sumq */
	lrd__cpipe pipe; /* layout 1: chunks compressed on the chunk pool, written in order */
} lrd__payload_writer;

/* Write the payload prefix (layout, chunk size, padding) of an array of nbytes. */
int lrd__payload_writer_begin(lrd__payload_writer *e, lrd__file_writer *f,
                              const lrd__dump_config *cfg, lrd_dtype dt, uint64_t nbytes);
int lrd__payload_writer_push(lrd__payload_writer *e, const void *p, size_t n);
/* After exactly nbytes were pushed: the last chunk and the chunk table. */
int lrd__payload_writer_end(lrd__payload_writer *e);
void lrd__payload_writer_destroy(lrd__payload_writer *e);

/* ---- the array payload reader (payload.c) ---------------------------------------------------- */

typedef struct lrd__payload_reader {
	lrd__file_reader *f;
	lrd__array_desc d;
	uint8_t layout;
	uint64_t chunk_size, nchunks, next;
	uint64_t start;   /* logical offset of the payload (0) or first chunk header (1) */
	uint64_t *sums;   /* layout 0, sequential: checksums of chunks read so far */
	size_t sums_cap;  /* bytes allocated for sums */
	uint8_t *scratch; /* layout 1: stored bytes of compressed chunks */
	size_t scratch_cap;
	uint64_t stored_bytes; /* chunk data bytes seen */
	unsigned codec_ids;
	const char *what;             /* the array, for messages: "the array at offset 42" */
	lrd__dpipe pipe;              /* layout 1, threaded or chunk by chunk: the chunk decoder */
	struct lrd__pdest *pipe_dest; /* read_array: where chunks go (payload.c); NULL: next */
	bool piped;                   /* pipe started */
	uint8_t *buf;                 /* layout 0, next: one chunk */
} lrd__payload_reader;

/* Read the payload prefix and validate sizes against the input and the options' limits. */
int lrd__payload_reader_begin(lrd__payload_reader *p, lrd__file_reader *f, const lrd__array_desc *d,
                              const lrd_load_options *o, const char *what);
/* Raw size of chunk i. */
uint64_t lrd__payload_reader_chunk_raw(const lrd__payload_reader *p, uint64_t i);
/* Read the next chunk into dst (lrd__payload_reader_chunk_raw bytes), verified and decompressed.
 * dst NULL with layout 0: skip the data (used by mapped loads; verification then needs
 * lrd__payload_reader_end's table and the mapped bytes). */
int lrd__payload_reader_chunk(lrd__payload_reader *p, void *dst);
/* Read every remaining chunk into a new owned array *out (NULL on failure), then the chunk
 * table (lrd__payload_reader_end). A contiguous payload the input is known to hold is allocated
 * whole; otherwise the buffer grows as chunks are decoded, so a declared size that lies costs
 * at most about twice what was really decoded plus one chunk. Layout 1 with threads != 1
 * (lrd_load_options.threads): chunks are verified and decompressed on the chunk pool, at most
 * 2 x threads in flight. */
int lrd__payload_reader_read_array(lrd__payload_reader *p, int threads, lrd_value **out);
/* The next chunk, verified and decompressed: *data (valid until the next call) and *n; *data
 * NULL and *n 0 after the last. Layout 0: read into one buffer and checksummed here. Layout 1:
 * through the chunk decoder (lrd__dpipe) on `threads` threads, which reads ahead — up to 2 x
 * threads chunks (with their stored bytes) are fetched before the current one is handed out; a
 * damaged chunk's error still comes at its turn, naming it. Not to be mixed with _chunk or
 * _read_array. */
int lrd__payload_reader_next(lrd__payload_reader *p, int threads, const void **data, size_t *n);
/* After the last chunk: layout 0 reads the chunk table and checks it against the chunks
 * read (mapped: against `mapped` bytes if verify, else sizes only). */
int lrd__payload_reader_end(lrd__payload_reader *p, const uint8_t *mapped, bool verify);
/* Skip the whole payload, checking structure but not chunk data. */
int lrd__payload_reader_skip(lrd__payload_reader *p);
/* Point *out at the scratch buffer, grown to hold the n stored bytes of one compressed chunk
 * (n was checked against the chunk's raw size; earlier contents are not kept). */
int lrd__payload_reader_scratch(lrd__payload_reader *p, uint64_t n, uint8_t **out);
void lrd__payload_reader_destroy(lrd__payload_reader *p);
/* Check that an array of nbytes may be allocated under the options (LRD_ELIMIT). */
int lrd__payload_reader_limit(const lrd__payload_reader *p, const lrd_load_options *o);

/* A human description of a non-larder start ("HDF5"), or NULL. */
const char *lrd__magic_name(const uint8_t *head, size_t n);

#endif
