"""Recognising a kernel's ``bpftool btf dump ... format c`` by the fingerprint of its type
definitions (:mod:`bpfls.btf.dump_fingerprint`), and what an included ``vmlinux*.h`` is
(:mod:`bpfls.source.vmlinux_header`)."""

from __future__ import annotations

import pytest

import bpfls.btf
from bpfls.btf import dump_fingerprint
from bpfls.btf.dump_c import dump_c
from bpfls.btf.dump_fingerprint import (
    definition_counts,
    is_dump_of,
    kernel_print,
    may_match,
    text_print,
)
from bpfls.source import SourceOptions, analyze, vmlinux_header
from bpfls.source.vmlinux_header import DUMP, HEADER, KERNEL, classify

from conftest import SAMPLE_DIR, run_bpftool


@pytest.fixture(scope="module")
def k612():
    return bpfls.btf.load(SAMPLE_DIR / "6.12-amd64.btf.xz")


@pytest.fixture(scope="module")
def k61():
    return bpfls.btf.load(SAMPLE_DIR / "6.1-amd64.btf.xz")


@pytest.fixture(scope="module")
def dump612(k612) -> str:
    return dump_c(k612)


def _with_trailer(text: str) -> str:
    """The dump as a build script or a newer bpftool leaves it: another include guard, the
    ``__ksym`` macros and kfunc prototypes before the last ``#endif``, a comment."""
    guarded = text.replace("__VMLINUX_H__", "__VMLINUX_GENERATED_X86_H__")
    end = guarded.rindex("#endif")
    return (guarded[:end] + "\n/* added by the build */\n#ifndef __ksym\n"
            "#define __ksym __attribute__((section(\".ksyms\")))\n#endif\n"
            "#ifndef BPF_NO_KFUNC_PROTOTYPES\n"
            "extern struct task_struct *bpf_task_acquire(struct task_struct *p) __weak __ksym;\n"
            "#endif\n\n" + guarded[end:])


def test_the_kernels_dump_is_recognised(k612, dump612) -> None:
    header = text_print(dump612.encode())
    assert header.counts == definition_counts(k612)
    assert kernel_print(k612) == header
    assert is_dump_of(header, k612)


def test_bpftools_own_dump_is_recognised(k612, raw_sample, bpftool) -> None:
    text = run_bpftool(bpftool, "btf", "dump", "file",
                       str(raw_sample(SAMPLE_DIR / "6.12-amd64.btf.xz")), "format", "c")
    assert is_dump_of(text_print(text.encode()), k612)


def test_preamble_and_trailer_do_not_matter(k612, dump612) -> None:
    assert is_dump_of(text_print(_with_trailer(dump612).encode()), k612)


def test_another_kernels_dump_is_not_recognised_without_dumping(k612, k61, dump612,
                                                                monkeypatch) -> None:
    header = text_print(dump612.encode())

    def no_dump(btf, **kw):
        raise AssertionError("dumped a kernel that cannot match")

    monkeypatch.setattr(dump_fingerprint, "kernel_print", no_dump)
    assert not may_match(header, k61)
    assert not is_dump_of(header, k61)


def test_an_edited_dump_is_not_recognised(k612, dump612) -> None:
    renamed = dump612.replace("\tunsigned int __state;", "\tunsigned int state;", 1)
    assert renamed != dump612
    edited = text_print(renamed.encode())
    assert may_match(edited, k612)  # same definitions, one member renamed
    assert not is_dump_of(edited, k612)
    one_more = text_print((dump612 + "struct extra {\n\tint a;\n};\n").encode())
    assert not is_dump_of(one_more, k612)


def test_a_trimmed_header_is_not_recognised(k612) -> None:
    trimmed = b"struct task_struct {\n\tint pid;\n};\n"
    assert not may_match(text_print(trimmed), k612)


def test_the_kernels_print_is_kept_on_disk(k612, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BPFLS_CACHE_DIR", str(tmp_path))
    fresh = bpfls.btf.load(SAMPLE_DIR / "6.12-amd64.btf.xz")
    want = kernel_print(fresh)
    assert list((tmp_path / "btf").glob("*.dumpprint"))
    again = bpfls.btf.load(SAMPLE_DIR / "6.12-amd64.btf.xz")
    monkeypatch.setattr("bpfls.btf.dump_c.dump_c", lambda btf: pytest.fail("dumped again"))
    assert kernel_print(again) == want


def test_classify(tmp_path, k612, k61, dump612) -> None:
    vmlinux_header.clear_caches()
    kernels = [("6.1", k61), ("6.12", k612)]
    dump = tmp_path / "vmlinux_x86.h"
    dump.write_text(_with_trailer(dump612))
    got = classify(str(dump), None, kernels)
    assert (got.kind, got.kernel, got.btf) == (KERNEL, "6.12", k612)
    assert classify(str(dump), None, kernels[:1]).kind == DUMP  # a kernel not configured
    wrapper = tmp_path / "vmlinux.h"
    wrapper.write_text('#include "vmlinux_x86.h"\nstruct mine { int a; };\n')
    assert classify(str(wrapper), None, kernels).kind == HEADER
    # unsaved text wins over the file
    assert classify(str(wrapper), dump612, kernels).kind == KERNEL
    # an edit on disk is seen (the file's size changes)
    dump.write_text(_with_trailer(dump612).replace("\tint pid;", "\tint pid_;", 1) + "\n")
    assert classify(str(dump), None, kernels).kind == DUMP
    trimmed = tmp_path / "vmlinux_trim.h"
    trimmed.write_text("struct task_struct { int pid; };\n")
    assert classify(str(trimmed), None, kernels).kind == HEADER


def test_the_included_dump_decides_the_base(tmp_path, k612, k61) -> None:
    """The dump of a configured kernel other than the primary: that kernel's types."""
    (tmp_path / "vmlinux.h").write_text(dump_c(k61))
    prog = tmp_path / "p.bpf.c"
    prog.write_text('#include "vmlinux.h"\nint f(struct task_struct *t) { return 0; }\n')
    model = analyze(str(prog), None, SourceOptions(
        primary=k612, kernels=(("6.1", k61), ("6.12", k612)), include_dirs=(str(tmp_path),),
        defines={"__TARGET_ARCH_x86": None}))
    assert model.vmlinux_kernel == "6.1"
    assert model.local.base is k61
    assert str(tmp_path / "vmlinux.h") not in model.files  # served from BTF, never read
