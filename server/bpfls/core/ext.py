"""The ``.BTF.ext`` section of a clang-compiled BPF object: CO-RE relocations and line info.

Layout (``struct btf_ext_header``, all offsets relative to the end of the header)::

    u16 magic (0xeB9F)  u8 version  u8 flags  u32 hdr_len
    u32 func_info_off   u32 func_info_len
    u32 line_info_off   u32 line_info_len
    u32 core_relo_off   u32 core_relo_len          (optional: hdr_len >= 32)

Each info block is ``u32 rec_size`` followed, per ELF section, by ``u32 sec_name_off,
u32 num_info`` and ``num_info`` records of ``rec_size`` bytes. Names and access strings are
offsets into the object's ``.BTF`` string table. Records:

- line info ``{insn_off, file_name_off, line_off, line_col}``: line ``line_col >> 10``, column
  ``line_col & 0x3ff``;
- CO-RE relocation ``{insn_off, type_id, access_str_off, kind}`` (``struct bpf_core_relo``).

``insn_off`` is a byte offset into the ELF section (``insn_off // 8`` is the instruction index).
The checks follow libbpf's ``btf_ext_setup_info``: a record size below the minimum or not a
multiple of 4, a section with no records and anything out of bounds are errors.
"""

from __future__ import annotations

import array
import dataclasses
import os
import struct
import sys
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from bpfls.btf import load_bytes
from bpfls.btf.btf import Btf, byte_order
from bpfls.btf.errors import BtfError
from bpfls.btf.files import ELF_MAGIC, elf_sections, read_file
from bpfls.core.patch import Insn
from bpfls.core.relo import Relocation, ReloKind
from bpfls.core.spec import SpecError, parse_access_str

MIN_HDR_LEN = 24
CORE_HDR_LEN = 32
LINE_INFO_MIN_REC = 16
CORE_RELO_MIN_REC = 16
FUNC_INFO_MIN_REC = 8


@dataclass(frozen=True)
class LineInfo:
    """Where one instruction came from."""

    section: str
    insn_off: int  # byte offset in the ELF section
    file: str
    line: int
    col: int
    text: str  # the source line as clang recorded it ("" when not recorded)


@dataclass(frozen=True)
class ObjectRelo:
    """One CO-RE relocation record of an object file.

    ``index`` is the record's position inside its section (libbpf's ``relo #N``),
    ``access_str`` the raw access string. When it is malformed (libbpf would refuse it:
    "parsing ... failed"), ``relocation.access`` is ``()`` and ``access_error`` says why; the
    resolver reports such a relocation with status ``"error"``.
    """

    section: str
    index: int
    insn_off: int
    relocation: Relocation
    access_str: str
    access_error: str | None = None
    line: LineInfo | None = None
    insn_bytes: bytes = b""  # the relocated instruction (16 bytes when two are available)

    @cached_property
    def insn(self) -> Insn | None:
        """The relocated instruction, when the object's section holds it."""
        if len(self.insn_bytes) < 8:
            return None
        return Insn.decode(self.insn_bytes, self.relocation.local.byte_order == "big")

    @property
    def kind(self) -> ReloKind:
        return self.relocation.kind


_KINDS = {int(k): k for k in ReloKind}


class LineTable:
    """An object's line info records, kept as read and turned into :class:`LineInfo` (their
    strings decoded) only for the instructions asked about: an object has a record every few
    instructions, and only the relocated ones are usually looked up."""

    def __init__(self, btf: Btf | None = None,
                 sections: dict[str, tuple[list[int], list[tuple[int, int, int]]]]
                 | None = None) -> None:
        self.btf = btf
        #: section → (insn offsets, sorted; their (file_off, line_off, line_col))
        self.sections = sections or {}
        self._decoded: dict[tuple[str, int], LineInfo] = {}

    def __len__(self) -> int:
        return sum(len(offs) for offs, _ in self.sections.values())

    def _info(self, section: str, i: int) -> LineInfo:
        hit = self._decoded.get((section, i))
        if hit is None:
            assert self.btf is not None
            offs, raw = self.sections[section]
            file_off, line_off, line_col = raw[i]
            hit = self._decoded[(section, i)] = LineInfo(
                section, offs[i], self.btf.str_at(file_off), line_col >> 10, line_col & 0x3FF,
                self.btf.str_at(line_off))
        return hit

    def line_for(self, section: str, insn_off: int) -> LineInfo | None:
        """The line info covering ``insn_off``: the last record at or before it."""
        entry = self.sections.get(section)
        if entry is None:
            return None
        i = bisect_right(entry[0], insn_off)
        return self._info(section, i - 1) if i else None

    def all(self) -> tuple[LineInfo, ...]:
        return tuple(self._info(sec, i) for sec, (offs, _) in sorted(self.sections.items())
                     for i in range(len(offs)))


@dataclass(frozen=True)
class BtfExtInfo:
    """The decoded parts of one object's ``.BTF.ext`` (with the object's own BTF)."""

    btf: Btf
    relocations: tuple[ObjectRelo, ...]
    line_table: LineTable = field(default_factory=LineTable)
    func_info_count: int = 0
    path: str = ""

    @cached_property
    def lines(self) -> tuple[LineInfo, ...]:
        """Every line info record, by section and instruction."""
        return self.line_table.all()

    def line_for(self, section: str, insn_off: int) -> LineInfo | None:
        """The line info covering ``insn_off``: the last record at or before it."""
        return self.line_table.line_for(section, insn_off)


def read_ext(path: str | os.PathLike[str]) -> BtfExtInfo:
    """Parse a BPF object file's ``.BTF`` and ``.BTF.ext`` sections."""
    p = os.fspath(path)
    data = read_file(p)
    if not data.startswith(ELF_MAGIC):
        raise BtfError("not an ELF object file (a clang -target bpf .o is needed for .BTF.ext)",
                       p, 0)
    secs = elf_sections(data, p, (".BTF", ".BTF.ext"))
    if ".BTF" not in secs:
        raise BtfError("ELF file has no .BTF section (compiled without -g?)", p)
    btf = load_bytes(secs[".BTF"], name=p)
    ext = secs.get(".BTF.ext")
    if ext is None:
        return BtfExtInfo(btf, (), path=p)
    info = parse_ext(ext, btf, p)
    names = tuple(sorted({r.section for r in info.relocations}))
    return with_instructions(info, elf_sections(data, p, names) if names else {})


def with_instructions(info: BtfExtInfo, code: Mapping[str, bytes]) -> BtfExtInfo:
    """``info`` with each relocation's instruction bytes taken from ``code`` (section name →
    the section's contents)."""
    relos = tuple(dataclasses.replace(r, insn_bytes=code.get(r.section, b"")[
        r.insn_off:r.insn_off + 16]) for r in info.relocations)
    return dataclasses.replace(info, relocations=relos)


def core_relocations(path: str | os.PathLike[str]) -> list[ObjectRelo]:
    """The CO-RE relocations of a BPF object, in ``.BTF.ext`` order (the order libbpf
    applies them), each with its source line when the object has line info."""
    return list(read_ext(path).relocations)


class _Reader:
    def __init__(self, data: bytes, order: str, path: str, base: int) -> None:
        self.data = data
        self.order = order
        self.path = path
        self.base = base  # byte offset of the info area (end of the header) in the section

    def u32s(self, off: int, n: int, what: str) -> tuple[int, ...]:
        if off < 0 or off + 4 * n > len(self.data):
            raise BtfError(f".BTF.ext: {what} runs past the end of the section "
                           f"({off + 4 * n} > {len(self.data)} bytes)", self.path, off)
        return struct.unpack_from(f"{self.order}{n}I", self.data, off)


def parse_ext(data: bytes, btf: Btf, path: str = "<bytes>",
              code: Mapping[str, bytes] | None = None) -> BtfExtInfo:
    """Decode a ``.BTF.ext`` section whose strings live in ``btf`` (``code``: each code
    section's contents, for the relocated instructions)."""
    if len(data) < 8:
        raise BtfError(f".BTF.ext too short for a header ({len(data)} bytes)", path, 0)
    order = byte_order(data, path, ".BTF.ext")
    version, flags, hdr_len = struct.unpack_from(order + "BBI", data, 2)
    if version != 1:
        raise BtfError(f".BTF.ext: unsupported version {version}", path, 2)
    if flags != 0:
        raise BtfError(f".BTF.ext: unsupported flags 0x{flags:x}", path, 3)
    if hdr_len < MIN_HDR_LEN or hdr_len > len(data):
        raise BtfError(f".BTF.ext: bad header length {hdr_len} (section has {len(data)} bytes)",
                       path, 4)
    fi_off, fi_len, li_off, li_len = struct.unpack_from(order + "4I", data, 8)
    co_off = co_len = 0
    if hdr_len >= CORE_HDR_LEN:
        co_off, co_len = struct.unpack_from(order + "2I", data, 24)
    rd = _Reader(data, order, path, hdr_len)

    def name(off: int, where: int) -> str:
        try:
            return btf.str_at(off)
        except BtfError:
            raise BtfError(f".BTF.ext: string offset {off} is outside the .BTF string table",
                           path, where) from None

    def blocks(off: int, ln: int, min_rec: int, what: str):
        """Yield (section name, record offset, record size, count) per ELF section."""
        if ln == 0:
            return
        start = hdr_len + off
        end = start + ln
        if off % 4 or end > len(data):
            raise BtfError(f".BTF.ext: {what} block ({off}+{ln}) is misaligned or out of "
                           f"bounds", path, start)
        (rec_size,) = rd.u32s(start, 1, f"{what} record size")
        if rec_size < min_rec or rec_size % 4:
            raise BtfError(f".BTF.ext: {what} record size {rec_size} is invalid (minimum "
                           f"{min_rec}, multiple of 4)", path, start)
        p = start + 4
        if p == end:
            raise BtfError(f".BTF.ext: {what} block has no sections", path, start)
        while p < end:
            if p + 8 > end:
                raise BtfError(f".BTF.ext: {what} section header runs past the block",
                               path, p)
            sec_off, num = rd.u32s(p, 2, f"{what} section header")
            if num == 0:
                raise BtfError(f".BTF.ext: {what} section has no records", path, p)
            sname = name(sec_off, p)
            recs = p + 8
            if recs + num * rec_size > end:
                raise BtfError(f".BTF.ext: {what} records of section '{sname}' run past the "
                               f"block ({num} × {rec_size} bytes)", path, recs)
            yield sname, recs, rec_size, num
            p = recs + num * rec_size

    func_count = 0
    for _s, _r, _z, num in blocks(fi_off, fi_len, FUNC_INFO_MIN_REC, "func info"):
        func_count += num

    table: dict[str, tuple[list[int], list[tuple[int, int, int]]]] = {}
    str_end = btf.end_str_off
    for sname, recs, rsz, num in blocks(li_off, li_len, LINE_INFO_MIN_REC, "line info"):
        words = array.array("I")
        words.frombytes(data[recs:recs + num * rsz])
        if (order == ">") != (sys.byteorder == "big"):
            words.byteswap()
        step = rsz // 4
        insns, files, line_offs, cols = (words[k::step] for k in range(4))
        if max(files) >= str_end or max(line_offs) >= str_end:
            i = next(i for i in range(num) if max(files[i], line_offs[i]) >= str_end)
            bad = files[i] if files[i] >= str_end else line_offs[i]
            raise BtfError(f".BTF.ext: string offset {bad} is outside the .BTF string "
                           "table", path, recs + i * rsz)
        offs, raw = table.setdefault(sname, ([], []))
        if insns.tolist() != sorted(insns):
            rows = sorted(zip(insns, zip(files, line_offs, cols, strict=True), strict=True),
                          key=lambda r: r[0])
            offs.extend(r[0] for r in rows)
            raw.extend(r[1] for r in rows)
        else:
            offs.extend(insns)
            raw.extend(zip(files, line_offs, cols, strict=True))
    lines = LineTable(btf, table)

    relos: list[ObjectRelo] = []
    accesses: dict[tuple[int, int], tuple[str, tuple[int, ...], str | None]] = {}
    for sname, recs, rsz, num in blocks(co_off, co_len, CORE_RELO_MIN_REC, "CO-RE relocation"):
        for i in range(num):
            at = recs + i * rsz
            insn_off, type_id, acc_off, kind = rd.u32s(at, 4, "CO-RE relocation record")
            rkind = _KINDS.get(kind)
            if rkind is None:
                raise BtfError(f".BTF.ext: CO-RE relocation #{i} of section '{sname}' has "
                               f"unknown kind {kind}", path, at)
            known = accesses.get((acc_off, kind))
            if known is None:  # the same access string recurs (inlined code, repeats)
                acc = name(acc_off, at)
                err = None
                try:
                    access = parse_access_str(acc, rkind)
                except SpecError as e:
                    access, err = (), e.message
                known = accesses[(acc_off, kind)] = (acc, access, err)
            acc, access, err = known
            insn = code.get(sname, b"")[insn_off:insn_off + 16] if code is not None else b""
            relos.append(ObjectRelo(sname, i, insn_off, Relocation(rkind, btf, type_id, access),
                                    acc, err, lines.line_for(sname, insn_off), insn))
    return BtfExtInfo(btf, tuple(relos), lines, func_count, path)
