"""Per-kernel name lists: type names and function names are built separately."""

from __future__ import annotations

from bpfls.analysis.kernelindex import TYPE_KINDS, KernelIndex, prepare
from bpfls.btf import Kind, load
from bpfls.project.config import Config, KernelSpec
from bpfls.project.kernels import load_kernels

from conftest import SAMPLE_DIR


def test_type_names_without_function_names() -> None:
    btf = load(SAMPLE_DIR / "5.10-amd64.btf.xz")
    idx = KernelIndex(btf)
    assert idx.has("struct", "task_struct") and idx.has("typedef", "pid_t")
    assert idx.has("enum", "bpf_func_id") and not idx.has("struct", "pid_t")
    assert "func" not in idx._ids  # functions are most names: built on their own first use
    assert idx.has("func", "vfs_read") and "func" in idx._ids
    want = {t.name for t in btf if t.kind == Kind.UNION and t.name}
    assert set(idx.names("union")) == want and idx.names("union") == sorted(want)
    assert idx.ids("struct")["task_struct"] == btf.find("task_struct", "struct").id
    assert "file_open" in idx.names("lsm")  # bpf_lsm_<hook>
    assert "sched_switch" in idx.names("tracepoint")  # btf_trace_<name>


def test_prepare_only_the_kinds_asked() -> None:
    ks = load_kernels(Config((KernelSpec("k", str(SAMPLE_DIR / "6.1-amd64.btf.xz")),), "k"))
    prepare(ks, TYPE_KINDS)
    from bpfls.analysis.kernelindex import index_of

    idx = index_of(ks.primary_btf)
    assert set(idx._ids) == set(TYPE_KINDS)
