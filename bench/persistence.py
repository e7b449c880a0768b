#!/usr/bin/python3
"""Persistence benchmark of issue 10 ("Fast I/O"): every row in one run, medians of --runs runs.

Run with Debian's Python (python3-numpy, python3-joblib, python3-lz4), after `make`:

    /usr/bin/python3 bench/persistence.py            (or `make bench-persistence`)

Options: --size-mib (256), --threads-mib (128), --deflate-mib (32), --runs (5), --groups, --data,
--dir, --md; a small trial: --size-mib 16 --threads-mib 16 --deflate-mib 4 --runs 2. The
default run takes about 5 minutes on 2 cores. Groups, each on float (random float64), ramp
(int64 ramp with small noise) and zeros, with the issue's targets:

  raw      larder's raw dump against `limit` (os.write() of the same bytes in 64 MiB pieces to a
           NEW file, as the dump writes a new file and renames it) and numpy.save to a new file;
           larder's raw load against os.readv() of the same bytes (`read()`). Targets: dump
           time <= 1.2x limit's and <= numpy.save's, load time <= 1.2x read()'s.
  blosc    blosc-lz4 chunks (1 chunk thread, 2 chunk threads, blosc's own 2 threads) against
           joblib's lz4 (compress="lz4": lz4.frame level 0), dump and load. Target: with 2
           chunk threads (the default on 2 cores) >= 3x joblib's speed both ways.
  threads  lz4 and zstd chunks with 1 and 2 chunk threads, both ways, next to the same-run
           ceiling: 2 processes dumping (loading) the two halves at once, 1 thread each
           (bench/persist_worker split-dump / split-load). Target: 2 threads >= 1.7x the speed
           of 1; the ceiling's speed-up over 1 thread is printed next to it.
  deflate  zlib-3 chunks, libdeflate (the one-shot chunk path) vs zlib (the streaming path):
           bench/deflate_bench, in-process, 4 MiB chunks. Target: the same ratio (libdeflate's
           at least 0.98x zlib's); the speeds are printed next to it.
  cli      `larder dump X.npy Y.lrd` and `larder load Y.lrd Z.npy` as whole processes against
           `cp` of the same bytes to a new file (wall clock from fork to exit). Target: <= 1.5x
           cp's time.
  rss      peak RSS (wait4's ru_maxrss of each process, forked by `persist_worker spawn`) of
           every larder dump and load above, worst over the data sets. Target ("the array
           plus a few chunks per thread"): peak - array <= 4 chunks (4 MiB) per chunk thread
           (2 x threads chunks in flight, each with an input and an output buffer) + 16 MiB.

Every measurement is a fresh process; every output is removed before each run, for every
method. The runs of one group and data set alternate between its methods (run 1 of each, then
run 2 of each, ...), so that a load spike on a shared machine hits all of them. Times of the
in-process rows cover only the dump or load call (the array is already in memory for a dump;
files are read back from a warm page cache, for every method alike). Prints the measurements and
the targets (figure, target, met/missed); --md FILE also writes both tables into FILE between
<!-- fastio:begin --> and <!-- fastio:end -->.

--legacy runs the older whole-file codec table of issue 3 (zlib, gzip, bz2, xz, lz4, blosc
against joblib, with mmap loads; bz2 and xz take most of an hour) and writes it into
BENCHMARKS.md between the persistence markers, as this script did before.
"""
import argparse
import datetime
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)

DATASETS = ["float", "ramp", "zeros"]
GROUPS = ["raw", "blosc", "threads", "deflate", "cli"]
CHUNK = 4 << 20  # lrd_dump's default chunk size
MiB = 1 << 20


# ---- data and the Python side of the measurements -------------------------------------------

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


def write_new(path, a):
    """os.write() of the array's bytes in 64 MiB pieces to a new file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    mv = memoryview(a).cast("B")
    off = 0
    while off < len(mv):
        off += os.write(fd, mv[off:off + (64 << 20)])
    os.close(fd)


def read_all(path):
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
    return timed(r)


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
            out["seconds"] = timed(lambda: write_new(path, a))
    elif op in ("load", "mmap"):
        if method == "joblib":
            import joblib
            mm = "r" if op == "mmap" else None
            out["seconds"] = timed(lambda: joblib.load(path, mmap_mode=mm))
        elif method == "numpy":
            mm = "r" if op == "mmap" else None
            out["seconds"] = timed(lambda: np.load(path, mmap_mode=mm))
        elif method == "limit":
            out["seconds"] = read_all(path)
    print(json.dumps(out))


# ---- running programs ------------------------------------------------------------------------

class Env:
    """Where the build's programs are: the real binaries under .libs/ when libtool built shared
    ones (no wrapper script in the timed process), with the build's library path."""

    def __init__(self, build):
        self.build = build
        self.env = dict(os.environ)
        libs = os.path.join(build, ".libs")
        if os.path.isdir(libs):
            old = self.env.get("LD_LIBRARY_PATH")
            self.env["LD_LIBRARY_PATH"] = libs + (":" + old if old else "")

        self.spawner = self.exe("bench/persist_worker")

    def exe(self, rel):
        d, b = os.path.split(rel)
        real = os.path.join(self.build, d, ".libs", b)
        if os.access(real, os.X_OK):
            return real
        return os.path.join(self.build, rel)


def unlink_quiet(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def run_once(cmd, env, inner):
    """Run cmd to its end through `persist_worker spawn` (so that its peak RSS is its own, not
    this Python's: see persist_worker.c); return (seconds, peak RSS bytes of that process).
    inner: the seconds the program printed ({"seconds": S}), else the wall clock from fork to
    exit."""
    full = [env.spawner, "spawn"] + cmd
    p = subprocess.run(full, capture_output=True, text=True, env=env.env)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s %s" % (shlex.join(cmd), p.returncode,
                                                      p.stdout[-500:], p.stderr[-1500:]))
    lines = p.stdout.strip().splitlines()
    sp = json.loads(lines[-1])
    secs = json.loads(lines[-2])["seconds"] if inner else sp["spawn_seconds"]
    return secs, sp["maxrss_kib"] * 1024


class Case:
    """One method of a group: a command run --runs times in a fresh process each."""

    def __init__(self, name, cmd, fresh=(), inner=True, out=None, threads=None, larder=False):
        self.name = name
        self.cmd = cmd
        self.fresh = list(fresh)  # removed before each run
        self.inner = inner
        self.out = out            # the file it writes (ratio = array bytes / its size)
        self.threads = threads    # chunk threads, for the RSS bound of larder's cases
        self.larder = larder      # a larder dump or load: its RSS is checked
        self.times = []
        self.rss = []
        self.size = None


def run_cases(cases, runs, env, log):
    """Run every case `runs` times, alternating: run 1 of each case in order, then run 2, ..."""
    for _ in range(runs):
        for c in cases:
            for f in c.fresh:
                unlink_quiet(f)
            s, rss = run_once(c.cmd, env, c.inner)
            c.times.append(s)
            c.rss.append(rss)
            if c.out:
                c.size = os.path.getsize(c.out)
    for c in cases:
        log(c)


def med(c):
    return statistics.median(c.times)


# ---- the groups ------------------------------------------------------------------------------

def group_raw(ds, npy, d, a, ctx):
    W, me = ctx["worker"], ctx["py"]
    lrd, lim, nps = (os.path.join(d, "raw-%s.%s" % (ds, x)) for x in ("lrd", "bin", "npy"))
    cases = [
        Case("larder raw dump", [W, "dump", npy, lrd, "raw"], [lrd], out=lrd, threads=0,
             larder=True),
        Case("limit: write() new file", me + ["limit", "dump", npy, lim, "null"], [lim], out=lim),
        Case("numpy.save new file", me + ["numpy", "dump", npy, nps, "null"], [nps], out=nps),
        Case("larder raw load", [W, "load", lrd], threads=0, larder=True),
        Case("read()", me + ["limit", "load", npy, lim, "null"]),
    ]
    run_cases(cases, a.runs, ctx["env"], ctx["log"])
    dump, lim_c, np_c, load, rd = cases
    ctx["target"]("raw", ds, "raw dump within 1.2x of `limit` (time)", med(dump) / med(lim_c),
                  "<=", 1.2, "%s vs %s MB/s" % (rate(ctx, dump), rate(ctx, lim_c)))
    ctx["target"]("raw", ds, "raw dump not slower than numpy.save (time)", med(dump) / med(np_c),
                  "<=", 1.0, "%s vs %s MB/s" % (rate(ctx, dump), rate(ctx, np_c)))
    ctx["target"]("raw", ds, "raw load within 1.2x of read() (time)", med(load) / med(rd), "<=",
                  1.2, "%s vs %s MB/s" % (rate(ctx, load), rate(ctx, rd)))
    return cases, [lrd, lim, nps]


def group_blosc(ds, npy, d, a, ctx):
    W, me = ctx["worker"], ctx["py"]
    f1, f2, fb, fj = (os.path.join(d, "blosc-%s.%s" % (ds, x)) for x in ("1t", "2t", "b2", "jl"))
    cases = [
        Case("blosc-lz4 dump, 1 chunk thread", [W, "dump", npy, f1, "chunk:blosc:lz4:1@1"], [f1],
             out=f1, threads=1, larder=True),
        Case("blosc-lz4 dump, 2 chunk threads", [W, "dump", npy, f2, "chunk:blosc:lz4:1@2"],
             [f2], out=f2, threads=2, larder=True),
        Case("blosc-lz4 dump, 1 chunk thread x blosc 2 threads",
             [W, "dump", npy, fb, "chunk:blosc:lz4:2@1"], [fb], out=fb, threads=1, larder=True),
        Case("joblib lz4 dump", me + ["joblib", "dump", npy, fj, '"lz4"'], [fj], out=fj),
        Case("blosc-lz4 load, 1 chunk thread", [W, "load", f2, "1"], threads=1, larder=True),
        Case("blosc-lz4 load, 2 chunk threads", [W, "load", f2, "2"], threads=2, larder=True),
        Case("joblib lz4 load", me + ["joblib", "load", npy, fj, '"lz4"']),
    ]
    run_cases(cases, a.runs, ctx["env"], ctx["log"])
    d1, d2, db, dj, l1, l2, lj = cases
    ctx["target"]("blosc", ds, "blosc-lz4 dump (2 chunk threads) >= 3x joblib lz4 (speed)",
                  med(dj) / med(d2), ">=", 3.0, "%s vs %s MB/s" % (rate(ctx, d2), rate(ctx, dj)))
    ctx["target"]("blosc", ds, "blosc-lz4 load (2 chunk threads) >= 3x joblib lz4 (speed)",
                  med(lj) / med(l2), ">=", 3.0, "%s vs %s MB/s" % (rate(ctx, l2), rate(ctx, lj)))
    return cases, [f1, f2, fb, fj]


def group_threads(ds, npy, d, a, ctx):
    W = ctx["worker"]
    cases, files = [], []
    for codec in ("lz4", "zstd"):
        f1, f2, sp = (os.path.join(d, "%s-%s.%s" % (codec, ds, x)) for x in ("1t", "2t", "sp"))
        halves = [sp + ".0", sp + ".1"]
        cases += [
            Case("%s dump, 1 thread" % codec, [W, "dump", npy, f1, "chunk:%s@1" % codec], [f1],
                 out=f1, threads=1, larder=True),
            Case("%s dump, 2 threads" % codec, [W, "dump", npy, f2, "chunk:%s@2" % codec], [f2],
                 out=f2, threads=2, larder=True),
            Case("%s dump, ceiling: 2 processes x half" % codec,
                 [W, "split-dump", npy, sp, "chunk:%s" % codec, "2"], halves),
            Case("%s load, 1 thread" % codec, [W, "load", f2, "1"], threads=1, larder=True),
            Case("%s load, 2 threads" % codec, [W, "load", f2, "2"], threads=2, larder=True),
            Case("%s load, ceiling: 2 processes x half" % codec, [W, "split-load", sp, "2"]),
        ]
        files += [f1, f2] + halves
    run_cases(cases, a.runs, ctx["env"], ctx["log"])
    for i, codec in enumerate(("lz4", "zstd")):
        d1, d2, ds_, l1, l2, ls = cases[6 * i:6 * i + 6]
        for way, one, two, ceil in (("dump", d1, d2, ds_), ("load", l1, l2, ls)):
            ctx["target"]("threads", ds, "%s %s: 2 threads >= 1.7x 1 thread (speed)" % (codec, way),
                          med(one) / med(two), ">=", 1.7,
                          "1t %s, 2t %s MB/s; ceiling 2 processes %.2fx (%s MB/s)" % (
                              rate(ctx, one), rate(ctx, two), med(one) / med(ceil),
                              rate(ctx, ceil)))
    return cases, files


def group_cli(ds, npy, d, a, ctx):
    L = ctx["larder"]
    lrd, back, c1, c2 = (os.path.join(d, "cli-%s.%s" % (ds, x))
                         for x in ("lrd", "npy", "cp-npy", "cp-lrd"))
    cases = [
        Case("larder dump X.npy Y.lrd (process)", [L, "dump", npy, lrd], [lrd], inner=False,
             out=lrd, threads=0, larder=True),
        Case("cp X.npy (new file)", ["cp", npy, c1], [c1], inner=False, out=c1),
        Case("larder load Y.lrd Z.npy (process)", [L, "load", lrd, back], [back], inner=False,
             out=back, threads=0, larder=True),
        Case("cp Y.lrd (new file)", ["cp", lrd, c2], [c2], inner=False, out=c2),
    ]
    run_cases(cases, a.runs, ctx["env"], ctx["log"])
    dump, cp1, load, cp2 = cases
    ctx["target"]("cli", ds, "`larder dump` within 1.5x of cp (process time)",
                  med(dump) / med(cp1), "<=", 1.5,
                  "%.1f vs %.1f ms" % (med(dump) * 1e3, med(cp1) * 1e3))
    ctx["target"]("cli", ds, "`larder load` within 1.5x of cp (process time)",
                  med(load) / med(cp2), "<=", 1.5,
                  "%.1f vs %.1f ms" % (med(load) * 1e3, med(cp2) * 1e3))
    return cases, [lrd, back, c1, c2]


def group_deflate(a, ctx):
    """bench/deflate_bench, one process: per data set and library ratio and MB/s (medians)."""
    cmd = [ctx["deflate"], str(a.deflate_mib), "3", str(a.runs)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=ctx["env"].env)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (shlex.join(cmd), p.stderr[-1500:]))
    rows = {}
    for line in p.stdout.splitlines()[1:]:
        f = line.split()
        ds = "float" if f[0] == "floats" else f[0]
        rows[(ds, f[1])] = dict(ratio=float(f[3]), comp=float(f[4]), decomp=float(f[5]))
        ctx["measure"](dict(group="deflate", data=ds, case="zlib-3 chunks, " + f[1],
                            mb_s="%s / %s" % (f[4], f[5]), spread="", ratio=float(f[3]),
                            rss="", over=""))
    for ds in DATASETS:
        ld, zl = rows.get((ds, "libdeflate")), rows.get((ds, "zlib"))
        if not ld or not zl:
            continue
        ctx["target"]("deflate", ds, "zlib-3 chunks: libdeflate's ratio within 2% of zlib's",
                      ld["ratio"] / zl["ratio"], ">=", 0.98,
                      "ratio %.2f vs %.2f; compress %.0f vs %.0f MB/s (%.1fx), decompress "
                      "%.0f vs %.0f MB/s (%.1fx)" % (ld["ratio"], zl["ratio"], ld["comp"],
                                                     zl["comp"], ld["comp"] / zl["comp"],
                                                     ld["decomp"], zl["decomp"],
                                                     ld["decomp"] / zl["decomp"]))


def rate(ctx, c):
    return "%.0f" % (ctx["nbytes"] / med(c) / 1e6)


def rss_bound(threads, ncores):
    t = threads or ncores
    return 4 * CHUNK * t + 16 * MiB


# ---- output ----------------------------------------------------------------------------------

def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


def fast_io(a):
    env = Env(a.build)
    need = {"worker": "bench/persist_worker", "larder": "tools/larder",
            "deflate": "bench/deflate_bench"}
    ctx = {k: env.exe(v) for k, v in need.items()}
    for k, v in ctx.items():
        if not os.access(v, os.X_OK):
            sys.exit("%s missing: run `make` first" % v)
    groups = a.groups.split(",")
    for g in groups:
        if g not in GROUPS:
            sys.exit("unknown group %s (groups: %s)" % (g, ",".join(GROUPS)))
    datasets = a.data.split(",")
    begin, end = "<!-- fastio:begin -->", "<!-- fastio:end -->"
    if a.md and not (os.path.exists(a.md) and begin in open(a.md).read() and
                     end in open(a.md).read()):
        sys.exit("%s has no %s ... %s markers" % (a.md, begin, end))
    ncores = os.cpu_count() or 1
    nbytes = a.size_mib * MiB
    d = a.dir or tempfile.mkdtemp(prefix="larder-bench-", dir="/var/tmp")
    os.makedirs(d, exist_ok=True)
    measures, targets, rss = [], [], {}
    t_start = time.time()
    la_start = loadavg()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    cmdline = "/usr/bin/python3 bench/persistence.py " + shlex.join(sys.argv[1:])
    print("# %s, commit %s, %d cores, load average at start %s" % (started, commit, ncores,
                                                                    la_start))
    print("# command: %s" % cmdline.strip())
    print("# %d MiB arrays (threads: %d MiB, deflate: %d MiB), medians of %d runs, groups %s, "
          "data %s, dir %s" % (a.size_mib, a.threads_mib, a.deflate_mib, a.runs,
                               ",".join(groups), ",".join(datasets), d), flush=True)

    def log(c):
        n = cur[2]
        row = dict(group=cur[0], data=cur[1], case=c.name,
                   mb_s="%.0f" % (n / med(c) / 1e6) if c.inner else "%.1f ms" % (med(c) * 1e3),
                   spread=("%.0f-%.0f" % (n / max(c.times) / 1e6, n / min(c.times) / 1e6))
                   if c.inner else "%.1f-%.1f ms" % (min(c.times) * 1e3, max(c.times) * 1e3),
                   ratio=round(n / c.size, 2) if c.size and "dump" in c.name else "",
                   rss="%.0f" % (max(c.rss) / MiB),
                   over="%.1f" % ((max(c.rss) - n) / MiB) if c.larder else "")
        measures.append(row)
        print("M " + json.dumps(row), flush=True)
        if c.larder:
            r = rss.setdefault(c.name, dict(over=None, data=None, threads=c.threads, seen=[],
                                            mib=n // MiB))
            r["seen"].append(cur[1])
            if r["over"] is None or max(c.rss) - n > r["over"]:
                r["over"], r["data"] = max(c.rss) - n, cur[1]

    def measure(row):
        measures.append(row)
        print("M " + json.dumps(row), flush=True)

    def target(group, ds, what, value, op, limit, detail):
        met = value <= limit if op == "<=" else value >= limit
        t = dict(group=group, data=ds, what=what, figure="%.2fx" % value,
                 target="%s %.2fx" % (op, limit), met=met, detail=detail)
        targets.append(t)
        print("T " + json.dumps(t), flush=True)

    cur = [None, None, nbytes]
    ctx.update(env=env, log=log, measure=measure, target=target, nbytes=nbytes,
               py=[sys.executable, os.path.abspath(__file__), "--worker"])
    import numpy as np
    try:
        # one untimed write, read and removal of a file of the array's size: the first write
        # of a run otherwise pays for setting up the page cache's memory
        scratch = os.path.join(d, "warmup.bin")
        write_new(scratch, np.zeros(nbytes // 8))
        read_all(scratch)
        os.unlink(scratch)
        for ds in datasets:
            npys = {}
            for g in groups:
                if g == "deflate":
                    continue
                n = (a.threads_mib if g == "threads" else a.size_mib) * MiB
                if n not in npys:
                    npys[n] = os.path.join(d, "%s-%d.npy" % (ds, n // MiB))
                    np.save(npys[n], make_data(ds, n))
                cur[:] = [g, ds, n]
                ctx["nbytes"] = n
                t0 = time.time()
                cases, files = globals()["group_" + g](ds, npys[n], d, a, ctx)
                print("# %s %s: %.0f s" % (g, ds, time.time() - t0), flush=True)
                for f in files:
                    unlink_quiet(f)
            for f in npys.values():
                os.unlink(f)
        if "deflate" in groups:
            cur[:] = ["deflate", "all", a.deflate_mib * MiB]
            t0 = time.time()
            group_deflate(a, ctx)
            print("# deflate: %.0f s" % (time.time() - t0), flush=True)
    finally:
        if not a.dir:
            shutil.rmtree(d, ignore_errors=True)

    for name, r in rss.items():
        bound = rss_bound(r["threads"], ncores)
        t = dict(group="rss", data="worst of " + "/".join(r["seen"]),
                 what="%s: peak RSS - array <= 4 chunks x %d threads + 16 MiB" % (
                     name, r["threads"] or ncores),
                 figure="%.1f MiB" % (r["over"] / MiB), target="<= %d MiB" % (bound // MiB),
                 met=r["over"] <= bound, detail="worst on %s, %d MiB arrays" % (r["data"],
                                                                           r["mib"]))
        targets.append(t)
        print("T " + json.dumps(t), flush=True)
    la_end = loadavg()
    elapsed = time.time() - t_start
    order = GROUPS + ["rss"]
    measures.sort(key=lambda m: order.index(m["group"]))  # stable: data sets stay in order
    targets.sort(key=lambda t: order.index(t["group"]))
    mt = md_table(["group", "data", "method", "median MB/s (or ms)", "spread of runs", "ratio",
                   "peak RSS (MiB)", "larder: RSS - array (MiB)"],
                  [[m["group"], m["data"], m["case"], m["mb_s"], m["spread"], m["ratio"],
                    m["rss"], m["over"]] for m in measures])
    tt = md_table(["group", "data", "check", "figure", "target", "result", "figures"],
                  [[t["group"], t["data"], t["what"], t["figure"], t["target"],
                    "met" if t["met"] else "**missed**", t["detail"]] for t in targets])
    nmet = sum(1 for t in targets if t["met"])
    head = ("`%s` at commit %s, %s, %.0f s, %d cores; load average %s at the start, %s at the "
            "end. %d MiB arrays (threads group: %d MiB; deflate_bench: %d MiB), medians of %d "
            "runs; MB/s = array bytes "
            "/ median time (in-process rows: the dump or load call alone; cli rows: whole "
            "processes, in ms); spread = slowest-fastest run; ratio = array bytes / file size; "
            "deflate rows: compress / decompress MB/s." % (
                cmdline.strip(), commit, started, elapsed, ncores, la_start, la_end, a.size_mib,
                a.threads_mib, a.deflate_mib, a.runs))
    text = "\n".join([head, "", mt, "", "Targets: %d met, %d missed." % (
        nmet, len(targets) - nmet), "", tt])
    print()
    print(text)
    if a.md:
        doc = open(a.md).read()
        doc = doc.split(begin)[0] + begin + "\n" + text + "\n" + end + doc.split(end, 1)[1]
        open(a.md, "w").write(doc)
        print("# written into %s" % a.md)


# ---- --legacy: the whole-file codec table of issue 3 -----------------------------------------

# (label, larder codec spec, joblib compress arg)
LEGACY_CODECS = [
    ("raw", None, 0),
    ("zlib-3", "zlib:3", ("zlib", 3)),
    ("gzip-3", "gzip:3", ("gzip", 3)),
    ("bz2-9", "bz2:9", ("bz2", 9)),
    ("xz-6", "xz:6", ("xz", 6)),
    ("lz4", "lz4", "lz4"),  # joblib's lz4 default: lz4.frame level 0, as larder's
    ("blosc-lz4 1t", "chunk:blosc:lz4:1", None),
    ("blosc-lz4 2t", "chunk:blosc:lz4:2", None),
]


def legacy_measure(cmd, runs, env, fresh=None):
    """Median seconds and peak RSS of `runs` runs of cmd; with fresh=PATH, PATH is removed
    before each run, so every dump writes a new file."""
    res = []
    for _ in range(runs):
        if fresh:
            unlink_quiet(fresh)
        res.append(run_once(cmd, env, True))
    return statistics.median(r[0] for r in res), max(r[1] for r in res)


def legacy(a):
    env = Env(a.build)
    worker = env.exe("bench/persist_worker")
    if not os.access(worker, os.X_OK):
        sys.exit("build the larder worker first: make bench/persist_worker")
    d = a.dir or tempfile.mkdtemp(prefix="larder-bench-", dir="/var/tmp")
    nbytes = a.size_mib << 20
    codecs = [c for c in LEGACY_CODECS if not a.codecs or c[0] in a.codecs.split(",")]
    rows = []
    me = [sys.executable, os.path.abspath(__file__), "--worker"]
    import numpy as np
    for ds in a.data.split(","):
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
                    dump_cmd = [worker, "dump", npy, path, spec or "raw"]
                    load_cmd = [worker, "load", path]
                    mmap_cmd = [worker, "mmap", path]
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
                dt, drss = legacy_measure(dump_cmd, runs, env, fresh=path)
                size = os.path.getsize(path)
                lt, lrss = legacy_measure(load_cmd, runs, env)
                mt = None
                if label == "raw" and method != "limit" or (method == "larder" and
                                                            spec.startswith("chunk:")):
                    mt, _ = legacy_measure(mmap_cmd, runs, env)
                row = dict(data=ds, codec=label, method=method, dump_s=dt, load_s=lt, mmap_s=mt,
                           size=size, dump_rss=drss, load_rss=lrss, nbytes=nbytes)
                rows.append(row)
                print(json.dumps(row), flush=True)
                os.unlink(path)
        os.unlink(npy)
    legacy_table(rows, a)


def fmt_rate(nbytes, s):
    return "%.0f" % (nbytes / s / 1e6) if s else "-"


def legacy_table(rows, a):
    lines = ["<!-- persistence:begin -->",
             "Persistence (`/usr/bin/python3 bench/persistence.py --legacy --size-mib %d --runs "
             "%d`): %d MiB arrays, median of %d runs (1 for bz2 and xz), MB/s = array bytes / "
             "time, page cache warm; RSS overhead = peak RSS - array bytes." % (
                 a.size_mib, a.runs, a.size_mib, a.runs),
             "",
             "| data | codec | method | dump MB/s | load MB/s | mmap load ms | ratio | dump RSS "
             "over (MiB) | load RSS over (MiB) |",
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
    out = a.md or os.path.join(TOP, "BENCHMARKS.md")
    text = open(out).read() if os.path.exists(out) else "# Benchmarks\n"
    if "<!-- persistence:begin -->" in text:
        pre = text.split("<!-- persistence:begin -->")[0]
        post = text.split("<!-- persistence:end -->", 1)[1]
        text = pre + table + post
    else:
        text = text.rstrip() + "\n\n## Persistence\n\n" + table + "\n"
    open(out, "w").write(text)
    print(table)


def main():
    ap = argparse.ArgumentParser(description="Fast I/O persistence benchmark (issue 10)")
    ap.add_argument("--size-mib", "--mib", type=int, default=256, dest="size_mib",
                    help="array size per data set (default 256)")
    ap.add_argument("--threads-mib", type=int, default=128,
                    help="array size of the threads group (default 128: 32 chunks; zstd is "
                    "slow)")
    ap.add_argument("--deflate-mib", type=int, default=32,
                    help="data per set for bench/deflate_bench (default 32: zlib is slow)")
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    ap.add_argument("--groups", default=",".join(GROUPS),
                    help="comma-separated groups (default: all: %s)" % ",".join(GROUPS))
    ap.add_argument("--data", default=",".join(DATASETS), help="comma-separated data sets")
    ap.add_argument("--dir", default=None, help="where files go (default: a fresh directory "
                    "under /var/tmp, removed at the end)")
    ap.add_argument("--build", default=TOP, help="the build directory (default: the source's)")
    ap.add_argument("--md", default=None, help="also write the tables into this file between "
                    "the fastio markers (--legacy: the persistence markers, default "
                    "BENCHMARKS.md)")
    ap.add_argument("--legacy", action="store_true", help="the whole-file codec table instead")
    ap.add_argument("--codecs", default=None, help="--legacy: comma-separated codec labels")
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return py_worker(a.worker)
    if min(a.runs, a.size_mib, a.threads_mib, a.deflate_mib) < 1:
        sys.exit("--runs, --size-mib, --threads-mib and --deflate-mib must be at least 1")
    if a.legacy:
        return legacy(a)
    return fast_io(a)


if __name__ == "__main__":
    main()
