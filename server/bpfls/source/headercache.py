"""What preprocessing and masking a header gave, kept for the next translation unit that
includes it.

The files of one project include the same headers, each time in a state that is mostly the
same. :class:`HeaderCache` keeps, for each header (path and content), what processing it and
everything it includes did: the files it added (their code with directives and inactive
regions blanked, their includes and ``#pragma clang attribute`` points), the macros it
defined or removed, the diagnostics, the ``#pragma once`` and include-guard effects. It also
keeps what that processing *read* of the preprocessor's state (each macro looked up and the
definition it found, each ``#pragma once`` / built-in header / intrinsic asked about, whether
``vmlinux.h`` was seen) and of the file system (each header searched for and where it was
found, each file's content, each ``__has_include``). A later inclusion whose state reads the
same on all of these gets the recorded effects instead of being processed again: the result
equals what processing would give, exactly.

:meth:`HeaderCache.mask_units` does the same for masking the attribute macros of a file: the
result depends on the file's code, the attribute macros among the identifiers it holds, and
the macros the ``SEC(...)`` names it holds expand through.

:class:`CachingPreprocessor` records and replays through the preprocessor's own state: its
macro table, once and seen sets are containers that log reads and writes while a header is
being recorded, so any read is seen, wherever it is made.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from bpfls.source import mask
from bpfls.source.macros import MacroDef
from bpfls.source.model import SourceDiagnostic
from bpfls.source.pptokens import IDENT, Tok
from bpfls.source.preprocess import MAX_INCLUDE_DEPTH, FileUnit, IncludeRef, Preprocessor

#: recordings kept per header (path, content) or masked file; the bytes of code they may hold
#: in all (the least recently used go first)
MAX_VARIANTS = 8
MAX_BYTES = 192 << 20

_ABSENT = object()


def same_macro(a: MacroDef | None, b: MacroDef | None) -> bool:
    """Are two definitions the same (the same object, or equal in every field)?"""
    if a is b:
        return True
    if a is None or b is None:
        return False
    return (a.name == b.name and a.params == b.params and a.variadic == b.variadic
            and a.path == b.path and a.line == b.line and a.column == b.column
            and a.builtin == b.builtin and len(a.body) == len(b.body)
            and all((x.kind, x.text, x.start, x.end, x.space, x.hide, x.origin)
                    == (y.kind, y.text, y.start, y.end, y.space, y.hide, y.origin)
                    for x, y in zip(a.body, b.body, strict=True)))


@dataclass(eq=False)
class _Recording:
    """What processing one header (and its includes) read and did."""

    depth: int
    pai: tuple[bool, ...]
    n_units: int
    n_diags: int
    n_libbpf: int
    vm_entry: tuple
    # reads: name → what it was when first read (before any write of this recording)
    macros: dict[str, MacroDef | None] = field(default_factory=dict)
    sets: dict[tuple[str, str], bool] = field(default_factory=dict)  # (set, name) → member
    vmlinux: object = _ABSENT
    files: dict[str, bytes | None] = field(default_factory=dict)
    finds: dict[tuple[str, bool, str, str | None], str | None] = field(default_factory=dict)
    has: dict[tuple[str, str, str], int] = field(default_factory=dict)
    # writes
    written_macros: set[str] = field(default_factory=set)
    written_sets: set[tuple[str, str]] = field(default_factory=set)
    signature: list[bytes] = field(default_factory=list)
    max_depth: int = 0
    # effects: each definition and removal in order (the table's order is kept); the rest is
    # filled when the header is done
    macro_ops: list[tuple[str, MacroDef | None]] = field(default_factory=list)
    set_effects: dict[tuple[str, str], bool] = field(default_factory=dict)
    units: list[tuple] = field(default_factory=list)
    diagnostics: list[SourceDiagnostic] = field(default_factory=list)
    libbpf: list[str] = field(default_factory=list)
    #: definitions an #undef of this header retired (name, (definition, line)), in order
    retired: list[tuple[str, tuple]] = field(default_factory=list)
    n_retired: dict[str, int] = field(default_factory=dict)
    pai_exit: tuple[bool, ...] = ()
    vm_exit: tuple = ()
    size: int = 0  # bytes of code and files it holds
    opaque: bool = False  # it read a whole table: not kept


class _Log:
    """The recordings in progress (innermost last)."""

    __slots__ = ("recs",)

    def __init__(self) -> None:
        self.recs: list[_Recording] = []

    def read_macro(self, name: str, m: MacroDef | None) -> None:
        for r in self.recs:
            if name not in r.written_macros and name not in r.macros:
                r.macros[name] = m

    def write_macro(self, name: str, m: MacroDef | None) -> None:
        for r in self.recs:
            r.written_macros.add(name)
            r.macro_ops.append((name, m))

    def read_set(self, key: tuple[str, str], member: bool) -> None:
        for r in self.recs:
            if key not in r.written_sets and key not in r.sets:
                r.sets[key] = member

    def write_set(self, key: tuple[str, str]) -> None:
        for r in self.recs:
            r.written_sets.add(key)

    def read_all(self) -> None:
        """A whole table was read (iterated, counted): the recordings cannot tell what of it
        mattered, and are not kept."""
        for r in self.recs:
            r.opaque = True


def _whole(method: str):
    """``method`` of the base class, marking the recordings in progress opaque."""

    def wrapper(self, *args, **kw):
        if self.log.recs:
            self.log.read_all()
        return getattr(super(type(self), self), method)(*args, **kw)

    wrapper.__name__ = method
    return wrapper


class _Macros(dict):
    """The macro table, telling the log what is read and written."""

    __slots__ = ("log",)

    def __init__(self, items: dict, log: _Log) -> None:
        super().__init__(items)
        self.log = log

    def get(self, name, default=None):  # type: ignore[override]
        m = dict.get(self, name)
        if self.log.recs:
            self.log.read_macro(name, m)
        return default if m is None else m

    def __getitem__(self, name):  # type: ignore[override]
        m = self.get(name)
        if m is None:
            raise KeyError(name)
        return m

    def __contains__(self, name) -> bool:  # type: ignore[override]
        return self.get(name) is not None

    def __setitem__(self, name, m) -> None:  # type: ignore[override]
        if self.log.recs:
            self.log.write_macro(name, m)
        dict.__setitem__(self, name, m)

    def __delitem__(self, name) -> None:  # type: ignore[override]
        if self.log.recs:
            self.log.write_macro(name, None)
        dict.__delitem__(self, name)

    def pop(self, name, *default):  # type: ignore[override]
        if self.log.recs:
            self.log.write_macro(name, None)
        return dict.pop(self, name, *default)

    def setdefault(self, name, m=None):  # type: ignore[override]
        if name not in self:
            self[name] = m
        return dict.__getitem__(self, name)

    def update(self, *args, **kw) -> None:  # type: ignore[override]
        for k, v in dict(*args, **kw).items():
            self[k] = v

    __iter__ = _whole("__iter__")
    __len__ = _whole("__len__")
    keys = _whole("keys")
    values = _whole("values")
    items = _whole("items")
    copy = _whole("copy")


class _Set(set):
    """A set of names (``#pragma once`` files, intrinsics), telling the log what is asked
    and added."""

    __slots__ = ("log", "tag")

    def __init__(self, items, log: _Log, tag: str) -> None:
        super().__init__(items)
        self.log = log
        self.tag = tag

    def __contains__(self, name) -> bool:  # type: ignore[override]
        member = set.__contains__(self, name)
        if self.log.recs:
            self.log.read_set((self.tag, name), member)
        return member

    def add(self, name) -> None:  # type: ignore[override]
        if self.log.recs:
            self.log.write_set((self.tag, name))
        set.add(self, name)

    def update(self, *items) -> None:  # type: ignore[override]
        for it in items:
            for name in it:
                self.add(name)

    def discard(self, name) -> None:  # type: ignore[override]
        if self.log.recs:
            self.log.write_set((self.tag, name))
        set.discard(self, name)

    __iter__ = _whole("__iter__")
    __len__ = _whole("__len__")
    copy = _whole("copy")


class _Seen(dict):
    """The files seen so far (path → unit), telling the log what is asked and added."""

    __slots__ = ("log",)

    def __init__(self, log: _Log) -> None:
        super().__init__()
        self.log = log

    def __contains__(self, path) -> bool:  # type: ignore[override]
        member = dict.__contains__(self, path)
        if self.log.recs:
            self.log.read_set(("seen", path), member)
        return member

    def get(self, path, default=None):  # type: ignore[override]
        self.__contains__(path)
        return dict.get(self, path, default)

    def __setitem__(self, path, unit) -> None:  # type: ignore[override]
        if self.log.recs:
            self.log.write_set(("seen", path))
        dict.__setitem__(self, path, unit)

    __iter__ = _whole("__iter__")
    __len__ = _whole("__len__")
    keys = _whole("keys")
    values = _whole("values")
    items = _whole("items")


class _Signature:
    """The digest of the macro directives, telling the recordings what is added to it."""

    __slots__ = ("inner", "log")

    def __init__(self, inner, log: _Log) -> None:
        self.inner = inner
        self.log = log

    def update(self, data: bytes) -> None:
        for r in self.log.recs:
            r.signature.append(data)
        self.inner.update(data)

    def digest(self) -> bytes:
        return self.inner.digest()


class _PathOnly:
    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


#: the preprocessor's own state, as this module knows it: a preprocessor with more state than
#: this is processed without the cache (a recording would miss what it reads)
_KNOWN_STATE = frozenset({
    "include_dirs", "overlays", "macros", "intrinsics", "diagnostics", "units", "_seen",
    "_once", "_pai_stack", "vmlinux", "vmlinux_path", "base_pai", "libbpf_headers",
    "signature", "kernels", "retired", "vmlinux_kernel", "vmlinux_btf"})


class CachingPreprocessor(Preprocessor):
    """A :class:`~bpfls.source.preprocess.Preprocessor` that takes each header it can from a
    :class:`HeaderCache`, and records the others into it."""

    def __init__(self, cache: HeaderCache, **kw) -> None:
        self._log = _Log()
        self._vmlinux: str | None = None
        self._vmlinux_path: str | None = None
        self._base_pai = False
        super().__init__(**kw)
        self._cache = cache
        self._enabled = set(vars(self)) - {"_log", "_vmlinux", "_vmlinux_path", "_base_pai",
                                           "_cache"} <= _KNOWN_STATE
        log = self._log
        self.macros = _Macros(self.macros, log)
        self.intrinsics = _Set(self.intrinsics, log, "intrinsic")
        self._once = _Set(self._once, log, "once")
        seen = _Seen(log)
        seen.update(self._seen)
        self._seen = seen
        self.signature = _Signature(self.signature, log)  # type: ignore[assignment]

    # the vmlinux.h seen (the first one included wins): state a header reads. Reading or
    # writing any of the three records the three as they were (written before read: what it
    # was counts)
    def _vm_touch(self) -> None:
        for r in self._log.recs:
            if r.vmlinux is _ABSENT:
                r.vmlinux = self._vm_state()

    @property  # type: ignore[override]
    def vmlinux(self) -> str | None:
        self._vm_touch()
        return self._vmlinux

    @vmlinux.setter
    def vmlinux(self, value: str | None) -> None:
        self._vm_touch()
        self._vmlinux = value

    @property  # type: ignore[override]
    def vmlinux_path(self) -> str | None:
        self._vm_touch()
        return self._vmlinux_path

    @vmlinux_path.setter
    def vmlinux_path(self, value: str | None) -> None:
        self._vm_touch()
        self._vmlinux_path = value

    @property  # type: ignore[override]
    def base_pai(self) -> bool:
        self._vm_touch()
        return self._base_pai

    @base_pai.setter
    def base_pai(self, value: bool) -> None:
        self._vm_touch()
        self._base_pai = value

    def run(self, path: str, data: bytes):
        res = super().run(path, data)
        res.macros = {k: v for k, v in dict.items(res.macros)}  # noqa: C416 - not through items()
        res.intrinsics = set(set.__iter__(res.intrinsics))
        return res

    # -- what the file system says, recorded ---------------------------------------------------
    def read(self, path: str) -> bytes | None:
        data = super().read(path)
        for r in self._log.recs:
            r.files.setdefault(path, data)
        return data

    def _find(self, name: str, angled: bool, cur_dir: str,
              after: str | None = None) -> str | None:
        found = super()._find(name, angled, cur_dir, after)
        for r in self._log.recs:
            r.finds.setdefault((name, angled, cur_dir, after), found)
        return found

    def _has(self, form: str, inner, unit) -> int:
        value = super()._has(form, inner, unit)
        if self._log.recs and form in ("__has_include", "__has_include_next"):
            key = (form, "".join(t.text for t in inner), unit.path)
            for r in self._log.recs:
                r.has.setdefault(key, value)
        return value

    # -- headers ---------------------------------------------------------------------------------
    def _process(self, path: str, data: bytes, depth: int, *, virtual: bool) -> None:
        if depth == 0 or not self._enabled:
            super()._process(path, data, depth, virtual=virtual)
            return
        # what an included vmlinux*.h is depends on the configured kernels
        key = (path, virtual, data, tuple(id(b) for _, b in self.kernels))
        pai = tuple(self._pai_stack)
        for rec in self._cache.recordings(key):
            if self._replay(rec, depth, pai):
                self._cache.hits += 1
                return
        self._cache.misses += 1
        rec = _Recording(depth, pai, len(self.units), len(self.diagnostics),
                         len(self.libbpf_headers), self._vm_state(),
                         n_retired={k: len(v) for k, v in self.retired.items()})
        log = self._log
        for r in log.recs:
            r.max_depth = max(r.max_depth, depth - r.depth)
        log.recs.append(rec)
        try:
            super()._process(path, data, depth, virtual=virtual)
        finally:
            log.recs.pop()
        self._finish(rec)
        if not rec.opaque:
            self._cache.keep(key, rec)

    def _vm_state(self) -> tuple:
        return (self._vmlinux, self._vmlinux_path, self._base_pai,
                getattr(self, "vmlinux_kernel", None), getattr(self, "vmlinux_btf", None))

    def _finish(self, rec: _Recording) -> None:
        sets = {"once": self._once, "intrinsic": self.intrinsics}
        rec.set_effects = {k: set.__contains__(sets[k[0]], k[1])
                           for k in rec.written_sets if k[0] in sets}
        rec.units = [_snapshot(u) for u in self.units[rec.n_units:]]
        rec.diagnostics = self.diagnostics[rec.n_diags:]
        rec.libbpf = self.libbpf_headers[rec.n_libbpf:]
        rec.retired = [(name, entry) for name, entries in self.retired.items()
                       for entry in entries[rec.n_retired.get(name, 0):]]
        rec.pai_exit = tuple(self._pai_stack)
        rec.vm_exit = self._vm_state()

    def _replay(self, rec: _Recording, depth: int, pai: tuple[bool, ...]) -> bool:
        """Apply ``rec`` if what it read reads the same now."""
        if pai != rec.pai:
            return False
        if depth != rec.depth and (rec.depth + rec.max_depth >= MAX_INCLUDE_DEPTH
                                   or depth + rec.max_depth >= MAX_INCLUDE_DEPTH):
            return False
        macros = self.macros
        for name, m in rec.macros.items():
            if not same_macro(macros.get(name), m):
                return False
        sets = {"once": self._once, "intrinsic": self.intrinsics, "seen": self._seen}
        for (tag, name), member in rec.sets.items():
            if (name in sets[tag]) != member:
                return False
        if rec.vmlinux is not _ABSENT:
            self._vm_touch()
            if self._vm_state() != rec.vmlinux:
                return False
        for (name, angled, cur_dir, after), found in rec.finds.items():
            if self._find(name, angled, cur_dir, after) != found:
                return False
        for path, data in rec.files.items():
            if self.read(path) != data:
                return False
        for (form, text, unit_path), value in rec.has.items():
            # what __has_include reads of its argument is the text of its tokens
            if self._has(form, [Tok(IDENT, text, 0, 0)], _PathOnly(unit_path)) != value:
                return False
        # it reads the same: what it did
        for r in self._log.recs:
            r.max_depth = max(r.max_depth, depth - r.depth + rec.max_depth)
        for name, m in rec.macro_ops:
            if m is None:
                macros.pop(name, None)
            else:
                macros[name] = m
        for (tag, name), member in rec.set_effects.items():
            target = sets[tag]
            if member:
                target.add(name)
            else:
                target.discard(name)
        for data in rec.signature:
            self.signature.update(data)
        for snap in rec.units:
            unit = _unit(snap)
            self._seen[unit.path] = unit
            self.units.append(unit)
        self.diagnostics.extend(rec.diagnostics)
        for name, entry in rec.retired:
            self.retired.setdefault(name, []).append(entry)
        for base in rec.libbpf:
            if base not in self.libbpf_headers:
                self.libbpf_headers.append(base)
        self._pai_stack[:] = rec.pai_exit
        if rec.vm_exit != rec.vm_entry:
            self._vm_touch()
            (self._vmlinux, self._vmlinux_path, self._base_pai, self.vmlinux_kernel,
             self.vmlinux_btf) = rec.vm_exit
        return True


def _snapshot(u: FileUnit) -> tuple:
    return (u.path, u.data, bytes(u.code), u.line_starts, u.virtual, tuple(u.inactive),
            tuple(u.includes), tuple(u.pai_changes))


def _unit(snap: tuple) -> FileUnit:
    path, data, code, starts, virtual, inactive, includes, pai = snap
    includes = [IncludeRef(r.name, r.angled, r.line, r.range, r.kind, r.resolved)
                for r in includes]
    return FileUnit(path, data, bytearray(code), starts, virtual=virtual, inactive=list(inactive),
                    includes=includes, pai_changes=list(pai))


_IDENT_RUN = re.compile(rb"[A-Za-z0-9_$]+")


class _Recorder:
    """The macro table for one masking, remembering which names were looked up."""

    __slots__ = ("macros", "looked")

    def __init__(self, macros: dict[str, MacroDef]) -> None:
        self.macros = macros
        self.looked: dict[str, MacroDef | None] = {}

    def get(self, name: str, default=None):
        m = self.macros.get(name)
        self.looked.setdefault(name, m)
        return default if m is None else m


class HeaderCache:
    """Preprocessed headers and masked files, shared by the translation units of a run (or of
    a language server's documents). Bounded; safe to share between threads."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._headers: OrderedDict[tuple, list[_Recording]] = OrderedDict()
        self._masked: OrderedDict[tuple, list[tuple]] = OrderedDict()
        self._idents: dict[bytes, frozenset[bytes]] = {}
        self._lock = threading.Lock()
        self.max_bytes = max_bytes
        self._bytes = 0
        self.hits = 0  # headers replayed
        self.misses = 0  # headers processed (and recorded)
        self.mask_hits = 0

    def preprocessor(self, **kw) -> CachingPreprocessor:
        """A preprocessor (the arguments of :class:`Preprocessor`) that uses this cache."""
        return CachingPreprocessor(self, **kw)

    def recordings(self, key: tuple) -> list[_Recording]:
        with self._lock:
            recs = self._headers.get(key)
            if recs is None:
                return []
            self._headers.move_to_end(key)
            return list(recs)

    def keep(self, key: tuple, rec: _Recording) -> None:
        rec.size = sum(len(u[1]) + len(u[2]) for u in rec.units) + sum(
            len(d) for d in rec.files.values() if d is not None)
        with self._lock:
            recs = self._headers.setdefault(key, [])
            self._headers.move_to_end(key)
            recs.insert(0, rec)
            self._bytes += rec.size
            for old in recs[MAX_VARIANTS:]:
                self._bytes -= old.size
            del recs[MAX_VARIANTS:]
            self._evict()

    def _evict(self) -> None:
        """Drop the least recently used entries until the cache holds at most ``max_bytes``."""
        while self._bytes > self.max_bytes and (self._headers or self._masked):
            if self._headers:
                for rec in self._headers.popitem(last=False)[1]:
                    self._bytes -= rec.size
            if self._bytes > self.max_bytes and self._masked:
                key, variants = self._masked.popitem(last=False)
                self._bytes -= sum(len(v[1]) for v in variants)
                self._idents.pop(key[0], None)

    # -- masking ---------------------------------------------------------------------------------
    def mask_units(self, units: list[FileUnit], macros: dict[str, MacroDef]) -> None:
        """:func:`bpfls.source.mask.mask_units`, each file's result kept."""
        table = mask.masked_macros(macros)
        rx = mask.names_pattern(table)
        for i, unit in enumerate(units):
            if i == 0:
                # the translation unit's own file changes with each edit: masked, not kept
                mask.mask_attributes(unit, rx, table, macros)
            else:
                self._mask(unit, table, macros)
        mask.mask_writers(units, macros, table, rx)

    def _mask(self, unit: FileUnit, table: dict, macros: dict[str, MacroDef]) -> None:
        code = bytes(unit.code)
        digest = hashlib.blake2b(code, digest_size=20).digest()
        with self._lock:
            idents = self._idents.get(digest)
        if idents is None:
            idents = frozenset(_IDENT_RUN.findall(code))
        used = tuple(sorted((n, table[n]) for n in table if n.encode() in idents))
        key = (digest, used)
        with self._lock:
            variants = self._masked.get(key)
            if variants is not None:
                self._masked.move_to_end(key)
                variants = list(variants)
        for looked, masked, sections, attrs in variants or ():
            if all(same_macro(macros.get(n), m) for n, m in looked):
                self.mask_hits += 1
                unit.code[:] = masked
                unit.sections.extend(sections)
                unit.attrs.extend(attrs)
                return
        n_sections, n_attrs = len(unit.sections), len(unit.attrs)
        rec = _Recorder(macros)
        sub = dict(used)
        if sub:
            mask.mask_attributes(unit, mask.names_pattern(sub), sub, rec)  # type: ignore[arg-type]
        entry = (tuple(rec.looked.items()), bytes(unit.code), tuple(unit.sections[n_sections:]),
                 tuple(unit.attrs[n_attrs:]))
        with self._lock:
            self._idents[digest] = idents
            variants = self._masked.setdefault(key, [])
            self._masked.move_to_end(key)
            variants.insert(0, entry)
            self._bytes += len(entry[1])
            for old in variants[MAX_VARIANTS:]:
                self._bytes -= len(old[1])
            del variants[MAX_VARIANTS:]
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._headers.clear()
            self._masked.clear()
            self._idents.clear()
            self._bytes = 0


__all__ = ["CachingPreprocessor", "HeaderCache", "same_macro"]
