"""A compiled BPF object (``clang -target bpf -c``), read the way libbpf reads it.

:func:`read_object` gives a :class:`BpfObject`: the object's BTF and ``.BTF.ext`` info
(:mod:`bpfls.core.ext`), every code section (``SHF_EXECINSTR``) with its instructions, every
function symbol, and where each BPF-to-BPF call and each function address leads.

libbpf's rules (``bpf_object__add_programs``, ``bpf_program__record_reloc``,
``bpf_object__reloc_code``) that this module follows:

- every ``STT_FUNC`` symbol of a code section is a function; in ``.text`` it is a subprogram,
  in any other section a program whose section name is its ``SEC()`` string. A program in a
  section whose name starts with ``?`` is not loaded unless asked for. A global function with
  hidden or internal visibility is verified as a static one (with its caller's context);
- a ``call`` with ``src_reg == 1`` (BPF_PSEUDO_CALL) goes to ``sym_off / 8 + imm + 1`` in
  ``.text`` when the section's ``.rel`` table relocates it (``sym_off`` is the symbol's value:
  the function itself for a global, the section symbol with ``imm`` pointing at the function
  for a static one), to an extern (a kfunc) when the symbol is undefined, and to
  ``insn_idx + imm + 1`` in the same section without a relocation;
- an ``ldimm64`` relocated against a subprogram symbol (libbpf then sets ``src_reg = 4``,
  BPF_PSEUDO_FUNC: a callback's address, as ``bpf_loop`` takes) loads the address of the
  function at ``(sym_off + imm) / 8`` in ``.text``; one that already has ``src_reg == 4`` and no
  relocation points at ``insn_idx + imm + 1``.

Every problem with the file (not ELF, not BPF, no ``.BTF``, truncated or inconsistent tables)
raises :class:`ObjectError` with one line that names the file and never quotes its contents
beyond short, escaped names. Sizes and counts are checked before anything is decoded, so a
hostile file costs bounded time and memory. A call whose target libbpf would refuse is kept
as a :class:`CallSite` with an ``error``; the reachability analysis treats it as unknown code.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from bpfls.btf import Btf, load_bytes
from bpfls.btf.errors import BtfError
from bpfls.btf.files import ELF_MAGIC, read_file
from bpfls.core.ext import BtfExtInfo, parse_ext
from bpfls.core.patch import Insn

EM_BPF = 247
#: a larger file is refused (real BPF objects are a few MiB at most)
MAX_OBJECT_BYTES = 256 << 20
#: more sections than this are refused (a large object has a few hundred)
MAX_SECTIONS = 8192
#: more symbols than this are refused
MAX_SYMBOLS = 1 << 20

SHT_PROGBITS, SHT_SYMTAB, SHT_REL, SHT_NOBITS = 1, 2, 9, 8
SHF_EXECINSTR = 0x4
STT_FUNC, STT_SECTION = 2, 3
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STV_INTERNAL, STV_HIDDEN = 1, 2
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_XINDEX = 0xFFFF

CALL = 0x85  # BPF_JMP | BPF_CALL
LDIMM64 = 0x18  # BPF_LD | BPF_IMM | BPF_DW
PSEUDO_CALL = 1
PSEUDO_KFUNC_CALL = 2
PSEUDO_FUNC = 4
INSN_SIZE = 8
TEXT = ".text"


class ObjectError(BtfError):
    """A file that is not a readable BPF object: ``str()`` is one line naming the file."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(_one_line(message), path)


def _one_line(text: str, limit: int = 300) -> str:
    """``text`` with control characters replaced, cut to ``limit`` characters."""
    out = "".join(c if c.isprintable() else "?" for c in text)
    return out if len(out) <= limit else out[:limit - 1] + "…"


def shown(name: str) -> str:
    """A name read from the file, fit to quote in a message: escaped and at most 64 chars."""
    return repr(_one_line(name, 64))


_LOW_NIBBLE = bytes(b & 0xF for b in range(256))
_HIGH_NIBBLE = bytes(b >> 4 for b in range(256))


@dataclass(frozen=True)
class CodeSection:
    """One executable section: its instructions as 8-byte slots (an ``ldimm64`` takes two)."""

    name: str
    index: int  # the ELF section index
    data: bytes = field(repr=False)
    big_endian: bool = False

    def __len__(self) -> int:
        return len(self.data) // INSN_SIZE

    def insn(self, index: int) -> Insn:
        """The instruction in slot ``index`` (with its second half for an ``ldimm64``)."""
        if not 0 <= index < len(self):
            raise IndexError(f"instruction {index} is outside section {self.name!r}")
        at = index * INSN_SIZE
        return Insn.decode(self.data[at:at + 2 * INSN_SIZE], self.big_endian)

    @cached_property
    def insns(self) -> tuple[Insn, ...]:
        """Every slot decoded."""
        return tuple(self.insn(i) for i in range(len(self)))

    @cached_property
    def fields(self) -> tuple[Sequence[int], Sequence[int], Sequence[int], Sequence[int],
                              Sequence[int]]:
        """Every slot's ``(code, dst, src, off, imm)`` as five parallel sequences (decoded by
        slicing, not instruction by instruction)."""
        data = self.data[:len(self) * INSN_SIZE]
        codes = data[0::8]
        regs = data[1::8]
        low, high = regs.translate(_LOW_NIBBLE), regs.translate(_HIGH_NIBBLE)
        dsts, srcs = (high, low) if self.big_endian else (low, high)
        words = memoryview(data)
        offs = array("h", words.cast("H")[1::4].tobytes())
        imms = array("i", words.cast("I")[1::2].tobytes())
        if self.big_endian != (sys.byteorder == "big"):
            offs.byteswap()
            imms.byteswap()
        return codes, dsts, srcs, offs, imms


@dataclass(frozen=True)
class BpfFunction:
    """A function symbol: ``start`` and ``length`` count instructions (8-byte slots)."""

    name: str
    section: str
    start: int
    length: int
    is_global: bool  # STB_GLOBAL or STB_WEAK
    hidden: bool = False  # STV_HIDDEN or STV_INTERNAL

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def is_program(self) -> bool:
        """A program (an entry point): a function outside ``.text``."""
        return self.section != TEXT

    @property
    def sec_name(self) -> str | None:
        """The ``SEC()`` string of a program (its section's name), ``None`` for a subprogram."""
        return self.section if self.is_program else None

    @property
    def autoload(self) -> bool:
        """A program libbpf loads by default (its section name does not start with ``?``)."""
        return self.is_program and not self.section.startswith("?")

    @property
    def verified_alone(self) -> bool:
        """A subprogram the verifier checks on its own, with unknown arguments (a global
        function of default visibility); a static one is checked from each call site."""
        return not self.is_program and self.is_global and not self.hidden


@dataclass(frozen=True)
class CallSite:
    """Where a BPF-to-BPF call (``kind == "call"``) or a function address (``"func"``) leads.

    ``target`` is the function it reaches; ``None`` with ``extern`` set for a call of an
    undefined symbol (a kfunc), ``None`` with ``error`` set where libbpf refuses the object.
    """

    section: str
    index: int
    kind: str
    target: BpfFunction | None
    extern: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class BpfObject:
    """One BPF object file: see the module doc."""

    path: str
    btf: Btf
    ext: BtfExtInfo
    sections: Mapping[str, CodeSection]
    functions: tuple[BpfFunction, ...]  # ordered by section index, then start
    sites: Mapping[tuple[str, int], CallSite]
    #: (section, instruction) → the symbol a ``.rel`` entry relocates it against (maps, global
    #: data, externs, functions)
    relocated: Mapping[tuple[str, int], str] = field(default_factory=dict)
    big_endian: bool = False

    @cached_property
    def programs(self) -> tuple[BpfFunction, ...]:
        return tuple(f for f in self.functions if f.is_program)

    @cached_property
    def _starts(self) -> dict[str, tuple[list[int], list[BpfFunction]]]:
        out: dict[str, tuple[list[int], list[BpfFunction]]] = {}
        for f in sorted(self.functions, key=lambda f: (f.section, f.start)):
            starts, funcs = out.setdefault(f.section, ([], []))
            starts.append(f.start)
            funcs.append(f)
        return out

    def function_at(self, section: str, index: int) -> BpfFunction | None:
        """The function whose instructions include slot ``index`` of ``section``."""
        entry = self._starts.get(section)
        if entry is None:
            return None
        starts, funcs = entry
        i = bisect_right(starts, index)
        if i == 0:
            return None
        f = funcs[i - 1]
        return f if index < f.end else None

    def function(self, name: str) -> BpfFunction | None:
        """The function named ``name`` (the first, should two static ones share it)."""
        return next((f for f in self.functions if f.name == name), None)


def is_bpf_object(data: bytes) -> bool:
    """An ELF file for the BPF machine (``e_machine == EM_BPF``), judged by content alone."""
    if len(data) < 20 or not data.startswith(ELF_MAGIC) or data[5] not in (1, 2):
        return False
    order = "<" if data[5] == 1 else ">"
    return struct.unpack_from(order + "H", data, 18)[0] == EM_BPF


def read_object(path: str | os.PathLike[str]) -> BpfObject:
    """Read a BPF object file; :class:`ObjectError` if it is not one libbpf could open."""
    p = os.fspath(path)
    try:
        size = os.path.getsize(p)
    except OSError:
        size = 0  # read_file reports why the file cannot be read
    if size > MAX_OBJECT_BYTES:
        raise ObjectError(f"file too large for a BPF object ({size} bytes)", p)
    try:
        data = read_file(p)
    except BtfError as e:
        raise ObjectError(e.message, p) from None
    return object_from_bytes(data, p)


def object_from_bytes(data: bytes, path: str = "<bytes>") -> BpfObject:
    """:func:`read_object` on the file's contents."""
    if len(data) > MAX_OBJECT_BYTES:
        raise ObjectError(f"file too large for a BPF object ({len(data)} bytes)", path)
    if not data.startswith(ELF_MAGIC):
        raise ObjectError("not an ELF file (a BPF object from clang -target bpf is needed)",
                          path)
    if len(data) < 64:
        raise ObjectError(f"truncated ELF header ({len(data)} bytes)", path)
    if data[4] != 2:
        raise ObjectError("not a 64-bit ELF file, so not a BPF object", path)
    if data[5] not in (1, 2):
        raise ObjectError(f"unknown ELF byte order {data[5]}", path)
    if not is_bpf_object(data):
        order = "<" if data[5] == 1 else ">"
        machine = struct.unpack_from(order + "H", data, 18)[0]
        raise ObjectError(f"ELF file for machine {machine}, not BPF ({EM_BPF})", path)
    return _Reader(data, path).read()


@dataclass(frozen=True)
class _Section:
    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int


@dataclass(frozen=True)
class _Symbol:
    name: str
    info: int
    other: int
    shndx: int
    value: int
    size: int

    @property
    def type(self) -> int:
        return self.info & 0xF

    @property
    def bind(self) -> int:
        return self.info >> 4


class _Reader:
    def __init__(self, data: bytes, path: str) -> None:
        self.data = data
        self.path = path
        self.big = data[5] == 2
        self.order = ">" if self.big else "<"

    def fail(self, message: str) -> ObjectError:
        return ObjectError(message, self.path)

    def read(self) -> BpfObject:
        secs = self.sections()
        by_name: dict[str, _Section] = {}
        for s in secs:
            by_name.setdefault(s.name, s)
        code: dict[str, CodeSection] = {}
        for s in secs:
            if s.type != SHT_PROGBITS or not s.flags & SHF_EXECINSTR or s.size == 0:
                continue
            if s.name in code:
                raise self.fail(f"two code sections are named {shown(s.name)}")
            if s.size % INSN_SIZE:
                raise self.fail(f"code section {shown(s.name)} is {s.size} bytes, not a "
                                "whole number of instructions")
            code[s.name] = CodeSection(s.name, s.index, self.body(s), self.big)
        btf_sec = by_name.get(".BTF")
        if btf_sec is None:
            raise self.fail("no .BTF section (compile with -g)")
        try:
            btf = load_bytes(self.body(btf_sec), name=self.path)
            ext_sec = by_name.get(".BTF.ext")
            ext = (parse_ext(self.body(ext_sec), btf, self.path,
                             {n: c.data for n, c in code.items()}) if ext_sec is not None
                   else BtfExtInfo(btf, (), path=self.path))
        except ObjectError:
            raise
        except BtfError as e:
            raise self.fail(f"bad BTF: {e.message}") from None
        symbols = self.symbols(secs)
        by_index = {c.index: c for c in code.values()}
        functions = self.functions(symbols, by_index)
        relocated = self.relocated(secs, symbols, by_index)
        sites = self.sites(relocated, by_index, functions)
        return BpfObject(self.path, btf, ext, code, functions, sites,
                         {at: sym.name for at, sym in relocated.items()}, self.big)

    # -- ELF tables ---------------------------------------------------------------------

    def sections(self) -> list[_Section]:
        (shoff,) = struct.unpack_from(self.order + "Q", self.data, 40)
        shentsize, shnum, shstrndx = struct.unpack_from(self.order + "HHH", self.data, 58)
        if shnum > MAX_SECTIONS:
            raise self.fail(f"{shnum} sections: more than {MAX_SECTIONS}")
        if shoff and shentsize != 64:
            raise self.fail(f"section header size {shentsize}, not 64")
        if shoff + shnum * 64 > len(self.data):
            raise self.fail(f"truncated: the section table ({shnum} entries at offset {shoff}) "
                            f"runs past the end of the file ({len(self.data)} bytes)")
        data, order = self.data, self.order
        if shoff == 0 or shnum == 0 and shoff + 64 > len(data):
            raise self.fail("no section table")
        if shnum == 0:  # extended numbering: the count is section 0's size
            (shnum,) = struct.unpack_from(order + "Q", data, shoff + 32)
            if shnum > MAX_SECTIONS:
                raise self.fail(f"{shnum} sections: more than {MAX_SECTIONS}")
            if shoff + shnum * 64 > len(data):
                raise self.fail(f"truncated: the section table ({shnum} entries at offset "
                                f"{shoff}) runs past the end of the file ({len(data)} bytes)")
        if shstrndx == SHN_XINDEX:
            (shstrndx,) = struct.unpack_from(order + "I", data, shoff + 40)
        if shstrndx >= max(shnum, 1):
            raise self.fail(f"section name table index {shstrndx} is out of range")
        headers = list(struct.iter_unpack(order + "IIQQQQIIQQ",
                                          data[shoff:shoff + shnum * 64]))
        names = headers[shstrndx] if shnum else None
        if names is not None and names[1] != SHT_NOBITS and \
                names[4] + names[5] > len(data):
            raise self.fail("truncated: the section name table runs past the end of the file")
        strtab = data[names[4]:names[4] + names[5]] if names is not None else b""
        out = [_Section(i, _cstr(strtab, h[0]) if i else "", h[1], h[2], h[4], h[5], h[6], h[7])
               for i, h in enumerate(headers)]
        for s in out:
            if s.type != SHT_NOBITS and s.offset + s.size > len(self.data):
                raise self.fail(f"truncated: section {shown(s.name)} ({s.offset}+{s.size}) "
                                f"runs past the end of the file ({len(self.data)} bytes)")
        return out

    def body(self, s: _Section) -> bytes:
        if s.type == SHT_NOBITS:
            raise self.fail(f"section {shown(s.name)} has no data (SHT_NOBITS)")
        return self.data[s.offset:s.offset + s.size]

    def symbols(self, secs: list[_Section]) -> list[_Symbol]:
        tabs = [s for s in secs if s.type == SHT_SYMTAB]
        if not tabs:
            return []
        if len(tabs) > 1:
            raise self.fail("more than one symbol table")
        tab = tabs[0]
        count = tab.size // 24
        if count > MAX_SYMBOLS:
            raise self.fail(f"{count} symbols: more than {MAX_SYMBOLS}")
        if not 0 < tab.link < len(secs):
            raise self.fail(f"the symbol table's string table index {tab.link} is out of range")
        strtab = self.body(secs[tab.link])
        raw = self.body(tab)[:count * 24]
        out = []
        for name_off, info, other, shndx, value, size in struct.iter_unpack(
                self.order + "IBBHQQ", raw):
            name = _cstr(strtab, name_off)
            if not name and info & 0xF == STT_SECTION and 0 < shndx < len(secs):
                name = secs[shndx].name
            out.append(_Symbol(name, info, other, shndx, value, size))
        return out

    def functions(self, symbols: list[_Symbol], code: dict[int, CodeSection]
                  ) -> tuple[BpfFunction, ...]:
        out = []
        for sym in symbols:
            sec = code.get(sym.shndx)
            if sym.type != STT_FUNC or sec is None:
                continue
            if sym.value % INSN_SIZE or sym.size % INSN_SIZE:
                raise self.fail(f"function {shown(sym.name)} is not instruction-aligned")
            start, length = sym.value // INSN_SIZE, sym.size // INSN_SIZE
            if start + length > len(sec):
                raise self.fail(f"function {shown(sym.name)} crosses the end of section "
                                f"{shown(sec.name)}")
            out.append(BpfFunction(sym.name, sec.name, start, length,
                                   sym.bind in (STB_GLOBAL, STB_WEAK),
                                   (sym.other & 3) in (STV_HIDDEN, STV_INTERNAL)))
        index = {c.name: c.index for c in code.values()}
        out.sort(key=lambda f: (index[f.section], f.start, f.name))
        return tuple(out)

    def relocated(self, secs: list[_Section], symbols: list[_Symbol],
                  code: dict[int, CodeSection]) -> dict[tuple[str, int], _Symbol]:
        """(section, instruction) → the symbol its ``.rel`` entry names, for code sections."""
        relocated: dict[tuple[str, int], _Symbol] = {}
        for s in secs:
            target = code.get(s.info)
            if s.type != SHT_REL or target is None:
                continue
            count = s.size // 16
            if count > MAX_SYMBOLS:
                raise self.fail(f"{count} relocations: more than {MAX_SYMBOLS}")
            for i, (r_offset, r_info) in enumerate(struct.iter_unpack(
                    self.order + "QQ", self.body(s)[:count * 16])):
                sym_idx = r_info >> 32
                if sym_idx >= len(symbols):
                    raise self.fail(f"relocation #{i} of {shown(s.name)} names symbol "
                                    f"{sym_idx}, past the symbol table")
                if r_offset % INSN_SIZE or r_offset // INSN_SIZE >= len(target):
                    raise self.fail(f"relocation #{i} of {shown(s.name)} is at offset "
                                    f"{r_offset}, not an instruction of its section")
                relocated[(target.name, r_offset // INSN_SIZE)] = symbols[sym_idx]
        return relocated

    def sites(self, relocated: dict[tuple[str, int], _Symbol], code: dict[int, CodeSection],
              functions: tuple[BpfFunction, ...]) -> dict[tuple[str, int], CallSite]:
        starts = {(f.section, f.start): f for f in functions}
        text = next((c for c in code.values() if c.name == TEXT), None)

        def lands(sec: str, idx: int, at: tuple[str, int], kind: str) -> CallSite:
            f = starts.get((sec, idx))
            if f is not None:
                return CallSite(at[0], at[1], kind, f)
            return CallSite(at[0], at[1], kind, None,
                            error=f"points at instruction {idx} of {shown(sec)}, where no "
                                  "function starts")

        out: dict[tuple[str, int], CallSite] = {}
        for sec in code.values():
            codes, _dsts, srcs, _offs, imms = sec.fields
            for idx in _slots_of(codes, (CALL, LDIMM64)):
                op = codes[idx]
                if op == CALL and srcs[idx] == PSEUDO_CALL:
                    kind = "call"
                elif op == LDIMM64 and (srcs[idx] == PSEUDO_FUNC or (
                        (sec.name, idx) in relocated
                        and _is_subprog(relocated[(sec.name, idx)], text))):
                    kind = "func"
                else:
                    continue
                at = (sec.name, idx)
                imm = imms[idx]
                sym = relocated.get(at)
                if sym is None:
                    out[at] = lands(sec.name, idx + imm + 1, at, kind)
                elif kind == "call" and sym.shndx == SHN_UNDEF:
                    out[at] = CallSite(at[0], at[1], kind, None, extern=sym.name)
                elif text is None or sym.shndx != text.index:
                    out[at] = CallSite(at[0], at[1], kind, None,
                                       error=f"relocated against {shown(sym.name)}, not a "
                                             "function of .text")
                elif sym.value % INSN_SIZE or (kind == "func" and imm % INSN_SIZE):
                    out[at] = CallSite(at[0], at[1], kind, None,
                                       error="relocated to an offset that is not an "
                                             "instruction")
                elif kind == "call":
                    out[at] = lands(TEXT, sym.value // INSN_SIZE + imm + 1, at, kind)
                else:
                    out[at] = lands(TEXT, (sym.value + imm) // INSN_SIZE, at, kind)
        return out


_CLASS_OF = bytes(b & 7 for b in range(256))


def jump_slots(codes: bytes) -> list[int]:
    """The slots holding a JMP or JMP32 instruction (jumps, calls, exits), in order, found
    by ``bytes.find`` over the instructions' classes."""
    return _slots_of(bytes(codes).translate(_CLASS_OF), (5, 6))


def _slots_of(codes: bytes, ops: tuple[int, ...]) -> list[int]:
    """The slots whose byte in ``codes`` (opcodes, or their classes) is one of ``ops``, in
    order (found by ``bytes.find``)."""
    out: list[int] = []
    for op in ops:
        needle = bytes((op,))
        i = codes.find(needle)
        while i >= 0:
            out.append(i)
            i = codes.find(needle, i + 1)
    out.sort()
    return out


def _is_subprog(sym: _Symbol, text: CodeSection | None) -> bool:
    """libbpf's ``sym_is_subprog``: ``.text``'s section symbol or a global function in it."""
    if text is None or sym.shndx != text.index:
        return False
    return ((sym.bind == STB_LOCAL and sym.type == STT_SECTION)
            or (sym.bind == STB_GLOBAL and sym.type == STT_FUNC))


def _cstr(table: bytes, off: int) -> str:
    if off >= len(table):
        return ""
    end = table.find(b"\0", off, off + 4096)
    raw = table[off:end if end >= 0 else off + 4096]
    return raw.decode("utf-8", "replace")



