/* Internal view of lrd_stream for the file format code: buffered exact reads, peeking for
 * magic sniffing, seeking, mapping, and adapters to the lrd__reader/lrd__writer channels of wire.h,
 * plus the whole-file codec layers (io_codec.c). Not installed. */
#ifndef LRD_ENGINE_IO_INTERNAL_H
#define LRD_ENGINE_IO_INTERNAL_H

#include <stdbool.h>

#include "engine/record/wire.h"
#include "larder/codec.h"
#include "larder/io.h"

#define LRD__IO_BUFSIZE 65536

/* Total bytes of a reading stream from where it started, or -1 if unknown (pipes, callbacks
 * without size()). */
int64_t lrd__stream_size(const lrd_stream *s);
/* true if the stream can seek (regular files, memory, callbacks with seek). */
bool lrd__stream_seekable(const lrd_stream *s);
/* A short name for messages: the path, "fd 3" ("standard output (fd 1)" for 0..2), "FILE*",
 * "memory", "callbacks". */
const char *lrd__stream_name(const lrd_stream *s);

/* Read up to n bytes (fewer only at the end of input); *got receives the count. */
int lrd__stream_read_some(lrd_stream *s, void *p, size_t n, size_t *got);
/* Make up to n (<= LRD__IO_BUFSIZE) bytes available without consuming them; *p points into the
 * stream's buffer (valid until the next call on s) and *got may be less than n at the end. */
int lrd__stream_peek(lrd_stream *s, size_t n, const uint8_t **p, size_t *got);
/* Seek to an absolute offset from where the stream started. LRD_EUNSUPPORTED if it cannot. */
int lrd__stream_seek(lrd_stream *s, uint64_t off);
/* Current read offset from where the stream started. */
uint64_t lrd__stream_tell(const lrd_stream *s);
/* Buffered write of all n bytes. */
int lrd__stream_write(lrd_stream *s, const void *p, size_t n);

/* Map the whole input read-only: a memory stream gives its own bytes (borrowed, *unmap NULL);
 * a regular file (path, fd, FILE*) is mmap()ed and *unmap is munmap's argument pair to release
 * with lrd__stream_unmap. Errors: LRD_EUNSUPPORTED (pipe, callbacks), LRD_EIO. */
typedef struct lrd__mapping {
	const uint8_t *data; /* the stream's bytes from where it started */
	size_t size;
	void *base; /* what to munmap (NULL: nothing) */
	size_t base_size;
} lrd__mapping;
int lrd__stream_map(lrd_stream *s, lrd__mapping *m);
void lrd__stream_unmap(lrd__mapping *m);

/* Channels over a stream: exact reads (truncation is LRD_ECORRUPT), skips by seeking when
 * possible, avail from the stream size when known. */
lrd__reader lrd__stream_reader(lrd_stream *s);
lrd__writer lrd__stream_writer(lrd_stream *s);

/* ---- whole-file codec layers (io_codec.c) ---------------------------------------------------- */

/* A decoder reading codec-compressed bytes from `s` and producing the logical stream through
 * a reader channel (avail unknown; skip reads and discards). Bounded memory: two 64 KiB buffers
 * plus the codec's state. */
typedef struct lrd__unwrap lrd__unwrap;
int lrd__unwrap_new(lrd_stream *s, const lrd_codec *c, lrd__unwrap **out);
lrd__reader lrd__unwrap_reader(lrd__unwrap *u);
/* After the logical stream ended: LRD_OK if the compressed input ended too, LRD_ECORRUPT if
 * decompressed bytes remain. */
int lrd__unwrap_finish(lrd__unwrap *u);
void lrd__unwrap_free(lrd__unwrap *u);

/* An encoder compressing everything written through its channel into `s`. */
typedef struct lrd__wrap lrd__wrap;
int lrd__wrap_new(lrd_stream *s, const lrd_codec *c, const lrd_codec_params *p, lrd__wrap **out);
lrd__writer lrd__wrap_writer(lrd__wrap *w);
/* End the compressed stream and write its remaining output. */
int lrd__wrap_finish(lrd__wrap *w);
void lrd__wrap_free(lrd__wrap *w);

#endif
