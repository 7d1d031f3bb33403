#!/usr/bin/env python3
"""Source analysis figures (`bpfls.source`).

    python bench/source_bench.py [--runs N] [--lines N]

1. A generated program of ~1,000 lines against the primary sample kernel: the first analysis
   (nothing cached but the kernel), then re-analysis after a one-line edit (per-function
   results reused), with the time of each phase.
2. The test corpus (tests/fixtures/source/*.bpf.c), each program analysed cold.
3. A vmlinux.h of the primary kernel turned into BTF (no kernel BTF configured), then read back
   from the cache.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "tests"))

from test_source_incremental import program  # noqa: E402

from bpfls.btf import load  # noqa: E402
from bpfls.btf.dump_c import dump_c  # noqa: E402
from bpfls.source import SourceOptions, analyze, clear_caches, vmlinux  # noqa: E402

PRIMARY = ROOT / "sample-btf" / "6.12-amd64.btf.xz"
CORPUS = sorted((ROOT / "tests" / "fixtures" / "source").glob("*.bpf.c"))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--lines", type=int, default=1000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    kernel = load(PRIMARY)
    print(f"primary kernel loaded in {ms(time.perf_counter() - t0)}")
    opts = SourceOptions(primary=kernel, arch="x86")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "big.bpf.c")
        text = program(args.lines)
        n_lines = text.count("\n")
        clear_caches()
        t0 = time.perf_counter()
        m = analyze(path, text, opts)
        first = time.perf_counter() - t0
        print(f"{n_lines}-line program, first analysis: {ms(first)} "
              f"({len(m.accesses)} relocations, {len(m.functions)} functions)")
        print("  phases: " + ", ".join(f"{k} {ms(v)}" for k, v in m.timings.items()))
        warm = []
        phases: dict[str, list[float]] = {}
        for i in range(args.runs):
            edited = text.replace("out[3] += next->signal", f"out[3] += {i} + next->signal", 1)
            t0 = time.perf_counter()
            m = analyze(path, edited, opts)
            warm.append(time.perf_counter() - t0)
            for k, v in m.timings.items():
                phases.setdefault(k, []).append(v)
        print(f"  after a one-line edit: median {ms(statistics.median(warm))}, "
              f"best {ms(min(warm))} over {args.runs} runs")
        print("  phases (median): " + ", ".join(f"{k} {ms(statistics.median(v))}"
                                                for k, v in phases.items()))

        total = 0.0
        for p in CORPUS:
            clear_caches()
            t0 = time.perf_counter()
            analyze(str(p), None, SourceOptions(primary=kernel, arch="x86", include_dirs=(
                str(ROOT / "tests" / "fixtures" / "source" / "include"),)))
            total += time.perf_counter() - t0
        print(f"corpus: {len(CORPUS)} programs analysed cold in {ms(total)}")

        header = Path(tmp) / "vmlinux.h"
        header.write_text(dump_c(kernel))
        vmlinux._MEMORY.clear()
        t0 = time.perf_counter()
        btf = vmlinux.vmlinux_h_btf(str(header), use_cache=False)
        built = time.perf_counter() - t0
        print(f"vmlinux.h ({header.stat().st_size >> 10} KiB) to BTF: {built:.2f} s, "
              f"{btf.nr_types} types")


if __name__ == "__main__":
    main()
