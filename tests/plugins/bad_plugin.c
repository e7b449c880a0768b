/* Deliberately wrong codec plugins for tests/test_plugin.c, one per build flag:
 *   BAD_ABI      the plugin claims another ABI version            → LRD_EVERSION
 *   NO_SYMBOL    no entry symbol is exported                      → LRD_EPLUGIN
 *   CLASH        a valid codec plus one reusing blosc's id 7      → LRD_EEXIST, none registered
 *   BAD_VTABLE   a valid codec plus one without compress          → LRD_EINVAL, none registered
 *   GOOD         a valid user codec ("copy", id 201), for the search-path test
 *   NULL_VERSION a codec whose version() returns NULL ("nullver", id 203) → LRD_EINVAL
 *   RLE          a valid codec that really compresses ("rle", id 204: runs of a byte as
 *                (count, byte) pairs), so that chunks written with it are stored with it and
 *                a larder without the plugin meets a codec it does not have
 * The "copy" codec stores bytes unchanged. */
#include <stdint.h>
#include <string.h>

#include <larder/codec.h>
#include <larder/error.h>

/* the NULL_VERSION and RLE builds do not use all of the copy codec's functions */
#define TP_UNUSED __attribute__((unused))

TP_UNUSED static const char *copy_version(void) { return "1"; }

TP_UNUSED static size_t copy_bound(size_t n, const lrd_codec_params *p) { return n; }

TP_UNUSED static int copy_run(const lrd_codec_params *p, const void *src, size_t n, void *dst,
                              size_t cap, size_t *out)
{
	if (n > cap)
		return lrd_error_set(LRD_EBUFSIZE, "copy: %zu bytes into %zu", n, cap);
	if (n)
		memcpy(dst, src, n);
	*out = n;
	return LRD_OK;
}

#define COPY_CODEC(var, cname, cid, compress_fn)                                                   \
	static const lrd_codec var = {                                                             \
	    .abi = LRD_CODEC_ABI_VERSION,                                                          \
	    .name = cname,                                                                         \
	    .id = cid,                                                                             \
	    .flags = LRD_CODEC_CHUNK,                                                              \
	    .min_level = 0,                                                                        \
	    .max_level = 0,                                                                        \
	    .default_level = 0,                                                                    \
	    .version = copy_version,                                                               \
	    .bound = copy_bound,                                                                   \
	    .compress = compress_fn,                                                               \
	    .decompress = copy_run,                                                                \
	}

#if defined(NULL_VERSION)
static const char *no_version(void) { return NULL; }
static const lrd_codec nullver = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "nullver",
    .id = 203,
    .flags = LRD_CODEC_CHUNK,
    .version = no_version,
    .bound = copy_bound,
    .compress = copy_run,
    .decompress = copy_run,
};
static const lrd_codec *const codecs[] = {&nullver};
#elif defined(RLE)
static size_t rle_bound(size_t n, const lrd_codec_params *p)
{
	return n <= SIZE_MAX / 2 ? 2 * n : 0;
}

static int rle_compress(const lrd_codec_params *p, const void *src, size_t n, void *dst, size_t cap,
                        size_t *out)
{
	const unsigned char *s = src;
	unsigned char *d = dst;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t run = 1;
		while (i + run < n && run < 255 && s[i + run] == s[i])
			run++;
		if (o + 2 > cap)
			return lrd_error_set(LRD_EBUFSIZE, "rle: output full");
		d[o++] = (unsigned char)run;
		d[o++] = s[i];
		i += run;
	}
	*out = o;
	return LRD_OK;
}

static int rle_decompress(const lrd_codec_params *p, const void *src, size_t n, void *dst,
                          size_t cap, size_t *out)
{
	const unsigned char *s = src;
	unsigned char *d = dst;
	size_t o = 0;
	if (n % 2)
		return lrd_error_set(LRD_ECORRUPT, "rle: odd input length");
	for (size_t i = 0; i < n; i += 2) {
		if (s[i] == 0 || o + s[i] > cap)
			return lrd_error_set(LRD_ECORRUPT, "rle: bad run");
		memset(d + o, s[i + 1], s[i]);
		o += s[i];
	}
	*out = o;
	return LRD_OK;
}

static const lrd_codec rle = {
    .abi = LRD_CODEC_ABI_VERSION,
    .name = "rle",
    .id = 204,
    .flags = LRD_CODEC_CHUNK,
    .version = copy_version,
    .bound = rle_bound,
    .compress = rle_compress,
    .decompress = rle_decompress,
};
static const lrd_codec *const codecs[] = {&rle};
#else
COPY_CODEC(good, "copy", 201, copy_run);
#endif
#if defined(NULL_VERSION) || defined(RLE)
#elif defined(CLASH)
COPY_CODEC(clash, "fake-blosc", 7, copy_run);
static const lrd_codec *const codecs[] = {&good, &clash};
#elif defined(BAD_VTABLE)
COPY_CODEC(broken, "broken", 202, NULL);
static const lrd_codec *const codecs[] = {&good, &broken};
#else
static const lrd_codec *const codecs[] = {&good};
#endif

static const lrd_codec_plugin plugin = {
#if defined(BAD_ABI)
    .abi = LRD_CODEC_ABI_VERSION + 1000,
#else
    .abi = LRD_CODEC_ABI_VERSION,
#endif
    .name = "test",
    .count = sizeof codecs / sizeof codecs[0],
    .codecs = codecs,
};

#if defined(NO_SYMBOL)
LRD_API const lrd_codec_plugin *not_the_entry_symbol(void);
LRD_API const lrd_codec_plugin *not_the_entry_symbol(void) { return &plugin; }
#else
LRD_API const lrd_codec_plugin *larder_codec_plugin(void);
LRD_API const lrd_codec_plugin *larder_codec_plugin(void) { return &plugin; }
#endif
