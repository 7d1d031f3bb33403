"""BPF instructions as the reachability model reads them: encodings, which helpers touch
which memory, and the arithmetic and comparisons the verifier works out on constants."""

from __future__ import annotations

from typing import Final

from bpfls.core.patch import BPF_ALU, BPF_ALU64, BPF_JMP, BPF_LD, BPF_LDX, BPF_ST, BPF_STX

BPF_JMP32: Final = 6
U64: Final = (1 << 64) - 1
U32: Final = (1 << 32) - 1
SIZES: Final = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}  # BPF_W, BPF_H, BPF_B, BPF_DW
MODE_MEM, MODE_MEMSX, MODE_ATOMIC, MODE_ABS, MODE_IND = 0x60, 0x80, 0xC0, 0x20, 0x40
ATOMIC_FETCH, ATOMIC_XCHG, ATOMIC_CMPXCHG = 0x01, 0xE1, 0xF1
JA, CALL_OP, EXIT, JCOND = 0x00, 0x80, 0x90, 0xE0

#: helpers that write ``r2`` bytes at ``r1`` and touch no other memory of the program
WRITES_R1_SIZE_R2: Final = frozenset({4, 16, 45, 112, 113, 114, 115, 148, 191})
#: helpers that only read the memory their pointer arguments point to
READ_ONLY: Final = frozenset({1, 2, 3, 6, 25, 87, 130, 177})
#: helpers that run a callback in the caller's context: helper → (the callback's register,
#: {the callback's argument register: the caller's register it gets})
SYNC_CALLBACKS: Final[dict[int, tuple[int, dict[int, int]]]] = {
    181: (2, {2: 3}),  # bpf_loop(nr, cb, ctx, flags): cb(index, ctx)
    164: (2, {4: 3}),  # bpf_for_each_map_elem(map, cb, ctx, flags): cb(map, key, value, ctx)
    180: (3, {3: 4}),  # bpf_find_vma(task, addr, cb, ctx, flags): cb(task, vma, ctx)
    209: (2, {2: 3}),  # bpf_user_ringbuf_drain(map, cb, ctx, flags): cb(dynptr, ctx)
}

__all__ = ["BPF_ALU", "BPF_ALU64", "BPF_JMP", "BPF_LD", "BPF_LDX", "BPF_ST", "BPF_STX"]


def s32(v: int) -> int:
    """The low 32 bits of ``v`` as a signed number."""
    v &= U32
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    """The low 64 bits of ``v`` as a signed number."""
    v &= U64
    return v - (1 << 64) if v >> 63 else v


def alu(op: int, a: int, b: int, bits: int) -> int | None:
    """``a op b`` on ``bits``-wide unsigned operands; ``None`` where the verifier does not
    compute the result (division, modulo, negation, byte swaps, shifts out of range)."""
    mask = (1 << bits) - 1
    a &= mask
    b &= mask
    if op == 0x00:
        return (a + b) & mask
    if op == 0x10:
        return (a - b) & mask
    if op == 0x20:
        return (a * b) & mask
    if op == 0x40:
        return a | b
    if op == 0x50:
        return a & b
    if op == 0xA0:
        return a ^ b
    if op in (0x60, 0x70, 0xC0):
        if b >= bits:
            return None
        if op == 0x60:
            return (a << b) & mask
        if op == 0x70:
            return a >> b
        signed = a - (1 << bits) if a >> (bits - 1) else a
        return (signed >> b) & mask
    return None


def decide(op: int, a: int, b: int, bits: int) -> bool | None:
    """Is the conditional jump ``if a op b`` taken (``None``: not a comparison)."""
    mask = (1 << bits) - 1
    a &= mask
    b &= mask
    sa = a - (1 << bits) if a >> (bits - 1) else a
    sb = b - (1 << bits) if b >> (bits - 1) else b
    return {0x10: a == b, 0x20: a > b, 0x30: a >= b, 0x40: bool(a & b), 0x50: a != b,
            0x60: sa > sb, 0x70: sa >= sb, 0xA0: a < b, 0xB0: a <= b, 0xC0: sa < sb,
            0xD0: sa <= sb}.get(op)
