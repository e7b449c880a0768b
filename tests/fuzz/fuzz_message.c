/* Fuzz target: the message decoder (larder/message.h). The input is taken as a frame: decoded
 * with arrays copied, then borrowed, then under a tight total bound; the frame header alone is
 * also asked for its length. Decoding must fail cleanly on anything, never crash, hang or
 * allocate beyond what the input justifies; a frame that decodes must re-encode to a frame
 * that decodes to an equal value.
 *
 * Built with libFuzzer under --enable-fuzz (CC=clang) as tests/fuzz/fuzz_message; the saved
 * corpus (tests/fuzz/corpus/message) replays in make check through replay.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <larder.h>

#include "tests/fuzz/fuzz.h"

static void round_trip(const lrd_value *v)
{
	void *buf;
	size_t len;
	lrd_value *again;
	FUZZ_CHECK(lrd_value_encode(v, NULL, &buf, &len) == LRD_OK, "%s", lrd_errmsg());
	FUZZ_CHECK(lrd_value_decode(buf, len, NULL, &again) == LRD_OK, "%s", lrd_errmsg());
	FUZZ_CHECK(lrd_value_equal(v, again), "re-encoded value differs");
	lrd_value_free(again);
	lrd_free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t flen;
	(void)lrd_value_encoded_size(data, size, &flen);
	/* copy into malloc'd memory so borrowed arrays see the alignment a real buffer has */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	lrd_value *v = NULL;
	if (lrd_value_decode(buf, size, NULL, &v) == LRD_OK) {
		round_trip(v);
		lrd_value_free(v);
	}
	lrd_decode_options o = {.flags = LRD_DECODE_BORROW};
	if (lrd_value_decode(buf, size, &o, &v) == LRD_OK)
		lrd_value_free(v);
	lrd_decode_options tight = {.max_total_bytes = 256, .max_depth = 8};
	if (lrd_value_decode(buf, size, &tight, &v) == LRD_OK)
		lrd_value_free(v);
	free(buf);
	return 0;
}
