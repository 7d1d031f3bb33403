"""The last step libbpf takes: patching the instruction (``bpf_core_patch_insn``).

When the relocated instruction is known (an object file's ``.BTF.ext`` names it), a few more
outcomes become visible:

- the immediate or offset clang emitted must equal libbpf's local value wherever libbpf
  validates it (not for bitfield offsets/sizes/lshift, nor type ids), else the load fails
  ("unexpected insn value": e.g. an unsigned 32-bit enumerator with the top bit set, which
  clang emits as 2147483648 while libbpf expects it sign-extended);
- a direct load/store (LDX/ST/STX) whose field changed size is resized only for pointers and
  non-signed integers; otherwise it is poisoned ("accesses field incorrectly");
- LDX/ST/STX offsets above 32767 fail with -ERANGE.

:func:`check_insn` turns a :class:`~bpfls.core.resolve.Resolution` into the final verdict.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass

from bpfls.core.resolve import ERROR, MISSING, Resolution

U64 = (1 << 64) - 1

BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_ALU64 = 0, 1, 2, 3, 4, 5, 7
BPF_K = 0
BPF_LDIMM64 = 0x18
_SIZE_BYTES = {0x18: 8, 0x00: 4, 0x08: 2, 0x10: 1}  # BPF_DW, BPF_W, BPF_H, BPF_B


@dataclass(frozen=True)
class Insn:
    """One BPF instruction (and, for ``ldimm64``, the second half's fields)."""

    code: int
    dst: int
    src: int
    off: int  # s16
    imm: int  # s32
    next: Insn | None = None

    @classmethod
    def decode(cls, data: bytes, big_endian: bool = False) -> Insn:
        """Decode 8 bytes (16 for ldimm64) as the object's byte order lays them out."""
        if len(data) < 8:
            raise ValueError(f"instruction needs 8 bytes, got {len(data)}")
        order = ">" if big_endian else "<"
        code, regs, off, imm = struct.unpack_from(order + "BBhi", data, 0)
        dst, src = (regs >> 4, regs & 0xF) if big_endian else (regs & 0xF, regs >> 4)
        nxt = None
        if code == BPF_LDIMM64 and len(data) >= 16:
            nxt = cls.decode(data[8:16], big_endian)
        return cls(code, dst, src, off, imm, nxt)

    @property
    def cls(self) -> int:
        return self.code & 7

    @property
    def mem_size(self) -> int:
        return _SIZE_BYTES.get(self.code & 0x18, -1)


def _error(res: Resolution, msg: str, code: str = "EINVAL") -> Resolution:
    return dataclasses.replace(res, status=ERROR, reason=msg, error_code=code)


def check_insn(res: Resolution, insn: Insn) -> Resolution:
    """The verdict once the instruction is known (``bpf_core_patch_insn``).

    Poisoned and failed relocations are returned unchanged; a resolved or zero one may turn
    into an error (value validation, range, instruction form) or, for a load/store whose
    field size changed incompatibly, into ``"missing"`` (poisoned).
    """
    if res.status in (ERROR, MISSING):
        return res
    orig = res.local_value if res.local_value is not None else 0
    new = res.target_value if res.target_value is not None else 0
    cls = insn.cls
    if cls in (BPF_ALU, BPF_ALU64):
        if insn.code & 0x08 != BPF_K:
            return _error(res, "the relocated ALU instruction does not take an immediate")
        if res.validate and insn.imm & U64 != orig:
            return _error(res, f"unexpected instruction value: clang emitted {insn.imm}, "
                               f"libbpf expects {orig}")
        return res
    if cls in (BPF_LDX, BPF_ST, BPF_STX):
        if res.validate and insn.off & U64 != orig:
            return _error(res, f"unexpected instruction offset: clang emitted {insn.off}, "
                               f"libbpf expects {orig}")
        if new > 0x7FFF:
            return _error(res, f"offset {new} does not fit a load/store offset (max 32767)",
                          "ERANGE")
        if res.fail_memsz_adjust:
            ls, ts = res.local_mem_size, res.target_mem_size
            return dataclasses.replace(
                res, status=MISSING, target_value=None,
                reason=f"direct access reads the field incorrectly: it is {ls} bytes here and "
                       f"{ts} in the kernel, and only pointers and unsigned integers can be "
                       "resized (read it with BPF_CORE_READ or fix the local type)")
        osz, nsz = res.local_mem_size, res.target_mem_size
        if osz != nsz:
            if insn.mem_size != osz:
                return _error(res, f"instruction accesses {insn.mem_size} bytes, the local "
                                   f"field has {osz}")
            if nsz not in (1, 2, 4, 8):
                return _error(res, f"cannot load a {nsz}-byte field with one instruction")
        return res
    if cls == BPF_LD:
        n = insn.next
        if (insn.code != BPF_LDIMM64 or insn.src != 0 or insn.off != 0 or n is None
                or n.code != 0 or n.dst != 0 or n.src != 0 or n.off != 0):
            return _error(res, "the relocated ldimm64 instruction has an unexpected form")
        imm = (insn.imm & 0xFFFFFFFF) | ((n.imm << 32) & U64)
        if res.validate and imm != orig:
            return _error(res, f"unexpected instruction value: clang emitted {imm}, libbpf "
                               f"expects {orig}")
        return res
    return _error(res, f"instruction class {cls} cannot be relocated")
