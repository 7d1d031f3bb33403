"""Relocations clang never emits, in hand-made objects, against bpftool's libbpf.

Each case is a tiny ELF object (local BTF, ``.BTF.ext`` with exactly the records wanted) and a
hand-built target: access strings libbpf refuses to parse, raw specs over 64 indices, a local
bitfield no 8-byte load covers, field relocations on a non-composite root, anonymous roots
with ``local_type_id``. Our verdict must equal libbpf's, record by record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bpfls.core import CoreResolver, ReloKind
from bpfls.core.ext import read_ext

from btfbuild import BtfBuilder
from coreoracle import compare, elf_object, ext_blob, run_bpftool

pytestmark = pytest.mark.oracle

NOP = b"\xb7\x00\x00\x00\x00\x00\x00\x00"  # r0 = 0


@dataclass
class Case:
    name: str
    local: Callable[[BtfBuilder], dict[str, int]]  # builds local types, returns named ids
    relos: list[tuple[ReloKind, str, str]]  # (kind, root name, access string)
    target: Callable[[BtfBuilder], None]
    expect: list[str]  # our statuses, in order (libbpf stops after the first "error")


def _foo(b: BtfBuilder) -> dict[str, int]:
    i32 = b.int_("int", 4, signed=True)
    arr = b.array(i32, i32, 3)
    foo = b.struct("foo", 16, [("a", i32, 0, 0), ("b", arr, 32, 0)])
    e = b.enum("en", 4, [("EA", 1), ("EB", 2)])
    anon = b.struct("", 4, [("x", i32, 0, 0)])
    return {"int": i32, "foo": foo, "en": e, "anon": anon}


def _foo_target(b: BtfBuilder) -> None:
    i64 = b.int_("int", 8, signed=True)
    arr = b.array(i64, i64, 4)
    b.struct("foo", 48, [("b", arr, 0, 0), ("a", i64, 256, 0)])
    b.enum("en", 4, [("EB", 20), ("EA", 10)])


def _deep(b: BtfBuilder) -> dict[str, int]:
    i32 = b.int_("int", 4, signed=True)
    t = b.struct("s0", 4, [("leaf", i32, 0, 0)])
    for i in range(1, 70):
        t = b.struct(f"s{i}", 4, [("m", t, 0, 0)])
    return {"top": t}


def _deep_target(b: BtfBuilder) -> None:
    _deep(b)


def _wide(b: BtfBuilder) -> dict[str, int]:
    u64 = b.int_("long long unsigned int", 8)
    w = b.struct("wide", 16, [("pad", u64, 0, 60), ("f", u64, 60, 8)])
    return {"wide": w}


def _wide_target(b: BtfBuilder) -> None:
    u32 = b.int_("unsigned int", 4)
    b.struct("wide", 4, [("f", u32, 0, 8)])


CASES = [
    Case("parse-member-index", _foo, [(ReloKind.FIELD_BYTE_OFFSET, "foo", "0:0"),
                                      (ReloKind.FIELD_BYTE_OFFSET, "foo", "0:2")],
         _foo_target, ["resolved", "error"]),
    Case("parse-array-index", _foo, [(ReloKind.FIELD_BYTE_OFFSET, "foo", "0:1:2"),
                                     (ReloKind.FIELD_BYTE_OFFSET, "foo", "0:1:3")],
         _foo_target, ["resolved", "error"]),
    Case("parse-into-int", _foo, [(ReloKind.FIELD_BYTE_OFFSET, "foo", "0:0:1")],
         _foo_target, ["error"]),
    Case("parse-enum", _foo, [(ReloKind.ENUMVAL_VALUE, "en", "1"),
                              (ReloKind.ENUMVAL_VALUE, "en", "2")], _foo_target,
         ["resolved", "error"]),
    Case("parse-enum-two-indices", _foo, [(ReloKind.ENUMVAL_EXISTS, "en", "0:1")],
         _foo_target, ["error"]),
    Case("parse-enum-on-struct", _foo, [(ReloKind.ENUMVAL_EXISTS, "foo", "0")],
         _foo_target, ["error"]),
    Case("parse-type-access", _foo, [(ReloKind.TYPE_EXISTS, "foo", "0"),
                                     (ReloKind.TYPE_EXISTS, "foo", "1")], _foo_target,
         ["resolved", "error"]),
    Case("parse-empty", _foo, [(ReloKind.FIELD_EXISTS, "foo", "")], _foo_target, ["error"]),
    Case("parse-double-colon", _foo, [(ReloKind.FIELD_EXISTS, "foo", "0::1")], _foo_target,
         ["error"]),
    Case("parse-leading-colon", _foo, [(ReloKind.FIELD_EXISTS, "foo", ":0")], _foo_target,
         ["error"]),
    Case("parse-trailing-colon", _foo, [(ReloKind.FIELD_EXISTS, "foo", "0:")], _foo_target,
         ["error"]),
    Case("parse-letters", _foo, [(ReloKind.FIELD_EXISTS, "foo", "0:a")], _foo_target,
         ["error"]),
    Case("parse-sscanf-quirks", _foo, [(ReloKind.FIELD_BYTE_OFFSET, "foo", "0 1"),
                                       (ReloKind.FIELD_BYTE_OFFSET, "foo", "+0:+0")],
         _foo_target, ["resolved", "resolved"]),
    Case("root-index", _foo, [(ReloKind.FIELD_BYTE_OFFSET, "foo", "2:1:1")], _foo_target,
         ["resolved"]),
    Case("field-on-int-root", _foo, [(ReloKind.FIELD_BYTE_OFFSET, "int", "0"),
                                     (ReloKind.FIELD_BYTE_SIZE, "int", "3"),
                                     (ReloKind.FIELD_SIGNED, "int", "0")], _foo_target,
         ["resolved", "resolved", "error"]),
    Case("array-element-kinds", _foo, [(ReloKind.FIELD_EXISTS, "foo", "0:1:1"),
                                       (ReloKind.FIELD_BYTE_SIZE, "foo", "0:1:1"),
                                       (ReloKind.FIELD_LSHIFT_U64, "foo", "0:1:1")],
         _foo_target, ["resolved", "resolved", "error"]),
    Case("anonymous-local-type-id", _foo, [(ReloKind.TYPE_ID_LOCAL, "anon", "0"),
                                           (ReloKind.TYPE_ID_TARGET, "anon", "0")],
         _foo_target, ["resolved", "error"]),
    Case("raw-spec-over-64", _deep, [(ReloKind.FIELD_BYTE_OFFSET, "top", ":".join(["0"] * 64)),
                                     (ReloKind.FIELD_BYTE_OFFSET, "top", ":".join(["0"] * 65))],
         _deep_target, ["resolved", "error"]),
    Case("local-bitfield-over-8-bytes", _wide, [(ReloKind.FIELD_EXISTS, "wide", "0:1"),
                                                (ReloKind.FIELD_BYTE_SIZE, "wide", "0:1")],
         _wide_target, ["resolved", "error"]),
]


def _build(case: Case, tmp: Path) -> tuple[Path, Path]:
    b = BtfBuilder()
    ids = case.local(b)
    sec = b.s("kprobe/crafted")
    recs = [(8 * i, ids[root], b.s(acc), int(kind)) for i, (kind, root, acc) in
            enumerate(case.relos)]
    obj = tmp / f"{case.name}.o"
    obj.write_bytes(elf_object({"kprobe/crafted": NOP * (len(recs) + 1), ".BTF": b.build(),
                                ".BTF.ext": ext_blob({sec: recs})}, ("kprobe/crafted",)))
    t = BtfBuilder()
    case.target(t)
    target = tmp / f"{case.name}.btf"
    target.write_bytes(t.build())
    return obj, target


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_crafted_against_bpftool(case: Case, tmp_path: Path, bpftool: str) -> None:
    obj, target = _build(case, tmp_path)
    rc, log = run_bpftool(bpftool, target, obj, tmp_path / "min.btf")
    pairs = compare(obj, target, log)
    assert [r.status for _, r in pairs] == case.expect, log
    assert (rc != 0) == ("error" in case.expect), log


def test_crafted_reasons(tmp_path: Path) -> None:
    """The messages a user sees for the hard errors."""
    got = {}
    for case in CASES:
        obj, target = _build(case, tmp_path)
        info = read_ext(obj)
        from bpfls.btf import load

        r = CoreResolver(load(target))
        res = [r.resolve(o) for o in info.relocations]
        got[case.name] = res[-1]
    assert "member index 2 out of range" in got["parse-member-index"].reason
    assert "array index 3 out of bounds (3 elements)" in got["parse-array-index"].reason
    assert "neither a struct, a union nor an array" in got["parse-into-int"].reason
    assert "enumerator index 2 out of range" in got["parse-enum"].reason
    assert "must be \"0\"" in got["parse-type-access"].reason
    assert got["raw-spec-over-64"].error_code == "E2BIG"
    assert got["local-bitfield-over-8-bytes"].error_code == "E2BIG"
    assert "anonymous" in got["anonymous-local-type-id"].reason
    assert "array element" in got["array-element-kinds"].reason
    assert got["root-index"].target_value == 2 * 48 + 8
