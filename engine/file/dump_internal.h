/* Shared by dump.c and the array writer: a logical stream being written — the whole-file
 * codec layer when cfg->whole is set, the meta-checksum channel, header and trailer. Not
 * installed. */
#ifndef LRD_ENGINE_DUMP_INTERNAL_H
#define LRD_ENGINE_DUMP_INTERNAL_H

#include "engine/file/file_internal.h"

typedef struct lrd__framew {
	lrd_stream *s;
	lrd__wrap *wrap;
	lrd__wr out;
	lrd__fwr f; /* write the root value through f.ch */
} lrd__framew;

/* Set up the layers and write the header. On failure fw is already cleaned up. */
int lrd__framew_begin(lrd__framew *fw, lrd_stream *s, const lrd__dumpcfg *cfg);
/* Write the trailer, end the codec stream, flush the stream. */
int lrd__framew_end(lrd__framew *fw);
void lrd__framew_destroy(lrd__framew *fw);

#endif
