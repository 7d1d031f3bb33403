"""Go to definition: kernel types and members in the header rendered from the primary kernel,
the program's types, locals, parameters, globals, functions and macros in the program."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bpfls.analysis.definition import _definition, definition, kernel_header
from bpfls.project.kernels import KernelSet
from bpfls.source import SourceOptions, analyze
from bpfls.source.positions import Position

from conftest import load_sample_kernels

NAMES = ["5.10-amd64", "6.12-amd64"]

PROG = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define PARENT real_parent

struct task_struct___o {
	long state;
	int prio;
} __attribute__((preserve_access_index));

struct event {
	__u32 pid;
	char comm[16];
};

struct event last_event;

static __always_inline long parent_pid(struct task_struct *t)
{
	return BPF_CORE_READ(t, PARENT, tgid);
}

SEC("fentry/do_exit")
int BPF_PROG(on_exit, long code)
{
	struct task_struct *t = bpf_get_current_task_btf();
	long v = t->real_parent->pid + parent_pid(t);
	v += BPF_CORE_READ(t, mm, exe_file, f_path.dentry);
	v += ((struct task_struct___o *)t)->prio;
	last_event.pid = v + code;
	return bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_map_lookup_elem);
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def kernels() -> KernelSet:
    return load_sample_kernels(NAMES)


@pytest.fixture(scope="module")
def prog(kernels, tmp_path_factory):
    path = tmp_path_factory.mktemp("definition") / "prog.bpf.c"
    path.write_text(PROG)
    model = analyze(str(path), PROG, SourceOptions(primary=kernels.primary_btf, arch="x86"))
    return str(path), model


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("headers")


def at(text: str, needle: str, offset: int = 0) -> Position:
    start = text.index(needle)
    line = text.count("\n", 0, start)
    return Position(line, start - (text.rfind("\n", 0, start) + 1) + offset)


def goto(prog, kernels, cache, needle: str, offset: int = 0, text: str = PROG):
    path, model = prog
    locs = _definition(model, kernels, path, text, at(text, needle, offset), cache)
    assert locs, needle
    loc = locs[0]
    with open(loc.path, encoding="utf-8") as f:
        line = f.read().split("\n")[loc.range.start.line]
    word = line.encode()[loc.range.start.column:loc.range.end.column].decode()
    return loc, line, word


def test_kernel_type_and_member_in_rendered_header(prog, kernels, cache) -> None:
    loc, line, word = goto(prog, kernels, cache, "struct task_struct *t =", 8)
    assert line == "struct task_struct {" and word == "task_struct"
    header = Path(loc.path)
    assert header.parent == cache and header.suffix == ".h"
    assert header.name == f"{kernels.primary_btf.fingerprint().hex()}.h"
    assert not os.access(header, os.W_OK) or os.geteuid() == 0
    assert oct(header.stat().st_mode & 0o777) == "0o444"
    loc2, line, word = goto(prog, kernels, cache, "t->real_parent", 3)
    assert line == "\tstruct task_struct *real_parent;" and word == "real_parent"
    assert loc2.path == loc.path and loc2.range.start.line > loc.range.start.line
    _, line, word = goto(prog, kernels, cache, "exe_file, f_path", 0)
    assert line.strip() == "struct file *exe_file;" and word == "exe_file"
    _, line, word = goto(prog, kernels, cache, "f_path.dentry", 7)
    assert line == "\tstruct dentry *dentry;" and word == "dentry"
    # an enum and its enumerator
    _, line, word = goto(prog, kernels, cache, "enum bpf_func_id", 6)
    assert line == "enum bpf_func_id {" and word == "bpf_func_id"
    _, line, word = goto(prog, kernels, cache, "BPF_FUNC_map_lookup_elem", 3)
    assert line.strip() == "BPF_FUNC_map_lookup_elem = 1," and word == "BPF_FUNC_map_lookup_elem"


def test_header_written_once_with_its_index(prog, kernels, cache) -> None:
    h = kernel_header(kernels.primary_btf, cache)
    assert h is not None
    mtime = h.path.stat().st_mtime_ns
    index = h.path.with_name(h.path.name.removesuffix(".h") + ".lines.json")
    assert index.exists()
    import bpfls.analysis.definition as d

    d._HEADERS.clear()
    again = kernel_header(kernels.primary_btf, cache)
    assert again is not None and again.path == h.path
    assert again.path.stat().st_mtime_ns == mtime
    ts = kernels.primary_btf.find("task_struct", "struct")
    assert again.type_line(ts.id) == h.type_line(ts.id)
    assert again.line(again.type_line(ts.id)) == "struct task_struct {"


def test_program_types(prog, kernels, cache) -> None:
    path, _ = prog
    loc, line, word = goto(prog, kernels, cache, "(struct task_struct___o *)", 8)
    assert loc.path == path and word == "task_struct___o" and line.startswith("struct")
    loc, line, word = goto(prog, kernels, cache, "->prio", 2)
    assert loc.path == path and line == "\tint prio;" and word == "prio"
    loc, line, word = goto(prog, kernels, cache, "last_event.pid", 11)
    assert loc.path == path and line == "\t__u32 pid;"


def test_variables_functions_macros(prog, kernels, cache) -> None:
    path, _ = prog
    loc, line, word = goto(prog, kernels, cache, "t->real_parent->pid", 0)
    assert word == "t" and line.startswith("\tstruct task_struct *t =")
    loc, line, word = goto(prog, kernels, cache, "v + code", 4)
    assert word == "code" and line == "int BPF_PROG(on_exit, long code)"
    loc, line, word = goto(prog, kernels, cache, "last_event.pid", 0)
    assert word == "last_event" and line == "struct event last_event;"
    loc, line, word = goto(prog, kernels, cache, "parent_pid(t);", 0)
    assert word == "parent_pid" and line.startswith("static __always_inline long parent_pid(")
    loc, line, word = goto(prog, kernels, cache, "PARENT, tgid", 0)
    assert word == "PARENT" and line == "#define PARENT real_parent"
    loc, line, word = goto(prog, kernels, cache, "(t, PARENT", 1)
    assert word == "t" and "parent_pid(struct task_struct *t)" in line


def test_stale_model(prog, kernels, cache) -> None:
    # two lines inserted above: locals are found in the current text
    text = PROG.replace("\tstruct task_struct *t =",
                        "\tlong a;\n\tlong b;\n\tstruct task_struct *t =")
    path, model = prog
    locs = _definition(model, kernels, path, text, at(text, "t->real_parent->pid"), cache)
    decl = at(text, "struct task_struct *t =", 20)
    assert [(x.path, x.range.start, x.range.end.column) for x in locs] == \
        [(path, decl, decl.column + 1)]


def test_nothing(prog, kernels, cache) -> None:
    path, model = prog
    for pos in [Position(0, 3), Position(999, 0), Position(-1, 0), at(PROG, "long code", 1)]:
        assert definition(model, kernels, path, PROG, pos, cache) == []
