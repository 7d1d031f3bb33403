"""Preprocessing: conditionals, macro definitions, includes and ``#pragma clang attribute``.

The output keeps every byte position of the input: directive lines and code in inactive
regions are replaced by spaces (newlines kept), so line and column numbers of the remaining
code are those of the file. Nothing is expanded in the text; expansion happens on demand
(:mod:`bpfls.source.macros`).

Includes: ``"x.h"`` is searched next to the including file, then in the include directories;
``<x.h>`` only in the include directories. A header named like ``vmlinux.h`` that is the dump
of a configured kernel is not read (its types are that kernel's BTF), nor is a big dump of
another kernel (its types are parsed once into BTF); any other (a wrapper including a dump, a
trimmed header) is read like every header (:mod:`bpfls.source.vmlinux_header`,
:class:`PPResult.vmlinux`). libbpf's headers (``bpf_helpers.h``, ``bpf_core_read.h``,
``bpf_tracing.h``, ...) are read like any header when the search finds them (a project's own
copy of libbpf: its macros are the ones clang expands), and are built in
(:mod:`bpfls.source.headers`) otherwise: the system's libbpf is never read. Other headers that
are not found are system headers and are skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from bpfls.btf import Btf
from bpfls.source import headers, vmlinux_header
from bpfls.source.macros import Expander, MacroDef, parse_define
from bpfls.source.model import SourceDiagnostic
from bpfls.source.positions import Range
from bpfls.source.ppexpr import ConstEval, EvalError
from bpfls.source.pplines import Lines
from bpfls.source.pptokens import IDENT, NUMBER, STRING, Tok, matching_paren, tokenize
from bpfls.source.predefines import predefined_lines, target_arch_define

MAX_INCLUDE_DEPTH = 64
VMLINUX_RE = re.compile(r"^vmlinux(?:[-_.][\w.-]*)?\.h$")
_SYSTEM_DIRS = ("/usr/local/include", "/usr/include")


@dataclass
class IncludeRef:
    name: str
    angled: bool
    line: int
    range: Range
    kind: str  # "file", "vmlinux", "libbpf", "system", "missing", "cycle"
    resolved: str | None = None


@dataclass(eq=False)
class FileUnit:
    """One file as the compiler sees it in this translation unit."""

    path: str
    data: bytes
    code: bytearray  # ``data`` with directives and inactive code blanked (then masked)
    line_starts: list[int]
    virtual: bool = False  # a built-in libbpf header
    inactive: list[tuple[int, int]] = field(default_factory=list)  # [first, last] lines
    includes: list[IncludeRef] = field(default_factory=list)
    pai_changes: list[tuple[int, bool]] = field(default_factory=list)  # (line, active) points
    sections: list[tuple[int, str]] = field(default_factory=list)  # (byte offset, SEC name)
    attrs: list[tuple[int, str]] = field(default_factory=list)  # masked attribute macros
    #: top-level uses of macros that write functions, masked (:class:`bpfls.source.mask.MacroUse`)
    generated: list = field(default_factory=list)

    def pai_at(self, line: int) -> bool:
        """Is ``#pragma clang attribute push(preserve_access_index)`` in force at ``line``?"""
        state = False
        for ln, st in self.pai_changes:
            if ln > line:
                break
            state = st
        return state

    def position(self, offset: int) -> tuple[int, int]:
        starts = self.line_starts
        i = bisect_right(starts, offset) - 1
        return i, offset - starts[i]



@dataclass(eq=False)
class PPResult:
    units: list[FileUnit]
    macros: dict[str, MacroDef]
    intrinsics: set[str]
    diagnostics: list[SourceDiagnostic]
    vmlinux: str | None = None  # name as included, or the path when found
    vmlinux_path: str | None = None
    #: what the vmlinux header not read is: the configured kernel whose dump it is (name, BTF),
    #: or neither (a dump of another kernel, to parse; or not found)
    vmlinux_kernel: str | None = None
    vmlinux_btf: Btf | None = None
    base_pai: bool = False
    libbpf_headers: list[str] = field(default_factory=list)
    signature: bytes = b""  # digest of every #define/#undef in order (the macro table)
    #: macros an #undef removed: per name, each definition and the line of its #undef
    retired: dict[str, list[tuple[MacroDef, int]]] = field(default_factory=dict)


def line_starts_of(data: bytes | bytearray) -> list[int]:
    starts = [0]
    find = data.find
    i = find(b"\n")
    while i >= 0:
        starts.append(i + 1)
        i = find(b"\n", i + 1)
    return starts


_BLANK = bytes(10 if c == 10 else 32 for c in range(256))

#: text → (where its lines start, its directives: :meth:`Lines.directives`); headers are read
#: again by every analysis
_LAYOUTS: dict[bytes, tuple[list[int], list[tuple[int, int, int]]]] = {}


def _layout(data: bytes) -> tuple[list[int], list[tuple[int, int, int]]]:
    hit = _LAYOUTS.get(data)
    if hit is None:
        if len(_LAYOUTS) > 512:
            _LAYOUTS.clear()
        hit = _LAYOUTS[data] = (line_starts_of(data), list(Lines(data).directives()))
    return hit


def _blank(code: bytearray, start: int, end: int) -> None:
    """Spaces over ``code[start:end]``, newlines kept."""
    code[start:end] = code[start:end].translate(_BLANK)


_TOKEN_CACHE: dict[tuple[bytes, int], list[Tok]] = {}


def _directive_tokens(line: bytes, start: int) -> list[Tok]:
    """Tokens of a directive line (memoised: headers are read again on every analysis)."""
    key = (line, start)
    toks = _TOKEN_CACHE.get(key)
    if toks is None:
        if len(_TOKEN_CACHE) > 100_000:
            _TOKEN_CACHE.clear()
        toks = _TOKEN_CACHE[key] = tokenize(line, start)
    return toks


_PREDEFINED: dict[tuple[bool, str | None, tuple], dict[str, MacroDef]] = {}

#: (id of a directive's memoised token list, file, line, where the line starts, built-in) →
#: (that list, its macro). Headers are read again on every analysis; their definitions are
#: made once (a MacroDef is never changed once made).
_DEFINES: dict[tuple[int, str, int, int, bool], tuple[list[Tok], MacroDef | None]] = {}


def _define(rest: list[Tok], unit: FileUnit, line: int,
            toks: list[Tok] | None) -> MacroDef | None:
    key = (id(toks), unit.path, line, unit.line_starts[line], unit.virtual) \
        if toks is not None else None
    if key is not None:
        hit = _DEFINES.get(key)
        if hit is not None and hit[0] is toks:
            return hit[1]
    m = parse_define(rest, unit.path, line, builtin=unit.virtual)
    if m is not None:
        m.column = rest[0].start - unit.line_starts[line] if rest else 0
    if key is not None:
        if len(_DEFINES) > 100_000:
            _DEFINES.clear()
        _DEFINES[key] = (toks, m)  # keeps the list alive, so its id is not reused
    return m


class Preprocessor:
    def __init__(self, *, include_dirs: list[str] | tuple[str, ...] = (),
                 defines: dict[str, str | None] | None = None, undefines: tuple[str, ...] = (),
                 overlays: dict[str, str] | None = None, arch: str | None = None,
                 big_endian: bool = False,
                 kernels: Sequence[tuple[str | None, Btf]] = ()) -> None:
        """``kernels``: the configured kernels (name, BTF), the likeliest first, whose dumps
        an included ``vmlinux*.h`` may be."""
        self.kernels = tuple(kernels)
        self.include_dirs = [os.path.abspath(d) for d in include_dirs]
        self.overlays = {os.path.abspath(k): v for k, v in (overlays or {}).items()}
        self.macros: dict[str, MacroDef] = {}
        self.retired: dict[str, list[tuple[MacroDef, int]]] = {}
        self.intrinsics: set[str] = set()
        self.diagnostics: list[SourceDiagnostic] = []
        self.units: list[FileUnit] = []
        self._seen: dict[str, FileUnit] = {}
        self._once: set[str] = set()
        self._pai_stack: list[bool] = []
        self.vmlinux: str | None = None
        self.vmlinux_path: str | None = None
        self.vmlinux_kernel: str | None = None
        self.vmlinux_btf: Btf | None = None
        self.base_pai = False
        self.libbpf_headers: list[str] = []
        arch_def = target_arch_define(arch)
        user = dict(defines or {})
        if arch_def and not any(k.startswith("__TARGET_ARCH_") for k in user):
            user[arch_def] = "1"
        key = (big_endian, tuple(sorted((k, str(v)) for k, v in user.items())),
               tuple(sorted(undefines)))
        self.signature = hashlib.blake2b(repr(key).encode(), digest_size=16)
        pre = _PREDEFINED.get(key)
        if pre is None:
            for line in predefined_lines(big_endian):
                self._define_text(line, "<built-in>")
            for name, value in user.items():
                self._define_text(f"{name} {1 if value is None else value}", "<command line>")
            for name in undefines:
                self.macros.pop(name, None)
            if len(_PREDEFINED) > 64:
                _PREDEFINED.clear()
            pre = _PREDEFINED[key] = dict(self.macros)
        else:
            self.macros = dict(pre)

    # -- entry -----------------------------------------------------------------------------
    def run(self, path: str, data: bytes) -> PPResult:
        self._process(os.path.abspath(path), data, 0, virtual=False)
        return PPResult(self.units, self.macros, self.intrinsics, self.diagnostics,
                        self.vmlinux, self.vmlinux_path, self.vmlinux_kernel, self.vmlinux_btf,
                        self.base_pai, self.libbpf_headers, self.signature.digest(),
                        self.retired)

    def _define_text(self, text: str, path: str) -> None:
        m = parse_define(tokenize(text.encode()), path, 0, builtin=True)
        if m is not None:
            self.macros[m.name] = m

    # -- files -----------------------------------------------------------------------------
    def read(self, path: str) -> bytes | None:
        text = self.overlays.get(path)
        if text is not None:
            return text.encode()
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            return None

    def _diag(self, unit: FileUnit, code: str, msg: str, rng: Range, **data) -> None:
        if unit.virtual:
            return
        self.diagnostics.append(SourceDiagnostic(code, msg, unit.path, rng, dict(data)))

    def _process(self, path: str, data: bytes, depth: int, *, virtual: bool) -> None:
        first = path not in self._seen
        code = bytearray(data)
        unit = FileUnit(path, data, code, _layout(data)[0], virtual=virtual)
        if first:
            self._seen[path] = unit
            self.units.append(unit)
        unit.pai_changes.append((0, any(self._pai_stack)))
        self._scan(unit, depth)

    def _scan(self, unit: FileUnit, depth: int) -> None:
        data = unit.data
        code = unit.code
        starts = unit.line_starts
        nlines = len(starts)
        # conditional stack: [parent_active, taken, active, else_seen, line]
        stack: list[list] = []
        active = True
        inactive_start: int | None = None
        next_line = 0  # first line not handled yet
        for s, hash_at, le in _layout(data)[1]:
            i = bisect_right(starts, s) - 1
            if i < next_line:
                continue  # a continuation line of the previous directive
            if not active and next_line < i:
                _blank(code, starts[next_line], starts[i])
            j = bisect_right(starts, le - 1) - 1  # the logical line's last physical line
            next_line = j + 1
            line = data[s:le]
            _blank(code, s, le)
            toks = _directive_tokens(data[hash_at:le], hash_at)
            # toks[0] is '#'
            name = toks[1].text if len(toks) > 1 and toks[1].kind == IDENT else ""
            rest = toks[2:]
            h = bisect_right(starts, hash_at) - 1
            rng = Range.of(h, hash_at - starts[h], j, len(line.rstrip(b"\r\n")) - (
                starts[j] - s))
            if name in ("if", "ifdef", "ifndef"):
                if active:
                    if name == "if":
                        val = self._eval_if(unit, rest, rng)
                    else:
                        val = bool(rest) and self._defined(rest[0].text)
                        if name == "ifndef":
                            val = not val
                    stack.append([True, val, val, False, i])
                    active = val
                else:
                    stack.append([False, True, False, False, i])
            elif name in ("elif", "elifdef", "elifndef"):
                if not stack:
                    self._diag(unit, "unbalanced-conditional", f"#{name} without #if", rng)
                else:
                    top = stack[-1]
                    if top[0] and not top[1]:
                        if name == "elif":
                            val = self._eval_if(unit, rest, rng)
                        else:
                            val = bool(rest) and self._defined(rest[0].text)
                            if name == "elifndef":
                                val = not val
                        top[2] = val
                        top[1] = val
                    else:
                        top[2] = False
                    active = top[2]
            elif name == "else":
                if not stack:
                    self._diag(unit, "unbalanced-conditional", "#else without #if", rng)
                else:
                    top = stack[-1]
                    top[2] = top[0] and not top[1]
                    top[1] = True
                    active = top[2]
            elif name == "endif":
                if not stack:
                    self._diag(unit, "unbalanced-conditional", "#endif without #if", rng)
                else:
                    stack.pop()
                    active = stack[-1][2] if stack else True
            elif active:
                self._directive(unit, name, rest, rng, i, depth, toks)
            if active and inactive_start is not None:
                unit.inactive.append((inactive_start, j))
                inactive_start = None
            elif not active and inactive_start is None:
                inactive_start = i
        if not active and next_line < nlines:
            _blank(code, starts[next_line], len(data))
        if inactive_start is not None:
            unit.inactive.append((inactive_start, nlines - 1))
        if stack:
            ln = stack[-1][4]
            self._diag(unit, "unbalanced-conditional", "unterminated conditional directive",
                       Range.of(ln, 0, ln, 0))

    # -- directives ------------------------------------------------------------------------
    def _directive(self, unit: FileUnit, name: str, rest: list[Tok], rng: Range, line: int,
                   depth: int, toks: list[Tok] | None = None) -> None:
        if name in ("define", "undef"):
            self.signature.update(name.encode() + b" " + " ".join(t.text for t in rest).encode()
                                  + b"\n")
        if name == "define":
            m = _define(rest, unit, line, toks)
            if m is not None:
                self.macros[m.name] = m
        elif name == "undef":
            if rest:
                m = self.macros.pop(rest[0].text, None)
                if m is not None and m.path == unit.path:
                    self.retired.setdefault(m.name, []).append((m, line))
        elif name in ("include", "include_next", "import"):
            self._include(unit, rest, rng, line, depth, after=name == "include_next")
        elif name == "pragma":
            self._pragma(unit, rest, line)
        elif name == "error":
            text = " ".join(t.text for t in rest)
            self._diag(unit, "preprocessor-error", f"#error {text}", rng)
        elif name == "warning":
            text = " ".join(t.text for t in rest)
            self._diag(unit, "preprocessor-warning", f"#warning {text}", rng)

    def _pragma(self, unit: FileUnit, rest: list[Tok], line: int) -> None:
        words = [t.text for t in rest[:3]]
        if words[:1] == ["once"]:
            self._once.add(unit.path)
            return
        if words[:2] == ["clang", "attribute"] and len(rest) > 2:
            op = rest[2].text
            if op.endswith("push") or op == "push":
                text = "".join(t.text for t in rest[3:])
                self._pai_stack.append("preserve_access_index" in text)
            elif op.endswith("pop") or op == "pop":
                if self._pai_stack:
                    self._pai_stack.pop()
            unit.pai_changes.append((line + 1, any(self._pai_stack)))

    def _include(self, unit: FileUnit, rest: list[Tok], rng: Range, line: int,
                 depth: int, *, after: bool = False) -> None:
        """``after`` (``#include_next``): search the include directories after the one
        holding the including file (a wrapper header including the one it stands for)."""
        if rest and rest[0].kind not in (STRING,) and rest[0].text != "<":
            rest = Expander(self.macros).expand(rest)
        if not rest:
            return
        if rest[0].kind == STRING:
            name = rest[0].text.strip('"')
            angled = False
        elif rest[0].text == "<":
            # the raw text between < and >
            close = next((t for t in rest if t.text == ">"), None)
            if close is None:
                return
            name = unit.data[rest[0].end:close.start].decode("utf-8", "replace").strip() \
                if rest[0].start < close.start <= len(unit.data) else \
                "".join(t.text for t in rest[1:rest.index(close)])
            angled = True
        else:
            return
        ref = IncludeRef(name, angled, line, rng, "missing")
        unit.includes.append(ref)
        base = os.path.basename(name)
        found = self._find(name, angled, os.path.dirname(unit.path),
                           after=unit.path if after else None)
        if base in headers.HEADERS and found is None:
            ref.kind = "libbpf"
            ref.resolved = f"<bpf/{base}>"
            self._include_builtin(base, depth)
            return
        if VMLINUX_RE.match(base):
            what = vmlinux_header.classify(found, self.overlays.get(found), self.kernels) \
                if found is not None else None
            if what is None or what.kind != vmlinux_header.HEADER:
                ref.kind = "vmlinux"
                ref.resolved = found
                if self.vmlinux is None:
                    self.vmlinux = found or name
                    self.vmlinux_path = found
                    if what is not None:
                        self.vmlinux_kernel, self.vmlinux_btf = what.kernel, what.btf
                    self.base_pai = (what is None or what.pai) \
                        and "BPF_NO_PRESERVE_ACCESS_INDEX" not in self.macros
                self._define_text("__VMLINUX_H__ 1", "<vmlinux.h>")
                if what is not None and what.tail is not None and found is not None:
                    # what the dump declares after its types: the ksym macros, the kfuncs
                    lines, text = what.tail
                    self._process(found, b"\n" * lines + text, depth + 1, virtual=False)
                return
        if found is None:
            if angled:
                ref.kind = "system"
            else:
                self._diag(unit, "include-not-found", f"'{name}' file not found", rng,
                           name=name)
            return
        ref.kind = "file"
        ref.resolved = found
        if found in self._once:
            return
        if depth >= MAX_INCLUDE_DEPTH:
            ref.kind = "cycle"
            self._diag(unit, "include-depth", f"#include nested too deeply ({name})", rng)
            return
        data = self.read(found)
        if data is None:
            self._diag(unit, "include-not-found", f"cannot read '{found}'", rng,
                       name=name)
            return
        self._process(found, data, depth + 1, virtual=False)
        unit.pai_changes.append((line + 1, any(self._pai_stack)))

    def _include_builtin(self, base: str, depth: int) -> None:
        hdr = headers.HEADERS[base]
        key = f"<bpf/{base}>"
        self.intrinsics.update(hdr.intrinsics)
        if key in self._once:
            return
        self._once.add(key)
        if base not in self.libbpf_headers:
            self.libbpf_headers.append(base)
        self._process(key, hdr.text.encode(), depth + 1, virtual=True)

    def _find(self, name: str, angled: bool, cur_dir: str,
              after: str | None = None) -> str | None:
        if os.path.isabs(name):
            return name if os.path.isfile(name) or name in self.overlays else None
        dirs = ([] if angled else [cur_dir]) + self.include_dirs
        if after is not None:  # #include_next in ``after``: the directories after its own
            here = [i for i, d in enumerate(self.include_dirs)
                    if os.path.normpath(os.path.join(d, name)) == after]
            dirs = self.include_dirs[here[0] + 1:] if here else self.include_dirs
        for d in dirs:
            p = os.path.normpath(os.path.join(d, name))
            if p in self.overlays or os.path.isfile(p):
                return p
        return None

    # -- #if ---------------------------------------------------------------------------------
    def _defined(self, name: str) -> bool:
        return name in self.macros or name in self.intrinsics

    def _eval_if(self, unit: FileUnit, toks: list[Tok], rng: Range) -> bool:
        try:
            toks = self._special_forms(toks, unit)
            toks = Expander(self.macros).expand(toks)
            toks = self._special_forms(toks, unit)
            return bool(ConstEval(toks, pp=True).run())
        except EvalError as e:
            self._diag(unit, "preprocessor", f"invalid #if expression: {e}", rng)
            return False
        except (RecursionError, IndexError, ValueError) as e:  # pragma: no cover - defensive
            self._diag(unit, "preprocessor", f"invalid #if expression: {e}", rng)
            return False

    def _special_forms(self, toks: list[Tok], unit: FileUnit) -> list[Tok]:
        """Replace ``defined X``, ``defined(X)`` and ``__has_*(...)`` by 0 or 1."""
        out: list[Tok] = []
        i = 0
        n = len(toks)
        while i < n:
            t = toks[i]
            if t.kind == IDENT and t.text == "defined":
                if i + 1 < n and toks[i + 1].text == "(":
                    name = toks[i + 2].text if i + 2 < n else ""
                    i += 4
                else:
                    name = toks[i + 1].text if i + 1 < n else ""
                    i += 2
                out.append(_num(int(self._defined(name)), t))
                continue
            if t.kind == IDENT and t.text in _HAS_FORMS and i + 1 < n and toks[i + 1].text == "(":
                j = matching_paren(toks, i + 1)
                if j < 0:
                    j = n
                inner = toks[i + 2:j]
                out.append(_num(self._has(t.text, inner, unit), t))
                i = j + 1
                continue
            out.append(t)
            i += 1
        return out

    def _has(self, form: str, inner: list[Tok], unit: FileUnit) -> int:
        text = "".join(t.text for t in inner).strip()
        if form in ("__has_include", "__has_include_next"):
            angled = text.startswith("<")
            name = text.strip('<>"')
            base = os.path.basename(name)
            if base in headers.HEADERS or VMLINUX_RE.match(base):
                return 1
            if self._find(name, angled, os.path.dirname(unit.path)):
                return 1
            return int(any(os.path.isfile(os.path.join(d, name)) for d in _SYSTEM_DIRS))
        if form == "__has_builtin":
            return int(text.startswith("__builtin_") or text.startswith("__sync_")
                       or text.startswith("__atomic_"))
        if form in ("__has_attribute", "__has_c_attribute", "__has_declspec_attribute"):
            return int(text.strip("_") not in headers.UNSUPPORTED_ATTRIBUTES)
        if form == "__is_identifier":
            return int(text not in headers.C_KEYWORDS)
        return 0  # __has_feature, __has_extension, __has_warning


_HAS_FORMS = frozenset({"__has_include", "__has_include_next", "__has_builtin", "__has_attribute",
                        "__has_c_attribute", "__has_declspec_attribute", "__has_feature",
                        "__has_extension", "__is_identifier", "__has_warning"})


def _num(v: int, at: Tok) -> Tok:
    return Tok(NUMBER, str(v), at.start, at.end, at.space, at.origin)


__all__ = ["FileUnit", "IncludeRef", "PPResult", "Preprocessor", "line_starts_of"]
