"""Go to definition: kernel types and members in a header rendered from the primary kernel's
BTF; the program's own types, functions, macros, variables and parameters where they are
declared.

The kernel header is ``bpftool btf dump file ... format c`` of the primary kernel
(:func:`bpfls.btf.dump_c.dump_c`), written once per kernel fingerprint as
``<cache_dir>/<fingerprint>.h`` (read-only; default directory ``$BPFLS_CACHE_DIR/headers`` or
``~/.cache/bpfls/headers``) with a small index of the line of each type next to it, so later
sessions need not render it again.

:func:`definition` never raises; no answer is an empty list.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bpfls.analysis import facts
from bpfls.analysis.helper_table import HELPERS
from bpfls.analysis.kernelindex import index_of
from bpfls.btf import BtfError
from bpfls.source.positions import Position, Range
from bpfls.source.query import Context, context_at, split_lines, tokens_of_lines

if TYPE_CHECKING:
    from bpfls.btf import Btf
    from bpfls.btf.model import Type
    from bpfls.project.kernels import KernelSet
    from bpfls.source.model import SourceModel

_INDEX_VERSION = 1
HELPER_DEFS = "/usr/include/bpf/bpf_helper_defs.h"


@dataclass(frozen=True)
class Location:
    path: str
    range: Range


def definition(model: SourceModel, kernels: KernelSet, path: str, text: str,
               position: Position, cache_dir: Path | None = None) -> list[Location]:
    """Where the thing at ``position`` of ``text`` (the current text of ``path``) is defined."""
    try:
        return _definition(model, kernels, path, text, position, cache_dir)
    except Exception:  # noqa: BLE001 - never take the editor down
        return []


def default_cache_dir() -> Path:
    d = os.environ.get("BPFLS_CACHE_DIR")
    if d:
        return Path(d) / "headers"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bpfls" / "headers"


def _definition(model: SourceModel, kernels: KernelSet, path: str, text: str,
                position: Position, cache_dir: Path | None) -> list[Location]:
    ctx = context_at(model, text, position)
    finder = _Finder(model, kernels, path, text, cache_dir)
    kind = ctx.kind
    if kind in ("member", "core-read"):
        if ctx.member() is None and ctx.word in (model.macros or {}):
            return finder.identifier(ctx)  # a macro naming a path (#define ORIG ...)
        return finder.member(ctx)
    if kind == "tag":
        return finder.tag(ctx.tag, ctx.word)
    if kind == "identifier":
        return finder.identifier(ctx)
    if kind == "enum-value" and ctx.word:
        return finder.enumerator(ctx.word)
    return []


def _loc(path: str, line: int, col: int, end: int) -> Location:
    return Location(path, Range(Position(line, col), Position(line, end)))


class _Finder:
    def __init__(self, model: SourceModel, kernels: KernelSet, path: str, text: str,
                 cache_dir: Path | None) -> None:
        self.model = model
        self.kernels = kernels
        self.path = os.path.abspath(path)
        self.text = text
        self.cache_dir = cache_dir

    # -- the program's files -----------------------------------------------------------------
    def lines_of(self, path: str) -> list[str] | None:
        if os.path.abspath(path) in (self.path, os.path.abspath(self.model.path)):
            return split_lines(self.text)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read().split("\n")
        except OSError:
            return None

    def local_type(self, tid: int) -> list[Location]:
        info = (self.model.local_types or {}).get(tid)
        if info is None or info.path.startswith("<"):
            return []
        r = info.range
        path = info.path
        if os.path.abspath(path) == os.path.abspath(self.model.path):
            path = self.path
        return [Location(path, Range(Position(r.start.line, r.start.column),
                                     Position(r.end.line, r.end.column)))]

    def local_member(self, tid: int, name: str) -> list[Location]:
        """The member's line inside the program's definition of type ``tid``."""
        locs = self.local_type(tid)
        if not locs:
            return []
        loc = locs[0]
        lines = self.lines_of(loc.path)
        if lines is None:
            return locs
        first = loc.range.start.line
        toks = tokens_of_lines(lines, first, min(len(lines) - 1, first + 2000))
        depth = 0
        opened = False
        for i, t in enumerate(toks):
            if t.text == "{":
                depth += 1
                opened = True
            elif t.text == "}":
                depth -= 1
                if opened and depth <= 0:
                    break
            elif opened and t.text == name and t.kind == "ident" and i + 1 < len(toks) and \
                    toks[i + 1].text in (";", "[", ":", ",", ")", "__attribute__"):
                return [_loc(loc.path, t.line, t.col, t.end)]
        return locs

    # -- members and types -------------------------------------------------------------------
    def member(self, ctx: Context) -> list[Location]:
        rec = ctx.record()
        if rec is None or not ctx.word:
            return []
        model = self.model
        if rec.id >= model.local.start_id:
            return self.local_member(rec.id, ctx.word)
        return self.kernel_member(rec, ctx.word)

    def tag(self, tag: str, name: str) -> list[Location]:
        if not name:
            return []
        for tid, info in (self.model.local_types or {}).items():
            if info.kind == tag and info.name == name:
                return self.local_type(tid)
        t = facts.find_kind(self.model.local, tag, name)
        if t is None:
            return []
        if t.id >= self.model.local.start_id:
            return self.local_type(t.id)
        return self.kernel_type(t)

    def kernel_type(self, t: Type) -> list[Location]:
        header = self.header(t.btf)
        if header is None:
            return []
        line = header.type_line(t.id)
        if line is None:
            return []
        text = header.line(line)
        col, end = _name_span(text, t.name)
        return [_loc(str(header.path), line, col, end)]

    def kernel_member(self, rec: Type, name: str) -> list[Location]:
        header = self.header(rec.btf)
        if header is None:
            return []
        line = header.type_line(rec.id)
        if line is None:
            return []
        pat = re.compile(rf"[\s*(]{re.escape(name)}\s*(?:[;\[:,)]|$)")
        depth = 0
        for ln in range(line, min(line + 20000, header.nlines)):
            s = header.line(ln)
            m = pat.search(s) if ln > line else None
            if m is not None and depth >= 1:
                col = m.start() + 1
                return [_loc(str(header.path), ln, _bytes(s, col),
                             _bytes(s, col + len(name)))]
            depth += s.count("{") - s.count("}")
            if ln > line and depth <= 0:
                break
        return self.kernel_type(rec)

    def header(self, btf: Btf) -> _Header | None:
        primary = self.kernels.primary_btf if self.kernels is not None else None
        if primary is None or not _same_kernel(btf, primary):
            return None
        return kernel_header(primary, self.cache_dir)

    # -- identifiers -------------------------------------------------------------------------
    def identifier(self, ctx: Context) -> list[Location]:
        model = self.model
        name = ctx.word
        if not ctx.called:
            sym = ctx.symbol()
            if sym is not None:
                if sym.range is not None:
                    r = sym.range
                    return [_loc(self.path, r.start.line, r.start.column, r.end.column)]
                if sym.kind == "global":
                    return self.global_var(name)
        fn = model.functions.get(name)
        if fn is not None:
            r = fn.name_range
            path = self.path if os.path.abspath(fn.path) == os.path.abspath(model.path) \
                else fn.path
            return [Location(path, Range(Position(r.start.line, r.start.column),
                                         Position(r.end.line, r.end.column)))]
        m = (model.macros or {}).get(name)
        if m is not None and m.path and not m.builtin and not str(m.path).startswith("<"):
            path = self.path if os.path.abspath(m.path) == os.path.abspath(model.path) \
                else m.path
            return [_loc(path, m.line, m.column, m.column + len(name.encode()))]
        if name in HELPERS:
            return _helper_location(name)
        td = None
        for tid, info in (model.local_types or {}).items():
            if info.kind == "typedef" and info.name == name:
                return self.local_type(tid)
        td = facts.find_kind(model.local, "typedef", name)
        if td is not None and td.id < model.local.start_id:
            return self.kernel_type(td)
        return self.enumerator(name)

    def enumerator(self, name: str) -> list[Location]:
        model = self.model
        info = facts.local_enumerator(model, name)
        if info is None:
            return []
        if info.type_id >= model.local.start_id:
            return self.local_member(info.type_id, name) or self.local_type(info.type_id)
        try:
            enum = model.local[info.type_id]
        except BtfError:
            return []
        header = self.header(enum.btf)
        if header is None:
            return []
        line = header.type_line(enum.id)
        if line is None:
            return []
        pat = re.compile(rf"^\s+{re.escape(name)}\b")
        for ln in range(line, min(line + 100000, header.nlines)):
            s = header.line(ln)
            if pat.match(s):
                col = len(s) - len(s.lstrip())
                return [_loc(str(header.path), ln, col, col + len(name))]
            if ln > line and s.startswith("}"):
                break
        return self.kernel_type(enum)

    def global_var(self, name: str) -> list[Location]:
        """A file-scope declaration of ``name`` in the current text."""
        lines = split_lines(self.text)
        toks = tokens_of_lines(lines, 0, len(lines) - 1)
        depth = 0
        for i, t in enumerate(toks):
            x = t.text
            if x == "{":
                depth += 1
            elif x == "}":
                depth -= 1
            elif depth == 0 and x == name and t.kind == "ident" and i + 1 < len(toks) and \
                    toks[i + 1].text in (";", "=", "[", ",", "SEC", "__attribute__", "__ksym",
                                         "__weak", "__kconfig", "__hidden") and \
                    (i == 0 or toks[i - 1].text not in ("struct", "union", "enum", ".", "->")):
                return [_loc(self.path, t.line, t.col, t.end)]
        return []


def _same_kernel(btf: Btf, primary: Btf) -> bool:
    b: Btf | None = btf
    while b is not None:
        if b is primary:
            return True
        b = b.base
    return False


def _bytes(s: str, col: int) -> int:
    return len(s[:col].encode("utf-8", "surrogateescape"))


def _name_span(line: str, name: str) -> tuple[int, int]:
    m = re.search(rf"\b{re.escape(name)}(?:___\d+)?\b", line) if name else None
    if m is None:
        return 0, 0
    return _bytes(line, m.start()), _bytes(line, m.end())


def _helper_location(name: str) -> list[Location]:
    try:
        with open(HELPER_DEFS, encoding="utf-8", errors="replace") as f:
            for i, line in enumerate(f):
                j = line.find(f"(*{name})(")
                if j >= 0 and line.startswith("static "):
                    return [_loc(HELPER_DEFS, i, j + 2, j + 2 + len(name))]
    except OSError:
        return []
    return []


# -- the kernel header --------------------------------------------------------------------------

class _Header:
    """A rendered kernel header on disk and the line of each type in it."""

    def __init__(self, path: Path, type_lines: dict[int, int]) -> None:
        self.path = path
        self.type_lines = type_lines
        self._lines: list[str] | None = None

    def type_line(self, tid: int) -> int | None:
        return self.type_lines.get(tid)

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            try:
                self._lines = self.path.read_text(encoding="utf-8", errors="replace").split("\n")
            except OSError:
                self._lines = []
        return self._lines

    @property
    def nlines(self) -> int:
        return len(self.lines)

    def line(self, n: int) -> str:
        ls = self.lines
        return ls[n] if 0 <= n < len(ls) else ""


_HEADERS: dict[tuple[str, bytes], _Header] = {}
_HEADER_LOCK = threading.Lock()


def fingerprint(btf: Btf) -> str:
    parts = []
    b: Btf | None = btf
    while b is not None:
        parts.append(b.fingerprint().hex())
        b = b.base
    return parts[0] if len(parts) == 1 else "-".join(p[:16] for p in parts)


def kernel_header(btf: Btf, cache_dir: Path | None = None) -> _Header | None:
    """The header rendered from ``btf`` (written on first use) and its type lines."""
    d = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    fp = fingerprint(btf)
    key = (str(d), fp.encode())
    with _HEADER_LOCK:
        hit = _HEADERS.get(key)
        if hit is not None and hit.path.exists():
            return hit
        h = _load_header(d, fp)
        if h is None:
            h = _write_header(btf, d, fp)
        if h is not None:
            _HEADERS[key] = h
            while len(_HEADERS) > 4:
                _HEADERS.pop(next(iter(_HEADERS)))
        return h


def _load_header(d: Path, fp: str) -> _Header | None:
    path = d / f"{fp}.h"
    idx = d / f"{fp}.lines.json"
    try:
        data = json.loads(idx.read_text())
        if data.get("version") != _INDEX_VERSION or not path.exists():
            return None
        return _Header(path, {int(k): v for k, v in data["types"].items()})
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return None


def _write_header(btf: Btf, d: Path, fp: str) -> _Header | None:
    # the C renderer loads when a kernel header is first written, not with the module
    from bpfls.btf.dump_c import dump_c, renderer

    try:
        text = dump_c(btf)
    except (BtfError, RecursionError):
        return None
    spans = renderer(btf).type_spans
    newlines = [i for i, c in enumerate(text) if c == "\n"] if spans else []
    type_lines: dict[int, int] = {}
    for tid, (start, _end) in spans.items():
        type_lines[tid] = bisect_right(newlines, start - 1)
    if not type_lines:
        type_lines = _scan_type_lines(btf, text)
    path = d / f"{fp}.h"
    try:
        d.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, text.encode(), 0o444)
        _atomic_write(d / f"{fp}.lines.json",
                      json.dumps({"version": _INDEX_VERSION,
                                  "types": {str(k): v for k, v in type_lines.items()}}).encode(),
                      0o644)
    except OSError:
        if not path.exists():
            return None
    h = _Header(path, type_lines)
    h._lines = text.split("\n")
    return h


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _scan_type_lines(btf: Btf, text: str) -> dict[int, int]:
    """Fallback: the first line that defines each struct/union/enum/typedef name."""
    firsts: dict[str, int] = {}
    for i, line in enumerate(text.split("\n")):
        m = re.match(r"(struct|union|enum) (\w+) \{|typedef .*?(\w+)(?:\[\d*\])*;$", line)
        if m is not None:
            key = f"{m[1]} {m[2]}" if m[1] else f"typedef {m[3]}"
            firsts.setdefault(key, i)
    out: dict[int, int] = {}
    idx = index_of(btf)
    for kind in ("struct", "union", "enum", "typedef"):
        for name, tid in idx.ids(kind).items():
            ln = firsts.get(f"{kind} {name}")
            if ln is not None:
                out[tid] = ln
    return out
