#!/usr/bin/env python3
"""`bpfls check` figures.

    python bench/check_bench.py [--runs N]

1. The whole test corpus (tests/corpus/*.bpf.c) against every sample kernel: bpfls (kernels
   loaded from their index cache, then source analysis + libbpf-semantics resolution) against
   the conventional way in the same run: `clang -g -O2 -target bpf` per program plus
   `bpftool gen min_core_btf` per program and kernel.
2. Re-analysing a generated 1,000-line program after a one-line edit, with 4 kernels.
"""

from __future__ import annotations

import argparse
import lzma
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
from bpfls.btf.render import dump_c  # noqa: E402
from bpfls.config import Config, KernelSpec  # noqa: E402
from bpfls.kernels import load_kernels  # noqa: E402
from bpfls.source import SourceOptions, analyze  # noqa: E402

CORPUS = sorted((ROOT / "tests" / "corpus").glob("*.bpf.c"))
KERNELS = sorted((ROOT / "sample-btf").glob("*.btf.xz"))
PRIMARY = "6.12-amd64"
DEFINES = ["__TARGET_ARCH_x86"]


def tool(*names: str) -> str:
    for n in names:
        p = shutil.which(n) or (f"/usr/sbin/{n}" if Path(f"/usr/sbin/{n}").exists() else None)
        if p:
            return p
    sys.exit(f"needs {names[0]}")


def conventional(tmp: Path, clang: str, bpftool: str) -> float:
    inc = tmp / "inc"
    inc.mkdir(exist_ok=True)
    (inc / "vmlinux.h").write_text(dump_c(load(ROOT / "sample-btf" / f"{PRIMARY}.btf.xz")))
    raws = []
    for k in KERNELS:
        raw = tmp / k.name.removesuffix(".xz")
        raw.write_bytes(lzma.decompress(k.read_bytes()))
        raws.append(raw)
    t0 = time.perf_counter()
    for src in CORPUS:
        obj = tmp / (src.stem + ".o")
        subprocess.run([clang, "-g", "-O2", "-target", "bpf", *[f"-D{d}" for d in DEFINES],
                        f"-I{inc}", "-c", str(src), "-o", str(obj)], check=True)
        for raw in raws:
            subprocess.run([bpftool, "gen", "min_core_btf", str(raw), str(tmp / "min.btf"),
                            str(obj)], check=True, capture_output=True)
    return time.perf_counter() - t0


def with_bpfls() -> tuple[float, int]:
    t0 = time.perf_counter()
    cfg = Config(kernels=tuple(KernelSpec(k.name.removesuffix(".btf.xz"), str(k))
                               for k in KERNELS), primary=PRIMARY)
    ks = load_kernels(cfg)
    opts = SourceOptions(primary=ks.primary_btf, defines=dict.fromkeys(DEFINES))
    n = 0
    for src in CORPUS:
        rep = check_model(analyze(str(src), src.read_text(), opts), ks)
        n += len(rep.relocations)
    return time.perf_counter() - t0, n


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
    args = ap.parse_args()
    clang = tool("clang-16", "clang")
    bpftool = tool("bpftool")
    with tempfile.TemporaryDirectory() as d:
        conv = conventional(Path(d), clang, bpftool)
    with_bpfls()  # fill the kernels' index cache, as every later run has it
    ours, nrel = with_bpfls()
    print(f"corpus: {len(CORPUS)} programs, {nrel} relocations, {len(KERNELS)} kernels")
    print(f"  clang + bpftool gen min_core_btf per kernel: {conv * 1e3:8.0f} ms")
    print(f"  bpfls (load kernels + analyse + resolve):    {ours * 1e3:8.0f} ms   "
          f"{conv / ours:.1f}x faster (goal >= 10x)")
    first, edit, n = edit_figures(args.runs)
    print(f"{n}-line program, 4 kernels: first analysis {first * 1e3:.0f} ms; after a one-line "
          f"edit {edit * 1e3:.1f} ms median over {args.runs} edits (goal <= 30 ms)")


if __name__ == "__main__":
    main()
