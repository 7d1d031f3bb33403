"""C definitions and layouts of BTF types.

:func:`dump_c` writes the whole header exactly as ``bpftool btf dump file F format c`` does
(bpftool 7.1 with libbpf 1.1, the Debian bookworm build): libbpf's topological emission order,
forward declarations where needed, ``___N`` suffixes for clashing names, explicit ``long: 64;``
style padding and ``__attribute__((packed))``. That build's libbpf carries the padding and
packing rules of libbpf 1.2 (minimal ``<type>: 0;`` alignment marks, packed structs aligned to
1, ``struct empty {}`` on one line) but not its ``mode(byte)`` attributes on odd-sized enums;
this module follows it, as checked against its output on real kernels.

:func:`render_c` cuts one definition out of that header (or renders it alone with the real
names), and :func:`render_layout` shows a struct the way ``pahole -C`` does, with offsets,
sizes, holes and padding.
"""

from __future__ import annotations

import threading
import weakref
from itertools import accumulate
from typing import TYPE_CHECKING

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
    MAX_DECL_DEPTH,
    DeclWriter,
    base_name,
    kind_of,
    pfx,
)
from bpfls.btf.errors import BtfError

if TYPE_CHECKING:
    from bpfls.btf.btf import Btf
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

#: libbpf's MAX_RESOLVE_DEPTH (btf__resolve_size gives up past it).
MAX_RESOLVE_DEPTH = 32
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

_MODS_AND_TYPEDEF = frozenset({K_TYPEDEF, K_VOLATILE, K_CONST, K_RESTRICT, K_TYPE_TAG})


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
        elif kind in _MODS_AND_TYPEDEF:
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


def c_name(btf: Btf, t: Type | int) -> str:
    """The name bpftool's header gives a struct, union, enum or typedef (``foo___2`` ...)."""
    t = btf[t] if isinstance(t, int) else t
    r = renderer(btf)
    with r.lock:
        r.dump()
        kind = kind_of(t)
        if kind == K_TYPEDEF:
            return r.ident_name(t.id, t)
        if kind in (K_STRUCT, K_UNION, K_ENUM, K_ENUM64, K_FWD):
            return r.tag_name(t.id, t)
        return t.name


# -- layout (pahole -C) -------------------------------------------------------------------------

CACHELINE = 64
_TYPE_COL = 26  # width of the type column at the first level (pahole's type_spacing)
_NAME_COL = 23  # width of the name column (pahole's name_spacing)


class _Member:
    """One member as pahole sees it: byte offset and size of its storage unit."""

    __slots__ = ("m", "bit_offset", "byte_offset", "byte_size", "bitfield_offset",
                 "bitfield_size", "hole", "bit_hole")

    def __init__(self, m: object, bit_offset: int, byte_size: int, bitfield_size: int) -> None:
        self.m = m
        self.bit_offset = bit_offset
        self.byte_size = byte_size
        self.bitfield_size = bitfield_size
        self.bitfield_offset = 0
        self.byte_offset = bit_offset // 8
        if bitfield_size and byte_size:
            bits = byte_size * 8
            self.byte_offset = bit_offset // bits * bits // 8
            self.bitfield_offset = bit_offset - self.byte_offset * 8
        self.hole = 0
        self.bit_hole = 0


class _Holes:
    """pahole's class__find_holes() over one struct: holes after each member, tail padding."""

    def __init__(self, members: list[_Member], size: int, is_struct: bool) -> None:
        self.members = members
        self.nr_holes = 0
        self.nr_bit_holes = 0
        self.pre_hole = 0
        self.pre_bit_hole = 0
        self.padding = 0
        self.bit_padding = 0
        if not is_struct:
            return
        cur_bitfield_end = size * 8
        cur_bitfield_size = 0
        last_seen_bit = 0
        in_bitfield = False
        last: _Member | None = None
        for pos in members:
            bit_start = pos.bit_offset
            if pos.bitfield_size:
                bit_end = bit_start + pos.bitfield_size
            else:
                bit_end = bit_start + pos.byte_size * 8
            bit_holes = 0
            byte_holes = 0
            if in_bitfield:
                bitfield_end = min(bit_start, cur_bitfield_end)
                bit_holes = bitfield_end - last_seen_bit
                last_seen_bit = bitfield_end
            if pos.bitfield_size:
                aligned_start = pos.byte_offset * 8
                if last_seen_bit < aligned_start <= bit_start:
                    byte_holes = pos.byte_offset - last_seen_bit // 8
                    last_seen_bit = aligned_start
                bit_holes += bit_start - last_seen_bit
            else:
                byte_holes = bit_start // 8 - last_seen_bit // 8
            if last is not None:
                last.hole = byte_holes
                last.bit_hole = bit_holes
            else:
                self.pre_hole = byte_holes
                self.pre_bit_hole = bit_holes
            if bit_holes:
                self.nr_bit_holes += 1
            if byte_holes > 0:
                self.nr_holes += 1
            if bit_end > last_seen_bit:
                last_seen_bit = bit_end
            if pos.bitfield_size:
                in_bitfield = True
                unit = pos.byte_size * 8
                if bit_end > cur_bitfield_end or unit > cur_bitfield_size:
                    cur_bitfield_size = unit
                    cur_bitfield_end = pos.byte_offset * 8 + cur_bitfield_size
                    if bit_end > cur_bitfield_end:
                        cur_bitfield_end += cur_bitfield_size
            else:
                in_bitfield = False
                cur_bitfield_size = 0
                cur_bitfield_end = bit_end
            last = pos
        if in_bitfield:
            bitfield_end = min(size * 8, cur_bitfield_end)
            self.bit_padding = bitfield_end - last_seen_bit
            last_seen_bit = bitfield_end
        self.padding = size - last_seen_bit // 8


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


class _Layout:
    """pahole's class__fprintf()/union__fprintf() over BTF, writing into a character stream."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.dumper = renderer(btf, real_names=True)
        self.out: list[str] = []
        self._padding_cache: dict[int, int] = {}
        self._natural: dict[int, int] = {}
        self._packed: dict[int, bool] = {}
        self._in_union = 0  # inside a union, pahole writes no flexible array as `[]`

    # -- type facts ---------------------------------------------------------------------------
    def strip(self, tid: int) -> Type:
        """Skip typedefs and modifiers (a bounded walk)."""
        btf = self.btf
        t = btf[tid]
        for _ in range(MAX_RESOLVE_DEPTH * 8):
            if kind_of(t) in _MODS_AND_TYPEDEF:
                t = btf[t.type_id]
            else:
                return t
        raise BtfError(f"type chain too deep or cyclic at [{tid}]", btf.path, None, tid)

    def members_of(self, t: Type) -> list[_Member]:
        out = []
        for m in t.members:
            size = max(0, self.dumper.resolve_size(m.type_id))
            out.append(_Member(m, m.bit_offset, size, m.bitfield_size))
        return out

    def padding_of(self, t: Type) -> int:
        """Tail padding of a struct (pahole's class->padding)."""
        p = self._padding_cache.get(t.id)
        if p is None:
            p = _Holes(self.members_of(t), t.size, True).padding
            self._padding_cache[t.id] = p
        return p

    def packed(self, t: Type) -> bool:
        """pahole's class__infer_packed_attributes(): a struct with no holes and no padding
        whose members sit off their natural alignment, or whose size is no multiple of it."""
        if kind_of(t) != K_STRUCT:
            return False
        verdict = self._packed.get(t.id)
        if verdict is not None:
            return verdict
        members = self.members_of(t)
        holes = _Holes(members, t.size, True)
        verdict = False
        if holes.padding != 0 or holes.nr_holes != 0:
            # only struct members at unnatural offsets tell that *they* are packed
            for pos in members:
                mt = self.strip(pos.m.type_id)
                if kind_of(mt) == K_STRUCT and pos.byte_offset % self.natural_align(mt.id, 0):
                    self._packed[mt.id] = True
        else:
            max_align = 1
            for pos in members:
                align = self.natural_align(pos.m.type_id, 0)
                if align == 1:
                    continue
                max_align = max(max_align, align)
                if pos.byte_offset % align:
                    verdict = True
                    break
            else:
                verdict = t.size % max_align != 0
        self._packed[t.id] = verdict
        return verdict

    def union_packed(self, t: Type) -> None:
        """union__infer_packed_attributes(): a struct in a union whose size its alignment does
        not divide is packed."""
        for m in t.members:
            mt = self.strip(m.type_id)
            if kind_of(mt) == K_STRUCT and t.size % self.natural_align(mt.id, 0):
                self._packed[mt.id] = True

    def natural_align(self, tid: int, depth: int) -> int:
        """pahole's tag__natural_alignment(): a base type's size, a struct's largest member's."""
        a = self._natural.get(tid)
        if a is not None:
            return a
        if depth > MAX_WALK_DEPTH:
            raise BtfError(f"type chain too deep or cyclic at [{tid}]", self.btf.path, None,
                           tid)
        t = self.btf[tid]
        kind = kind_of(t)
        if kind in (K_STRUCT, K_UNION):
            a = 1
            for m in t.members:
                a = max(a, self.natural_align(m.type_id, depth + 1))
        elif kind in _MODS_AND_TYPEDEF:
            a = self.natural_align(t.type_id, depth + 1)
        elif kind == K_ARRAY:
            a = self.natural_align(t.array.type_id, depth + 1)
        elif kind == K_PTR:
            a = self.dumper.ptr_sz
        elif kind in (K_INT, K_ENUM, K_ENUM64, K_FLOAT):
            a = t.size
        else:
            a = 1
        a = a or 1
        self._natural[tid] = a
        return a

    def split_decl(self, tid: int, name: str, lvl: int) -> tuple[str, str]:
        """A declaration cut into pahole's type and name columns."""
        marker = "\x00"
        d = self.dumper
        d.take()  # drop anything a failed call left behind
        d.emit_type_decl(tid, marker, lvl)
        text = d.take()
        at = text.find(marker)
        if at < 0:  # pragma: no cover - a declaration always carries its name
            return text, name
        head, tail = text[:at], text[at + 1:]
        paren = head.find("(")
        if paren > 0 and head[:paren].strip() and "{" not in head:
            return head[:paren].rstrip(), head[paren:] + name + tail
        return head.rstrip(), name + tail

    def anon_array(self, t: Type) -> tuple[Type | None, str]:
        """The dimensions ``[N]...`` of an array type (after modifiers), and its element type
        when that is an anonymous struct or union (else None)."""
        dims = ""
        t = self.btf.skip_modifiers(t)
        for _ in range(MAX_RESOLVE_DEPTH):
            if kind_of(t) != K_ARRAY:
                break
            a = t.array
            dims += f"[{a.nelems}]"
            t = self.btf.skip_modifiers(a.type_id)
        if dims and kind_of(t) in (K_STRUCT, K_UNION) and not t.name_off:
            return t, dims
        return None, dims

    # -- printing -----------------------------------------------------------------------------
    def boundary(self, offset: int, indent: int, cl: list[int]) -> None:
        line = offset // CACHELINE
        if line > cl[0]:
            pos = offset % CACHELINE
            start = offset - pos
            if pos:
                self.out.append(f"/* --- cacheline {line} boundary ({start} bytes) was "
                                f"{_plural(pos, 'byte')} ago --- */\n")
            else:
                self.out.append(f"/* --- cacheline {line} boundary ({start} bytes) --- */\n")
            self.out.append("\t" * indent)
            cl[0] = line

    def member(self, pos: _Member, base: int, in_union: bool, indent: int, ts: int, ns: int,
               cl: list[int], depth: int, last: bool = False) -> None:
        """class_member__fprintf(): one member line (or an inline anonymous type)."""
        out = self.out
        m = pos.m
        offset = base + pos.byte_offset
        self.boundary(offset, indent, cl)
        mt = self.btf[m.type_id]
        mk = kind_of(mt)
        if mk in (K_STRUCT, K_UNION) and not mt.name_off:
            nested_base = offset if not in_union else base
            if mk == K_STRUCT:
                self.struct(mt, indent, ts - 8, ns, nested_base, cl, depth + 1, False)
            else:
                self.union(mt, indent, ts - 8, ns, nested_base, cl, depth + 1)
            slen = len(m.name) if m.name else -1
            if m.name:
                out.append(" " + m.name)
            if pos.bitfield_size:
                out.append(f":{pos.bitfield_size}")
            out.append(";")
            if self.packed(mt):
                slen += 28
            spacing = ts + ns - slen - 3
            out.append(" " * max(1, abs(spacing)) + f"/* {offset:5d}")
            if pos.bitfield_size:
                out.append(f":{pos.bitfield_offset:2d} {pos.byte_size:2d} */")
            else:
                out.append(f" {pos.byte_size:5d} */")
            return
        if mk == K_PTR:
            target = self.btf[mt.type_id]
            while kind_of(target) == K_TYPE_TAG:
                target = self.btf[target.type_id]
            if kind_of(target) in (K_STRUCT, K_UNION) and not target.name_off:
                # a pointer to an anonymous struct/union: shown inline, offsets from its start
                if kind_of(target) == K_STRUCT:
                    self.struct(target, indent, ts - 16, ns, 0, cl, depth + 1, False)
                else:
                    self.union(target, indent, ts - 16, ns, 0, cl, depth + 1)
                out.append(f" * {m.name};" if m.name else " *;")
                out.append(f" /* {offset:5d} {pos.byte_size:5d} */")
                return
        elem, dims = self.anon_array(mt)
        flexible = last and dims.startswith("[0]")  # pahole writes a flexible array as `[]`
        if flexible:
            dims = "[]" + dims[3:]
        if elem is not None:
            # an array of an anonymous struct/union: its members inline, then `} name[N];`
            if kind_of(elem) == K_STRUCT:
                self.struct(elem, indent, ts - 8, ns, offset, cl, depth + 1, False)
            else:
                self.union(elem, indent, ts - 8, ns, offset, cl, depth + 1)
            out.append(f" {m.name}{dims};" if m.name else f"{dims};")
            out.append(f" /* {offset:5d} {pos.byte_size:5d} */")
            return
        ty, nm = self.split_decl(m.type_id, m.name, indent)
        if flexible:
            nm = nm.replace("[0]", "[]", 1)
        text = f"{ty:<{abs(ts)}} {nm}"
        if pos.bitfield_size:
            text += f":{pos.bitfield_size}"
        text += ";"
        out.append(text)
        if "\n" in text:
            spacing = 1
        else:
            spacing = max(1, ts + ns - len(text))
        out.append(" " * spacing + f"/* {offset:5d}")
        if pos.bitfield_size:
            out.append(f":{pos.bitfield_offset:2d} {pos.byte_size:2d} */")
        else:
            out.append(f" {pos.byte_size:5d} */")

    def union(self, t: Type, indent: int, ts: int, ns: int, base: int, cl: list[int],
              depth: int) -> None:
        """union__fprintf(): members one a line, each starting at the union's cacheline."""
        if depth > MAX_DECL_DEPTH:
            raise BtfError(f"nested anonymous types too deep or cyclic at [{t.id}]",
                           self.btf.path, None, t.id)
        out = self.out
        out.append(f"union{' ' + t.name if t.name else ''} {{\n")
        self.union_packed(t)
        tabs = "\t" * (indent + 1)
        initial = cl[0]
        self._in_union += 1
        for pos in self.members_of(t):
            out.append(tabs)
            self.member(pos, base, True, indent + 1, ts, ns, cl, depth)
            out.append("\n")
            cl[0] = initial
        self._in_union -= 1
        out.append("\t" * indent + "}")

    def struct(self, t: Type, indent: int, ts: int, ns: int, base: int, cl: list[int],
               depth: int, stats: bool) -> None:
        """__class__fprintf(): members with holes, bitfield notes and (top level) a summary."""
        if depth > MAX_DECL_DEPTH:
            raise BtfError(f"nested anonymous types too deep or cyclic at [{t.id}]",
                           self.btf.path, None, t.id)
        out = self.out
        out.append(f"struct{' ' + t.name if t.name else ''} {{\n")
        tabs = "\t" * (indent + 1)
        members = self.members_of(t)
        holes = _Holes(members, t.size, True)
        newline = 0
        sum_bytes = sum_bits = sum_holes = sum_bit_holes = 0
        nr_paddings = sum_paddings = 0
        if holes.pre_bit_hole > 0:
            if not newline:
                out.append("\n")
            newline += 1
            out.append(f"{tabs}/* XXX {_plural(holes.pre_bit_hole, 'bit')} hole, "
                       f"try to pack */\n")
            sum_bit_holes += holes.pre_bit_hole
        if holes.pre_hole > 0:
            if not newline:
                out.append("\n")
            newline += 1
            out.append(f"{tabs}/* XXX {_plural(holes.pre_hole, 'byte')} hole, try to pack */\n")
            sum_holes += holes.pre_hole
        last: _Member | None = None
        last_size = 0
        for pos in members:
            if last is not None and last_size != 0:
                if last.bit_hole and pos.bitfield_size:
                    bits = last.bit_hole
                    if last.byte_offset != pos.byte_offset:
                        out.append(f"\n{tabs}/* Force alignment to the next boundary: */\n")
                        bits = 0
                    ty, _ = self.split_decl(pos.m.type_id, "", indent + 1)
                    out.append(f"{tabs}{ty:<{abs(ts)}} :{bits};\n")
                if pos.byte_offset < last.byte_offset or (
                        pos.byte_offset == last.byte_offset and not last.bitfield_size
                        and pos.bitfield_size):
                    if not newline:
                        out.append("\n")
                    newline += 1
                    out.append(f"{tabs}/* Bitfield combined with previous fields */\n")
                elif 0 < pos.byte_offset - last.byte_offset < last_size:
                    if not newline:
                        out.append("\n")
                    newline += 1
                    out.append(f"{tabs}/* Bitfield combined with next fields */\n")
            if newline:
                out.append("\n")
                newline = 0
            out.append(tabs)
            flexible = pos is members[-1] and last is not None and not self._in_union
            self.member(pos, base, False, indent + 1, ts, ns, cl, depth, flexible)
            mt = self.btf[pos.m.type_id]
            if kind_of(mt) == K_STRUCT:
                padding = self.padding_of(mt)
                if padding > 0:
                    nr_paddings += 1
                    sum_paddings += padding
                    if not newline:
                        out.append("\n")
                    newline += 1
                    out.append(f"\n{tabs}/* XXX last struct has {_plural(padding, 'byte')} "
                               f"of padding */")
            if pos.bit_hole:
                if not newline:
                    out.append("\n")
                newline += 1
                out.append(f"\n{tabs}/* XXX {_plural(pos.bit_hole, 'bit')} hole, "
                           f"try to pack */")
                sum_bit_holes += pos.bit_hole
            if pos.hole > 0:
                if not newline:
                    out.append("\n")
                newline += 1
                out.append(f"\n{tabs}/* XXX {_plural(pos.hole, 'byte')} hole, try to pack */")
                sum_holes += pos.hole
            out.append("\n")
            if pos.bitfield_size:
                sum_bits += pos.bitfield_size
            else:
                sum_bytes += pos.byte_size
            if (last is None or last_size == 0 or last.byte_offset != pos.byte_offset
                    or (not last.bitfield_size and pos.bitfield_size)):
                last_size = pos.byte_size
            last = pos
        if stats:
            size = t.size
            out.append(f"\n{tabs}/* size: {size}, cachelines: {-(-size // CACHELINE)}, "
                       f"members: {len(members)} */\n")
            if sum_holes > 0 or sum_bit_holes > 0:
                if sum_bytes > 0:
                    out.append(f"{tabs}/* sum members: {sum_bytes}")
                    if sum_holes > 0:
                        out.append(f", holes: {holes.nr_holes}, sum holes: {sum_holes}")
                    out.append(" */\n")
                if sum_bits > 0:
                    out.append(f"{tabs}/* sum bitfield members: {sum_bits} bits")
                    if sum_bit_holes > 0:
                        out.append(f", bit holes: {holes.nr_bit_holes}, sum bit holes: "
                                   f"{sum_bit_holes} bits")
                    else:
                        out.append(f" ({sum_bits // 8} bytes)")
                    out.append(" */\n")
            if holes.padding > 0:
                out.append(f"{tabs}/* padding: {holes.padding} */\n")
            if nr_paddings:
                out.append(f"{tabs}/* paddings: {nr_paddings}, sum paddings: {sum_paddings} */\n")
            if holes.bit_padding > 0:
                out.append(f"{tabs}/* bit_padding: {holes.bit_padding} bits */\n")
            if (base + size) % CACHELINE:
                out.append(f"{tabs}/* last cacheline: {(base + size) % CACHELINE} bytes */\n")
        out.append("\t" * indent + "}")
        if self.packed(t):
            out.append(" __attribute__((__packed__))")

    def render(self, t: Type) -> str:
        cl = [0]
        if kind_of(t) == K_STRUCT:
            self.struct(t, 0, _TYPE_COL, _NAME_COL, 0, cl, 0, True)
            return "".join(self.out) + ";"
        # pahole gives a union no summary; a size line is still handy
        self.union(t, 0, _TYPE_COL, _NAME_COL - 2, 0, cl, 0)
        text = "".join(self.out)
        size = t.size
        return (text[:-1] + f"\n\t/* size: {size}, cachelines: {-(-size // CACHELINE)}, "
                f"members: {len(t.members)} */\n}};")


def render_layout(btf: Btf, t: Type | int) -> str:
    """A struct or union with offsets, sizes, holes and padding, like ``pahole -C NAME``.

    Each member carries ``/* offset size */`` (``/* offset:bit size */`` for bitfields, where
    offset and size are those of the bitfield's storage unit); nested anonymous structs and
    unions are shown inline with absolute offsets; holes, cacheline boundaries and a closing
    summary (size, cachelines, members, holes, padding) follow pahole's wording. A typedef of a
    struct shows the struct; other kinds give their C definition.
    """
    t = btf[t] if isinstance(t, int) else t
    layout = _Layout(btf)
    with layout.dumper.lock:
        return _render_layout(btf, t, layout)


def _render_layout(btf: Btf, t: Type, layout: _Layout) -> str:
    try:
        target = layout.strip(t.id) if kind_of(t) == K_TYPEDEF else t
        if kind_of(target) not in (K_STRUCT, K_UNION):
            return render_c(btf, t, real_names=True)
        text = layout.render(target)
    except RecursionError:
        raise BtfError("type graph too deep to lay out", btf.path, None, t.id) from None
    if target is not t:
        text = f"/* {render_c(btf, t, real_names=True)[:-1]} */\n{text}"
    return text
