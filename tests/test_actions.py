"""Quick fixes: every action, applied, gives a program clang compiles and that re-checks clean on
the sample kernels (the diagnostics it fixes gone, no new error)."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from bpfls.analysis.actions import CodeAction, TextEdit, code_actions
from bpfls.analysis.check import check_model
from bpfls.btf import load
from bpfls.project.kernels import KernelSet
from bpfls.source import SourceOptions, analyze
from bpfls.source.positions import Position, Range

from conftest import SAMPLE_DIR, load_sample_kernels, require_tool

PRIMARY = "6.12-amd64"
KERNEL_NAMES = ["5.10-amd64", "6.1-amd64", "6.12-amd64"]

HEAD = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

"""
TAIL = """
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def kernels() -> KernelSet:
    return load_sample_kernels(KERNEL_NAMES, PRIMARY)


@pytest.fixture(scope="module")
def include_dir(tmp_path_factory) -> Path:
    from bpfls.btf.dump_c import dump_c

    inc = tmp_path_factory.mktemp("inc")
    (inc / "vmlinux.h").write_text(dump_c(load(SAMPLE_DIR / f"{PRIMARY}.btf.xz")))
    return inc


@pytest.fixture(scope="module")
def compile_c(include_dir, tmp_path_factory):
    clang = require_tool("clang-16")
    out = tmp_path_factory.mktemp("fixed")
    count = [0]

    def run(text: str) -> None:
        count[0] += 1
        src = out / f"p{count[0]}.bpf.c"
        src.write_text(text)
        cmd = [clang, "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86",
               f"-I{include_dir}", "-c", str(src), "-o", str(src.with_suffix(".o"))]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"clang rejects the fixed program:\n{r.stderr}\n{text}"

    return run


def apply_edits(text: str, edits: tuple[TextEdit, ...]) -> str:
    """Apply edits whose positions are 0-based lines and UTF-8 byte columns."""
    data = text.encode()
    starts = [0]
    for i, b in enumerate(data):
        if b == 0x0A:
            starts.append(i + 1)

    def off(p: Position) -> int:
        return starts[p.line] + p.column

    spans = sorted(((off(e.range.start), off(e.range.end), e.new_text) for e in edits),
                   reverse=True)
    for (s, _, _), nxt in zip(spans, spans[1:], strict=False):
        assert nxt[1] <= s, "overlapping edits"
    for s, e, new in spans:
        data = data[:s] + new.encode() + data[e:]
    return data.decode()


def _check(path: Path, text: str, kernels: KernelSet):
    model = analyze(str(path), text, SourceOptions(primary=kernels.primary_btf,
                                                   defines={"__TARGET_ARCH_x86": None}))
    return model, check_model(model, kernels).diagnostics


def _errors(diags) -> Counter:
    return Counter((d.code, d.message) for d in diags if d.severity.value == "error")


class Fixture:
    """A program, its diagnostics and its quick fixes."""

    def __init__(self, tmp_path: Path, body: str, kernels: KernelSet, compile_c) -> None:
        self.path = tmp_path / "prog.bpf.c"
        self.text = HEAD + body + TAIL
        self.kernels = kernels
        self.compile_c = compile_c
        self.model, self.diags = _check(self.path, self.text, kernels)

    def diag(self, code: str, member: str, line_has: str = ""):
        found = [d for d in self.diags if d.code == code and d.data.get("member") == member
                 and line_has in self.text.splitlines()[d.range.start.line]]
        assert found, [str(d) for d in self.diags]
        return found[0]

    def actions(self, d) -> list[CodeAction]:
        return code_actions(self.model, self.diags, str(self.path), self.text, d.range,
                            kernels=self.kernels)

    def action(self, d, title_starts: str) -> CodeAction:
        acts = self.actions(d)
        found = [a for a in acts if a.title.startswith(title_starts)]
        assert len(found) == 1, [a.title for a in acts]
        return found[0]

    def apply(self, action: CodeAction) -> str:
        """Apply, compile, re-check: what it fixes is gone and no error is new."""
        fixed = apply_edits(self.text, action.edits)
        self.compile_c(fixed)
        _, after = _check(self.path, fixed, self.kernels)
        left = _errors(self.diags) - _errors(action.diagnostics)
        assert _errors(after) <= left, (list(_errors(after) - left), fixed)
        return fixed


@pytest.fixture
def program(tmp_path, kernels, compile_c):
    def make(body: str) -> Fixture:
        return Fixture(tmp_path, body, kernels, compile_c)

    return make


# -- guard -------------------------------------------------------------------------------------

CORE_READS = """\
SEC("kprobe/vfs_write")
int BPF_KPROBE(on_write, struct file *file)
{
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    unsigned int st = BPF_CORE_READ(t, __state);
    void *first = BPF_CORE_READ(file, f_ep, first);
    long sec = BPF_CORE_READ(file, f_inode, i_ctime_sec);
    bpf_printk("%u %p %ld", st, first, sec);
    return 0;
}
"""


def test_guard_core_read_in_declaration(program) -> None:
    p = program(CORE_READS)
    d = p.diag("field-missing", "__state")
    a = p.action(d, "Guard with bpf_core_field_exists()")
    assert a.preferred and a.diagnostics == (d,)
    fixed = p.apply(a)
    assert ("unsigned int st = bpf_core_field_exists(struct task_struct, __state) ? "
            "BPF_CORE_READ(t, __state) : 0;") in fixed


def test_guard_names_the_missing_hop_of_a_multi_hop_read(program) -> None:
    p = program(CORE_READS)
    middle = p.diag("field-missing", "f_ep")
    fixed = p.apply(p.action(middle, "Guard"))
    assert ("bpf_core_field_exists(struct file, f_ep) ? BPF_CORE_READ(file, f_ep, first) : 0"
            in fixed)
    last = p.diag("field-missing", "i_ctime_sec")
    fixed = p.apply(p.action(last, "Guard"))
    assert "bpf_core_field_exists(struct inode, i_ctime_sec) ? " in fixed


DIRECT = """\
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    unsigned int st = prev->__state;
    bpf_printk("%u %d", next->__state,
               next->pid);
    if (st)
        return next->__state + 1;
    return 0;
}
"""


def test_guard_wraps_a_statement_with_its_indentation(program) -> None:
    p = program(DIRECT)
    d = p.diag("field-missing", "__state", "bpf_printk")
    fixed = p.apply(p.action(d, "Guard"))
    assert ("    if (bpf_core_field_exists(struct task_struct, __state)) {\n"
            "        bpf_printk(\"%u %d\", next->__state,\n"
            "                   next->pid);\n"
            "    }\n") in fixed


def test_guard_direct_access_in_initializer_and_expression(program) -> None:
    p = program(DIRECT)
    fixed = p.apply(p.action(p.diag("field-missing", "__state", "st ="), "Guard"))
    assert ("unsigned int st = bpf_core_field_exists(struct task_struct, __state) ? "
            "prev->__state : 0;") in fixed
    fixed = p.apply(p.action(p.diag("field-missing", "__state", "return"), "Guard"))
    # inside parentheses the one-argument form of the check
    assert ("return (bpf_core_field_exists(((struct task_struct *)0)->__state) ? next->__state"
            " : 0) + 1;") in fixed


def test_guard_one_check_per_missing_field_of_a_statement(program) -> None:
    p = program("""\
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
\tif (preempt) {
\t\tbpf_printk("%u %p", prev->__state, BPF_CORE_READ(prev, bpf_ctx)); // both
\t}
\treturn 0;
}
""")
    d = p.diag("field-missing", "__state")
    a = p.action(d, "Guard")
    assert len(a.diagnostics) == 2
    fixed = p.apply(a)
    assert ("\t\tif (bpf_core_field_exists(struct task_struct, __state) && "
            "bpf_core_field_exists(struct task_struct, bpf_ctx)) {\n"
            "\t\t\tbpf_printk(\"%u %p\", prev->__state, BPF_CORE_READ(prev, bpf_ctx)); // both\n"
            "\t\t}\n") in fixed


def test_guard_an_incompatible_field(program) -> None:
    p = program("""\
struct task_struct___y { void *pid; } __attribute__((preserve_access_index));

SEC("kprobe/vfs_read")
int BPF_KPROBE(on_read, struct file *file)
{
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    void *pid = BPF_CORE_READ((struct task_struct___y *)t, pid);
    bpf_printk("%p", pid);
    return 0;
}
""")
    d = p.diag("field-incompatible", "pid")
    assert [a.title for a in p.actions(d)] == ["Guard with bpf_core_field_exists() (0 where it "
                                               "is missing)"]
    p.apply(p.actions(d)[0])


# -- rename ------------------------------------------------------------------------------------

def test_rename_to_a_member_every_kernel_has_is_preferred(program) -> None:
    p = program("""\
SEC("kprobe/do_mmap")
int BPF_KPROBE(on_vma, struct vm_area_struct *vma)
{
    unsigned long flags = BPF_CORE_READ(vma, __vm_flags);
    unsigned long direct = BPF_CORE_READ(vma, vm_mm, mmap_base);
    bpf_printk("%lx %lx", flags, direct);
    return 0;
}
""")
    d = p.diag("field-missing", "__vm_flags")
    acts = p.actions(d)
    rename = [a for a in acts if a.title == "Use 'vm_flags' instead of '__vm_flags'"]
    assert rename and rename[0].preferred
    assert [a.preferred for a in acts].count(True) == 1
    fixed = p.apply(rename[0])
    assert "BPF_CORE_READ(vma, vm_flags)" in fixed


def test_no_rename_to_a_member_the_local_type_lacks(program) -> None:
    p = program(CORE_READS)
    d = p.diag("field-missing", "__state")  # did you mean 'state': not in 6.12's vmlinux.h
    assert not [a for a in p.actions(d) if a.title.startswith("Use ")]


# -- rename guard through a flavor ---------------------------------------------------------------

def test_fallback_declares_an_old_flavor_core_read(program) -> None:
    p = program(CORE_READS)
    d = p.diag("field-missing", "__state")
    a = p.action(d, "Fall back to 'state'")
    assert not a.preferred
    fixed = p.apply(a)
    assert ("#include <bpf/bpf_tracing.h>\n\nstruct task_struct___old { volatile long int state; }"
            " __attribute__((preserve_access_index));\n") in fixed
    assert ("unsigned int st = bpf_core_field_exists(struct task_struct, __state) ? "
            "BPF_CORE_READ(t, __state) : "
            "BPF_CORE_READ((struct task_struct___old *)t, state);") in fixed


def test_fallback_direct(program) -> None:
    p = program(DIRECT)
    fixed = p.apply(p.action(p.diag("field-missing", "__state", "return"), "Fall back"))
    assert ("return (bpf_core_field_exists(((struct task_struct *)0)->__state) ? next->__state"
            " : ((struct task_struct___old *)next)->state) + 1;") in fixed


def test_fallback_multi_hop_keeps_the_later_hops(program) -> None:
    p = program("""\
SEC("kprobe/do_exit")
int BPF_KPROBE(on_exit, long code)
{
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    int pid = BPF_CORE_READ(t, signal, group_exec_task, pid);
    return pid;
}
""")
    d = p.diag("field-missing", "group_exec_task")
    fixed = p.apply(p.action(d, "Fall back to 'group_exit_task'"))
    assert ("int pid = bpf_core_field_exists(struct signal_struct, group_exec_task) ? "
            "BPF_CORE_READ(t, signal, group_exec_task, pid) : "
            "({ struct signal_struct___old *__old = (void *)BPF_CORE_READ(t, signal); "
            "BPF_CORE_READ(__old, group_exit_task, pid); });") in fixed
    assert "struct signal_struct___old { struct task_struct *group_exit_task; }" in fixed


def test_fallback_through_the_kernel_type_from_an_old_flavor(program) -> None:
    p = program("""\
struct task_struct___o { volatile long int state; } __attribute__((preserve_access_index));

SEC("kprobe/vfs_read")
int BPF_KPROBE(on_read, struct file *file)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    long st = BPF_CORE_READ((struct task_struct___o *)task, state);
    return st;
}
""")
    d = p.diag("field-missing", "state")
    a = p.action(d, "Fall back to '__state'")
    assert len(a.edits) == 1  # struct task_struct has __state: nothing to declare
    fixed = p.apply(a)
    assert ("long st = bpf_core_field_exists(struct task_struct___o, state) ? "
            "BPF_CORE_READ((struct task_struct___o *)task, state) : "
            "BPF_CORE_READ((struct task_struct *)task, __state);") in fixed


def test_no_fallback_to_a_member_of_another_type(program) -> None:
    p = program(CORE_READS)
    # i_ctime_sec (time64_t) -> i_ctime (struct timespec64); f_ep -> f_op (another pointer)
    for member in ("i_ctime_sec", "f_ep"):
        acts = p.actions(p.diag("field-missing", member))
        assert [a.title for a in acts] == ["Guard with bpf_core_field_exists() (0 where it is "
                                           "missing)"]


# -- unknown members of the primary kernel's types ------------------------------------------------

def unknown(statement: str, before: str = "") -> str:
    return before + f"""\
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{{
    {statement}
    bpf_printk("%lx", (long)v);
    return 0;
}}
"""


def test_unknown_member_rename_guard_direct(program) -> None:
    p = program(unknown("long v = prev->state;"))
    d = p.diag("unknown-member", "state")
    a = p.action(d, "Read '__state', or 'state' through struct task_struct___old")
    fixed = p.apply(a)
    assert ("long v = bpf_core_field_exists(struct task_struct, __state) ? prev->__state : "
            "((struct task_struct___old *)prev)->state;") in fixed
    assert "struct task_struct___old { volatile long int state; }" in fixed


def test_unknown_member_rename_guard_core_read(program) -> None:
    p = program(unknown("long v = BPF_CORE_READ(next, state);"))
    d = p.diag("unknown-member", "state")
    fixed = p.apply(p.action(d, "Read '__state'"))
    assert ("long v = bpf_core_field_exists(struct task_struct, __state) ? "
            "BPF_CORE_READ(next, __state) : "
            "BPF_CORE_READ((struct task_struct___old *)next, state);") in fixed


def test_unknown_member_guarded_read_through_flavor(program) -> None:
    p = program(unknown("struct vm_area_struct *v = BPF_CORE_READ(next, mm, mmap);"))
    d = p.diag("unknown-member", "mmap")
    fixed = p.apply(p.action(d, "Read 'mmap' through struct mm_struct___old"))
    assert ("struct vm_area_struct *v = bpf_core_field_exists(struct mm_struct___old, mmap) ? "
            "({ struct mm_struct___old *__old = (void *)BPF_CORE_READ(next, mm); "
            "BPF_CORE_READ(__old, mmap); }) : 0;") in fixed


def test_unknown_member_reuses_an_existing_flavor(program) -> None:
    p = program(unknown("long v = 1 + prev->state;", "struct task_struct___x { long state; } "
                        "__attribute__((preserve_access_index));\n\n"))
    d = p.diag("unknown-member", "state")
    a = p.action(d, "Read '__state', or 'state' through struct task_struct___x")
    assert len(a.edits) == 1
    fixed = p.apply(a)
    assert ("long v = 1 + (bpf_core_field_exists(((struct task_struct *)0)->__state) ? "
            "prev->__state : ((struct task_struct___x *)prev)->state);") in fixed


# -- the request ---------------------------------------------------------------------------------

def test_only_diagnostics_overlapping_the_range(program) -> None:
    p = program(CORE_READS)
    d = p.diag("field-missing", "f_ep")
    at = Range(d.range.start, d.range.start)  # a cursor in the token
    acts = code_actions(p.model, p.diags, str(p.path), p.text, at, kernels=p.kernels)
    assert acts and all(a.diagnostics[0] is d for a in acts)
    line0 = Range(Position(0, 0), Position(0, 5))
    assert code_actions(p.model, p.diags, str(p.path), p.text, line0, kernels=p.kernels) == []


def test_without_kernels_no_flavors_and_nothing_preferred_but_the_guard(program) -> None:
    p = program(CORE_READS)
    d = p.diag("field-missing", "__state")
    acts = code_actions(p.model, p.diags, str(p.path), p.text, d.range)
    assert [a.title for a in acts] == ["Guard with bpf_core_field_exists() (0 where it is "
                                       "missing)"]


def test_stale_model_and_bad_input(program) -> None:
    p = program(CORE_READS)
    d = p.diag("field-missing", "__state")
    edited = p.text.replace("unsigned int st", "unsigned int stt")  # shifts the token
    assert code_actions(p.model, p.diags, str(p.path), edited, d.range, kernels=p.kernels) == []
    far = Range(Position(10_000, 0), Position(10_001, 3))
    assert code_actions(p.model, p.diags, str(p.path), "", far, kernels=p.kernels) == []
    assert code_actions(p.model, p.diags, str(p.path), "\x00\ud800", d.range) == []


def test_type_missing_guarded_with_type_exists(program) -> None:
    """struct folio is 5.16+: a statement reading it is wrapped in bpf_core_type_exists(), a
    value becomes `check ? value : 0`; the fixed program compiles and the error is gone."""
    p = program("""SEC("kprobe/do_exit")
int on_exit(struct pt_regs *ctx)
{
    struct folio *f = (void *)PT_REGS_PARM1(ctx);
    long flags = 0;
    flags = BPF_CORE_READ(f, flags);
    long n = BPF_CORE_READ(f, flags);
    return flags + n;
}
""")
    diags = [d for d in p.diags if d.code == "type-missing"]
    assert len(diags) == 2 and all(d.kernels == ("5.10-amd64",) for d in diags)
    assert all(d.data["root"] == "struct folio" for d in diags)
    stmt, value = sorted(diags, key=lambda d: d.range.start)
    fixed = p.apply(p.action(stmt, "Guard with bpf_core_type_exists(struct folio)"))
    assert "if (bpf_core_type_exists(struct folio)) {\n        flags = BPF_CORE_READ(f, flags);" \
        in fixed
    fixed = p.apply(p.action(value, "Guard with bpf_core_type_exists(struct folio) (0"))
    assert "long n = bpf_core_type_exists(struct folio) ? BPF_CORE_READ(f, flags) : 0;" in fixed
