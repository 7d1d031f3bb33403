#!/usr/bin/env python3
"""BTF engine figures: load + lookup time against libbpf, memory, full decode.

    python bench/btf_bench.py [BTF_FILE] [--runs N]

With no file: /sys/kernel/btf/vmlinux when readable, else the largest sample kernel
(decompressed to a temporary raw file so libbpf can read it too). libbpf is called through
ctypes (libbpf.so.1, Debian package libbpf1) in the same run: btf__parse +
btf__find_by_name_kind("task_struct", STRUCT). bpfls does load() + find("task_struct",
"struct") + member("pid").
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import lzma
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

BTF_KIND_STRUCT = 4


def pick_target(arg: str | None, tmp: Path) -> tuple[Path, str]:
    if arg:
        return Path(arg), arg
    host = Path("/sys/kernel/btf/vmlinux")
    if host.exists() and os.access(host, os.R_OK):
        return host, "host /sys/kernel/btf/vmlinux"
    samples = sorted((ROOT / "sample-btf").glob("*.btf.xz"),
                     key=lambda p: len(lzma.decompress(p.read_bytes())))
    if not samples:
        sys.exit("no BTF: give a file, or run on a machine with /sys/kernel/btf/vmlinux")
    raw = tmp / samples[-1].name.removesuffix(".xz")
    raw.write_bytes(lzma.decompress(samples[-1].read_bytes()))
    return raw, f"largest sample kernel {samples[-1].name}"


def libbpf_runner(path: Path):
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        lib = ctypes.CDLL("libbpf.so.1")
    except OSError:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            return None
    lib.btf__parse.restype = ctypes.c_void_p
    lib.btf__parse.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.btf__find_by_name_kind.restype = ctypes.c_int
    lib.btf__find_by_name_kind.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32]
    lib.btf__free.argtypes = [ctypes.c_void_p]
    p = str(path).encode()

    def run() -> float:
        t0 = time.perf_counter()
        btf = lib.btf__parse(p, None)
        if not btf:
            raise RuntimeError("libbpf could not parse the file")
        tid = lib.btf__find_by_name_kind(btf, b"task_struct", BTF_KIND_STRUCT)
        dt = time.perf_counter() - t0
        lib.btf__free(btf)
        if tid <= 0:
            raise RuntimeError("libbpf found no struct task_struct")
        return dt

    return run


def bpfls_runner(path: Path, use_cache: bool):
    from bpfls.btf import load

    def run() -> float:
        t0 = time.perf_counter()
        btf = load(path, use_cache=use_cache)
        ts = btf.find("task_struct", "struct")
        pid = ts.member("pid")
        dt = time.perf_counter() - t0
        assert pid is not None
        return dt

    return run


def timed(run, n: int) -> dict[str, float]:
    run()  # warm the page cache and imports
    xs = [run() for _ in range(n)]
    return {"median_ms": statistics.median(xs) * 1e3, "min_ms": min(xs) * 1e3}


MEMORY_PROBE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
import bpfls.btf as B
from bpfls.btf import Kind
r0 = rss()
btf = B.load(sys.argv[1], use_cache=sys.argv[3] == "1")
ts = btf.find("task_struct", "struct"); ts.member("pid")
r1 = rss()
t0 = time.perf_counter()
n = 0
for t in btf:
    if t.kind in (Kind.STRUCT, Kind.UNION):
        for m in t.members:
            n += 1
    elif t.kind in (Kind.ENUM, Kind.ENUM64):
        n += len(t.values)
    t.name
dt = time.perf_counter() - t0
r2 = rss()
print(json.dumps({"raw": btf.raw_size, "load_growth": r1 - r0, "decoded_growth": r2 - r0,
                  "decode_all_ms": dt * 1e3, "members": n, "types": btf.nr_types}))
"""


def memory(path: Path, use_cache: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), str(ROOT / "server"),
                          "1" if use_cache else "0"], check=True, capture_output=True,
                         text=True, env={**os.environ}).stdout
    return json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        os.environ["BPFLS_CACHE_DIR"] = str(tmp / "cache")
        os.environ.pop("BPFLS_NO_CACHE", None)
        path, label = pick_target(args.file, tmp)
        print(f"target: {label} ({path.stat().st_size if path.is_file() else '?'} bytes)")
        lib = libbpf_runner(path)
        ref = timed(lib, args.runs) if lib else None
        cold = timed(bpfls_runner(path, use_cache=False), args.runs)
        bpfls_runner(path, use_cache=True)()  # fill the index cache
        warm = timed(bpfls_runner(path, use_cache=True), args.runs)
        mem = memory(path, use_cache=False)

        print(f"{'measure':<44}{'median ms':>10}{'min ms':>9}{'x libbpf':>10}  goal")
        if ref:
            print(f"{'libbpf btf__parse + find_by_name_kind':<44}"
                  f"{ref['median_ms']:>10.2f}{ref['min_ms']:>9.2f}{1:>10.2f}")
        for name, r, goal in (("bpfls load + find + member (cold)", cold, "<= 6x"),
                              ("bpfls load + find + member (index cached)", warm, "<= 2x")):
            ratio = f"{r['median_ms'] / ref['median_ms']:>10.2f}" if ref else f"{'n/a':>10}"
            print(f"{name:<44}{r['median_ms']:>10.2f}{r['min_ms']:>9.2f}{ratio}  {goal}")
        raw = mem["raw"]
        print(f"memory: raw BTF {raw / 2**20:.2f} MiB; RSS growth after load + lookup "
              f"{mem['load_growth'] / 2**20:.2f} MiB = {mem['load_growth'] / raw:.2f}x raw "
              f"(goal <= 3x); after decoding everything {mem['decoded_growth'] / 2**20:.2f} MiB "
              f"= {mem['decoded_growth'] / raw:.2f}x raw")
        print(f"decode every type (all {mem['types']} types, {mem['members']} members and "
              f"enumerators): {mem['decode_all_ms']:.0f} ms")


if __name__ == "__main__":
    main()
