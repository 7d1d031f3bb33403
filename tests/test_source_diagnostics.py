"""What the source alone says is wrong (unknown types, members, enumerators), and that no
input, however broken, makes the analysis raise."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import bpfls.btf
from bpfls.analysis.diagnostics import CODES
from bpfls.source import SourceOptions, analyze

from conftest import ROOT, SAMPLE_DIR

CORPUS = sorted((ROOT / "tests" / "fixtures" / "source").glob("*.bpf.c"))

WRONG = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
SEC("raw_tp/x")
int p(void *ctx)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct sock *sk = (void *)t;
	long r = t->pidd;
	r += BPF_CORE_READ(t, real_parent, tgidd);
	r += BPF_CORE_READ(sk, __sk_common.skc_dadr);
	r += bpf_core_field_exists(struct task_struct, statte);
	r += bpf_core_type_exists(struct task_strct);
	struct task_strct *x = 0;
	r += bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_nope);
	r += BPF_CORE_READ(t, pid, tgid);
	r += t->pid;
	return r;
}
"""


@pytest.fixture(scope="module")
def primary():
    return bpfls.btf.load(SAMPLE_DIR / "6.12-amd64.btf.xz")


def _text_at(text: str, rng) -> str:
    line = text.splitlines()[rng.start.line]
    assert rng.start.line == rng.end.line
    return line[rng.start.column:rng.end.column]


def test_unknown_names(primary, tmp_path) -> None:
    path = tmp_path / "wrong.bpf.c"
    path.write_text(WRONG)
    m = analyze(str(path), None, SourceOptions(primary=primary, arch="x86"))
    found = [(d.code, _text_at(WRONG, d.range), d.message) for d in m.diagnostics]
    assert found == [
        ("unknown-member", "pidd",
         "no member named 'pidd' in 'struct task_struct'; did you mean 'pid'?"),
        ("unknown-member", "tgidd",
         "no member named 'tgidd' in 'struct task_struct'; did you mean 'tgid'?"),
        ("unknown-member", "skc_dadr", "no member named 'skc_dadr' in 'struct sock_common'; "
         "did you mean 'skc_daddr'?"),
        ("unknown-member", "statte",
         "no member named 'statte' in 'struct task_struct'; did you mean '__state'?"),
        ("unknown-type", "struct task_strct", "unknown type 'struct task_strct'"),
        ("unknown-type", "struct task_strct", "unknown type 'struct task_strct'"),
        ("unknown-enumerator", "BPF_FUNC_nope",
         "no enumerator named 'BPF_FUNC_nope' in 'enum bpf_func_id'"),
        ("not-a-pointer", "pid", "'pid' is not a pointer: BPF_CORE_READ cannot read through it"),
    ]
    pidd = m.diagnostics[0]
    assert CODES[pidd.code].severity == "error" and pidd.path == str(path)
    assert "pid" in pidd.data["candidates"] and pidd.data["member"] == "pidd"
    assert pidd.data["type"] == "struct task_struct"
    assert "skc_daddr" in m.diagnostics[2].data["candidates"]
    assert "BPF_FUNC_map_lookup_elem" in m.diagnostics[6].data["candidates"]
    # the accesses around the mistakes are still predicted
    specs = [a.spec for a in m.accesses]
    assert "struct task_struct.real_parent" in specs and "struct task_struct.pid" in specs


def test_no_kernel_types_means_no_unknown_type_noise(tmp_path) -> None:
    """Without kernel types nothing is said about them, but that they are unknown (once)."""
    path = tmp_path / "wrong.bpf.c"
    path.write_text(WRONG)
    m = analyze(str(path), None, SourceOptions(use_vmlinux_h=False))
    assert [d.code for d in m.diagnostics] == ["analysis-incomplete"]
    assert m.diagnostics[0].range.start.line == 0  # the #include "vmlinux.h"


def test_members_of_local_types_are_checked(tmp_path) -> None:
    text = """\
struct mine___x { int a; union { int b; }; } __attribute__((preserve_access_index));
int f(struct mine___x *m) { return m->a + m->b + m->c; }
"""
    path = tmp_path / "local.bpf.c"
    path.write_text(text)
    m = analyze(str(path), None, SourceOptions())
    assert [(d.code, d.data["candidates"]) for d in m.diagnostics] == \
        [("unknown-member", ["a", "b"])]
    assert [a.spec for a in m.accesses] == ["struct mine___x.a", "struct mine___x.b"]


HALF_TYPED = [
    "int p(void *ctx) { struct task_struct *t = (void *)ctx; long a = t->pid; long b = t->",
    "int p(void *ctx) { struct task_struct *t = (void *)ctx; long a = t->pid; "
    "long b = BPF_CORE_READ(t, ",
    "int p(void *ctx) { struct task_struct *t = (void *)ctx; long a = t->pid; "
    "if (bpf_core_field_exists(t->",
    "int p(void *ctx) { struct task_struct *t = (void *)ctx; long a = t->pid;\n"
    "  for (;;) { a += t->tgid; \n",
    "int p(void *ctx) { struct task_struct *t = (void *)ctx; long a = t->pid; return a; }}}} "
    ")) ;; #if\n",
]


@pytest.mark.parametrize("body", HALF_TYPED, ids=range(len(HALF_TYPED)))
def test_half_typed_code(primary, tmp_path, body: str) -> None:
    text = '#include "vmlinux.h"\n#include <bpf/bpf_core_read.h>\n' + body
    path = tmp_path / "half.bpf.c"
    m = analyze(str(path), text, SourceOptions(primary=primary))
    assert "struct task_struct.pid" in [a.spec for a in m.accesses]


def _mutations(text: str, rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        op = rng.randrange(4)
        i = rng.randrange(len(text))
        j = min(len(text), i + rng.randrange(1, 40))
        if op == 0:
            out.append(text[:i])
        elif op == 1:
            out.append(text[:i] + text[j:])
        elif op == 2:
            out.append(text[:i] + rng.choice(["(", ")", "{", "}", "->", "#if 1\n", "#endif\n",
                                              "\\\n", "/*", "\"", "'", ",", "BPF_CORE_READ("])
                       + text[i:])
        else:
            out.append(text[:i] + text[j:i + 2 * (j - i)] + text[i:])
    return out


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_broken_input_never_raises(primary, path: Path) -> None:
    text = path.read_text()
    rng = random.Random(path.name)
    for variant in _mutations(text, rng, 12):
        analyze(str(path), variant, SourceOptions(primary=primary, arch="x86"))
    for variant in ["", "\x00\xff", "#", "#define", "#include", "SEC(", "struct {", "\\"]:
        analyze(str(path), variant, SourceOptions(primary=primary))


def test_missing_file_is_a_diagnostic(tmp_path) -> None:
    m = analyze(str(tmp_path / "nope.bpf.c"), None, SourceOptions())
    assert [d.code for d in m.diagnostics] == ["read-error"]
    assert m.accesses == []


def test_internal_failure_becomes_a_diagnostic(monkeypatch, tmp_path) -> None:
    import bpfls.source.pipeline as pipeline

    def boom(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "_collect_toplevel", boom)
    m = analyze(str(tmp_path / "x.bpf.c"), "int x;", SourceOptions())
    assert [d.code for d in m.diagnostics] == ["internal-error"]
    assert "RuntimeError: boom" in m.diagnostics[0].message and m.accesses == []


def test_without_vmlinux_h_kernel_types_are_not_judged(primary, tmp_path) -> None:
    # the types come from system headers (not read), whose pt_regs has `rdi`, not `di`
    text = """\
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
struct mine___x { int a; } __attribute__((preserve_access_index));
SEC("kprobe/do_exit")
int p(struct pt_regs *ctx)
{
	struct timespec ts;
	struct mine___x *m = (void *)ctx;
	return PT_REGS_PARM1_CORE(ctx) + ctx->rdi + m->b;
}
"""
    m = analyze(str(tmp_path / "legacy.bpf.c"), text, SourceOptions(primary=primary))
    assert m.arch == "x86"
    assert [(d.code, d.data.get("member")) for d in m.diagnostics] == [("unknown-member", "b")]
