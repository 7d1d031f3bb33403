"""What each configured kernel says about a type, a member, an enumerator or a function: the
facts hover and completion show, with the kernels where they differ or are missing.

A type of the program is looked up in the kernels by its *essential* name (the ``___flavor``
suffix dropped) and kind, as libbpf's candidate search does; the program's own types that do
not relocate (no ``preserve_access_index``, not from ``vmlinux.h``) have no kernel side.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bpfls.btf import Btf, BtfError, Kind
from bpfls.btf.cnames import type_name
from bpfls.core.names import essential_name
from bpfls.source.exprtypes import member_paths

if TYPE_CHECKING:
    from bpfls.btf.model import Member, Type
    from bpfls.project.kernels import Kernel, KernelSet
    from bpfls.source.model import SourceModel

KIND_WORDS = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum",
              Kind.ENUM64: "enum", Kind.TYPEDEF: "typedef", Kind.FWD: "struct",
              Kind.FUNC: "func"}
_KINDS_OF = {"struct": (Kind.STRUCT,), "union": (Kind.UNION,), "enum": (Kind.ENUM, Kind.ENUM64),
             "typedef": (Kind.TYPEDEF,), "func": (Kind.FUNC,)}


def kind_word(t: Type) -> str:
    if t.kind == Kind.FWD:
        return "union" if t.kflag else "struct"
    return KIND_WORDS.get(t.kind, "")


def ordered_kernels(kernels: KernelSet | None) -> list[Kernel]:
    """The loaded kernels, the primary first."""
    if kernels is None:
        return []
    ks = list(kernels.loaded)
    ks.sort(key=lambda k: k.name != kernels.primary)
    return ks


def find_kind(btf: Btf, kind: str, name: str) -> Type | None:
    """The first type called ``name`` of ``kind`` (``struct``, ``union``, ``enum``, ``typedef``,
    ``func``) in ``btf``."""
    kinds = _KINDS_OF.get(kind)
    if kinds is None or not name:
        return None
    try:
        for t in btf.find_all(name):
            if t.kind in kinds:
                return t
    except BtfError:
        return None
    return None


def kernel_side(model: SourceModel, t: Type) -> tuple[str, str] | None:
    """(kind, essential name) under which the kernels know the program's type ``t``; ``None``
    for the program's own types that do not relocate and for anonymous types."""
    try:
        t = model.local.skip_modifiers(t.id)
    except BtfError:
        return None
    if not t.name:
        return None
    kind = kind_word(t)
    if not kind:
        return None
    if t.id >= model.local.start_id and not model.preserve_access_index(t.id) and \
            "___" not in t.name:
        return None
    return kind, essential_name(t.name)


def path_offset(btf: Btf, indices: tuple[int, ...], records: tuple[int, ...],
                member: Member) -> int:
    """Bit offset of a member found through anonymous members from the outer record."""
    off = 0
    try:
        for rid, idx in zip(records, indices, strict=True):
            off += btf[rid].members[idx].bit_offset
    except (BtfError, IndexError, ValueError):
        return member.bit_offset
    return off


@dataclass(frozen=True)
class MemberFact:
    """A member as one kernel (or the program) has it."""

    type: str  # C type name
    bit_offset: int  # from the start of the outer record
    size: int | None  # bytes (None: not sized)
    bitfield_size: int  # bits, 0 when not a bitfield

    def where(self) -> str:
        if self.bitfield_size:
            return f"{self.bit_offset // 8} bit {self.bit_offset % 8}"
        if self.bit_offset % 8:
            return f"{self.bit_offset // 8} bit {self.bit_offset % 8}"
        return str(self.bit_offset // 8)

    def sized(self) -> str:
        if self.bitfield_size:
            return f"{self.bitfield_size} bit{'s' if self.bitfield_size != 1 else ''}"
        return "?" if self.size is None else str(self.size)


def member_fact(rec: Type, name: str) -> MemberFact | None:
    """``name`` in the struct or union ``rec`` (anonymous members searched), or ``None``."""
    try:
        hit = member_paths(rec).get(name)
    except (BtfError, RecursionError):
        return None
    if hit is None:
        return None
    indices, records, m = hit
    btf = rec.btf
    try:
        tname = type_name(btf, m.type_id)
    except (BtfError, RecursionError, KeyError):
        tname = "?"
    try:
        size: int | None = btf.size_of(m.type_id)
    except (BtfError, TypeError):
        size = None
    return MemberFact(tname, path_offset(btf, indices, records, m), size, m.bitfield_size)


@dataclass(frozen=True)
class KernelMember:
    kernel: str
    status: str  # "present", "missing" or "no <kind> <name>"
    fact: MemberFact | None


def member_across(kernels: KernelSet | None, kind: str, rec_name: str,
                  member: str) -> list[KernelMember]:
    """The member in each loaded kernel (primary first): status ``present``, ``missing`` or
    ``no <kind> <name>``."""
    out: list[KernelMember] = []
    for k in ordered_kernels(kernels):
        rec = find_kind(k.btf, kind, rec_name)  # type: ignore[arg-type]
        if rec is None:
            out.append(KernelMember(k.name, f"no {kind} {rec_name}", None))
            continue
        f = member_fact(rec, member)
        out.append(KernelMember(k.name, "missing" if f is None else "present", f))
    return out


def member_difference(f: MemberFact, reference: MemberFact) -> str:
    """How a kernel's member compares with the reference one: ``different type``,
    ``different offset``, ``different size`` or ``same``."""
    if f.type != reference.type:
        return "different type"
    if f.bit_offset != reference.bit_offset:
        return "different offset"
    if f.size != reference.size or f.bitfield_size != reference.bitfield_size:
        return "different size"
    return "same"


@dataclass(frozen=True)
class KernelType:
    kernel: str
    status: str  # "same", "missing", "differs"
    detail: str = ""
    type: Type | None = None


_SHAPES: weakref.WeakKeyDictionary[Btf, dict[int, tuple]] = weakref.WeakKeyDictionary()


def _shape(t: Type) -> tuple:
    """What is compared between kernels: size and members (or values, or the target type)."""
    per = _SHAPES.get(t.btf)
    if per is None:
        per = _SHAPES[t.btf] = {}
    hit = per.get(t.id)
    if hit is None:
        hit = per[t.id] = _compute_shape(t)
    return hit


def _compute_shape(t: Type) -> tuple:
    btf = t.btf
    try:
        r = btf.resolve(t.id) if t.kind == Kind.TYPEDEF else t
        if r.kind in (Kind.STRUCT, Kind.UNION):
            return ("rec", r.size, tuple((m.name, m.bit_offset, m.bitfield_size)
                                         for m in r.members))
        if r.kind in (Kind.ENUM, Kind.ENUM64):
            return ("enum", r.size, tuple((v.name, v.value) for v in r.values))
        return ("other", type_name(btf, t.type_id) if t.kind == Kind.TYPEDEF else r.kind)
    except (BtfError, RecursionError, TypeError):
        return ("?",)


def _compare(ref: tuple, other: tuple) -> str:
    if ref == other:
        return ""
    if ref[0] != other[0] or ref[0] not in ("rec", "enum"):
        return "different definition"
    parts = []
    if ref[1] != other[1]:
        parts.append(f"size {other[1]}")
    a = {x[0]: x[1:] for x in ref[2]}
    b = {x[0]: x[1:] for x in other[2]}
    word = "member" if ref[0] == "rec" else "value"
    missing = [n for n in a if n not in b]
    extra = [n for n in b if n not in a]
    moved = [n for n in a if n in b and a[n] != b[n]]
    if missing:
        parts.append(f"{len(missing)} {word}{'s' if len(missing) > 1 else ''} missing")
    if extra:
        parts.append(f"{len(extra)} more {word}{'s' if len(extra) > 1 else ''}")
    if moved:
        what = "moved" if word == "member" else "with other values"
        parts.append(f"{len(moved)} {word}{'s' if len(moved) > 1 else ''} {what}")
    return ", ".join(parts) or "different definition"


def type_across(kernels: KernelSet | None, kind: str, name: str,
                reference: Type | None) -> list[KernelType]:
    """The type in each loaded kernel (primary first), compared with ``reference``."""
    out: list[KernelType] = []
    ref = _shape(reference) if reference is not None else None
    for k in ordered_kernels(kernels):
        t = find_kind(k.btf, kind, name)  # type: ignore[arg-type]
        if t is None:
            out.append(KernelType(k.name, "missing"))
            continue
        if ref is None:
            out.append(KernelType(k.name, "present", "", t))
            continue
        d = _compare(ref, _shape(t))
        out.append(KernelType(k.name, "differs" if d else "same", d, t))
    return out


def local_enumerator(model: SourceModel, name: str):
    """The program's view of an enumerator (its ``LocalTypes.enumerator`` info), or None."""
    lt = model.scope.types if model.scope is not None else None
    if lt is None:
        return None
    try:
        return lt.enumerator(name)
    except (BtfError, KeyError, AttributeError):
        return None


def enumerator_value(btf: Btf, name: str) -> tuple[int, int] | None:
    """(value, enum type id) of the first enumerator called ``name`` in ``btf``."""
    try:
        for tid, i in btf.enumerators_named(name):
            try:
                return btf[tid].values[i].value, tid
            except (BtfError, TypeError, IndexError):
                continue
    except (BtfError, AttributeError):
        return None
    return None


def enum_value_across(kernels: KernelSet | None, name: str) -> list[tuple[str, int | None]]:
    """An enumerator's value in each loaded kernel (``None``: missing)."""
    out: list[tuple[str, int | None]] = []
    for k in ordered_kernels(kernels):
        hit = enumerator_value(k.btf, name)  # type: ignore[arg-type]
        out.append((k.name, hit[0] if hit is not None else None))
    return out
