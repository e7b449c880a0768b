#!/bin/sh
# tests/mpi/run.sh TEST_MPI: the "mpi" backend's tests under mpirun (`make check-mpi`).
#   - the conformance suite with 3 ranks and with 1 rank (each PASS/FAIL line of rank 0 counts)
#   - a task that kills its rank: the job must end within 60 s, non-zero, naming the rank
#   - a task stuck past its timeout: the map fails, the next map runs, and finalize aborts the
#     job with a message naming the rank
# Prints one line `mpi: N passed, M failed`; exit status 0 when M = 0.
set -u
prog=${1:?usage: run.sh path/to/test_mpi}
# run SECONDS ARGS...: mpirun as root and on fewer cores than ranks, ended after SECONDS
run() {
	t=$1
	shift
	timeout "$t" mpirun --allow-run-as-root --oversubscribe "$@"
}
export OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1" >&2; }

# suite NP: count rank 0's PASS/FAIL lines; the run itself must exit 0
suite() {
	run 300 -np "$1" "$prog" suite >"$tmp/out" 2>"$tmp/err"
	rc=$?
	p=$(grep -c '^PASS' "$tmp/out")
	f=$(grep -c '^FAIL' "$tmp/out")
	sed "s/^/[np $1] /" "$tmp/out" | grep -E '^\[np [0-9]+\] (PASS|FAIL)'
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ] || [ "$p" -eq 0 ]; then
		fail "suite with $1 rank(s) exited $rc"
		tail -20 "$tmp/err" >&2
	fi
}

suite 3
suite 1

# A task kills its rank (SIGKILL on input 5): mpirun must end the job, non-zero, naming it.
start=$(date +%s)
run 60 -np 3 "$prog" kill >"$tmp/out" 2>"$tmp/err"
rc=$?
took=$(($(date +%s) - start))
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q 'process rank [12] .*exited on signal 9' "$tmp/err" &&
	! grep -q 'the map returned' "$tmp/out"; then
	pass "a task that kills its rank ends the job (exit $rc, ${took}s): $(grep -o 'process rank [12] .*signal 9' "$tmp/err" | head -1)"
else
	fail "a task that kills its rank: exit $rc after ${took}s"
	cat "$tmp/out" "$tmp/err" >&2
fi

# A task stuck past its timeout: the map fails, the next runs, finalize aborts naming the rank.
start=$(date +%s)
run 60 -np 3 "$prog" stuck >"$tmp/out" 2>"$tmp/err"
rc=$?
took=$(($(date +%s) - start))
p=$(grep -c '^PASS' "$tmp/out")
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$p" -eq 2 ] && ! grep -q '^FAIL' "$tmp/out" &&
	grep -q 'rank [12] is still running task 0' "$tmp/err"; then
	pass "a rank stuck past its timeout is set aside, and finalize aborts the job naming it (exit $rc, ${took}s)"
else
	fail "a stuck rank: exit $rc after ${took}s, $p checks passed"
	cat "$tmp/out" "$tmp/err" >&2
fi

echo "mpi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
