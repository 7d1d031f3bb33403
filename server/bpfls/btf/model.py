"""A small typed view over the BTF type section.

Objects here are thin views: a :class:`Type` remembers its id and where its record starts in the
type section; names, members, parameters and values are decoded from the raw words on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from bpfls.btf.kinds import MAX_KIND, MODIFIER_KINDS, SIZED_KINDS, Kind

if TYPE_CHECKING:
    from bpfls.btf.btf import Btf

INT_SIGNED = 1
INT_CHAR = 2
INT_BOOL = 4


#: info kind bits → Kind (the walk rejects kinds it does not know, so the table is total there)
_KINDS = tuple(Kind(k) if k <= MAX_KIND else Kind.UNKN for k in range(32))


def _s32(v: int) -> int:
    return v - 0x1_0000_0000 if v & 0x8000_0000 else v


class Member(NamedTuple):
    """A member of a struct or union."""

    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int  # 0 when the member is not a bitfield
    index: int

    @property
    def byte_offset(self) -> int:
        return self.bit_offset // 8


class Param(NamedTuple):
    """A parameter of a FUNC_PROTO (name is "" when unnamed; type_id 0 with no name is `...`)."""

    name: str
    type_id: int


class EnumValue(NamedTuple):
    name: str
    value: int


class VarSecInfo(NamedTuple):
    """A variable placed in a DATASEC."""

    type_id: int
    offset: int
    size: int


class ArrayInfo(NamedTuple):
    type_id: int
    index_type_id: int
    nelems: int


class Type:
    """One BTF type. ``Btf[id]`` hands these out; they are cached per Btf."""

    __slots__ = ("btf", "id", "_o", "info", "kind", "_name", "_members")

    def __init__(self, btf: Btf, type_id: int, word_off: int, info: int) -> None:
        self.btf = btf
        self.id = type_id
        self._o = word_off  # index of the record's first word in btf's own word array
        self.info = info
        self.kind: Kind = _KINDS[(info >> 24) & 0x1F]
        self._name: str | None = None
        self._members: tuple | None = None

    # -- header -------------------------------------------------------------------------------
    @property
    def kind_name(self) -> str:
        return self.kind.name

    @property
    def vlen(self) -> int:
        return self.info & 0xFFFF

    @property
    def kflag(self) -> bool:
        return bool(self.info >> 31)

    @property
    def name_off(self) -> int:
        return self.btf._w[self._o]

    @property
    def name(self) -> str:
        """The type's name, "" for anonymous types."""
        if self._name is None:
            self._name = self.btf.str_at(self.name_off, self.id)
        return self._name

    @property
    def _word2(self) -> int:
        return self.btf._w[self._o + 2]

    @property
    def size(self) -> int:
        """The size word of sized kinds (INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT).

        For other kinds use :meth:`Btf.size_of`.
        """
        if self.kind not in SIZED_KINDS:
            raise TypeError(f"{self.kind.name} [{self.id}] has no size word")
        return self._word2

    @property
    def type_id(self) -> int:
        """The referenced type id of PTR, TYPEDEF, modifiers, FUNC, VAR, DECL_TAG, TYPE_TAG."""
        kind = self.kind
        if kind in SIZED_KINDS or kind in (Kind.ARRAY, Kind.FUNC_PROTO, Kind.FWD):
            if kind == Kind.ARRAY:
                return self.array.type_id
            if kind == Kind.FUNC_PROTO:
                return self._word2
            raise TypeError(f"{kind.name} [{self.id}] references no type")
        return self._word2

    @property
    def type(self) -> Type:
        return self.btf[self.type_id]

    @property
    def is_modifier(self) -> bool:
        return self.kind in MODIFIER_KINDS

    # -- kind specific ------------------------------------------------------------------------
    def _extra(self, i: int) -> int:
        return self.btf._w[self._o + 3 + i]

    @property
    def int_encoding(self) -> int:
        """INT: bit set of ``INT_SIGNED``, ``INT_CHAR``, ``INT_BOOL``."""
        self._expect(Kind.INT)
        return (self._extra(0) >> 24) & 0x0F

    @property
    def int_offset(self) -> int:
        self._expect(Kind.INT)
        return (self._extra(0) >> 16) & 0xFF

    @property
    def int_bits(self) -> int:
        self._expect(Kind.INT)
        return self._extra(0) & 0xFF

    @property
    def array(self) -> ArrayInfo:
        self._expect(Kind.ARRAY)
        return ArrayInfo(self._extra(0), self._extra(1), self._extra(2))

    @property
    def members(self) -> tuple[Member, ...]:
        """Members of a STRUCT or UNION, decoded on first use."""
        if self._members is None:
            self._expect(Kind.STRUCT, Kind.UNION)
            w = self.btf._w
            base = self._o + 3
            kflag = self.kflag
            out = []
            for i in range(self.vlen):
                p = base + 3 * i
                name = self.btf.str_at(w[p], self.id)
                off = w[p + 2]
                if kflag:
                    out.append(Member(name, w[p + 1], off & 0xFFFFFF, off >> 24, i))
                else:
                    out.append(Member(name, w[p + 1], off, 0, i))
            self._members = tuple(out)
        return self._members

    def member_at(self, i: int) -> Member:
        """Member ``i`` of a STRUCT or UNION, decoded alone (the others are not)."""
        if self._members is not None:
            return self._members[i]
        self._expect(Kind.STRUCT, Kind.UNION)
        if not 0 <= i < self.vlen:
            raise IndexError(f"member index {i} out of range")
        w = self.btf._w
        p = self._o + 3 + 3 * i
        name = self.btf.str_at(w[p], self.id)
        off = w[p + 2]
        if self.kflag:
            return Member(name, w[p + 1], off & 0xFFFFFF, off >> 24, i)
        return Member(name, w[p + 1], off, 0, i)

    def member(self, name: str) -> Member | None:
        """The directly declared member called ``name`` (anonymous members are not searched)."""
        for m in self.members:
            if m.name == name:
                return m
        return None

    @property
    def params(self) -> tuple[Param, ...]:
        self._expect(Kind.FUNC_PROTO)
        w = self.btf._w
        base = self._o + 3
        return tuple(
            Param(self.btf.str_at(w[base + 2 * i], self.id), w[base + 2 * i + 1])
            for i in range(self.vlen)
        )

    @property
    def return_type_id(self) -> int:
        self._expect(Kind.FUNC_PROTO)
        return self._word2

    @property
    def values(self) -> tuple[EnumValue, ...]:
        """Enumerators of ENUM / ENUM64, signed or unsigned as the kind_flag says."""
        kind = self.kind
        self._expect(Kind.ENUM, Kind.ENUM64)
        w = self.btf._w
        base = self._o + 3
        signed = self.kflag
        out = []
        if kind == Kind.ENUM:
            for i in range(self.vlen):
                v = w[base + 2 * i + 1]
                out.append(EnumValue(self.btf.str_at(w[base + 2 * i], self.id),
                                     _s32(v) if signed else v))
        else:
            for i in range(self.vlen):
                p = base + 3 * i
                v = (w[p + 2] << 32) | w[p + 1]
                if signed and v & (1 << 63):
                    v -= 1 << 64
                out.append(EnumValue(self.btf.str_at(w[p], self.id), v))
        return tuple(out)

    @property
    def linkage(self) -> int:
        """FUNC: vlen holds linkage; VAR: the extra word does."""
        kind = self.kind
        if kind == Kind.FUNC:
            return self.vlen
        self._expect(Kind.VAR)
        return self._extra(0)

    @property
    def secinfos(self) -> tuple[VarSecInfo, ...]:
        self._expect(Kind.DATASEC)
        w = self.btf._w
        base = self._o + 3
        return tuple(VarSecInfo(w[base + 3 * i], w[base + 3 * i + 1], w[base + 3 * i + 2])
                     for i in range(self.vlen))

    @property
    def component_idx(self) -> int:
        """DECL_TAG: -1 for the type itself, else the member or parameter index."""
        self._expect(Kind.DECL_TAG)
        return _s32(self._extra(0))

    def _expect(self, *kinds: Kind) -> None:
        if self.kind not in kinds:
            want = "/".join(k.name for k in kinds)
            raise TypeError(f"{self.kind.name} [{self.id}] is not {want}")

    # -- presentation -------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<{self.kind.name} [{self.id}] {self.name!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Type) and other.btf is self.btf and other.id == self.id

    def __hash__(self) -> int:
        return hash((id(self.btf), self.id))


class VoidType(Type):
    """Type id 0."""

    __slots__ = ()

    def __init__(self, btf: Btf) -> None:
        super().__init__(btf, 0, -1, 0)
        self._name = "void"

    @property
    def kind_name(self) -> str:
        return "VOID"

    @property
    def name_off(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<void [0]>"
