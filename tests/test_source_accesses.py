"""What each predicted access carries: ranges, producer, access mode and sizes, types."""

from __future__ import annotations

import pytest

import bpfls.btf
from bpfls.btf import Kind
from bpfls.source import SourceOptions, analyze

from conftest import ROOT, SAMPLE_DIR

CORPUS = ROOT / "tests" / "fixtures" / "source"

PROG = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

long out[8];

SEC("fentry/do_exit")
int BPF_PROG(acc, long code)
{
	struct task_struct *t = bpf_get_current_task_btf();
	char comm[16];

	out[0] = t->pid;
	out[1] = BPF_CORE_READ(t, real_parent, start_time);
	bpf_core_read(&out[2], sizeof(out[2]), &t->utime);
	bpf_core_read_str(comm, sizeof(comm), &t->comm);
	out[3] = BPF_CORE_READ_USER(t, mm, arg_start);
	t->flags = 1;
	out[4] = bpf_core_field_exists(t->__state);
	return 0;
}
"""


@pytest.fixture(scope="module")
def primary():
    return bpfls.btf.load(SAMPLE_DIR / "6.12-amd64.btf.xz")


@pytest.fixture(scope="module")
def model(primary, tmp_path_factory):
    path = tmp_path_factory.mktemp("acc") / "acc.bpf.c"
    path.write_text(PROG)
    return analyze(str(path), None, SourceOptions(primary=primary, arch="x86"))


def text_at(rng) -> str:
    lines = PROG.splitlines()
    if rng.start.line == rng.end.line:
        return lines[rng.start.line][rng.start.column:rng.end.column]
    return "\n".join([lines[rng.start.line][rng.start.column:],
                      *lines[rng.start.line + 1:rng.end.line],
                      lines[rng.end.line][:rng.end.column]])


def test_fields(model) -> None:
    rows = [(a.spec, text_at(a.range), text_at(a.expr_range), a.macro, a.load, a.store,
             a.load_size, a.probe_read, a.read_size, a.user) for a in model.accesses]
    assert rows == [
        ("struct task_struct.pid", "pid", "t->pid", "direct", True, False, 4, False, None, False),
        ("struct task_struct.real_parent", "real_parent",
         "BPF_CORE_READ(t, real_parent, start_time)", "BPF_CORE_READ", False, False, None, True,
         8, False),
        ("struct task_struct.start_time", "start_time",
         "BPF_CORE_READ(t, real_parent, start_time)", "BPF_CORE_READ", False, False, None, True,
         8, False),
        ("struct task_struct.utime", "utime",
         "bpf_core_read(&out[2], sizeof(out[2]), &t->utime)", "bpf_core_read", False, False,
         None, True, 8, False),
        ("struct task_struct.comm", "comm", "bpf_core_read_str(comm, sizeof(comm), &t->comm)",
         "bpf_core_read_str", False, False, None, True, 16, False),
        ("struct task_struct.mm", "mm", "BPF_CORE_READ_USER(t, mm, arg_start)",
         "BPF_CORE_READ_USER", False, False, None, True, 8, True),
        ("struct mm_struct.arg_start", "arg_start", "BPF_CORE_READ_USER(t, mm, arg_start)",
         "BPF_CORE_READ_USER", False, False, None, True, 8, True),
        ("struct task_struct.flags", "flags", "t->flags", "direct", False, True, 4, False, None,
         False),
        ("struct task_struct.__state", "__state", "bpf_core_field_exists(t->__state)",
         "bpf_core_field_exists", False, False, None, False, None, False),
    ]
    assert all(a.function == "acc" and a.reachable for a in model.accesses)
    assert [a.index for a in model.accesses] == list(range(len(model.accesses)))
    check = model.accesses[-1]
    assert check.check and str(check.kind) == "field_exists"
    assert [x.name for x in model.accesses[6].accessors] == ["arg_start"]


def test_relocation_record(model, primary) -> None:
    a = model.accesses[0]
    rel = a.relocation
    assert rel.local is model.local
    assert rel.type_id == primary.find("task_struct", Kind.STRUCT).id
    assert rel.access == (0, 88) and a.access_str == "0:88"
    assert model.functions["acc"].section == "fentry/do_exit"
    assert model.files == [model.path]
    assert model.vmlinux_h == "vmlinux.h" and model.base_preserve_access_index


def test_accessors_name_every_step(primary) -> None:
    m = analyze(str(CORPUS / "core_read.bpf.c"), None,
                SourceOptions(primary=primary, arch="x86",
                              include_dirs=(str(CORPUS / "include"),)))
    a = next(x for x in m.accesses if x.spec == "struct nf_conn.tuplehash[0].tuple.dst.u3.ip")
    # the accessor came through `#define ORIG tuplehash[IP_CT_DIR_ORIGINAL].tuple`: its steps
    # point at the macro's name
    assert [x.name for x in a.accessors] == ["tuplehash", "tuple", "dst", "u3", "ip"]
    line = (CORPUS / "core_read.bpf.c").read_text().splitlines()[a.range.start.line]
    assert line[a.range.start.column:a.range.end.column] == "ip"
    orig = a.accessors[0].range
    assert line[orig.start.column:orig.end.column] == "ORIG"


def test_header_functions_and_local_types(primary) -> None:
    m = analyze(str(CORPUS / "preproc.bpf.c"), None,
                SourceOptions(primary=primary, arch="x86", defines={"WITH_PARENT": "2"},
                              include_dirs=(str(CORPUS / "include"),)))
    header = str(CORPUS / "include" / "common.h")
    assert m.files == [str(CORPUS / "preproc.bpf.c"), header]
    in_header = [a for a in m.accesses if a.path == header]
    assert {a.spec for a in in_header} == {"struct task_struct.cgroups",
                                           "struct css_set.dfl_cgrp",
                                           "struct cgroup___local.kn", "struct kernfs_node.id"}
    assert all(a.function == "cgroup_id_of" and a.reachable for a in in_header)
    info = {i.name: i for i in m.local_types.values()}
    assert info["cgroup___local"].preserve_access_index
    assert info["cgroup___local"].path == header
    assert not info["event"].preserve_access_index
    assert m.inactive[str(CORPUS / "preproc.bpf.c")]
    assert "PARENT_PID" in m.macros


def test_no_preserve_access_index(primary) -> None:
    m = analyze(str(CORPUS / "no_pai.bpf.c"), None, SourceOptions(primary=primary, arch="x86"))
    assert not m.base_preserve_access_index
    assert [(a.spec, a.macro) for a in m.accesses] == [
        ("struct task_struct.tgid", "BPF_CORE_READ"),
        ("struct task_struct___flavor.pid", "direct")]
    assert m.preserve_access_index(next(iter(a.relocation.type_id for a in m.accesses
                                             if a.macro == "direct")))


def test_accesses_inside_macro_arguments_keep_their_extent(primary, tmp_path) -> None:
    text = """\
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
int f(struct task_struct *t) { return BPF_CORE_READ(t->group_leader, pid); }
"""
    m = analyze(str(tmp_path / "x.bpf.c"), text, SourceOptions(primary=primary))
    line = text.splitlines()[2]
    got = [(a.spec, a.macro, line[a.expr_range.start.column:a.expr_range.end.column])
           for a in m.accesses]
    assert got == [("struct task_struct.group_leader", "direct", "t->group_leader"),
                   ("struct task_struct.pid", "BPF_CORE_READ",
                    "BPF_CORE_READ(t->group_leader, pid)")]


USDT = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
SEC("kprobe/x")
int p(struct pt_regs *ctx) { return 0; }
"""


@pytest.mark.parametrize("arch, spec", [("x86", "struct pt_regs.ip 0:16"),
                                        ("arm64", "struct user_pt_regs.pc 0:2")])
def test_usdt_header_helpers_read_the_ip(arch, spec, tmp_path) -> None:
    """usdt.bpf.h's weak helpers are compiled into every program that includes it, used or
    not, and each inlines a PT_REGS_IP(ctx) read: clang emits one relocation in each."""
    kernel = {"x86": "6.12-amd64", "arm64": "6.12-arm64"}[arch]
    primary = bpfls.btf.load(SAMPLE_DIR / f"{kernel}.btf.xz")
    m = analyze(str(tmp_path / "u.bpf.c"), USDT, SourceOptions(primary=primary, arch=arch))
    got = [(f"{a.spec} {a.access_str}", a.path, a.function, a.reachable) for a in m.accesses]
    assert got == [(spec, "<bpf/usdt.bpf.h>", f, True)
                   for f in ("bpf_usdt_arg_cnt", "bpf_usdt_arg", "bpf_usdt_cookie")]
    assert not m.diagnostics
    plain = USDT.replace('#include "vmlinux.h"', "struct pt_regs { long rip; };")
    m = analyze(str(tmp_path / "u.bpf.c"), plain, SourceOptions(primary=primary, arch=arch))
    assert m.accesses == []  # no preserve_access_index, no relocation


SIX_ARGS = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

long out[2];

SEC("uprobe/six")
int BPF_KPROBE(six, long a, long b, long c, long d, long e, long f)
{
	out[0] = f;
	return 0;
}

SEC("kprobe/seventh")
int sixth(struct pt_regs *ctx)
{
	out[1] = PT_REGS_PARM6(ctx);
	return 0;
}
"""


def test_sixth_argument_registers(primary, tmp_path) -> None:
    """libbpf 1.4's PT_REGS_PARM6..8, and BPF_KPROBE's parameters past the fifth (r9 on x86;
    the unused ones are dead loads)."""
    path = tmp_path / "six.bpf.c"
    path.write_text(SIX_ARGS)
    m = analyze(str(path), None, SourceOptions(primary=primary, arch="x86"))
    assert sorted((a.function, a.spec) for a in m.accesses) == [
        ("six", "struct pt_regs.r9"), ("sixth", "struct pt_regs.r9")]
    assert not m.diagnostics


def test_parser_text_keeps_every_position() -> None:
    from bpfls.source.cparse import TYPEOF_PLACEHOLDER, parse, parser_text

    code = (b"enum e : unsigned char { A };\nenum : __u16 { B } x;\n"
            b"long v = (typeof(*t) *)p + sizeof(__typeof__(t->f[1]));\n"
            b"typeof(\n  t) multi;\nstruct s { int a : 3; };\n")
    text = parser_text(code)
    assert len(text) == len(code) and text.count(b"\n") == code.count(b"\n")
    assert b"unsigned" not in text and b"__u16" not in text and b"int a : 3" in text
    assert text.count(TYPEOF_PLACEHOLDER.encode()) == 2 and b"typeof(\n  t)" in text
    assert text.index(b"(" + TYPEOF_PLACEHOLDER.encode()) == code.index(b"(typeof")
    assert not parse(code).root_node.children[0].has_error


def test_typeof_type_names_in_the_program_types(primary, tmp_path) -> None:
    path = tmp_path / "tyof.bpf.c"
    path.write_text("""\
#include "vmlinux.h"
struct holder___x {
	typeof(unsigned short) a;
	__typeof__(struct task_struct *) t;
	typeof(char[3]) c;
};
struct holder___x g;
""")
    m = analyze(str(path), None, SourceOptions(primary=primary, arch="x86"))
    local = m.local
    t = local.find("holder___x")
    assert [(x.name, x.bit_offset) for x in t.members] == [("a", 0), ("t", 64), ("c", 128)]
    assert local.size_of(t) == 24 and not m.diagnostics


def test_type_forms_are_followed(primary) -> None:
    """Nothing in the type forms program is left unfollowed (the relocations themselves are
    compared with clang's by tests/test_source_oracle.py)."""
    m = analyze(str(CORPUS / "type_forms.bpf.c"), None, SourceOptions(primary=primary, arch="x86"))
    assert not m.diagnostics
    ids = [a for a in m.accesses if str(a.kind) == "local_type_id"]
    assert {a.spec for a in ids} >= {"const <anon>", "restrict <anon>", "struct sized___x"}
