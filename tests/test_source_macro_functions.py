"""Functions written by macros: a top-level use whose expansion defines functions (one or
several, X-macro lists included), and a function header a macro writes before the body written
after it. Each is found, walked and placed at real source positions: code the macro wrote at the
macro's use (or at the argument it came from), the body where it is written."""

from __future__ import annotations

import pytest

import bpfls.btf
from bpfls.source import SourceOptions, analyze, clear_caches
from bpfls.source.macros import parse_define
from bpfls.source.mask import mask_units
from bpfls.source.pptokens import tokenize
from bpfls.source.preprocess import FileUnit, line_starts_of

from conftest import SAMPLE_DIR

HEAD = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
"""

WHOLE = HEAD + """\
#define TASK_READER(field) \\
    static __always_inline long read_##field(struct task_struct *t) \\
    { return BPF_CORE_READ(t, field); }
#define FOR_EACH_HOOK(F) F(file_open) F(file_permission)
#define FILE_HOOK(h) SEC("lsm/" #h) int BPF_PROG(h##_hook, struct file *file) \\
    { return BPF_CORE_READ(file, f_flags) + read_pid(0); }
#define NAMED(name) int BPF_PROG(name, struct task_struct *task) { return task->tgid; }

TASK_READER(pid)
FOR_EACH_HOOK(FILE_HOOK)
SEC("tp_btf/sched_process_exit")
NAMED(on_exit);
SEC("kprobe/do_exit")
int after(struct pt_regs *ctx)
{
    return ctx->di;
}
SEC("tp_btf/sched_process_fork")
NAMED(on_fork)
static long helper(struct task_struct *task)
{
    return task->pid;
}
"""

HEADERS = HEAD + """\
#define FILE_PROBE(fn) SEC("kprobe/" #fn) int BPF_KPROBE(probe_##fn, struct file *file)
#define HELPER(name) static __always_inline long name(struct task_struct *t)
#define NAMED_PROG(name) BPF_PROG(name, struct task_struct *task)

HELPER(task_pid)
{
    return t->pid;
}

FILE_PROBE(vfs_read)
{
    return task_pid(0) + BPF_CORE_READ(file, f_flags);
}

SEC("tp_btf/sched_process_exit")
int NAMED_PROG(on_exit)
{
    return task->tgid;
}
"""


@pytest.fixture(scope="module")
def options():
    return SourceOptions(primary=bpfls.btf.load(SAMPLE_DIR / "6.12-amd64.btf.xz"), arch="x86")


def line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n")


def col_of(text: str, needle: str, offset: int = 0) -> int:
    i = text.index(needle)
    return i - (text.rfind("\n", 0, i) + 1) + offset


def specs(model, function: str) -> set[str]:
    return {f"{a.kind} {a.spec}" for a in model.accesses if a.function == function}


def test_whole_definitions_are_found_and_placed_at_the_use(tmp_path, options) -> None:
    model = analyze(str(tmp_path / "w.bpf.c"), WHOLE, options)
    fns = model.functions
    assert {"read_pid", "file_open_hook", "file_permission_hook", "on_exit", "after"} <= set(fns)
    assert fns["file_open_hook"].section == "lsm/file_open"
    assert fns["file_permission_hook"].section == "lsm/file_permission"
    assert fns["file_open_hook"].macro == "BPF_PROG"
    # a SEC written before the use names the function the use writes
    assert fns["on_exit"].section == "tp_btf/sched_process_exit"
    assert fns["read_pid"].is_static and fns["read_pid"].reachable
    # the function after a use without ';' is still read, and the SEC before the use is not
    # its own
    assert fns["after"].section == "kprobe/do_exit"
    assert fns["on_fork"].section == "tp_btf/sched_process_fork"
    assert fns["helper"].section is None and fns["helper"].is_static
    assert specs(model, "after") == {"byte_off struct pt_regs.di"}
    # one relocation per generated function, each with the same spec
    assert specs(model, "file_open_hook") == specs(model, "file_permission_hook") == \
        {"byte_off struct file.f_flags"}
    assert specs(model, "read_pid") == {"byte_off struct task_struct.pid"}
    assert specs(model, "on_exit") == {"byte_off struct task_struct.tgid"}
    use = line_of(WHOLE, "FOR_EACH_HOOK(FILE_HOOK)")
    for a in model.accesses:
        if a.function.endswith("_hook"):
            assert a.range.start.line == use and a.reachable
    # a member named by the macro's argument is that argument
    pid = next(a for a in model.accesses if a.function == "read_pid")
    line = line_of(WHOLE, "TASK_READER(pid)")
    assert (pid.range.start.line, pid.range.start.column, pid.range.end.column) == \
        (line, col_of(WHOLE, "TASK_READER(pid)", 12), col_of(WHOLE, "TASK_READER(pid)", 15))
    # so is a name pasted from it
    assert fns["on_exit"].name_range.start.line == line_of(WHOLE, "NAMED(on_exit)")
    assert fns["on_exit"].name_range.start.column == col_of(WHOLE, "on_exit);")


def test_header_written_by_a_macro_and_the_body_after_it(tmp_path, options) -> None:
    model = analyze(str(tmp_path / "h.bpf.c"), HEADERS, options)
    fns = model.functions
    assert {"task_pid", "probe_vfs_read", "on_exit"} <= set(fns)
    assert "HELPER" not in fns and "FILE_PROBE" not in fns and "NAMED_PROG" not in fns
    probe = fns["probe_vfs_read"]
    assert probe.section == "kprobe/vfs_read" and probe.macro == "BPF_KPROBE"
    start = line_of(HEADERS, "FILE_PROBE(vfs_read)")
    assert probe.range.start.line == start and probe.range.start.column == 0
    assert probe.range.end.line == start + 3
    assert fns["on_exit"].section == "tp_btf/sched_process_exit"
    assert fns["on_exit"].macro == "BPF_PROG"
    assert fns["task_pid"].is_static and fns["task_pid"].reachable
    # BPF_KPROBE reads its parameter from ctx: placed at the macro's use
    assert specs(model, "probe_vfs_read") == {"byte_off struct pt_regs.di",
                                              "byte_off struct file.f_flags"}
    di = next(a for a in model.accesses if a.spec.endswith("pt_regs.di"))
    assert di.range.start.line == start
    # the body's accesses are where the body is written
    flags = next(a for a in model.accesses if a.spec.endswith("file.f_flags"))
    assert flags.range.start.line == line_of(HEADERS, "BPF_CORE_READ(file, f_flags)")
    assert flags.range.start.column == col_of(HEADERS, "f_flags);")
    tgid = next(a for a in model.accesses if a.function == "on_exit")
    assert tgid.range.start.line == line_of(HEADERS, "task->tgid")
    assert specs(model, "task_pid") == {"byte_off struct task_struct.pid"}


def test_diagnostics_point_at_the_use_or_the_body(tmp_path, options) -> None:
    text = HEAD + """\
#define BAD(fn) SEC("kprobe/" #fn) int bad_##fn(struct pt_regs *ctx) \\
    { struct task_struct *t = (void *)ctx->di; return t->pidd; }
#define HEADER(fn) SEC("kprobe/" #fn) int head_##fn(struct pt_regs *ctx)

BAD(do_exit)

HEADER(do_fork)
{
    struct task_struct *t = (void *)ctx->di;
    return t->tgidd;
}
"""
    model = analyze(str(tmp_path / "d.bpf.c"), text, options)
    where = {(d.data.get("member"), d.range.start.line) for d in model.diagnostics
             if d.code == "unknown-member"}
    assert where == {("pidd", line_of(text, "BAD(do_exit)")),
                     ("tgidd", line_of(text, "t->tgidd"))}


def test_uses_that_write_no_function_are_left_alone(tmp_path, options) -> None:
    text = HEAD + """\
#define READ_PID(t) BPF_CORE_READ(t, pid)
#define PTR(t) t *
#define SHIFT (1 << 3)

PTR(struct task_struct) last;
long shift = SHIFT;

SEC("kprobe/do_exit")
int probe(struct pt_regs *ctx)
{
    struct task_struct *t = (void *)ctx->di;
    /* READ_PID(t) */
    bpf_printk("READ_PID(t)");
    return READ_PID(t) + shift;
}
"""
    model = analyze(str(tmp_path / "n.bpf.c"), text, options)
    assert set(model.functions) == {"probe"}
    assert specs(model, "probe") == {"byte_off struct pt_regs.di",
                                     "byte_off struct task_struct.pid"}
    assert [d for d in model.diagnostics if d.code != "analysis-incomplete"] == []


def test_what_cannot_be_followed_is_said(tmp_path, options) -> None:
    text = HEAD + """\
#define BROKEN_HEADER(fn) int ) fn(struct pt_regs *ctx)
#define BROKEN_BODY(fn) int fn(struct pt_regs *ctx) { return ) ctx->di; }

BROKEN_HEADER(first)
{
    return 0;
}
BROKEN_BODY(second)
"""
    model = analyze(str(tmp_path / "b.bpf.c"), text, options)
    said = sorted((d.range.start.line, d.message.split("'")[1]) for d in model.diagnostics
                  if d.code == "analysis-incomplete")
    assert said == [(line_of(text, "BROKEN_HEADER(first)"), "BROKEN_HEADER"),
                    (line_of(text, "BROKEN_BODY(second)"), "BROKEN_BODY")]


def _unit(text: str) -> FileUnit:
    data = text.encode()
    return FileUnit("/x.c", data, bytearray(data), line_starts_of(data))


def test_mask_records_and_blanks_the_uses() -> None:
    defines = ['DEF(n) int f_##n(void) { return n; }', 'HEAD(n) int g_##n(void)',
               'CALL(x) x(1)']
    macros = {m.name: m for d in defines if (m := parse_define(tokenize(d.encode()))) is not None}
    text = "DEF(1)\nint h(void) { return CALL(h) + DEF(2); }\nHEAD(3)\n{ return 3; }\n"
    unit = _unit(text)
    mask_units([unit], macros)
    code = bytes(unit.code)
    assert len(code) == len(text) and code.count(b"\n") == text.count("\n")
    assert code.startswith(b"      \n")  # DEF(1) blanked
    assert b"DEF(2)" in code  # inside a body: a call, left to the walker
    assert [(u.name, u.header) for u in unit.generated] == [("DEF", False), ("HEAD", True)]
    whole, header = unit.generated
    assert b"int f_1 ( void ) {" in whole.source.code
    assert header.body == text.index("{ return 3;")
    assert header.source.code.endswith(b"int g_3 ( void ) { }")
    # every token maps back to the use
    assert whole.source.origin(0, 3) == (0, 6)


def test_reuse_after_edits_equals_cold_analysis(tmp_path, options) -> None:
    path = str(tmp_path / "r.bpf.c")
    edits = [WHOLE.replace("TASK_READER(pid)", "\n\nTASK_READER(pid)"),
             WHOLE.replace("TASK_READER(pid)", "TASK_READER(\n  pid)"),
             WHOLE.replace("TASK_READER(pid)", "TASK_READER(tgid)").replace("read_pid",
                                                                           "read_tgid"),
             HEADERS.replace("FILE_PROBE(vfs_read)", "// x\nFILE_PROBE(vfs_read)"),
             HEADERS.replace("FILE_PROBE(vfs_read)\n", "FILE_PROBE(\nvfs_read)\n")]
    for base, edited in zip([WHOLE, WHOLE, WHOLE, HEADERS, HEADERS], edits, strict=True):
        clear_caches()
        analyze(path, base, options)
        warm = analyze(path, edited, options)
        clear_caches()
        cold = analyze(path, edited, options)
        assert [(a.spec, a.range, a.function) for a in warm.accesses] == \
            [(a.spec, a.range, a.function) for a in cold.accesses]
        assert [(f.name, f.range, f.section) for f in warm.functions.values()] == \
            [(f.name, f.range, f.section) for f in cold.functions.values()]
