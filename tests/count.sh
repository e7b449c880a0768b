#!/bin/sh
# tests/count.sh [--sum] TEST...: the results of the named tests, from the .log/.trs files that
# automake's test driver left beside them (run from the build directory). The one home of this
# count: ./quickstart test and .ci/run both call it, with the names `make -s list-tests` and
# `make -s list-long-tests` print.
#
# - A Criterion program counts as its own tests: "[SKIP]" lines (logged at
#   CRITERION_VERBOSITY_LEVEL=1, see Makefile.am) are skipped tests, the last "Synthesis" line
#   gives passed and failed (failing + crashing). A program that exited non-zero although its
#   synthesis shows no failure (a leak report at exit, a crash after the tests) is one more
#   failure.
# - A script whose log ends its counting with a line `NAME: N passed, M failed`
#   (tests/mpi/run.sh) counts as those N + M cases (one more failure if it exited non-zero
#   with M = 0).
# - Any other test (a script, a fuzz corpus replay) or a Criterion program that died before its
#   synthesis counts as one test, by its .trs result: PASS, SKIP, or anything else a failure.
# - A test with no .trs was not run (it failed to build, or its tier stopped early): a failure.
#
# Prints one line, `tests: N passed, M failed`, and names on stderr every program with a
# failed, missing or skipped test. With --sum prints `N M K` (K skipped) instead, for a caller
# that adds up several passes. Exit status 0 when M = 0, else 1.
set -u
sum=0
if [ "${1:-}" = --sum ]; then
	sum=1
	shift
fi

passed=0 failed=0 skipped=0
field() { # field NAME LINE: the number after "NAME: " in a Criterion synthesis line
	printf '%s\n' "$2" | sed -n "s/.*$1: \([0-9]*\).*/\1/p"
}
for t in "$@"; do
	base=$t
	# automake names a test's log after the test without a TEST_EXTENSIONS suffix, so
	# tests/headers.sh logs to tests/headers.sh.log; the long tier's loop does the same
	[ -f "$base.trs" ] || base=${t%.*}
	if [ ! -f "$base.trs" ]; then
		echo "count: $t: not run (no $t.trs)" >&2
		failed=$((failed + 1))
		continue
	fi
	result=$(sed -n 's/^:test-result: //p' "$base.trs" | head -n 1)
	synthesis=$(grep -a 'Synthesis: Tested:' "$base.log" 2>/dev/null | tail -n 1 |
		sed 's/\x1b\[[0-9;]*m//g')
	if [ -n "$synthesis" ]; then
		p=$(field Passing "$synthesis") f=$(field Failing "$synthesis")
		c=$(field Crashing "$synthesis")
		s=$(grep -ac '^\[SKIP\]' "$base.log")
		passed=$((passed + ${p:-0})) skipped=$((skipped + s))
		[ "$s" -eq 0 ] || echo "count: $t: $s skipped (see $base.log)" >&2
		failed=$((failed + ${f:-0} + ${c:-0}))
		if [ $((${f:-0} + ${c:-0})) -gt 0 ]; then
			echo "count: $t: $((${f:-0} + ${c:-0})) failed (see $base.log)" >&2
		elif [ "$result" != PASS ]; then
			echo "count: $t: $result after its tests passed (see $base.log)" >&2
			failed=$((failed + 1))
		fi
	elif summary=$(grep -a -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed$' "$base.log" 2>/dev/null |
		tail -n 1) && [ -n "$summary" ]; then
		# a script that counts its own cases (tests/mpi/run.sh: `mpi: N passed, M failed`)
		p=$(printf '%s\n' "$summary" | sed 's/^[a-z-]*: \([0-9]*\) passed.*/\1/')
		f=$(printf '%s\n' "$summary" | sed 's/.* \([0-9]*\) failed$/\1/')
		passed=$((passed + p)) failed=$((failed + f))
		[ "$f" -eq 0 ] || echo "count: $t: $f failed (see $base.log)" >&2
		if [ "$f" -eq 0 ] && [ "$result" != PASS ]; then
			echo "count: $t: $result after its cases passed (see $base.log)" >&2
			failed=$((failed + 1))
		fi
	else
		case $result in
		PASS) passed=$((passed + 1)) ;;
		SKIP)
			echo "count: $t: skipped (see $base.log)" >&2
			skipped=$((skipped + 1))
			;;
		*)
			echo "count: $t: ${result:-no result} (see $base.log)" >&2
			failed=$((failed + 1))
			;;
		esac
	fi
done

if [ "$sum" = 1 ]; then
	echo "$passed $failed $skipped"
else
	echo "tests: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
