#!/usr/bin/python3
"""larder's memoizer next to joblib.Memory, in one run (issue 11's benchmark).

Runs bench/memo_bench (larder, C) and the same measurements with joblib.Memory, then prints a
markdown table with the issue's targets: hit latency with a scalar argument and with 8 KiB and
8 MiB float64 array arguments, miss + store latency, hit latency at 10, 10^5 and 10^6 entries
(larder; joblib's one-directory-per-entry layout is measured up to --joblib-entries), and
hashing throughput (XXH3-128 over a 1 GiB array vs memcpy; joblib.hash, md5, over 256 MiB).

usage: /usr/bin/python3 bench/memo_joblib.py [--bench bench/memo_bench] [--max-entries N]
       [--joblib-entries N] [--hash-mib N]
Needs python3-joblib and python3-numpy (apt-get install python3-joblib python3-numpy).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import joblib
    import numpy as np
except ImportError as e:
    sys.exit("memo_joblib.py: %s (apt-get install python3-joblib python3-numpy)" % e)


def larder_rows(bench, max_entries, hash_mib):
    out = subprocess.run([bench, "--max-entries", str(max_entries), "--hash-mib",
                          str(hash_mib)], check=True, capture_output=True, text=True).stdout
    return {r["what"]: r["value"] for r in map(json.loads, out.splitlines())}


def joblib_rows(entries, hash_mib):
    d = tempfile.mkdtemp(prefix="memo_joblib.")
    try:
        mem = joblib.Memory(d, verbose=0)

        def f(x):
            return float(np.sum(x)) if isinstance(x, np.ndarray) else x + 1

        g = mem.cache(f)
        rows = {}

        def hits(arg, n):
            g(arg)
            t0 = time.perf_counter()
            for _ in range(n):
                g(arg)
            return (time.perf_counter() - t0) / n

        rows["hit_scalar"] = hits(42, 2000)
        rows["hit_8KiB"] = hits(np.arange(1024) * 0.25, 2000)
        big = np.arange(1 << 20) * 0.25
        rows["hit_8MiB"] = hits(big, 20)
        t0 = time.perf_counter()
        for _ in range(20):
            joblib.hash(big)
        rows["hash_8MiB"] = (time.perf_counter() - t0) / 20
        n = 300
        t0 = time.perf_counter()
        for i in range(n):
            g(-1 - i)
        rows["miss_scalar"] = (time.perf_counter() - t0) / n
        a = np.arange(1024) * 0.25
        t0 = time.perf_counter()
        for i in range(n):
            a[0] = -1.0 - i
            g(a)
        rows["miss_8KiB"] = (time.perf_counter() - t0) / n
        mem.clear(warn=False)
        have = 0
        for size in (10, 1000, 10000):
            if size > entries:
                break
            for i in range(have, size):
                g(1000000000 + i)
            have = size
            t0 = time.perf_counter()
            it = 1000
            for i in range(it):
                g(1000000000 + (i * 7919) % have)
            rows["hit_at_%d_entries" % size] = (time.perf_counter() - t0) / it
        x = np.ones((hash_mib << 20) // 8)
        t0 = time.perf_counter()
        joblib.hash(x)
        rows["hash_GBps"] = x.nbytes / (time.perf_counter() - t0) / 1e9
        return rows
    finally:
        shutil.rmtree(d, ignore_errors=True)


def us(v):
    return "%.2f µs" % (v * 1e6) if v < 1e-3 else "%.2f ms" % (v * 1e3)


def main():
    p = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--bench", default=os.path.join(here, "memo_bench"))
    p.add_argument("--max-entries", type=int, default=1000000)
    p.add_argument("--joblib-entries", type=int, default=10000)
    p.add_argument("--hash-mib", type=int, default=1024)
    a = p.parse_args()
    t0 = time.time()
    L = larder_rows(a.bench, a.max_entries, a.hash_mib)
    J = joblib_rows(a.joblib_entries, min(a.hash_mib, 256))
    print("| measure | larder | joblib %s | target | met |" % joblib.__version__)
    print("|---|---|---|---|---|")

    def line(name, l, j, target, ok):
        print("| %s | %s | %s | %s | %s |" % (name, l, j, target, "yes" if ok else "**no**"))

    line("hit, scalar argument", us(L["hit_scalar"]), us(J["hit_scalar"]), "< 2 µs",
         L["hit_scalar"] < 2e-6)
    line("hit, 8 KiB float64 argument", us(L["hit_8KiB"]), us(J["hit_8KiB"]), "-", True)
    line("hit, 8 MiB float64 argument", us(L["hit_8MiB"]), us(J["hit_8MiB"]),
         "<= 1.5x hashing it (%s)" % us(L["hash_8MiB"]), L["hit_8MiB"] <= 1.5 * L["hash_8MiB"])
    for k in ("miss_scalar", "miss_8KiB"):
        line("miss + store, %s argument" % ("scalar" if k == "miss_scalar" else "8 KiB"),
             us(L[k]), us(J[k]), ">= 10x faster than joblib (%.0fx)" % (J[k] / L[k]),
             J[k] / L[k] >= 10)
    base = L.get("hit_at_10_entries")
    for n in (10, 100000, 1000000):
        k = "hit_at_%d_entries" % n
        if k in L:
            jk = J.get(k)
            line("hit at %d entries" % n, us(L[k]), us(jk) if jk else "(not run)",
                 "<= 1.5x the hit at 10", L[k] <= 1.5 * base)
    for n in (1000, 10000):
        k = "hit_at_%d_entries" % n
        if k in J:
            line("hit at %d entries (joblib)" % n, "-", us(J[k]), "-", True)
    line("hashing %d MiB (GB/s)" % a.hash_mib, "%.2f" % L["hash_GBps"], "%.2f" % J["hash_GBps"],
         ">= 10x joblib, >= 0.5x memcpy (%.2f)" % L["memcpy_GBps"],
         L["hash_GBps"] >= 10 * J["hash_GBps"] and L["hash_GBps"] >= 0.5 * L["memcpy_GBps"])
    for k in sorted(L):
        if k.startswith("fill_to"):
            print("| larder %s | %s | | | |" % (k.replace("_", " "), us(L[k])))
    print("\n(run took %.0f s; larder store with LRD_STORE_NOSYNC)" % (time.time() - t0))


main()
