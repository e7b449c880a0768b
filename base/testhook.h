/* Hooks for larder's own tests only (fault injection). Like every lrd__ symbol they are hidden
 * from the shared library (tests/exports.sh checks it): tests that use them link liblarder
 * statically (LDFLAGS = -static in Makefile.am). */
#ifndef LRD_TESTHOOK_H
#define LRD_TESTHOOK_H

/* Fail the (n+1)-th allocation from now (n = 0: the next one); n < 0 disables. */
void lrd__alloc_failafter(long n);

#endif
