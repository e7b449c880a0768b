/* Hooks exported by liblarder for its own tests only (fault injection). They carry the
 * internal lrd__ prefix and are not part of the public API or its stability promise. */
#ifndef LRD_TESTHOOK_H
#define LRD_TESTHOOK_H

#include "larder/common.h"

/* Fail the (n+1)-th allocation from now (n = 0: the next one); n < 0 disables. */
LRD_API void lrd__alloc_failafter(long n);

#endif
