"""``.BTF.ext``: CO-RE relocation records and line info of BPF objects, valid and broken."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from bpfls.btf import BtfError, load_bytes
from bpfls.core import ReloKind
from bpfls.core.ext import core_relocations, parse_ext, read_ext

from btfbuild import BtfBuilder
from conftest import require_tool
from coreoracle import elf_object, ext_blob

SRC = """
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
struct foo { int a; struct { int b; }; int c[4]; } __attribute__((preserve_access_index));
enum e { E_ONE = 1 };
SEC("kprobe/one")
int one(void *ctx)
{
	struct foo *f = ctx;
	long r = bpf_core_field_exists(f->b);
	r += bpf_core_field_offset(f->c[2]);
	return r;
}
SEC("kprobe/two")
int two(void *ctx)
{
	return bpf_core_enum_value(enum e, E_ONE) + bpf_core_type_size(struct foo);
}
char LICENSE[] SEC("license") = "GPL";
"""
PRELUDE = ("typedef unsigned char __u8; typedef unsigned short __u16; typedef unsigned int __u32;"
           " typedef unsigned long long __u64; typedef long long __s64; typedef int __s32;"
           " typedef __u16 __be16; typedef __u32 __be32; typedef __u32 __wsum;\n")


@pytest.fixture(scope="module")
def obj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clang = require_tool("clang-16")
    if not Path("/usr/include/bpf/bpf_core_read.h").exists():
        pytest.skip("libbpf headers missing (apt-get install libbpf-dev)")
    d = tmp_path_factory.mktemp("ext")
    (d / "prog.bpf.c").write_text(PRELUDE + SRC)
    subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-c", str(d / "prog.bpf.c"), "-o",
                    str(d / "prog.o")], check=True)
    return d / "prog.o"


def test_relocations_of_a_clang_object(obj: Path) -> None:
    relos = core_relocations(obj)
    got = [(r.section, r.index, r.kind, r.access_str) for r in relos]
    assert got == [
        ("kprobe/one", 0, ReloKind.FIELD_EXISTS, "0:1:0"),
        ("kprobe/one", 1, ReloKind.FIELD_BYTE_OFFSET, "0:2:2"),
        ("kprobe/two", 0, ReloKind.ENUMVAL_VALUE, "0"),
        ("kprobe/two", 1, ReloKind.TYPE_SIZE, "0"),
    ]
    r = relos[0]
    assert r.relocation.access == (0, 1, 0)
    assert r.relocation.local[r.relocation.type_id].name == "foo"
    assert r.insn_off % 8 == 0
    assert r.insn is not None and r.insn.code == 0xB7  # r = imm
    assert relos[2].insn is not None and relos[2].insn.code == 0x18  # ldimm64
    assert relos[2].insn.next is not None


def test_line_info(obj: Path) -> None:
    info = read_ext(obj)
    lines = info.lines
    assert lines and {li.section for li in lines} == {"kprobe/one", "kprobe/two"}
    assert all(li.file.endswith("prog.bpf.c") for li in lines)
    texts = {li.text.strip() for li in lines}
    assert "return bpf_core_enum_value(enum e, E_ONE) + bpf_core_type_size(struct foo);" in texts
    for r in info.relocations:
        assert r.line is not None and r.line.line > 0 and r.line.col >= 0
    assert all(8 <= r.line.line <= 20 for r in info.relocations if r.line)
    assert info.func_info_count == 2
    assert info.line_for("kprobe/one", 0) is not None
    assert info.line_for("nope", 0) is None


# -- malformed input ------------------------------------------------------------------------------

def _btf() -> tuple[bytes, dict[str, int]]:
    b = BtfBuilder()
    i32 = b.int_("int", 4, signed=True)
    foo = b.struct("foo", 4, [("a", i32, 0, 0)])
    names = {"int": i32, "foo": foo, "sec": b.s("kprobe/x"), "acc": b.s("0:0"),
             "bad": b.s("0:x"), "file": b.s("a.c"), "line": b.s("int x;"), "zero": b.s("0")}
    return b.build(), names


def _parse(ext: bytes) -> list:
    blob, _ = _btf()
    return list(parse_ext(ext, load_bytes(blob), "t.o").relocations)


def test_parse_ext_blob() -> None:
    blob, n = _btf()
    ext = ext_blob({n["sec"]: [(0, n["foo"], n["acc"], 0), (8, n["foo"], n["zero"], 8)]},
                   {n["sec"]: [(0, n["file"], n["line"], 3, 5)]})
    info = parse_ext(ext, load_bytes(blob), "t.o")
    assert [(r.kind, r.relocation.access) for r in info.relocations] == [
        (ReloKind.FIELD_BYTE_OFFSET, (0, 0)), (ReloKind.TYPE_EXISTS, (0,))]
    assert info.lines[0].file == "a.c" and (info.lines[0].line, info.lines[0].col) == (3, 5)
    assert info.relocations[1].line == info.lines[0]
    # a bigger record size (a future clang) is fine: the known fields come first
    ext = ext_blob({n["sec"]: [(0, n["foo"], n["acc"], 0)]}, rec_size=24)
    assert len(_parse(ext)) == 1
    # a 24-byte header (before CO-RE relocations existed) has none
    assert _parse(ext_blob({}, hdr_len=24)) == []


def test_malformed_access_string_is_kept_for_the_resolver() -> None:
    _, n = _btf()
    (r,) = _parse(ext_blob({n["sec"]: [(0, n["foo"], n["bad"], 0)]}))
    assert r.access_str == "0:x" and r.relocation.access == () and r.access_error


@pytest.mark.parametrize("mutate, message", [
    (lambda e: b"\x00\x00" + e[2:], "bad magic"),
    (lambda e: e[:2] + b"\x02" + e[3:], "unsupported version"),
    (lambda e: e[:3] + b"\x01" + e[4:], "unsupported flags"),
    (lambda e: e[:4] + struct.pack("<I", 4) + e[8:], "bad header length"),
    (lambda e: e[:4] + struct.pack("<I", 9999) + e[8:], "bad header length"),
    (lambda e: e[:6], "too short"),
    (lambda e: e[:-4], "out of bounds"),
    (lambda e: e[:28] + struct.pack("<I", 9999) + e[32:], "out of bounds"),
])
def test_malformed_ext(mutate, message: str) -> None:
    _, n = _btf()
    ext = ext_blob({n["sec"]: [(0, n["foo"], n["acc"], 0), (8, n["foo"], n["acc"], 1)]})
    with pytest.raises(BtfError, match=message):
        _parse(mutate(ext))


def test_malformed_records() -> None:
    _, n = _btf()
    with pytest.raises(BtfError, match="record size 12 is invalid"):
        _parse(ext_blob({n["sec"]: [(0, n["foo"], n["acc"], 0)]}, rec_size=12))
    with pytest.raises(BtfError, match="record size 18 is invalid"):
        _parse(ext_blob({n["sec"]: [(0, n["foo"], n["acc"], 0)]}, rec_size=18))
    with pytest.raises(BtfError, match="no records"):
        _parse(ext_blob({n["sec"]: []}))
    with pytest.raises(BtfError, match="unknown kind 13"):
        _parse(ext_blob({n["sec"]: [(0, n["foo"], n["acc"], 13)]}))
    with pytest.raises(BtfError, match="outside the .BTF string table"):
        _parse(ext_blob({99999: [(0, n["foo"], n["acc"], 0)]}))
    with pytest.raises(BtfError, match="outside the .BTF string table"):
        _parse(ext_blob({n["sec"]: [(0, n["foo"], 99999, 0)]}))
    with pytest.raises(BtfError, match="outside the .BTF string table"):
        _parse(ext_blob({}, {n["sec"]: [(0, 99999, n["line"], 1, 1)]}))


def test_object_files(tmp_path: Path) -> None:
    blob, n = _btf()
    p = tmp_path / "x.o"
    p.write_bytes(elf_object({".BTF": blob}))
    assert read_ext(p).relocations == ()
    p.write_bytes(elf_object({".text": b""}))
    with pytest.raises(BtfError, match="no .BTF section"):
        read_ext(p)
    p.write_bytes(blob)
    with pytest.raises(BtfError, match="not an ELF object"):
        read_ext(p)
    p.write_bytes(b"\x7fELF" + b"\0" * 20)
    with pytest.raises(BtfError):
        read_ext(p)
    with pytest.raises(BtfError, match="no such file"):
        read_ext(tmp_path / "missing.o")
    # a relocation whose root id is beyond the object's BTF: the resolver reports it
    p.write_bytes(elf_object({".BTF": blob, ".BTF.ext": ext_blob(
        {n["sec"]: [(0, 77, n["acc"], 0)]}), "kprobe/x": b"\0" * 8}, ("kprobe/x",)))
    (r,) = core_relocations(p)
    from bpfls.core import resolve

    res = resolve(r, load_bytes(blob))
    assert res.status == "error" and "77" in (res.reason or "")


def test_mutated_ext_gives_btf_errors_only() -> None:
    import random

    blob, n = _btf()
    btf = load_bytes(blob)
    ext = ext_blob({n["sec"]: [(0, n["foo"], n["acc"], 0), (8, n["foo"], n["zero"], 8)]},
                   {n["sec"]: [(0, n["file"], n["line"], 3, 5)]})
    rng = random.Random(3)
    ok = 0
    for _ in range(2000):
        data = bytearray(ext)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.choice((0, 1, 4, 8, 16, 0xFF, rng.randrange(256)))
        if rng.random() < 0.2:
            data = data[:rng.randrange(len(data))]
        try:
            parse_ext(bytes(data), btf, "m.o")
            ok += 1
        except BtfError:
            pass
    assert ok > 100
