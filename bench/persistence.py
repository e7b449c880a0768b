#!/usr/bin/python3
"""Side-by-side persistence benchmark: larder vs joblib vs numpy vs the physical limit.

Run with Debian's Python (numpy, joblib, lz4):  /usr/bin/python3 bench/persistence.py
(or `make bench-persistence`). Every measurement runs in a fresh process under /usr/bin/time -v,
so each gets its own peak RSS; times are medians of --runs runs and cover only the dump or load
call itself (the array is already in memory for a dump). Files live in --dir (default: a fresh
directory under /var/tmp) and are read back from the page cache, for every method alike.
Writes the persistence table into BENCHMARKS.md (between the persistence markers).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "persist_worker")

DATASETS = ["float", "ramp", "zeros"]
# (label, larder codec spec, joblib compress arg)
CODECS = [
    ("raw", None, 0),
    ("zlib-3", "zlib:3", ("zlib", 3)),
    ("gzip-3", "gzip:3", ("gzip", 3)),
    ("bz2-9", "bz2:9", ("bz2", 9)),
    ("xz-6", "xz:6", ("xz", 6)),
    ("lz4", "lz4", "lz4"),  # joblib's lz4 default: lz4.frame level 0, as larder's
    ("blosc-lz4 1t", "chunk:blosc:lz4:1", None),
    ("blosc-lz4 2t", "chunk:blosc:lz4:2", None),
]


def make_data(kind, nbytes):
    import numpy as np
    n = nbytes // 8
    rng = np.random.default_rng(42)
    if kind == "float":
        return rng.random(n)
    if kind == "ramp":
        return np.arange(n, dtype=np.int64) * 16 + rng.integers(0, 8, n, dtype=np.int64)
    return np.zeros(n, dtype=np.float64)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def py_worker(args):
    """One measurement in this process: prints {"seconds": s}."""
    import numpy as np
    method, op, npy, path, spec = args
    out = {}
    if op == "dump":
        a = np.load(npy)
        if method == "joblib":
            import joblib
            comp = json.loads(spec)
            comp = tuple(comp) if isinstance(comp, list) else comp
            out["seconds"] = timed(lambda: joblib.dump(a, path, compress=comp))
        elif method == "numpy":
            out["seconds"] = timed(lambda: np.save(path, a))
        elif method == "limit":
            def w():  # a new file (measure() removed it), as the dumps write
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                mv = memoryview(a).cast("B")
                off = 0
                while off < len(mv):
                    off += os.write(fd, mv[off:off + (64 << 20)])
                os.close(fd)
            out["seconds"] = timed(w)
    elif op in ("load", "mmap"):
        if method == "joblib":
            import joblib
            mm = "r" if op == "mmap" else None
            out["seconds"] = timed(lambda: joblib.load(path, mmap_mode=mm))
        elif method == "numpy":
            mm = "r" if op == "mmap" else None
            out["seconds"] = timed(lambda: np.load(path, mmap_mode=mm))
        elif method == "limit":
            size = os.path.getsize(path)
            buf = bytearray(size)

            def r():
                fd = os.open(path, os.O_RDONLY)
                mv = memoryview(buf)
                off = 0
                while off < size:
                    n = os.readv(fd, [mv[off:off + (64 << 20)]])
                    if n <= 0:
                        break
                    off += n
                os.close(fd)
            out["seconds"] = timed(r)
    print(json.dumps(out))


def run_measure(cmd):
    """Run cmd under /usr/bin/time -v; return (seconds, peak_rss_bytes)."""
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s %s" % (" ".join(cmd), p.stdout[-500:], p.stderr[-1500:]))
    rss = 0
    for line in p.stderr.splitlines():
        if "Maximum resident set size" in line:
            rss = int(line.split(":")[1]) * 1024
    secs = json.loads(p.stdout.strip().splitlines()[-1])["seconds"]
    return secs, rss


def unlink_quiet(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def measure(cmd, runs, fresh=None):
    """Median seconds and peak RSS of `runs` runs of cmd; with fresh=PATH, PATH is removed
    before each run, so every dump writes a new file (as larder's temp-file-and-rename does;
    writing over an existing file adds the truncation of its page cache to the time)."""
    res = []
    for _ in range(runs):
        if fresh:
            unlink_quiet(fresh)
        res.append(run_measure(cmd))
    return statistics.median(r[0] for r in res), max(r[1] for r in res)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--codecs", default=None, help="comma-separated labels to run")
    ap.add_argument("--data", default=",".join(DATASETS), help="comma-separated data sets to run")
    ap.add_argument("--out", default=os.path.join(TOP, "BENCHMARKS.md"))
    ap.add_argument("--from-log", help="rebuild the table from the JSON rows a run printed")
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return py_worker(a.worker)
    if a.from_log:
        rows = [json.loads(l) for l in open(a.from_log) if l.startswith("{")]
        return write_table(rows, a)
    if not os.access(WORKER, os.X_OK):
        sys.exit("build the larder worker first: make bench/persist_worker")
    d = a.dir or tempfile.mkdtemp(prefix="larder-bench-", dir="/var/tmp")
    nbytes = a.size_mib << 20
    codecs = [c for c in CODECS if not a.codecs or c[0] in a.codecs.split(",")]
    rows = []
    me = [sys.executable, os.path.abspath(__file__), "--worker"]
    for ds in a.data.split(","):
        import numpy as np
        npy = os.path.join(d, "%s.npy" % ds)
        np.save(npy, make_data(ds, nbytes))
        for label, lspec, jspec in codecs:
            methods = [("larder", lspec)]
            if jspec is not None:
                methods.append(("joblib", jspec))
            if label == "raw":
                methods += [("numpy", None), ("limit", None)]
            for method, spec in methods:
                path = os.path.join(d, "out-%s-%s" % (ds, method))
                if method == "larder":
                    base = [WORKER]
                    dump_cmd = base + ["dump", npy, path, spec or "raw"]
                    load_cmd = base + ["load", path]
                    mmap_cmd = base + ["mmap", path]
                else:
                    js = json.dumps(spec)
                    dump_cmd = me + [method, "dump", npy, path, js]
                    load_cmd = me + [method, "load", npy, path, js]
                    mmap_cmd = me + [method, "mmap", npy, path, js]
                if method == "numpy":
                    path += ".npy"
                    dump_cmd[-2] = path
                    load_cmd[-2] = path
                    mmap_cmd[-2] = path
                # bz2 and xz run at a few MB/s: one run each keeps the whole bench under an hour
                runs = 1 if label.startswith(("bz2", "xz")) else a.runs
                dt, drss = measure(dump_cmd, runs, fresh=path)
                size = os.path.getsize(path)
                lt, lrss = measure(load_cmd, runs)
                mt = None
                if label == "raw" and method != "limit" or (method == "larder" and spec.startswith("chunk:")):
                    mt, _ = measure(mmap_cmd, runs)
                row = dict(data=ds, codec=label, method=method, dump_s=dt, load_s=lt, mmap_s=mt,
                           size=size, dump_rss=drss, load_rss=lrss, nbytes=nbytes)
                rows.append(row)
                print(json.dumps(row), flush=True)
                os.unlink(path)
        os.unlink(npy)
    write_table(rows, a)


def fmt_rate(nbytes, s):
    return "%.0f" % (nbytes / s / 1e6) if s else "-"


def write_table(rows, a):
    lines = ["<!-- persistence:begin -->",
             "Persistence (`/usr/bin/python3 bench/persistence.py --size-mib %d --runs %d`): "
             "%d MiB arrays, median of %d runs (1 for bz2 and xz), MB/s = array bytes / time, page cache warm; "
             "RSS overhead = peak RSS - array bytes." % (a.size_mib, a.runs, a.size_mib, a.runs),
             "",
             "| data | codec | method | dump MB/s | load MB/s | mmap load ms | ratio | dump RSS over (MiB) | load RSS over (MiB) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        n = r["nbytes"]
        lines.append("| %s | %s | %s | %s | %s | %s | %.2f | %.0f | %.0f |" % (
            r["data"], r["codec"], r["method"], fmt_rate(n, r["dump_s"]), fmt_rate(n, r["load_s"]),
            "%.3f" % (r["mmap_s"] * 1e3) if r["mmap_s"] is not None else "-",
            n / r["size"] if r["size"] else 0,
            (r["dump_rss"] - n) / 2**20, (r["load_rss"] - n) / 2**20))
    lines.append("<!-- persistence:end -->")
    table = "\n".join(lines)
    text = open(a.out).read() if os.path.exists(a.out) else "# Benchmarks\n"
    if "<!-- persistence:begin -->" in text:
        pre = text.split("<!-- persistence:begin -->")[0]
        post = text.split("<!-- persistence:end -->", 1)[1]
        text = pre + table + post
    else:
        text = text.rstrip() + "\n\n## Persistence\n\n" + table + "\n"
    open(a.out, "w").write(text)
    print(table)


if __name__ == "__main__":
    main()
