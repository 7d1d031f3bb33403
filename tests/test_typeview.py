"""The kernel-type commands' engine: list a kernel's types, render one, per kernel."""

from __future__ import annotations

import pytest

from bpfls.analysis.typeview import TypeViewError, list_kernels, list_types, render_type
from bpfls.project.config import Config, KernelSpec
from bpfls.project.kernels import load_kernels

from conftest import SAMPLE_DIR


@pytest.fixture(scope="module")
def kernels():
    specs = [KernelSpec(n, str(SAMPLE_DIR / f"{n}.btf.xz")) for n in ("5.10-amd64", "6.1-amd64")]
    specs.append(KernelSpec("gone", str(SAMPLE_DIR / "missing.btf")))
    return load_kernels(Config(tuple(specs), "6.1-amd64"))


def test_list_kernels(kernels) -> None:
    ks = list_kernels(kernels)
    assert [k["name"] for k in ks] == ["5.10-amd64", "6.1-amd64", "gone"]
    assert [k["primary"] for k in ks] == [False, True, False]
    assert [k["loaded"] for k in ks] == [True, True, False]
    assert ks[2]["error"] and "missing.btf" in ks[2]["error"] and ks[0]["error"] is None
    assert list_kernels(kernels, loading=frozenset({"gone"}))[2]["error"] is None


def test_list_types(kernels) -> None:
    names = list_types(kernels, "6.1-amd64", "task_st", 50)
    assert "struct task_struct" in names
    assert all(n.split(" ", 1)[1].startswith("task_st") for n in names)
    bare = [n.split(" ", 1)[1] for n in list_types(kernels, "6.1-amd64", "pid")]
    assert bare == sorted(bare) and "typedef pid_t" in list_types(kernels, "6.1-amd64", "pid_t")
    assert len(list_types(kernels, "6.1-amd64", limit=3)) == 3
    assert "enum bpf_map_type" in list_types(kernels, "5.10-amd64", "bpf_map_ty")
    assert list_types(kernels, "6.1-amd64", "Task_st") == []


def test_render_type_differs_between_kernels(kernels) -> None:
    new = render_type(kernels, "6.1-amd64", "struct task_struct")
    old = render_type(kernels, "5.10-amd64", "struct task_struct")
    assert new.startswith("struct task_struct {") and "__state;" in new
    assert "\tvolatile long int state;" in old and "__state;" not in old
    assert render_type(kernels, "6.1-amd64", "task_struct") == new
    pid_t = render_type(kernels, "6.1-amd64", "typedef pid_t")
    assert pid_t.strip() == "typedef __kernel_pid_t pid_t;"


@pytest.mark.parametrize("kernel,name,msg", [
    ("nope", "struct task_struct", "unknown kernel 'nope'"),
    ("gone", "struct task_struct", "kernel 'gone' is not loaded"),
    ("6.1-amd64", "struct no_such_thing", "no type 'struct no_such_thing'"),
])
def test_render_type_errors(kernels, kernel: str, name: str, msg: str) -> None:
    with pytest.raises(TypeViewError, match=msg):
        render_type(kernels, kernel, name)
