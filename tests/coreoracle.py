"""libbpf as the oracle for the CO-RE resolver.

Two ways to run libbpf's own relocation code on an object against a target BTF:

- ``bpftool -d gen min_core_btf TARGET OUT OBJ`` (always available with bpftool): prints, per
  relocation, the local spec, every candidate with its (partial) spec and whether it matched,
  "no matching targets found" or the hard error. It stops at the first hard error.
- libbpf itself through ctypes (``bpf_object__open_file`` with ``btf_custom_path`` then
  ``bpf_object__load``): additionally prints the patched values ("patched insn #I ... A -> B")
  and poisonings. This needs the right to load BPF programs; without it the test skips.
  :meth:`Libbpf.load_program` loads one program of an object (the others' autoload off) and
  keeps the verifier's log at level 2, which lists every instruction the verifier visits:
  :func:`visited` maps them back to the object's sections, :attr:`ProgramLoad.poison` names
  the poisoned relocation the verifier reached, if any.

:func:`parse_log` turns either log into :class:`LogRelo` records in ``.BTF.ext`` order.

Beside them, the objects the tests use: :func:`compile_objects` (BPF C compiled once per
session with clang), and hand-made ones: :func:`elf_object` (sections, function symbols,
``.rel`` entries), :func:`ext_blob` (``.BTF.ext``), :func:`insn` and :func:`ldimm64`.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import glob
import os
import platform
import re
import shutil
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from bpfls.btf import load
from bpfls.btf.dump_c import dump_c
from bpfls.core import CoreResolver, ReloKind, Resolution
from bpfls.core.ext import ObjectRelo, read_ext
from bpfls.core.patch import check_insn

from corpus_headers import include_dirs, write_headers

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

    def load_program(self, obj: Path, target: Path, program: str) -> ProgramLoad:
        """Load only ``program`` (a function name) of ``obj`` with CO-RE against ``target``,
        with the verifier's log at level 2 (in a 16 MiB buffer)."""
        lib = self.lib
        if not hasattr(self, "_log_buf"):
            lib.bpf_object__next_program.restype = ctypes.c_void_p
            lib.bpf_object__next_program.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            lib.bpf_program__name.restype = ctypes.c_char_p
            lib.bpf_program__name.argtypes = [ctypes.c_void_p]
            lib.bpf_program__set_autoload.argtypes = [ctypes.c_void_p, ctypes.c_bool]
            lib.bpf_object__load.restype = ctypes.c_int
            self._log_buf = ctypes.create_string_buffer(16 << 20)
        self.lines = []
        buf = self._log_buf
        buf[0] = b"\0"
        opts = _OpenOpts(ctypes.sizeof(_OpenOpts), None, False, None, 0, None,
                         str(target).encode(), ctypes.cast(buf, ctypes.c_char_p), len(buf), 2)
        handle = lib.bpf_object__open_file(str(obj).encode(), ctypes.byref(opts))
        if not handle:
            raise OSError(f"libbpf could not open {obj}")
        try:
            prog = None
            found = False
            while True:
                prog = lib.bpf_object__next_program(handle, prog)
                if not prog:
                    break
                name = lib.bpf_program__name(prog).decode()
                found |= name == program
                lib.bpf_program__set_autoload(prog, name == program)
            if not found:
                raise ValueError(f"{obj} has no program {program!r}")
            rc = lib.bpf_object__load(handle)
        finally:
            lib.bpf_object__close(handle)
        return ProgramLoad(program, rc, "".join(self.lines),
                           buf.value.decode("utf-8", "replace"))


def libbpf_or_skip() -> Libbpf:
    """The system libbpf through ctypes; the calling test skips where that cannot work."""
    if platform.machine() != "x86_64":
        pytest.skip("the ctypes printf bridge for libbpf's log assumes the x86-64 va_list")
    try:
        return Libbpf()
    except OSError as e:
        pytest.skip(f"libbpf.so.1 not usable: {e}")


_ADDED = re.compile(r"prog '([^']*)': added (\d+) insns from sub-prog '([^']*)'")
_VISITED = re.compile(r"^(\d+): \([0-9a-f]{2}\)", re.M)
_POISON = re.compile(r"failed to resolve CO-RE relocation (.*)$", re.M)


@dataclass
class ProgramLoad:
    """One program's load: libbpf's return code and log, and the verifier's log."""

    program: str
    rc: int
    log: str
    verifier_log: str

    @property
    def loaded(self) -> bool:
        return self.rc == 0

    @property
    def poison(self) -> str | None:
        """libbpf's spec of the poisoned relocation the verifier reached (``<byte_off> [5]
        struct task_struct___o.state (0:0 @ offset 0)``), if that failed the load."""
        m = _POISON.search(self.verifier_log) or _POISON.search(self.log)
        return m[1].strip() if m else None

    @property
    def relocated(self) -> bool:
        """Did libbpf get past CO-RE relocation to the verifier?"""
        return "failed to perform CO-RE" not in self.log and bool(self.verifier_log)

    def subprograms(self) -> list[tuple[str, int]]:
        """The subprograms libbpf appended to the program, in order, with their lengths."""
        return [(m[3], int(m[2])) for m in _ADDED.finditer(self.log) if m[1] == self.program]

    def visited(self) -> set[int]:
        """The instructions the verifier visited (indices into the loaded program)."""
        return {int(m[1]) for m in _VISITED.finditer(self.verifier_log)}


def visited(obj, load: ProgramLoad) -> set[tuple[str, int]]:
    """The instructions of ``obj`` (a :class:`bpfls.core.objfile.BpfObject`) the verifier
    visited, as (section, slot): libbpf lays the program out as its own instructions followed
    by each subprogram it calls, in the order its log names them."""
    main = obj.function(load.program)
    layout = [(main.section, main.start, main.length)]
    for name, count in load.subprograms():
        f = next(f for f in obj.functions if f.name == name and not f.is_program)
        assert f.length == count, (name, f.length, count)
        layout.append((f.section, f.start, count))
    out = set()
    for i in load.visited():
        base = 0
        for sec, start, n in layout:
            if i < base + n:
                out.add((sec, start + i - base))
                break
            base += n
        else:
            raise AssertionError(f"instruction {i} is past the loaded program")
    return out


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


# -- compiled programs ------------------------------------------------------------------------

@cache
def vmlinux_header(kernel: Path) -> str:
    """bpftool's ``format c`` header of ``kernel`` (the ``vmlinux.h`` programs include)."""
    return dump_c(load(kernel))


def compile_objects(clang: str, sources: Iterable[Path], kernel: Path) -> dict[str, Path]:
    """Compile each BPF C source with ``clang -g -O2 -target bpf`` against ``kernel``'s
    ``vmlinux.h`` and libbpf's headers: source file name → object. Each object is compiled
    once per test session (in a directory removed at exit), however many modules ask."""
    sources = list(sources)
    todo = [s for s in sources if (clang, s, kernel) not in _COMPILED]
    if todo:
        out_dir = _objects_dir() / kernel.name
        out_dir.mkdir(exist_ok=True)
        multiarch = [f"-I{d}" for d in sorted(glob.glob("/usr/include/*-linux-gnu"))
                     if os.path.exists(os.path.join(d, "asm", "errno.h"))]  # for usdt.bpf.h

        def build(src: Path) -> Path:
            obj = out_dir / (src.name.removesuffix(".c") + ".o")
            incs = [f"-I{d}" for d in program_include_dirs(src, kernel)]
            subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86",
                            *incs, *multiarch, "-c", str(src), "-o", str(obj)],
                           check=True, capture_output=True, text=True)
            return obj

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for src, obj in zip(todo, pool.map(build, todo), strict=True):
                _COMPILED[(clang, src, kernel)] = obj
    return {s.name: _COMPILED[(clang, s, kernel)] for s in sources}


_COMPILED: dict[tuple[str, Path, Path], Path] = {}


def program_include_dirs(src: Path, kernel: Path) -> list[Path]:
    """The include path :func:`compile_objects` builds ``src`` with (by default ``kernel``'s
    vmlinux.h; a corpus program's ``//!`` lines may say otherwise)."""
    default = _objects_dir() / kernel.name
    with _HEADERS_LOCK:
        if not (default / "vmlinux.h").exists():
            write_headers(default, vmlinux_header(kernel))
    return include_dirs(src, lambda k: headers_dir(k, default))


def headers_dir(kernel: str | None, default: Path) -> Path:
    """The directory of a sample kernel's vmlinux.h (a corpus program's ``//! vmlinux:``),
    or ``default``."""
    if kernel is None:
        return default
    d = _objects_dir() / f"headers-{kernel}"
    with _HEADERS_LOCK:  # programs compile in parallel threads
        if not (d / "vmlinux.h").exists():
            write_headers(d, vmlinux_header(Path(__file__).resolve().parent.parent
                                            / "sample-btf" / f"{kernel}.btf.xz"))
    return d


_HEADERS_LOCK = threading.Lock()


@cache
def _objects_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="bpfls-test-objects-"))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


# -- hand-made objects -------------------------------------------------------------------------

def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One little-endian BPF instruction."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def ldimm64(dst: int, value: int, src: int = 0) -> bytes:
    """``dst = value ll`` (two slots)."""
    value &= (1 << 64) - 1
    return (insn(0x18, dst, src, 0, _s32(value & 0xFFFFFFFF))
            + insn(0, 0, 0, 0, _s32(value >> 32)))


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def ext_blob(relos: dict[str, list[tuple[int, int, int, int]]],
             lines: dict[str, list[tuple[int, int, int, int, int]]] | None = None,
             *, rec_size: int = 16, line_rec_size: int = 16, hdr_len: int = 32,
             magic: int = 0xEB9F, version: int = 1) -> bytes:
    """A ``.BTF.ext`` section: per section name offset, CO-RE records (insn_off, type_id,
    access_str_off, kind) and line records (insn_off, file_off, line_off, line, col)."""
    import struct as st

    def block(recsz: int, secs: dict, pack) -> bytes:
        if not secs:
            return b""
        out = st.pack("<I", recsz)
        for sec_off, recs in secs.items():
            out += st.pack("<II", sec_off, len(recs))
            for r in recs:
                out += pack(r).ljust(recsz, b"\0")
        return out

    li = block(line_rec_size, lines or {},
               lambda r: st.pack("<IIII", r[0], r[1], r[2], (r[3] << 10) | r[4]))
    co = block(rec_size, relos, lambda r: st.pack("<IIII", *r))
    hdr = st.pack("<HBBI", magic, version, 0, hdr_len)
    hdr += st.pack("<IIII", 0, 0, 0, len(li))
    if hdr_len >= 32:
        hdr += st.pack("<II", len(li), len(co))
    hdr = hdr.ljust(hdr_len, b"\0")
    return hdr + li + co


def elf_object(sections: dict[str, bytes], exec_sections: tuple[str, ...] = (), *,
               functions: tuple[tuple[str, str, int, int, bool], ...] = (),
               relocations: dict[str, list[tuple[int, str]]] | None = None,
               machine: int = 247) -> bytes:
    """A minimal little-endian ELF64 BPF relocatable object holding ``sections``.

    ``functions``: function symbols (name, section, byte offset, byte size, global);
    ``relocations``: per section, ``.rel`` entries (byte offset, symbol) where the symbol is a
    function's name, a section's name (its section symbol) or any other name (an undefined,
    extern symbol). With either, the object gets ``.strtab`` and ``.symtab``."""
    sections = dict(sections)
    relocations = relocations or {}
    rel_names = [f".rel{sec}" for sec in relocations]
    with_symbols = bool(functions or relocations)
    names = [".shstrtab", *sections]
    if with_symbols:
        names += [".strtab", ".symtab", *rel_names]
    index = {n: i + 1 for i, n in enumerate(names)}
    if with_symbols:
        strtab = bytearray(b"\0")

        def string(text: str) -> int:
            strtab.extend(text.encode() + b"\0")
            return len(strtab) - len(text) - 1

        # (name offset, info, shndx, value, size); locals first, as ELF wants
        syms = [(0, 0, 0, 0, 0)]
        sym_index: dict[str, int] = {}
        for n in sections:
            sym_index[n] = len(syms)
            syms.append((0, 3, index[n], 0, 0))  # STB_LOCAL, STT_SECTION
        ordered = sorted(functions, key=lambda f: f[4])
        first_global = len(syms) + sum(1 for f in ordered if not f[4])
        for name, sec, off, size, is_global in ordered:
            sym_index[name] = len(syms)
            syms.append((string(name), (1 << 4 if is_global else 0) | 2, index[sec], off, size))
        for entries in relocations.values():
            for _off, sym in entries:
                if sym not in sym_index:
                    sym_index[sym] = len(syms)
                    syms.append((string(sym), 1 << 4, 0, 0, 0))  # a global undefined symbol
        sections[".strtab"] = bytes(strtab)
        sections[".symtab"] = b"".join(struct.pack("<IBBHQQ", n, info, 0, shndx, value, size)
                                       for n, info, shndx, value, size in syms)
        for sec, entries in relocations.items():
            sections[f".rel{sec}"] = b"".join(struct.pack("<QQ", off, (sym_index[sym] << 32) | 1)
                                              for off, sym in entries)
    shstr = b"\0"
    name_off = {}
    for n in names:
        name_off[n] = len(shstr)
        shstr += n.encode() + b"\0"
    body = b""
    layout = []
    off = 64
    for n in names:
        data = shstr if n == ".shstrtab" else sections[n]
        pad = (-off) % 8
        body += b"\0" * pad
        off += pad
        layout.append((n, off, len(data)))
        body += data
        off += len(data)
    pad = (-off) % 8
    body += b"\0" * pad
    shoff = off + pad
    sh = b"\0" * 64
    for n, o, size in layout:
        typ, link, info, entsize = 1, 0, 0, 0
        if n in (".shstrtab", ".strtab"):
            typ = 3
        elif n == ".symtab":
            typ, link, info, entsize = 2, index[".strtab"], first_global, 24
        elif n in rel_names:
            typ, link, info, entsize = 9, index[".symtab"], index[n.removeprefix(".rel")], 16
        flags = 6 if n in exec_sections else 0
        sh += struct.pack("<IIQQQQIIQQ", name_off[n], typ, flags, 0, o, size, link, info,
                      8 if flags else 1, entsize)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 1, machine, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
                           len(names) + 1, 1)
    return ehdr + body + sh


# -- comparing --------------------------------------------------------------------------------

def _status_word(res: Resolution) -> str:
    if res.status in ("missing", "zero"):
        return "no match"
    return res.status


def _log_word(lr: LogRelo | None) -> str:
    if lr is None:
        return "not processed"
    if lr.error:
        return "error"
    if lr.poisoned:
        return "no match"
    if lr.matched:
        return "resolved"
    if lr.no_match:
        return "no match"
    return "resolved"  # local_type_id: no candidates, never a verdict line


def _cut(spec: str | None) -> str | None:
    """libbpf formats specs into a 256-byte buffer."""
    return spec[:255] if spec is not None else None


def compare(obj: Path, target: Path, log: str, *, values: bool = False,
            resolutions: Sequence[tuple[ObjectRelo, Resolution]] | None = None
            ) -> list[tuple[ObjectRelo, Resolution]]:
    """Resolve every relocation of ``obj`` on ``target`` and check it against libbpf's log.

    ``resolutions``: bpfls's verdicts to check instead of resolving here, one per relocation
    in ``.BTF.ext`` order (what :func:`bpfls.core.objects.resolve_object` returns; with
    ``values``, before the instruction checks, which are applied here).
    Returns the pairs compared (libbpf stops at the first hard error; so do we)."""
    info = read_ext(obj)
    recs = parse_log(log)
    resolver = CoreResolver(load(target)) if resolutions is None else None
    compared = []
    assert len(recs) <= len(info.relocations), log[-2000:]
    assert resolutions is None or len(resolutions) == len(info.relocations)
    for i, orelo in enumerate(info.relocations):
        if resolver is not None:
            res = resolver.resolve(orelo)
        else:
            given, res = resolutions[i]
            assert (given.section, given.index) == (orelo.section, orelo.index), given
        if values:  # libbpf went on to patch the instruction
            assert orelo.insn is not None
            res = check_insn(res, orelo.insn)
        lr = recs[i] if i < len(recs) else None
        where = f"{obj.name} on {target.name}: {orelo.section} relo #{orelo.index} {res}"
        if lr is None:
            # libbpf stopped at an earlier hard error, or bpftool could not record a type
            assert (any(r.status == "error" for _, r in compared)
                    or "Error: unsupported kind" in log), where
            break
        assert lr.index == orelo.index, where
        if lr.local_spec is not None:
            assert _cut(res.local_spec_log) == lr.local_spec, where
        theirs = [(m, s) for _, m, s in lr.candidates]
        ours = [(c.matched, _cut(c.log_spec)) for c in res.candidates]
        if lr.error and not theirs and not lr.local_spec:
            ours = theirs
        assert ours == theirs, f"{where}\nours:   {ours}\ntheirs: {theirs}"
        assert _status_word(res) == _log_word(lr), f"{where}: libbpf says {lr}"
        if res.status == "resolved" and orelo.kind != ReloKind.TYPE_ID_LOCAL:
            assert res.target_type_ids == tuple(
                int(s.split("]")[0].split("[")[1]) for _, m, s in lr.candidates if m), where
        if values and lr.patched:
            for what, (_old, new) in lr.patched.items():
                if what != "mem_sz":
                    assert res.target_value == new, f"{where}: libbpf patched {what} → {new}"
            if "mem_sz" in lr.patched:
                assert res.target_size == lr.patched["mem_sz"][1], where
        if values and lr.poisoned:
            assert res.status == "missing" or res.fail_memsz_adjust, where
        if values and res.status == "missing":
            assert lr.poisoned, where
        if values and lr.memsz_fail:
            assert res.fail_memsz_adjust, where
        compared.append((orelo, res))
        if res.status == "error":
            assert lr.error, where
            break
    return compared
