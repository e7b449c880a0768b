/* The table of codecs compiled into liblarder, registered in this order on first use. */
#include "codecs/codec_internal.h"

extern const lrd_codec lrd__codec_blosc;

const lrd_codec *const lrd__builtin_codecs[] = {
    &lrd__codec_blosc,
};
const size_t lrd__builtin_codec_count = sizeof lrd__builtin_codecs / sizeof lrd__builtin_codecs[0];
