"""The BTF engine's Python API on real kernels, split module BTF, objects and synthetic blobs."""

from __future__ import annotations

import gzip
import lzma
import subprocess
import sys
from pathlib import Path

import pytest

import bpfls.btf as B
from bpfls.btf import BtfError, Kind
from bpfls.btf.btf import find_by_spec
from bpfls.btf.cnames import type_name

from btfbuild import BtfBuilder, sample_blob
from conftest import decompressed, require_tool, sample_kernels

KERNELS = sample_kernels()


def _kernel_ids(paths: list[Path]) -> list[str]:
    return [p.name.removesuffix(".btf.xz") for p in paths]


@pytest.fixture(scope="module", params=KERNELS, ids=_kernel_ids(KERNELS))
def kernel(request: pytest.FixtureRequest) -> B.Btf:
    return B.load(request.param)


def test_samples_are_shipped() -> None:
    names = _kernel_ids(KERNELS)
    for want in ("5.10-amd64", "6.1-amd64", "6.12-amd64", "6.12-arm64"):
        assert want in names


def test_task_struct_in_every_kernel(kernel: B.Btf) -> None:
    ts = kernel.find("task_struct", "struct")
    assert ts is not None and ts.kind == Kind.STRUCT and ts.name == "task_struct"
    pid = ts.member("pid")
    assert pid is not None and type_name(kernel, pid.type_id) == "pid_t"
    assert kernel.resolve(pid.type_id).name == "int"
    assert kernel.size_of(pid.type_id) == 4
    assert pid.bit_offset % 32 == 0 and pid.bitfield_size == 0
    assert kernel.size_of(ts) == ts.size and kernel.align_of(ts) in (8, 64)
    rp = ts.member("real_parent")
    assert type_name(kernel, rp.type_id) == "struct task_struct *"
    assert type_name(kernel, ts.member("comm").type_id) == "char [16]"
    # every member lies inside the struct
    for m in ts.members:
        assert m.bit_offset + (m.bitfield_size or 0) <= ts.size * 8


def test_state_renamed_between_kernels(kernel: B.Btf) -> None:
    ts = kernel.find("task_struct", "struct")
    names = {m.name for m in ts.members}
    if kernel.path.endswith("5.10-amd64.btf.xz"):
        assert "state" in names and "__state" not in names
    else:
        assert "__state" in names and "state" not in names


def test_arm64_kernel_has_arm64_types() -> None:
    arm = [p for p in KERNELS if "arm64" in p.name]
    if not arm:
        pytest.skip("no arm64 sample kernel")
    btf = B.load(arm[0])
    regs = btf.find("user_pt_regs", "struct")
    assert regs is not None and regs.member("pstate") is not None
    assert btf.ptr_size == 8


def test_find_variants(kernel: B.Btf) -> None:
    assert kernel.find("no_such_type_anywhere") is None
    assert kernel.find("task_struct", "union") is None
    u32 = kernel.find("u32", "typedef")
    assert u32 is not None and kernel.resolve(u32).name == "unsigned int"
    assert find_by_spec(kernel, "struct task_struct") == kernel.find("task_struct", "struct")
    assert find_by_spec(kernel, "enum bpf_func_id").kind in (Kind.ENUM, Kind.ENUM64)
    assert find_by_spec(kernel, "task_struct").kind == Kind.STRUCT
    funcs = kernel.find_all("bpf_prog_run_pin_on_cpu") + kernel.find_all("do_sys_open")
    assert all(t.kind in (Kind.FUNC, Kind.STRUCT, Kind.FWD) for t in funcs)
    vals = {v.name: v.value for v in find_by_spec(kernel, "enum bpf_func_id").values}
    assert vals["BPF_FUNC_map_lookup_elem"] == 1


def test_iteration_and_ids(kernel: B.Btf) -> None:
    ids = [t.id for t in kernel]
    assert ids[0] == 1 and ids[-1] == len(kernel) - 1 == kernel.nr_types
    assert kernel[0].name == "void"
    with pytest.raises(BtfError, match="out of range"):
        kernel[len(kernel)]


def test_both_byte_orders_decode_the_same() -> None:
    le = B.load_bytes(sample_blob("<"))
    be = B.load_bytes(sample_blob(">"))
    assert le.byte_order == "little" and be.byte_order == "big"
    for a, b in zip(le, be, strict=True):
        assert (a.kind, a.name, a.info) == (b.kind, b.name, b.info)
    assert be[5].members == le[5].members
    assert be[7].values == le[7].values == (("RED", 0), ("NEG", -1))
    assert be[21].values[0].value == 1 << 63


def test_every_kind_decodes() -> None:
    btf = B.load_bytes(sample_blob())
    kinds = {t.kind for t in btf}
    assert kinds == set(Kind) - {Kind.UNKN}
    s = btf.find("task", "struct")
    flags = s.member("flags")
    assert (flags.bit_offset, flags.bitfield_size) == (32, 3)
    assert btf.find("later").kflag  # a forward declaration of a union
    assert btf.find("do_it").linkage == 1  # global
    assert btf.find("counter").linkage == 1  # global-alloc
    assert btf.find(".data").secinfos[0].size == 4
    assert btf.find("tag").component_idx == 0
    assert btf.find("double").size == 8
    assert type_name(btf, btf.find("do_it").type_id) == "int (const task_t *, ...)"
    assert type_name(btf, 4) == "unsigned char [16]"
    assert btf.size_of(btf.find("task_t")) == 32
    assert btf.resolve(btf.find("task_t")).name == "task"


def test_unknown_future_kind_is_reported() -> None:
    b = BtfBuilder()
    b.int_("int", 4, signed=True)
    b.raw_record([b.s("x"), (20 << 24), 4])
    with pytest.raises(BtfError, match=r"type \[2\]: unknown BTF kind 20"):
        B.load_bytes(b.build())


# -- files: ELF, compression -------------------------------------------------------------------

def test_compressed_files(tmp_path: Path) -> None:
    blob = sample_blob()
    (tmp_path / "a.gz").write_bytes(gzip.compress(blob))
    (tmp_path / "a.xz").write_bytes(lzma.compress(blob))
    for name in ("a.gz", "a.xz"):
        btf = B.load(tmp_path / name)
        assert btf.find("task", "struct") is not None
        assert btf.origin.split(",")[0] in ("gzip", "xz")
    zstandard = pytest.importorskip("zstandard")
    (tmp_path / "a.zst").write_bytes(zstandard.ZstdCompressor().compress(blob))
    assert B.load(tmp_path / "a.zst").origin == "zstd, raw"


def test_zstd_without_zstandard_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "k.btf.zst"
    p.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 16)
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(BtfError, match="'zstandard' package is not installed"):
        B.load(p)


def test_bpf_object_elf(tmp_path: Path) -> None:
    clang = require_tool("clang")
    src = tmp_path / "prog.c"
    src.write_text(
        "struct event { int pid; char comm[16]; unsigned long long ts; };\n"
        "struct event ev;\n"
        "int handler(struct event *e) { return e->pid; }\n")
    obj = tmp_path / "prog.o"
    subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-c", str(src), "-o", str(obj)],
                   check=True)
    btf = B.load(obj)
    assert btf.origin == "ELF .BTF"
    ev = btf.find("event", "struct")
    assert [m.name for m in ev.members] == ["pid", "comm", "ts"]
    assert [m.byte_offset for m in ev.members] == [0, 4, 24]
    assert type_name(btf, btf.find("handler", "func").type_id) == "int (struct event *)"


# -- split BTF -----------------------------------------------------------------------------------

def test_split_ids_and_strings_continue_after_base() -> None:
    base = B.load_bytes(sample_blob())
    sb = BtfBuilder(str_start=base.end_str_off, id_start=base.end_id)
    task = base.find("task", "struct").id
    p = sb.ptr(task)
    sb.struct("mod_state", 8, [("owner", p, 0, 0)])
    sb.typedef("int", 1)  # a split name that equals a base string still gets its own offset
    split = B.load_bytes(sb.build(), base=base)
    assert split.start_id == base.end_id and split.nr_types == 3
    ms = split.find("mod_state", "struct")
    assert ms.id == base.end_id + 1
    assert type_name(split, ms.member("owner").type_id) == "struct task *"
    assert split.find("task", "struct").id == task  # base types are found through the split
    assert [t.kind for t in split.find_all("int")] == [Kind.INT, Kind.TYPEDEF]
    assert [t.id for t in split] == list(range(split.start_id, split.end_id))


def test_split_without_base_is_explained() -> None:
    base = B.load_bytes(sample_blob())
    sb = BtfBuilder(str_start=base.end_str_off, id_start=base.end_id)
    sb.struct("m", 4, [("x", 1, 0, 0)])
    with pytest.raises(BtfError, match="split BTF"):
        B.load_bytes(sb.build())


SPLIT_CASES = [
    ("linux-5.18/btf_testmod.btf", "kernels/linux-5.18.btf.gz", "bpf_testmod_test_read_ctx"),
    ("linux-5.19-rc3/xt_nat.btf", "kernels/linux-5.19-rc3.btf.gz", "xt_nat_init"),
    ("linux-7.1-distilled/btf_testmod.btf", "linux-7.1-distilled/btf_testmod.btf.base",
     "bpf_testmod_test_read_ctx"),
    ("linux-6.15.1-tinyconfig/openvswitch.btf", "linux-6.15.1-tinyconfig/vmlinux.btf.gz",
     "ovs_flow_tbl_init"),
    ("linux-6.15.1-tinyconfig/openvswitch.ko.xz", "linux-6.15.1-tinyconfig/vmlinux.btf.gz",
     "ovs_flow_tbl_init"),
]


@pytest.mark.parametrize("split,base,name", SPLIT_CASES, ids=[c[0] for c in SPLIT_CASES])
def test_shared_split_btf(shared_btf: Path, split: str, base: str, name: str) -> None:
    b = B.load(shared_btf / "split" / base) if base.startswith("linux-") else B.load(
        shared_btf / base)
    m = B.load(shared_btf / "split" / split, base=b)
    assert m.start_id == b.end_id
    t = m.find(name)
    assert t is not None and t.id >= m.start_id
    # every reference from the module resolves, into the module or its base
    for ty in m:
        if ty.kind in (Kind.STRUCT, Kind.UNION):
            for mem in ty.members:
                assert mem.type_id < m.end_id
                type_name(m, mem.type_id)
        elif ty.kind == Kind.FUNC:
            type_name(m, ty.type_id)


def test_split_over_distilled_base_matches_raw_pair(shared_btf: Path) -> None:
    d = shared_btf / "split" / "linux-7.1-distilled"
    base = B.load(d / "btf_testmod.btf.base")
    assert base.nr_types == 157
    m = B.load(d / "btf_testmod.btf", base=base)
    assert m.start_id == 158


# -- the on-disk index cache ---------------------------------------------------------------------

def test_index_cache_roundtrip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPFLS_CACHE_DIR", str(tmp_path))
    path = KERNELS[0] if KERNELS else pytest.skip("no sample kernels")
    raw = tmp_path / "k.btf"
    raw.write_bytes(decompressed(path))
    first = B.load(raw)
    entries = list((tmp_path / "btf").glob("*.idx"))
    assert len(entries) == 1
    second = B.load(raw)
    assert second._offs == first._offs
    assert second.find("task_struct", "struct").id == first.find("task_struct", "struct").id
    # a corrupt cache entry is ignored and rewritten
    entries[0].write_bytes(b"garbage")
    third = B.load(raw)
    assert third._offs == first._offs
    assert entries[0].stat().st_size > 100
    monkeypatch.setenv("BPFLS_NO_CACHE", "1")
    entries[0].unlink()
    B.load(raw)
    assert not entries[0].exists()


# -- distilled base relocation -------------------------------------------------------------------

def _same_module(a: B.Btf, b: B.Btf) -> None:
    for x, y in zip(a, b, strict=True):
        assert (x.kind, x.name) == (y.kind, y.name)
        if x.kind in (Kind.STRUCT, Kind.UNION):
            assert [(m.name, m.bit_offset, type_name(a, m.type_id)) for m in x.members] == \
                   [(m.name, m.bit_offset, type_name(b, m.type_id)) for m in y.members]
        elif x.kind == Kind.FUNC:
            assert type_name(a, x.type_id) == type_name(b, y.type_id)


def test_distilled_module_relocates_onto_full_kernel(shared_btf: Path, tmp_path: Path) -> None:
    from bpfls.btf.relocate import relocate

    d = shared_btf / "split" / "linux-7.1-distilled"
    over_distilled = B.load(d / "btf_testmod.btf", base=d / "btf_testmod.btf.base")
    vmlinux = B.load(shared_btf / "kernels" / "linux-7.1.btf.gz")
    moved = relocate(over_distilled, vmlinux)
    assert moved.start_id == vmlinux.end_id and moved.base is vmlinux
    _same_module(over_distilled, moved)
    # base types the module uses are now the kernel's full definitions
    bpf_map = moved.find("bpf_map", "struct")
    assert bpf_map.id < vmlinux.end_id and len(bpf_map.members) > 10

    # the same through an ELF module that carries .BTF and .BTF.base, as a .ko does
    objcopy = require_tool("llvm-objcopy")
    clang = require_tool("clang")
    (tmp_path / "m.c").write_text("int x;\n")
    ko = tmp_path / "m.ko"
    subprocess.run([clang, "-target", "bpf", "-c", str(tmp_path / "m.c"), "-o", str(ko)],
                   check=True)
    subprocess.run([objcopy, "--add-section", f".BTF={d / 'btf_testmod.btf'}",
                    "--add-section", f".BTF.base={d / 'btf_testmod.btf.base'}", str(ko)],
                   check=True)
    alone = B.load(ko)
    assert alone.base is not None and alone.base.nr_types == 157
    _same_module(over_distilled, alone)
    _same_module(over_distilled, B.load(ko, base=vmlinux))

    # the wrong kernel: a distilled type with no match is a clear error
    old = B.load(shared_btf / "kernels" / "linux-5.4.btf.gz")
    with pytest.raises(BtfError, match="has no match in"):
        B.load(ko, base=old)


def test_decompressed_blob_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPFLS_CACHE_DIR", str(tmp_path))
    blob = sample_blob()
    xz = tmp_path / "k.btf.xz"
    xz.write_bytes(lzma.compress(blob))
    first = B.load(xz)
    cached = list((tmp_path / "btf").glob("*.btf"))
    assert len(cached) == 1 and cached[0].read_bytes() == blob
    second = B.load(xz)
    assert [t.name for t in second] == [t.name for t in first]
    cached[0].write_bytes(b"junk")  # a damaged entry is ignored
    assert B.load(xz).find("task", "struct") is not None


def test_compressed_kernel_entries_share_the_files_key(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A compressed kernel's decompressed bytes and index are both found by the compressed
    file's content hash (its bytes are mapped, not read or hashed again); another file is
    another key."""
    from bpfls.btf import cache

    monkeypatch.setenv("BPFLS_CACHE_DIR", str(tmp_path))
    path = KERNELS[0] if KERNELS else pytest.skip("no sample kernels")
    xz = tmp_path / "k.btf.xz"
    xz.write_bytes(path.read_bytes())
    key = cache.content_key(xz.read_bytes())
    first = B.load(xz)
    d = tmp_path / "btf"
    assert {p.name for p in d.iterdir()} == {f"{key}.btf", f"{key}.idx"}
    second = B.load(xz)
    assert second._names is not None and second._offs == first._offs
    assert second.find("task_struct", "struct").id == first.find("task_struct", "struct").id
    # a cache writer replaces entries (new files), so a loaded kernel keeps working
    cache.store_blob(key, decompressed(path))
    assert [m.name for m in second.find("task_struct", "struct").members][:3] == \
        [m.name for m in first.find("task_struct", "struct").members][:3]
    other = KERNELS[-1]
    xz.write_bytes(other.read_bytes())
    third = B.load(xz)
    assert third.nr_types == B.load(other, use_cache=False).nr_types
    assert len(list(d.glob("*.idx"))) == 2
