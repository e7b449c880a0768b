#!/bin/bash
# Store benchmark: runs bench/store_bench in one process per measurement under /usr/bin/time -v
# (peak RSS), plus joblib.dump/load of the same 1 GiB float64 array, and prints a Markdown
# table for BENCHMARKS.md's "Store" section.
#   bench/store_bench.sh [WORKDIR]     (default: a fresh directory under /tmp; needs ~4 GiB)
# Run from the build tree after `make`. Uses Debian's /usr/bin/python3 (numpy, joblib, lz4).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d /tmp/larder-store-bench-XXXXXX)}
mkdir -p "$work"
bench=./bench/store_bench
export LARDER_PLUGIN_PATH=${LARDER_PLUGIN_PATH:-$PWD/codecs/plugins/.libs}
N=${N:-200000}
VIEWS=${VIEWS:-1000}

run() { # run NAME CMD...: prints the RESULT lines, then "RSS NAME <MiB>"
	local name=$1
	shift
	/usr/bin/time -v "$@" 2>"$work/$name.time" | grep '^RESULT' || true
	awk -v n="$name" '/Maximum resident set size/ {printf "RSS %s %.0f MiB\n", n, $6 / 1024}' \
		"$work/$name.time"
}

{
	run kv ./libtool --mode=execute $bench kv "$work/kv" "$N"
	run memcpy_in ./libtool --mode=execute $bench memcpy-in "$work/memcpy"
	rm -rf "$work/memcpy"
	for c in raw blosc-lz4; do
		run "stream_in_$c" ./libtool --mode=execute $bench stream-in "$work/store" "$c"
		sync
		run "stream_out_$c" ./libtool --mode=execute $bench stream-out "$work/store" "$c"
	done
	rm -rf "$work/store"
	# the same raw stream through a writable map (LRD_STORE_WRITEMAP)
	echo "(writemap)"
	run stream_in_raw_writemap env STORE_BENCH_WRITEMAP=1 ./libtool --mode=execute $bench \
		stream-in "$work/wm" raw
	sync
	run stream_out_raw_writemap env STORE_BENCH_WRITEMAP=1 ./libtool --mode=execute $bench \
		stream-out "$work/wm" raw
	rm -rf "$work/wm"
	run view ./libtool --mode=execute $bench view "$work/view" "$VIEWS"
	# one read on a reused snapshot, larder against raw LMDB on the same store: wall clock,
	# and instructions per read from callgrind as the difference of two iteration counts
	for w in raw-kv kv raw-get get get-txn; do
		./libtool --mode=execute $bench snap "$work/snap" $w "$N" | grep '^RESULT'
		if command -v valgrind >/dev/null; then
			ir() {
				./libtool --mode=execute valgrind --tool=callgrind \
					--callgrind-out-file=/dev/null $bench snap "$work/snap" $w "$1" 2>&1 |
					sed -n 's/.*Collected : //p'
			}
			# 3 passes of n after a fixed warm-up: the difference is 3 x 2000 reads
			a=$(ir 2000)
			b=$(ir 4000)
			echo "RESULT snap_${w}_instructions $(((b - a) / 6000)) per read (callgrind)"
		fi
	done
	rm -rf "$work/snap"
	for c in none lz4; do
		run "joblib_dump_$c" /usr/bin/python3 -c "
import time, numpy as np, joblib
a = np.arange(1 << 27, dtype=np.float64) * 0.001
t = time.perf_counter()
joblib.dump(a, '$work/a.joblib', compress=(0 if '$c' == 'none' else ('lz4', 3)))
print('RESULT joblib_dump_$c %.2f GB/s' % ((1 << 30) / (time.perf_counter() - t) / 1e9))"
		run "joblib_load_$c" /usr/bin/python3 -c "
import time, numpy as np, joblib
t = time.perf_counter()
a = joblib.load('$work/a.joblib')
s = float(a[-1])
print('RESULT joblib_load_$c %.2f GB/s' % ((1 << 30) / (time.perf_counter() - t) / 1e9))"
		rm -f "$work/a.joblib"
	done
} | tee "$work/results.txt"
[ -n "${1:-}" ] || rm -rf "$work"
