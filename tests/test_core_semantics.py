"""The CO-RE resolver on hand-built BTF: names, access strings, compatibility rules, values,
pruning, reasons and robustness. (test_core_oracle.py checks the same rules against libbpf.)"""

from __future__ import annotations

import pytest

from bpfls.btf import Btf, load_bytes
from bpfls.core import (
    CoreResolver,
    Relocation,
    ReloKind,
    SpecError,
    candidates_named,
    essential_name,
    field_info,
    fields_are_compat,
    find_candidates,
    flavor_of,
    format_spec,
    parse_access_str,
    resolve,
    spec_path,
    types_are_compat,
    types_match,
)
from bpfls.core.patch import Insn, check_insn
from bpfls.core.spec import format_spec_log

from btfbuild import BtfBuilder

K = ReloKind


@pytest.mark.parametrize("name, essential, flavor", [
    ("task_struct___o", "task_struct", "o"),
    ("task_struct___x___y", "task_struct___x", "y"),
    ("foo____bar", "foo____bar", None),
    ("foo___", "foo___", None),
    ("a__b", "a__b", None),
    ("___a", "___a", None),
    ("a___b", "a", "b"),
    ("NEGV___x", "NEGV", "x"),
    ("", "", None),
])
def test_essential_names(name: str, essential: str, flavor: str | None) -> None:
    assert essential_name(name) == essential
    assert flavor_of(name) == flavor


@pytest.mark.parametrize("text, kind, want", [
    ("0", K.FIELD_BYTE_OFFSET, (0,)),
    ("1:0", K.FIELD_BYTE_OFFSET, (1, 0)),
    ("1:0:3:34:10:1", K.FIELD_BYTE_OFFSET, (1, 0, 3, 34, 10, 1)),
    ("0 1", K.FIELD_BYTE_OFFSET, (0, 1)),  # sscanf("%d") skips blanks
    ("+0:+2", K.FIELD_BYTE_OFFSET, (0, 2)),
    ("0", K.TYPE_SIZE, (0,)),
    ("3", K.ENUMVAL_VALUE, (3,)),
])
def test_access_strings(text: str, kind: ReloKind, want: tuple[int, ...]) -> None:
    assert parse_access_str(text, kind) == want


@pytest.mark.parametrize("text, kind", [
    ("", K.FIELD_EXISTS), (":", K.FIELD_EXISTS), ("0:", K.FIELD_EXISTS),
    (":12", K.FIELD_EXISTS), ("-1", K.FIELD_EXISTS), ("4294967296", K.FIELD_EXISTS),
    ("0::1", K.FIELD_EXISTS), ("0:a", K.FIELD_EXISTS), ("0 ", K.FIELD_EXISTS),
    ("1", K.TYPE_EXISTS), ("0:0", K.TYPE_SIZE), (" 0", K.TYPE_MATCHES),
    ("٣", K.FIELD_EXISTS),
])
def test_bad_access_strings(text: str, kind: ReloKind) -> None:
    with pytest.raises(SpecError):
        parse_access_str(text, kind)


# -- a local/target pair ------------------------------------------------------------------------

def local_btf() -> tuple[Btf, dict[str, int]]:
    blob, ids = local_blob()
    return load_bytes(blob, name="local.o"), ids


def target_btf() -> tuple[Btf, dict[str, int]]:
    blob, ids = target_blob()
    return load_bytes(blob, name="vmlinux"), ids


def local_blob() -> tuple[bytes, dict[str, int]]:
    b = BtfBuilder()
    i32 = b.int_("int", 4, signed=True)
    u32 = b.int_("unsigned int", 4)
    i64 = b.int_("long", 8, signed=True)
    ids: dict[str, int] = {"int": i32}
    arr = b.array(i32, i32, 4)
    ids["task"] = b.struct("task_struct", 24, [("pid", i32, 0, 0), ("flags", u32, 32, 0),
                                               ("comm", arr, 64, 0)])
    ids["task_o"] = b.struct("task_struct___o", 8, [("state", i64, 0, 0)])
    ids["task_p"] = b.struct("task_struct___p", 8, [("pid", b.ptr(0), 0, 0)])
    anon_u = b.union("", 4, [("b", i32, 0, 0)])
    ids["sock"] = b.struct("sock", 8, [("", anon_u, 0, 0), ("c", i32, 32, 0)])
    ids["bits"] = b.struct("bits", 8, [("a", u32, 0, 3), ("s", i32, 3, 5), ("w", u32, 8, 24)])
    ids["pr1"] = b.struct("pr___l1", 8, [("x", i32, 0, 0), ("y", i32, 32, 0)])
    ids["pr2"] = b.struct("pr___l2", 8, [("x", i32, 0, 0), ("y", i32, 32, 0)])
    ids["en"] = b.enum("color", 4, [("RED", 0), ("BIG___x", 0x7FFFFFFF)])
    ids["nope"] = b.struct("foo", 4, [("a", i32, 0, 0)])
    ids["anon"] = b.struct("", 4, [("a", i32, 0, 0)])
    ids["td"] = b.typedef("pid_t", i32)
    return b.build(), ids


def target_blob() -> tuple[bytes, dict[str, int]]:
    b = BtfBuilder()
    i32 = b.int_("int", 4, signed=True)
    u64 = b.int_("long unsigned int", 8)
    u16 = b.int_("short unsigned int", 2)
    ids: dict[str, int] = {}
    arr = b.array(b.int_("char", 1), i32, 16)
    ids["task"] = b.struct("task_struct", 64, [("__state", u64, 0, 0), ("pid", i32, 64, 0),
                                               ("flags", u64, 128, 0), ("comm", arr, 192, 0)])
    s1 = b.struct("", 4, [("b", i32, 0, 0)])
    u1 = b.union("", 8, [("", s1, 0, 0), ("z", u64, 0, 0)])
    ids["sock"] = b.struct("sock", 16, [("c", i32, 0, 0), ("", u1, 64, 0)])
    ids["bits"] = b.struct("bits", 8, [("w", u64, 0, 30), ("a", u16, 30, 3), ("s", i32, 40, 5)])
    ids["pr_a"] = b.struct("pr___a", 4, [("x", i32, 0, 0)])
    ids["pr_b"] = b.struct("pr___b", 8, [("q", i32, 0, 0), ("y", i32, 32, 0)])
    ids["en"] = b.enum("color", 4, [("BIG", 0x80000000), ("RED", 5)])
    b.union("foo", 4, [("a", i32, 0, 0)])
    ids["td"] = b.typedef("pid_t", i32)
    b.int_("int", 4, signed=True)
    return b.build(), ids


@pytest.fixture(scope="module")
def pair() -> tuple[Btf, dict[str, int], Btf, dict[str, int]]:
    lb, lids = local_btf()
    tb, tids = target_btf()
    return lb, lids, tb, tids


def R(btf: Btf, kind: ReloKind, root: int, access: str) -> Relocation:
    return Relocation(kind, btf, root, parse_access_str(access, kind))


def test_field_relocations(pair) -> None:
    lb, L, tb, T = pair
    r = resolve(R(lb, K.FIELD_BYTE_OFFSET, L["task"], "0:0"), tb)
    assert (r.status, r.local_value, r.target_value) == ("resolved", 0, 8)
    assert r.spec == "struct task_struct.pid" and r.target_spec == "struct task_struct.pid"
    assert r.target_type_id == T["task"] and r.target_btf is tb
    assert r.local_field is not None
    assert (r.local_field.byte_size, r.target_size, r.local_field.byte_offset,
            r.target_offset) == (4, 4, 0, 8)
    assert r.local_spec_log == "<byte_off> [5] struct task_struct.pid (0:0 @ offset 0)"
    # anonymous members on both sides, in different places
    r = resolve(R(lb, K.FIELD_BYTE_OFFSET, L["sock"], "0:0:0"), tb)
    assert (r.status, r.target_value, r.spec) == ("resolved", 8, "struct sock.b")
    assert r.target is not None
    assert format_spec_log(r.target).endswith("struct sock.b (0:1:0:0 @ offset 8)")
    # array element: only offset and size
    r = resolve(R(lb, K.FIELD_BYTE_OFFSET, L["task"], "0:2:3"), tb)
    assert (r.status, r.target_value, r.spec) == ("resolved", 27, "struct task_struct.comm[3]")
    r = resolve(R(lb, K.FIELD_BYTE_SIZE, L["task"], "0:2:3"), tb)
    assert r.target_value == 1 and r.local_value == 4
    r = resolve(R(lb, K.FIELD_SIGNED, L["task"], "0:2:3"), tb)
    assert r.status == "error" and "array element" in r.reason
    # the root index counts whole roots
    r = resolve(R(lb, K.FIELD_BYTE_OFFSET, L["task"], "2:1"), tb)
    assert (r.local_value, r.target_value, r.spec) == (2 * 24 + 4, 2 * 64 + 16,
                                                       "struct task_struct[2].flags")


def test_sizes_and_load_adjustment(pair) -> None:
    lb, L, tb, _ = pair
    r = resolve(R(lb, K.FIELD_BYTE_OFFSET, L["task"], "0:1"), tb)  # u32 → u64: adjustable
    assert (r.local_mem_size, r.target_mem_size, r.fail_memsz_adjust) == (4, 8, False)
    ldx_w = Insn(0x61, 0, 1, 4, 0)  # r0 = *(u32 *)(r1 + 4)
    assert check_insn(r, ldx_w).status == "resolved"
    r = resolve(R(lb, K.FIELD_BYTE_OFFSET, L["task_o"], "0:0"), tb)
    assert r.status == "missing"
    r = resolve(R(lb, K.FIELD_BYTE_OFFSET, L["task"], "0:0"), tb)
    assert check_insn(r, Insn(0x61, 0, 1, 0, 0)).status == "resolved"
    bad = check_insn(r, Insn(0x61, 0, 1, 4, 0))  # clang's offset is not libbpf's local value
    assert bad.status == "error" and bad.reason.startswith("unexpected instruction offset")
    assert check_insn(r, Insn(0x07, 1, 0, 0, 0)).status == "resolved"  # r1 += 0
    assert check_insn(r, Insn(0x0F, 1, 2, 0, 0)).status == "error"  # r1 += r2
    assert check_insn(r, Insn(0x85, 0, 0, 0, 0)).status == "error"  # call


def test_bitfields(pair) -> None:
    lb, L, tb, _ = pair
    vals = {k: resolve(R(lb, k, L["bits"], "0:0"), tb) for k in
            (K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_LSHIFT_U64, K.FIELD_RSHIFT_U64,
             K.FIELD_SIGNED)}
    # local a: bits 0-2 of a u32; target a: bits 30-32 of a u16, so loads grow to 8 bytes
    assert [(v.local_value, v.target_value) for v in vals.values()] == [
        (0, 0), (4, 8), (61, 31), (61, 61), (0, 0)]
    assert vals[K.FIELD_BYTE_OFFSET].target_field.bitfield
    assert not vals[K.FIELD_BYTE_OFFSET].validate
    s = resolve(R(lb, K.FIELD_SIGNED, L["bits"], "0:1"), tb)
    assert (s.local_value, s.target_value) == (1, 1)
    lay = field_info(lb, L["bits"], (0, 1))
    assert (lay.bit_offset, lay.bit_size, lay.byte_offset, lay.byte_size, lay.lshift,
            lay.rshift, lay.signed) == (3, 5, 0, 4, 56, 59, True)


def test_incompatible_and_missing(pair) -> None:
    lb, L, tb, _ = pair
    r = resolve(R(lb, K.FIELD_BYTE_OFFSET, L["task_o"], "0:0"), tb)
    assert r.status == "missing" and r.target_value is None
    assert r.reason == "no member 'state' in struct task_struct"
    assert r.spec == "struct task_struct___o.state"
    r = resolve(R(lb, K.FIELD_EXISTS, L["task_p"], "0:0"), tb)
    assert r.status == "zero" and r.target_value == 0 and r.local_value == 1
    assert r.reason == "'pid' has incompatible type (pointer vs int)"
    r = resolve(R(lb, K.FIELD_EXISTS, L["nope"], "0:0"), tb)
    assert r.reason == "no struct named 'foo' in the kernel (it has a union of that name)"
    r = resolve(R(lb, K.TYPE_EXISTS, L["nope"], "0"), tb)
    assert (r.status, r.target_value, r.spec) == ("zero", 0, "struct foo")
    r = resolve(R(lb, K.FIELD_BYTE_OFFSET, L["anon"], "0:0"), tb)
    assert r.status == "error" and "anonymous" in r.reason
    r = resolve(R(lb, K.TYPE_ID_LOCAL, L["anon"], "0"), tb)
    assert (r.status, r.target_value) == ("resolved", L["anon"])


def test_enums(pair) -> None:
    lb, L, tb, T = pair
    r = resolve(R(lb, K.ENUMVAL_VALUE, L["en"], "0"), tb)
    assert (r.status, r.local_value, r.target_value) == ("resolved", 0, 5)
    assert r.spec == "enum color::RED"
    r = resolve(R(lb, K.ENUMVAL_VALUE, L["en"], "1"), tb)  # BIG___x → BIG, sign-extended
    assert (r.local_value, r.target_value) == (0x7FFFFFFF, 0xFFFFFFFF80000000)
    assert r.local_spec_log == f"<enumval_value> [{L['en']}] enum color::BIG___x = 2147483647"
    assert r.target is not None
    assert format_spec_log(r.target) == f"<enumval_value> [{T['en']}] enum color::BIG = 2147483648"


def test_typedef_root(pair) -> None:
    lb, L, tb, T = pair
    r = resolve(R(lb, K.TYPE_SIZE, L["td"], "0"), tb)
    assert (r.status, r.target_value, r.target_type_id, r.spec) == ("resolved", 4, T["td"],
                                                                     "typedef pid_t")


def test_pruning_is_order_dependent(pair) -> None:
    lb, L, tb, T = pair
    res = CoreResolver(tb)
    x1 = res.resolve(R(lb, K.FIELD_BYTE_OFFSET, L["pr1"], "0:0"))
    y1 = res.resolve(R(lb, K.FIELD_BYTE_OFFSET, L["pr1"], "0:1"))
    y2 = res.resolve(R(lb, K.FIELD_BYTE_OFFSET, L["pr2"], "0:1"))
    x2 = res.resolve(R(lb, K.FIELD_BYTE_OFFSET, L["pr2"], "0:0"))
    assert (x1.status, y1.status, y2.status, x2.status) == ("resolved", "missing",
                                                            "resolved", "missing")
    assert x1.pruned == (T["pr_b"],)
    assert y1.reason == ("no member 'y' in struct pr___a (struct pr___b ruled out by earlier "
                         "relocations of struct pr___l1)")
    # in isolation both resolve
    assert resolve(R(lb, K.FIELD_BYTE_OFFSET, L["pr1"], "0:1"), tb).status == "resolved"
    res.reset()
    assert res.resolve(R(lb, K.FIELD_BYTE_OFFSET, L["pr1"], "0:1")).status == "resolved"


def test_helpers(pair) -> None:
    lb, L, tb, T = pair
    rel = R(lb, K.FIELD_BYTE_OFFSET, L["task"], "0:2:3")
    assert format_spec(rel) == "struct task_struct.comm[3]"
    assert [str(s) for s in spec_path(rel)] == ["comm", "[3]"]
    assert format_spec(Relocation(K.FIELD_EXISTS, lb, L["task"], (0, 9))) == \
        "struct task_struct + 0:9"
    assert [t for _, t in find_candidates(lb, L["pr1"], tb)] == [T["pr_a"], T["pr_b"]]
    assert candidates_named(tb, "pr___zzz") == [T["pr_a"], T["pr_b"]]
    assert candidates_named(tb, "foo") and not candidates_named(tb, "foo", lb[L["nope"]].kind)
    # modules are searched only when the kernel has no candidate
    mb = BtfBuilder(str_start=tb.end_str_off, id_start=tb.end_id)
    mod_foo = mb.struct("foo", 4, [("a", T["td"], 0, 0)])
    mod = load_bytes(mb.build(), base=tb, name="mod")
    r = resolve(R(lb, K.FIELD_BYTE_OFFSET, L["nope"], "0:0"), tb, [mod])
    assert (r.status, r.target_type_id, r.target_btf) == ("resolved", mod_foo, mod)


def test_compat_tables() -> None:
    b = BtfBuilder()
    i32 = b.int_("int", 4, signed=True)
    u8 = b.int_("unsigned char", 1)
    bad_int = b.int_("weird", 4, offset=3)
    s = b.struct("s", 4, [("a", i32, 0, 0)])
    u = b.union("u", 4, [("a", i32, 0, 0)])
    e1 = b.enum("e1", 4, [("A", 1)])
    e2 = b.enum("e2", 4, [("A", 1)])
    e1x = b.enum64("e1___x", 8, [("A", 1)])
    ea = b.enum("", 4, [("A", 1)])
    pv, ps = b.ptr(0), b.ptr(s)
    fwd = b.fwd("s")
    pf = b.ptr(fwd)
    a3, a9 = b.array(i32, i32, 3), b.array(i32, i32, 9)
    au = b.array(u8, i32, 3)
    fl = b.float_("double", 8)
    td = b.typedef("td", i32)
    cs = b.const(s)
    btf = load_bytes(b.build())

    def fc(x: int, y: int) -> bool:
        return fields_are_compat(btf, x, btf, y)

    assert fc(s, u) and fc(cs, u) and fc(td, u8) and fc(i32, u8) and fc(pv, ps)
    assert fc(e1, e1x) and fc(e1, ea) and not fc(e1, e2)
    assert fc(a3, a9) and fc(a3, au) and fc(fl, fl)
    assert not fc(i32, e1) and not fc(i32, pv) and not fc(a3, i32) and not fc(s, ps)
    assert not fc(i32, bad_int)
    assert types_are_compat(btf, s, btf, s) and not types_are_compat(btf, ps, btf, pf)
    assert not types_are_compat(btf, fl, btf, fl)
    assert types_match(btf, ps, btf, pf) and not types_match(btf, s, btf, u)
    assert types_match(btf, e1, btf, e1) and not types_match(btf, e1, btf, e1x)


def test_ambiguity_and_robustness() -> None:
    b = BtfBuilder()
    i32 = b.int_("int", 4, signed=True)
    amb = b.struct("amb", 4, [("x", i32, 0, 0)])
    local = load_bytes(b.build())
    t = BtfBuilder()
    ti = t.int_("int", 4, signed=True)
    t.struct("amb___a", 4, [("x", ti, 0, 0)])
    t.struct("amb___b", 8, [("p", ti, 0, 0), ("x", ti, 32, 0)])
    target = load_bytes(t.build())
    r = resolve(Relocation(K.FIELD_BYTE_OFFSET, local, amb, (0, 0)), target)
    assert r.status == "error" and r.reason.startswith("ambiguous: 2 candidates with different "
                                                       "offsets")
    r = resolve(Relocation(K.TYPE_ID_TARGET, local, amb, (0,)), target)
    assert r.status == "error" and "relocation decision ambiguity" in r.reason
    r = resolve(Relocation(K.TYPE_SIZE, local, amb, (0,)), target)
    assert r.status == "error"  # sizes 4 and 8
    # nonsense input never raises
    for rel in [Relocation(K.FIELD_BYTE_OFFSET, local, 99, (0,)),
                Relocation(K.FIELD_BYTE_OFFSET, local, amb, ()),
                Relocation(K.FIELD_BYTE_OFFSET, local, i32, (0, 1)),
                Relocation(K.ENUMVAL_VALUE, local, amb, (0,))]:
        assert resolve(rel, target).status == "error"


def test_mutated_btf_never_raises() -> None:
    """Corrupt local or target BTF gives statuses, never a traceback."""
    import random

    from bpfls.btf import BtfError

    lb, L = local_btf()
    tb, _ = target_btf()
    relos = [R(lb, k, L[root], acc) for k, root, acc in [
        (K.FIELD_BYTE_OFFSET, "task", "0:0"), (K.FIELD_BYTE_OFFSET, "sock", "0:0:0"),
        (K.FIELD_LSHIFT_U64, "bits", "0:0"), (K.FIELD_BYTE_SIZE, "task", "0:2:3"),
        (K.ENUMVAL_VALUE, "en", "1"), (K.TYPE_MATCHES, "task", "0"),
        (K.TYPE_SIZE, "td", "0"), (K.FIELD_EXISTS, "pr1", "0:1")]]
    rng = random.Random(7)
    raw = {"local": local_blob()[0], "target": target_blob()[0]}
    done = 0
    for i in range(300):
        which = "local" if i % 2 else "target"
        data = bytearray(raw[which])
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(24, len(data))
            data[pos] = rng.randrange(256)
        try:
            mutated = load_bytes(bytes(data))
        except BtfError:
            continue
        for rel in relos:
            if which == "local":
                rel = Relocation(rel.kind, mutated, rel.type_id, rel.access)
                res = resolve(rel, tb)
            else:
                res = resolve(rel, mutated)
            assert res.status in ("resolved", "missing", "zero", "error")
            str(res)
            for c in res.candidates:
                c.log_spec  # noqa: B018
            done += 1
    assert done > 1000

