"""Writing BTF: records in id order, serialised to a blob :class:`bpfls.btf.Btf` can read.

Used for the program's own types (split BTF continuing the base's ids and strings) and for a
``vmlinux.h`` turned into BTF.
"""

from __future__ import annotations

import struct
from array import array

from bpfls.btf import Kind


class BtfWriter:
    """Append BTF records; ids and string offsets continue after ``id_start``/``str_start``."""

    def __init__(self, *, id_start: int = 1, str_start: int = 0) -> None:
        self.id_start = id_start
        self.str_start = str_start
        self.strs = bytearray(b"\0") if str_start == 0 else bytearray()
        self._str_index: dict[str, int] = {"": 0}
        self.words = array("I")
        self.next_id = id_start

    def s(self, text: str) -> int:
        off = self._str_index.get(text)
        if off is None:
            off = self.str_start + len(self.strs)
            self.strs += text.encode() + b"\0"
            self._str_index[text] = off
        return off

    def add(self, name: str, kind: int, vlen: int, kflag: bool, word2: int,
            extra: list[int] | tuple[int, ...] = ()) -> int:
        w = self.words
        w.append(self.s(name))
        w.append((int(kflag) << 31) | (kind << 24) | (vlen & 0xFFFF))
        w.append(word2 & 0xFFFFFFFF)
        for x in extra:
            w.append(x & 0xFFFFFFFF)
        tid = self.next_id
        self.next_id += 1
        return tid

    # -- kinds -----------------------------------------------------------------------------
    def int_(self, name: str, size: int, encoding: int = 0, bits: int | None = None) -> int:
        bits = size * 8 if bits is None else bits
        return self.add(name, Kind.INT, 0, False, size, [(encoding << 24) | bits])

    def ptr(self, t: int) -> int:
        return self.add("", Kind.PTR, 0, False, t)

    def array(self, t: int, index_t: int, n: int) -> int:
        return self.add("", Kind.ARRAY, 0, False, 0, [t, index_t, n])

    def composite(self, union: bool, name: str, size: int,
                  members: list[tuple[str, int, int, int]]) -> int:
        """members: (name, type id, bit offset, bitfield size or 0)."""
        kflag = any(m[3] for m in members)
        extra: list[int] = []
        for mname, mt, bitoff, bitsz in members:
            extra += [self.s(mname), mt, (bitsz << 24) | bitoff if kflag else bitoff]
        return self.add(name, Kind.UNION if union else Kind.STRUCT, len(members), kflag, size,
                        extra)

    def enum(self, name: str, size: int, values: list[tuple[str, int]], signed: bool) -> int:
        if any(v < -(1 << 31) or v > 0xFFFFFFFF for _, v in values) or size > 4:
            extra: list[int] = []
            for vname, v in values:
                v &= (1 << 64) - 1
                extra += [self.s(vname), v & 0xFFFFFFFF, v >> 32]
            return self.add(name, Kind.ENUM64, len(values), signed, max(size, 8), extra)
        extra = []
        for vname, v in values:
            extra += [self.s(vname), v & 0xFFFFFFFF]
        return self.add(name, Kind.ENUM, len(values), signed, size, extra)

    def fwd(self, name: str, union: bool = False) -> int:
        return self.add(name, Kind.FWD, 0, union, 0)

    def typedef(self, name: str, t: int) -> int:
        return self.add(name, Kind.TYPEDEF, 0, False, t)

    def modifier(self, kind: int, t: int) -> int:
        return self.add("", kind, 0, False, t)

    def func_proto(self, ret: int, params: list[tuple[str, int]]) -> int:
        extra: list[int] = []
        for pname, pt in params:
            extra += [self.s(pname), pt]
        return self.add("", Kind.FUNC_PROTO, len(params), False, ret, extra)

    def func(self, name: str, proto: int, linkage: int = 1) -> int:
        return self.add(name, Kind.FUNC, linkage, False, proto)

    def float_(self, name: str, size: int) -> int:
        return self.add(name, Kind.FLOAT, 0, False, size)

    def build(self) -> bytes:
        types = self.words.tobytes() if struct.pack("=I", 1) == struct.pack("<I", 1) else \
            _swapped(self.words)
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                          len(self.strs))
        return hdr + types + bytes(self.strs)


def _swapped(words: array) -> bytes:
    w = array("I", words)
    w.byteswap()
    return w.tobytes()
