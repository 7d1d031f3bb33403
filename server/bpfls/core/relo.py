"""The relocation record shared by the source model, the resolver and the reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from bpfls.btf import Btf


class ReloKind(IntEnum):
    """``enum bpf_core_relo_kind``; ``str()`` gives libbpf's name."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12

    def __str__(self) -> str:
        return RELO_KIND_NAMES[self]

    @property
    def is_field(self) -> bool:
        return self <= ReloKind.FIELD_RSHIFT_U64

    @property
    def is_type(self) -> bool:
        return self in _TYPE_KINDS

    @property
    def is_enumval(self) -> bool:
        return self in _ENUMVAL_KINDS

    @property
    def is_check(self) -> bool:
        """An existence check (``field_exists``, ``type_exists``, ``enumval_exists``,
        ``type_matches``): a yes/no answer that can guard code."""
        return self in _CHECK_KINDS


_TYPE_KINDS = frozenset({ReloKind.TYPE_ID_LOCAL, ReloKind.TYPE_ID_TARGET, ReloKind.TYPE_EXISTS,
                         ReloKind.TYPE_SIZE, ReloKind.TYPE_MATCHES})
_ENUMVAL_KINDS = frozenset({ReloKind.ENUMVAL_EXISTS, ReloKind.ENUMVAL_VALUE})
_CHECK_KINDS = frozenset({ReloKind.FIELD_EXISTS, ReloKind.TYPE_EXISTS, ReloKind.ENUMVAL_EXISTS,
                          ReloKind.TYPE_MATCHES})

RELO_KIND_NAMES = {
    ReloKind.FIELD_BYTE_OFFSET: "byte_off",
    ReloKind.FIELD_BYTE_SIZE: "byte_sz",
    ReloKind.FIELD_EXISTS: "field_exists",
    ReloKind.FIELD_SIGNED: "signed",
    ReloKind.FIELD_LSHIFT_U64: "lshift_u64",
    ReloKind.FIELD_RSHIFT_U64: "rshift_u64",
    ReloKind.TYPE_ID_LOCAL: "local_type_id",
    ReloKind.TYPE_ID_TARGET: "target_type_id",
    ReloKind.TYPE_EXISTS: "type_exists",
    ReloKind.TYPE_SIZE: "type_size",
    ReloKind.ENUMVAL_EXISTS: "enumval_exists",
    ReloKind.ENUMVAL_VALUE: "enumval_value",
    ReloKind.TYPE_MATCHES: "type_matches",
}
KIND_BY_NAME = {v: k for k, v in RELO_KIND_NAMES.items()}


@dataclass(frozen=True)
class Relocation:
    """One CO-RE relocation as clang emits it (``struct bpf_core_relo``).

    ``local`` is the BTF the program was compiled with (for source analysis: the primary
    kernel's BTF with the program's own type definitions as split BTF over it), ``type_id`` the
    local root type, ``access`` the raw access string as integers (``"0:1:2"`` → ``(0, 1, 2)``).
    """

    kind: ReloKind
    local: Btf
    type_id: int
    access: tuple[int, ...]

    @property
    def access_str(self) -> str:
        return ":".join(str(i) for i in self.access)
