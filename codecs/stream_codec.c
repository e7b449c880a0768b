/* Shared pieces of the built-in stream codecs; see stream_codec.h. Stateless. */
#include "codecs/stream_codec.h"

void *lrd__native_alloc(void *opaque, unsigned items, unsigned size)
{
	size_t n;
	if (!lrd__mul_ok(items, size, &n))
		return NULL;
	return lrd__malloc(n);
}

void lrd__native_free(void *opaque, void *p) { lrd__free(p); }

static unsigned char empty[1];

const void *lrd__io_in(const lrd_codec_io *io)
{
	return io->src ? (const unsigned char *)io->src + io->src_pos : empty;
}

void *lrd__io_out(lrd_codec_io *io)
{
	return io->dst ? (unsigned char *)io->dst + io->dst_pos : empty;
}
