/* Fuzz target for the codec layer's decoders. The first byte picks a codec by on-disk id (an
 * id no codec has means "whatever lrd_codec_sniff finds"), so saved inputs keep their meaning
 * as codecs are added; the rest is the compressed input. It goes to lrd_codec_sniff, to
 * lrd_codec_decompress_alloc with a 16 MiB cap, to one-shot decompression into a 4 KiB buffer
 * and to a streaming decode with tiny buffers, and the three decoders must agree with each
 * other: same bytes when one succeeds, the buffer-size error exactly when output exceeds 4 KiB,
 * and only the documented error codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <larder.h>

#include "tests/fuzz/fuzz.h"

#define ALLOC_CAP  ((size_t)16 << 20)
#define SMALL_CAP  ((size_t)4 << 10)
#define STREAM_CAP ((size_t)256 << 10) /* tiny-buffer decoding stops after this much output */

static int bad_input_code(int rc)
{
	return rc == LRD_ECORRUPT || rc == LRD_ELIMIT || rc == LRD_EBUFSIZE;
}

/* Streaming decode offering in_step input and out_step output bytes per call. Returns the
 * final code (LRD_OK when the stream ended) and the first min(output, STREAM_CAP) bytes. */
static int stream_decode(const lrd_codec *c, const uint8_t *src, size_t n, size_t in_step,
                         size_t out_step, uint8_t *out, size_t *outlen, int *capped)
{
	lrd_codec_stream *s;
	int rc = lrd_codec_stream_new(c, NULL, LRD_CODEC_DECODE, &s);
	FUZZ_CHECK(rc == LRD_OK, "%s: stream_new: %s", c->name, lrd_errmsg());
	uint8_t tmp[8];
	lrd_codec_io io = {src, 0, 0, tmp, out_step, 0};
	*outlen = 0;
	*capped = 0;
	for (;;) {
		io.src_size = n - io.src_pos < in_step ? n : io.src_pos + in_step;
		int finish = io.src_size == n;
		size_t in0 = io.src_pos;
		io.dst_pos = 0;
		rc = lrd_codec_stream_step(s, &io, finish);
		if (rc < 0)
			break;
		if (*outlen + io.dst_pos > STREAM_CAP) {
			*capped = 1;
			rc = LRD_OK;
			break;
		}
		memcpy(out + *outlen, tmp, io.dst_pos);
		*outlen += io.dst_pos;
		if (rc == 1 && finish && io.src_pos == n) {
			rc = LRD_OK;
			break;
		}
		FUZZ_CHECK(io.src_pos != in0 || io.dst_pos != 0 || !finish, "%s: stream stalled",
		           c->name);
	}
	lrd_codec_stream_free(s);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const lrd_codec *picked = lrd_codec_by_id(data[0]);
	data++;
	size--;
	const lrd_codec *sniffed = lrd_codec_sniff(data, size);
	const lrd_codec *c = picked ? picked : sniffed;
	if (!c)
		return 0;

	void *all = NULL;
	size_t all_len = 0;
	int rc_all = lrd_codec_decompress_alloc(c, NULL, data, size, ALLOC_CAP, &all, &all_len);
	bool streams = c->flags & LRD_CODEC_STREAM;
	FUZZ_CHECK(bad_input_code(rc_all) || rc_all == LRD_OK ||
	               (!streams && rc_all == LRD_EUNSUPPORTED),
	           "%s: decompress_alloc gave %s: %s", c->name, lrd_errname(rc_all), lrd_errmsg());
	FUZZ_CHECK(rc_all != LRD_OK || all_len <= ALLOC_CAP, "%s: %zu bytes over the cap", c->name,
	           all_len);

	uint8_t *small = malloc(SMALL_CAP);
	size_t small_len = 0;
	int rc_small = lrd_codec_decompress(c, NULL, data, size, small, SMALL_CAP, &small_len);
	FUZZ_CHECK(bad_input_code(rc_small) || rc_small == LRD_OK, "%s: decompress gave %s: %s",
	           c->name, lrd_errname(rc_small), lrd_errmsg());
	if (rc_all == LRD_OK) {
		bool fits = all_len <= SMALL_CAP;
		FUZZ_CHECK(fits ? rc_small == LRD_OK : rc_small == LRD_EBUFSIZE,
		           "%s: %zu bytes decoded, one-shot into %zu gave %s", c->name, all_len,
		           SMALL_CAP, lrd_errname(rc_small));
		FUZZ_CHECK(!fits || (small_len == all_len && memcmp(small, all, all_len) == 0),
		           "%s: one-shot and decompress_alloc differ", c->name);
	}
	if (rc_small == LRD_OK && streams)
		FUZZ_CHECK(rc_all == LRD_OK,
		           "%s: one-shot accepted what decompress_alloc refused (%s)", c->name,
		           lrd_errname(rc_all));

	if (streams) {
		uint8_t *out = malloc(STREAM_CAP);
		size_t out_len;
		int capped;
		size_t in_step = 1 + size % 7, out_step = 1 + (size / 7) % 8;
		int rc = stream_decode(c, data, size, in_step, out_step, out, &out_len, &capped);
		FUZZ_CHECK(bad_input_code(rc) || rc == LRD_OK, "%s: stream gave %s: %s", c->name,
		           lrd_errname(rc), lrd_errmsg());
		if (rc_all == LRD_OK) {
			size_t cmp = all_len < out_len ? all_len : out_len;
			FUZZ_CHECK(memcmp(out, all, cmp) == 0, "%s: streaming output differs",
			           c->name);
			FUZZ_CHECK(capped || (rc == LRD_OK && out_len == all_len),
			           "%s: whole decode gave %zu bytes, streaming %s after %zu",
			           c->name, all_len, lrd_errname(rc), out_len);
		} else if (rc_all == LRD_ECORRUPT && !capped) {
			FUZZ_CHECK(rc == LRD_ECORRUPT,
			           "%s: corrupt for decompress_alloc, %s streaming", c->name,
			           lrd_errname(rc));
		}
		free(out);
	}
	free(small);
	lrd_free(all);
	return 0;
}
