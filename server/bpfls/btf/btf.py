"""The :class:`Btf` container: header, string table, type-offset table and lookups.

Loading does one pass over the type section to record where each type starts; everything else
(names, members, the name index) is decoded on first use.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from array import array
from collections import Counter
from collections.abc import Iterator
from itertools import accumulate

from bpfls.btf import nameindex
from bpfls.btf.errors import BtfError
from bpfls.btf.kinds import FIXED_WORDS, MAX_KIND, MODIFIER_KINDS, VLEN_WORDS, Kind, parse_kind
from bpfls.btf.model import Type, VoidType
from bpfls.btf.nameindex import NameTables

BTF_MAGIC = 0xEB9F
HEADER_LEN = 24
#: libbpf's MAX_RESOLVE_DEPTH: the longest chain of typedefs and modifiers (or arrays, for a
#: size) a walk follows before it gives up.
MAX_RESOLVE_DEPTH = 32
#: name lookups answered by scanning the string table before a full string index is built
_STR_INDEX_AFTER = 24

# Per-(info >> 24) step tables for the fast walk: kind bits plus the unused bits 29-30 and the
# kind_flag bit 31. A bad kind steps past the end so the walk stops and the slow walk explains.
_STEP_FIXED = [1 << 40] * 256
_STEP_VLEN = [0] * 256
for _hi in range(256):
    _k = _hi & 0x1F
    if 0 < _k <= MAX_KIND and not _hi & 0x60:
        _STEP_FIXED[_hi] = 3 + FIXED_WORDS[_k]
        _STEP_VLEN[_hi] = VLEN_WORDS[_k]
_STEP_FIXED_T = tuple(_STEP_FIXED)
_STEP_VLEN_T = tuple(_STEP_VLEN)


class Header:
    __slots__ = ("magic", "version", "flags", "hdr_len", "type_off", "type_len", "str_off",
                 "str_len", "layout_off", "layout_len")

    def __init__(self, *fields: int) -> None:
        (self.magic, self.version, self.flags, self.hdr_len, self.type_off, self.type_len,
         self.str_off, self.str_len) = fields
        self.layout_off = self.layout_len = 0


def byte_order(data: bytes | memoryview, path: str | None, what: str) -> str:
    """'<' or '>' from the 0xeb9f magic that starts BTF and .BTF.ext data."""
    magic_le = struct.unpack_from("<H", data, 0)[0]
    if magic_le == BTF_MAGIC:
        return "<"
    if magic_le == 0x9FEB:
        return ">"
    raise BtfError(f"{what}: bad magic 0x{magic_le:04x} (expected 0xeb9f)", path, 0)


def parse_header(data: bytes | memoryview, path: str | None) -> tuple[Header, str]:
    """Validate the BTF header and section bounds; return it and the byte order ('<' or '>')."""
    if len(data) < 4:
        raise BtfError(f"file too short for a BTF header ({len(data)} bytes)", path, 0)
    order = byte_order(data, path, "not BTF")
    if len(data) < HEADER_LEN:
        raise BtfError(f"truncated BTF header: {len(data)} bytes, need {HEADER_LEN}", path, 0)
    hdr = Header(*struct.unpack_from(order + "HBBIIIII", data, 0))
    if hdr.version != 1:
        raise BtfError(f"unsupported BTF version {hdr.version}", path, 2)
    if hdr.flags != 0:
        raise BtfError(f"unsupported BTF flags 0x{hdr.flags:x}", path, 3)
    if hdr.hdr_len < HEADER_LEN or hdr.hdr_len > len(data):
        raise BtfError(f"bad header length {hdr.hdr_len} (file has {len(data)} bytes)", path, 4)
    body = len(data) - hdr.hdr_len
    sections = [("type", hdr.type_off, hdr.type_len, 8), ("string", hdr.str_off, hdr.str_len, 16)]
    if hdr.hdr_len >= HEADER_LEN + 8:
        # newer kernels append a "kind layout" section (per kind: extra bytes, bytes per vlen
        # element, flags) after the fixed header; like libbpf, other trailing fields are ignored
        hdr.layout_off, hdr.layout_len = struct.unpack_from(order + "II", data, HEADER_LEN)
        sections.append(("kind layout", hdr.layout_off, hdr.layout_len, HEADER_LEN))
    for what, off, ln, field in sections:
        if off + ln > body:
            raise BtfError(
                f"{what} section out of bounds: {hdr.hdr_len}+{off}+{ln} exceeds file size "
                f"{len(data)} (truncated file?)", path, field)
    if hdr.type_off % 4:
        raise BtfError(f"type section offset {hdr.type_off} is not 4-byte aligned", path, 8)
    if hdr.type_len % 4:
        raise BtfError(f"type section length {hdr.type_len} is not a multiple of 4", path, 12)
    if hdr.type_len and hdr.str_len and (
            hdr.type_off < hdr.str_off < hdr.type_off + hdr.type_len
            or hdr.str_off <= hdr.type_off < hdr.str_off + hdr.str_len):
        raise BtfError(
            f"type section ({hdr.type_off}+{hdr.type_len}) and string section "
            f"({hdr.str_off}+{hdr.str_len}) overlap", path, 8)
    return hdr, order


class Btf:
    """Decoded BTF of one kernel, module or object.

    Type ids are global: for split BTF (``base`` given) this object's own types start at
    ``start_id`` and ids below it are answered by the base, as libbpf does.
    """

    def __init__(self, data: bytes | memoryview, *, base: Btf | None = None,
                 path: str | None = None, origin: str = "raw", use_cache: bool = False,
                 cache_key: str | None = None) -> None:
        self.path = path or "<bytes>"
        self.base = base
        self.origin = origin
        self.raw_size = len(data)
        try:
            hdr, order = parse_header(data, self.path)
        except struct.error as e:  # pragma: no cover - lengths are checked first
            raise BtfError(f"truncated BTF header: {e}", self.path, 0) from None
        self.header = hdr
        self.byte_order = "little" if order == "<" else "big"
        start = hdr.hdr_len
        self._type_base = start + hdr.type_off  # byte offset of the type section in the blob
        tbytes = data[self._type_base:self._type_base + hdr.type_len]
        if order == "<" and sys.byteorder == "little" or order == ">" and sys.byteorder == "big":
            self._w = memoryview(tbytes).cast("I")
        else:
            w = array("I")
            w.frombytes(tbytes)
            w.byteswap()
            self._w = w
        self._str_base = start + hdr.str_off
        self._strs = bytes(data[self._str_base:self._str_base + hdr.str_len])
        self._check_strings()
        self.start_id = base.end_id if base is not None else 1
        self.start_str_off = base.end_str_off if base is not None else 0
        self.end_str_off = self.start_str_off + len(self._strs)
        #: hashed name tables (from the on-disk cache, or built when it was written)
        self._names: NameTables | None = None
        self._offs = self._index_types(data, use_cache, cache_key)
        self.end_id = self.start_id + len(self._offs)
        self._types: dict[int, Type] = {}
        self._str_cache: dict[int, str] = {}
        self._find_cache: dict[str, tuple[int, ...]] = {}
        self._enum_cache: dict[str, tuple[tuple[int, int], ...]] = {}
        self._str_index: dict[bytes, int] | None = None
        self._str_lookups = 0
        self._dup_strs: set[bytes] = set()
        self._name_index: dict[int, int] | None = None
        self._name_lookups = 0
        self._dup_names: set[int] = set()
        self._void = VoidType(self)
        self._align_memo: dict[int, int] = {}

    # -- loading ------------------------------------------------------------------------------
    def _check_strings(self) -> None:
        s = self._strs
        if not s:
            if self.base is None:
                raise BtfError("empty string section", self.path, 16)
            return
        if self.base is None and s[0] != 0:
            raise BtfError("string section does not start with an empty string (split BTF of "
                           "a module? give its base BTF, e.g. --base /sys/kernel/btf/vmlinux)",
                           self.path, self._str_base)
        if s[-1] != 0:
            raise BtfError("unterminated string table: the last string has no NUL",
                           self.path, self._str_base + len(s) - 1)

    def _index_types(self, data: bytes | memoryview, use_cache: bool,
                     key: str | None) -> array:
        """The record offsets, from the on-disk cache when allowed and present (``key``: the
        cache key of ``data`` when the caller knows one, else its content hash)."""
        if not use_cache or len(data) < (1 << 20):
            return self._walk_types()
        # the on-disk cache (tempfile, mmap) loads only when kernel-sized BTF is read: fast start-up
        from bpfls.btf import cache

        if cache.cache_dir() is None:
            return self._walk_types()
        key = key or cache.content_key(data)
        hit = cache.load_index(key)
        if hit is not None:
            offs, names, tables = hit
            n = len(self._w)
            if offs and offs[-1] < n and len(names) == 4 * len(offs):
                self._name_words = names
                self._names = nameindex.from_bytes(tables)
                if self._names is not None:
                    return offs
        offs = self._walk_types()
        self._offs = offs
        self._names = nameindex.build(self)
        cache.store_index(key, offs, self._name_words, nameindex.to_bytes(self._names))
        return offs

    def _walk_types(self) -> array:
        """Record the word offset of every type record (the only eager pass)."""
        w = self._w
        n = len(w)
        offs = array("I")
        names = array("I")
        append = offs.append
        name_append = names.append
        fixed = _STEP_FIXED_T
        per = _STEP_VLEN_T
        i = 0
        try:
            while i < n:
                append(i)
                name_append(w[i])
                info = w[i + 1]
                k = info >> 24
                i += fixed[k] + (info & 0xFFFF) * per[k]
        except IndexError:
            i = n + 1  # a record header cut off by the end of the section
        if i != n:
            self._explain_bad_walk(offs)
        self._name_words = names.tobytes()  # name_off of every own type, native u32s
        return offs

    def _explain_bad_walk(self, offs: array) -> None:
        """Slow path: say exactly which record is broken."""
        w = self._w
        n = len(w)
        for idx, o in enumerate(offs):
            tid = self.start_id + idx
            at = self._type_base + 4 * o
            if o + 3 > n:
                raise BtfError(f"truncated type record ({4 * (n - o)} of 12 header bytes)",
                               self.path, at, tid)
            info = w[o + 1]
            kind = (info >> 24) & 0x1F
            if kind == 0 or kind > MAX_KIND:
                raise BtfError(f"unknown BTF kind {kind} (this reader knows kinds 1-{MAX_KIND})",
                               self.path, at, tid)
            if (info >> 24) & 0x60:
                raise BtfError(f"reserved info bits set (info=0x{info:08x})", self.path, at, tid)
            end = o + 3 + FIXED_WORDS[kind] + (info & 0xFFFF) * VLEN_WORDS[kind]
            if end > n:
                raise BtfError(
                    f"{Kind(kind).name} record with vlen {info & 0xFFFF} runs past the end of "
                    f"the type section ({4 * end} > {4 * n} bytes)", self.path, at, tid)
        raise BtfError("type section does not end on a record boundary", self.path,
                       self._type_base + 4 * n)  # pragma: no cover

    # -- strings ------------------------------------------------------------------------------
    def str_at(self, off: int, type_id: int | None = None) -> str:
        """The NUL-terminated string at string offset ``off`` (split BTF: base offsets first)."""
        if off < self.start_str_off:
            assert self.base is not None
            return self.base.str_at(off, type_id)
        cache = self._str_cache
        s = cache.get(off)
        if s is None:
            rel = off - self.start_str_off
            if rel >= len(self._strs):
                raise BtfError(
                    f"string offset {off} out of range (string section ends at "
                    f"{self.end_str_off})", self.path, None, type_id)
            end = self._strs.index(b"\0", rel)
            s = self._strs[rel:end].decode("utf-8", "backslashreplace")
            cache[off] = s
        return s

    def _str_offsets(self, name: str) -> list[int]:
        """Every string offset of this object's own string table that holds exactly ``name``."""
        enc = name.encode()
        index = self._str_index
        if index is None and self._str_lookups >= _STR_INDEX_AFTER:
            index = self._build_str_index()
        self._str_lookups += 1
        if index is not None and enc not in self._dup_strs:
            off = index.get(enc)
            return [] if off is None else [off]
        return self._scan_str_offsets(enc)

    def _build_str_index(self) -> dict[bytes, int]:
        """string → offset for the whole table, built once many lookups have been made (C-speed
        split and zip; strings stored more than once keep using the scan)."""
        parts = self._strs[:-1].split(b"\0")  # the table ends with a NUL (checked on load)
        starts = accumulate(map((1).__add__, map(len, parts)), initial=self.start_str_off)
        index = dict(zip(parts, starts))  # noqa: B905 - starts has one more item than parts
        if len(index) != len(parts):
            self._dup_strs = {p for p, c in Counter(parts).items() if c > 1}
        self._str_index = index
        return index

    def _scan_str_offsets(self, enc: bytes) -> list[int]:
        needle = b"\0" + enc + b"\0"
        s = self._strs
        # a split string table need not start with the empty string: its first string has no
        # NUL before it
        out = [self.start_str_off] if s.startswith(enc + b"\0") else []
        pos = s.find(needle)
        while pos >= 0:
            out.append(self.start_str_off + pos + 1)
            pos = s.find(needle, pos + 1)
        return out

    # -- types --------------------------------------------------------------------------------
    def __getitem__(self, type_id: int) -> Type:
        t = self._types.get(type_id)
        if t is not None:
            return t
        if type_id < self.start_id:
            if type_id == 0:
                return self._void
            if self.base is not None and type_id > 0:
                return self.base[type_id]
            raise BtfError(f"type id {type_id} out of range", self.path, None)
        idx = type_id - self.start_id
        if idx >= len(self._offs):
            raise BtfError(f"type id {type_id} out of range (last type is {self.end_id - 1})",
                           self.path, None)
        o = self._offs[idx]
        t = Type(self, type_id, o, self._w[o + 1])
        self._types[type_id] = t
        return t

    def __len__(self) -> int:
        """Number of type ids, counting void and the base's types (libbpf's btf__type_cnt)."""
        return self.end_id

    @property
    def nr_types(self) -> int:
        """Number of types in this object's own type section."""
        return len(self._offs)

    def __iter__(self) -> Iterator[Type]:
        """This object's own types, in id order (not void, not the base's)."""
        for tid in range(self.start_id, self.end_id):
            yield self[tid]

    def fingerprint(self) -> bytes:
        """A digest of this object's own types and strings (not its base's)."""
        fp = getattr(self, "_fingerprint", None)
        if fp is None:
            h = hashlib.blake2b(digest_size=16)
            h.update(self._w.tobytes() if isinstance(self._w, array) else bytes(self._w))
            h.update(self._strs)
            fp = self._fingerprint = h.digest()
        return fp

    # -- name lookup --------------------------------------------------------------------------
    def _ids_named(self, name: str) -> tuple[int, ...]:
        ids = self._find_cache.get(name)
        if ids is not None:
            return ids
        found: list[int] = []
        if self.base is not None:
            found.extend(self.base._ids_named(name))
        if name and self._names is not None:
            found.extend(self._names.type_ids_named(self, name.encode()))
        elif name:
            offsets = self._str_offsets(name)
            if self.base is not None:
                offsets += self.base._str_offsets_all(name)
            found.extend(self._ids_with_name_offs(offsets))
        ids = tuple(sorted(found))
        self._find_cache[name] = ids
        return ids

    def _ids_with_name_offs(self, offsets: list[int]) -> list[int]:
        """Own type ids whose name_off is one of ``offsets``.

        The table of name offsets is searched as bytes (memmem speed); a hit counts when it is
        word aligned.
        """
        index = self._name_index
        if index is None and self._name_lookups >= _STR_INDEX_AFTER:
            index = self._build_name_index()
        self._name_lookups += 1
        if index is not None:
            out = []
            for off in offsets:
                if off in self._dup_names:
                    out.extend(self._scan_name_offs(off))
                else:
                    tid = index.get(off)
                    if tid is not None:
                        out.append(tid)
            return out
        out = []
        for off in offsets:
            out.extend(self._scan_name_offs(off))
        return out

    def _build_name_index(self) -> dict[int, int]:
        """name offset → type id (offsets shared by several types keep using the scan)."""
        names = array("I")
        names.frombytes(self._name_words)
        index = dict(zip(names, range(self.start_id, self.end_id)))  # noqa: B905
        if len(index) != len(names):
            self._dup_names = {n for n, c in Counter(names).items() if c > 1}
        self._name_index = index
        return index

    def _scan_name_offs(self, off: int) -> list[int]:
        nb = self._name_words
        out = []
        needle = off.to_bytes(4, sys.byteorder)
        pos = nb.find(needle)
        while pos >= 0:
            if not pos & 3:
                out.append(self.start_id + (pos >> 2))
            pos = nb.find(needle, pos + 1)
        return out

    def _str_offsets_all(self, name: str) -> list[int]:
        out = self._str_offsets(name)
        if self.base is not None:
            out += self.base._str_offsets_all(name)
        return out

    def name_tables(self) -> NameTables:
        """The hashed name tables of this object's own types (built now when the on-disk cache
        did not provide them)."""
        names = self._names
        if names is None:
            names = self._names = nameindex.build(self)
        return names

    def enumerators_named(self, name: str) -> tuple[tuple[int, int], ...]:
        """(enum type id, value index) of every ENUM/ENUM64 value called ``name``, the base's
        first, then in id and value order."""
        hit = self._enum_cache.get(name)
        if hit is not None:
            return hit
        out: list[tuple[int, int]] = []
        if self.base is not None:
            out.extend(self.base.enumerators_named(name))
        if name:
            out.extend(self.name_tables().enumerators_named(self, name.encode()))
        res = self._enum_cache[name] = tuple(out)
        return res

    def find_all(self, name: str, kind: str | int | Kind | None = None) -> list[Type]:
        """All types called ``name`` (optionally of one kind), in id order."""
        types = [self[i] for i in self._ids_named(name)]
        if kind is not None:
            k = parse_kind(kind)
            types = [t for t in types if t.kind == k]
        return types

    def find(self, name: str, kind: str | int | Kind | None = None) -> Type | None:
        """The first type called ``name`` (of ``kind`` when given), or ``None``."""
        k = parse_kind(kind) if kind is not None else None
        for tid in self._ids_named(name):
            t = self[tid]
            if k is None or t.kind == k:
                return t
        return None

    # -- type arithmetic ----------------------------------------------------------------------
    def resolve(self, t: Type | int) -> Type:
        """Skip typedefs and modifiers (const, volatile, restrict, type_tag)."""
        t = self[t] if isinstance(t, int) else t
        for _ in range(MAX_RESOLVE_DEPTH):
            if t.kind == Kind.TYPEDEF or t.kind in MODIFIER_KINDS:
                t = self[t.type_id]
            else:
                return t
        raise BtfError(f"type chain too deep or cyclic at {t.kind.name} [{t.id}]", self.path,
                       None, t.id)

    def skip_modifiers(self, t: Type | int) -> Type:
        """Skip const, volatile, restrict and type_tag, keeping typedefs."""
        t = self[t] if isinstance(t, int) else t
        for _ in range(MAX_RESOLVE_DEPTH):
            if t.kind in MODIFIER_KINDS:
                t = self[t.type_id]
            else:
                return t
        raise BtfError(f"modifier chain too deep or cyclic at [{t.id}]", self.path, None, t.id)

    def size_of(self, t: Type | int) -> int:
        """Size in bytes as libbpf's btf__resolve_size computes it."""
        t = self[t] if isinstance(t, int) else t
        nelems = 1
        for _ in range(MAX_RESOLVE_DEPTH):
            kind = t.kind
            if kind in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
                        Kind.DATASEC, Kind.FLOAT):
                return nelems * t.size
            if kind == Kind.PTR:
                return nelems * self.ptr_size
            if kind in (Kind.TYPEDEF, Kind.VAR, Kind.DECL_TAG) or kind in MODIFIER_KINDS:
                t = self[t.type_id]
            elif kind == Kind.ARRAY:
                a = t.array
                nelems *= a.nelems
                if nelems > 0xFFFFFFFF:
                    raise BtfError(f"array [{t.id}] size overflows", self.path, None, t.id)
                t = self[a.type_id]
            else:
                raise BtfError(f"{t.kind_name} [{t.id}] has no size", self.path, None, t.id)
        raise BtfError(f"type chain too deep or cyclic at [{t.id}]", self.path, None, t.id)

    def align_of(self, t: Type | int) -> int:
        """Alignment in bytes as libbpf's btf__align_of computes it."""
        t = self[t] if isinstance(t, int) else t
        return self._align_of(t, 0)

    def _align_of(self, t: Type, depth: int) -> int:
        memo = self._align_memo
        a = memo.get(t.id)
        if a is None:
            a = memo[t.id] = self._compute_align(t, depth)
        return a

    def _compute_align(self, t: Type, depth: int) -> int:
        if depth > MAX_RESOLVE_DEPTH:
            raise BtfError(f"type chain too deep or cyclic at [{t.id}]", self.path, None, t.id)
        kind = t.kind
        if kind in (Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FLOAT):
            return min(self.ptr_size, t.size) or 1
        if kind == Kind.PTR:
            return self.ptr_size
        if kind in (Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG):
            return self._align_of(self[t.type_id], depth + 1)
        if kind == Kind.ARRAY:
            return self._align_of(self[t.array.type_id], depth + 1)
        if kind in (Kind.STRUCT, Kind.UNION):
            max_align = 1
            for m in t.members:
                align = self._align_of(self[m.type_id], depth + 1)
                if not m.bitfield_size and m.bit_offset % (8 * align):
                    # a member at a misaligned offset means the struct is packed
                    return 1
                max_align = max(max_align, align)
            if t.size % max_align:
                return 1
            return max_align
        raise BtfError(f"{t.kind_name} [{t.id}] has no alignment", self.path, None, t.id)

    @property
    def ptr_size(self) -> int:
        """Pointer size guessed like libbpf: from the size of 'long' if present, else 8."""
        ps = getattr(self, "_ptr_size", None)
        if ps is None:
            ps = 8
            root = self
            while root.base is not None:
                root = root.base
            for name in ("long int", "long unsigned int", "unsigned long", "long"):
                t = root.find(name, Kind.INT)
                if t is not None and t.size in (4, 8):
                    ps = t.size
                    break
            self._ptr_size = ps
        return ps

    def __repr__(self) -> str:
        return (f"<Btf {self.path} types {self.start_id}..{self.end_id - 1} "
                f"{self.byte_order}-endian{' split' if self.base else ''}>")


_SPEC_KINDS = {"struct": (Kind.STRUCT,), "union": (Kind.UNION,), "enum": (Kind.ENUM, Kind.ENUM64),
               "typedef": (Kind.TYPEDEF,), "func": (Kind.FUNC,), "var": (Kind.VAR,),
               "fwd": (Kind.FWD,), "datasec": (Kind.DATASEC,)}
_DEFAULT_SPEC_KINDS = (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.TYPEDEF, Kind.INT,
                       Kind.FLOAT, Kind.FUNC, Kind.VAR, Kind.DATASEC, Kind.FWD)


def find_by_spec(btf: Btf, spec: str) -> Type | None:
    """Look up a type written the C way: ``struct task_struct``, ``enum bpf_func_id``,
    ``typedef u32``, a bare name (struct/union/enum/typedef/... in that order), or ``[id]``."""
    spec = " ".join(spec.split())
    if spec.startswith("[") and spec.endswith("]") and spec[1:-1].isdigit():
        tid = int(spec[1:-1])
        return btf[tid] if 0 < tid < btf.end_id else None
    word, _, rest = spec.partition(" ")
    if rest and word in _SPEC_KINDS:
        kinds, name = _SPEC_KINDS[word], rest
    else:
        kinds, name = _DEFAULT_SPEC_KINDS, spec
    found = btf.find_all(name)
    for k in kinds:
        for t in found:
            if t.kind == k:
                return t
    return None
