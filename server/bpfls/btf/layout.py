"""pahole's view of a struct or union: C members with offsets, sizes, holes and cachelines.

:func:`render_layout` prints a struct the way ``pahole -C NAME`` does (``class__fprintf`` and
``union__fprintf``, with pahole's hole, padding and packed-attribute inference); member
declarations are spelled by the real-names :class:`~bpfls.btf.dump_c.CDumper`, and kinds other
than structs and unions fall back to :func:`~bpfls.btf.dump_c.render_c`.
"""

from __future__ import annotations

from bpfls.btf.btf import MAX_RESOLVE_DEPTH, Btf
from bpfls.btf.cnames import (
    K_ARRAY,
    K_ENUM,
    K_ENUM64,
    K_FLOAT,
    K_INT,
    K_PTR,
    K_STRUCT,
    K_TYPE_TAG,
    K_TYPEDEF,
    K_UNION,
    MAX_DECL_DEPTH,
    TYPEDEF_AND_MOD_KINDS,
    kind_of,
)
from bpfls.btf.dump_c import MAX_WALK_DEPTH, render_c, renderer
from bpfls.btf.errors import BtfError
from bpfls.btf.model import Type

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


def _hole(n: int, unit: str) -> str:
    """pahole's note on a hole of ``n`` bits or bytes."""
    return f"/* XXX {_plural(n, unit)} hole, try to pack */"


def _where(pos: _Member, offset: int) -> str:
    """The ``/* offset size */`` column of a member (``/* offset:bit size */`` for a bitfield)."""
    if pos.bitfield_size:
        return f"/* {offset:5d}:{pos.bitfield_offset:2d} {pos.byte_size:2d} */"
    return f"/* {offset:5d} {pos.byte_size:5d} */"


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
            if kind_of(t) in TYPEDEF_AND_MOD_KINDS:
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
        elif kind in TYPEDEF_AND_MOD_KINDS:
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
            out.append(" " * max(1, abs(spacing)) + _where(pos, offset))
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
        out.append(" " * spacing + _where(pos, offset))

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
        newline = False  # notes were written since the last member: a blank line follows them

        def note(text: str) -> None:
            """A note between members; the first of a run starts with a blank line."""
            nonlocal newline
            if not newline:
                out.append("\n")
                newline = True
            out.append(text)

        sum_bytes = sum_bits = sum_holes = sum_bit_holes = 0
        nr_paddings = sum_paddings = 0
        if holes.pre_bit_hole > 0:
            note(f"{tabs}{_hole(holes.pre_bit_hole, 'bit')}\n")
            sum_bit_holes += holes.pre_bit_hole
        if holes.pre_hole > 0:
            note(f"{tabs}{_hole(holes.pre_hole, 'byte')}\n")
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
                    note(f"{tabs}/* Bitfield combined with previous fields */\n")
                elif 0 < pos.byte_offset - last.byte_offset < last_size:
                    note(f"{tabs}/* Bitfield combined with next fields */\n")
            if newline:
                out.append("\n")
                newline = False
            out.append(tabs)
            flexible = pos is members[-1] and last is not None and not self._in_union
            self.member(pos, base, False, indent + 1, ts, ns, cl, depth, flexible)
            mt = self.btf[pos.m.type_id]
            if kind_of(mt) == K_STRUCT:
                padding = self.padding_of(mt)
                if padding > 0:
                    nr_paddings += 1
                    sum_paddings += padding
                    note(f"\n{tabs}/* XXX last struct has {_plural(padding, 'byte')} of "
                         f"padding */")
            if pos.bit_hole:
                note(f"\n{tabs}{_hole(pos.bit_hole, 'bit')}")
                sum_bit_holes += pos.bit_hole
            if pos.hole > 0:
                note(f"\n{tabs}{_hole(pos.hole, 'byte')}")
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
