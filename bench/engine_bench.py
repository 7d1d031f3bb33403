#!/usr/bin/env python3
"""Hover and completion latency (`bpfls.analysis.hover`, `bpfls.analysis.completion`).

    python bench/engine_bench.py [--lines N] [--samples N] [--seed N]

A generated program of ~2,000 lines, the four sample kernels loaded (primary 6.12-amd64) and
the program analysed once. Then:

1. the per-kernel name lists built ahead of time (``kernelindex.prepare``), as the language
   server does after loading kernels;
2. hover on every identifier of a sample of lines, twice (first pass: member and type caches
   cold; second pass: warm), p50/p99/max per call;
3. completion as typed: a line cut right after a trigger (``->``, ``.``, ``, `` in
   ``BPF_CORE_READ``, ``struct ``, ``SEC("fentry/``...), each request on a new text with the
   model of the full text (as while typing), p50/p99/max per call.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

from bpfls.analysis.completion import _complete  # noqa: E402
from bpfls.analysis.hover import _hover  # noqa: E402
from bpfls.analysis.kernelindex import prepare  # noqa: E402
from bpfls.project.config import Config, KernelSpec  # noqa: E402
from bpfls.project.kernels import load_kernels  # noqa: E402
from bpfls.source import SourceOptions, analyze  # noqa: E402
from bpfls.source.positions import Position  # noqa: E402
from bpfls.source.query import tokens_of_lines  # noqa: E402

SAMPLES = ROOT / "sample-btf"
NAMES = ["5.10-amd64", "6.1-amd64", "6.12-amd64", "6.12-arm64"]

HEAD = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o {
	long state;
} __attribute__((preserve_access_index));

struct event {
	__u32 pid;
	__u32 ppid;
	__u64 ino;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

long out[64];
"""

FUNC = """\
static __always_inline long helper_{i}(struct task_struct *t, struct file *f)
{{
	long v = BPF_CORE_READ(t, real_parent, tgid);
	v += BPF_CORE_READ(t, mm, exe_file, f_path.dentry, d_name.len);
	v += BPF_CORE_READ(f, f_inode, i_ino);
	if (bpf_core_field_exists(((struct task_struct___o *)t)->state))
		v += BPF_CORE_READ((struct task_struct___o *)t, state);
	else
		v += t->__state;
	return v + t->pid;
}}

SEC("fentry/do_exit")
int BPF_PROG(on_exit_{i}, long code)
{{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_struct *parent = task->real_parent;
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	struct event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = task->tgid;
	e->ppid = BPF_CORE_READ(parent, tgid);
	e->ino = BPF_CORE_READ(exe, f_inode, i_ino);
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), task->comm);
	out[{j}] += helper_{i}(task, exe) + code;
	bpf_ringbuf_submit(e, 0);
	return 0;
}}

SEC("kprobe/tcp_connect")
int BPF_KPROBE(on_connect_{i}, struct sock *sk)
{{
	__u32 daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	__u16 family = sk->__sk_common.skc_family;
	struct inet_sock *inet = (struct inet_sock *)sk;

	out[{j}] += daddr + family + BPF_CORE_READ(inet, inet_sport);
	return 0;
}}

"""

#: (what the line is cut to, a description): completion while typing
TYPED = [
    ("\tlong z = BPF_CORE_READ(task, ", "BPF_CORE_READ first hop"),
    ("\tlong z = BPF_CORE_READ(task, mm, exe_file, f_path.", "BPF_CORE_READ dotted hop"),
    ("\tlong z = task->", "member after ->"),
    ("\tlong z = task->real_parent->mm->", "member chain"),
    ("\tlong z = task->se.", "member after ."),
    ("\tstruct task_", "struct name"),
    ("\tstruct ", "struct name, no prefix"),
    ('SEC("fentry/tcp_', "fentry target"),
    ('SEC("kprobe/', "kprobe target, no prefix"),
    ('SEC("lsm/file_', "LSM hook"),
    ('SEC("tp_btf/sched_', "tracepoint"),
    ('SEC("', "section name"),
    ("\tlong z = bpf_core_enum_value(enum bpf_func_id, ", "enumerator"),
    ("\tbpf_probe_read_", "helper name"),
]


def program(lines: int) -> str:
    parts = [HEAD]
    i = 0
    while sum(p.count("\n") for p in parts) < lines:
        parts.append(FUNC.format(i=i, j=i % 64))
        i += 1
    parts.append('char LICENSE[] SEC("license") = "GPL";\n')
    return "".join(parts)


def stats(times: list[tuple[float, float]]) -> str:
    """p50/p99/max of wall-clock and of CPU time (the CPU time is what a busy machine does
    not inflate)."""
    if not times:
        return "no samples"
    out = []
    for what, i in (("wall", 0), ("cpu", 1)):
        s = sorted(t[i] for t in times)
        p50 = statistics.median(s)
        p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
        out.append(f"{what} p50 {p50 * 1000:.2f} p99 {p99 * 1000:.2f} max {s[-1] * 1000:.1f}")
    return f"{'  '.join(out)} ms ({len(times)} calls)"


def timed(fn, *args) -> tuple[object, tuple[float, float]]:
    w, c = time.perf_counter(), time.thread_time()
    r = fn(*args)
    return r, (time.perf_counter() - w, time.thread_time() - c)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=300, help="lines sampled for hover")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)

    t0 = time.perf_counter()
    cfg = Config(kernels=tuple(KernelSpec(n, str(SAMPLES / f"{n}.btf.xz")) for n in NAMES),
                 primary="6.12-amd64")
    kernels = load_kernels(cfg)
    print(f"{len(kernels.loaded)} kernels loaded in {(time.perf_counter() - t0) * 1000:.0f} ms")
    text = program(args.lines)
    lines = text.split("\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "big.bpf.c")
        Path(path).write_text(text)
        t0 = time.perf_counter()
        model = analyze(path, text, SourceOptions(primary=kernels.primary_btf, arch="x86"))
        print(f"{len(lines)}-line program analysed in {(time.perf_counter() - t0) * 1000:.0f} ms "
              f"({len(model.functions)} functions, {len(model.accesses)} relocations)")
        t0 = time.perf_counter()
        prepare(kernels)
        print(f"name lists of the kernels built in {(time.perf_counter() - t0) * 1000:.0f} ms")

        # hover on every identifier of sampled lines
        sample = sorted(rnd.sample(range(len(lines)), min(args.samples, len(lines))))
        positions = [Position(t.line, t.col + 1) for ln in sample
                     for t in tokens_of_lines(lines, ln, ln) if t.kind == "ident"]
        for name in ("first pass", "second pass"):
            times = []
            answered = 0
            for pos in positions:
                h, dt = timed(_hover, model, kernels, text, pos)
                times.append(dt)
                answered += h is not None
            print(f"hover, {name}: {stats(times)}; {answered} answered")

        # completion while typing: each request on a new text
        bodies = [i for i, ln in enumerate(lines) if ln.startswith("\te = bpf_ringbuf_reserve")]
        tops = [i for i, ln in enumerate(lines) if ln.startswith('SEC("fentry/do_exit")')]
        all_times = []
        for cut, what in TYPED:
            times = []
            n_items = 0
            incomplete = False
            targets = tops if cut.startswith("SEC") else bodies
            for ln in rnd.sample(targets, min(20, len(targets))):
                for k in range(len(cut) - 3, len(cut) + 1):
                    typed = cut[:k]
                    new = lines[:ln] + [typed] + lines[ln + 1:]
                    new_text = "\n".join(new)
                    pos = Position(ln, len(typed.encode()))
                    res, dt = timed(_complete, model, kernels, new_text, pos)
                    times.append(dt)
                    if k == len(cut):
                        n_items = len(res.items)
                        incomplete = res.is_incomplete
            all_times += times
            print(f"completion, {what:26s} {stats(times)}; {n_items} items"
                  f"{' (incomplete)' if incomplete else ''}")
        print(f"completion, all: {stats(all_times)}")


if __name__ == "__main__":
    main()
