#!/usr/bin/env python3
"""What the load checks (attach targets, signatures, helpers, kfuncs, maps: ``analysis/
load_check.py``) find on the shared corpus and what they cost.

    python bench/load_bench.py [--shared] [--rounds N] [--details] [NAME-SUBSTRING...]

1. Per project of ``../shared/corpus``: programs, helper and kfunc calls, maps the source model
   reads, and the load diagnostics by code (errors and warnings) on the four sample kernels
   (``--shared``: plus the 16 kernels of ``../shared/btf``). ``--details`` lists each one.
2. The cost, in one process: every program's ``check_model`` with the load checks and without
   them (the same models, alternating, ``--rounds`` times, medians), as a share of the whole
   per-file check (source analysis + ``check_model``), which is what ``bpfls check`` spends
   per file after start-up.
3. Every compiled object of the corpus judged (``check_object``) with and without them.
4. A keystroke: re-analysing and re-checking a generated 1,000-line program (check_bench's)
   after a one-line edit, with and without the load checks (20 edits each, medians).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from object_bench import CACHE, corpus_objects, tool  # noqa: E402
from prediction import options_for  # noqa: E402
from shared_corpus import BUILD_KERNEL, CLANG, programs, sources  # noqa: E402

import bpfls.analysis.check as check_mod  # noqa: E402
from bpfls.analysis.check import check_model  # noqa: E402
from bpfls.analysis.diagnostics import CODES  # noqa: E402
from bpfls.btf import load  # noqa: E402
from bpfls.project.config import Config, KernelSpec  # noqa: E402
from bpfls.project.kernels import Kernel, KernelSet, load_kernels  # noqa: E402
from bpfls.source import SourceOptions, analyze  # noqa: E402

SAMPLE = ROOT / "sample-btf"
SAMPLE_NAMES = ("5.10-amd64", "6.1-amd64", "6.12-amd64", "6.12-arm64")
SHARED = ROOT.parent / "shared" / "btf" / "kernels"
#: the codes of the load rules
LOAD_CODES = frozenset({
    "unknown-section", "depends-on-config", "attach-target-missing", "attach-target-unverified",
    "attach-target-unknown", "program-type-missing", "signature-mismatch",
    "argument-out-of-range", "helper-missing", "map-type-missing", "map-flag-missing",
    "kfunc-missing", "kfunc-incompatible", "ksym-missing", "struct-ops-missing",
    "kernel-pointer-deref"})


def kernel_set(shared: bool) -> KernelSet:
    ks = load_kernels(Config(kernels=tuple(KernelSpec(n, str(SAMPLE / f"{n}.btf.xz"))
                                           for n in SAMPLE_NAMES), primary="6.12-amd64"))
    if not shared or not SHARED.is_dir():
        return ks
    extra = tuple(Kernel(f.name.removesuffix(".btf.gz"), str(f), load(f))
                  for f in sorted(SHARED.glob("*.btf.gz")))
    return KernelSet(tuple(ks) + extra, ks.primary)


def without_load_checks():
    """``check_model`` with the load checks left out (restored on exit)."""
    class Off:
        def __enter__(self):
            self.saved = check_mod.check_load
            check_mod.check_load = lambda *a, **k: ([], [])

        def __exit__(self, *exc):
            check_mod.check_load = self.saved
    return Off()


def corpus_figures(ks: KernelSet, rounds: int, details: bool, only: list[str]) -> None:
    objs = corpus_objects(tool(CLANG), tool("bpftool"))
    built = {o.name.removesuffix(".o") for o in objs}
    primary = load(BUILD_KERNEL)
    projects = programs()
    inc = CACHE / "objects" / "inc"
    per: dict[str, Counter] = {}
    found: list[str] = []
    t_analyze: list[float] = []
    models = []
    for name, (src, flags) in sources().items():
        if name not in built or (only and not any(o in name for o in only)):
            continue
        t0 = time.perf_counter()
        model = analyze(str(src), None, options_for(flags, src, inc, primary))
        t_analyze.append(time.perf_counter() - t0)
        models.append((name, model))
        proj = projects.get(name, "")
        c = per.setdefault(proj, Counter())
        c["files"] += 1
        c["programs"] += len(model.programs)
        c["helper calls"] += sum(1 for k in model.calls if k.reachable)
        c["maps"] += len(model.maps)
        report = check_model(model, ks)
        for d in report.diagnostics:
            if d.code in LOAD_CODES and d.severity.value in ("error", "warning"):
                c[f"{d.severity.value}:{d.code}"] += 1
                found.append(f"{name}: {Path(d.path).name}:{d.range.start.line + 1}: "
                             f"{d.severity.value}: {d.message} [{d.code}]")
    from bpfls.analysis.load_check import check_load

    per_file = []
    for (_, m), ta in zip(models, t_analyze, strict=True):
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            check_load(m, ks.for_program(m.vmlinux_kernel))
            best = min(best, time.perf_counter() - t0)
        per_file.append((best, ta))
    on, off = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _, m in models:
            check_model(m, ks)
        on.append(time.perf_counter() - t0)
        with without_load_checks():
            t0 = time.perf_counter()
            for _, m in models:
                check_model(m, ks)
            off.append(time.perf_counter() - t0)
    if details:
        print("\n".join(found))
    print(f"load diagnostics on {len(ks.loaded)} kernels ({', '.join(k.name for k in ks.loaded)})")
    for proj, c in sorted(per.items()):
        codes = ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if ":" in k) or "none"
        print(f"  {proj:24s} {c['files']:3d} files {c['programs']:4d} programs "
              f"{c['helper calls']:6d} helper/kfunc calls {c['maps']:5d} maps: {codes}")
    total = Counter()
    for c in per.values():
        total.update(c)
    print(f"  {'all':24s} errors {sum(v for k, v in total.items() if k.startswith('error:'))}"
          f", warnings {sum(v for k, v in total.items() if k.startswith('warning:'))}")
    a = sum(t_analyze)
    m_on, m_off = statistics.median(on), statistics.median(off)
    print(f"cost: analysis {a:.2f} s (first run), check_model {m_off:.2f} s without the load "
          f"checks, {m_on:.2f} s with (median of {rounds}); the load checks add "
          f"{m_on - m_off:.2f} s = {100 * (m_on - m_off) / (a + m_off):.1f}% of the per-file "
          "check (analysis + check_model)")
    loads = sorted(x for x, _ in per_file)
    shares = sorted(x / a for x, a in per_file)
    print(f"per file, the load checks alone (best of 3): median {1e3 * loads[len(loads) // 2]:.2f}"
          f" ms, max {1e3 * loads[-1]:.2f} ms; median {100 * shares[len(shares) // 2]:.2f}% of "
          "the file's source analysis")


def object_figures(ks: KernelSet, rounds: int) -> None:
    """``check_object`` over the corpus's objects, with and without the load checks."""
    import bpfls.analysis.object_check as oc

    objs = corpus_objects(tool(CLANG), tool("bpftool"))

    def run() -> float:
        t0 = time.perf_counter()
        for o in objs:
            oc.check_object(str(o), ks)
        return time.perf_counter() - t0

    class NoLoad:
        def __enter__(self):
            self.saved = oc.check_load, oc.load_model
            oc.check_load = lambda *a, **k: ([], [])
            oc.load_model = lambda *a, **k: None

        def __exit__(self, *exc):
            oc.check_load, oc.load_model = self.saved

    run()  # warm: kernels' indexes, shared resolutions
    on, off = [], []
    for _ in range(rounds):
        on.append(run())
        with NoLoad():
            off.append(run())
    a, b = statistics.median(on), statistics.median(off)
    print(f"objects ({len(objs)}): check_object {b:.2f} s without the load checks, {a:.2f} s "
          f"with ({100 * (a - b) / b:+.1f}%; medians of {rounds})")


def keystroke_figures(runs: int = 40) -> None:
    from check_bench import big_program

    ks = load_kernels(Config(kernels=tuple(KernelSpec(n, str(SAMPLE / f"{n}.btf.xz"))
                                           for n in SAMPLE_NAMES), primary="6.12-amd64"))
    opts = SourceOptions(primary=ks.primary_btf, defines={"__TARGET_ARCH_x86": None})
    text = big_program()
    path = str(ROOT / "bench" / "big.bpf.c")
    check_model(analyze(path, text, opts), ks)
    lines = text.splitlines()

    def edit(r: int, tag: str) -> float:
        target = 20 + (r * 37) % (len(lines) - 40)
        lines[target] = lines[target] + f" /* {tag} {r} */"
        t0 = time.perf_counter()
        check_model(analyze(path, "\n".join(lines) + "\n", opts), ks)
        return time.perf_counter() - t0

    on, off = [], []
    for r in range(runs):  # alternating, so drift falls on both alike
        on.append(edit(r, "on"))
        with without_load_checks():
            off.append(edit(r, "off"))
    a, b = statistics.median(on), statistics.median(off)
    print(f"keystroke ({len(lines)} lines, {len(ks.loaded)} kernels): re-check {1e3 * a:.1f} ms "
          f"with the load checks, {1e3 * b:.1f} ms without ({1e3 * (a - b):+.1f} ms, "
          f"{100 * (a - b) / b:+.1f}%; medians of {runs} alternating edits each)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", action="store_true", help="also the 16 shared kernels")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--details", action="store_true")
    ap.add_argument("only", nargs="*")
    args = ap.parse_args()
    assert all(c in CODES for c in LOAD_CODES)
    ks = kernel_set(args.shared)
    corpus_figures(ks, args.rounds, args.details, args.only)
    object_figures(ks, args.rounds)
    keystroke_figures()


if __name__ == "__main__":
    main()
