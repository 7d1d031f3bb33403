"""Record layout as clang computes it for BPF (the SysV x86-64 rules, which the BPF target uses).

- Members are placed at the next offset aligned to their alignment (1 in a packed record,
  raised by ``__attribute__((aligned(N)))``).
- A bit-field goes at the current bit unless it would cross a boundary of a storage unit of its
  declared type (aligned to the type's alignment); then it starts at the next such boundary.
  Packed records never move bit-fields.
- A zero-width bit-field aligns the next member to its type's alignment.
- Unnamed bit-fields (``long: 64;``, the padding bpftool writes into ``vmlinux.h``) take space
  but are not members and do not raise the record's alignment.
- The record's size is rounded up to its alignment.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FieldSpec:
    name: str  # "" for an anonymous struct/union member or an unnamed bit-field
    type_id: int
    size: int  # bytes of the declared type
    align: int  # natural alignment of the declared type
    bitfield: int | None = None  # width, None when not a bit-field
    aligned: int = 0  # __attribute__((aligned(N))) on the member
    packed: bool = False  # __attribute__((packed)) on the member


@dataclass
class Placed:
    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int  # 0 when not a bit-field


def _up(v: int, a: int) -> int:
    return (v + a - 1) // a * a if a > 1 else v


def layout(fields: list[FieldSpec], *, union: bool = False, packed: bool = False,
           aligned: int = 0) -> tuple[list[Placed], int, int]:
    """Place ``fields``; returns (members, size in bytes, alignment in bytes)."""
    out: list[Placed] = []
    off = 0  # bits
    rec_align = 1
    max_bits = 0
    for f in fields:
        falign = 1 if (packed or f.packed) else max(f.align, 1)
        if f.aligned:
            falign = max(falign, f.aligned)
        if f.bitfield is not None:
            w = f.bitfield
            unit_bits = max(f.size, 1) * 8
            type_align_bits = max(f.align, 1) * 8
            if union:
                if w and f.name:
                    out.append(Placed(f.name, f.type_id, 0, w))
                    rec_align = max(rec_align, falign)
                max_bits = max(max_bits, w)
                continue
            if w == 0:
                off = _up(off, type_align_bits if not packed else type_align_bits)
                continue
            if not (packed or f.packed):
                start = off - off % type_align_bits
                if off + w > start + unit_bits:
                    off = _up(off, type_align_bits)
            if f.aligned:
                off = _up(off, f.aligned * 8)
            if f.name:
                out.append(Placed(f.name, f.type_id, off, w))
                rec_align = max(rec_align, falign)
            off += w
            continue
        if union:
            out.append(Placed(f.name, f.type_id, 0, 0))
            max_bits = max(max_bits, f.size * 8)
            rec_align = max(rec_align, falign)
            continue
        off = _up(off, falign * 8)
        out.append(Placed(f.name, f.type_id, off, 0))
        off += f.size * 8
        rec_align = max(rec_align, falign)
    if aligned:
        rec_align = max(rec_align, aligned)
    end = max_bits if union else off
    size = _up(_up(end, 8) // 8, rec_align)
    return out, size, rec_align
