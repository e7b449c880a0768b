/* The interface every fuzz target in tests/fuzz implements: libFuzzer's entry point. The same
 * target links either with libFuzzer (--enable-fuzz, clang) or with replay.c, whose main()
 * runs a saved corpus through it as an ordinary test. */
#ifndef LRD_FUZZ_H
#define LRD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A finding: print what broke and stop, so libFuzzer saves the input and replay fails. */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz check failed: %s: ", #cond);                         \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			__builtin_trap();                                                          \
		}                                                                                  \
	} while (0)

#endif
