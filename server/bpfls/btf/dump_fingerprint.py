"""Is a header the ``bpftool btf dump ... format c`` of a kernel? A fingerprint of its types.

A dump's *type definitions* are every line that is not a preprocessor directive, a comment
line, an ``extern`` declaration or blank. What bpftool versions (or a build script) put around
them — the include guard's name, the ``preserve_access_index`` pragma, the ``__ksym`` and
``__weak`` macros, the kfunc prototypes of bpftool ≥ 7.5 — is left out, so a header and a
kernel have the same :class:`DumpPrint` exactly when the header declares the kernel's types as
:func:`bpfls.btf.dump_c.dump_c` writes them. Any edit to a definition changes the digest.

A kernel's print needs its whole dump (about a second): it is kept on disk
(``<cache>/<content hash>.dumpprint``, the directory of :mod:`bpfls.btf.cache`) and in memory.
:func:`may_match` compares the counts of named struct and union definitions, which the BTF
gives without a dump, so kernels that cannot match are never dumped.
"""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from dataclasses import dataclass

from bpfls.btf import cache
from bpfls.btf.btf import Btf

FORMAT_VERSION = 1

#: lines that are not type definitions: directives, comment lines, extern declarations, blank
_NOT_TYPES = re.compile(rb"^(?:[ \t]*#|[ \t]*/[*/]|extern\b|[ \t]*\r?$).*(?:\n|\Z)", re.M)
_STRUCT_DEF = re.compile(rb"^struct \w+ \{", re.M)
_UNION_DEF = re.compile(rb"^union \w+ \{", re.M)

_K_STRUCT, _K_UNION = 4, 5


@dataclass(frozen=True)
class DumpPrint:
    """The digest of a dump's type definitions, and how many named structs and unions it
    defines (the cheap part, known for a kernel without dumping it)."""

    digest: bytes
    structs: int
    unions: int

    @property
    def counts(self) -> tuple[int, int]:
        return self.structs, self.unions

    def to_text(self) -> str:
        return f"{self.digest.hex()} {self.structs} {self.unions}\n"

    @classmethod
    def from_text(cls, text: str) -> DumpPrint | None:
        parts = text.split()
        if len(parts) != 3:
            return None
        try:
            return cls(bytes.fromhex(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError:
            return None


def text_print(data: bytes) -> DumpPrint:
    """The print of a header's text (any header: only a dump's matches a kernel's)."""
    types = _NOT_TYPES.sub(b"", data)
    h = hashlib.blake2b(types, digest_size=16, person=b"bpfls-dumpprint")
    return DumpPrint(h.digest(), len(_STRUCT_DEF.findall(types)),
                     len(_UNION_DEF.findall(types)))


_COUNTS: weakref.WeakKeyDictionary[Btf, tuple[int, int]] = weakref.WeakKeyDictionary()
_PRINTS: weakref.WeakKeyDictionary[Btf, DumpPrint] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def definition_counts(btf: Btf) -> tuple[int, int]:
    """(named structs, named unions) of ``btf``'s own types: the definitions its dump has."""
    hit = _COUNTS.get(btf)
    if hit is not None:
        return hit
    w = btf._w
    structs = unions = 0
    for off in btf._offs:
        if w[off]:  # a name
            kind = (w[off + 1] >> 24) & 0x1f
            if kind == _K_STRUCT:
                structs += 1
            elif kind == _K_UNION:
                unions += 1
    _COUNTS[btf] = (structs, unions)
    return structs, unions


def may_match(header: DumpPrint, btf: Btf) -> bool:
    """False when ``header`` cannot be ``btf``'s dump (checked without dumping it)."""
    if btf.base is not None:
        return False  # split BTF (a module) is never a vmlinux.h
    return header.counts == definition_counts(btf)


def kernel_print(btf: Btf, *, use_cache: bool = True) -> DumpPrint:
    """The print of ``btf``'s dump (memory, then disk, then dumped once)."""
    hit = _PRINTS.get(btf)
    if hit is not None:
        return hit
    with _LOCK:
        hit = _PRINTS.get(btf)
        if hit is not None:
            return hit
        name = f"{btf.fingerprint().hex()}-v{FORMAT_VERSION}.dumpprint"
        raw = cache.load_entry(name) if use_cache else None
        hit = DumpPrint.from_text(raw.decode("ascii", "replace")) if raw else None
        if hit is None:
            # dumping is the slow part; imported here for start-up speed
            from bpfls.btf.dump_c import dump_c

            hit = text_print(dump_c(btf).encode())
            if use_cache:
                cache.store_entry(name, hit.to_text().encode())
        _PRINTS[btf] = hit
        return hit


def is_dump_of(header: DumpPrint, btf: Btf) -> bool:
    """Is the header with this print ``btf``'s dump (its type definitions, byte for byte)?"""
    return may_match(header, btf) and kernel_print(btf) == header
