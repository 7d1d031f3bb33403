"""Guards and reachability: under which existence checks each access runs.

The end-to-end property: on every kernel, a relocation that does not resolve must sit behind a
guard that is false there. Verdicts come from the CO-RE resolver (:mod:`bpfls.core`) on the
sample kernels and, when present, the shared kernels from 5.4 to 7.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import bpfls.btf
from bpfls.core import ERROR, MISSING, RESOLVED, resolve
from bpfls.source import FALSE, TRUE, UNKNOWN, Guard, SourceOptions, analyze

from conftest import ROOT, SHARED_BTF, sample_kernels

CORPUS = ROOT / "tests" / "fixtures" / "source"
PRIMARY = next(p for p in sample_kernels() if p.name.startswith("6.12-amd64"))

ISSUE_EXAMPLE = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o { volatile long int state; } __attribute__((preserve_access_index));
struct task_struct___x { unsigned int __state; } __attribute__((preserve_access_index));
static __always_inline __s64 get_task_state(void *task) {
    struct task_struct___x *t = task;
    if (bpf_core_field_exists(t->__state))
        return BPF_CORE_READ(t, __state);
    return BPF_CORE_READ((struct task_struct___o *)task, state);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    return get_task_state(prev);
}
char LICENSE[] SEC("license") = "GPL";
"""


def _kernels() -> list[Path]:
    out = [p for p in sample_kernels()]
    kdir = SHARED_BTF / "kernels"
    if kdir.is_dir():
        out += sorted(kdir.glob("linux-*.btf*"))
    return out


@pytest.fixture(scope="module")
def primary():
    return bpfls.btf.load(PRIMARY)


@pytest.fixture(scope="module")
def kernels():
    return {p.name: bpfls.btf.load(p) for p in _kernels()}


def _model(primary, path: str, text: str | None = None):
    return analyze(path, text, SourceOptions(primary=primary, arch="x86"))


def _no_reachable_failure(model, kernel) -> list[str]:
    """The accesses that fail on ``kernel`` although their guard lets them run."""
    res = {id(a): resolve(a.relocation, kernel) for a in model.accesses if a.reachable}

    def verdict(check) -> bool | None:
        r = res.get(id(check))
        if r is None:
            return None
        return r.status == RESOLVED and bool(r.target_value)

    bad = []
    for a in model.accesses:
        r = res.get(id(a))
        if r is None or r.status not in (MISSING, ERROR):
            continue
        if a.guard.evaluate(verdict) is not False:
            bad.append(f"{a.spec} ({r.status}) guard={a.guard}")
    return bad


def test_issue_example_never_fails(primary, kernels, tmp_path) -> None:
    src = tmp_path / "state.bpf.c"
    src.write_text(ISSUE_EXAMPLE)
    model = _model(primary, str(src))
    specs = {(str(a.kind), a.spec) for a in model.accesses}
    assert specs == {("field_exists", "struct task_struct___x.__state"),
                     ("byte_off", "struct task_struct___x.__state"),
                     ("byte_off", "struct task_struct___o.state")}
    check = next(a for a in model.accesses if a.check)
    new = next(a for a in model.accesses if a.spec.endswith("__state") and not a.check)
    old = next(a for a in model.accesses if a.spec.endswith(".state"))
    assert new.guard == Guard.check(check)
    assert old.guard == ~Guard.check(check)
    assert sorted(check.guarded) == sorted([new.index, old.index])
    for name, k in kernels.items():
        assert _no_reachable_failure(model, k) == [], name


@pytest.mark.parametrize("path", [CORPUS / "guards.bpf.c", ROOT / "tests" / "corpus" /
                                  "guard_state.bpf.c"], ids=lambda p: p.name)
def test_guarded_corpus_never_fails(path: Path, primary, kernels) -> None:
    if not path.exists():
        pytest.skip(f"{path} not present")
    model = _model(primary, str(path))
    for name, k in kernels.items():
        assert _no_reachable_failure(model, k) == [], name


def _by_spec(model, spec: str, kind: str = "byte_off"):
    return [a for a in model.accesses if a.spec == spec and str(a.kind) == kind]


def test_guard_shapes(primary) -> None:
    m = _model(primary, str(CORPUS / "guards.bpf.c"))
    exists_new = _by_spec(m, "struct task_struct___x.__state", "field_exists")
    exists_old = _by_spec(m, "struct task_struct___o.state", "field_exists")
    # in a helper, in a variable, in an `||`
    assert len(exists_new) == 3 and len(exists_old) == 1
    a_old = Guard.check(exists_old[0])
    # `if (has_old_state()) ... else ...` through a static helper returning the check
    reads_old = _by_spec(m, "struct task_struct___o.state")
    guards = {str(a.guard) for a in reads_old}
    assert str(a_old) in guards
    reads_new = _by_spec(m, "struct task_struct___x.__state")
    assert str(~a_old) in {str(a.guard) for a in reads_new}
    # `has_new && preempt`: the check through a local variable, and a run-time condition
    var_check = min((a for a in exists_new if a.function == "guards"), key=lambda a: a.index)
    direct = [a for a in reads_new if a.load]
    assert len(direct) == 1 and direct[0].guard == Guard.check(var_check) & UNKNOWN
    # early return after a negated check, in the program and in a helper
    folio = _by_spec(m, "struct folio___x.mapping")
    texists = _by_spec(m, "struct folio___x", "type_exists")
    assert len(folio) == 2 and len(texists) == 2
    assert {str(a.guard) for a in folio} == {str(Guard.check(t)) for t in texists}
    mmap = _by_spec(m, "struct mm_struct___old.mmap")
    assert len(mmap) == 1 and mmap[0].guard.atoms()[0].spec == "struct mm_struct___old.mmap"
    # `!field_exists || type_matches`
    ored = [a for a in reads_old if a.function == "guards" and "||" in str(a.guard)]
    assert len(ored) == 1
    assert {str(x.kind) for x in ored[0].guard.atoms()} == {"field_exists", "type_matches"}
    # an enumerator value behind its existence check
    value = _by_spec(m, "enum bpf_func_id::BPF_FUNC_user_ringbuf_drain", "enumval_value")
    assert len(value) == 1 and str(value[0].guard.atoms()[0].kind) == "enumval_exists"
    # unconditional accesses
    for a in m.accesses:
        if a.check and a.function in ("get_task_state", "has_old_state", "guards"):
            assert a.guard.is_true or a.function == "guards"


def test_guard_logic() -> None:
    class A:  # a stand-in existence check
        def __init__(self, name):
            self.name = name
    a, b = Guard.check(A("a")), Guard.check(A("b"))
    env = {"a": True, "b": False}
    v = lambda chk: env[chk.name]  # noqa: E731
    assert (a & b).evaluate(v) is False
    assert (a | b).evaluate(v) is True
    assert (~a).evaluate(v) is False
    assert (a & UNKNOWN).evaluate(v) is None
    assert (b & UNKNOWN).evaluate(v) is False
    assert (~(b | UNKNOWN)).evaluate(v) is None
    assert (a | UNKNOWN).evaluate(v) is True
    assert (a & TRUE) == a and (a | FALSE) == a and (a & FALSE) == FALSE
    assert ~~a == a
    assert (a & b).atoms()[0] is a.atom
    assert Guard.check(A("c")).evaluate(lambda c: None) is None


def test_reachability(primary) -> None:
    m = _model(primary, str(CORPUS / "reach.bpf.c"))
    f = m.functions
    assert f["prog_main"].section == "raw_tp/sched_switch" and f["prog_main"].is_program
    assert f["global_func"].is_root and not f["global_func"].is_static
    assert f["helper_called"].reachable and f["loop_cb"].reachable
    assert not f["helper_unused"].reachable and not f["helper_unused2"].reachable
    assert not f["helper_only_from_unused"].reachable
    assert set(f["prog_main"].calls) == {"helper_called", "global_func", "loop_cb"}
    unreachable = {a.spec for a in m.accesses if not a.reachable}
    assert unreachable == {"struct task_struct.group_leader", "struct task_struct.pid",
                           "struct task_struct.exit_code"}


def test_sections_and_program_macros(primary) -> None:
    m = _model(primary, str(CORPUS / "tracing.bpf.c"))
    f = m.functions
    assert f["kprobe_unlinkat"].macro == "BPF_KPROBE"
    assert f["kprobe_unlinkat"].section == "kprobe/do_unlinkat"
    assert f["fentry_unlinkat"].macro == "BPF_PROG2"
    assert f["usdt_probe"].section == "usdt/./app:provider:probe"
    assert f["raw_kprobe"].macro is None
    regs = {a.spec: a for a in m.accesses if a.function == "kprobe_unlinkat"
            and a.spec.startswith("struct pt_regs")}
    assert set(regs) == {"struct pt_regs.si"}  # only `name` is used, so only PARM2 is read
    assert all(a.macro == "BPF_KPROBE" and a.load for a in regs.values())
    # the parameter's declaration is where the implicit read is reported
    lines = (CORPUS / "tracing.bpf.c").read_text().splitlines()
    r = regs["struct pt_regs.si"].range
    assert lines[r.start.line][r.start.column:r.end.column] == "name"


def test_callee_inherits_call_site_guard(primary, tmp_path) -> None:
    src = tmp_path / "callee.bpf.c"
    src.write_text("""\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
struct task_struct___o { long state; } __attribute__((preserve_access_index));
static __noinline long read_old(void *t)
{
	return BPF_CORE_READ((struct task_struct___o *)t, state);
}
SEC("raw_tp/x")
int prog(void *ctx)
{
	void *t = (void *)bpf_get_current_task();
	if (bpf_core_field_exists(struct task_struct___o, state))
		return read_old(t);
	return 0;
}
""")
    m = _model(primary, str(src))
    check = next(a for a in m.accesses if a.check)
    read = next(a for a in m.accesses if not a.check)
    assert read.function == "read_old" and read.guard == Guard.check(check)
