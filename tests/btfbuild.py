"""A tiny BTF writer for tests: build exact blobs, valid or deliberately broken."""

from __future__ import annotations

import struct


class BtfBuilder:
    def __init__(self, *, str_start: int = 0, id_start: int = 1) -> None:
        self.strs = bytearray(b"\0") if str_start == 0 else bytearray()
        self.str_start = str_start
        self._str_index: dict[str, int] = {"": 0}
        self.words: list[int] = []
        self.next_id = id_start

    # -- strings ---------------------------------------------------------------------------
    def s(self, text: str) -> int:
        if text in self._str_index:
            return self._str_index[text]
        off = self.str_start + len(self.strs)
        self.strs += text.encode() + b"\0"
        self._str_index[text] = off
        return off

    # -- records ---------------------------------------------------------------------------
    def _add(self, name: str, kind: int, vlen: int, kflag: bool, word2: int,
             extra: list[int]) -> int:
        info = (int(kflag) << 31) | (kind << 24) | vlen
        self.words += [self.s(name), info, word2 & 0xFFFFFFFF, *[w & 0xFFFFFFFF for w in extra]]
        tid = self.next_id
        self.next_id += 1
        return tid

    def int_(self, name: str, size: int, signed: bool = False, bits: int | None = None,
             char: bool = False, bool_: bool = False, offset: int = 0) -> int:
        enc = (1 if signed else 0) | (2 if char else 0) | (4 if bool_ else 0)
        bits = size * 8 if bits is None else bits
        return self._add(name, 1, 0, False, size, [(enc << 24) | (offset << 16) | bits])

    def ptr(self, t: int) -> int:
        return self._add("", 2, 0, False, t, [])

    def array(self, t: int, index_t: int, n: int) -> int:
        return self._add("", 3, 0, False, 0, [t, index_t, n])

    def _composite(self, kind: int, name: str, size: int,
                   members: list[tuple[str, int, int, int]]) -> int:
        kflag = any(m[3] for m in members)
        extra: list[int] = []
        for mname, mt, bitoff, bitsz in members:
            off = (bitsz << 24) | bitoff if kflag else bitoff
            extra += [self.s(mname), mt, off]
        return self._add(name, kind, len(members), kflag, size, extra)

    def struct(self, name: str, size: int, members: list[tuple[str, int, int, int]]) -> int:
        """members: (name, type id, bit offset, bitfield size or 0)."""
        return self._composite(4, name, size, members)

    def union(self, name: str, size: int, members: list[tuple[str, int, int, int]]) -> int:
        return self._composite(5, name, size, members)

    def enum(self, name: str, size: int, values: list[tuple[str, int]],
             signed: bool = False) -> int:
        extra: list[int] = []
        for vname, v in values:
            extra += [self.s(vname), v]
        return self._add(name, 6, len(values), signed, size, extra)

    def fwd(self, name: str, union: bool = False) -> int:
        return self._add(name, 7, 0, union, 0, [])

    def typedef(self, name: str, t: int) -> int:
        return self._add(name, 8, 0, False, t, [])

    def volatile(self, t: int) -> int:
        return self._add("", 9, 0, False, t, [])

    def const(self, t: int) -> int:
        return self._add("", 10, 0, False, t, [])

    def restrict(self, t: int) -> int:
        return self._add("", 11, 0, False, t, [])

    def func(self, name: str, proto: int, linkage: int = 1) -> int:
        return self._add(name, 12, linkage, False, proto, [])

    def func_proto(self, ret: int, params: list[tuple[str, int]]) -> int:
        extra: list[int] = []
        for pname, pt in params:
            extra += [self.s(pname), pt]
        return self._add("", 13, len(params), False, ret, extra)

    def var(self, name: str, t: int, linkage: int = 1) -> int:
        return self._add(name, 14, 0, False, t, [linkage])

    def datasec(self, name: str, size: int, vars: list[tuple[int, int, int]]) -> int:
        extra: list[int] = []
        for vt, off, sz in vars:
            extra += [vt, off, sz]
        return self._add(name, 15, len(vars), False, size, extra)

    def float_(self, name: str, size: int) -> int:
        return self._add(name, 16, 0, False, size, [])

    def decl_tag(self, name: str, t: int, component_idx: int = -1) -> int:
        return self._add(name, 17, 0, False, t, [component_idx])

    def type_tag(self, name: str, t: int) -> int:
        return self._add(name, 18, 0, False, t, [])

    def enum64(self, name: str, size: int, values: list[tuple[str, int]],
               signed: bool = False) -> int:
        extra: list[int] = []
        for vname, v in values:
            v &= (1 << 64) - 1
            extra += [self.s(vname), v & 0xFFFFFFFF, v >> 32]
        return self._add(name, 19, len(values), signed, size, extra)

    def raw_record(self, words: list[int]) -> None:
        """Append arbitrary words (for broken records)."""
        self.words += words

    # -- output ----------------------------------------------------------------------------
    def build(self, order: str = "<") -> bytes:
        types = struct.pack(f"{order}{len(self.words)}I", *self.words)
        hdr = struct.pack(f"{order}HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                          len(self.strs))
        return hdr + types + bytes(self.strs)


def sample_blob(order: str = "<") -> bytes:
    """A small BTF with every kind 1-19."""
    b = BtfBuilder()
    i32 = b.int_("int", 4, signed=True)                                   # 1
    u8 = b.int_("unsigned char", 1)                                       # 2
    p = b.ptr(0)                                                          # 3 void *
    arr = b.array(u8, i32, 16)                                            # 4
    s = b.struct("task", 32, [("pid", i32, 0, 0), ("flags", u8, 32, 3),  # 5
                              ("comm", arr, 64, 0), ("next", p, 192, 0)])
    b.union("u", 4, [("a", i32, 0, 0), ("b", u8, 0, 0)])                  # 6
    b.enum("color", 4, [("RED", 0), ("NEG", -1 & 0xFFFFFFFF)], signed=True)  # 7
    b.fwd("later", union=True)                                            # 8
    td = b.typedef("task_t", s)                                           # 9
    b.volatile(i32)                                                       # 10
    c = b.const(td)                                                       # 11
    b.restrict(p)                                                         # 12
    proto = b.func_proto(i32, [("t", b.next_id + 3), ("", 0)])            # 13
    b.func("do_it", proto)                                                # 14
    v = b.var("counter", i32)                                             # 15
    b.ptr(c)                                                              # 16 const task_t *
    b.datasec(".data", 4, [(v, 0, 4)])                                    # 17
    b.float_("double", 8)                                                 # 18
    b.decl_tag("tag", s, 0)                                               # 19
    b.type_tag("user", i32)                                               # 20
    b.enum64("big", 8, [("HUGE", 1 << 63), ("ONE", 1)])                   # 21
    return b.build(order)
