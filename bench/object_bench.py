#!/usr/bin/env python3
"""Object-mode figures: compiled BPF objects judged on the sample kernels, bpfls and bpftool.

    python bench/object_bench.py [--objects DIR] [--runs N]

Every object of the shared corpus (``../shared/corpus``, compiled with clang-16 against the
6.12-amd64 sample kernel once into ``.cache/shared-corpus/``, again when the corpus, the
compiler or bpftool changes), or the ``*.o`` files of ``--objects DIR``, on each of the four
sample kernels, all in the same run:

(a) ``bpftool gen min_core_btf``: one process per object and kernel, as users run it;
(b) bpfls in this process: the four kernels loaded (shown apart, with the on-disk index cache
    filled), then every object read and every relocation judged on every kernel, its
    verifier reachability included (:func:`judge_all`);
(c) one ``bpfls check --kernel ... OBJECTS...`` over all of them (start-up, imports and kernel
    loading included), with its default of one worker per CPU and with ``-j 1``.

Both sides read the same raw kernel BTF files (bpftool reads no compressed ones). Medians of
``--runs`` runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "tests"))  # shared_corpus: the corpus's build, shared with tests

from shared_corpus import (  # noqa: E402
    BUILD_KERNEL,
    CLANG,
    CORPUS_DIR,
    build_corpus,
    built,
    find_tool,
)

from bpfls.btf import Btf, load  # noqa: E402
from bpfls.core.ext import read_ext  # noqa: E402
from bpfls.core.objects import judge_object  # noqa: E402
from bpfls.core.objfile import read_object  # noqa: E402

KERNELS = sorted((ROOT / "sample-btf").glob("*.btf.xz"))
CACHE = ROOT / ".cache" / "shared-corpus"
GOAL = 20


def judge_all(objects: Sequence[Path], kernels: Sequence[Btf]) -> float:
    """Seconds to read every object and judge each of its relocations on every kernel
    (libbpf's verdict, and whether the verifier reaches it there)."""
    t0 = time.perf_counter()
    for path in objects:
        obj = read_object(path)
        for kernel in kernels:
            judge_object(obj, kernel, poisoned_only=True)
    return time.perf_counter() - t0


def tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        sys.exit(f"needs {name}")
    return path


def _version(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True).stdout


def _corpus_key(clang: str, bpftool: str) -> str:
    """What the cached build depends on: the corpus's files, the kernel, the tools."""
    h = hashlib.sha256()
    for f in sorted(p for p in CORPUS_DIR.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(CORPUS_DIR)).encode() + b"\0" + f.read_bytes())
    h.update(BUILD_KERNEL.read_bytes())
    h.update(_version(clang, "--version").encode() + _version(bpftool, "version").encode())
    return h.hexdigest()


def raw_kernels(into: Path) -> dict[str, Path]:
    """The sample kernels decompressed (bpftool reads raw BTF), name → file."""
    into.mkdir(parents=True, exist_ok=True)
    out = {}
    for k in KERNELS:
        raw = into / k.name.removesuffix(".xz")
        if not raw.exists():
            raw.write_bytes(lzma.decompress(k.read_bytes()))
        out[k.name.removesuffix(".btf.xz")] = raw
    return out


def corpus_objects(clang: str, bpftool: str) -> list[Path]:
    """The shared corpus's objects, built into the cache unless it holds the same build."""
    if not CORPUS_DIR.is_dir():
        sys.exit(f"{CORPUS_DIR} is not present; give --objects DIR")
    key = _corpus_key(clang, bpftool)
    stamp = CACHE / "key"
    if stamp.exists() and stamp.read_text() == key:
        corpus = built(CACHE / "objects", {})
    else:
        shutil.rmtree(CACHE / "objects", ignore_errors=True)
        corpus = build_corpus(CACHE / "objects", {}, cc=clang, bpftool=bpftool)
        stamp.write_text(key)
        print(f"built the shared corpus into {CACHE / 'objects'} in "
              f"{corpus.build_seconds:.0f} s")
    for name, error in sorted(corpus.failed.items()):
        print(f"  not compiled: {name}: {error}")
    return [corpus.objects[n] for n in sorted(corpus.objects)]


def bpftool_all(bpftool: str, objects: Sequence[Path], raws: Sequence[Path],
                tmp: Path) -> tuple[float, int]:
    """One ``bpftool gen min_core_btf`` process per object and kernel: seconds, failures."""
    failed = 0
    t0 = time.perf_counter()
    for obj in objects:
        for raw in raws:
            p = subprocess.run([bpftool, "gen", "min_core_btf", str(raw), str(tmp / "min.btf"),
                                str(obj)], capture_output=True)
            failed += p.returncode != 0
    return time.perf_counter() - t0, failed


def check_cli(objects: Sequence[Path], raws: dict[str, Path], tmp: Path,
              fmt: str = "text", jobs: int | None = None) -> tuple[float, str]:
    """One ``bpfls check`` process over every object (``jobs``: its -j, default one per
    CPU): seconds and its standard output."""
    env = dict(os.environ, BPFLS_CACHE_DIR=str(tmp / "cache"), PYTHONPATH=str(ROOT / "server"))
    cmd = [sys.executable, "-m", "bpfls", "check", "--format", fmt,
           *(["-j", str(jobs)] if jobs is not None else []),
           *[a for name, raw in raws.items() for a in ("--kernel", f"{name}={raw}")],
           *map(str, objects)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
    dt = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        sys.exit(f"bpfls check failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return dt, r.stdout


def cli_reads_objects(objects: Sequence[Path], raws: dict[str, Path], tmp: Path) -> bool:
    """Whether ``bpfls check`` reports the relocations of an object (the smallest one that
    has some) it is given."""
    obj = min((o for o in objects if read_ext(o).relocations), key=lambda o: o.stat().st_size)
    report = json.loads(check_cli([obj], raws, tmp, "json")[1])
    return any(f.get("relocations") for f in report.get("files", []))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=Path, help="judge the *.o files of this directory")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    bpftool = tool("bpftool")
    if args.objects:
        objects = sorted(args.objects.glob("*.o"))
    else:
        objects = corpus_objects(tool(CLANG), bpftool)
    if not objects:
        sys.exit("no objects")
    raws = raw_kernels(CACHE / "kernels")
    relocations = sum(len(read_ext(o).relocations) for o in objects)
    pairs = len(objects) * len(raws)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ["BPFLS_CACHE_DIR"] = str(tmp / "cache")
        for raw in raws.values():
            load(raw)  # fills the index cache, as every run after a first one finds it
        conv, loads, ours, failed = [], [], [], 0
        for _ in range(args.runs):
            dt, failed = bpftool_all(bpftool, objects, list(raws.values()), tmp)
            conv.append(dt)
            t0 = time.perf_counter()
            kernels = [load(raw) for raw in raws.values()]
            loads.append(time.perf_counter() - t0)
            ours.append(judge_all(objects, kernels))
        cli = None
        if cli_reads_objects(objects, raws, tmp):
            cli = statistics.median(check_cli(objects, raws, tmp)[0] for _ in range(args.runs))
            cli1 = statistics.median(check_cli(objects, raws, tmp, jobs=1)[0]
                                     for _ in range(args.runs))
    a, load_s, b = statistics.median(conv), statistics.median(loads), statistics.median(ours)
    print(f"objects: {len(objects)} ({relocations} CO-RE relocations), {len(raws)} kernels: "
          f"{pairs} object-kernel pairs; medians of {args.runs} runs")
    row("(a) bpftool gen min_core_btf, a process per pair", a,
        f"({a / pairs * 1e3:.1f} ms per pair; {failed} failed)")
    row("(b) bpfls in one process, judging them all", b, f"{a / b:.1f}x faster (goal >= {GOAL}x)")
    row(f"    and loading the {len(raws)} kernels before", load_s,
        f"{a / (load_s + b):.1f}x faster with it")
    if cli is None:
        print("  (c) bpfls check --kernel ... OBJECTS: not available yet (it reports no "
              "relocations for an object)")
    else:
        row(f"(c) bpfls check --kernel ... OBJECTS ({os.cpu_count()} CPUs)", cli,
            f"{a / cli:.1f}x faster")
        row("    the same with -j 1 (one process)", cli1, f"{a / cli1:.1f}x faster")


def row(label: str, seconds: float, note: str) -> None:
    print(f"  {label:<50}{seconds * 1e3:8.0f} ms   {note}")

if __name__ == "__main__":
    main()
