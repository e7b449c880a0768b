/* larder — error codes and messages.
 *
 * Every fallible function returns int: LRD_OK (0) or one of the negative codes below, which lie
 * in a band of their own (-30999 .. -30900) so they never collide with errno values or with
 * LMDB's. lrd_strerror() names a code; lrd_errmsg() gives the detail of the last failure on the
 * calling thread ("chunk 17 of 'weights': checksum mismatch"). */
#ifndef LARDER_ERROR_H
#define LARDER_ERROR_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, value, description). Append only: values are stable across releases. */
#define LRD_ERRORS(X)                                                                              \
	X(OK, 0, "success")                                                                        \
	X(ENOMEM, -30900, "out of memory")                                                         \
	X(EINVAL, -30901, "invalid argument")                                                      \
	X(EIO, -30902, "input/output error")                                                       \
	X(ENOTFOUND, -30903, "not found")                                                          \
	X(EEXIST, -30904, "already exists")                                                        \
	X(EFORMAT, -30905, "not in the expected format")                                           \
	X(ECORRUPT, -30906, "data is corrupt")                                                     \
	X(ECHECKSUM, -30907, "checksum mismatch")                                                  \
	X(ECODEC, -30908, "codec failure")                                                         \
	X(ELIMIT, -30909, "size limit exceeded")                                                   \
	X(EMAPFULL, -30910, "store map is full")                                                   \
	X(EBUSY, -30911, "resource busy")                                                          \
	X(ETIMEOUT, -30912, "timed out")                                                           \
	X(ETASK, -30913, "task failed")                                                            \
	X(EWORKER, -30914, "worker died")                                                          \
	X(ECANCELED, -30915, "canceled")                                                           \
	X(EBUFSIZE, -30916, "output buffer too small")                                             \
	X(EVERSION, -30917, "unsupported format or ABI version")                                   \
	X(EPLUGIN, -30918, "plugin refused")                                                       \
	X(ENOSPC, -30919, "no space left on device")                                               \
	X(EDTYPE, -30920, "wrong or unsupported dtype")                                            \
	X(EREADONLY, -30921, "read-only")                                                          \
	X(EUNSUPPORTED, -30922, "operation not supported")                                         \
	X(ECONFLICT, -30923, "compare-and-swap expectation not met")

typedef enum lrd_error {
#define LRD__ERR_ENUM(name, value, desc) LRD_##name = value,
	LRD_ERRORS(LRD__ERR_ENUM)
#undef LRD__ERR_ENUM
} lrd_error;

/** Return a static, constant description of an error code ("checksum mismatch").
 * Unknown codes give "unknown error". Never returns NULL. */
LRD_API const char *lrd_strerror(int code);

/** Return the symbolic name of an error code ("LRD_ECHECKSUM"), or "LRD_UNKNOWN". Never NULL. */
LRD_API const char *lrd_errname(int code);

/** Return the detail of the last failure on the calling thread, with context; after an expected
 * outcome reported without detail (LRD_ENOTFOUND for an absent key or at the end of an
 * iteration), the code's description ("not found"), never an earlier failure's text; "" if the
 * last call that set one succeeded without setting a message. The string is owned by larder and
 * valid until the next larder call on this thread. Never returns NULL. */
LRD_API const char *lrd_errmsg(void);

/** Set the calling thread's error message and return `code` unchanged, for use by codec plugins
 * and user callbacks: `return lrd_error_set(LRD_ECORRUPT, "bad block %d", n);`. The message is
 * truncated to 511 bytes. */
LRD_API int lrd_error_set(int code, const char *fmt, ...) LRD_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif
#endif
