"""Re-analysis after edits: results reused function by function must equal a cold analysis,
and re-analysing a 1,000-line program after a one-line edit must be quick."""

from __future__ import annotations

import time

import pytest

import bpfls.btf
from bpfls.source import SourceOptions, analyze, clear_caches
from bpfls.source.cache import SourceCache

from conftest import SAMPLE_DIR

HEAD = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o { volatile long int state; } __attribute__((preserve_access_index));
struct task_struct___x { unsigned int __state; } __attribute__((preserve_access_index));

struct event {
	int pid;
	int ppid;
	char comm[16];
	unsigned long long ts;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

long out[64];

static __always_inline __s64 get_task_state(void *task)
{
	struct task_struct___x *t = task;
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	if (!bpf_core_field_exists(struct task_struct___o, state))
		return -1;
	return BPF_CORE_READ((struct task_struct___o *)task, state);
}

static bool has_mm(struct task_struct *t)
{
	return bpf_core_field_exists(t->mm);
}
"""

PROG = """
SEC("tp_btf/sched_switch")
int BPF_PROG(prog_{i}, bool preempt, struct task_struct *prev, struct task_struct *next)
{{
	struct event *e;
	struct sock *sk = (struct sock *)prev->stack;
	int ppid = BPF_CORE_READ(next, real_parent, tgid);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = next->pid;
	e->ppid = ppid;
	e->ts = bpf_ktime_get_ns();
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), next->comm);
	out[{j}] = get_task_state(prev) + BPF_CORE_READ(sk, __sk_common.skc_daddr);
	if (has_mm(next))
		out[{j}] += BPF_CORE_READ(next, mm, arg_start);
	out[{j}] += next->signal->nr_threads + prev->flags;
	bpf_ringbuf_submit(e, 0);
	return 0;
}}
"""


def program(lines: int = 1000) -> str:
    parts = [HEAD]
    i = 0
    while sum(p.count("\n") for p in parts) < lines:
        parts.append(PROG.format(i=i, j=i % 64))
        i += 1
    parts.append('char LICENSE[] SEC("license") = "GPL";\n')
    return "".join(parts)


@pytest.fixture(scope="module")
def options():
    return SourceOptions(primary=bpfls.btf.load(SAMPLE_DIR / "6.12-amd64.btf.xz"), arch="x86")


def summary(model) -> list[tuple]:
    return [(str(a.kind), a.spec, a.access_str, a.path, a.range, a.expr_range, a.function,
             a.macro, a.load, a.probe_read, a.read_size, a.load_size, str(a.guard), a.reachable,
             a.index, a.guarded, tuple(a.accessors)) for a in model.accesses] + \
        [(d.code, d.range, d.message) for d in model.diagnostics] + \
        [(f.name, f.range, f.reachable, f.section, f.calls) for f in model.functions.values()]


EDITS = [
    ("nothing", lambda t: t),
    ("one line in one function", lambda t: t.replace("out[3] += next->signal",
                                                     "out[3] += 7 + next->signal", 1)),
    ("lines added above", lambda t: t.replace("long out[64];", "long out[64];\n\n// note\n", 1)),
    ("a helper's guard changes", lambda t: t.replace("return bpf_core_field_exists(t->mm);",
                                                     "return 1;", 1)),
    ("a type changes", lambda t: t.replace("\tint ppid;\n", "\tint ppid;\n\tint tid;\n", 1)),
    ("a macro appears", lambda t: t.replace("long out[64];", "long out[64];\n#define prev next",
                                            1)),
    ("a member is misspelled", lambda t: t.replace("e->pid = next->pid;", "e->pid = next->pidd;",
                                                   1)),
    ("a function is cut", lambda t: t[:len(t) // 2]),
    ("a type argument changes", lambda t: t.replace(
        "bpf_core_field_exists(struct task_struct___o, state)",
        "bpf_core_field_exists(struct task_struct___x, __state)", 1)),
]


@pytest.mark.parametrize("name,edit", EDITS, ids=[e[0] for e in EDITS])
def test_reuse_equals_cold_analysis(tmp_path, options, name, edit) -> None:
    path = str(tmp_path / "prog.bpf.c")
    base = program(300)
    clear_caches()
    analyze(path, base, options)
    edited = edit(base)
    warm = analyze(path, edited, options)
    clear_caches()
    cold = analyze(path, edited, options)
    assert summary(warm) == summary(cold)


def test_one_line_edit_of_1000_lines_is_quick(tmp_path, options) -> None:
    path = str(tmp_path / "big.bpf.c")
    text = program(1000)
    clear_caches()
    t0 = time.perf_counter()
    first = analyze(path, text, options)
    cold = time.perf_counter() - t0
    times = []
    for i in range(5):
        edited = text.replace("out[3] += next->signal", f"out[3] += {i} + next->signal", 1)
        t0 = time.perf_counter()
        again = analyze(path, edited, options)
        times.append(time.perf_counter() - t0)
        assert len(again.accesses) == len(first.accesses)
    best = min(times)
    print(f"\n1000-line program: cold {cold * 1000:.1f} ms, after a one-line edit "
          f"{best * 1000:.1f} ms (median {sorted(times)[2] * 1000:.1f} ms), "
          f"{len(first.accesses)} relocations")
    assert best < 0.25  # the goal is <= 30 ms; this only catches gross regressions


def test_type_arguments_parse_without_errors() -> None:
    """The parser gets the type arguments of the CO-RE macros without their struct/union/enum
    keyword (so tree-sitter can reuse the function after edits elsewhere); positions stay and
    nothing else changes."""
    from bpfls.source.cparse import parse
    from bpfls.source.mask import parser_code

    code = (b"int f(void *p)\n{\n"
            b"\tif (bpf_core_field_exists(struct task_struct___o, state) &&\n"
            b"\t    bpf_core_type_exists(union\tu) && bpf_core_enum_value_exists(enum e, V))\n"
            b"\t\treturn bpf_core_cast(p, struct task_struct)->pid;\n"
            b"\tstruct s *q = (struct s *)p;  /* bpf_core_type_size(struct s) */\n"
            b"\treturn sizeof(struct s) + g(struct_x, \"bpf_core_type_exists(struct\");\n}\n")
    out = parser_code(code)
    assert len(out) == len(code)
    assert parse(code).root_node.has_error and not parse(out).root_node.has_error
    changed = [i for i, (a, b) in enumerate(zip(code, out, strict=True)) if a != b]
    words = {code[i:j] for i, j in _runs(changed)}
    assert words == {b"struct", b"union", b"enum"}
    assert out.count(b"struct") == code.count(b"struct") - 3
    assert parser_code(b"int x = BPF_CORE_READ(t, mm);") == b"int x = BPF_CORE_READ(t, mm);"


def _runs(idx: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i in idx:
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def test_each_cache_keeps_its_own_results(tmp_path, options) -> None:
    """What one analysis keeps for the next lives in the SourceCache it was given: another
    cache starts cold, and both give the same model."""
    path = str(tmp_path / "prog.bpf.c")
    text = program(20)
    mine, other = SourceCache(), SourceCache()
    first = analyze(path, text, options, mine)
    assert first.accesses and all(a.spec for a in first.accesses)  # specs formatted once
    again = analyze(path, text, options, mine)
    fresh = analyze(path, text, options, other)
    assert all(a.spec_text for a in again.accesses)  # reused, with their specs
    assert not any(a.spec_text for a in fresh.accesses)  # walked anew
    assert summary(again) == summary(fresh)


def test_a_program_of_many_headers_is_not_parsed_again(tmp_path) -> None:
    """Every file's tree is kept, even when a program includes more than a few dozen."""
    for i in range(100):
        (tmp_path / f"h{i}.h").write_text(f"static int f{i}(int x) {{ return x + {i}; }}\n")
    prog = tmp_path / "p.bpf.c"
    prog.write_text("".join(f'#include "h{i}.h"\n' for i in range(100)))
    cache = SourceCache()
    analyze(str(prog), None, SourceOptions(), cache)
    trees = dict(cache.trees._trees)
    assert len(trees) == 101
    analyze(str(prog), None, SourceOptions(), cache)
    assert all(cache.trees._trees[k][-1] is v[-1] for k, v in trees.items())
