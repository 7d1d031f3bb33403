"""The pitfall diagnostics: enum sign extension, base-type spelling in type matching, and why a
poisoned relocation fails (its root type missing, or a typedef root).

Hand-built BTF pins the rules down; small programs checked against the sample kernels show
each diagnostic where it must appear and not where it must not. tests/corpus/ has the same
cases checked against libbpf itself."""

from __future__ import annotations

import pytest

from bpfls.analysis.check import check_model
from bpfls.analysis.pitfalls import (
    SpellingDiff,
    canonical_int,
    clang_int,
    enum_sign_extension,
    spelling_only_mismatch,
)
from bpfls.btf import load_bytes
from bpfls.core.relo import Relocation, ReloKind
from bpfls.project.kernels import KernelSet
from bpfls.source import SourceOptions, analyze

from btfbuild import BtfBuilder
from conftest import load_sample_kernels

KERNEL_NAMES = ["5.10-amd64", "6.1-amd64", "6.12-amd64"]
ALL = tuple(KERNEL_NAMES)


# -- the rules, on hand-built BTF ------------------------------------------------------------

@pytest.mark.parametrize(("name", "canonical"), [
    ("long unsigned int", "unsigned long"), ("unsigned long", "unsigned long"),
    ("long int", "long"), ("long long int", "long long"), ("short int", "short"),
    ("short unsigned int", "unsigned short"), ("long long unsigned int", "unsigned long long"),
    ("unsigned int", "unsigned int"), ("unsigned", "unsigned int"), ("signed", "int"),
    ("char", "char"), ("signed char", "signed char"), ("unsigned char", "unsigned char"),
    ("__int128 unsigned", "unsigned __int128"), ("_Bool", "_Bool"), ("u64", "u64"),
])
def test_canonical_int(name: str, canonical: str) -> None:
    assert canonical_int(name) == canonical


def test_clang_spelling_and_char_sign() -> None:
    assert clang_int("long unsigned int", 0) == ("unsigned long", False)
    assert clang_int("char", 0) == ("char", True)  # BPF's plain char is signed
    assert clang_int("_Bool", 4) == ("_Bool", False)


def _enum_relo(values: list[tuple[str, int]], index: int, *, signed: bool = False,
               enum64: bool = False, kind: ReloKind = ReloKind.ENUMVAL_VALUE) -> Relocation:
    b = BtfBuilder()
    make = b.enum64 if enum64 else b.enum
    eid = make("e", 8 if enum64 else 4, values, signed=signed)
    return Relocation(kind, load_bytes(b.build()), eid, (index,))


def test_enum_sign_extension_rule() -> None:
    # unsigned 32-bit enumerator with bit 31 set: clang and libbpf disagree
    assert enum_sign_extension(_enum_relo([("A", 1), ("B", 0x80000000)], 1)) == (
        0x80000000, 0xFFFFFFFF80000000)
    assert enum_sign_extension(_enum_relo([("B", 0xFFFFFFFF)], 0)) == (
        0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)


@pytest.mark.parametrize("relo", [
    _enum_relo([("A", 1), ("B", 0x80000000)], 0),  # the other enumerator
    _enum_relo([("B", 0x7FFFFFFF)], 0),  # below 2^31
    _enum_relo([("B", 0x80000000)], 0, signed=True),  # signed: -2^31 both ways
    _enum_relo([("B", 0x80000000)], 0, enum64=True),  # ENUM64: read as hi:lo
    _enum_relo([("B", 0x80000000)], 0, kind=ReloKind.ENUMVAL_EXISTS),  # its value is 1
], ids=["other", "small", "signed", "enum64", "exists"])
def test_no_enum_sign_extension(relo: Relocation) -> None:
    assert enum_sign_extension(relo) is None


def _gcc_target(b: BtfBuilder) -> dict[str, int]:
    """Base types as pahole writes a GCC-built x86 kernel's: char without a sign."""
    return {"int": b.int_("int", 4, signed=True), "u32": b.int_("unsigned int", 4),
            "ulong": b.int_("long unsigned int", 8), "long": b.int_("long int", 8, signed=True),
            "char": b.int_("char", 1), "short": b.int_("short int", 2, signed=True)}


def _match(local_members, target_members, *, local_name: str = "s___l"
           ) -> list[SpellingDiff] | None:
    """``spelling_only_mismatch`` of struct s___l {local_members} against struct s."""
    lb, tb = BtfBuilder(), BtfBuilder()
    lt, tt = _clang_local(lb), _gcc_target(tb)

    def members(b, ts, spec):
        out, off = [], 0
        for name, what in spec:
            tid = ts[what] if isinstance(what, str) else what(b, ts)
            out.append((name, tid, off, 0))
            off += 64
        return out

    lid = lb.struct(local_name, 64, members(lb, lt, local_members))
    tid = tb.struct("s", 64, members(tb, tt, target_members))
    local, target = load_bytes(lb.build()), load_bytes(tb.build())
    return spelling_only_mismatch(Relocation(ReloKind.TYPE_MATCHES, local, lid, (0,)),
                                  [(target, tid)])


def _clang_local(b: BtfBuilder) -> dict[str, int]:
    return {"int": b.int_("int", 4, signed=True), "u32": b.int_("unsigned int", 4),
            "ulong": b.int_("unsigned long", 8), "long": b.int_("long", 8, signed=True),
            "char": b.int_("char", 1, signed=True), "short": b.int_("short", 2, signed=True),
            # a vmlinux.h type as the source model has it: the kernel's spelling
            "kulong": b.int_("long unsigned int", 8)}


def _array_of(what: str, n: int):
    return lambda b, ts: b.array(ts[what], ts["int"], n)


def _ptr_to(what: str):
    return lambda b, ts: b.ptr(ts[what])


def test_spelling_only_names_the_members_and_both_spellings() -> None:
    diffs = _match([("a", "ulong"), ("b", "int"), ("c", "short")],
                   [("a", "ulong"), ("b", "int"), ("c", "short")])
    assert diffs == [SpellingDiff("a", "unsigned long", "long unsigned int"),
                     SpellingDiff("c", "short", "short int")]
    assert "'unsigned long' here is 'long unsigned int'" in diffs[0].describe()


def test_spelling_char_sign_array_and_pointer() -> None:
    diffs = _match([("name", _array_of("char", 8)), ("p", _ptr_to("long"))],
                   [("name", _array_of("char", 8)), ("p", _ptr_to("long"))])
    assert diffs == [SpellingDiff("name[]", "char", "char", (True, False)),
                     SpellingDiff("*p", "long", "long int")]
    assert "is signed here and without a sign" in diffs[0].describe()


def test_spelling_of_a_vmlinux_h_type_is_clangs() -> None:
    """The source model keeps the kernel's spelling for vmlinux.h types; clang would not."""
    assert _match([("a", "kulong")], [("a", "ulong")]) == [
        SpellingDiff("a", "unsigned long", "long unsigned int")]


@pytest.mark.parametrize(("local", "target"), [
    ([("a", "int"), ("b", "u32")], [("a", "int"), ("b", "u32")]),  # matches as it is
    ([("a", "ulong"), ("b", "int")], [("a", "ulong"), ("b", "long")]),  # int vs long int
    ([("a", "ulong"), ("z", "int")], [("a", "ulong"), ("b", "int")]),  # no member z
    ([("a", "int"), ("n", _array_of("char", 8))], [("a", "int"), ("n", _array_of("char", 4))]),
], ids=["matches", "int-vs-long", "missing-member", "array-length"])
def test_no_spelling_diagnosis(local, target) -> None:
    assert _match(local, target) is None


# -- the diagnostics, on the sample kernels --------------------------------------------------

@pytest.fixture(scope="module")
def kernels() -> KernelSet:
    return load_sample_kernels(KERNEL_NAMES)


HEAD = """#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
"""


def _diags(kernels: KernelSet, decls: str, body: str) -> dict[str, tuple[str, ...]]:
    """code → kernels of every diagnostic of a one-program file but constant-check hints."""
    text = (f"{HEAD}{decls}\nSEC(\"raw_tp/sys_enter\")\nint prog(void *ctx)\n{{\n{body}\n"
            "    return 0;\n}\nchar LICENSE[] SEC(\"license\") = \"GPL\";\n")
    model = analyze("/tmp/pitfall.bpf.c", text,
                    SourceOptions(primary=kernels.primary_btf,
                                  defines={"__TARGET_ARCH_x86": None}))
    out: dict[str, tuple[str, ...]] = {}
    for d in check_model(model, kernels).diagnostics:
        if d.code == "constant-check":
            continue  # the hint is tested where it belongs
        assert d.code not in out, d
        out[d.code] = tuple(sorted(d.kernels))
    return out


def test_enum_sign_extension_diagnosed(kernels: KernelSet) -> None:
    got = _diags(kernels, "", """
    __u64 v = 0;
    if (bpf_core_enum_value_exists(enum x86_pf_error_code, X86_PF_RMP))
        v = bpf_core_enum_value(enum x86_pf_error_code, X86_PF_RMP);
    bpf_printk("%llu", v);""")
    # a guard does not help: libbpf checks the instruction before the verifier runs
    assert got == {"enum-sign-extension": ("6.12-amd64",)}


def test_negative_flavor_enumerator_loads(kernels: KernelSet) -> None:
    got = _diags(kernels, "enum x86_pf_error_code___s { X86_PF_RMP___s = -2147483648 };", """
    __u32 v = 0;
    if (bpf_core_enum_value_exists(enum x86_pf_error_code___s, X86_PF_RMP___s))
        v = bpf_core_enum_value(enum x86_pf_error_code___s, X86_PF_RMP___s);
    bpf_printk("%u", v);""")
    assert got == {}


def test_type_matches_spelling_diagnosed(kernels: KernelSet) -> None:
    got = _diags(kernels, "struct rlimit___a { unsigned long rlim_cur; unsigned long rlim_max; };",
                 "    bpf_printk(\"%d\", bpf_core_type_matches(struct rlimit___a));")
    assert got == {"type-matches-spelling": ALL}


def test_type_matches_structural_failure_is_no_spelling_issue(kernels: KernelSet) -> None:
    got = _diags(kernels, "struct rlimit___c { unsigned long rlim_cur; int rlim_max; };\n"
                          "struct list_head___a { struct list_head *next, *prev; };",
                 "    bpf_printk(\"%d %d\", bpf_core_type_matches(struct rlimit___c),\n"
                 "               bpf_core_type_matches(struct list_head___a));")
    assert got == {}


def test_missing_root_type_is_type_missing(kernels: KernelSet) -> None:
    got = _diags(kernels, "struct folio___y { unsigned long flags; } "
                          "__attribute__((preserve_access_index));",
                 "    bpf_printk(\"%lu\", BPF_CORE_READ((struct folio___y *)ctx, flags));")
    assert got == {"type-missing": ("5.10-amd64",)}


def test_missing_member_of_existing_root_is_field_missing(kernels: KernelSet) -> None:
    got = _diags(kernels, "struct task_struct___o { long state; } "
                          "__attribute__((preserve_access_index));",
                 "    bpf_printk(\"%ld\", BPF_CORE_READ((struct task_struct___o *)ctx, state));")
    assert got == {"field-missing": ("6.1-amd64", "6.12-amd64")}


def test_typedef_root_without_kernel_typedef(kernels: KernelSet) -> None:
    got = _diags(kernels, "typedef struct task_struct task_t;",
                 "    task_t *t = ctx;\n    bpf_printk(\"%d\", BPF_CORE_READ(t, pid));")
    assert got == {"typedef-root": ALL}


def test_typedef_root_with_kernel_typedef(kernels: KernelSet) -> None:
    got = _diags(kernels, "",
                 "    pg_data_t *p = ctx;\n    bpf_printk(\"%d\", BPF_CORE_READ(p, node_id));")
    assert got == {}
