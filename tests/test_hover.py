"""Hover: members with their layout on every kernel, type definitions, variables, helpers,
kfuncs, section targets; and no exception anywhere in a file or in its truncated versions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bpfls.analysis.hover import _hover, hover
from bpfls.project.kernels import KernelSet
from bpfls.source import SourceOptions, analyze
from bpfls.source.positions import Position

from conftest import ROOT, load_sample_kernels

NAMES = ["5.10-amd64", "6.1-amd64", "6.12-amd64", "6.12-arm64"]

PROG = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o {
	long state;
} __attribute__((preserve_access_index));

struct event {
	__u32 pid;
	char comm[16];
};

struct event last_event;
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

SEC("fentry/do_exit")
int BPF_PROG(on_exit, long code)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_rss_stat *rss = 0;
	long v = t->real_parent->pid;
	v += BPF_CORE_READ(t, real_parent, tgid);
	v += BPF_CORE_READ(t, mm, exe_file, f_path.dentry, d_name.len);
	v += t->sched_reset_on_fork;
	v += t->__state;
	v += ((struct task_struct___o *)t)->state;
	bpf_probe_read_kernel(&v, sizeof(v), &t->pid);
	last_event.pid = v;
	return code;
}

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(on_unlink, int dfd, struct filename *name)
{
	return BPF_CORE_READ(name, name) != 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev)
{
	return prev->pid + (long)ctx;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def kernels() -> KernelSet:
    return load_sample_kernels(NAMES)


@pytest.fixture(scope="module")
def prog(kernels, tmp_path_factory):
    path = tmp_path_factory.mktemp("hover") / "prog.bpf.c"
    path.write_text(PROG)
    model = analyze(str(path), PROG, SourceOptions(primary=kernels.primary_btf, arch="x86"))
    return str(path), model


def at(text: str, needle: str, offset: int = 0, nth: int = 0) -> Position:
    """The position of ``offset`` bytes into the ``nth`` occurrence of ``needle``."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start)
    col = start - (text.rfind("\n", 0, start) + 1) + offset
    return Position(line, col)


def hov(prog, kernels, needle: str, offset: int = 0, nth: int = 0, text: str = PROG) -> str:
    path, model = prog
    h = _hover(model, kernels, text, at(text, needle, offset, nth))
    assert h is not None, needle
    return h.markdown


def row(md: str, kernel: str) -> list[str]:
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == kernel:
            return cells
    raise AssertionError(f"no row for {kernel} in:\n{md}")


REAL_PARENT = {"6.12-amd64": "2448", "5.10-amd64": "2248", "6.1-amd64": "2432",
               "6.12-arm64": "1392"}


@pytest.mark.parametrize("needle,offset", [("t->real_parent", 3),
                                           ("(t, real_parent, tgid)", 4)])
def test_member_type_offset_on_every_kernel(prog, kernels, needle, offset) -> None:
    md = hov(prog, kernels, needle, offset)
    assert "struct task_struct *real_parent;" in md
    assert "member of `struct task_struct` · offset **2448** · size **8** (6.12-amd64)" in md
    for k, off in REAL_PARENT.items():
        cells = row(md, k)
        assert cells[1] == off and cells[2] == "8"
        assert cells[3] == ("same" if k == "6.12-amd64" else "different offset")
    # every column has a header (Neovim shows an empty header cell as such)
    header = next(ln for ln in md.splitlines() if ln.startswith("| kernel |"))
    assert all(c.strip() for c in header.strip().strip("|").split("|")), header


def test_member_range_is_the_token(prog, kernels) -> None:
    path, model = prog
    pos = at(PROG, "t->real_parent", 5)
    h = hover(model, kernels, path, PROG, pos)
    assert h is not None and h.range is not None
    line = PROG.splitlines()[pos.line]
    assert line[h.range.start.column:h.range.end.column] == "real_parent"


def test_core_read_hops_and_dotted_paths(prog, kernels) -> None:
    md = hov(prog, kernels, "real_parent, tgid)", 13)
    assert "pid_t tgid;" in md and "member of `struct task_struct`" in md
    md = hov(prog, kernels, "exe_file, f_path", 1)
    assert "struct file *exe_file;" in md and "member of `struct mm_struct`" in md
    md = hov(prog, kernels, "f_path.dentry", 1)
    assert "struct path f_path;" in md and "member of `struct file`" in md
    md = hov(prog, kernels, "f_path.dentry", 8)
    assert "struct dentry *dentry;" in md
    assert "member of `struct path` · offset **8** · size **8**" in md
    assert all(row(md, k)[3] == "same" for k in NAMES)
    md = hov(prog, kernels, "d_name.len", 7)
    assert "member of `struct qstr`" in md
    md = hov(prog, kernels, "BPF_CORE_READ(name, name)", 20)
    assert "const char *name;" in md and "member of `struct filename`" in md


def test_bitfield(prog, kernels) -> None:
    md = hov(prog, kernels, "t->sched_reset_on_fork", 4)
    assert "unsigned int sched_reset_on_fork;" in md
    assert "offset **2356** bit **0** · bitfield of **1 bit**" in md
    assert row(md, "5.10-amd64")[1:3] == ["2164 bit 0", "1 bit"]


def test_member_missing_on_some_kernels(prog, kernels) -> None:
    md = hov(prog, kernels, "t->__state", 4)
    assert "unsigned int __state;" in md
    assert row(md, "5.10-amd64")[1:] == ["—", "—", "missing"]
    assert row(md, "6.1-amd64")[1:] == ["24", "4", "same"]


def test_flavor_member_and_type(prog, kernels) -> None:
    md = hov(prog, kernels, "->state", 2)
    assert "long state;" in md and "relocated against `struct task_struct`" in md
    assert row(md, "5.10-amd64")[1:3] == ["16", "8"]
    assert row(md, "6.12-amd64")[3] == "missing"
    md = hov(prog, kernels, "\tlong state;", 6)  # in the definition
    assert "relocated against `struct task_struct`" in md
    assert row(md, "5.10-amd64")[1:4] == ["16", "8", "present"]
    md = hov(prog, kernels, "struct task_struct___o {", 8)
    assert "struct task_struct___o {\n\tlong state;\n};" in md
    assert "relocated against `struct task_struct`" in md
    assert "| 6.12-amd64 | primary |" in md


def test_type_definitions(prog, kernels) -> None:
    md = hov(prog, kernels, "struct task_struct *t", 8)
    assert md.startswith("```c\nstruct task_struct {\n\tstruct thread_info thread_info;")
    assert "struct task_struct *real_parent;" in md
    assert "`struct task_struct` · size **9792** (6.12-amd64)" in md
    assert row(md, "6.12-amd64")[1] == "primary"
    assert row(md, "6.1-amd64")[1].startswith("20 members missing")
    assert row(md, "5.10-amd64")[1].startswith("size 9408")
    # on the keyword: the same type
    assert hov(prog, kernels, "struct task_struct *t", 2) == md
    # a type the primary kernel does not have
    md = hov(prog, kernels, "struct task_rss_stat", 8)
    assert "struct task_rss_stat {" in md
    assert row(md, "6.12-amd64")[1] == "missing" and row(md, "6.12-arm64")[1] == "missing"
    # a kernel typedef, used in the program's type
    md = hov(prog, kernels, "__u32 pid;", 2)
    assert md.startswith("```c\ntypedef unsigned int __u32;\n```")
    assert "`typedef __u32` → `unsigned int` · size **4** (6.12-amd64)" in md
    assert all(row(md, k)[1] in ("same", "primary") for k in NAMES)
    # the program's own type: no kernel table
    md = hov(prog, kernels, "struct event last_event", 8)
    assert "struct event {\n\t__u32 pid;\n\tchar comm[16];\n};" in md
    assert "size **20** (this program)" in md and "| kernel |" not in md


def test_variables(prog, kernels) -> None:
    md = hov(prog, kernels, "t->real_parent->pid", 0)
    assert md.startswith("```c\nstruct task_struct *t;\n```") and "*local variable*" in md
    md = hov(prog, kernels, "return code", 7)
    assert "long code;" in md and "*parameter*" in md
    md = hov(prog, kernels, "BPF_CORE_READ(name, name)", 15)
    assert "struct filename *name;" in md and "*parameter*" in md
    md = hov(prog, kernels, "prev->pid", 0)
    assert "struct task_struct *prev;" in md and "*parameter*" in md
    md = hov(prog, kernels, "(long)ctx", 6)
    assert "unsigned long long *ctx;" in md
    md = hov(prog, kernels, "last_event.pid", 0)
    assert "struct event last_event;" in md and "*global variable*" in md


def test_helpers_and_kfuncs(prog, kernels) -> None:
    md = hov(prog, kernels, "bpf_probe_read_kernel(", 0)
    assert "long bpf_probe_read_kernel(void *dst, __u32 size, const void *unsafe_ptr);" in md
    assert "BPF helper 113" in md and "not on" not in md
    md = hov(prog, kernels, "bpf_get_current_task_btf()", 0)
    assert "struct task_struct *bpf_get_current_task_btf(void);" in md
    assert "not on: 5.10-amd64" in md
    md = hov(prog, kernels, "bpf_task_acquire(struct", 0)
    assert "struct task_struct *bpf_task_acquire(struct task_struct *p);" in md
    assert "not on: 5.10-amd64, 6.1-amd64" in md


def test_core_macros(prog, kernels) -> None:
    md = hov(prog, kernels, "BPF_CORE_READ(t, real_parent, tgid)", 3)
    assert md.startswith("```c\nBPF_CORE_READ(src, a, ...)\n```") and "one hop" in md
    md = hov(prog, kernels, "BPF_KPROBE(on_unlink", 3)
    assert "struct pt_regs *ctx" in md


def test_sections(prog, kernels) -> None:
    md = hov(prog, kernels, 'SEC("fentry/do_exit")', 12)
    assert "void do_exit(long int code);" in md
    md = hov(prog, kernels, 'SEC("tp_btf/sched_switch")', 12)
    assert "btf_trace_sched_switch" in md and "tracepoint `sched_switch`" in md
    # the program's name says what it attaches to, as its SEC does
    md = hov(prog, kernels, "BPF_PROG(on_exit", 10)
    assert 'program `SEC("fentry/do_exit")`' in md and "void do_exit(long int code);" in md
    md = hov(prog, kernels, "BPF_KPROBE(on_unlink", 12)
    assert "do_unlinkat" in md


def test_nothing_to_say(prog, kernels) -> None:
    path, model = prog
    assert hover(model, kernels, path, PROG, Position(0, 0)) is None  # #include line
    assert hover(model, kernels, path, PROG, Position(999, 0)) is None
    assert hover(model, kernels, path, PROG, Position(5, 999)) is None
    assert hover(model, kernels, path, PROG, Position(-1, -5)) is None
    assert hover(model, kernels, path, PROG, at(PROG, "rss = 0;", 6)) is None  # a number
    assert hover(model, kernels, path, PROG, at(PROG, '"GPL"', 2)) is None  # a string


def test_stale_model_and_half_typed_text(prog, kernels) -> None:
    # the text grew since the model: a new line with a new local
    text = PROG.replace("\tlong v = t->real_parent->pid;\n",
                        "\tlong v = t->real_parent->pid;\n\tstruct file *f = t->mm->exe_file;\n"
                        "\tv += f->f_inode->i_ino + BPF_CORE_READ(f, f_path.dentry\n")
    md = hov(prog, kernels, "f->f_inode", 4, text=text)
    assert "struct inode *f_inode;" in md
    md = hov(prog, kernels, "f_path.dentry\n", 8, text=text)
    assert "struct dentry *dentry;" in md
    md = hov(prog, kernels, "i_ino", 0, text=text)
    assert "long unsigned int i_ino;" in md


HEADED = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define FILE_PROBE(fn) SEC("kprobe/" #fn) int BPF_KPROBE(probe_##fn, struct file *file)

FILE_PROBE(vfs_read)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	return t->pid + BPF_CORE_READ(file, f_flags) + ctx->si;
}
"""


def test_body_after_a_header_macro(kernels, tmp_path) -> None:
    """The parameters a macro's header declares are known in the body written after it."""
    path = tmp_path / "headed.bpf.c"
    model = analyze(str(path), HEADED, SourceOptions(primary=kernels.primary_btf, arch="x86"))
    prog = (str(path), model)
    assert "unsigned int f_flags;" in hov(prog, kernels, "f_flags)", 2, text=HEADED)
    assert "long unsigned int si;" in hov(prog, kernels, "ctx->si", 6, text=HEADED)
    assert "struct file *file" in hov(prog, kernels, "(file, f_flags)", 2, text=HEADED)
    assert "pid_t pid;" in hov(prog, kernels, "t->pid", 4, text=HEADED)


CORPUS = [ROOT / "tests" / "corpus" / "read_macros.bpf.c", ROOT / "tests" / "corpus" /
          "checks.bpf.c", ROOT / "tests" / "fixtures" / "source" / "core_read.bpf.c",
          ROOT / "tests" / "fixtures" / "source" / "local_types.bpf.c",
          ROOT / "tests" / "fixtures" / "source" / "tracing.bpf.c"]


@pytest.mark.parametrize("file", CORPUS, ids=[p.name for p in CORPUS])
def test_every_position_of_a_file(file: Path, kernels) -> None:
    from bpfls.analysis.completion import _complete

    text = file.read_text()
    model = analyze(str(file), text, SourceOptions(primary=kernels.primary_btf, arch="x86"))
    lines = text.split("\n")
    said = 0
    for ln, line in enumerate(lines):
        for col in range(len(line.encode()) + 1):
            pos = Position(ln, col)
            if _hover(model, kernels, text, pos) is not None:
                said += 1
            _complete(model, kernels, text, pos)
    assert said > 0
    # truncated texts (typing at the end), answered from the model of the whole file
    for cut in range(0, len(text), max(1, len(text) // 40)):
        part = text[:cut]
        plines = part.split("\n")
        ln = len(plines) - 1
        for col in range(max(0, len(plines[-1].encode()) - 12), len(plines[-1].encode()) + 1):
            pos = Position(ln, col)
            _hover(model, kernels, part, pos)
            _complete(model, kernels, part, pos)


def test_identifiers_in_directives(prog, kernels) -> None:
    text = PROG.replace("struct event last_event;", "#define X t->real_parent + BPF_ANY\n"
                        "struct event last_event;")
    path, model = prog
    assert _hover(model, kernels, text, at(text, "real_parent", 0)) is None
    assert _hover(model, kernels, text, at(text, "define X", 1)) is None
    md = hov(prog, kernels, "BPF_ANY", 2, text=text)
    assert md.startswith("```c\nBPF_ANY = 0\n```") and row(md, "5.10-amd64")[1] == "0"


def test_markdown_tables_are_well_formed(prog, kernels) -> None:
    md = hov(prog, kernels, "t->real_parent", 3)
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len(table) == 2 + len(NAMES)
    assert all(len(re.findall(r"\|", ln)) == 5 for ln in table)


FLAVORS = """\
#include "vmlinux.h"
struct task_struct___o___x {
	long state;
} __attribute__((preserve_access_index));
struct task_struct____y {
	long state;
} __attribute__((preserve_access_index));
"""


def test_flavors_follow_libbpf_essential_names(kernels, tmp_path) -> None:
    """libbpf cuts the last ``___flavor`` (``task_struct___o___x`` → ``task_struct___o``, which
    no kernel has) and none at all in ``task_struct____y``."""
    path = tmp_path / "flavors.bpf.c"
    path.write_text(FLAVORS)
    model = analyze(str(path), FLAVORS, SourceOptions(primary=kernels.primary_btf, arch="x86"))
    prog = (str(path), model)
    md = hov(prog, kernels, "struct task_struct___o___x {", 8, text=FLAVORS)
    assert "relocated against `struct task_struct___o`" in md
    md = hov(prog, kernels, "struct task_struct____y {", 8, text=FLAVORS)
    assert "relocated against `struct task_struct____y`" in md
