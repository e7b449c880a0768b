/* Deliberately wrong codec plugins for tests/test_plugin.c, one per build flag:
 *   BAD_ABI      the plugin claims another ABI version            → LRD_EVERSION
 *   NO_SYMBOL    no entry symbol is exported                      → LRD_EPLUGIN
 *   CLASH        a valid codec plus one reusing blosc's id 7      → LRD_EEXIST, none registered
 *   BAD_VTABLE   a valid codec plus one without compress          → LRD_EINVAL, none registered
 *   GOOD         a valid user codec ("copy", id 201), for the search-path test
 * The "copy" codec stores bytes unchanged. */
#include <string.h>

#include <larder/codec.h>
#include <larder/error.h>

static const char *copy_version(void) { return "1"; }

static size_t copy_bound(size_t n, const lrd_codec_params *p) { return n; }

static int copy_run(const lrd_codec_params *p, const void *src, size_t n, void *dst, size_t cap,
                    size_t *out)
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

COPY_CODEC(good, "copy", 201, copy_run);
#if defined(CLASH)
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
