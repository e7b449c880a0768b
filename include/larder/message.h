/* larder — values as messages: a value tree in one contiguous, self-delimiting buffer, for
 * pipes, sockets and shared memory between processes (the parallel executor's wire format).
 *
 * A message is one frame (FORMAT.md, "Message frame"):
 *
 *   offset 0   4 bytes  magic "LRDM"
 *          4   u16 LE   version (1)
 *          6   u16 LE   flags (0; any other value is LRD_EVERSION)
 *          8   u64 LE   total frame length in bytes, header included
 *         16   the value tree (FORMAT.md, "Value tree"), where each array's payload follows
 *              its header inline: zero padding up to the next multiple of 64 bytes from the
 *              frame start, then the array's bytes in its own dtype and order
 *
 * Frames are self-delimiting, so several can follow each other on one stream: read
 * LRD_MESSAGE_HEADER_SIZE bytes, ask lrd_value_encoded_size() for the frame length, read the
 * rest, decode (or let lrd_value_read_fd() do all of it). No checksum: the transport is trusted
 * to deliver the bytes it was given; the decoder is still strict and bounded on any input.
 *
 * Threading: every function here is reentrant; distinct values/buffers on distinct threads. */
#ifndef LARDER_MESSAGE_H
#define LARDER_MESSAGE_H

#include "common.h"
#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes of the fixed frame header: enough to learn the frame's length. */
#define LRD_MESSAGE_HEADER_SIZE 16

typedef struct lrd_encode_options {
	uint64_t reserved[8]; /**< must be zero */
} lrd_encode_options;

/** Let decoded arrays point into the input buffer instead of copying (see lrd_value_decode). */
#define LRD_DECODE_BORROW 0x1u

typedef struct lrd_decode_options {
	/** Nesting limit of lists and maps. 0: 64. */
	unsigned max_depth;
	/** LRD_DECODE_* bits. 0: arrays are copied into owned buffers. */
	unsigned flags;
	/** Bound on what a message may make the decoder hold, counted over every kind: the bytes
	 * of each string, bytes value and map key, the byte size of each array (borrowed ones
	 * too), and 8 bytes for each value node (so a frame of a million nils counts 8 MB). A
	 * message going over is LRD_ELIMIT. lrd_value_read_fd() also refuses a frame whose
	 * declared length exceeds it before reading the frame. 0: no bound (the decoder still
	 * never allocates for bytes the input does not hold). */
	uint64_t max_total_bytes;
	/** lrd_value_decode with LRD_DECODE_BORROW only: the owner of buf (a mapping, say). Arrays
	 * that would be borrowed are LRD_BUF_MAPPED instead and share one reference to buf;
	 * release(release_ctx) is called exactly once, when the last of them is freed, or before
	 * lrd_value_decode returns if none is (failures included). So buf needs no outliving
	 * by the caller. NULL: arrays are LRD_BUF_BORROWED (see lrd_value_decode). */
	void (*release)(void *release_ctx);
	void *release_ctx;
	uint64_t reserved[6]; /**< must be zero */
} lrd_decode_options;

/** Encode v into one frame: *buf (freed by the caller with lrd_free()) holding *len bytes.
 * opts may be NULL. The buffer comes from malloc, so it is aligned for any scalar type and array
 * payloads inside it are aligned to 16 bytes at least. Errors: LRD_EINVAL (NULL argument,
 * nonzero reserved field), LRD_EDTYPE (an array of invalid dtype), LRD_ELIMIT (size overflow),
 * LRD_ENOMEM. On failure *buf is NULL and *len 0. */
LRD_API int lrd_value_encode(const lrd_value *v, const lrd_encode_options *opts, void **buf,
                             size_t *len);

/** Encode v into the caller's buf[0..cap) (shared memory, say): *len is the frame's length.
 * A buffer too small (cap 0 and buf NULL to ask) is LRD_EBUFSIZE, nothing written, with *len
 * the length needed. Payloads are aligned from the frame start, so put the frame at an
 * address aligned to 64 bytes to keep them aligned. Errors: those of lrd_value_encode but
 * LRD_ENOMEM, and LRD_EBUFSIZE. */
LRD_API int lrd_value_encode_into(const lrd_value *v, const lrd_encode_options *opts, void *buf,
                                  size_t cap, size_t *len);

/** Length of the frame starting at buf, of which avail bytes are at hand. On success *frame_len
 * is the whole frame's length (which may exceed avail: read that many bytes in total). Errors:
 * LRD_EBUFSIZE (avail < LRD_MESSAGE_HEADER_SIZE; *frame_len is then LRD_MESSAGE_HEADER_SIZE, the
 * bytes needed to tell), LRD_EFORMAT (not a message: wrong magic), LRD_EVERSION (unknown version
 * or flags), LRD_ECORRUPT (declared length below the header size or above SIZE_MAX),
 * LRD_EINVAL (NULL argument). */
LRD_API int lrd_value_encoded_size(const void *buf, size_t avail, size_t *frame_len);

/** Decode the frame in buf[0..len); len must be exactly its frame length. On success *out is a
 * new root owned by the caller. With LRD_DECODE_BORROW, an array whose payload is suitably
 * aligned in buf (to its item size, up to 16 bytes) is LRD_BUF_BORROWED and points into buf:
 * buf must outlive the value, and writing the array writes buf; an array not so aligned (or a
 * 0-byte one) is copied. Decoding costs no more than the frame's size in time, and an array
 * borrowed costs constant time whatever its size. Strict: anything FORMAT.md does not allow,
 * bytes left after the tree, and nonzero padding are LRD_ECORRUPT. Errors: those of
 * lrd_value_encoded_size, LRD_ECORRUPT (also: len differs from the frame length), LRD_EDTYPE,
 * LRD_ELIMIT (opts->max_total_bytes exceeded; nesting deeper than max_depth is LRD_ECORRUPT, as
 * in files),
 * LRD_EINVAL (NULL argument, nonzero reserved field or unknown flag), LRD_ENOMEM. On failure
 * *out is NULL. */
LRD_API int lrd_value_decode(const void *buf, size_t len, const lrd_decode_options *opts,
                             lrd_value **out);

/** Encode v and write the frame to fd (a pipe, socket or file), retrying short writes and
 * EINTR. Errors: those of lrd_value_encode, LRD_EIO (write failed, with errno's text; EPIPE
 * included: the caller should ignore SIGPIPE), LRD_ENOSPC. */
LRD_API int lrd_value_write_fd(int fd, const lrd_value *v, const lrd_encode_options *opts);

/** Read exactly one frame from fd and decode it into *out (owned by the caller). Reads no byte
 * past the frame, so the next message stays in the stream. The buffer grows as bytes actually
 * arrive, so a lying length costs at most about twice what was read. With LRD_DECODE_BORROW,
 * arrays are LRD_BUF_MAPPED over the frame buffer, which is freed with the last of them.
 * At end of stream before the first byte of a frame (no more messages) it returns LRD_OK with
 * *out NULL. Errors: LRD_ECORRUPT (end of stream inside a frame), LRD_EIO (read failed), LRD_ELIMIT
 * (declared length over opts->max_total_bytes), LRD_EINVAL (opts->release set), and those of
 * lrd_value_decode. */
LRD_API int lrd_value_read_fd(int fd, const lrd_decode_options *opts, lrd_value **out);

#ifdef __cplusplus
}
#endif
#endif
