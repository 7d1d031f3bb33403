"""BTF kind numbers and names (``include/uapi/linux/btf.h``)."""

from __future__ import annotations

from enum import IntEnum


class Kind(IntEnum):
    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


MAX_KIND = 19

#: Words (u32) that follow the 12-byte common header, per kind: fixed part and per-vlen part.
FIXED_WORDS = (0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0)
VLEN_WORDS = (0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3)

#: Kinds whose third header word is a size (the others hold a type id).
SIZED_KINDS = frozenset({Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.DATASEC,
                         Kind.FLOAT, Kind.ENUM64})
MODIFIER_KINDS = frozenset({Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})

_ALIASES = {
    "int": Kind.INT, "ptr": Kind.PTR, "pointer": Kind.PTR, "array": Kind.ARRAY,
    "struct": Kind.STRUCT, "union": Kind.UNION, "enum": Kind.ENUM, "fwd": Kind.FWD,
    "typedef": Kind.TYPEDEF, "volatile": Kind.VOLATILE, "const": Kind.CONST,
    "restrict": Kind.RESTRICT, "func": Kind.FUNC, "func_proto": Kind.FUNC_PROTO,
    "var": Kind.VAR, "datasec": Kind.DATASEC, "float": Kind.FLOAT, "decl_tag": Kind.DECL_TAG,
    "type_tag": Kind.TYPE_TAG, "enum64": Kind.ENUM64,
}


def parse_kind(kind: str | int | Kind) -> Kind:
    """``"struct"``, ``"STRUCT"``, ``4`` or ``Kind.STRUCT`` → ``Kind.STRUCT``."""
    if isinstance(kind, Kind):
        return kind
    if isinstance(kind, int):
        return Kind(kind)
    try:
        return _ALIASES[kind.lower()]
    except KeyError:
        raise ValueError(f"unknown BTF kind name {kind!r}") from None
