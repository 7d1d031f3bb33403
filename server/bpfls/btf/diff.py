"""What changed in a type between two BTF files (``bpfls btf diff A B [TYPE...]``).

Structs and unions are compared field by field, fields matched by name. Members of anonymous
structs and unions are flattened the way C (and CO-RE field access) sees them: an anonymous
union's members are fields of the enclosing struct under their own names, so a field that moves
into an anonymous union is reported as moved, not as removed and added. A named member whose type
is an anonymous struct or union is flattened with a dotted path (``rcu_data.rcu_head``); a member
whose type is a named struct stays one field (compare that struct by its own name).

Output (see :func:`format_diff`), one block per type, stable and greppable::

    struct task_struct: size 9792 -> 9856
      - state            volatile long int  @16
      + __state          unsigned int       @24
      ~ stack            @24 -> @32
      ~ flags            type unsigned int -> long unsigned int
      ~ frozen           bits 1 -> 2
    struct old_thing: only in A (size 16)
    enum bpf_func_id: size 4
      + BPF_FUNC_new = 212
      ~ BPF_FUNC_moved = 3 -> 4

Positions are ``@BYTE`` or, for bitfields and fields not on a byte boundary, ``@BYTE.BIT`` with
``:WIDTH`` for bitfields (``@24.3:5``: byte 24, bit 3, five bits wide). Field lines are ordered
by offset in B; a ``-`` line follows the field that preceded it in A.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from bpfls.btf.btf import Btf, find_by_spec
from bpfls.btf.cnames import base_name, type_name
from bpfls.btf.errors import BtfError
from bpfls.btf.kinds import Kind
from bpfls.btf.model import Type

__all__ = ["Change", "Field", "TypeDiff", "diff_btf", "diff_types", "flatten", "format_diff"]

MAX_NESTING = 32

#: change categories
ADDED = "added"
REMOVED = "removed"
RETYPED = "retyped"
MOVED = "moved"
RESIZED = "resized"
VALUE = "value"          # an enumerator's value changed
REDEFINED = "redefined"  # a typedef, function, variable... now means something else

ONLY_A = "only-a"
ONLY_B = "only-b"
CHANGED = "changed"
KIND = "kind"  # same name, different kind (only for bare names)


class Field(NamedTuple):
    """One member of a struct or union, anonymous members flattened."""

    path: str
    type: str           # C type name, e.g. "struct list_head *"
    bit_offset: int     # from the start of the outermost struct
    bitfield_size: int  # 0 when not a bitfield

    @property
    def position(self) -> str:
        byte, bit = divmod(self.bit_offset, 8)
        pos = f"@{byte}.{bit}" if bit or self.bitfield_size else f"@{byte}"
        return f"{pos}:{self.bitfield_size}" if self.bitfield_size else pos


class Change(NamedTuple):
    """One difference inside a type.

    ``old``/``new`` are :class:`Field` for struct members, ``int`` enumerator values for enums,
    C text for :data:`REDEFINED`; ``None`` on the side where the item does not exist.
    """

    category: str
    name: str
    old: Field | int | str | None
    new: Field | int | str | None


@dataclass
class TypeDiff:
    """The differences of one type (by spec, e.g. ``struct task_struct``) between A and B."""

    spec: str
    status: str                    # ONLY_A, ONLY_B, CHANGED or KIND
    size_a: int | None = None
    size_b: int | None = None
    kind_a: str | None = None
    kind_b: str | None = None
    changes: list[Change] = field(default_factory=list)


# -- helpers ----------------------------------------------------------------------------------

class _Names:
    """``type_name`` memoised per type id (many members share types)."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.cache: dict[int, str] = {}

    def __call__(self, tid: int) -> str:
        s = self.cache.get(tid)
        if s is None:
            s = self.cache[tid] = type_name(self.btf, tid)
        return s


def _spec_of(t: Type) -> str:
    kind = t.kind
    if kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD):
        return base_name(t)
    return f"{kind.name.lower()} {t.name}"


def _kind_word(t: Type) -> str:
    kind = t.kind
    if kind in (Kind.ENUM, Kind.ENUM64):
        return "enum"
    return kind.name.lower()


def _size(btf: Btf, t: Type) -> int | None:
    if t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.INT, Kind.FLOAT,
                  Kind.DATASEC):
        return t.size
    if t.kind == Kind.TYPEDEF:
        try:
            return btf.size_of(t)
        except BtfError:
            return None
    return None


def flatten(btf: Btf, t: Type, names: _Names | None = None) -> list[Field]:
    """The fields of struct/union ``t`` with anonymous struct/union members flattened."""
    names = names or _Names(btf)
    out: list[Field] = []
    _flatten_into(btf, t, "", 0, names, out, 0)
    seen: dict[str, int] = {}
    result = []
    for f in out:  # a repeated path (malformed or odd BTF) stays distinguishable
        n = seen.get(f.path, 0) + 1
        seen[f.path] = n
        result.append(f if n == 1 else f._replace(path=f"{f.path}#{n}"))
    return result


def _flatten_into(btf: Btf, t: Type, prefix: str, base: int, names: _Names, out: list[Field],
                  depth: int) -> None:
    if depth > MAX_NESTING:
        raise BtfError(f"anonymous members nested too deep or cyclic at [{t.id}]", btf.path,
                       None, t.id)
    for m in t.members:
        mt = btf[m.type_id]
        if mt.kind in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
            mt = btf.skip_modifiers(mt)
        if mt.kind in (Kind.STRUCT, Kind.UNION) and mt.name_off == 0 and not m.bitfield_size:
            sub = f"{prefix}{m.name}." if m.name else prefix
            _flatten_into(btf, mt, sub, base + m.bit_offset, names, out, depth + 1)
        else:
            out.append(Field(prefix + m.name, names(m.type_id), base + m.bit_offset,
                             m.bitfield_size))


def _diff_composite(a: Btf, ta: Type, b: Btf, tb: Type, na: _Names, nb: _Names) -> list[Change]:
    fa = flatten(a, ta, na)
    fb = flatten(b, tb, nb)
    if fa == fb:
        return []
    da = {f.path: f for f in fa}
    db = {f.path: f for f in fb}
    # Order: by offset in B; a removed field goes right after the field that preceded it in A
    # and survives in B (its "anchor"), so the output reads top to bottom like the struct.
    changes: list[tuple[tuple[int, int, int], Change]] = []
    anchor = -1
    for i, f in enumerate(fa):
        kept = db.get(f.path)
        if kept is None:
            changes.append(((anchor, 1, i), Change(REMOVED, f.path, f, None)))
        else:
            anchor = kept.bit_offset
    for i, f in enumerate(fb):
        old = da.get(f.path)
        key = (f.bit_offset, 0, i)
        if old is None:
            changes.append((key, Change(ADDED, f.path, None, f)))
            continue
        if old.type != f.type:
            changes.append((key, Change(RETYPED, f.path, old, f)))
        if old.bitfield_size != f.bitfield_size:
            changes.append((key, Change(RESIZED, f.path, old, f)))
        if old.bit_offset != f.bit_offset:
            changes.append((key, Change(MOVED, f.path, old, f)))
    changes.sort(key=lambda c: c[0])  # stable: equal keys keep the order above
    return [c for _, c in changes]


def _diff_enum(ta: Type, tb: Type) -> list[Change]:
    va = ta.values
    vb = tb.values
    if va == vb:
        return []
    da: dict[str, int] = {}
    for v in va:
        da.setdefault(v.name, v.value)
    db: dict[str, int] = {}
    for v in vb:
        db.setdefault(v.name, v.value)
    changes = []
    for name, val in da.items():
        if name not in db:
            changes.append(Change(REMOVED, name, val, None))
    for name, val in db.items():
        old = da.get(name)
        if name not in da:
            changes.append(Change(ADDED, name, None, val))
        elif old != val:
            changes.append(Change(VALUE, name, old, val))
    return changes


def _definition(btf: Btf, t: Type) -> str:
    """What a non-composite, non-enum type means, as C-ish text."""
    kind = t.kind
    if kind in (Kind.TYPEDEF, Kind.VAR):
        return type_name(btf, t.type_id)
    if kind == Kind.FUNC:
        return type_name(btf, t)
    if kind == Kind.INT:
        enc = "signed" if t.int_encoding & 1 else "unsigned"
        extra = ", char" if t.int_encoding & 2 else ", bool" if t.int_encoding & 4 else ""
        return f"{enc} {t.int_bits}-bit integer in {t.size} bytes{extra}"
    if kind == Kind.FLOAT:
        return f"{t.size}-byte float"
    if kind == Kind.FWD:
        return base_name(t) + " (forward declaration)"
    if kind == Kind.DATASEC:
        return f"section of {t.size} bytes with {t.vlen} variables"
    return type_name(btf, t)


def diff_types(a: Btf, ta: Type | None, b: Btf, tb: Type | None,
               names: tuple[_Names, _Names] | None = None) -> TypeDiff | None:
    """The difference between one type in A and one in B (``None``: no difference)."""
    if ta is None and tb is None:
        return None
    if tb is None:
        assert ta is not None
        return TypeDiff(_spec_of(ta), ONLY_A, size_a=_size(a, ta), kind_a=_kind_word(ta))
    if ta is None:
        return TypeDiff(_spec_of(tb), ONLY_B, size_b=_size(b, tb), kind_b=_kind_word(tb))
    na, nb = names or (_Names(a), _Names(b))
    ka, kb = _kind_word(ta), _kind_word(tb)
    size_a, size_b = _size(a, ta), _size(b, tb)
    if ka != kb:
        return TypeDiff(ta.name or _spec_of(ta), KIND, size_a, size_b, ka, kb)
    if ta.kind in (Kind.STRUCT, Kind.UNION):
        changes = _diff_composite(a, ta, b, tb, na, nb)
    elif ta.kind in (Kind.ENUM, Kind.ENUM64):
        changes = _diff_enum(ta, tb)
    else:
        da, db = _definition(a, ta), _definition(b, tb)
        changes = [] if da == db else [Change(REDEFINED, "", da, db)]
    if not changes and size_a == size_b:
        return None
    return TypeDiff(_spec_of(ta), CHANGED, size_a, size_b, ka, kb, changes)


def _named_composites(btf: Btf) -> dict[tuple[int, str], Type]:
    """Every named struct and union of ``btf`` (own types), the first of each name."""
    w = btf._w
    out: dict[tuple[int, str], Type] = {}
    start = btf.start_id
    for idx, o in enumerate(btf._offs):
        k = (w[o + 1] >> 24) & 0x1F
        if (k == 4 or k == 5) and w[o]:
            t = btf[start + idx]
            key = (k, t.name)
            if key not in out:
                out[key] = t
    return out


def _lookup(btf: Btf, spec: str, like: Type | None) -> Type | None:
    """``find_by_spec``, preferring the kind of ``like`` for a bare name."""
    if like is not None and " " not in spec.strip() and not spec.strip().startswith("["):
        kind = like.kind
        if kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
            same = find_by_spec(btf, _spec_of(like))
            if same is not None:
                return same
    t = find_by_spec(btf, spec)
    if t is not None and t.kind in (Kind.STRUCT, Kind.UNION) and t.vlen == 0 and t.size == 0:
        # an empty declaration-only copy; prefer a real definition of the same name
        for other in btf.find_all(t.name, t.kind):
            if other.vlen:
                return other
    return t


def diff_btf(a: Btf, b: Btf, names: list[str] | None = None) -> list[TypeDiff]:
    """Differences between A and B for the named types, or for every named struct and union.

    ``names`` are specs as :func:`find_by_spec` takes them (``struct task_struct``,
    ``enum bpf_func_id``, a bare name, ``[id]``). A spec found in neither file is an error.
    """
    cache = (_Names(a), _Names(b))
    out: list[TypeDiff] = []
    if names:
        for spec in names:
            ta = _lookup(a, spec, None)
            tb = _lookup(b, spec, ta)
            if ta is None and tb is not None:
                ta = _lookup(a, spec, tb)
            if ta is None and tb is None:
                raise BtfError(f"no type {spec!r} in either file ({a.path}, {b.path})")
            d = diff_types(a, ta, b, tb, cache)
            if d is not None:
                out.append(d)
        return out
    ca = _named_composites(a)
    cb = _named_composites(b)
    keys = sorted(set(ca) | set(cb), key=lambda k: (k[1], k[0]))
    for key in keys:
        d = diff_types(a, ca.get(key), b, cb.get(key), cache)
        if d is not None:
            out.append(d)
    return out


# -- text -------------------------------------------------------------------------------------

def _pad(s: str, width: int) -> str:
    return s.ljust(width)


def _format_one(d: TypeDiff, lines: list[str]) -> None:
    if d.status == ONLY_A:
        size = f" (size {d.size_a})" if d.size_a is not None else ""
        lines.append(f"{d.spec}: only in A{size}")
        return
    if d.status == ONLY_B:
        size = f" (size {d.size_b})" if d.size_b is not None else ""
        lines.append(f"{d.spec}: only in B{size}")
        return
    if d.status == KIND:
        lines.append(f"{d.spec}: kind {d.kind_a} -> {d.kind_b}")
        return
    if d.size_a is None and d.size_b is None:
        head = f"{d.spec}:"
    elif d.size_a != d.size_b:
        head = f"{d.spec}: size {d.size_a} -> {d.size_b}"
    else:
        head = f"{d.spec}: size {d.size_a}"
    lines.append(head)
    if d.kind_a == "enum":
        for c in d.changes:
            if c.category == ADDED:
                lines.append(f"  + {c.name} = {c.new}")
            elif c.category == REMOVED:
                lines.append(f"  - {c.name} = {c.old}")
            else:
                lines.append(f"  ~ {c.name} = {c.old} -> {c.new}")
        return
    if d.kind_a not in ("struct", "union"):
        for c in d.changes:
            lines.append(f"  ~ {c.old} -> {c.new}")
        return
    nw = max([16] + [len(c.name) for c in d.changes])
    tw = max([0] + [len(f.type) for c in d.changes for f in (c.old, c.new)
                    if isinstance(f, Field) and c.category in (ADDED, REMOVED)])
    for c in d.changes:
        name = _pad(c.name, nw)
        if c.category in (ADDED, REMOVED):
            f = c.new if c.category == ADDED else c.old
            assert isinstance(f, Field)
            op = "+" if c.category == ADDED else "-"
            lines.append(f"  {op} {name} {_pad(f.type, tw)}  {f.position}")
            continue
        old, new = c.old, c.new
        assert isinstance(old, Field) and isinstance(new, Field)
        if c.category == RETYPED:
            lines.append(f"  ~ {name} type {old.type} -> {new.type}")
        elif c.category == RESIZED:
            lines.append(f"  ~ {name} bits {old.bitfield_size or 'none'} -> "
                         f"{new.bitfield_size or 'none'}")
        else:
            lines.append(f"  ~ {name} {old.position} -> {new.position}")


def format_diff(diffs: Iterable[TypeDiff], a: Btf, b: Btf) -> str:
    """Text for ``bpfls btf diff``: ``""`` when there is no difference."""
    diffs = list(diffs)
    if not diffs:
        return ""
    lines = [f"A: {a.path}", f"B: {b.path}"]
    for d in diffs:
        _format_one(d, lines)
    only_a = sum(d.status == ONLY_A for d in diffs)
    only_b = sum(d.status == ONLY_B for d in diffs)
    changed = len(diffs) - only_a - only_b
    head = "1 type differs" if len(diffs) == 1 else f"{len(diffs)} types differ"
    lines.append(f"{head}: {changed} changed, {only_a} only in A, {only_b} only in B")
    return "\n".join(lines) + "\n"
