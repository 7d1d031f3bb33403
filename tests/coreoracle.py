"""libbpf as the oracle for the CO-RE resolver.

Two ways to run libbpf's own relocation code on an object against a target BTF:

- ``bpftool -d gen min_core_btf TARGET OUT OBJ`` (always available with bpftool): prints, per
  relocation, the local spec, every candidate with its (partial) spec and whether it matched,
  "no matching targets found" or the hard error. It stops at the first hard error.
- libbpf itself through ctypes (``bpf_object__open_file`` with ``btf_custom_path`` then
  ``bpf_object__load``): additionally prints the patched values ("patched insn #I ... A -> B")
  and poisonings. This needs the right to load BPF programs; without it the test skips.

:func:`parse_log` turns either log into :class:`LogRelo` records in ``.BTF.ext`` order.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_RELO = re.compile(r"prog '([^']*)': relo #(\d+): (.*)$")
_CAND = re.compile(r"(matching|non-matching) candidate #(\d+) (.*)$")
_PATCH = re.compile(r"patched insn #(\d+) \(([A-Z0-9/]+)\) (imm64|imm|off|mem_sz) (\d+) -> (\d+)")
_ERRORS = ("field offset ambiguity", "relocation decision ambiguity",
           "relocation doesn't support anonymous types", "error matching candidate",
           "target candidate search failed", "unexpected insn", "value too big",
           "unrecognized CO-RE relocation", "has unexpected form", "unexpected mem size",
           "invalid new mem size")
_BARE_ERRORS = re.compile(r"prog '([^']*)': relo (\d+) at insn #(\d+) (can't be .*)$")
_PARSE_ERR = re.compile(r"prog '([^']*)': relo #(\d+): parsing (.*) failed: (-?\d+)")


@dataclass
class LogRelo:
    prog: str
    index: int
    local_spec: str | None = None
    candidates: list[tuple[int, bool, str]] = field(default_factory=list)
    no_match: bool = False
    error: str | None = None
    patched: dict[str, tuple[int, int]] = field(default_factory=dict)  # what → (old, new)
    poisoned: bool = False
    memsz_fail: bool = False

    @property
    def matched(self) -> bool:
        return any(m for _, m, _ in self.candidates)


def parse_log(text: str) -> list[LogRelo]:
    out: list[LogRelo] = []
    cur: LogRelo | None = None

    def rec(prog: str, idx: int) -> LogRelo:
        nonlocal cur
        if cur is None or cur.prog != prog or cur.index != idx:
            cur = LogRelo(prog, idx)
            out.append(cur)
        return cur

    for line in text.splitlines():
        line = line.removeprefix("libbpf: ")
        m = _PARSE_ERR.search(line)
        if m:
            rec(m.group(1), int(m.group(2))).error = f"parsing {m.group(3)} failed"
            continue
        m = _BARE_ERRORS.search(line)
        if m:
            r = rec(m.group(1), cur.index if cur is not None else -1)
            r.error = m.group(4)
            continue
        m = _RELO.search(line)
        if not m:
            continue
        prog, idx, rest = m.group(1), int(m.group(2)), m.group(3)
        r = rec(prog, idx)
        err = next((e for e in _ERRORS if e in rest), None)
        if err is not None:
            r.error = rest
            continue
        if rest.startswith("<"):
            r.local_spec = rest
            continue
        c = _CAND.match(rest)
        if c:
            r.candidates.append((int(c.group(2)), c.group(1) == "matching", c.group(3).strip()))
            continue
        if rest.startswith("no matching targets found"):
            r.no_match = True
            continue
        p = _PATCH.search(rest)
        if p:
            r.patched[p.group(3)] = (int(p.group(4)), int(p.group(5)))
            continue
        if "w/ invalid insn" in rest:
            r.poisoned = True
            continue
        if "accesses field incorrectly" in rest:
            r.memsz_fail = True
    return out


def run_bpftool(bpftool: str, target: Path, obj: Path, out: Path) -> tuple[int, str]:
    """``bpftool -d gen min_core_btf``: exit code and the debug log."""
    p = subprocess.run([bpftool, "-d", "gen", "min_core_btf", str(target), str(out), str(obj)],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stderr + p.stdout


# -- libbpf through ctypes ------------------------------------------------------------------

class _OpenOpts(ctypes.Structure):
    """``struct bpf_object_open_opts`` of libbpf 1.x."""

    _fields_ = [("sz", ctypes.c_size_t), ("object_name", ctypes.c_char_p),
                ("relaxed_maps", ctypes.c_bool), ("pin_root_path", ctypes.c_char_p),
                ("_attach_prog_fd", ctypes.c_uint32), ("kconfig", ctypes.c_char_p),
                ("btf_custom_path", ctypes.c_char_p), ("kernel_log_buf", ctypes.c_char_p),
                ("kernel_log_size", ctypes.c_size_t), ("kernel_log_level", ctypes.c_uint32)]


_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class Libbpf:
    """The system libbpf, loaded once; :meth:`relocate` returns libbpf's log of a load."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("bpf")
        if name is None:
            raise OSError("libbpf.so not found")
        self.lib = ctypes.CDLL(name)
        self.libc = ctypes.CDLL(None)
        self.lib.bpf_object__open_file.restype = ctypes.c_void_p
        self.lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        self.lib.bpf_object__load.argtypes = [ctypes.c_void_p]
        self.lib.bpf_object__close.argtypes = [ctypes.c_void_p]
        self.lines: list[str] = []

        def printer(level: int, fmt: bytes, args: int) -> int:
            buf = ctypes.create_string_buffer(8192)
            self.libc.vsnprintf(buf, 8192, fmt, ctypes.c_void_p(args))
            self.lines.append(buf.value.decode("utf-8", "replace"))
            return 0

        self._printer = _PRINT_FN(printer)  # keep a reference: libbpf calls it later
        self.lib.libbpf_set_print(self._printer)

    def relocate(self, obj: Path, target: Path) -> str:
        self.lines = []
        opts = _OpenOpts(ctypes.sizeof(_OpenOpts), None, False, None, 0, None,
                         str(target).encode(), None, 0, 0)
        handle = self.lib.bpf_object__open_file(str(obj).encode(), ctypes.byref(opts))
        if not handle:
            raise OSError(f"libbpf could not open {obj}")
        try:
            self.lib.bpf_object__load(handle)
        finally:
            self.lib.bpf_object__close(handle)
        return "".join(self.lines)


# -- instructions ---------------------------------------------------------------------------

U64 = (1 << 64) - 1


def insn_immediates(obj: Path) -> dict[tuple[str, int], tuple[str, int]]:
    """(section, insn byte offset) → (instruction class, the value libbpf validates) for every
    instruction of every executable section: ALU imm, LDX/ST/STX off, LDIMM64 imm64, each
    sign-extended to u64 the way ``bpf_core_patch_insn`` compares them."""
    import struct

    from elftools.elf.elffile import ELFFile

    out: dict[tuple[str, int], tuple[str, int]] = {}
    with open(obj, "rb") as f:
        elf = ELFFile(f)
        for sec in elf.iter_sections():
            if not sec["sh_flags"] & 0x4 or sec["sh_type"] != "SHT_PROGBITS":
                continue
            data = sec.data()
            n = len(data) // 8
            i = 0
            while i < n:
                code, _regs, off, imm = struct.unpack_from("<BBhi", data, 8 * i)
                cls = code & 7
                if code == 0x18 and i + 1 < n:
                    hi = struct.unpack_from("<i", data, 8 * (i + 1) + 4)[0]
                    out[(sec.name, 8 * i)] = ("LDIMM64", ((imm & 0xFFFFFFFF) | (hi << 32)) & U64)
                    i += 2
                    continue
                if cls in (4, 7):
                    out[(sec.name, 8 * i)] = ("ALU", imm & U64)
                elif cls in (1, 2, 3):
                    out[(sec.name, 8 * i)] = ("LDX/ST/STX", off & U64)
                i += 1
    return out
