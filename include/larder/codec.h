/* larder — codecs: the registry of compressors and the vtable every codec implements.
 *
 * A codec has a stable name ("gzip"), a one-byte on-disk id (never reused; 0 means "raw"),
 * file extensions, a magic-byte sniffer, one-shot compress/decompress with a bound function,
 * and optionally a streaming form used to wrap whole files of any length in bounded memory.
 *
 * Built in: zlib (.z), gzip (.gz), bz2 (.bz2), xz (.xz), lzma (.lzma, lzma-alone), lz4 (.lz4,
 * frame format), blosc (chunk codec only). zstd (.zst) ships as a dlopen plugin. Plugins are
 * shared objects named `larder-codec-*.so` that export LRD_CODEC_PLUGIN_SYMBOL; they are loaded
 * on first use of the registry from, in order: every directory in $LARDER_PLUGIN_PATH
 * (colon-separated), the build tree's plugin directory when the running program lives in the
 * build tree, and the installed plugin directory. Within a directory files load in name order;
 * a file name already loaded from an earlier directory is skipped (like $PATH), and a plugin
 * that is refused registers none of its codecs (see lrd_codec_load_plugin).
 *
 * Threading: every function here is thread-safe. Codec pointers returned by lookups are valid
 * for the life of the process. A lrd_codec_stream is used by one thread at a time. */
#ifndef LARDER_CODEC_H
#define LARDER_CODEC_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the lrd_codec vtable layout; a plugin built against another value is refused. */
#define LRD_CODEC_ABI_VERSION 1u
/** On-disk id meaning "stored without compression". No codec may use it. */
#define LRD_CODEC_ID_RAW 0u
/** Ids 200..254 are for users' own codecs and never used by larder; 255 is reserved. */
#define LRD_CODEC_ID_USER_MIN 200u

/* Stable on-disk ids of the codecs larder ships. */
#define LRD_CODEC_ID_ZLIB  1u
#define LRD_CODEC_ID_GZIP  2u
#define LRD_CODEC_ID_BZ2   3u
#define LRD_CODEC_ID_XZ    4u
#define LRD_CODEC_ID_LZMA  5u
#define LRD_CODEC_ID_LZ4   6u
#define LRD_CODEC_ID_BLOSC 7u
#define LRD_CODEC_ID_ZSTD  8u

/* Levels of the built-in stream codecs, [min_level, max_level] and default (joblib's):
 * zlib, gzip 0..9, 3 (0 stores); bz2 1..9, 9 (block size in 100 kB); xz, lzma 0..9, 6 (xz
 * presets); lz4 -65536..12, 0 (negative: faster, acceleration 1 - level; 3..12: LZ4HC);
 * blosc 0..9, 5 (0 stores the bytes in blosc's frame). Level 0 itself is asked for with
 * LRD_CODEC_LEVEL_ZERO, since 0 in lrd_codec_params.level means the default. A level outside
 * a codec's range is refused (LRD_EINVAL, the message gives the range), never clamped.
 * Their streams are those of the standard tools: gzip members, zlib streams (RFC 1950), bzip2,
 * xz with a CRC64 check, lzma-alone with an end marker, LZ4 frames with a content checksum.
 * The xz and lzma decoders refuse streams that need more than 128 MiB of decoder memory
 * (LRD_ELIMIT), so a hostile header cannot choose an allocation size. */

/** lrd_codec_params.level asking for level 0 itself (a plain 0 there means the codec's
 * default): what the spec "NAME:0" gives (lrd_codec_parse). */
#define LRD_CODEC_LEVEL_ZERO (-2147483647 - 1)

/** Codec capability flags (lrd_codec.flags). */
enum lrd_codec_flags {
	LRD_CODEC_STREAM = 1u << 0, /**< has a streaming form: can wrap whole files */
	LRD_CODEC_CHUNK = 1u << 1,  /**< suited to per-chunk use (one-shot, random access) */
};

/** Byte shuffling before compression, for codecs that support it (blosc). */
typedef enum lrd_shuffle {
	LRD_SHUFFLE_DEFAULT = 0, /**< the codec's default: byte shuffle for blosc */
	LRD_SHUFFLE_NONE = 1,
	LRD_SHUFFLE_BYTE = 2,
	LRD_SHUFFLE_BIT = 3,
} lrd_shuffle;

/** Compression parameters: an options struct (CONVENTIONS.md). Zero in any field means that
 * field's default; use designated initializers: `lrd_codec_params p = {.level = 9};`. NULL
 * wherever a `const lrd_codec_params *` is taken means all defaults. Embedded by value in
 * lrd_dump_options, lrd_store_options and lrd_put_options.
 * ABI: the size never changes within a major version; new fields are carved out of `reserved`,
 * which must stay zero (functions taking params refuse nonzero reserved words: LRD_EINVAL). */
typedef struct lrd_codec_params {
	int level; /**< 0: the codec's default_level; LRD_CODEC_LEVEL_ZERO: level 0 itself; else
	                a level in [min_level, max_level] (others: LRD_EINVAL) */
	size_t typesize;      /**< element size in bytes for shuffling; 0: 1 */
	int threads;          /**< threads a codec may use (blosc); 0: 1 */
	lrd_shuffle shuffle;  /**< blosc shuffle; 0: byte shuffle */
	const char *inner;    /**< blosc's internal compressor: "lz4", "lz4hc", "zstd", "zlib",
	                           "blosclz"; NULL: "lz4". Whoever keeps params beyond
	                           a call (the store, an array writer) keeps a copy. */
	uint64_t reserved[8]; /**< must be zero */
} lrd_codec_params;

/** Buffers of one streaming step, like zstd's ZSTD_inBuffer/ZSTD_outBuffer pair: the step reads
 * from src + src_pos and writes to dst + dst_pos, advancing both positions. */
typedef struct lrd_codec_io {
	const void *src;
	size_t src_size;
	size_t src_pos;
	void *dst;
	size_t dst_size;
	size_t dst_pos;
} lrd_codec_io;

/** Direction of a stream. */
typedef enum lrd_codec_mode { LRD_CODEC_ENCODE = 1, LRD_CODEC_DECODE = 2 } lrd_codec_mode;

/** The codec vtable. Codecs are constant, statically allocated objects. Functions report
 * failure with a negative LRD_E* code and a message set through lrd_error_set(). */
typedef struct lrd_codec {
	uint32_t abi;                  /**< LRD_CODEC_ABI_VERSION */
	const char *name;              /**< stable name, lower case, [a-z0-9_-]+ */
	uint8_t id;                    /**< stable on-disk id, 1..254 */
	uint32_t flags;                /**< lrd_codec_flags */
	const char *const *extensions; /**< NULL-terminated list, with the dot: {".gz", NULL} */
	int min_level, max_level, default_level;
	size_t magic_size; /**< bytes sniff() needs to decide; 0 if it has no magic */

	/** Version of the library behind the codec ("1.2.13"); static storage, never NULL (a
	 * plugin whose codec returns NULL is refused). */
	const char *(*version)(void);
	/** 1 if `head` (n bytes, n >= magic_size or the whole input) starts a stream of this codec.
	 */
	int (*sniff)(const void *head, size_t n);
	/** Worst-case compressed size of n bytes; 0 if n is too large for the codec. */
	size_t (*bound)(size_t n, const lrd_codec_params *p);
	/** Compress src into dst (capacity cap); *out receives the compressed size.
	 * LRD_EBUFSIZE if cap is too small. p is never NULL here. */
	int (*compress)(const lrd_codec_params *p, const void *src, size_t n, void *dst, size_t cap,
	                size_t *out);
	/** Decompress one complete stream into dst (capacity cap); *out receives its size.
	 * LRD_EBUFSIZE if the output would exceed cap, LRD_ECORRUPT on bad or truncated input. */
	int (*decompress)(const lrd_codec_params *p, const void *src, size_t n, void *dst,
	                  size_t cap, size_t *out);
	/** Streaming form; all three NULL unless flags has LRD_CODEC_STREAM. */
	int (*stream_new)(const lrd_codec_params *p, lrd_codec_mode mode, void **state);
	/** One step: consume from io->src, produce into io->dst. `finish` means no input follows
	 * the current src. Returns 1 when the stream (or, decoding, one member/frame) has ended
	 * and all its output was written, 0 when more calls are needed, or a negative code. */
	int (*stream_step)(void *state, lrd_codec_io *io, int finish);
	void (*stream_free)(void *state);
} lrd_codec;

/** What a plugin's entry symbol returns. */
typedef struct lrd_codec_plugin {
	uint32_t abi;     /**< LRD_CODEC_ABI_VERSION the plugin was built with */
	const char *name; /**< plugin name, for messages */
	size_t count;     /**< number of codecs */
	const lrd_codec *const *codecs;
} lrd_codec_plugin;

/** The symbol every plugin exports: `const lrd_codec_plugin *larder_codec_plugin(void);` */
#define LRD_CODEC_PLUGIN_SYMBOL "larder_codec_plugin"
typedef const lrd_codec_plugin *(*lrd_codec_plugin_fn)(void);

/* ---- Registry ---------------------------------------------------------------------------- */

/** Find a codec by name ("gzip"); NULL if none. "raw"/"none" are not codecs: they give NULL. */
LRD_API const lrd_codec *lrd_codec_by_name(const char *name);
/** Find a codec by on-disk id; NULL if none (including LRD_CODEC_ID_RAW). */
LRD_API const lrd_codec *lrd_codec_by_id(unsigned id);
/** Find the codec for a file name by its last suffix ("model.lrd.gz" → gzip); NULL when the
 * last suffix names no codec ("x.lrd", "x.gz.bak"). Case-sensitive, like the tools. */
LRD_API const lrd_codec *lrd_codec_by_filename(const char *path);
/** Find the codec whose magic bytes start `head` (n bytes available); NULL if none matches. */
LRD_API const lrd_codec *lrd_codec_sniff(const void *head, size_t n);
/** Largest magic_size of any registered codec: how many bytes to read before sniffing. */
LRD_API size_t lrd_codec_magic_max(void);
/** The plugin file a codec was loaded from, or NULL for a built-in or lrd_codec_register()ed
 * codec. Static until exit. */
LRD_API const char *lrd_codec_origin(const lrd_codec *codec);
/** Number of registered codecs (built-ins and plugins, after the first use of the registry). */
LRD_API size_t lrd_codec_count(void);
/** The i-th registered codec in id order, for 0 <= i < lrd_codec_count(); NULL past the end.
 * The vtable is static, valid until exit. */
LRD_API const lrd_codec *lrd_codec_at(size_t i);

/** Register a codec at run time. The vtable must outlive the process (static storage).
 * Errors: LRD_EVERSION (abi differs), LRD_EINVAL (missing function, version() returning
 * NULL, id 0 or 255, bad name), LRD_EEXIST (name or id already taken). */
LRD_API int lrd_codec_register(const lrd_codec *codec);

/** Load one plugin file explicitly and register its codecs; `*count` (may be NULL) receives how
 * many. The file is opened with dlopen(RTLD_NOW | RTLD_LOCAL) after liblarder has made its own
 * symbols global (so plugins resolve lrd_error_set even in hosts that opened liblarder with
 * RTLD_LOCAL); its codecs are all validated and checked for clashes before any is registered,
 * so a refused plugin registers nothing and is closed again. An accepted plugin stays loaded
 * until exit; lrd_codec_origin() gives its path.
 * Errors: LRD_EINVAL (path NULL; a vtable invalid; the plugin offers no codec or more than 64),
 * LRD_EPLUGIN (no such file, dlopen failed, entry symbol missing or returning NULL),
 * LRD_EVERSION (plugin or codec ABI mismatch), LRD_EEXIST (a name, id or extension is taken),
 * LRD_ENOMEM. A plugin whose file (by realpath) was already loaded is not loaded again
 * (LRD_OK, *count = 0). Thread-safe: concurrent loads are serialised. */
LRD_API int lrd_codec_load_plugin(const char *path, size_t *count);

/** Plugins that the automatic scan refused: the i-th failure's file path, code and message
 * (static until exit). LRD_ENOTFOUND past the last. */
LRD_API int lrd_codec_plugin_failure(size_t i, const char **path, int *code, const char **msg);

/** Parse a codec spec, "NAME" or "NAME:LEVEL": the one syntax of every codec option (the CLI's
 * --codec and --chunk-codec; lrd_dump_options.codec and .chunk_codec, lrd_store_options.codec,
 * lrd_put_options.codec and lrd_memo_options.codec all take a spec). NAME is a registered
 * codec, or "raw"/"none" for no compression (*codec = NULL; a level is refused). LEVEL is a
 * decimal integer ([-]digits, nothing else) in the codec's [min_level, max_level]; "NAME:0" is
 * level 0 itself (*level = LRD_CODEC_LEVEL_ZERO); without LEVEL *level is 0 (the default).
 * need: lrd_codec_flags the codec must have (LRD_CODEC_STREAM for whole files,
 * LRD_CODEC_CHUNK for chunks; 0: any). Errors: LRD_EINVAL (NULL or empty argument, a level
 * that is not an integer, outside the range or given to raw), LRD_ECODEC (no codec of that
 * name — a plugin not loaded? —, or one without the flags in need). */
LRD_API int lrd_codec_parse(const char *spec, unsigned need, const lrd_codec **codec, int *level);

/* ---- Using a codec ------------------------------------------------------------------------ */

/** The level a call with p would use: p->level (p NULL or level 0: default_level;
 * LRD_CODEC_LEVEL_ZERO: 0), clamped to the codec's range for display (the compressing
 * functions refuse a level outside it). Not an error code: 0 for a NULL codec. */
LRD_API int lrd_codec_level(const lrd_codec *codec, const lrd_codec_params *p);
/** Worst-case compressed size of n bytes, for sizing the dst of lrd_codec_compress; 0 if n is
 * too large for the codec or codec is NULL. */
LRD_API size_t lrd_codec_bound(const lrd_codec *codec, size_t n, const lrd_codec_params *p);
/** One-shot compression into a caller-owned buffer. Errors: LRD_EINVAL (NULL codec or out, NULL
 * src or dst with a nonzero size, a level outside the codec's range), LRD_EBUFSIZE (output larger
 * than cap), LRD_ECODEC. */
LRD_API int lrd_codec_compress(const lrd_codec *codec, const lrd_codec_params *p, const void *src,
                               size_t n, void *dst, size_t cap, size_t *out);
/** One-shot decompression into a caller-owned buffer. Errors: LRD_EINVAL (as for compress),
 * LRD_EBUFSIZE (output larger than cap), LRD_ECORRUPT (bad, truncated or trailing-garbage
 * input), LRD_ELIMIT (the stream needs more decoder memory than the codec allows), LRD_ENOMEM,
 * LRD_ECODEC. */
LRD_API int lrd_codec_decompress(const lrd_codec *codec, const lrd_codec_params *p, const void *src,
                                 size_t n, void *dst, size_t cap, size_t *out);
/** Decompress a whole stream of unknown output size into memory that larder allocates, never
 * more than `limit` bytes (0: no limit beyond memory). On success *out is owned by the caller and
 * freed with lrd_free(). Errors: LRD_ELIMIT (output would exceed limit: a decompression bomb),
 * LRD_ECORRUPT, LRD_ENOMEM, LRD_EUNSUPPORTED (codec without a streaming form). */
LRD_API int lrd_codec_decompress_alloc(const lrd_codec *codec, const lrd_codec_params *p,
                                       const void *src, size_t n, size_t limit, void **out,
                                       size_t *outlen);

/** A streaming encoder or decoder over a codec's streaming form. A decoder accepts concatenated
 * members/frames, as the command-line tools do. */
typedef struct lrd_codec_stream lrd_codec_stream;

/** Create a stream. Errors: LRD_EINVAL (encoding at a level outside the codec's range),
 * LRD_EUNSUPPORTED (no streaming form), LRD_ENOMEM, LRD_ECODEC.
 * On success *out is freed with lrd_codec_stream_free(). */
LRD_API int lrd_codec_stream_new(const lrd_codec *codec, const lrd_codec_params *p,
                                 lrd_codec_mode mode, lrd_codec_stream **out);
/** One step; see lrd_codec.stream_step. Encoding: call with finish=1 until it returns 1.
 * Decoding: returns 1 once `finish` is set, all input is consumed and the last member ended;
 * input that ends inside a member with finish set gives LRD_ECORRUPT ("truncated").
 * io's buffers stay the caller's. Errors: LRD_EINVAL (NULL argument, a position beyond its
 * size), LRD_ECORRUPT (bad or truncated input), LRD_ELIMIT (decoder memory limit), LRD_ENOMEM,
 * LRD_ECODEC. */
LRD_API int lrd_codec_stream_step(lrd_codec_stream *s, lrd_codec_io *io, int finish);
/** Free a stream; NULL is ignored. */
LRD_API void lrd_codec_stream_free(lrd_codec_stream *s);

#ifdef __cplusplus
}
#endif
#endif
