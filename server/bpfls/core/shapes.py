"""Structural shapes of local types and relocations: what two objects' BTFs have in common.

Objects built from the same headers carry the same local types under different ids. A
relocation's outcome on a kernel depends on its kind, its access and what libbpf reads of the
local types while matching and computing it. :func:`relocation_shape` gives a hashable value
that is equal for two relocations (of any objects) when all of that is equal, so one
resolved for one object can be reused for the other on the same kernel:

- field relocations (``bpf_core_spec_match`` + ``bpf_core_calc_field_relo``): the root's name
  and kind, the raw access, each step's member name, bitfield size and member type as
  ``bpf_core_fields_are_compat`` reads it, and the local field's layout (offset, size, shifts,
  signedness) and type (the load-size adjustment compares it);
- type relocations (``bpf_core_types_are_compat``): the root through pointers, arrays,
  typedefs, modifiers and function prototypes, down to structs, unions, enums and forward
  declarations, which are compared by kind only (the candidate search compared the root's
  name);
- enumerator relocations: the whole enum.

A type's *shallow* shape stands for a named struct, union, enum or forward declaration by its
kind and name, and goes through everything else; its *deep* shape holds a composite's members
and their types too. Both are at least as fine as what libbpf compares, so equal shapes mean
equal outcomes. ``type_matches`` (``bpf_core_types_match``) reads whole types through
pointers: it is not shared.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable

from bpfls.btf import Btf, BtfError, Kind
from bpfls.btf.kinds import MODIFIER_KINDS
from bpfls.core.calc import FieldLayout, field_layout
from bpfls.core.relo import Relocation, ReloKind
from bpfls.core.spec import Spec, SpecError

#: how deep a shape may nest before the type is treated as one that cannot be shared
MAX_DEPTH = 64

_NAMED_STOP = frozenset({Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD})


#: every shape met so far → a small number standing for it, so that a shape is a flat tuple
#: of numbers and strings (cheap to hash) whatever the type's depth; once this many are known,
#: new ones are not shared
MAX_SHAPES = 1_000_000
_INTERNED: dict[tuple, int] = {}


def _intern(shape: tuple) -> int:
    n = _INTERNED.get(shape)
    if n is None:
        if len(_INTERNED) >= MAX_SHAPES:
            raise Unshapeable(shape[0])
        n = _INTERNED[shape] = len(_INTERNED) + 1
    return n


class Unshapeable(Exception):
    """A type whose shape is not computed (a cycle without a name, too deep, malformed)."""


class LocalShapes:
    """The shapes of one local BTF's types, each computed once."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self._deep: dict[int, int] = {}
        self._shallow: dict[int, int] = {}
        self._busy_deep: set[int] = set()
        self._busy_shallow: set[int] = set()

    def deep(self, type_id: int) -> int | None:
        """The shape of ``type_id`` with everything it holds (``None``: do not share)."""
        try:
            return self._deep_of(type_id, 0)
        except (Unshapeable, BtfError, TypeError, IndexError, ValueError, RecursionError):
            return None

    def shallow(self, type_id: int) -> int | None:
        """The shape of ``type_id`` down to the named structs, unions, enums and forward
        declarations it reaches, which stand by kind and name (``None``: do not share)."""
        try:
            return self._shallow_of(type_id, 0)
        except (Unshapeable, BtfError, TypeError, IndexError, ValueError, RecursionError):
            return None

    def _deep_of(self, tid: int, depth: int) -> int:
        return self._shape_of(tid, depth, True)

    def _shallow_of(self, tid: int, depth: int) -> int:
        return self._shape_of(tid, depth, False)

    def _shape_of(self, tid: int, depth: int, deep: bool) -> int:
        memo, busy = ((self._deep, self._busy_deep) if deep
                      else (self._shallow, self._busy_shallow))
        hit = memo.get(tid)
        if hit is not None:
            return hit
        if depth > MAX_DEPTH or tid in busy:
            raise Unshapeable(tid)
        busy.add(tid)
        try:
            out = memo[tid] = _intern(self._make(tid, depth, deep=deep))
        finally:
            busy.discard(tid)
        return out

    def _make(self, tid: int, depth: int, *, deep: bool) -> tuple:
        if tid == 0:
            return ("void",)
        t = self.btf[tid]
        k = t.kind
        d = depth + 1
        # what is behind a pointer is read no further than a named type's kind and name
        inner = self._deep_of if deep else self._shallow_of
        if k == Kind.INT:
            return ("int", t.name, t.size, t.int_encoding, t.int_offset, t.int_bits)
        if k == Kind.FLOAT:
            return ("float", t.name, t.size)
        if k == Kind.PTR:
            return ("ptr", self._shallow_of(t.type_id, d))
        if k in MODIFIER_KINDS:
            return (int(k), t.name, inner(t.type_id, d))
        if k == Kind.TYPEDEF:
            return ("typedef", t.name, inner(t.type_id, d))
        if k == Kind.ARRAY:
            a = t.array
            return ("array", a.nelems, inner(a.type_id, d))
        if k in _NAMED_STOP and not deep and t.name:
            return (int(k), t.name)
        if k in (Kind.STRUCT, Kind.UNION):
            return (int(k), t.name, t.size, t.kflag,
                    tuple((m.name, m.bit_offset, m.bitfield_size, self._deep_of(m.type_id, d))
                          for m in t.members))
        if k in (Kind.ENUM, Kind.ENUM64):
            return (int(k), t.name, t.size, t.kflag, t.values)
        if k == Kind.FWD:
            return (int(k), t.name, t.kflag)
        if k == Kind.FUNC_PROTO:
            return ("proto", inner(t.return_type_id, d),
                    tuple((p.name, inner(p.type_id, d)) for p in t.params))
        if k == Kind.FUNC:
            return ("func", t.name, inner(t.type_id, d))
        raise Unshapeable(tid)


_SHAPES: weakref.WeakKeyDictionary[Btf, LocalShapes] = weakref.WeakKeyDictionary()


def local_shapes(btf: Btf) -> LocalShapes:
    """The :class:`LocalShapes` of ``btf``, kept as long as the BTF is."""
    s = _SHAPES.get(btf)
    if s is None:
        s = _SHAPES[btf] = LocalShapes(btf)
    return s


def relocation_shape(relo: Relocation, spec: Spec, big_endian: bool
                     ) -> tuple[Hashable | None, FieldLayout | None]:
    """The shape of a relocation whose local spec is ``spec`` (see the module doc; ``None``
    when it is not to be shared), and for a field relocation the local field's layout."""
    kind = relo.kind
    if kind == ReloKind.TYPE_MATCHES or kind == ReloKind.TYPE_ID_LOCAL:
        return None, None
    shapes = local_shapes(relo.local)
    if kind.is_type:
        root = shapes.shallow(relo.type_id)
        return (None if root is None else (root, kind)), None
    if kind.is_enumval:
        root = shapes.deep(relo.type_id)
        return (None if root is None else (root, kind, relo.access)), None
    root = shapes.shallow(relo.type_id)
    if root is None:
        return None, None
    btf = relo.local
    steps: list[tuple[str | None, int, int | None]] = []
    try:
        for a in spec.acc:
            if a.name is None:
                steps.append((None, a.idx, shapes.shallow(a.type_id)))
            else:
                m = btf[a.type_id].member_at(a.idx)
                steps.append((a.name, m.bitfield_size, shapes.shallow(m.type_id)))
        lay = field_layout(spec, big_endian)
    except (SpecError, BtfError, TypeError, IndexError, ValueError):
        return None, None
    final = shapes.shallow(lay.type_id)
    if final is None or any(s[2] is None for s in steps):
        return None, None
    return (root, kind, relo.access, tuple(steps), spec.bit_offset, lay.byte_offset,
            lay.byte_size, lay.bit_offset, lay.bit_size, lay.bitfield, lay.signed, lay.lshift,
            lay.rshift, lay.array_element, final), lay
