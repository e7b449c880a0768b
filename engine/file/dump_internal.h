/* Shared by dump.c and the array writer: a logical stream being written — the whole-file
 * codec layer when cfg->whole is set, the meta-checksum channel, header and trailer. Not
 * installed. */
#ifndef LRD_ENGINE_DUMP_INTERNAL_H
#define LRD_ENGINE_DUMP_INTERNAL_H

#include "engine/file/file_internal.h"

typedef struct lrd__file_output {
	lrd_stream *s;
	lrd__wrap *wrap;
	lrd__writer out;
	lrd__file_writer f; /* write the root value through f.channel */
} lrd__file_output;

/* Set up the layers and write the header. On failure fw is already cleaned up. */
int lrd__file_output_begin(lrd__file_output *fw, lrd_stream *s, const lrd__dump_config *cfg);
/* Write the trailer, end the codec stream, flush the stream. */
int lrd__file_output_end(lrd__file_output *fw);
void lrd__file_output_destroy(lrd__file_output *fw);

#endif
