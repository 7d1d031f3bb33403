"""Hashed name tables of one BTF object: type names and enumerator names → where they are.

Two sorted tables of CRC-32 keys: one over the names of the object's own named types
(→ type id), one over the names of its own enumerators (→ enum type id, value index). A lookup
is a binary search plus a byte comparison of the candidates' names, so a hash collision or a
damaged table can only cost a miss, never a wrong answer. They are built once per kernel and
stored with the type-offset table in the on-disk cache (:mod:`bpfls.btf.cache`), which is what
makes a kernel's first name lookups in a new process cost microseconds instead of a scan of its
string table.

A type name counts where it starts a string of the table (as the string-table scan of
:class:`~bpfls.btf.Btf` finds names); an enumerator's name is the string at its offset (as the
decoded :attr:`~bpfls.btf.Type.values` say).
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from itertools import accumulate, count
from typing import TYPE_CHECKING
from zlib import crc32

if TYPE_CHECKING:
    from bpfls.btf.btf import Btf

_ENUM, _ENUM64 = 6, 19


class NameTables:
    """``type_keys``/``type_ids``: one entry per own named type; ``enum_keys``/``enum_ids``/
    ``enum_pos``: one per enumerator of an own ENUM or ENUM64. Keys ascend; equal keys keep id
    order (and value order). ``flavored``: every string of the object's own string table
    that contains ``___`` (each once, in table order), for the candidate search of flavored
    names."""

    __slots__ = ("type_keys", "type_ids", "enum_keys", "enum_ids", "enum_pos", "flavored")

    def __init__(self, type_keys: array, type_ids: array, enum_keys: array, enum_ids: array,
                 enum_pos: array, flavored: list[bytes] | None = None) -> None:
        self.type_keys = type_keys
        self.type_ids = type_ids
        self.enum_keys = enum_keys
        self.enum_ids = enum_ids
        self.enum_pos = enum_pos
        self.flavored = flavored if flavored is not None else []

    def arrays(self) -> tuple[array, ...]:
        return (self.type_keys, self.type_ids, self.enum_keys, self.enum_ids, self.enum_pos)

    def type_ids_named(self, btf: Btf, enc: bytes) -> list[int]:
        """Own type ids whose name is ``enc``, in id order."""
        keys = self.type_keys
        h = crc32(enc)
        i = bisect_left(keys, h)
        n = len(keys)
        if i >= n or keys[i] != h:
            return []
        out = []
        ids = self.type_ids
        w = btf._w
        offs = btf._offs
        start, end = btf.start_id, btf.end_id
        want = enc + b"\0"
        while i < n and keys[i] == h:
            tid = ids[i]
            i += 1
            if start <= tid < end and _starts_string(btf, w[offs[tid - start]], want):
                out.append(tid)
        return out

    def enumerators_named(self, btf: Btf, enc: bytes) -> list[tuple[int, int]]:
        """(enum type id, value index) of every own enumerator called ``enc``, in order."""
        keys = self.enum_keys
        h = crc32(enc)
        i = bisect_left(keys, h)
        n = len(keys)
        if i >= n or keys[i] != h:
            return []
        out = []
        w = btf._w
        offs = btf._offs
        start, end = btf.start_id, btf.end_id
        want = enc + b"\0"
        while i < n and keys[i] == h:
            tid, pos = self.enum_ids[i], self.enum_pos[i]
            i += 1
            if not start <= tid < end:
                continue
            o = offs[tid - start]
            info = w[o + 1]
            kind = (info >> 24) & 0x1F
            if kind not in (_ENUM, _ENUM64) or pos >= info & 0xFFFF:
                continue
            noff = w[o + 3 + pos * (2 if kind == _ENUM else 3)]
            if _string_at_is(btf, noff, want):
                out.append((tid, pos))
        return out


def _table_of(off: int, btf: Btf) -> tuple[bytes, int] | None:
    """(string table, offset inside it) of global string offset ``off``."""
    b: Btf | None = btf
    while b is not None and off < b.start_str_off:
        b = b.base
    if b is None:
        return None
    return b._strs, off - b.start_str_off


def _string_at_is(btf: Btf, off: int, want: bytes) -> bool:
    """The string at ``off`` is ``want`` (which ends with its NUL)."""
    t = _table_of(off, btf)
    return t is not None and t[0].startswith(want, t[1])


def _starts_string(btf: Btf, off: int, want: bytes) -> bool:
    """Like :func:`_string_at_is`, and ``off`` starts a string of its table."""
    t = _table_of(off, btf)
    if t is None:
        return False
    strs, rel = t
    return (rel == 0 or strs[rel - 1] == 0) and strs.startswith(want, rel)


def build(btf: Btf) -> NameTables:
    """The tables of ``btf``'s own types (one pass over the names and the enum records)."""
    strs = btf._strs
    base_off = btf.start_str_off
    parts = strs[:-1].split(b"\0") if strs else []
    starts = accumulate(map((1).__add__, map(len, parts)), initial=base_off)
    # string start → its key (a string stored twice keeps one start: either serves)
    key_at = dict(zip(starts, map(crc32, parts)))  # noqa: B905 - starts has one more item

    def key_of(off: int, anywhere: bool) -> int | None:
        k = key_at.get(off)
        if k is not None:
            return k
        t = _table_of(off, btf)
        if t is None:
            return None
        s, rel = t
        if rel >= len(s) or not anywhere and rel and s[rel - 1] != 0:
            return None
        end = s.find(b"\0", rel)
        return crc32(s[rel:end if end >= 0 else len(s)])

    w = btf._w
    offs = btf._offs
    start = btf.start_id
    names = array("I")
    names.frombytes(btf._name_words)
    # (key << 32 | type id) sorts as (key, id) at the speed of ints
    packed = []
    for tid, noff, k in zip(count(start), names, map(key_at.get, names)):  # noqa: B905
        if k is None:
            if not noff or (k := key_of(noff, False)) is None:
                continue
        elif not noff:
            continue
        packed.append(k << 32 | tid)
    packed.sort()
    mask = 0xFFFFFFFF
    type_keys = array("I", [p >> 32 for p in packed])
    type_ids = array("I", [p & mask for p in packed])

    enums = [i for i, o in enumerate(offs) if (w[o + 1] >> 24) & 0x1F in (_ENUM, _ENUM64)]
    rows = []  # key << 64 | type id << 16 | value index
    for i in enums:
        o = offs[i]
        info = w[o + 1]
        per = 2 if (info >> 24) & 0x1F == _ENUM else 3
        these = []
        for j in range(info & 0xFFFF):
            k = key_of(w[o + 3 + j * per], True)
            if k is None:  # a damaged enum is left out whole, as decoding it fails
                these = []
                break
            these.append(k << 64 | (start + i) << 16 | j)
        rows.extend(these)
    rows.sort()
    return NameTables(type_keys, type_ids, array("I", [r >> 64 for r in rows]),
                      array("I", [(r >> 16) & mask for r in rows]),
                      array("I", [r & 0xFFFF for r in rows]), flavored_strings(strs))


def flavored_strings(strs: bytes) -> list[bytes]:
    """Every string of a string table that contains ``___``, each once, in table order."""
    out: list[bytes] = []
    seen: set[bytes] = set()
    pos = strs.find(b"___")
    while pos >= 0:
        start = strs.rfind(b"\0", 0, pos) + 1
        end = strs.find(b"\0", pos)
        if end < 0:
            end = len(strs)
        s = strs[start:end]
        if s not in seen:
            seen.add(s)
            out.append(s)
        pos = strs.find(b"___", end)
    return out


def to_bytes(tables: NameTables) -> bytes:
    """Little-endian: five counts, then the five arrays, then the flavored strings, each
    followed by a NUL."""
    arrs = [array("I", a) for a in tables.arrays()]
    if sys.byteorder != "little":
        for a in arrs:
            a.byteswap()
    head = array("I", [len(a) for a in arrs])
    if sys.byteorder != "little":
        head.byteswap()
    return head.tobytes() + b"".join(a.tobytes() for a in arrs) + \
        b"".join(f + b"\0" for f in tables.flavored)


def from_bytes(raw: bytes | memoryview) -> NameTables | None:
    """The inverse of :func:`to_bytes`; ``None`` when the data is not well formed."""
    if len(raw) < 20:
        return None
    head = array("I")
    head.frombytes(bytes(raw[:20]))
    if sys.byteorder != "little":
        head.byteswap()
    nt, ni, ne, nei, nep = head
    end = 20 + 4 * (nt + ni + ne + nei + nep)
    if nt != ni or not ne == nei == nep or len(raw) < end:
        return None
    out = []
    pos = 20
    for n in head:
        a = array("I")
        a.frombytes(bytes(raw[pos:pos + 4 * n]))
        if sys.byteorder != "little":
            a.byteswap()
        out.append(a)
        pos += 4 * n
    tail = bytes(raw[end:])
    if tail and not tail.endswith(b"\0"):
        return None
    return NameTables(*out, tail[:-1].split(b"\0") if tail else [])
