"""Completion: members after -> and . and in BPF_CORE_READ hops, type names, enumerators,
section names and attach targets, each with the kernels it is missing on."""

from __future__ import annotations

import pytest

from bpfls.analysis.completion import MAX_ITEMS, _complete, complete
from bpfls.project.kernels import KernelSet
from bpfls.source import SourceOptions, analyze
from bpfls.source.positions import Position

from conftest import load_sample_kernels

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

SEC("kprobe/do_exit")
int BPF_KPROBE(on_exit, long code)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct sock *sk = 0;
	struct event e = {};
	//HERE
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def kernels() -> KernelSet:
    return load_sample_kernels(NAMES)


@pytest.fixture(scope="module")
def model(kernels, tmp_path_factory):
    path = tmp_path_factory.mktemp("completion") / "prog.bpf.c"
    path.write_text(PROG)
    return analyze(str(path), PROG, SourceOptions(primary=kernels.primary_btf, arch="x86"))


def typed(line: str) -> tuple[str, Position]:
    """The program with ``line`` typed at //HERE, and the position of its '|'."""
    col = line.index("|")
    text = PROG.replace("\t//HERE", "\t" + line.replace("|", ""))
    ln = text.split("\n").index("\t" + line.replace("|", ""))
    return text, Position(ln, 1 + len(line[:col].encode()))


def comp(model, kernels, line: str):
    text, pos = typed(line)
    return _complete(model, kernels, text, pos)


def labels(res) -> list[str]:
    return [e.label for e in res.items]


def by_label(res, label: str):
    return next(e for e in res.items if e.label == label)


def test_core_read_first_hop(model, kernels) -> None:
    res = comp(model, kernels, "long x = BPF_CORE_READ(task, |")
    names = labels(res)
    assert "real_parent" in names and "__state" in names and "pid" in names
    assert {e.kind for e in res.items} == {"field"}  # nothing but members
    assert not res.is_incomplete
    rp = by_label(res, "real_parent")
    assert rp.detail == "struct task_struct *" and rp.missing_on == ()
    assert by_label(res, "__state").missing_on == ("5.10-amd64",)
    # declaration order
    assert names.index("__state") < names.index("pid") < names.index("real_parent")
    # the replace range is empty at the cursor
    text, pos = typed("long x = BPF_CORE_READ(task, |")
    assert res.replace_range.start == pos and res.replace_range.end == pos


def test_core_read_later_hops_and_dots(model, kernels) -> None:
    res = comp(model, kernels, "long x = BPF_CORE_READ(task, mm, |")
    assert "exe_file" in labels(res) and "arg_start" in labels(res)
    res = comp(model, kernels, "long x = BPF_CORE_READ(task, mm, exe_file, f_path.|")
    assert labels(res) == ["mnt", "dentry"]
    res = comp(model, kernels, "long x = BPF_CORE_READ(sk, __sk_common.skc_|")
    assert "skc_daddr" in labels(res) and "skc_family" in labels(res)
    text, pos = typed("long x = BPF_CORE_READ(sk, __sk_common.skc_|")
    assert res.replace_range.start.column == pos.column - 4
    res = comp(model, kernels, "BPF_CORE_READ_INTO(&e.pid, task, group_leader, |")
    assert "tgid" in labels(res)


def test_members_after_arrow_and_dot(model, kernels) -> None:
    res = comp(model, kernels, "task->|")
    assert "real_parent" in labels(res)
    res = comp(model, kernels, "task->real_parent->mm->|")
    assert "exe_file" in labels(res)
    res = comp(model, kernels, "e.|")
    assert labels(res) == ["pid", "comm"]
    assert by_label(res, "comm").detail == "char [16]"
    res = comp(model, kernels, "((struct task_struct___o *)task)->|")
    assert labels(res) == ["state"]
    assert by_label(res, "state").missing_on == ("6.12-amd64", "6.1-amd64", "6.12-arm64")
    res = comp(model, kernels, "ctx->|")  # BPF_KPROBE's ctx is struct pt_regs *
    assert "di" in labels(res) and by_label(res, "di").missing_on == ("6.12-arm64",)
    res = comp(model, kernels, "sk->__sk_common.|")
    assert "skc_daddr" in labels(res)


def test_half_typed(model, kernels) -> None:
    # unbalanced parentheses, nothing after the arrow, a model older than the text
    res = comp(model, kernels, "if (task->real_parent->|")
    assert "pid" in labels(res)
    res = comp(model, kernels, "bpf_printk(\"%d\", BPF_CORE_READ(task, real_parent, |")
    assert "tgid" in labels(res)
    res = comp(model, kernels, "struct file *f = task->mm->exe_file; long y = f->|")
    assert "f_inode" in labels(res)


def test_type_names(model, kernels) -> None:
    res = comp(model, kernels, "struct task_s|")
    assert "task_struct" in labels(res) and "task_struct___o" in labels(res)
    assert all(n.startswith("task_s") for n in labels(res))
    assert {e.kind for e in res.items} == {"struct"}
    assert by_label(res, "task_struct").detail == "struct task_struct, 9792 bytes"
    res = comp(model, kernels, "struct task_rss|")
    assert by_label(res, "task_rss_stat").missing_on == ("6.12-amd64", "6.12-arm64")
    res = comp(model, kernels, "struct |")
    assert res.is_incomplete and len(res.items) == MAX_ITEMS
    res = comp(model, kernels, "enum bpf_func_|")
    assert labels(res) == ["bpf_func_id"]
    res = comp(model, kernels, "union bpf_attr|")
    assert "bpf_attr" in labels(res)
    res = comp(model, kernels, "struct eve|")
    assert by_label(res, "event").detail.endswith("(this program)")


def test_enumerators(model, kernels) -> None:
    res = comp(model, kernels, "long v = bpf_core_enum_value(enum bpf_func_id, |")
    assert by_label(res, "BPF_FUNC_map_lookup_elem").detail == "1"
    assert by_label(res, "BPF_FUNC_get_current_task_btf").missing_on == ("5.10-amd64",)
    assert {e.kind for e in res.items} == {"enumerator"}
    res = comp(model, kernels, "if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_r|")
    assert "BPF_FUNC_ringbuf_output" in labels(res)


@pytest.mark.parametrize("sec,expect,kind", [
    ('SEC("|', ["kprobe/", "fentry/", "tp_btf/", "lsm/", "raw_tp/", "tracepoint/", "xdp", "tc"],
     "program-type"),
    ('SEC("fe|', ["fentry/", "fexit/"], "program-type"),
])
def test_section_names(model, kernels, sec, expect, kind) -> None:
    res = comp(model, kernels, sec)
    assert set(expect) <= set(labels(res))
    assert {e.kind for e in res.items} == {kind}
    assert all(e.detail for e in res.items)


def test_sections_at_file_scope(model, kernels) -> None:
    text = PROG.replace('SEC("kprobe/do_exit")', 'SEC("tp_btf/sched_')
    ln = text.split("\n").index('SEC("tp_btf/sched_')
    res = _complete(model, kernels, text, Position(ln, len('SEC("tp_btf/sched_')))
    assert "sched_switch" in labels(res) and "sched_wakeup" in labels(res)
    # inside a closed string, before the quote
    text = PROG.replace('SEC("kprobe/do_exit")', 'SEC("kprobe/do_e")')
    ln = text.split("\n").index('SEC("kprobe/do_e")')
    res = _complete(model, kernels, text, Position(ln, len('SEC("kprobe/do_e')))
    assert "do_exit" in labels(res)
    assert _complete(model, kernels, text, Position(ln, len('SEC("kprobe/do_e")'))).items == []


def test_attach_targets(model, kernels) -> None:
    res = comp(model, kernels, 'SEC("fentry/do_exi|')
    assert "do_exit" in labels(res) and all(n.startswith("do_exi") for n in labels(res))
    assert by_label(res, "do_exit").detail == "void do_exit(long int)"
    text, pos = typed('SEC("fentry/do_exi|')
    assert res.replace_range.start.column == pos.column - len("do_exi")
    res = comp(model, kernels, 'SEC("kprobe/|')
    assert res.is_incomplete and len(res.items) == MAX_ITEMS
    res = comp(model, kernels, 'SEC("lsm/file_o|')
    assert "file_open" in labels(res) and not any(n.startswith("bpf_lsm_") for n in labels(res))
    res = comp(model, kernels, 'SEC("lsm/|')
    assert "file_open" in labels(res) and "bprm_check_security" in labels(res)
    res = comp(model, kernels, 'SEC("tp_btf/sched_swi|')
    assert labels(res) == ["sched_switch"] and res.items[0].kind == "tracepoint"
    res = comp(model, kernels, 'SEC("fentry/bpf_cpumask_cr|')
    assert by_label(res, "bpf_cpumask_create").missing_on == ("5.10-amd64", "6.1-amd64")


def test_identifiers(model, kernels) -> None:
    res = comp(model, kernels, "bpf_probe_read_ker|")
    e = by_label(res, "bpf_probe_read_kernel")
    assert e.kind == "function" and e.detail.startswith("long bpf_probe_read_kernel(void *dst")
    res = comp(model, kernels, "long z = ta|")
    assert by_label(res, "task").kind == "variable"
    # helpers are marked with the kernels whose enum bpf_func_id lacks them
    res = comp(model, kernels, "bpf_lo|")
    assert by_label(res, "bpf_loop").missing_on == ("5.10-amd64",)
    assert by_label(res, "bpf_loop").kind == "function"
    res = comp(model, kernels, "bpf_get_current_pid|")
    assert by_label(res, "bpf_get_current_pid_tgid").missing_on == ()


def test_nothing_and_never_raises(model, kernels) -> None:
    path = model.path
    for text, pos in [(PROG, Position(0, 3)), (PROG, Position(500, 0)), ("", Position(0, 0)),
                      (PROG, Position(-3, 2)), ("task->", Position(0, 6)),
                      ("BPF_CORE_READ(", Position(0, 14)), ('SEC("', Position(0, 5))]:
        res = complete(model, kernels, path, text, pos)
        assert isinstance(res.items, list)
    res = comp(model, kernels, "long x = 1 + |")
    assert res.items == []
    res = comp(model, kernels, "unknown_var->|")
    assert res.items == []


def test_latency(model, kernels) -> None:
    import time

    from bpfls.analysis.kernelindex import prepare

    prepare(kernels)
    lines = ["long x = BPF_CORE_READ(task, |", "task->|", 'SEC("fentry/tcp_|', "struct sk_|"]
    cases = [typed(ln) for ln in lines]
    for text, pos in cases:
        _complete(model, kernels, text, pos)
    worst = 0.0
    for _ in range(5):
        for text, pos in cases:
            t = time.perf_counter()
            _complete(model, kernels, text, pos)
            worst = max(worst, time.perf_counter() - t)
    assert worst < 0.05  # generous: the benchmark (bench/engine_bench.py) measures p99


def test_without_kernels_or_type_names(tmp_path) -> None:
    """No kernel loaded yet (the editor answers with what it has), and a model without its
    type-name table (a failed analysis): the program's own types still work."""
    from bpfls.analysis.definition import _definition
    from bpfls.analysis.hover import _hover
    from bpfls.source.model import FileScope

    text = ("struct event { unsigned int pid; char comm[16]; };\n"
            "int f(struct event *e)\n{\n\tstruct event local = {};\n\treturn e->pid + local.\n}\n")
    path = tmp_path / "k.bpf.c"
    path.write_text(text)
    none = KernelSet((), None)
    for scoped in (True, False):
        model = analyze(str(path), text, SourceOptions())
        if not scoped:
            model.scope = FileScope()
        res = _complete(model, none, text, Position(4, 24))
        assert labels(res) == ["pid", "comm"] and res.items[0].missing_on == ()
        md = _hover(model, none, text, Position(4, 12)).markdown
        assert "member of `struct event` · offset **0** · size **4** (this program)" in md
        locs = _definition(model, none, str(path), text, Position(4, 21), None)
        assert [(x.range.start.line, x.range.start.column) for x in locs] == [(3, 14)]
        assert _complete(model, none, text, Position(4, 0)).items == []


def test_body_after_a_header_macro(kernels, tmp_path) -> None:
    """Members of the parameters a macro's header declares, in the body written after it."""
    text = ("#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\n"
            "#include <bpf/bpf_core_read.h>\n#include <bpf/bpf_tracing.h>\n"
            "#define FILE_PROBE(fn) SEC(\"kprobe/\" #fn) "
            "int BPF_KPROBE(probe_##fn, struct file *file)\n"
            "FILE_PROBE(vfs_read)\n{\n\treturn BPF_CORE_READ(file, f_fl) + ctx->\n}\n")
    path = tmp_path / "headed.bpf.c"
    model = analyze(str(path), text, SourceOptions(primary=kernels.primary_btf, arch="x86"))
    line = text.split("\n").index("\treturn BPF_CORE_READ(file, f_fl) + ctx->")
    res = _complete(model, kernels, text, Position(line, len("\treturn BPF_CORE_READ(file, f_fl")))
    assert "f_flags" in labels(res)
    res = _complete(model, kernels, text, Position(line, len("\treturn BPF_CORE_READ(file, f_fl) "
                                                              "+ ctx->")))
    assert {"di", "si", "ip"} <= set(labels(res))
