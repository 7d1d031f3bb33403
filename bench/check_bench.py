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
2. The shared corpus (``../shared/corpus``: real programs of several projects, each with its
   own flags from ``programs.tsv``), every file at once as CI checks a project: one `bpfls
   check -p DB` process, DB a ``compile_commands.json`` written for the corpus in a temporary
   directory, against clang plus `bpftool gen min_core_btf` per file and kernel (the same
   flags; raw kernels made beforehand). Skipped when the corpus is absent; --shared-runs runs
   of the conventional way, three of bpfls each (medians), --skip-shared to leave it out.
3. Re-analysing a generated 1,000-line program after a one-line edit, with 4 kernels, in one
   process (as the language server does).
"""

from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from object_bench import CACHE, corpus_objects, raw_kernels  # noqa: E402
from shared_corpus import CLANG, CORPUS_DIR, sources  # noqa: E402

from bpfls.analysis.check import check_model  # noqa: E402
from bpfls.btf import load  # noqa: E402
from bpfls.btf.dump_c import dump_c  # noqa: E402
from bpfls.project.config import Config, KernelSpec  # noqa: E402
from bpfls.project.kernels import load_kernels  # noqa: E402
from bpfls.source import SourceOptions, analyze  # noqa: E402

from corpus_headers import directives  # noqa: E402

#: the test corpus's programs built with the primary kernel's vmlinux.h (not the few that bring
#: their own headers, ``//!`` lines: they need a build of their own)
CORPUS = [p for p in sorted((ROOT / "tests" / "corpus").glob("*.bpf.c")) if not directives(p)]
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
    raws = list(raw_kernels(tmp).values())
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
    return run_check(tmp, cache, [*[f"-D{d}" for d in DEFINES],
                                  *[f"-I{d}" for d in INCLUDES], *map(str, CORPUS)])


def run_check(tmp: Path, cache: str, args: list[str]) -> tuple[float, str]:
    """One `bpfls check --primary PRIMARY --kernel ... ARGS` process (its cache in
    ``tmp / cache``): its time and its last output line."""
    env = dict(os.environ, BPFLS_CACHE_DIR=str(tmp / cache),
               PYTHONPYCACHEPREFIX=str(tmp / "pycache"), PYTHONPATH=str(ROOT / "server"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, "-m", "bpfls", "check", "--primary", PRIMARY,
           *[a for k in KERNELS for a in ("--kernel", f"{k.name.removesuffix('.btf.xz')}={k}")],
           *args]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
    dt = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        sys.exit(f"bpfls check failed ({r.returncode}):\n{r.stderr}")
    return dt, r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""


#: what clang is given besides a program's own flags (``programs.tsv``'s first line)
SHARED_BASE_FLAGS = ["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86"]


def shared_programs(inc: Path) -> list[tuple[Path, list[str]]]:
    """Each program of the shared corpus with its clang flags, ``{vmlinux}`` filled in."""
    return [(src, [f.replace("{vmlinux}", str(inc)) for f in flags])
            for src, flags in sources().values()]


def write_compile_commands(into: Path, clang: str, programs: list[tuple[Path, list[str]]],
                           out: Path) -> Path:
    """A ``compile_commands.json`` for ``programs`` (as a build system writes one) in
    ``into``; objects would go to ``out``."""
    into.mkdir(parents=True, exist_ok=True)
    entries = [{"directory": str(src.parent), "file": str(src),
                "arguments": [clang, *SHARED_BASE_FLAGS, *flags, "-c", str(src), "-o",
                              str(out / f"{i}.o")]}
               for i, (src, flags) in enumerate(programs)]
    db = into / "compile_commands.json"
    db.write_text(json.dumps(entries, indent=1))
    return db


def shared_conventional(programs: list[tuple[Path, list[str]]], raws: list[Path], clang: str,
                        bpftool: str, tmp: Path) -> tuple[float, int]:
    """clang, then `bpftool gen min_core_btf` per kernel, for each program (one run);
    seconds and the number of programs clang compiled."""
    tmp.mkdir(parents=True, exist_ok=True)
    compiled = 0
    t0 = time.perf_counter()
    for i, (src, flags) in enumerate(programs):
        obj = tmp / f"{i}.o"
        r = subprocess.run([clang, *SHARED_BASE_FLAGS, *flags, "-c", str(src), "-o", str(obj)],
                           capture_output=True)
        if r.returncode != 0:
            continue
        compiled += 1
        for raw in raws:
            subprocess.run([bpftool, "gen", "min_core_btf", str(raw), str(tmp / "min.btf"),
                            str(obj)], check=True, capture_output=True)
    return time.perf_counter() - t0, compiled


def shared_bpfls(tmp: Path, db: Path, programs: list[tuple[Path, list[str]]],
                 cache: str = "cache", jobs: int | None = None) -> tuple[float, str]:
    """One `bpfls check -p DB` process over every program of the shared corpus."""
    return run_check(tmp, cache, ["-p", str(db), *(["-j", str(jobs)] if jobs else []),
                                  *[str(src) for src, _ in programs]])


def shared_figures(tmp: Path, clang: str, bpftool: str, runs: int) -> None:
    """Prints the shared corpus's figures (see the module's docstring)."""
    if not CORPUS_DIR.is_dir():
        print(f"shared corpus: {CORPUS_DIR} is absent, skipped")
        return
    corpus_objects(tool(CLANG), bpftool)  # builds the corpus's include directory once
    programs = shared_programs(CACHE / "objects" / "inc")
    raws = [raw_kernels(tmp / "raw")[k.name.removesuffix(".btf.xz")] for k in KERNELS]
    db = write_compile_commands(tmp / "build", clang, programs, tmp / "objs")
    shared_bpfls(tmp, db, programs, "shared-scratch")  # bytecode and the kernels' cache
    convs, ours = [], []
    compiled = 0
    summary = ""
    for _ in range(runs):
        conv, compiled = shared_conventional(programs, raws, clang, bpftool, tmp / "conv2")
        convs.append(conv)
        for _ in range(3):  # cheap beside the conventional way: steadier figures
            dt, summary = shared_bpfls(tmp, db, programs, "shared-scratch")
            ours.append(dt)
    one = statistics.median(shared_bpfls(tmp, db, programs, "shared-scratch", jobs=1)[0]
                            for _ in range(3))
    conv, our = statistics.median(convs), statistics.median(ours)
    print(f"shared corpus: {len(programs)} programs ({compiled} compiled by clang), "
          f"{len(KERNELS)} kernels ({summary})")
    print(f"  clang + bpftool gen min_core_btf per kernel: {conv * 1e3:8.0f} ms")
    print(f"  bpfls check -p compile_commands.json:        {our * 1e3:8.0f} ms   "
          f"{conv / our:.1f}x faster (goal >= 15x; -j 1: {one * 1e3:.0f} ms, "
          f"{conv / one:.1f}x)")


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


def tests_corpus_figures(tmp: Path, clang: str, bpftool: str, runs: int) -> None:
    """Prints the test corpus's figures (see the module's docstring)."""
    (tmp / "conv").mkdir()
    convs, ours = [], []
    bpfls_check(tmp, "scratch")  # compiles the bytecode, as installing the package does
    first, summary = bpfls_check(tmp)  # an empty cache: this run fills it
    for _ in range(runs):
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--corpus-runs", type=int, default=3)
    ap.add_argument("--shared-runs", type=int, default=1)
    ap.add_argument("--skip-shared", action="store_true")
    ap.add_argument("--skip-tests-corpus", action="store_true")
    args = ap.parse_args()
    clang = tool("clang-16", "clang")
    bpftool = tool("bpftool")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.skip_tests_corpus:
            tests_corpus_figures(tmp, clang, bpftool, args.corpus_runs)
        if not args.skip_shared:
            shared_figures(tmp, clang, bpftool, args.shared_runs)
        first, edit, n = edit_figures(args.runs)
    print(f"{n}-line program, 4 kernels: first analysis {first * 1e3:.0f} ms; after a one-line "
          f"edit {edit * 1e3:.1f} ms median over {args.runs} edits (goal <= 20 ms)")


if __name__ == "__main__":
    main()
