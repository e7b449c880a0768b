/* The table of codecs compiled into liblarder, registered in this order on first use. */
#include "codecs/codec_internal.h"
#include "codecs/stream_codec.h"

extern const lrd_codec lrd__codec_blosc;

const lrd_codec *const lrd__builtin_codecs[] = {
    &lrd__codec_zlib, &lrd__codec_gzip, &lrd__codec_bz2,   &lrd__codec_xz,
    &lrd__codec_lzma, &lrd__codec_lz4,  &lrd__codec_blosc,
};
const size_t lrd__builtin_codec_count = sizeof lrd__builtin_codecs / sizeof *lrd__builtin_codecs;
