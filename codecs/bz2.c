/* bz2 (.bz2): bzip2 streams over libbz2, starting "BZh" + the block-size digit.
 *
 * A state is one bzip2 stream; the stream wrapper in codec.c restarts it for concatenated
 * streams, as `bzip2 -d` accepts them. libbz2 allocates through lrd__malloc so fault
 * injection reaches it. The only shared state is the version string, set once. */
#include <bzlib.h>
#include <pthread.h>
#include <string.h>

#include "codecs/stream_codec.h"

struct bzstate {
	bz_stream z;
	lrd_codec_mode mode;
	bool done;
};

static char version[32];
static pthread_once_t version_once = PTHREAD_ONCE_INIT;

static void set_version(void)
{
	/* "1.0.8, 13-Jul-2019": keep the number only. */
	const char *v = BZ2_bzlibVersion();
	size_t n = strcspn(v, ", ");
	if (n >= sizeof version)
		n = sizeof version - 1;
	memcpy(version, v, n);
}

static const char *bz2_version(void)
{
	pthread_once(&version_once, set_version);
	return version;
}

static int bz2_sniff(const void *head, size_t n)
{
	const unsigned char *b = head;
	return n >= 4 && b[0] == 'B' && b[1] == 'Z' && b[2] == 'h' && b[3] >= '1' && b[3] <= '9';
}

/* libbz2's documented worst case: 1% larger than the input plus 600 bytes. */
static size_t bz2_bound(size_t n, const lrd_codec_params *p)
{
	return n > LRD__BOUND_MAX ? 0 : n + n / 100 + 600;
}

static const char *bzname(int r)
{
	switch (r) {
	case BZ_SEQUENCE_ERROR:
		return "BZ_SEQUENCE_ERROR";
	case BZ_PARAM_ERROR:
		return "BZ_PARAM_ERROR";
	case BZ_MEM_ERROR:
		return "BZ_MEM_ERROR";
	case BZ_DATA_ERROR:
		return "BZ_DATA_ERROR";
	case BZ_DATA_ERROR_MAGIC:
		return "BZ_DATA_ERROR_MAGIC";
	case BZ_CONFIG_ERROR:
		return "BZ_CONFIG_ERROR";
	default:
		return "unknown error";
	}
}

static int bzerr(int r)
{
	if (r == BZ_MEM_ERROR)
		return lrd__err(LRD_ENOMEM, "bz2: out of memory (libbz2: %s)", bzname(r));
	if (r == BZ_DATA_ERROR || r == BZ_DATA_ERROR_MAGIC)
		return lrd__err(LRD_ECORRUPT, "bz2: corrupt stream (libbz2: %s)", bzname(r));
	return lrd__err(LRD_ECODEC, "bz2: libbz2 error %d (%s)", r, bzname(r));
}

static void *bz_alloc(void *opaque, int items, int size)
{
	return items < 0 || size < 0 ? NULL
	                             : lrd__native_alloc(opaque, (unsigned)items, (unsigned)size);
}

static int bz2_new(const lrd_codec_params *p, lrd_codec_mode mode, void **state)
{
	struct bzstate *s = lrd__calloc(1, sizeof *s);
	if (!s)
		return LRD_ENOMEM;
	s->z.bzalloc = bz_alloc;
	s->z.bzfree = lrd__native_free;
	s->mode = mode;
	int r = mode == LRD_CODEC_ENCODE ? BZ2_bzCompressInit(&s->z, p->level, 0, 0)
	                                 : BZ2_bzDecompressInit(&s->z, 0, 0);
	if (r != BZ_OK) {
		lrd__free(s);
		return bzerr(r);
	}
	*state = s;
	return LRD_OK;
}

static int bz2_step(void *state, lrd_codec_io *io, int finish)
{
	struct bzstate *s = state;
	bool enc = s->mode == LRD_CODEC_ENCODE;
	if (s->done)
		return 1;
	for (;;) {
		unsigned in = lrd__clamp_uint(io->src_size - io->src_pos);
		unsigned room = lrd__clamp_uint(io->dst_size - io->dst_pos);
		bool last = finish && in == io->src_size - io->src_pos;
		/* BZ_RUN without progress is an error in libbz2, not a no-op */
		if (enc && (room == 0 || (!last && in == 0)))
			return 0;
		s->z.next_in = (char *)lrd__io_in(io);
		s->z.avail_in = in;
		s->z.next_out = lrd__io_out(io);
		s->z.avail_out = room;
		int r = enc ? BZ2_bzCompress(&s->z, last ? BZ_FINISH : BZ_RUN)
		            : BZ2_bzDecompress(&s->z);
		io->src_pos += in - s->z.avail_in;
		io->dst_pos += room - s->z.avail_out;
		if (r == BZ_STREAM_END) {
			s->done = true;
			return 1;
		}
		if (r != BZ_OK && r != BZ_RUN_OK && r != BZ_FINISH_OK)
			return bzerr(r);
		if (io->dst_pos == io->dst_size ||
		    (io->src_pos == io->src_size && !(enc && finish)))
			return 0;
		if (!enc && s->z.avail_in == in && s->z.avail_out == room)
			return 0;
	}
}

static void bz2_free(void *state)
{
	struct bzstate *s = state;
	if (!s)
		return;
	if (s->mode == LRD_CODEC_ENCODE)
		BZ2_bzCompressEnd(&s->z);
	else
		BZ2_bzDecompressEnd(&s->z);
	lrd__free(s);
}

/* cppcheck-suppress unknownMacro ; defined in codecs/stream_codec.h, which a run without -I .
 * cannot see */
LRD__STREAM_ONESHOT(bz2, lrd__codec_bz2)

static const char *const bz2_ext[] = {".bz2", NULL};

const lrd_codec lrd__codec_bz2 = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "bz2",
    .id = LRD_CODEC_ID_BZ2,
    .flags = LRD_CODEC_STREAM | LRD_CODEC_CHUNK,
    .extensions = bz2_ext,
    .min_level = 1,
    .max_level = 9,
    .default_level = 9,
    .magic_size = 4,
    .version = bz2_version,
    .sniff = bz2_sniff,
    .bound = bz2_bound,
    .compress = bz2_compress,
    .decompress = bz2_decompress,
    .stream_new = bz2_new,
    .stream_step = bz2_step,
    .stream_free = bz2_free,
};
