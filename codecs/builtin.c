/* The table of codecs compiled into liblarder, registered in this order on first use. */
#include "codecs/codec_internal.h"

const lrd_codec *const lrd__builtin_codecs[] = {
	NULL, /* keeps the array non-empty while there are no entries */
};
const size_t lrd__builtin_codec_count = 0;
