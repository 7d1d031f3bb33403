#!/usr/bin/env python3
"""`bpfls check` figures.

    python bench/check_bench.py [--runs N] [--corpus-runs N]

1. The whole test corpus (tests/corpus/*.bpf.c) against every sample kernel, as a user runs it:
   one `bpfls check` process (Python start-up, imports, loading the kernels from the on-disk
   cache, analysis, resolution, output), against the conventional way in the same run: one
   `clang -g -O2 -target bpf` process per program plus one `bpftool gen min_core_btf` process
   per program and kernel. Process start-up counts on both sides. The `bpfls` runs use a fresh
   cache directory that a first run fills (its time is shown too: a CI job that keeps no
   cache pays it), and compiled bytecode as an installed package has it. Medians of
   --corpus-runs runs.
2. Re-analysing a generated 1,000-line program after a one-line edit, with 4 kernels, in one
   process (as the language server does).
"""

from __future__ import annotations

import argparse
import lzma
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

from bpfls.analysis.check import check_model  # noqa: E402
from bpfls.btf import load  # noqa: E402
from bpfls.btf.dump_c import dump_c  # noqa: E402
from bpfls.project.config import Config, KernelSpec  # noqa: E402
from bpfls.project.kernels import load_kernels  # noqa: E402
from bpfls.source import SourceOptions, analyze  # noqa: E402

CORPUS = sorted((ROOT / "tests" / "corpus").glob("*.bpf.c"))
KERNELS = sorted((ROOT / "sample-btf").glob("*.btf.xz"))
PRIMARY = "6.12-amd64"
DEFINES = ["__TARGET_ARCH_x86"]
#: the multiarch headers (<asm/...>) that some programs reach through libbpf's headers
INCLUDES = [d for d in ("/usr/include/x86_64-linux-gnu",) if Path(d).is_dir()]


def tool(*names: str) -> str:
    for n in names:
        p = shutil.which(n) or (f"/usr/sbin/{n}" if Path(f"/usr/sbin/{n}").exists() else None)
        if p:
            return p
    sys.exit(f"needs {names[0]}")


def conventional(tmp: Path, clang: str, bpftool: str) -> float:
    """One run of the conventional way (vmlinux.h and the raw kernels are made beforehand)."""
    inc = tmp / "inc"
    if not inc.exists():
        inc.mkdir()
        (inc / "vmlinux.h").write_text(dump_c(load(ROOT / "sample-btf" / f"{PRIMARY}.btf.xz")))
    raws = []
    for k in KERNELS:
        raw = tmp / k.name.removesuffix(".xz")
        if not raw.exists():
            raw.write_bytes(lzma.decompress(k.read_bytes()))
        raws.append(raw)
    t0 = time.perf_counter()
    for src in CORPUS:
        obj = tmp / (src.stem + ".o")
        subprocess.run([clang, "-g", "-O2", "-target", "bpf", *[f"-D{d}" for d in DEFINES],
                        f"-I{inc}", *[f"-I{d}" for d in INCLUDES], "-c", str(src), "-o",
                        str(obj)], check=True)
        for raw in raws:
            subprocess.run([bpftool, "gen", "min_core_btf", str(raw), str(tmp / "min.btf"),
                            str(obj)], check=True, capture_output=True)
    return time.perf_counter() - t0


def bpfls_check(tmp: Path, cache: str = "cache") -> tuple[float, str]:
    """One `bpfls check` process over the corpus; its time and its last output line."""
    env = dict(os.environ, BPFLS_CACHE_DIR=str(tmp / cache),
               PYTHONPYCACHEPREFIX=str(tmp / "pycache"), PYTHONPATH=str(ROOT / "server"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, "-m", "bpfls", "check", "--primary", PRIMARY,
           *[f"-D{d}" for d in DEFINES], *[f"-I{d}" for d in INCLUDES],
           *[a for k in KERNELS for a in ("--kernel", f"{k.name.removesuffix('.btf.xz')}={k}")],
           *map(str, CORPUS)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
    dt = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        sys.exit(f"bpfls check failed ({r.returncode}):\n{r.stderr}")
    return dt, r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""


def in_process() -> dict[str, float]:
    """Where the time of a check goes, in a fresh process (imports excluded)."""
    code = f"""
import json, sys, time
sys.path.insert(0, {str(ROOT / "server")!r})
from pathlib import Path
from bpfls.analysis.check import check_model
from bpfls.project.config import Config, KernelSpec
from bpfls.project.kernels import guess_arch, load_kernels
from bpfls.source import SourceOptions, analyze
t0 = time.perf_counter()
cfg = Config(kernels=tuple(KernelSpec(p.name.removesuffix(".btf.xz"), str(p))
                           for p in map(Path, {[str(k) for k in KERNELS]!r})),
             primary={PRIMARY!r})
ks = load_kernels(cfg)
opts = SourceOptions(primary=ks.primary_btf, defines=dict.fromkeys({DEFINES!r}),
                     include_dirs=tuple({INCLUDES!r}), arch=guess_arch(ks.primary_btf))
t1 = time.perf_counter()
ta = tr = 0.0
for src in map(Path, {[str(c) for c in CORPUS]!r}):
    a = time.perf_counter()
    model = analyze(str(src), src.read_text(), opts)
    b = time.perf_counter()
    check_model(model, ks)
    tr += time.perf_counter() - b
    ta += b - a
print(json.dumps({{"load": t1 - t0, "analyse": ta, "resolve": tr}}))
"""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       check=True)
    import json

    return json.loads(r.stdout)


def big_program(lines: int = 1000) -> str:
    head = ('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
            '#include <bpf/bpf_core_read.h>\n#include <bpf/bpf_tracing.h>\n'
            'struct task_struct___o { volatile long int state; } '
            '__attribute__((preserve_access_index));\n')
    body = []
    i = 0
    while len("".join(body).splitlines()) + 6 < lines:
        body.append(f"""
SEC("kprobe/do_fn_{i}")
int BPF_KPROBE(prog_{i}, struct file *file)
{{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    int ppid = BPF_CORE_READ(task, real_parent, tgid);
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    long st = 0;
    if (bpf_core_field_exists(struct task_struct___o, state))
        st = BPF_CORE_READ((struct task_struct___o *)task, state);
    bpf_printk("%d %ld %lu", ppid, st, BPF_CORE_READ(inode, i_ino));
    return 0;
}}
""")
        i += 1
    return head + "".join(body) + 'char LICENSE[] SEC("license") = "GPL";\n'


def edit_figures(runs: int) -> tuple[float, float, int]:
    cfg = Config(kernels=tuple(KernelSpec(k.name.removesuffix(".btf.xz"), str(k))
                               for k in KERNELS[:4]), primary=PRIMARY)
    ks = load_kernels(cfg)
    opts = SourceOptions(primary=ks.primary_btf, defines=dict.fromkeys(DEFINES))
    text = big_program()
    path = str(ROOT / "bench" / "big.bpf.c")
    t0 = time.perf_counter()
    check_model(analyze(path, text, opts), ks)
    first = time.perf_counter() - t0
    lines = text.splitlines()
    xs = []
    for r in range(runs):
        target = 20 + (r * 37) % (len(lines) - 40)
        lines[target] = lines[target] + f" /* edit {r} */"
        t0 = time.perf_counter()
        check_model(analyze(path, "\n".join(lines) + "\n", opts), ks)
        xs.append(time.perf_counter() - t0)
    return first, statistics.median(xs), len(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--corpus-runs", type=int, default=3)
    args = ap.parse_args()
    clang = tool("clang-16", "clang")
    bpftool = tool("bpftool")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "conv").mkdir()
        convs, ours = [], []
        bpfls_check(tmp, "scratch")  # compiles the bytecode, as installing the package does
        first, summary = bpfls_check(tmp)  # an empty cache: this run fills it
        for _ in range(args.corpus_runs):
            convs.append(conventional(tmp / "conv", clang, bpftool))
            ours.append(bpfls_check(tmp)[0])
        os.environ["BPFLS_CACHE_DIR"] = str(tmp / "cache")
        parts = in_process()
        conv, our = statistics.median(convs), statistics.median(ours)
        print(f"corpus: {len(CORPUS)} programs, {len(KERNELS)} kernels ({summary})")
        print(f"  clang + bpftool gen min_core_btf per kernel: {conv * 1e3:8.0f} ms")
        print(f"  bpfls check (one process, cache filled):     {our * 1e3:8.0f} ms   "
              f"{conv / our:.1f}x faster (goal >= 10x)")
        print(f"    in a fresh process, imports excluded: load kernels "
              f"{parts['load'] * 1e3:.0f} ms, analyse {parts['analyse'] * 1e3:.0f} ms, "
              f"resolve + judge {parts['resolve'] * 1e3:.0f} ms")
        print(f"  bpfls check with an empty cache (first run): {first * 1e3:8.0f} ms   "
              f"{conv / first:.1f}x faster")
        first, edit, n = edit_figures(args.runs)
    print(f"{n}-line program, 4 kernels: first analysis {first * 1e3:.0f} ms; after a one-line "
          f"edit {edit * 1e3:.1f} ms median over {args.runs} edits (goal <= 30 ms)")


if __name__ == "__main__":
    main()
