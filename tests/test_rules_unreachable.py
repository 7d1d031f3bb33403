"""``unreachable-relocation``: a hint for the file's own functions no program calls, none for
the helpers of a shared header the program does not use."""

from __future__ import annotations

from pathlib import Path

from bpfls.analysis.check import check_model
from bpfls.source import SourceOptions, analyze

from conftest import load_sample_kernels

HEADER = """#pragma once
#include <bpf/bpf_core_read.h>
static __always_inline int header_helper(struct task_struct *t)
{
    return BPF_CORE_READ(t, pid);
}
"""

PROG = """#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "shared.bpf.h"

static __noinline int unused_here(struct task_struct *t)
{
    return BPF_CORE_READ(t, tgid);
}

SEC("tp_btf/sched_switch")
int on_switch(void *ctx)
{
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_hints_only_for_the_files_own_functions(tmp_path: Path) -> None:
    ks = load_sample_kernels(["6.12-amd64"])
    (tmp_path / "shared.bpf.h").write_text(HEADER)
    src = tmp_path / "prog.bpf.c"
    src.write_text(PROG)
    model = analyze(str(src), None, SourceOptions(primary=ks.primary_btf,
                                                  defines={"__TARGET_ARCH_x86": None}))
    assert {a.function for a in model.accesses if not a.reachable} == \
        {"header_helper", "unused_here"}
    hints = [d for d in check_model(model, ks).diagnostics
             if d.code == "unreachable-relocation"]
    assert [(Path(d.path).name, d.message) for d in hints] == [
        ("prog.bpf.c", "CO-RE accesses in 'unused_here' are not checked: no program calls it")]
