/* larder — byte streams for dump and load: paths, FILE*, file descriptors, memory and user
 * callbacks behind one opaque handle.
 *
 * A stream is opened for reading or for writing. Writing never seeks, so pipes and sockets work
 * as outputs; reading needs a seek only for partial reads (one entry, a byte range) and for
 * memory-mapped loads, which also need a regular file. Streams buffer internally (64 KiB) and
 * pass large payload writes and reads straight through.
 *
 * Ownership: a stream never closes a FILE* or descriptor it was given, and never frees memory
 * it was given; lrd_stream_close() flushes (writing) and frees only what the stream allocated.
 *
 * Threading: a stream is used by one thread at a time. */
#ifndef LARDER_IO_H
#define LARDER_IO_H

#include <stdio.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lrd_stream lrd_stream;

/** User callbacks: any byte transport (a socket, a remote blob store) is one adapter away. */
typedef struct lrd_io_callbacks {
	/** Reading: read up to n bytes into buf; return the count read (0 only at the end of the
	 * input) or a negative LRD_E* code (set a message with lrd_error_set()). NULL for a
	 * write-only stream. */
	ptrdiff_t (*read)(void *ctx, void *buf, size_t n);
	/** Writing: write all n bytes; return LRD_OK or a negative LRD_E* code. NULL for a
	 * read-only stream. */
	int (*write)(void *ctx, const void *buf, size_t n);
	/** Optional: move to absolute byte offset `off` for the next read; LRD_OK or negative.
	 * NULL: the stream cannot seek (partial reads then fail with LRD_EUNSUPPORTED). */
	int (*seek)(void *ctx, uint64_t off);
	/** Optional: total size of the input in bytes, or a negative code if unknown. Lets the
	 * loader check declared lengths against the real size. NULL: unknown. */
	int64_t (*size)(void *ctx);
	void *ctx; /**< passed to every callback */
} lrd_io_callbacks;

/** Open a file by path. mode "r" reads (a FIFO without a writer reads as empty instead of
 * blocking). mode "w" replaces the file atomically: the bytes go to a temporary file in the
 * same directory (created exclusively, with the old file's permissions, or 0666 & ~umask for a
 * new one), which lrd_stream_close() renames over the path only when everything was written;
 * lrd_stream_abort() or a failed close removes the temporary file and leaves the old file as
 * it was. A symlink's target is replaced and the link kept. A path that is not a regular file
 * (a character device, a FIFO, /dev/stdout and other names under /dev/ and /proc/) is written
 * directly; larder never removes a file it did not create. On success *out is the caller's,
 * closed with lrd_stream_close(); on failure it is NULL. Errors: LRD_EINVAL (NULL argument,
 * bad mode, empty path, or an output that is a data or lock file of a store open
 * in this process), LRD_ENOTFOUND (no such file, reading), LRD_ENOSPC (disk full), LRD_EIO
 * (any other failure, a directory or a missing directory when writing included; the message names
 * the path and errno's text), LRD_ENOMEM. */
LRD_API int lrd_stream_open_path(const char *path, const char *mode, lrd_stream **out);
/** Use an open FILE* (not closed by the stream; reading starts at its current position).
 * mode "r" or "w" as above. Errors: LRD_EINVAL (f or out NULL, bad mode), LRD_ENOMEM. */
LRD_API int lrd_stream_open_file(FILE *f, const char *mode, lrd_stream **out);
/** Use an open file descriptor (not closed; reading starts at its current offset). A regular
 * file descriptor can seek and be mapped; a pipe or socket cannot. Errors: LRD_EINVAL (fd < 0,
 * out NULL, bad mode), LRD_ENOMEM. */
LRD_API int lrd_stream_open_fd(int fd, const char *mode, lrd_stream **out);
/** Read from caller memory (borrowed: must outlive the stream and every value loaded from it
 * with a mapped load). Seekable. Errors: LRD_EINVAL (out NULL, data NULL with size > 0),
 * LRD_ENOMEM. */
LRD_API int lrd_stream_open_memory(const void *data, size_t size, lrd_stream **out);
/** Write into a growable memory buffer owned by the stream until lrd_stream_take_memory()
 * hands it over (lrd_stream_close() frees it otherwise). Errors: LRD_EINVAL (out NULL),
 * LRD_ENOMEM. */
LRD_API int lrd_stream_open_membuf(lrd_stream **out);
/** Open over user callbacks; mode "r" needs cb->read, "w" needs cb->write. The struct is
 * copied; cb->ctx is borrowed and must outlive the stream. Errors: LRD_EINVAL (NULL argument,
 * bad mode, the callback the mode needs missing), LRD_ENOMEM. */
LRD_API int lrd_stream_open_callbacks(const lrd_io_callbacks *cb, const char *mode,
                                      lrd_stream **out);

/** Flush buffered output of a writing stream (LRD_OK at once for a reading one); after a failed
 * dump the stream's contents are unspecified. A write failure is sticky: every later write
 * and flush returns the same code and the first failure's message (its real cause, such as
 * "writing standard output (fd 1): No space left on device"). Errors: LRD_EINVAL (s NULL), LRD_EIO
 * and LRD_ENOSPC (naming the path or descriptor and errno's text), LRD_ENOMEM (membuf), or the code
 * a write callback returned. */
LRD_API int lrd_stream_flush(lrd_stream *s);
/** Take the buffer of a stream made by lrd_stream_open_membuf, after flushing it: *data
 * (freed by the caller with lrd_free(); NULL when empty) and *size. The stream is empty
 * afterwards. Errors: LRD_EINVAL (not a membuf stream), LRD_EIO (the stream failed before). */
LRD_API int lrd_stream_take_memory(lrd_stream *s, void **data, size_t *size);
/** Flush (writing) and free the stream; the FILE*, fd or memory it was given stay the
 * caller's. A path opened with "w" is renamed into place now (see lrd_stream_open_path); on
 * failure the old file is left as it was. The stream is freed whatever the result. NULL is
 * ignored (LRD_OK). Errors: those of lrd_stream_flush (writing streams), LRD_EIO (closing the
 * descriptor of a path stream, or the rename, failed). */
LRD_API int lrd_stream_close(lrd_stream *s);
/** Free the stream without completing its output: a path opened with "w" keeps its old
 * contents (the temporary file is removed); other outputs get no final flush. Use it when
 * writing failed or was given up. NULL is ignored. */
LRD_API void lrd_stream_abort(lrd_stream *s);

#ifdef __cplusplus
}
#endif
#endif
