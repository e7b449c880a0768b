#!/bin/sh
# bench/mpi_bench.sh [BUILDDIR]: bench/mpi_bench with 1, 2 and 3 ranks (figures in BENCHMARKS.md).
b=${1:-.}/bench/mpi_bench
for np in 1 2 3; do
	OMPI_MCA_mpi_warn_on_fork=0 mpirun --allow-run-as-root --oversubscribe -np "$np" "$b" | grep ranks=
done
