"""No kernel BTF, only a ``vmlinux.h``: its declarations become the program's base types.

The header is the one bpftool writes for the primary sample kernel; the struct layouts
computed from it must be the kernel's wherever the header describes them faithfully.
"""

from __future__ import annotations

import time

import pytest

import bpfls.btf
from bpfls.btf import Kind
from bpfls.source import SourceOptions, analyze, vmlinux
from bpfls.source.vmlinux import header_to_btf, vmlinux_h_btf

from conftest import ROOT, SAMPLE_DIR, run_bpftool

PRIMARY = SAMPLE_DIR / "6.12-amd64.btf.xz"
CORPUS = ROOT / "tests" / "fixtures" / "source"

#: where bpftool 7.1's header loses information the kernel BTF has: packed unions written
#: without ``__attribute__((packed))``, and the structs that embed them
HEADER_LOSSES = {"ec_response_get_next_data_v3", "ec_response_get_next_event_v3",
                 "cros_ec_device"}


@pytest.fixture(scope="module")
def kernel():
    return bpfls.btf.load(PRIMARY)


@pytest.fixture(scope="module")
def header_dir(tmp_path_factory, raw_sample, bpftool):
    d = tmp_path_factory.mktemp("vmlinux-h")
    (d / "vmlinux.h").write_text(run_bpftool(bpftool, "btf", "dump", "file",
                                             str(raw_sample(PRIMARY)), "format", "c"))
    return d


@pytest.fixture(scope="module")
def header_btf(header_dir):
    path = header_dir / "vmlinux.h"
    vmlinux._MEMORY.clear()
    t0 = time.perf_counter()
    btf = vmlinux_h_btf(str(path))
    elapsed = time.perf_counter() - t0
    print(f"\nvmlinux.h ({path.stat().st_size >> 10} KiB) → BTF in {elapsed:.2f} s")
    return btf


def _odd_enum_inside(k, t, memo) -> bool:
    """Contains, by value, an enum whose size is not 4 (bpftool 7.1 writes it as an int)."""
    t = k.resolve(t)
    if t.id in memo:
        return memo[t.id]
    memo[t.id] = False
    if t.kind == Kind.ENUM:
        r = t.size != 4
    elif t.kind == Kind.ARRAY:
        r = _odd_enum_inside(k, k[t.array.type_id], memo)
    elif t.kind in (Kind.STRUCT, Kind.UNION):
        r = any(_odd_enum_inside(k, k[m.type_id], memo) for m in t.members)
    else:
        r = False
    memo[t.id] = r
    return r


def test_layouts_equal_the_kernels(kernel, header_btf) -> None:
    memo: dict[int, bool] = {}
    tags: dict[str, int] = {}
    for t in kernel:
        if t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64) and t.name:
            tags[t.name] = tags.get(t.name, 0) + 1
    ours_by_name = {(t.name, t.kind): t for t in header_btf
                    if t.kind in (Kind.STRUCT, Kind.UNION) and t.name}
    compared = 0
    mismatched = set()
    for t in kernel:
        if t.kind not in (Kind.STRUCT, Kind.UNION) or not t.name:
            continue
        if tags[t.name] != 1 or _odd_enum_inside(kernel, t, memo):
            continue  # renamed ___2 in the header, or an enum the header cannot size
        mine = ours_by_name.get((t.name, t.kind))
        assert mine is not None, t.name
        compared += 1
        theirs = [(m.name, m.bit_offset, m.bitfield_size) for m in t.members]
        ours = [(m.name, m.bit_offset, m.bitfield_size) for m in mine.members]
        if (t.size, theirs) != (mine.size, ours):
            mismatched.add(t.name)
    print(f"\n{compared} structs and unions compared with the kernel's")
    assert compared > 8000
    # `va_list` is `__builtin_va_list`: 24 bytes on x86-64, 8 on the BPF target
    assert mismatched <= HEADER_LOSSES | {"warn_args"}, sorted(mismatched)


def test_cached_by_content(header_dir, header_btf, tmp_path) -> None:
    path = header_dir / "vmlinux.h"
    assert vmlinux_h_btf(str(path)) is header_btf  # memory
    vmlinux._MEMORY.clear()
    t0 = time.perf_counter()
    again = vmlinux_h_btf(str(path))  # disk
    warm = time.perf_counter() - t0
    assert again is not header_btf and again.nr_types == header_btf.nr_types
    print(f"\nvmlinux.h read back from the cache in {warm * 1000:.0f} ms")
    assert warm < 1.0
    copy = tmp_path / "vmlinux.h"
    copy.write_bytes(path.read_bytes())
    assert vmlinux_h_btf(str(copy)) is again  # same content, same entry
    from bpfls.btf.cache import cache_dir

    d = cache_dir()
    assert d is not None and list(d.glob("*.vmlinux-h.btf"))
    # its name tables come from the index cache too, and answer like a scan
    assert again._names is not None
    ts = header_btf.find("task_struct", Kind.STRUCT)
    assert again.find("task_struct", Kind.STRUCT).id == ts.id
    assert again.enumerators_named("TASK_COMM_LEN") == header_btf.enumerators_named(
        "TASK_COMM_LEN") != ()


def test_small_header(tmp_path) -> None:
    text = b"""\
#ifndef __VMLINUX_H__
#define __VMLINUX_H__
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
typedef unsigned int __u32;
struct s { __u32 a: 3; long: 0; char b; long: 64; struct s *next; };
#pragma clang attribute pop
#endif
"""
    raw = header_to_btf(str(tmp_path / "vmlinux.h"), text)
    b = bpfls.btf.load_bytes(raw)
    s = b.find("s", Kind.STRUCT)
    # as clang lays it out: `long: 64` after `b` cannot share b's 64-bit unit
    assert s.size == 32
    assert [(m.name, m.bit_offset, m.bitfield_size) for m in s.members] == \
        [("a", 0, 3), ("b", 64, 0), ("next", 192, 0)]


@pytest.mark.parametrize("name", ["core_read.bpf.c", "field_info.bpf.c", "direct.bpf.c",
                                  "tracing.bpf.c"])
def test_same_relocations_as_with_kernel_btf(kernel, header_dir, name) -> None:
    path = str(CORPUS / name)
    inc = (str(CORPUS / "include"),)

    def relos(model):
        return sorted((str(a.kind), a.spec, a.access_str) for a in model.accesses
                      if a.reachable)

    with_kernel = analyze(path, None, SourceOptions(primary=kernel, include_dirs=inc,
                                                    arch="x86"))
    from_header = analyze(path, None, SourceOptions(include_dirs=(*inc, str(header_dir)),
                                                    arch="x86"))
    assert from_header.vmlinux_h == str(header_dir / "vmlinux.h")
    assert relos(from_header) == relos(with_kernel)
    assert not from_header.diagnostics
