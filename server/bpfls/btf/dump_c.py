"""bpftool's ``btf dump file F format c``: the whole C header, and one definition cut from it.

:func:`dump_c` writes the whole header exactly as ``bpftool btf dump file F format c`` does
(bpftool 7.1 with libbpf 1.1, the Debian bookworm build): libbpf's topological emission order,
forward declarations where needed, ``___N`` suffixes for clashing names, explicit ``long: 64;``
style padding and ``__attribute__((packed))``. That build's libbpf carries the padding and
packing rules of libbpf 1.2 (minimal ``<type>: 0;`` alignment marks, packed structs aligned to
1, ``struct empty {}`` on one line) but not its ``mode(byte)`` attributes on odd-sized enums;
this module follows it, as checked against its output on real kernels.

:func:`render_c` cuts one definition out of that header (or renders it alone with the real
names). The declarators come from :mod:`bpfls.btf.cnames`; the pahole-style layout view built
on this module is :mod:`bpfls.btf.layout`.
"""

from __future__ import annotations

import threading
import weakref
from itertools import accumulate

from bpfls.btf.btf import MAX_RESOLVE_DEPTH, Btf
from bpfls.btf.cnames import (
    K_ARRAY,
    K_CONST,
    K_DATASEC,
    K_DECL_TAG,
    K_ENUM,
    K_ENUM64,
    K_FLOAT,
    K_FUNC,
    K_FUNC_PROTO,
    K_FWD,
    K_INT,
    K_PTR,
    K_RESTRICT,
    K_STRUCT,
    K_TYPE_TAG,
    K_TYPEDEF,
    K_UNION,
    K_VAR,
    K_VOLATILE,
    TYPEDEF_AND_MOD_KINDS,
    DeclWriter,
    base_name,
    kind_of,
    pfx,
)
from bpfls.btf.errors import BtfError
from bpfls.btf.model import Type

HEADER = (
    "#ifndef __VMLINUX_H__\n"
    "#define __VMLINUX_H__\n"
    "\n"
    "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
    "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"
    "#endif\n"
    "\n"
)
FOOTER = (
    "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
    "#pragma clang attribute pop\n"
    "#endif\n"
    "\n"
    "#endif /* __VMLINUX_H__ */\n"
)

# btf_dump's per-type states
NOT_ORDERED, ORDERING, ORDERED = 0, 1, 2
NOT_EMITTED, EMITTING, EMITTED = 0, 1, 2

#: Deepest type graph walk accepted while ordering and emitting (legitimate kernels need < 100).
MAX_WALK_DEPTH = 400

#: Explicit padding lines allowed for one gap, and for a whole header: a real kernel needs a few
#: thousand in all; corrupt sizes or offsets would otherwise ask for billions.
MAX_PAD_LINES = 1 << 17
MAX_TOTAL_PAD_LINES = 1 << 22

#: GCC's internal Arm SIMD types that libbpf aliases to standard types when it meets them.
_MISSING_BASE_TYPES = {
    "__Poly8_t": "unsigned char",
    "__Poly16_t": "unsigned short",
    "__Poly64_t": "unsigned long long",
    "__Poly128_t": "unsigned __int128",
}


class CDumper(DeclWriter):
    """libbpf's btf_dump (v1.1) over one :class:`Btf`, as bpftool's ``format c`` drives it.

    With ``real_names`` the ``___N`` de-duplication is off: every type and enumerator keeps its
    own name (handy for showing one definition; such a header may not compile).
    """

    def __init__(self, btf: Btf, *, real_names: bool = False) -> None:
        super().__init__(btf)
        self.real_names = real_names
        self.ptr_sz = btf.ptr_size
        n = btf.end_id
        self._order = bytearray(n)
        self._emit = bytearray(n)
        self._fwd_emitted = bytearray(n)
        self._order[0] = ORDERED
        self._emit[0] = EMITTED
        self._referenced: bytearray | None = None
        self._names: dict[int, str] = {}
        self._type_names: dict[str, int] = {}
        self._ident_names: dict[str, int] = {}
        self._queue: list[int] = []
        self._align: dict[int, int] = {}
        self._text: str | None = None
        self._frozen = False  # the header is written: names no longer count as uses
        self._failed: BtfError | None = None
        self._pad_lines = 0
        self.lock = threading.RLock()  # one writer at a time: the state is shared
        self._spans: dict[int, tuple[int, int]] = {}
        self._span_idx: dict[int, tuple[int, int]] = {}

    # -- names (btf_dump_resolve_name / btf_dump_name_dups) -----------------------------------
    def _resolve(self, tid: int, t: Type, name_map: dict[str, int]) -> str:
        name = self._names.get(tid)
        if name is not None:
            return name
        if t.name_off == 0:
            return ""
        orig = t.name
        kind = (t.info >> 24) & 0x1F
        if self.real_names or self._frozen or kind == K_FWD or (kind == K_ENUM and not t.vlen):
            name = orig
        else:
            cnt = name_map.get(orig, 0) + 1
            name_map[orig] = cnt
            name = f"{orig}___{cnt}"[:255] if cnt > 1 else orig
        self._names[tid] = name
        return name

    def tag_name(self, tid: int, t: Type) -> str:
        return self._resolve(tid, t, self._type_names)

    def ident_name(self, tid: int, t: Type) -> str:
        return self._resolve(tid, t, self._ident_names)

    def _enumerator(self, name: str) -> str:
        if self.real_names or self._frozen:
            return name
        cnt = self._ident_names.get(name, 0) + 1
        self._ident_names[name] = cnt
        return f"{name}___{cnt}" if cnt > 1 else name

    # -- sizes and alignment, as libbpf 1.1 computes them ---------------------------------
    def resolve_size(self, tid: int) -> int:
        """btf__resolve_size(); a negative number where libbpf returns an error."""
        btf = self.btf
        nelems = 1
        t = btf[tid]
        for _ in range(MAX_RESOLVE_DEPTH):
            if tid == 0:
                break
            kind = (t.info >> 24) & 0x1F
            if kind in (K_INT, K_STRUCT, K_UNION, K_ENUM, K_ENUM64, K_DATASEC, K_FLOAT):
                size = t.size
                break
            if kind == K_PTR:
                size = self.ptr_sz
                break
            if kind in (K_TYPEDEF, K_VOLATILE, K_CONST, K_RESTRICT, K_VAR, K_DECL_TAG,
                        K_TYPE_TAG):
                tid = t.type_id
            elif kind == K_ARRAY:
                a = t.array
                if nelems and a.nelems > 0xFFFFFFFF // nelems:
                    return -1
                nelems *= a.nelems
                tid = a.type_id
            else:
                return -1
            t = btf[tid]
        else:
            return -1
        if tid == 0:
            return -1
        if nelems and size > 0xFFFFFFFF // nelems:
            return -1
        return nelems * size

    def align_of(self, tid: int) -> int:
        """btf__align_of() (0 where libbpf fails); a packed struct aligns to 1."""
        a = self._align.get(tid)
        if a is None:
            a = self._align_of(tid, 0)
            self._align[tid] = a
        return a

    def _align_of(self, tid: int, depth: int) -> int:
        if depth > MAX_WALK_DEPTH:
            raise BtfError(f"type chain too deep or cyclic at [{tid}]", self.btf.path, None,
                           tid)
        a = self._align.get(tid)
        if a is not None:
            return a
        t = self.btf[tid]
        kind = (t.info >> 24) & 0x1F
        if kind in (K_INT, K_ENUM, K_ENUM64, K_FLOAT):
            a = min(self.ptr_sz, t.size)
        elif kind == K_PTR:
            a = self.ptr_sz
        elif kind in TYPEDEF_AND_MOD_KINDS:
            a = self._align_of(t.type_id, depth + 1)
        elif kind == K_ARRAY:
            a = self._align_of(t.array.type_id, depth + 1)
        elif kind in (K_STRUCT, K_UNION):
            a = 1
            for m in t.members:
                ma = self._align_of(m.type_id, depth + 1)
                if ma <= 0:
                    a = 0
                    break
                if ma > a:
                    a = ma
                if not m.bitfield_size and m.bit_offset % (8 * ma):
                    a = 1  # a misaligned member: the struct is packed
                    break
            else:
                if t.size % a:
                    a = 1  # a size that is no multiple of the alignment: packed too
        else:
            a = 0
        self._align[tid] = a
        return a

    def is_packed(self, tid: int, t: Type) -> bool:
        """btf_is_struct_packed(): a misaligned member, or a size no multiple of the largest
        member alignment."""
        max_align = 1
        for m in t.members:
            align = self.align_of(m.type_id)
            if align and not m.bitfield_size and m.bit_offset % (8 * align):
                return True
            if align > max_align:
                max_align = align
        return t.size % max_align != 0

    # -- definitions --------------------------------------------------------------------------
    def _bit_padding(self, cur_off: int, next_off: int, next_align: int, in_bitfield: bool,
                     lvl: int) -> None:
        """btf_dump_emit_bit_padding(): fill a gap with the fewest ``<type>: N;`` markers."""
        if cur_off >= next_off:
            return
        lines = (next_off - cur_off) // 32  # (at least about that many `<type>: N;`)
        self._pad_lines += lines
        if lines > MAX_PAD_LINES or self._pad_lines > MAX_TOTAL_PAD_LINES:
            raise BtfError(f"implausible padding of {(next_off - cur_off) // 8} bytes",
                           self.btf.path)
        pads = (("long", self.ptr_sz * 8), ("int", 32), ("short", 16), ("char", 8))
        w = self._w
        p = pfx(lvl)
        # the largest of long/int/short/char whose natural alignment lands in the gap
        for i in range(4):
            pad_bits = pads[i][1]
            new_off = -(-cur_off // pad_bits) * pad_bits
            if new_off <= next_off:
                break
        pad_type = pads[i][0]
        if cur_off < new_off <= next_off:
            # an explicit `<type>: 0` mark is needed when the compiler would not align the next
            # field there by itself, or when `<type>: X` would fit in the hole and be ignored
            if (in_bitfield
                    or (new_off == next_off
                        and -(-cur_off // (next_align * 8 or 8)) * (next_align * 8 or 8)
                        != new_off)
                    or (new_off != next_off and next_off - new_off <= new_off - cur_off)):
                w(f"\n{p}{pad_type}: {new_off - cur_off if in_bitfield else 0};")
            cur_off = new_off
        while cur_off != next_off:
            bits = min(next_off - cur_off, pad_bits)
            if bits == pad_bits:
                w(f"\n{p}{pad_type}: {pad_bits};")
                cur_off += bits
                continue
            # the remainder: the smallest type that holds it
            for pad_type, pad_bits in reversed(pads):
                if pad_bits >= bits:
                    w(f"\n{p}{pad_type}: {bits};")
                    cur_off += bits
                    break
            else:  # pragma: no cover - bits never exceeds the long size
                break

    def emit_struct_def(self, tid: int, t: Type, lvl: int) -> None:
        w = self._w
        is_struct = ((t.info >> 24) & 0x1F) == K_STRUCT
        align = self.align_of(tid)
        packed = is_struct and self.is_packed(tid, t)
        kw = "struct" if is_struct else "union"
        if t.name_off:
            w(f"{kw} {self.tag_name(tid, t)} {{")
        else:
            w(f"{kw} {{")
        self._enter(tid)
        try:
            off = 0
            prev_bitfield = False
            members = t.members
            ind = pfx(lvl + 1)
            for m in members:
                m_sz = m.bitfield_size
                m_off = m.bit_offset
                m_align = 1 if packed else self.align_of(m.type_id)
                self._bit_padding(off, m_off, m_align, prev_bitfield and m_sz != 0, lvl + 1)
                w("\n" + ind)
                self.emit_type_decl(m.type_id, m.name, lvl + 1)
                if m_sz:
                    w(f": {m_sz};")
                    off = m_off + m_sz
                    prev_bitfield = True
                else:
                    off = m_off + max(0, self.resolve_size(m.type_id)) * 8
                    prev_bitfield = False
                    w(";")
        finally:
            self._depth -= 1
        if is_struct:
            self._bit_padding(off, t.size * 8, align, False, lvl + 1)
        # `struct empty {}` stays on one line
        if members or t.size:
            w("\n" + pfx(lvl) + "}")
        else:
            w("}")
        if packed:
            w(" __attribute__((packed))")

    def emit_enum_def(self, tid: int, t: Type, lvl: int) -> None:
        w = self._w
        if t.name_off:
            w("enum " + self.tag_name(tid, t))
        else:
            w("enum")
        values = t.values
        if not values:
            return
        w(" {")
        ind = "\n" + pfx(lvl + 1)
        enumerator = self._enumerator
        if ((t.info >> 24) & 0x1F) == K_ENUM:
            for v in values:
                w(f"{ind}{enumerator(v.name)} = {v.value},")
        else:
            suffix = "LL," if t.kflag else "ULL,"
            for v in values:
                w(f"{ind}{enumerator(v.name)} = {v.value}{suffix}")
        w("\n" + pfx(lvl) + "}")

    def emit_typedef_def(self, tid: int, t: Type, lvl: int) -> None:
        name = self.ident_name(tid, t)
        if t.type_id == 0 and name == "__gnuc_va_list":
            # old GCCs emit this typedef pointing to void; libbpf fixes it up
            self._w("typedef __builtin_va_list __gnuc_va_list")
            return
        self._w("typedef ")
        self.emit_type_decl(t.type_id, name, lvl)

    def emit_fwd_def(self, tid: int, t: Type) -> None:
        self._w(("union " if t.kflag else "struct ") + self.tag_name(tid, t))

    def emit_anon_composite(self, tid: int, t: Type, lvl: int) -> None:
        self.emit_struct_def(tid, t, lvl)

    def emit_anon_enum(self, tid: int, t: Type, lvl: int) -> None:
        self.emit_enum_def(tid, t, lvl)

    # -- topological order (btf_dump_order_type) --------------------------------------------
    def _mark_referenced(self) -> bytearray:
        """Types some other type refers to (an anonymous enum nobody uses is written alone)."""
        ref = self._referenced
        if ref is not None:
            return ref
        btf = self.btf
        ref = bytearray(btf.end_id)
        tid = 0
        try:
            for tid in range(1, btf.end_id):
                t = btf[tid]
                kind = (t.info >> 24) & 0x1F
                if kind in (K_VOLATILE, K_CONST, K_RESTRICT, K_PTR, K_TYPEDEF, K_FUNC, K_VAR,
                            K_DECL_TAG, K_TYPE_TAG):
                    ref[t.type_id] = 1
                elif kind == K_ARRAY:
                    a = t.array
                    ref[a.index_type_id] = 1
                    ref[a.type_id] = 1
                elif kind in (K_STRUCT, K_UNION):
                    for m in t.members:
                        ref[m.type_id] = 1
                elif kind == K_FUNC_PROTO:
                    for p in t.params:
                        ref[p.type_id] = 1
                elif kind == K_DATASEC:
                    for v in t.secinfos:
                        ref[v.type_id] = 1
        except IndexError:
            raise BtfError(f"reference to a type id out of range (last type is "
                           f"{btf.end_id - 1})", btf.path, None, tid) from None
        self._referenced = ref
        return ref

    def _order_type(self, tid: int, through_ptr: bool, depth: int) -> int:
        state = self._order
        if tid >= len(state):
            self.btf[tid]  # raises: no such type
        st = state[tid]
        if st == ORDERED:
            return 1
        t = self.btf[tid]
        kind = (t.info >> 24) & 0x1F
        if st == ORDERING:
            if (kind == K_STRUCT or kind == K_UNION) and through_ptr and t.name_off:
                return 0  # a loop, broken by a forward declaration
            raise BtfError(f"unsatisfiable type cycle, id:[{tid}]", self.btf.path, None, tid)
        if depth > MAX_WALK_DEPTH:
            raise BtfError(f"type graph too deep or cyclic at [{tid}]", self.btf.path, None,
                           tid)
        depth += 1
        if kind == K_PTR:
            res = self._order_type(t.type_id, True, depth)
            state[tid] = ORDERED
            return res
        if kind == K_STRUCT or kind == K_UNION:
            if through_ptr and t.name_off:
                return 0
            state[tid] = ORDERING
            for m in t.members:
                self._order_type(m.type_id, False, depth)
            if t.name_off:
                self._queue.append(tid)
            state[tid] = ORDERED
            return 1
        if kind == K_TYPEDEF:
            is_strong = self._order_type(t.type_id, through_ptr, depth)
            if through_ptr and not is_strong:
                return 0
            self._queue.append(tid)
            state[tid] = ORDERED
            return 1
        if kind in (K_VOLATILE, K_CONST, K_RESTRICT, K_TYPE_TAG):
            return self._order_type(t.type_id, through_ptr, depth)
        if kind == K_ARRAY:
            return self._order_type(t.array.type_id, False, depth)
        if kind == K_FUNC_PROTO:
            is_strong = self._order_type(t.return_type_id, through_ptr, depth)
            for p in t.params:
                if self._order_type(p.type_id, through_ptr, depth):
                    is_strong = 1
            return is_strong
        if kind == K_INT or kind == K_FLOAT:
            state[tid] = ORDERED
            return 0
        if kind in (K_ENUM, K_ENUM64, K_FWD):
            if t.name_off or not self._mark_referenced()[tid]:
                self._queue.append(tid)
            state[tid] = ORDERED
            return 1
        if kind in (K_FUNC, K_VAR, K_DATASEC, K_DECL_TAG):
            state[tid] = ORDERED
            return 0
        raise BtfError(f"unexpected BTF kind {kind} in the type graph", self.btf.path, None,
                       tid)

    # -- emission (btf_dump_emit_type) --------------------------------------------------------
    def _is_blacklisted(self, t: Type) -> bool:
        return t.name_off != 0 and t.name == "__builtin_va_list"

    def _emit_type(self, tid: int, cont_id: int, depth: int) -> None:
        estate = self._emit
        if tid >= len(estate):
            self.btf[tid]  # raises: no such type
        st = estate[tid]
        if st == EMITTED:
            return
        t = self.btf[tid]
        kind = (t.info >> 24) & 0x1F
        w = self._w
        if st == EMITTING:
            if self._fwd_emitted[tid]:
                return
            if kind == K_STRUCT or kind == K_UNION:
                if tid == cont_id or t.name_off == 0:
                    return  # a member referring to its own struct / anonymous loop
                w(("struct " if kind == K_STRUCT else "union ") + self.tag_name(tid, t))
                w(";\n\n")
                self._fwd_emitted[tid] = 1
            elif kind == K_TYPEDEF:
                if not self._is_blacklisted(t):
                    self._def_start(tid)
                    self.emit_typedef_def(tid, t, 0)
                    self._def_end(tid)
                    w(";\n\n")
                self._fwd_emitted[tid] = 1
            return
        if depth > MAX_WALK_DEPTH:
            raise BtfError(f"type graph too deep or cyclic at [{tid}]", self.btf.path, None,
                           tid)
        depth += 1
        top_level = cont_id == 0
        if kind in (K_PTR, K_VOLATILE, K_CONST, K_RESTRICT, K_TYPE_TAG):
            self._emit_type(t.type_id, cont_id, depth)
        elif kind == K_STRUCT or kind == K_UNION:
            estate[tid] = EMITTING
            if top_level or t.name_off == 0:
                new_cont = cont_id if t.name_off == 0 else tid
                for m in t.members:
                    self._emit_type(m.type_id, new_cont, depth)
            elif not self._fwd_emitted[tid] and tid != cont_id:
                w(("struct " if kind == K_STRUCT else "union ") + self.tag_name(tid, t))
                w(";\n\n")
                self._fwd_emitted[tid] = 1
            if top_level:
                self._def_start(tid)
                self.emit_struct_def(tid, t, 0)
                self._def_end(tid)
                w(";\n\n")
                estate[tid] = EMITTED
            else:
                estate[tid] = NOT_EMITTED
        elif kind == K_TYPEDEF:
            estate[tid] = EMITTING
            self._emit_type(t.type_id, tid, depth)
            if not self._fwd_emitted[tid] and not self._is_blacklisted(t):
                self._def_start(tid)
                self.emit_typedef_def(tid, t, 0)
                self._def_end(tid)
                w(";\n\n")
            estate[tid] = EMITTED
        elif kind == K_ARRAY:
            self._emit_type(t.array.type_id, cont_id, depth)
        elif kind == K_FUNC_PROTO:
            self._emit_type(t.return_type_id, cont_id, depth)
            for p in t.params:
                self._emit_type(p.type_id, cont_id, depth)
        elif kind == K_ENUM or kind == K_ENUM64:
            if top_level:
                self._def_start(tid)
                self.emit_enum_def(tid, t, 0)
                self._def_end(tid)
                w(";\n\n")
            estate[tid] = EMITTED
        elif kind == K_FWD:
            self._def_start(tid)
            self.emit_fwd_def(tid, t)
            self._def_end(tid)
            w(";\n\n")
            estate[tid] = EMITTED
        elif kind == K_INT:
            alias = _MISSING_BASE_TYPES.get(self.tag_name(tid, t))
            if alias is not None:
                w(f"typedef {alias} {self.tag_name(tid, t)};\n\n")
            estate[tid] = EMITTED

    def _def_start(self, tid: int) -> None:
        if tid not in self._span_idx:
            self._span_idx[tid] = (len(self._out), -1)

    def _def_end(self, tid: int) -> None:
        start, end = self._span_idx[tid]
        if end < 0:
            self._span_idx[tid] = (start, len(self._out))

    def dump_type(self, tid: int) -> None:
        """btf_dump__dump_type(): ``tid`` and every type it needs that is not written yet."""
        self._queue = []
        self._order_type(tid, False, 0)
        for q in self._queue:
            self._emit_type(q, 0, 0)

    # -- public -------------------------------------------------------------------------------
    def dump(self) -> str:
        """The whole header, as ``bpftool btf dump file F format c`` prints it."""
        with self.lock:
            return self._dump()

    def _dump(self) -> str:
        if self._failed is not None:
            raise self._failed
        if self._text is None:
            self._pad_lines = 0
            self._w(HEADER)
            try:
                for tid in range(1, self.btf.end_id):
                    self.dump_type(tid)
            except RecursionError:
                self._failed = BtfError("type graph too deep to write as C", self.btf.path)
                raise self._failed from None
            except BtfError as e:
                self._failed = e  # the half-written state is useless: fail the same way again
                raise
            self._w(FOOTER)
            out = self._out
            ends = list(accumulate(map(len, out), initial=0))
            self._spans = {tid: (ends[s], ends[e]) for tid, (s, e) in self._span_idx.items()}
            self._span_idx = {}
            self._text = "".join(out)
            self._frozen = True
            self._out = []
            self._w = self._out.append
        return self._text

    @property
    def dumped(self) -> bool:
        """Whether the whole header has been written (:meth:`dump`), so that the names it
        gives clashing types (``___N``) are known."""
        return self._text is not None

    @property
    def type_spans(self) -> dict[int, tuple[int, int]]:
        """Type id → (start, end) of its definition in :meth:`dump`'s text (empty before the
        header is written)."""
        return self._spans

    def dumped_named(self, name: str) -> list[int]:
        """The ids of the types the full header names ``name``: a ``___N`` name bpftool gives
        the N-th of several types of one name (``struct its_device___2``)."""
        with self.lock:
            if not self.real_names:
                self.dump()
            return [tid for tid, n in self._names.items() if n == name]

    def definition(self, t: Type | int) -> str:
        """The C definition (or declaration) of one type, ending in ``;`` with no newline."""
        with self.lock:
            return self._definition(t)

    def _definition(self, t: Type | int) -> str:
        btf = self.btf
        t = btf[t] if isinstance(t, int) else t
        tid = t.id
        kind = kind_of(t)
        if not self.real_names:
            text = self.dump()
            span = self._spans.get(tid)
            if span is not None:
                return text[span[0]:span[1]] + ";"
        saved = self._out
        self._out = []
        self._w = self._out.append
        self._pad_lines = 0
        try:
            self._single(t, kind)
            return "".join(self._out)
        except RecursionError:
            raise BtfError("type graph too deep to write as C", btf.path, None, tid) from None
        finally:
            self._out = saved
            self._w = saved.append
            self._depth = 0

    def _single(self, t: Type, kind: int) -> None:
        w = self._w
        tid = t.id
        if kind in (K_STRUCT, K_UNION):
            self.emit_struct_def(tid, t, 0)
        elif kind in (K_ENUM, K_ENUM64):
            self.emit_enum_def(tid, t, 0)
        elif kind == K_TYPEDEF:
            self.emit_typedef_def(tid, t, 0)
        elif kind == K_FWD:
            self.emit_fwd_def(tid, t)
        elif kind == K_FUNC:
            # kernel BTF marks every function static; only extern is worth saying
            if t.linkage == 2:
                w("extern ")
            self.emit_type_decl(t.type_id, t.name, 0)
        elif kind == K_VAR:
            linkage = t.linkage
            if linkage == 0:
                w("static ")
            elif linkage == 2:
                w("extern ")
            self.emit_type_decl(t.type_id, t.name, 0)
        elif kind == K_DATASEC:
            w(f'/* section "{t.name}", {t.size} bytes */')
            for v in t.secinfos:
                vt = self.btf[v.type_id]
                w(f"\n/* {v.offset:#x} {v.size} */ ")
                if kind_of(vt) == K_VAR:
                    self.emit_type_decl(vt.type_id, vt.name, 0)
                else:
                    self.emit_type_decl(v.type_id, "", 0)
                w(";")
            return
        elif kind == K_DECL_TAG:
            target = self.btf[t.type_id]
            idx = t.component_idx
            where = base_name(target) or f"[{target.id}]"
            if idx >= 0:
                where += f", component {idx}"
            w(f'/* __attribute__((btf_decl_tag("{t.name}"))) on {where} */')
            return
        else:
            self.emit_type_decl(tid, "", 0)
            return
        w(";")


_RENDERERS: weakref.WeakKeyDictionary[Btf, dict[bool, CDumper]] = weakref.WeakKeyDictionary()


def renderer(btf: Btf, *, real_names: bool = False) -> CDumper:
    """The (cached) :class:`CDumper` of ``btf``."""
    per = _RENDERERS.get(btf)
    if per is None:
        per = {}
        _RENDERERS[btf] = per
    r = per.get(real_names)
    if r is None:
        r = CDumper(btf, real_names=real_names)
        per[real_names] = r
    return r


def dump_c(btf: Btf) -> str:
    """The whole header, byte for byte as ``bpftool btf dump file F format c`` (bpftool 7.1)."""
    return renderer(btf).dump()


def render_c(btf: Btf, t: Type | int, *, real_names: bool = False) -> str:
    """The C definition of one type as bpftool prints it inside its full header.

    Structs, unions, enums, typedefs and forward declarations come out exactly as in
    :func:`dump_c`, ``___N`` suffixes included (the first call writes the whole header once per
    :class:`Btf`). With ``real_names`` the definition is rendered alone with every name as it is
    in the BTF, which is quick. Functions and variables get a one-line declaration; other kinds
    their C type name.
    """
    return renderer(btf, real_names=real_names).definition(t)

