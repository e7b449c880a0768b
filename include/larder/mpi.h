/* larder — the parallel executor on Open MPI (liblarder-mpi, pkg-config module larder-mpi).
 *
 * Built only when larder is configured --with-mpi; a program that uses it links liblarder-mpi
 * (and through it MPI), plain users of liblarder never do. This header needs no MPI header.
 *
 * A program runs under `mpirun -np N` (N >= 1), the same program on every rank:
 *
 *     int rank;
 *     lrd_task_register("square", square);           // every rank, before any map
 *     if (lrd_mpi_init(&argc, &argv, &rank)) return 1;
 *     if (rank == 0) {
 *             lrd_parallel_options o = {.backend = "mpi"};
 *             rc = lrd_parallel_map(&o, "square", NULL, inputs, n, outputs);
 *     } else {
 *             lrd_mpi_serve(NULL);                   // work until rank 0 finalizes
 *     }
 *     lrd_mpi_finalize();
 *
 * Rank 0 runs the map and dispatches batches; ranks 1..N-1 run them. Tasks travel by their
 * registered name (so every rank registers the same names, and loads the same codec plugins);
 * inputs and results travel as encoded values (larder/message.h), each frame in pieces of at
 * most LRD_MPI_PIECE bytes, so no MPI message is ever larger than that. With one rank, on a rank
 * other than 0, or inside a task (a map nested with LRD_PARALLEL_NESTED) the "mpi" backend
 * runs batches sequentially in the calling thread.
 *
 * Load balancing is dynamic: each worker rank holds one batch at a time and gets the next one
 * when it returns one. Batch sizes are those of the executor (auto batching on the workers'
 * measured times); n_jobs does not choose the number of ranks: it is always N - 1 (1 with one
 * rank). Maps on "mpi" are serialized: one at a time per process, whatever the thread.
 *
 * What differs from the in-process backends:
 *  - `ctx` of lrd_parallel_map() stays on rank 0: tasks on worker ranks get the ctx given to
 *    lrd_mpi_serve(). Put what a task needs in its inputs.
 *  - lrd_parallel_canceled() is false in tasks on worker ranks; a map that fails is canceled
 *    between tasks (a worker stops before its next task).
 *  - Timeouts: a task that returns after `timeout` fails with LRD_ETIMEOUT. A task that does
 *    not return within timeout + max(1 s, timeout / 10) fails the map with LRD_ETIMEOUT as
 *    well, but its rank cannot be stopped or replaced: rank 0 stops giving it work (the error
 *    message says so) until it returns. If it is still running at lrd_mpi_finalize(), the job
 *    is aborted (MPI_Abort, exit status 1) with a message naming the rank.
 *  - A rank that dies (a signal, exit without lrd_mpi_finalize) ends the whole job: mpirun
 *    kills the other ranks and prints which rank died and how; the exit status is non-zero.
 *  - Stores are one machine's (an LMDB file, see larder/store.h): open them on rank 0 and write
 *    the map's results there; the `store` and `max_nbytes` options of the executor are ignored
 *    by this backend (payloads always travel as messages). A memo (the `memo` option) lives in
 *    rank 0's store too: its hits are served on rank 0 and never dispatched.
 *
 * Threading: lrd_mpi_init() asks MPI for MPI_THREAD_SERIALIZED; call init, serve and finalize
 * from one thread. */
#ifndef LARDER_MPI_H
#define LARDER_MPI_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest MPI message the backend sends, in bytes (4 MiB). */
#define LRD_MPI_PIECE ((size_t)4 << 20)

/** Initialise MPI if it is not initialised yet (MPI_Init_thread with MPI_THREAD_SERIALIZED;
 * argc/argv as for MPI_Init, both may be NULL), register the backend "mpi", and give this
 * process's rank in *rank (may be NULL). Calling it again is a no-op that gives the rank.
 * Errors: LRD_EIO (MPI failed to initialise, or gives less than MPI_THREAD_SERIALIZED support
 * while the caller initialised it), LRD_EEXIST (another backend is registered as "mpi"). */
LRD_API int lrd_mpi_init(int *argc, char ***argv, int *rank);

/** On a rank other than 0: run the batches rank 0 sends, until rank 0 calls
 * lrd_mpi_finalize(); `ctx` is given to every task. On rank 0 it returns at once.
 * Errors: LRD_EINVAL (lrd_mpi_init() not called), LRD_EIO (an MPI call failed). */
LRD_API int lrd_mpi_serve(void *ctx);

/** Rank 0: tell every worker rank to stop, then MPI_Finalize (if lrd_mpi_init() initialised
 * MPI). If a worker rank is still running a task that timed out, print on stderr which one and
 * MPI_Abort the job (exit status 1) instead. Other ranks: MPI_Finalize. No-op before
 * lrd_mpi_init() and after the first call. Errors: LRD_EIO (an MPI call failed). */
LRD_API int lrd_mpi_finalize(void);

/** The number of ranks (MPI_COMM_WORLD's size), or 0 before lrd_mpi_init(). */
LRD_API int lrd_mpi_size(void);

#ifdef __cplusplus
}
#endif
#endif
