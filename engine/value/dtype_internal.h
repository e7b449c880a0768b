/* Internal dtype helpers for engine code: native byte order, byte swapping of element buffers,
 * formatting for messages. Not installed. */
#ifndef LRD_DTYPE_INTERNAL_H
#define LRD_DTYPE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "larder/value.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LRD__NATIVE_ORDER '>'
#else
#define LRD__NATIVE_ORDER '<'
#endif

/* Canonical typestr of dt, or "<invalid dtype>" for messages; buf must hold 16 bytes. */
const char *lrd__dtype_str(lrd_dtype dt, char buf[16]);
/* true if dt's bytes are in this machine's order (always for '|' dtypes). */
bool lrd__dtype_is_native(lrd_dtype dt);
/* Size of the units whose bytes a byte-order change reverses: itemsize for b/i/u/f, half of it
 * for complex, 1 for '|' dtypes (nothing to swap). */
size_t lrd__dtype_swap_unit(lrd_dtype dt);
/* Reverse the byte order of `count` elements of dt in place (no-op for 1-byte units). buf
 * needs no alignment. The caller changes dt.order to match. */
void lrd__dtype_byteswap(lrd_dtype dt, void *buf, size_t count);

#endif
