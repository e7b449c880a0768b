/* liblarder-mpi's internals: message tags and the framed-value transport (mpi_wire.c). */
#ifndef LARDER_MPI_INTERNAL_H
#define LARDER_MPI_INTERNAL_H

#include <mpi.h>
#include <stddef.h>

#include <larder/error.h>
#include <larder/message.h>
#include <larder/mpi.h>
#include <larder/parallel.h>
#include <larder/value.h>

enum {
	LRD__MPI_BATCH = 101,  /* 0 -> worker: batch header, then `count` input frames */
	LRD__MPI_DOWN = 102,   /* 0 -> worker: pieces of an input frame */
	LRD__MPI_CANCEL = 103, /* 0 -> worker: stop batch `id` before its next task */
	LRD__MPI_STOP = 104,   /* 0 -> worker: leave lrd_mpi_serve() */
	LRD__MPI_RESULT = 105, /* worker -> 0: result header, then `done` output frames */
	LRD__MPI_UP = 106,     /* worker -> 0: pieces of an output frame */
	LRD__MPI_PROG = 107,   /* worker -> 0: {batch id, item} before each task (with a timeout) */
};

/* Monotonic seconds. */
double lrd__mpi_now(void);

/* Wait for a message from src with tag (MPI_ANY_* allowed) polling with a growing sleep, so
 * that idle ranks leave the cores to the working ones. Returns 1 with *st set, or 0 at
 * `deadline` (lrd__mpi_now() seconds; < 0: none). */
int lrd__mpi_wait(int src, int tag, double deadline, MPI_Status *st);

/* Values going to one rank: small frames are packed together into pieces of at most
 * LRD_MPI_PIECE bytes (a frame never straddles two pieces); a larger frame is flushed and sent
 * alone, in pieces, the first starting with it; an empty piece means "no value" (NULL, or a
 * value that failed to encode). lrd__mpi_out_flush() sends what is packed. */
typedef struct lrd__mpi_out {
	int dest, tag;
	char *pack;
	size_t len, cap;
} lrd__mpi_out;

void lrd__mpi_out_init(lrd__mpi_out *o, int dest, int tag);
/* Errors: those of lrd_value_encode (an empty piece was sent in its place), LRD_EIO. */
int lrd__mpi_out_value(lrd__mpi_out *o, const lrd_value *v);
int lrd__mpi_out_flush(lrd__mpi_out *o);
void lrd__mpi_out_done(lrd__mpi_out *o);

/* Values coming from one rank, as lrd__mpi_out sent them. *out is NULL for "no value". A
 * frame that fails to decode is consumed all the same. */
typedef struct lrd__mpi_in {
	int src, tag;
	char *piece;
	size_t cap, pos, avail;
} lrd__mpi_in;

void lrd__mpi_in_init(lrd__mpi_in *in, int src, int tag);
int lrd__mpi_in_value(lrd__mpi_in *in, lrd_value **out);
void lrd__mpi_in_done(lrd__mpi_in *in);

#endif
