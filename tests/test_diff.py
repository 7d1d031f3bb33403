"""``bpfls btf diff``: what changed in structs, unions and enums between two BTF files."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bpfls.btf import Btf, BtfError, load, load_bytes
from bpfls.btf.diff import (
    ADDED,
    CHANGED,
    KIND,
    MOVED,
    ONLY_A,
    ONLY_B,
    REDEFINED,
    REMOVED,
    RESIZED,
    RETYPED,
    VALUE,
    Change,
    Field,
    TypeDiff,
    diff_btf,
    flatten,
    format_diff,
)

from btfbuild import BtfBuilder
from conftest import SAMPLE_DIR

CLI = [sys.executable, "-m", "bpfls"]
K510 = SAMPLE_DIR / "5.10-amd64.btf.xz"
K61 = SAMPLE_DIR / "6.1-amd64.btf.xz"


def _cats(d: TypeDiff) -> list[tuple[str, str]]:
    return [(c.category, c.name) for c in d.changes]


def _one(diffs: list[TypeDiff], spec: str) -> TypeDiff:
    found = [d for d in diffs if d.spec == spec]
    assert len(found) == 1, [d.spec for d in diffs]
    return found[0]


# -- two real kernels -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kernels() -> tuple[Btf, Btf]:
    if not (K510.exists() and K61.exists()):
        pytest.skip("sample-btf/5.10-amd64.btf.xz or 6.1-amd64.btf.xz is absent")
    return load(K510), load(K61)


def test_task_struct_state_renamed(kernels: tuple[Btf, Btf]) -> None:
    a, b = kernels
    (d,) = diff_btf(a, b, ["struct task_struct"])
    assert d.spec == "struct task_struct" and d.status == CHANGED
    assert d.size_a == a.find("task_struct", "struct").size
    assert d.size_b == b.find("task_struct", "struct").size
    assert d.size_a != d.size_b
    cats = _cats(d)
    assert (REMOVED, "state") in cats and (ADDED, "__state") in cats
    assert not any(name == "state" and cat != REMOVED for cat, name in cats)
    text = format_diff([d], a, b)
    lines = text.splitlines()
    assert lines[0] == f"A: {a.path}" and lines[1] == f"B: {b.path}"
    assert lines[2] == f"struct task_struct: size {d.size_a} -> {d.size_b}"
    state = next(ln for ln in lines if ln.startswith("  - state "))
    assert state.split() == ["-", "state", "volatile", "long", "int", "@16"]
    new = next(ln for ln in lines if ln.startswith("  + __state "))
    assert new.split() == ["+", "__state", "unsigned", "int", "@24"]
    assert "  ~ stack" in text and "@24 -> @32" in text
    assert lines[-1] == "1 type differs: 1 changed, 0 only in A, 0 only in B"


def test_all_structs_and_enums(kernels: tuple[Btf, Btf]) -> None:
    a, b = kernels
    start = time.perf_counter()
    diffs = diff_btf(a, b, None)
    elapsed = time.perf_counter() - start
    assert elapsed < 30  # a couple of seconds normally; generous for slow CI machines
    assert _one(diffs, "struct folio").status == ONLY_B
    assert _one(diffs, "struct task_struct").status == CHANGED
    mm = _one(diffs, "struct mm_struct")
    assert (REMOVED, "mm_rb") in _cats(mm)
    # every struct and union is compared, enums only when named
    assert all(d.spec.startswith(("struct ", "union ")) for d in diffs)
    specs = [d.spec for d in diffs]
    assert len(specs) == len(set(specs))
    (e,) = diff_btf(a, b, ["enum bpf_func_id"])
    assert (ADDED, "BPF_FUNC_user_ringbuf_drain") in _cats(e)
    assert [c for c in e.changes if c.category != ADDED] == [
        Change(VALUE, "__BPF_FUNC_MAX_ID", 156, 210)]
    text = format_diff([e], a, b)
    assert "  + BPF_FUNC_user_ringbuf_drain = 209\n" in text


def test_identical_kernel_has_no_diff(kernels: tuple[Btf, Btf]) -> None:
    a, _ = kernels
    again = load(K510)
    assert diff_btf(a, again, None) == []
    assert format_diff([], a, again) == ""


def test_cli_on_kernels(kernels: tuple[Btf, Btf]) -> None:
    r = subprocess.run([*CLI, "btf", "diff", str(K510), str(K61), "struct task_struct",
                        "enum bpf_func_id"], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "  - state " in r.stdout and "  + __state " in r.stdout
    assert "enum bpf_func_id: size 4\n" in r.stdout
    r = subprocess.run([*CLI, "btf", "diff", str(K61), str(K61)], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""


# -- hand-built BTF, one category at a time ---------------------------------------------------

def _pair(make_a, make_b) -> tuple[Btf, Btf]:
    ba, bb = BtfBuilder(), BtfBuilder()
    make_a(ba)
    make_b(bb)
    return load_bytes(ba.build(), name="A.btf"), load_bytes(bb.build(), name="B.btf")


def _ints(b: BtfBuilder) -> tuple[int, int, int]:
    return b.int_("int", 4, signed=True), b.int_("unsigned int", 4), b.int_("long", 8, True)


def test_field_categories() -> None:
    def a(b: BtfBuilder) -> None:
        i, u, _ = _ints(b)
        b.struct("s", 16, [("keep", i, 0, 0), ("gone", i, 32, 0), ("retype", i, 64, 0),
                           ("bits", u, 96, 3), ("move", u, 99, 2)])

    def b_(b: BtfBuilder) -> None:
        i, u, lg = _ints(b)
        b.struct("s", 24, [("keep", i, 0, 0), ("retype", lg, 64, 0), ("bits", u, 96, 5),
                           ("move", u, 104, 2), ("new", b.ptr(i), 128, 0)])

    a_btf, b_btf = _pair(a, b_)
    (d,) = diff_btf(a_btf, b_btf, None)
    assert d.spec == "struct s" and (d.size_a, d.size_b) == (16, 24)
    assert _cats(d) == [(REMOVED, "gone"), (RETYPED, "retype"), (RESIZED, "bits"),
                        (MOVED, "move"), (ADDED, "new")]
    retype = d.changes[1]
    assert isinstance(retype.old, Field) and retype.old.type == "int"
    assert isinstance(retype.new, Field) and retype.new.type == "long"
    assert format_diff([d], a_btf, b_btf) == (
        "A: A.btf\n"
        "B: B.btf\n"
        "struct s: size 16 -> 24\n"
        "  - gone             int    @4\n"
        "  ~ retype           type int -> long\n"
        "  ~ bits             bits 3 -> 5\n"
        "  ~ move             @12.3:2 -> @13.0:2\n"
        "  + new              int *  @16\n"
        "1 type differs: 1 changed, 0 only in A, 0 only in B\n")


def test_bitfield_appears() -> None:
    a_btf, b_btf = _pair(
        lambda b: b.struct("s", 4, [("f", _ints(b)[1], 0, 0)]),
        lambda b: b.struct("s", 4, [("f", _ints(b)[1], 0, 1)]))
    (d,) = diff_btf(a_btf, b_btf, None)
    assert _cats(d) == [(RESIZED, "f")]
    assert "  ~ f                bits none -> 1\n" in format_diff([d], a_btf, b_btf)


def test_only_in_one_file() -> None:
    a_btf, b_btf = _pair(
        lambda b: (b.struct("old", 4, [("x", _ints(b)[0], 0, 0)]), b.union("both", 0, [])),
        lambda b: (b.union("both", 0, []), b.struct("new", 8, []), b.struct("", 4, [])))
    diffs = diff_btf(a_btf, b_btf, None)
    assert [(d.spec, d.status) for d in diffs] == [("struct new", ONLY_B),
                                                   ("struct old", ONLY_A)]
    text = format_diff(diffs, a_btf, b_btf)
    assert "struct new: only in B (size 8)\n" in text
    assert "struct old: only in A (size 4)\n" in text
    assert text.endswith("2 types differ: 0 changed, 1 only in A, 1 only in B\n")


def test_move_into_anonymous_union_is_a_move() -> None:
    def a(b: BtfBuilder) -> None:
        i, u, lg = _ints(b)
        b.struct("task", 16, [("state", lg, 0, 0), ("flags", u, 64, 0)])

    def b_(b: BtfBuilder) -> None:
        i, u, lg = _ints(b)
        anon = b.union("", 8, [("state", lg, 0, 0), ("__state", u, 0, 0)])
        inner = b.struct("", 4, [("flags", u, 0, 0)])
        named = b.struct("", 4, [("a", i, 0, 0)])
        b.struct("task", 24, [("", anon, 64, 0), ("", b.const(inner), 128, 0),
                              ("grp", named, 160, 0)])

    a_btf, b_btf = _pair(a, b_)
    fields = flatten(b_btf, b_btf.find("task", "struct"))
    assert [(f.path, f.bit_offset) for f in fields] == [
        ("state", 64), ("__state", 64), ("flags", 128), ("grp.a", 160)]
    (d,) = diff_btf(a_btf, b_btf, ["task"])
    assert _cats(d) == [(MOVED, "state"), (ADDED, "__state"), (MOVED, "flags"),
                        (ADDED, "grp.a")]


def test_named_struct_member_is_one_field() -> None:
    def make(size: int):
        def f(b: BtfBuilder) -> None:
            i = _ints(b)[0]
            common = b.struct("sock_common", size, [("skc_daddr", i, 0, 0)])
            b.struct("sock", 16, [("__sk_common", common, 0, 0)])
        return f

    a_btf, b_btf = _pair(make(8), make(12))
    diffs = diff_btf(a_btf, b_btf, None)
    assert [(d.spec, d.changes) for d in diffs] == [("struct sock_common", [])]
    assert diffs[0].size_b == 12


def test_enum_changes() -> None:
    a_btf, b_btf = _pair(
        lambda b: b.enum("e", 4, [("KEEP", 1), ("GONE", 2), ("MOVE", 3)]),
        lambda b: b.enum64("e", 8, [("KEEP", 1), ("MOVE", 4), ("NEW", 1 << 40)]))
    (d,) = diff_btf(a_btf, b_btf, ["enum e"])
    assert (d.size_a, d.size_b) == (4, 8)
    assert d.changes == [Change(REMOVED, "GONE", 2, None), Change(VALUE, "MOVE", 3, 4),
                         Change(ADDED, "NEW", None, 1 << 40)]
    assert format_diff([d], a_btf, b_btf).splitlines()[2:6] == [
        "enum e: size 4 -> 8", "  - GONE = 2", "  ~ MOVE = 3 -> 4", f"  + NEW = {1 << 40}"]
    # enums are compared only when asked for
    assert diff_btf(a_btf, b_btf, None) == []


def test_signed_enum_values() -> None:
    a_btf, b_btf = _pair(lambda b: b.enum("e", 4, [("N", -1)], signed=True),
                         lambda b: b.enum("e", 4, [("N", -1)], signed=False))
    (d,) = diff_btf(a_btf, b_btf, ["e"])
    assert d.changes == [Change(VALUE, "N", -1, 0xFFFFFFFF)]


def test_typedef_and_kind_change() -> None:
    def a(b: BtfBuilder) -> None:
        i, u, _ = _ints(b)
        b.typedef("u32_t", u)
        b.struct("thing", 4, [])

    def b_(b: BtfBuilder) -> None:
        i, u, lg = _ints(b)
        b.typedef("u32_t", lg)
        b.union("thing", 4, [])

    a_btf, b_btf = _pair(a, b_)
    td, kind = diff_btf(a_btf, b_btf, ["typedef u32_t", "thing"])
    assert td.status == CHANGED and td.changes == [Change(REDEFINED, "", "unsigned int", "long")]
    assert kind.status == KIND and (kind.kind_a, kind.kind_b) == ("struct", "union")
    text = format_diff([td, kind], a_btf, b_btf)
    assert "typedef u32_t: size 4 -> 8\n  ~ unsigned int -> long\n" in text
    assert "thing: kind struct -> union\n" in text
    # a kind named explicitly is looked up as that kind on both sides
    (only,) = diff_btf(a_btf, b_btf, ["struct thing"])
    assert only.status == ONLY_A


def test_no_difference_and_missing_type() -> None:
    def same(b: BtfBuilder) -> None:
        b.struct("s", 4, [("x", _ints(b)[0], 0, 0)])

    a_btf, b_btf = _pair(same, same)
    assert diff_btf(a_btf, b_btf, None) == []
    assert diff_btf(a_btf, b_btf, ["struct s"]) == []
    with pytest.raises(BtfError, match="no type 'struct nope'"):
        diff_btf(a_btf, b_btf, ["struct nope"])


def test_cyclic_anonymous_nesting_is_an_error() -> None:
    b = BtfBuilder()
    i = b.int_("int", 4, signed=True)
    anon = b.next_id
    b.struct("", 4, [("", anon, 0, 0)])  # an anonymous struct containing itself
    b.struct("outer", 4, [("", anon, 0, 0), ("x", i, 0, 0)])
    btf = load_bytes(b.build())
    with pytest.raises(BtfError, match="nested too deep"):
        diff_btf(btf, btf, ["struct outer"])


# -- CLI --------------------------------------------------------------------------------------

def _write(tmp_path: Path, name: str, b: BtfBuilder) -> Path:
    p = tmp_path / name
    p.write_bytes(b.build())
    return p


def test_cli_exit_codes(tmp_path: Path) -> None:
    ba, bb = BtfBuilder(), BtfBuilder()
    ba.struct("s", 4, [("x", _ints(ba)[0], 0, 0)])
    bb.struct("s", 8, [("x", _ints(bb)[0], 32, 0)])
    pa, pb = _write(tmp_path, "a.btf", ba), _write(tmp_path, "b.btf", bb)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, "btf", "diff", *args], capture_output=True, text=True)

    r = run(str(pa), str(pb))
    assert r.returncode == 1
    assert r.stdout == (f"A: {pa}\nB: {pb}\nstruct s: size 4 -> 8\n  ~ x                @0 -> @4\n"
                        "1 type differs: 1 changed, 0 only in A, 0 only in B\n")
    r = run(str(pa), str(pa))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = run(str(pa), str(pb), "struct nope")
    assert r.returncode == 2 and "no type 'struct nope'" in r.stderr
    assert "Traceback" not in r.stderr
    junk = tmp_path / "junk.btf"
    junk.write_bytes(b"not btf at all")
    r = run(str(pa), str(junk))
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == ""


def test_cli_split_with_base(tmp_path: Path) -> None:
    base = BtfBuilder()
    i = base.int_("int", 4, signed=True)
    base_path = _write(tmp_path, "base.btf", base)
    splits = []
    for n, size in (("a", 4), ("b", 8)):
        sp = BtfBuilder(str_start=len(base.strs), id_start=base.next_id)
        sp.struct("mod_s", size, [("x", i, 0, 0)])
        splits.append(_write(tmp_path, f"{n}.btf", sp))
    r = subprocess.run([*CLI, "btf", "diff", str(splits[0]), str(splits[1]), "--base",
                        str(base_path)], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "struct mod_s: size 4 -> 8\n" in r.stdout
