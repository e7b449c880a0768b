/* larder — the .lrd single-file format: dump and load values, memory-mapped loads, partial
 * loads, out-of-core array streams, verification and inspection. FORMAT.md specifies the bytes.
 *
 * Compression comes in two forms: whole-file (the file is one gzip/xz/lz4/… stream, readable by
 * the codec's own tool; chosen by the path's last suffix or explicitly) and per-chunk (each chunk
 * of each array compressed on its own; random access and mapping of raw chunks remain). Loading
 * recognises a larder file by its magic, whatever the name: a whole-file codec is detected by
 * the codec's magic bytes.
 *
 * Memory: dump and load stream arrays in chunks (default 4 MiB); their extra memory is a couple
 * of chunks and 64 KiB buffers, never a copy of an array. Loading is data only, checks every
 * length against what the input holds, takes memory only as decoded bytes arrive and bounds
 * what it builds (lrd_load_options.max_total_bytes), so untrusted files are safe to load.
 *
 * Threading: functions here may run concurrently on distinct streams and values. */
#ifndef LARDER_FILE_H
#define LARDER_FILE_H

#include <stdbool.h>
#include <stdio.h>

#include "codec.h"
#include "common.h"
#include "io.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The format version this library writes and the newest it reads (FORMAT.md §2.1). */
#define LRD_FORMAT_MAJOR 1
#define LRD_FORMAT_MINOR 0
/** Default chunk size of a file (bytes of an array per chunk); the limits LRD_CHUNK_SIZE_MIN
 * and LRD_CHUNK_SIZE_MAX are in common.h, shared with the store. */
#define LRD_CHUNK_SIZE_DEFAULT ((size_t)4 << 20)

/* Options structs (CONVENTIONS.md): zero in a field means its default, `= {0}` or NULL means
 * all defaults. Each ends with `reserved`, which must stay zero (LRD_EINVAL otherwise): a later
 * release carves new fields out of it, so the size never changes within a major version. */

/** Options of dump and of lrd_array_writer. */
typedef struct lrd_dump_options {
	/** Whole-file codec, a spec (lrd_codec_parse): "gzip", "xz:9", … (it must have a streaming
	 * form; a level in the spec wins over `level`). NULL: the
	 * codec named by the path's last suffix for path functions ("x.lrd.gz" → gzip), none for
	 * other streams. "none" or "raw": no whole-file codec even if the suffix names one. */
	const char *codec;
	/** Whole-file codec level; 0: the codec's default, LRD_CODEC_LEVEL_ZERO: 0 itself; outside
	 * the codec's range: LRD_EINVAL. */
	int level;
	/** Per-chunk codec, a spec ("blosc", "lz4:9", "zstd", …; its level wins over
	 * chunk_params.level). NULL or "none": chunks are stored
	 * raw and each array's bytes lie contiguous (mappable). */
	const char *chunk_codec;
	/** Per-chunk codec parameters; zero fields are defaults, typesize 0 means the dtype's
	 * item size. */
	lrd_codec_params chunk_params;
	/** Raw bytes per chunk; 0: LRD_CHUNK_SIZE_DEFAULT (4 MiB). Must lie in
	 * [LRD_CHUNK_SIZE_MIN, LRD_CHUNK_SIZE_MAX]. */
	size_t chunk_size;
	/** Chunks compressed at once, on larder's chunk pool (worker threads started on first
	 * use and shared by the process; chunks are still written in order, at most 2 x threads
	 * of them in memory). 0 (default): the number of online cores; 1: one after another on
	 * the calling thread. Per-chunk codecs compress on it; raw (contiguous) arrays have
	 * each whole chunk's checksum computed on it while this thread writes the chunk. With
	 * blosc, chunk threads and chunk_params.threads (blosc's own) multiply: prefer chunk
	 * threads and leave blosc's at 1 (2 chunk threads dumped 1.2-1.7x faster than 1 chunk
	 * thread x 2 blosc threads on every data set measured: BENCHMARKS.md, "Fast I/O"). */
	int threads;
	uint64_t reserved[8]; /**< must be zero */
} lrd_dump_options;

/** Options of load, partial loads, lrd_array_reader and lrd_scan. */
typedef struct lrd_load_options {
	/** Map the file and give raw (uncompressed-chunk) arrays as LRD_BUF_MAPPED read-only
	 * pointers into the map, 64-byte aligned, zero-copy (joblib's mmap_mode='r'). Needs a
	 * regular file (path, fd or FILE*) that is not whole-file compressed (LRD_EINVAL) —
	 * or a memory stream, whose bytes are then used in place and must outlive the values.
	 * Arrays with compressed chunks are decompressed into owned memory. The map is released
	 * when the last value using it is freed. false (default): read into owned memory. */
	bool mmap;
	/** With mmap: verify the checksums of mapped arrays at load (reads every page). false
	 * (default): mapped payloads are verified on demand with lrd_verify(). Loads without
	 * mmap always verify every checksum. */
	bool verify;
	/** Refuse (LRD_ELIMIT) any array whose byte size exceeds this. 0: no limit of its own (the
	 * total bound below still applies). */
	uint64_t max_array_bytes;
	/** Nesting limit of lists and maps; 0: 64. */
	unsigned max_depth;
	/** Chunks verified and decompressed at once, on larder's chunk pool (shared worker
	 * threads; at most 2 x threads chunks in memory besides the array), by loads and by
	 * lrd_array_reader_next. 0 (default): the number of online cores; 1: one after another
	 * on the calling thread. A load reads raw chunks of contiguous (uncompressed) arrays
	 * straight into the array either way. */
	int threads;
	/** Bound on what a load may build, counted over every kind of value: the bytes of each
	 * string, bytes value and map key, the byte size of each array (mapped ones too) and 8
	 * bytes for each value node. Going over is LRD_ELIMIT, with a message naming the input and
	 * the bound. 0: LRD_LOAD_MAX_TOTAL_DEFAULT (4 GiB), or 16 × the input's size when that is
	 * known (a file, descriptor of a regular file or memory) and larger — enough for any
	 * uncompressed file; raise it for bigger compressed data or pipes (`larder --max-bytes`).
	 * UINT64_MAX: no bound. Whatever the bound, memory is taken only as decoded bytes
	 * actually arrive: a length that lies costs at most about twice the bytes really decoded
	 * (plus one chunk), never what it declares. lrd_scan does not build values and ignores it.
	 */
	uint64_t max_total_bytes;
	uint64_t reserved[7]; /**< must be zero */
} lrd_load_options;

/** The default of lrd_load_options.max_total_bytes for an input of unknown or small size. */
#define LRD_LOAD_MAX_TOTAL_DEFAULT ((uint64_t)4 << 30)

/* ---- dump ------------------------------------------------------------------------------------ */

/** Write v (read, never kept) to a new file at path (created or truncated). Whole-file codec:
 * opts->codec, else the path's last suffix, else none. On failure the file may hold a partial
 * dump.
 * Errors: LRD_EINVAL (NULL value or path; bad option: a codec level that is not an integer or
 * outside the codec's range, chunk size out of range, nonzero reserved words), LRD_ECODEC
 * (unknown codec, or one without a streaming form for `codec`), LRD_EIO (opening, with the path and
 * errno's text — a missing directory included — or writing), LRD_ENOSPC (the device is full),
 * LRD_ECODEC (codec failure), LRD_EDTYPE (an array of invalid dtype), LRD_ENOMEM. */
LRD_API int lrd_dump(const lrd_value *v, const char *path, const lrd_dump_options *opts);
/** Write v to a stream opened for writing (see io.h); never seeks, so pipes work. The stream
 * is flushed, not closed. Errors: as lrd_dump. */
LRD_API int lrd_dump_stream(const lrd_value *v, lrd_stream *s, const lrd_dump_options *opts);
/** Write v to an open FILE* from its current position; f stays the caller's (flushed, not
 * closed). No seek: a pipe works. Whole-file codec: opts->codec only (there is no name).
 * Errors: LRD_EINVAL (f NULL), as lrd_dump. */
LRD_API int lrd_dump_file(const lrd_value *v, FILE *f, const lrd_dump_options *opts);
/** Write v to an open file descriptor from its current offset; fd stays the caller's (not
 * closed). No seek: pipes and sockets work. Whole-file codec: opts->codec only.
 * Errors: LRD_EINVAL (fd < 0), as lrd_dump (a write error names the descriptor: "fd 5"). */
LRD_API int lrd_dump_fd(const lrd_value *v, int fd, const lrd_dump_options *opts);
/** Write v into memory that larder allocates: on success *data (freed by the caller with
 * lrd_free()) and *size; on failure *data is NULL. Whole-file codec: opts->codec only.
 * Errors: LRD_EINVAL (NULL output), as lrd_dump. */
LRD_API int lrd_dump_memory(const lrd_value *v, void **data, size_t *size,
                            const lrd_dump_options *opts);

/* ---- load ------------------------------------------------------------------------------------ */

/** Read the value in the file at path into *out (owned by the caller, freed with
 * lrd_value_free(); NULL on failure). The format is found by magic bytes, not by the name.
 * Errors: LRD_ENOTFOUND (no file), LRD_EFORMAT (not a larder file: the message names what it
 * looks like — "gzip stream holding a non-larder payload", "not a larder file: starts with
 * 89 48 44 46 (HDF5?)"), LRD_EVERSION (newer format major), LRD_ECORRUPT (truncated or
 * malformed), LRD_ECHECKSUM, LRD_ECODEC (unknown codec id: e.g. the zstd plugin not found),
 * LRD_EDTYPE, LRD_ELIMIT (opts->max_array_bytes, opts->max_total_bytes), LRD_EINVAL (NULL
 * argument, nonzero opts->reserved, mmap of a whole-file compressed file), LRD_EIO (open or
 * read failure, with the path and errno's text), LRD_ENOMEM. */
LRD_API int lrd_load(const char *path, lrd_value **out, const lrd_load_options *opts);
/** Read from a stream opened for reading. A whole-file compressed or uncompressed stream needs
 * no seek (pipes work); mmap needs a regular file or memory. Errors: as lrd_load. */
LRD_API int lrd_load_stream(lrd_stream *s, lrd_value **out, const lrd_load_options *opts);
/** Read from an open FILE* from its current position; f stays the caller's (not closed).
 * Errors: as lrd_load_stream. */
LRD_API int lrd_load_file(FILE *f, lrd_value **out, const lrd_load_options *opts);
/** Read from an open file descriptor from its current offset; fd stays the caller's (not
 * closed). Errors: as lrd_load_stream. */
LRD_API int lrd_load_fd(int fd, lrd_value **out, const lrd_load_options *opts);
/** Read from memory (borrowed; with opts->mmap the arrays point into it, so it must outlive
 * them). Errors: as lrd_load_stream. */
LRD_API int lrd_load_memory(const void *data, size_t size, lrd_value **out,
                            const lrd_load_options *opts);

/** Partial load: only the value at `keypath` — map keys and list indices separated by '/'
 * ("layers/0/weights"; "" is the root) — is decoded; everything before it is skipped by
 * seeking, without reading array payloads. Needs a seekable input that is not whole-file
 * compressed (LRD_EUNSUPPORTED otherwise). opts->mmap is honoured. Checksums of the entry's
 * arrays are verified (unless mapped), the file's meta checksum is not.
 * Errors: LRD_ENOTFOUND (no such entry; the message names the missing component), as lrd_load. */
LRD_API int lrd_load_entry(const char *path, const char *keypath, lrd_value **out,
                           const lrd_load_options *opts);
/** lrd_load_entry from a stream opened for reading (borrowed, not closed). Errors: as
 * lrd_load_entry. */
LRD_API int lrd_load_entry_stream(lrd_stream *s, const char *keypath, lrd_value **out,
                                  const lrd_load_options *opts);
/** Read bytes [offset, offset + n) of the array at keypath into dst (caller memory, n bytes),
 * decoding only the chunks that overlap the range (their checksums are verified). Needs a
 * seekable input that is not whole-file compressed. Errors: LRD_EINVAL (range beyond the
 * array, or the entry is not an array), LRD_EUNSUPPORTED, as lrd_load_entry. */
LRD_API int lrd_load_range(const char *path, const char *keypath, uint64_t offset, void *dst,
                           size_t n, const lrd_load_options *opts);
/** lrd_load_range from a stream opened for reading (borrowed, not closed). Errors: as
 * lrd_load_range. */
LRD_API int lrd_load_range_stream(lrd_stream *s, const char *keypath, uint64_t offset, void *dst,
                                  size_t n, const lrd_load_options *opts);

/* ---- out-of-core arrays -------------------------------------------------------------------- */

/** Writes a file holding one array, pushed in pieces of any size: chunks are cut, checksummed
 * and (optionally) compressed as bytes arrive, so the array never needs to be in memory. */
typedef struct lrd_array_writer lrd_array_writer;

/** Start writing an array of the given dtype, shape and order to a stream opened for writing
 * (not closed by the writer; must outlive it). opts as for dump (whole-file codec only if
 * opts->codec names one). Errors: LRD_EDTYPE, LRD_EINVAL, LRD_ELIMIT, LRD_ENOMEM, write errors.
 * *out is freed with lrd_array_writer_free(). */
LRD_API int lrd_array_writer_new(lrd_stream *s, lrd_dtype dt, unsigned ndim, const uint64_t *shape,
                                 lrd_order order, const lrd_dump_options *opts,
                                 lrd_array_writer **out);
/** Append n bytes of the array (any n, in order). Errors: LRD_EINVAL (more bytes than the
 * array holds), write and codec errors (the writer is unusable afterwards). */
LRD_API int lrd_array_writer_write(lrd_array_writer *w, const void *p, size_t n);
/** Finish the file once every byte was pushed, and flush the stream. Errors: LRD_EINVAL
 * (bytes missing), write errors. */
LRD_API int lrd_array_writer_finish(lrd_array_writer *w);
/** Free the writer (a writer not finished leaves an incomplete file). NULL is ignored. */
LRD_API void lrd_array_writer_free(lrd_array_writer *w);

/** Reads an array file (one whose root value is an array) chunk by chunk or by byte range. */
typedef struct lrd_array_reader lrd_array_reader;

/** Open the array at the root of the file in stream s (borrowed; must outlive the reader).
 * Errors: LRD_EFORMAT (root is not an array), those of lrd_load. *out is freed with
 * lrd_array_reader_free(). A whole-file compressed stream can be read chunk by chunk. */
LRD_API int lrd_array_reader_new(lrd_stream *s, const lrd_load_options *opts,
                                 lrd_array_reader **out);
/** The array's description; any output may be NULL. *shape points at ndim extents owned by the
 * reader, valid while it lives. */
LRD_API void lrd_array_reader_describe(const lrd_array_reader *r, lrd_dtype *dt, unsigned *ndim,
                                       const uint64_t **shape, lrd_order *order, uint64_t *nbytes);
/** The next chunk, verified and decompressed: *data points into the reader's buffer, valid
 * until the next call on r, *n its size; *n = 0 after the last chunk. Chunks of a chunked
 * (compressed) array are read ahead and decoded on opts->threads threads: up to 2 x threads
 * chunks, each with its stored bytes, are held by the reader. A damaged chunk's error comes at
 * its turn, after every chunk before it, naming it ("chunk 7 of the root: ..."); every later
 * call returns it again. Errors: LRD_ECHECKSUM, LRD_ECORRUPT, LRD_ECODEC, read errors. */
LRD_API int lrd_array_reader_next(lrd_array_reader *r, const void **data, size_t *n);
/** Read bytes [offset, offset + n) into dst; needs a seekable, not whole-file compressed
 * stream (LRD_EUNSUPPORTED). May be mixed freely with _next calls.
 * Errors: LRD_EINVAL (range beyond the array), as _next. */
LRD_API int lrd_array_reader_read_range(lrd_array_reader *r, uint64_t offset, void *dst, size_t n);
/** Free the reader and its buffer (the stream stays the caller's). NULL is ignored. */
LRD_API void lrd_array_reader_free(lrd_array_reader *r);

/* ---- inspection and verification ------------------------------------------------------------- */

/** What lrd_scan reports about the file. */
typedef struct lrd_file_info {
	const char *codec;     /**< whole-file codec name ("gzip"), or NULL if none (static) */
	unsigned major, minor; /**< format version in the header */
	char writer[17];       /**< writer name and version, NUL-terminated */
	uint64_t size;         /**< bytes of the logical (decompressed) stream */
	uint64_t raw_bytes;    /**< sum of array byte sizes */
	uint64_t stored_bytes; /**< sum of stored chunk bytes */
} lrd_file_info;

/** One node of the value tree, as lrd_scan visits it (depth first, in file order). Pointers
 * are valid during the callback only. */
typedef struct lrd_node {
	unsigned depth;   /**< 0 for the root */
	const char *path; /**< key path from the root: "layers/0/weights"; "" for the root */
	const char *key;  /**< map key of this node, or NULL */
	lrd_kind kind;
	const lrd_value *value; /**< the value for scalars, str and bytes; NULL for containers
	                             and arrays */
	uint64_t len;           /**< items of a list or map */
	/* arrays: */
	lrd_dtype dtype;
	unsigned ndim;
	const uint64_t *shape;
	lrd_order order;
	unsigned layout; /**< 0 contiguous, 1 chunked (FORMAT.md §5) */
	uint64_t chunk_size, nchunks;
	uint64_t raw_bytes, stored_bytes;
	uint64_t offset;    /**< offset of the payload (layout 0) or first chunk header */
	unsigned codec_ids; /**< bit i set if some chunk uses codec id i (ids < 32) */
} lrd_node;

/** Callback of lrd_scan; a nonzero return stops the scan and is returned by it. */
typedef int (*lrd_node_fn)(void *ctx, const lrd_node *node);

/** Read a whole file sequentially (no seek: pipes work), verify every chunk checksum and the
 * meta checksum, and report the file (info, may be NULL; filled on success) and every node
 * (fn, may be NULL). Nodes are reported as they are read, before the rest of the file is
 * checked: the result says whether the file is sound, so a caller that must show only a sound
 * file holds its output until lrd_scan returns LRD_OK (`larder info` does). The tree is never
 * built: memory is one chunk, the largest single string or bytes value and the key path,
 * whatever the number of nodes. opts: max_depth, threads and max_array_bytes apply
 * (max_total_bytes does not: nothing is built). A map key that appears twice is not detected
 * here (lrd_load refuses it).
 * Errors: as lrd_load; a checksum failure names the chunk and the array's key path
 * ("chunk 3 of 'layers/0/weights': checksum mismatch …"). */
LRD_API int lrd_scan(lrd_stream *s, const lrd_load_options *opts, lrd_file_info *info,
                     lrd_node_fn fn, void *ctx);
/** lrd_scan of a path without a callback: LRD_OK if every checksum holds. Errors: as lrd_scan
 * (LRD_ENOTFOUND or LRD_EIO when the file cannot be opened). */
LRD_API int lrd_verify(const char *path);

/** Describe the first bytes of a non-larder input ("HDF5", "numpy .npy", "zip (.npz?)",
 * "Python pickle (joblib?)"), or NULL if not recognised. Static string. */
LRD_API const char *lrd_magic_describe(const void *head, size_t n);

#ifdef __cplusplus
}
#endif
#endif
