"""Quick fixes: mechanical edits for the CO-RE diagnostics that have one (and, through
:mod:`.load_fixes`, for the load rules').

:func:`code_actions` answers with the fixes for the diagnostics overlapping a range:

- ``field-missing``: *guard* the access with ``bpf_core_field_exists()`` (the statement is
  wrapped in an ``if``; an access inside a larger statement, such as a declaration's initializer,
  becomes ``bpf_core_field_exists(...) ? <expr> : 0``); *use the renamed member* the diagnostic
  suggests, when the local type has it; *fall back to the renamed member* (the rename-guard
  idiom), reading it through the plain kernel type or a ``___old`` flavor struct declared after
  the includes, when the configured kernels that lack the member have the suggested one.
- ``field-incompatible``: the guard (libbpf's existence check is false where the types differ).
- ``type-missing``: guard the statement with ``bpf_core_type_exists(T)`` (``T`` the root as
  written), or make the value ``bpf_core_type_exists(T) ? <expr> : 0``.
- ``helper-missing``: guard the statement calling the helper with
  ``bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_x)``.
- ``unknown-member`` on a kernel type that some configured kernels have the member in (the
  program's ``vmlinux.h`` comes from a kernel without it): read it through a ``___old`` flavor
  struct, behind ``bpf_core_field_exists()`` of the member that replaced it when there is one;
  or use the closest member the local type has.
- ``attach-target-missing`` on an ``fentry``/``fexit`` program: attach with a kprobe
  (kretprobe) instead, offered only when the body reads its arguments as values (a kprobe's
  arguments are numbers to the verifier: a direct dereference would fail verification), and
  for ``fexit`` only when no argument but ``ret`` is used.

A rename is offered only when the renamed access relocates on every kernel that lacks the
member, and is *preferred* only when it relocates on every configured kernel (otherwise the rename
moves the failure to other kernels); the guard is preferred otherwise. Without ``kernels`` there
are no fallbacks or flavor shims, and a rename is offered but never preferred.

The existence checks name the relocation's own root type and access path (the two-argument
``bpf_core_field_exists(struct T, a.b[2])`` form), so the check is true exactly where the access
relocates, whatever expression or ``BPF_CORE_READ`` hop the access was written with; inside
parentheses, the one-argument ``bpf_core_field_exists(((struct T *)0)->a.b[2])`` form.

Positions are 0-based lines and UTF-8 byte columns (see :mod:`bpfls.analysis.diagnostics`). The
syntax comes from the current ``text``; the model (possibly of an older version of the text)
gives types and relocations, and an access whose member token is no longer where the model saw
it gets no fix. Never raises.
"""

from __future__ import annotations

import difflib
import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bpfls.analysis.diagnostics import Diagnostic
from bpfls.analysis.load_fixes import LOAD_FIXABLE, load_fixes
from bpfls.btf import Btf, Kind
from bpfls.btf.cnames import type_name
from bpfls.core.names import essential_name
from bpfls.core.relo import Relocation
from bpfls.core.resolve import RESOLVED, CoreResolver
from bpfls.core.spec import parse_spec, spec_path
from bpfls.source.catalogue import MACROS, Family, Value
from bpfls.source.cparse import TreeCache
from bpfls.source.positions import Position, Range

if TYPE_CHECKING:
    from tree_sitter import Node

    from bpfls.project.kernels import KernelSet
    from bpfls.source.model import CoreAccess, SourceModel

QUICKFIX = "quickfix"


@dataclass(frozen=True)
class TextEdit:
    path: str
    range: Range
    new_text: str


@dataclass(frozen=True)
class CodeAction:
    title: str
    kind: str  # "quickfix"
    edits: tuple[TextEdit, ...]
    diagnostics: tuple[Diagnostic, ...]  # the ones it fixes
    preferred: bool = False


def code_actions(model: SourceModel, diagnostics: list[Diagnostic], path: str, text: str,
                 range: Range, *, kernels: KernelSet | None = None) -> list[CodeAction]:
    """The quick fixes for the diagnostics of ``path`` that overlap ``range``.

    ``kernels`` (the configured kernels) lets the fixes that depend on them be offered: the
    rename guard and the flavor shims, and marking a rename preferred when the renamed member
    relocates on every kernel."""
    try:
        return _code_actions(model, diagnostics, path, text, range, kernels)
    except Exception:  # noqa: BLE001 - a code action request never fails
        return []


def _code_actions(model: SourceModel, diagnostics: list[Diagnostic], path: str, text: str,
                  range: Range, kernels: KernelSet | None) -> list[CodeAction]:
    wanted = [d for d in diagnostics if d.path == path and _same_lines(d.range, range)
              and (d.code in _FIXABLE or d.code in LOAD_FIXABLE)]
    if not wanted:
        return []
    fixer = _Fixer(model, diagnostics, path, text, kernels)
    out: list[CodeAction] = []
    seen: set[tuple] = set()
    for d in wanted:
        try:
            found = ([CodeAction(f.title, QUICKFIX, (TextEdit(d.path, f.range, f.new_text),),
                                 (d,), f.preferred) for f in load_fixes(d, text)]
                     if d.code in LOAD_FIXABLE else fixer.fixes(d))
        except Exception:  # noqa: BLE001
            continue
        for a in found:
            key = (a.title, a.edits)
            if key not in seen:
                seen.add(key)
                out.append(a)
    return out


def _same_lines(a: Range, b: Range) -> bool:
    """The diagnostic is on a line of the range: a cursor anywhere on the line of a
    diagnostic gets its fixes (as editors show the light bulb for the whole line)."""
    return a.start.line <= b.end.line and b.start.line <= a.end.line


# -- the document ------------------------------------------------------------------------------

_TREES = TreeCache(16)

#: statements an access can sit in
_STATEMENTS = frozenset({
    "expression_statement", "declaration", "return_statement", "if_statement",
    "while_statement", "for_statement", "do_statement", "switch_statement", "case_statement",
    "labeled_statement", "compound_statement", "goto_statement", "attributed_statement"})
#: where a statement can be wrapped in an ``if`` without changing what else belongs to what
_BLOCKS = frozenset({"compound_statement", "case_statement", "labeled_statement"})
#: expressions that need no parentheses to be an operand
_PRIMARY = frozenset({"identifier", "field_expression", "call_expression",
                      "parenthesized_expression", "subscript_expression", "number_literal"})


class _Doc:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.data = text.encode("utf-8", "surrogatepass")
        self.starts = [0] + [m.end() for m in re.finditer(b"\n", self.data)]
        self.eol = "\r\n" if b"\r\n" in self.data else "\n"
        self.tree = _TREES.parse(path, self.data)

    def offset(self, line: int, column: int) -> int | None:
        if not 0 <= line < len(self.starts) or column < 0:
            return None
        off = self.starts[line] + column
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.data)
        return off if off <= end else None

    def position(self, off: int) -> Position:
        line = bisect_right(self.starts, off) - 1
        return Position(line, off - self.starts[line])

    def span(self, start: int, end: int) -> Range:
        return Range(self.position(start), self.position(end))

    def node_range(self, n: Node) -> Range:
        return self.span(n.start_byte, n.end_byte)

    def text(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "replace")

    def node_text(self, n: Node) -> str:
        return self.text(n.start_byte, n.end_byte)

    def line_prefix(self, off: int) -> str:
        """The text of ``off``'s line before it."""
        line = bisect_right(self.starts, off) - 1
        return self.text(self.starts[line], off)

    def line_indent(self, line: int) -> str:
        start = self.starts[line]
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.data)
        raw = self.text(start, end)
        return raw[:len(raw) - len(raw.lstrip(" \t"))]

    def node_at(self, start: int, end: int) -> Node | None:
        """The largest node spanning exactly ``[start, end)``."""
        n = self.tree.root_node.descendant_for_byte_range(start, end)
        if n is None or (n.start_byte, n.end_byte) != (start, end):
            return None
        while n.parent is not None and (n.parent.start_byte, n.parent.end_byte) == \
                (start, end) and n.parent.type not in _STATEMENTS:
            n = n.parent
        return n


def _same(a: Node | None, b: Node | None) -> bool:
    return a is not None and b is not None and (a.start_byte, a.end_byte, a.type) == \
        (b.start_byte, b.end_byte, b.type)


def _contains(outer: Node, inner: Node) -> bool:
    return outer.start_byte <= inner.start_byte and inner.end_byte <= outer.end_byte


def _statement(n: Node) -> Node | None:
    while n is not None and n.type not in _STATEMENTS:
        n = n.parent
    return n


def _parens(text: str, node: Node | None) -> str:
    return text if node is not None and node.type in _PRIMARY else f"({text})"


# -- types ---------------------------------------------------------------------------------------

def _members(btf: Btf, t, name: str, depth: int = 0) -> list[int] | None:
    """Index path of member ``name`` in composite ``t`` through anonymous members."""
    if depth > 8 or t.kind not in (Kind.STRUCT, Kind.UNION):
        return None
    for i, m in enumerate(t.members):
        if m.name == name:
            return [i]
    for i, m in enumerate(t.members):
        if not m.name:
            sub = _members(btf, btf.resolve(m.type_id), name, depth + 1)
            if sub is not None:
                return [i, *sub]
    return None


def _member_at(btf: Btf, t, path: list[int]):
    m = None
    for i in path:
        m = t.members[i]
        t = btf.resolve(m.type_id)
    return m


def _member_names(btf: Btf, t, out: list[str], depth: int = 0) -> list[str]:
    if depth > 8 or t.kind not in (Kind.STRUCT, Kind.UNION):
        return out
    for m in t.members:
        if m.name:
            out.append(m.name)
        else:
            _member_names(btf, btf.resolve(m.type_id), out, depth + 1)
    return out


def _cls(btf: Btf, type_id: int) -> tuple[str, str]:
    """What a value of the type is for a ternary: ``("int", "")``, ``("ptr", pointee)``,
    ``("array", "")`` or ``("agg", name)``."""
    t = btf.resolve(type_id)
    if t.kind in (Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.FLOAT):
        return ("int", "")
    if t.kind == Kind.PTR:
        q = btf.resolve(t.type_id)
        if q.id == 0:
            return ("ptr", "void")
        return ("ptr", f"{q.kind_name} {essential_name(q.name)}" if q.name else q.kind_name)
    if t.kind == Kind.ARRAY:
        return ("array", "")
    return ("agg", f"{t.kind_name} {t.name}")


def _compatible(a: tuple[str, str], b: tuple[str, str], last: bool) -> bool:
    """Two values can be the two branches of ``?:`` (and, unless ``last``, be read on through
    the same further hops)."""
    if a[0] != b[0] or a[0] not in ("int", "ptr"):
        return False
    if a[0] == "ptr" and a[1] != b[1]:
        return last and "void" in (a[1], b[1])
    return True


def _spelled(t) -> str | None:
    """How the source names a (modifier-stripped) root type."""
    if not t.name:
        return None
    if t.kind == Kind.STRUCT:
        return f"struct {t.name}"
    if t.kind == Kind.UNION:
        return f"union {t.name}"
    if t.kind == Kind.TYPEDEF:
        return t.name
    return None


@dataclass(frozen=True)
class _Ref:
    """A field named by its root type and path: what ``bpf_core_field_exists`` checks."""

    root: str  # "struct task_struct", a typedef name
    path: str  # "__state", "se.avg", "args[2]"

    def exists(self, nested: bool = False) -> str:
        """The check; ``nested`` (inside parentheses) in the one-argument form, which no C
        parser can mistake for the start of a cast the way ``(f(struct T, m) ...`` can be."""
        if nested:
            return f"bpf_core_field_exists((({self.root} *)0)->{self.path})"
        return f"bpf_core_field_exists({self.root}, {self.path})"


def _field_ref(relo: Relocation) -> _Ref | None:
    """The relocation's own root and path, so the check is true exactly where it relocates."""
    root = _spelled(relo.local.skip_modifiers(relo.type_id))
    steps = spec_path(relo)
    if root is None or not steps or steps[0].name is None:
        return None
    path = ""
    for s in steps:
        path += (f".{s.name}" if path else s.name) if s.name is not None else f"[{s.index}]"
    return _Ref(root, path)


def _all_exist(refs, nested: bool = False) -> str:
    out: list[str] = []
    for r in refs:
        c = r.exists(nested)
        if c not in out:
            out.append(c)
    return " && ".join(out)


def _field_type(relo: Relocation) -> int:
    """Local type id of the field a relocation accesses."""
    last = parse_spec(relo).acc[-1]
    if last.name is not None:
        return relo.local[last.type_id].members[last.idx].type_id
    return last.type_id


def _container(relo: Relocation):
    """The composite the last member is written on (``x`` in ``x->m``; anonymous members
    between them are part of the member's path), or None when the last step is no member."""
    local = relo.local
    acc = parse_spec(relo).acc
    if len(acc) < 2 or acc[-1].name is None:
        return None
    prev = acc[-2]
    if len(acc) == 2 or prev.name is None:
        return local.resolve(prev.type_id)
    return local.resolve(local[prev.type_id].members[prev.idx].type_id)


def _kernel_types(btf: Btf, essential: str, kind: Kind) -> list:
    return [t for t in btf.find_all(essential) if t.kind == kind]


def _kernel_member(btf: Btf, essential: str, kind: Kind, name: str):
    """(member, its C declaration's BTF) of ``name`` in the kernel's type, or None."""
    for t in _kernel_types(btf, essential, kind):
        p = _members(btf, t, name)
        if p is not None:
            return _member_at(btf, t, p)
    return None


# -- the fixer -------------------------------------------------------------------------------------

#: an access that does not relocate on some kernels: an existence check guards it
_MISSING = frozenset({"field-missing", "field-incompatible"})
#: the macros whose hop sites the fixes rewrite: relocated hop reads that give the value read
_CORE_READ = frozenset(m.name for m in MACROS.values()
                       if m.family is Family.CORE_HOPS and m.value is Value.FIELD)
_FIXABLE = _MISSING | {"unknown-member", "helper-missing", "attach-target-missing",
                       "type-missing"}
#: macros whose value is the last hop's field ("direct": a plain access)
_HOP_VALUE = frozenset({"direct"}) | frozenset(m.name for m in MACROS.values()
                                               if m.hops and m.value is Value.FIELD)
#: macros and functions whose value is an integer whatever they read
_INT_VALUE = frozenset(m.name for m in MACROS.values() if m.value is Value.INT)

@dataclass
class _Missing:
    """A field-missing (or -incompatible) diagnostic, its access and where that is written
    now."""

    diag: Diagnostic
    access: CoreAccess
    value: Node | None  # the expression whose value the access is (``&`` included)
    addr: bool  # its address is taken
    stmt: Node | None
    check: _Ref | None  # what bpf_core_field_exists() checks: true where it relocates


@dataclass
class _Site:
    """Where a member is written: ``base->member`` / ``base.member`` (``call`` is None) or a
    hop of ``BPF_CORE_READ(src, a, member, ...)``."""

    value: Node  # the field expression or the macro call
    member: Node
    base: Node | None = None
    op: str = "->"
    call: str | None = None
    args: tuple[Node, ...] = ()
    hop: int = 0


class _Fixer:
    def __init__(self, model: SourceModel, diagnostics: list[Diagnostic], path: str, text: str,
                 kernels: KernelSet | None) -> None:
        self.model = model
        self.diagnostics = diagnostics
        self.path = path
        self.doc = _Doc(path, text)
        self.kernels = kernels
        self.loaded = [k for k in kernels.loaded] if kernels is not None else []
        self._missing: list[_Missing] | None = None

    # -- dispatch ------------------------------------------------------------------------------
    def fixes(self, d: Diagnostic) -> list[CodeAction]:
        if d.code in _MISSING:
            m = self._missing_for(d)
            if m is None:
                return []
            rename = _attempt(self._rename, m) if d.code == "field-missing" else None
            guard = _attempt(self._guard, m, rename is None or not rename.preferred)
            shim = _attempt(self._fallback, m) if d.code == "field-missing" else None
            return [a for a in (rename, guard, shim) if a is not None]
        if d.code == "unknown-member":
            found = (_attempt(self._flavor_shim, d), _attempt(self._closest_member, d))
            return [a for a in found if a is not None]
        if d.code == "helper-missing":
            a = _attempt(self._guard_helper, d)
            return [a] if a is not None else []
        if d.code == "type-missing":
            a = _attempt(self._guard_type, d)
            return [a] if a is not None else []
        if d.code == "attach-target-missing":
            a = _attempt(to_kprobe, self, d)
            return [a] if a is not None else []
        return []

    # -- type-missing, helper-missing: a guard around the statement --------------------------
    def _guarded_statement(self, d: Diagnostic, cond: str) -> CodeAction | None:
        """The statement holding the diagnostic wrapped in ``if (cond)``, where it can be (an
        expression statement in a block, in a file that includes ``bpf_core_read.h``, which
        defines the checks); libbpf makes the check false where the name is missing and the
        verifier drops the branch there."""
        doc = self.doc
        s = doc.offset(d.range.start.line, d.range.start.column)
        e = doc.offset(d.range.end.line, d.range.end.column)
        if s is None or e is None or b"bpf_core_read.h" not in doc.data:
            return None
        stmt = _statement(doc.tree.root_node.descendant_for_byte_range(s, e))
        if stmt is None or stmt.type != "expression_statement" or stmt.parent is None or \
                stmt.parent.type not in _BLOCKS:
            return None
        return CodeAction(f"Guard with {cond}", QUICKFIX, (self._wrap(stmt, cond),), (d,), True)

    def _guard_type(self, d: Diagnostic) -> CodeAction | None:
        """``if (bpf_core_type_exists(T))`` around the statement using a type some kernels
        lack (``T`` the relocation's root as written), or ``bpf_core_type_exists(T) ? <expr> :
        0`` for a value."""
        root = d.data.get("root")
        if not root:
            return None
        cond = f"bpf_core_type_exists({root})"
        wrapped = self._guarded_statement(d, cond)
        if wrapped is not None or b"bpf_core_read.h" not in self.doc.data:
            return wrapped
        a = self._access_for(d)
        if a is None:
            return None
        doc = self.doc
        es = doc.offset(*a.expr_range.start)
        ee = doc.offset(*a.expr_range.end)
        value = doc.node_at(es, ee) if es is not None and ee is not None else None
        if value is None or not self._rvalue(value) or \
                self._value_class(value) not in ("int", "ptr"):
            return None
        return CodeAction(f"Guard with {cond} (0 where it is missing)", QUICKFIX,
                          (self._ternary(value, lambda nested: cond, doc.node_text(value),
                                         "0"),), (d,), True)

    def _guard_helper(self, d: Diagnostic) -> CodeAction | None:
        """``if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_x))`` around the
        statement calling a helper some kernels lack."""
        enumerator = d.data.get("enumerator")
        if not enumerator:
            return None
        return self._guarded_statement(
            d, f"bpf_core_enum_value_exists(enum bpf_func_id, {enumerator})")

    # -- field-missing: what the model and the text say ---------------------------------------
    def missing(self) -> list[_Missing]:
        if self._missing is None:
            found = []
            for d in self.diagnostics:
                if d.code in _MISSING and d.path == self.path:
                    m = self._locate(d)
                    if m is not None:
                        found.append(m)
            self._missing = found
        return self._missing

    def _missing_for(self, d: Diagnostic) -> _Missing | None:
        for m in self.missing():
            if m.diag is d:
                return m
        return self._locate(d)

    def _access_for(self, d: Diagnostic) -> CoreAccess | None:
        r = d.range
        want = (r.start.line, r.start.column, r.end.line, r.end.column)
        member = d.data.get("member")
        best = None
        for a in self.model.accesses:
            ar = a.range
            if a.path != d.path or a.check or not a.kind.is_field or \
                    (ar.start.line, ar.start.column, ar.end.line, ar.end.column) != want:
                continue
            if a.accessors and a.accessors[-1].name == member:
                return a
            best = best or a
        return best

    def _locate(self, d: Diagnostic) -> _Missing | None:
        a = self._access_for(d)
        if a is None:
            return None
        doc = self.doc
        s = doc.offset(*a.range.start)
        e = doc.offset(*a.range.end)
        member = d.data.get("member")
        if s is None or e is None or (member and doc.text(s, e) != member):
            return None  # the text moved on since the model was built
        value = None
        addr = False
        es = doc.offset(*a.expr_range.start)
        ee = doc.offset(*a.expr_range.end)
        if es is not None and ee is not None:
            value = doc.node_at(es, ee)
        if value is not None and value.parent is not None and \
                value.parent.type == "pointer_expression" and \
                doc.node_text(value.parent).startswith("&"):
            value = value.parent
            addr = True
        stmt = _statement(value if value is not None else
                          doc.tree.root_node.descendant_for_byte_range(s, e))
        try:
            check = _field_ref(a.relocation)
        except Exception:  # noqa: BLE001 - an access libbpf cannot parse gets no guard
            check = None
        return _Missing(d, a, value, addr, stmt, check)

    # -- guard ---------------------------------------------------------------------------------
    def _guard(self, m: _Missing, preferred: bool) -> CodeAction | None:
        if m.check is None or m.stmt is None:
            return None
        stmt = m.stmt
        if stmt.type == "expression_statement" and stmt.parent is not None and \
                stmt.parent.type in _BLOCKS:
            group = [x for x in self.missing() if _same(x.stmt, stmt) and x.check] or [m]
            edit = self._wrap(stmt, _all_exist(x.check for x in group))
            return CodeAction("Guard with bpf_core_field_exists()", QUICKFIX, (edit,),
                              _diags(group, m), preferred)
        if m.value is None:
            return None
        outer = m.value
        changed = True
        while changed:  # the outermost value expression holding this one (nested hops)
            changed = False
            for x in self.missing():
                if x.value is not None and not _same(x.value, outer) and \
                        _contains(x.value, outer):
                    outer = x.value
                    changed = True
        group = [x for x in self.missing() if x.value is not None and x.check and
                 _contains(outer, x.value)] or [m]
        if not self._rvalue(outer) or self._value_class(outer) not in ("int", "ptr", "array"):
            return None
        nested = self._nested(outer)
        expr = f"{_all_exist((x.check for x in group), nested)} ? {self.doc.node_text(outer)} : 0"
        edit = TextEdit(self.path, self.doc.node_range(outer), f"({expr})" if nested else expr)
        return CodeAction("Guard with bpf_core_field_exists() (0 where it is missing)",
                          QUICKFIX, (edit,), _diags(group, m), preferred)

    def _wrap(self, stmt: Node, cond: str) -> TextEdit:
        doc = self.doc
        start, end = stmt.start_byte, stmt.end_byte
        body = doc.node_text(stmt)
        prefix = doc.line_prefix(start)
        if prefix.strip():  # not the first thing on its line: keep it on one line
            return TextEdit(self.path, doc.span(start, end), f"if ({cond}) {{ {body} }}")
        # a comment after the statement on its line moves in with it
        line_end = doc.data.find(b"\n", end)
        line_end = len(doc.data) if line_end < 0 else line_end
        rest = doc.text(end, line_end).rstrip("\r")
        if rest.strip().startswith("//"):
            body += rest.rstrip()
            end += len(rest.encode("utf-8", "surrogatepass"))
        indent = prefix
        unit = self._indent_unit(stmt, indent)
        eol = doc.eol
        lines = body.split(eol)
        inner = [indent + unit + lines[0]] + [unit + ln if ln.strip() else ln for ln in lines[1:]]
        new = f"if ({cond}) {{{eol}" + eol.join(inner) + f"{eol}{indent}}}"
        return TextEdit(self.path, doc.span(start, end), new)

    def _indent_unit(self, stmt: Node, indent: str) -> str:
        ref = stmt.parent
        if ref is not None and ref.type != "compound_statement" and \
                ref.start_point[0] == stmt.start_point[0]:
            ref = ref.parent
        while ref is not None and ref.type not in ("compound_statement", "case_statement",
                                                   "labeled_statement"):
            ref = ref.parent
        if ref is not None and ref.start_point[0] != stmt.start_point[0]:
            outer = self.doc.line_indent(ref.start_point[0])
            if indent.startswith(outer) and len(indent) > len(outer):
                return indent[len(outer):]
        return "\t" if "\t" in indent else "    "

    def _rvalue(self, n: Node) -> bool:
        p = n.parent
        if p is None:
            return False
        t = p.type
        if t == "assignment_expression" and _same(p.child_by_field_name("left"), n):
            return False
        if t in ("update_expression", "sizeof_expression", "alignof_expression",
                 "offsetof_expression", "macro_type_specifier", "type_descriptor"):
            return False
        if t == "pointer_expression" and self.doc.node_text(p).startswith("&"):
            return False
        if t == "call_expression" and _same(p.child_by_field_name("function"), n):
            return False
        return not (t == "field_expression" and _same(p.child_by_field_name("argument"), n))

    def _value_class(self, n: Node) -> str | None:
        """"int", "ptr" or "array" for a value a ternary with 0 can take; None otherwise."""
        if n.type == "pointer_expression":
            return "ptr"
        span = self.doc.node_range(n)
        accs = [a for a in self.model.accesses
                if a.path == self.path and a.kind.is_field and not a.check and
                (a.expr_range.start.line, a.expr_range.start.column, a.expr_range.end.line,
                 a.expr_range.end.column) == (span.start.line, span.start.column,
                                              span.end.line, span.end.column)]
        if not accs:
            return None
        macros = {a.macro for a in accs}
        if macros <= _INT_VALUE:
            return "int"
        if not macros <= _HOP_VALUE:
            return None
        last = max(accs, key=lambda a: tuple(a.range.start))
        try:
            cls = _cls(last.relocation.local, _field_type(last.relocation))[0]
        except Exception:  # noqa: BLE001
            return None
        if cls == "array" and "direct" not in macros:
            return None
        return cls

    def _nested(self, replaced: Node) -> bool:
        """A ``?:`` in place of ``replaced`` needs parentheses: it is no whole initializer,
        return value or parenthesised expression."""
        p = replaced.parent
        return p is None or p.type not in ("init_declarator", "return_statement",
                                           "parenthesized_expression")

    def _ternary(self, replaced: Node, check, then: str, other: str) -> TextEdit:
        nested = self._nested(replaced)
        expr = f"{check(nested)} ? {then} : {other}"
        return TextEdit(self.path, self.doc.node_range(replaced),
                        f"({expr})" if nested else expr)

    # -- rename --------------------------------------------------------------------------------
    def _rename(self, m: _Missing) -> CodeAction | None:
        new = m.diag.data.get("suggest")
        member = m.diag.data.get("member")
        relo = m.access.relocation
        if not new or not member:
            return None
        local = relo.local
        container = _container(relo)
        if container is None:
            return None
        old_path = _members(local, container, member)
        new_path = _members(local, container, new)
        if old_path is None or new_path is None:
            return None  # the local type has no such member: it would not compile
        old_t = _member_at(local, container, old_path).type_id
        new_t = _member_at(local, container, new_path).type_id
        if old_t != new_t and not _compatible(_cls(local, old_t), _cls(local, new_t),
                                              self._is_last(m)):
            return None
        preferred = False
        if self.loaded:
            raw = list(relo.access)
            if raw[len(raw) - len(old_path):] != old_path:
                return None
            renamed = Relocation(relo.kind, local, relo.type_id,
                                 tuple(raw[:len(raw) - len(old_path)] + new_path))
            ok = {k.name for k in self.loaded
                  if CoreResolver(k.btf).resolve(renamed).status == RESOLVED}
            if not set(m.diag.kernels) <= ok:
                return None  # renaming would not fix it
            preferred = len(ok) == len(self.loaded)
        edit = TextEdit(self.path, m.diag.range, new)
        return CodeAction(f"Use '{new}' instead of '{member}'", QUICKFIX, (edit,), (m.diag,),
                          preferred)

    def _is_last(self, m: _Missing) -> bool:
        """The member's value is the expression's, not a hop read on through."""
        site = self._site_of(m.diag.range, m.diag.data.get("member") or "")
        return site is not None and _last(site)

    # -- rename guard through a flavor --------------------------------------------------------
    def _fallback(self, m: _Missing) -> CodeAction | None:
        """``bpf_core_field_exists(<m>) ? <read of m> : <read of the suggested member>``,
        read through a type that has it, when every kernel lacking ``m`` has that member."""
        new = m.diag.data.get("suggest")
        member = m.diag.data.get("member")
        if not new or not member or not self.loaded or m.check is None or m.addr:
            return None
        relo = m.access.relocation
        local = relo.local
        container = _container(relo)
        site = self._site_of(m.diag.range, member)
        if container is None or site is None or not container.name or \
                not self._rvalue(site.value):
            return None
        last = _last(site)
        if site.call is None and not _same(site.value, m.value):
            return None
        essential = essential_name(container.name)
        path = _members(local, container, member)
        if path is None:
            return None
        mine = _cls(local, _member_at(local, container, path).type_id)
        facts = []
        for name in m.diag.kernels:
            k = self.kernels.get(name) if self.kernels is not None else None
            km = _kernel_member(k.btf, essential, container.kind, new) if k and k.btf else None
            if km is None or not _compatible(mine, _cls(k.btf, km.type_id), last):
                return None
            facts.append((k.btf, km))
        via, decl = self._reader(container.kind, essential, new, facts, site.call is None,
                                 last)
        if via is None:
            return None
        alt = self._read_through(site, via, new)
        check = m.check
        edits = [self._ternary(site.value, check.exists, self.doc.node_text(site.value), alt)]
        title = f"Fall back to '{new}' where '{member}' is missing"
        if decl is not None:
            edits.insert(0, self._declare(site.value, decl))
            title += f" (declares {via})"
        return CodeAction(title, QUICKFIX, tuple(edits), (m.diag,))

    def _reader(self, kind: Kind, essential: str, member: str,
                facts: list[tuple[Btf, object]], direct: bool,
                last: bool) -> tuple[str | None, str | None]:
        """The struct to read ``member`` through: the program's (vmlinux.h's) own type, an
        existing flavor that has it, or a new ``___old`` flavor (with its declaration)."""
        local = self.model.local
        word = "union" if kind == Kind.UNION else "struct"
        want = _cls(facts[0][0], facts[0][1].type_id)
        flavors = []
        for t in local.find_all(essential):
            if t.kind == kind:
                flavors.append(t)
        for tid, info in self.model.local_types.items():
            if info.kind == word and essential_name(info.name) == essential and \
                    info.name != essential and info.preserve_access_index:
                flavors.append(local[tid])
        for t in flavors:
            p = _members(local, t, member)
            if p is None or not _compatible(want, _cls(local, _member_at(local, t, p).type_id),
                                            last):
                continue
            if direct and not self.model.preserve_access_index(t.id):
                continue  # a plain load of a type without preserve_access_index
            return f"{word} {t.name}", None
        decl = self._member_decl(facts[0][0], facts[0][1])
        if decl is None:
            return None, None
        name = self._free_flavor(essential)
        return (f"{word} {name}",
                f"{word} {name} {{ {decl}; }} __attribute__((preserve_access_index));")

    def _member_decl(self, btf: Btf, member) -> str | None:
        """``volatile long int state``: the member's declaration as that kernel spells it, when
        the program knows every type it names; else its plain integer or ``void *`` type."""
        if self._names_known(btf, member.type_id):
            return type_name(btf, member.type_id, member.name)
        r = btf.resolve(member.type_id)
        if r.kind == Kind.INT:
            return f"{r.name} {member.name}"
        if r.kind in (Kind.ENUM, Kind.ENUM64):
            return f"{'long long' if r.size == 8 else 'int'} {member.name}"
        if r.kind == Kind.PTR:
            return f"void *{member.name}"
        return None

    def _names_known(self, btf: Btf, type_id: int) -> bool:
        """Every type a declaration of ``type_id`` names exists in the program (a struct or
        union behind a pointer needs not: it is declared by being named)."""
        local = self.model.local
        t = btf[type_id]
        behind_ptr = False
        for _ in range(64):
            k = t.kind
            if k == Kind.PTR:
                behind_ptr = True
                t = btf[t.type_id]
            elif k == Kind.ARRAY:
                t = btf[t.array.type_id]
            elif t.is_modifier:
                t = btf[t.type_id]
            elif k in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.TYPEDEF):
                if not t.name:
                    return False
                if behind_ptr and k in (Kind.STRUCT, Kind.UNION):
                    return True
                return any(x.kind == k for x in local.find_all(t.name))
            else:
                return k in (Kind.INT, Kind.FLOAT, Kind.UNKN)
        return False

    def _free_flavor(self, essential: str) -> str:
        text = self.doc.data
        names = {info.name for info in self.model.local_types.values()}
        for i in range(1, 100):
            name = f"{essential}___old" + (str(i) if i > 1 else "")
            if name not in names and not re.search(rb"\b" + name.encode() + rb"\b", text):
                return name
        return f"{essential}___old_bpfls"

    def _declare(self, at: Node, decl: str) -> TextEdit:
        """Insert a file-scope declaration after the includes before ``at``'s function."""
        top = at
        while top.parent is not None and top.parent.type != "translation_unit":
            top = top.parent
        include = None
        n = top.prev_sibling
        while n is not None:
            if n.type == "preproc_include":
                include = n
                break
            n = n.prev_sibling
        eol = self.doc.eol
        if include is not None:
            line = include.end_point[0] if include.end_point[1] == 0 else \
                include.end_point[0] + 1
            pos = Position(line, 0)
            return TextEdit(self.path, Range(pos, pos), f"{eol}{decl}{eol}")
        start = top
        p = top.prev_sibling
        while p is not None and p.end_point[0] >= start.start_point[0] - 1 and \
                (p.type == "comment" or self.doc.node_text(p).startswith("SEC(")):
            start = p
            p = p.prev_sibling
        pos = Position(start.start_point[0], 0)
        return TextEdit(self.path, Range(pos, pos), f"{decl}{eol}{eol}")

    # -- where a member is written -------------------------------------------------------------
    def _site_of(self, r: Range, member: str) -> _Site | None:
        doc = self.doc
        s = doc.offset(r.start.line, r.start.column)
        e = doc.offset(r.end.line, r.end.column)
        if s is None or e is None or doc.text(s, e) != member:
            return None
        node = doc.tree.root_node.descendant_for_byte_range(s, e)
        if node is None or (node.start_byte, node.end_byte) != (s, e):
            return None
        p = node.parent
        if p is None:
            return None
        if p.type == "field_expression" and _same(p.child_by_field_name("field"), node):
            base = p.child_by_field_name("argument")
            op = p.child_by_field_name("operator")
            if base is None or op is None:
                return None
            return _Site(p, node, base, doc.node_text(op))
        if p.type == "argument_list" and p.parent is not None and \
                p.parent.type == "call_expression":
            fn = p.parent.child_by_field_name("function")
            name = doc.node_text(fn) if fn is not None else ""
            args = tuple(c for c in p.named_children if c.type != "comment")
            if name in _CORE_READ and len(args) >= 2:
                hop = next((i for i, a in enumerate(args) if _same(a, node)), 0)
                if hop >= 1:
                    return _Site(p.parent, node, call=name, args=args, hop=hop)
        return None

    def _pointer(self, site: _Site) -> str:
        """A pointer to what the site's member is a member of."""
        doc = self.doc
        if site.call is not None:
            if site.hop == 1:
                src = site.args[0]
                if src.type == "cast_expression" and src.child_by_field_name("value"):
                    src = src.child_by_field_name("value")
                return _parens(doc.node_text(src), src)
            return f"{site.call}({', '.join(doc.node_text(a) for a in site.args[:site.hop])})"
        base = site.base
        assert base is not None
        if site.op == ".":
            return f"&{_parens(doc.node_text(base), base)}"
        inner = base
        if inner.type == "parenthesized_expression":
            kids = [c for c in inner.named_children if c.type != "comment"]
            if len(kids) == 1 and kids[0].type == "cast_expression":
                inner = kids[0]
        if inner.type == "cast_expression" and inner.child_by_field_name("value"):
            inner = inner.child_by_field_name("value")
        return _parens(doc.node_text(inner), inner)

    def _read_through(self, site: _Site, via: str, member: str) -> str:
        ptr = self._pointer(site)
        if site.call is None:
            return f"(({via} *){ptr})->{member}"
        rest = "".join(f", {self.doc.node_text(a)}" for a in site.args[site.hop + 1:])
        if site.hop == 1:
            return f"{site.call}(({via} *){ptr}, {member}{rest})"
        # the hops before it read first: CO-RE reads do not nest
        tmp = "__old"
        while re.search(rf"\b{tmp}\b", ptr):
            tmp += "_"
        return (f"({{ {via} *{tmp} = (void *){ptr}; "
                f"{site.call}({tmp}, {member}{rest}); }})")

    # -- unknown-member ------------------------------------------------------------------------
    def _unknown(self, d: Diagnostic):
        """(site, local container, kernel facts) of an unknown member of a kernel type."""
        member = d.data.get("member")
        type_id = d.data.get("type_id")
        if not member or not isinstance(type_id, int) or not self.loaded:
            return None
        local = self.model.local
        try:
            container = local.resolve(type_id)
        except Exception:  # noqa: BLE001
            return None
        if container.kind not in (Kind.STRUCT, Kind.UNION) or not container.name:
            return None
        site = self._site_of(d.range, member)
        if site is None:
            return None
        essential = essential_name(container.name)
        has = {}
        for k in self.loaded:
            km = _kernel_member(k.btf, essential, container.kind, member)
            if km is not None:
                has[k.name] = (k.btf, km)
        return site, container, essential, has

    def _flavor_shim(self, d: Diagnostic) -> CodeAction | None:
        found = self._unknown(d)
        if found is None:
            return None
        site, container, essential, has = found
        member = d.data["member"]
        if not has or not self._rvalue(site.value):
            return None
        if not _last(site):
            return None  # the hops after it would need the old member's type
        kbtf, km = next(iter(has.values()))
        theirs = _cls(kbtf, km.type_id)
        if not all(_compatible(theirs, _cls(b, x.type_id), True) for b, x in has.values()):
            return None
        via, decl = self._reader(container.kind, essential, member, [(kbtf, km)],
                                 site.call is None, True)
        if via is None:
            return None
        old_read = self._read_through(site, via, member)
        lacking = [k for k in self.loaded if k.name not in has]
        replacement = self._replacement(container, member, lacking, theirs)
        doc = self.doc
        if replacement is not None:
            # rename guard: the member that replaced it where it exists, the old one elsewhere
            local_spelled = _spelled(container)
            ms, me = site.member.start_byte, site.member.end_byte
            vs, ve = site.value.start_byte, site.value.end_byte
            new_read = doc.text(vs, ms) + replacement + doc.text(me, ve)
            edit = self._ternary(site.value, _Ref(local_spelled, replacement).exists, new_read,
                                 old_read)
            title = f"Read '{replacement}', or '{member}' through {via} where it is missing"
        else:
            edit = self._ternary(site.value, _Ref(via, member).exists, old_read, "0")
            title = f"Read '{member}' through {via} where it exists (0 elsewhere)"
        edits = [edit]
        if decl is not None:
            edits.insert(0, self._declare(site.value, decl))
        return CodeAction(title, QUICKFIX, tuple(edits), (d,))

    def _replacement(self, container, member: str, lacking: list,
                     theirs: tuple[str, str]) -> str | None:
        """The local member closest to ``member`` that every kernel lacking ``member`` has,
        readable in its place."""
        local = self.model.local
        names = sorted(set(_member_names(local, container, [])))
        essential = essential_name(container.name)
        for name in difflib.get_close_matches(member, names, n=5, cutoff=0.6):
            p = _members(local, container, name)
            if p is None or not _compatible(theirs, _cls(local, _member_at(local, container,
                                                                             p).type_id), True):
                continue
            if all(_kernel_member(k.btf, essential, container.kind, name) is not None
                   for k in lacking):
                return name
        return None

    def _closest_member(self, d: Diagnostic) -> CodeAction | None:
        """Use the local type's closest member (a misspelling, or a member renamed before the
        kernel vmlinux.h comes from)."""
        member = d.data.get("member")
        candidates = d.data.get("candidates") or []
        if not member or not candidates:
            return None
        close = difflib.get_close_matches(member, [c for c in candidates if "." not in c],
                                          n=1, cutoff=0.6)
        if not close:
            return None
        new = close[0]
        doc = self.doc
        s = doc.offset(d.range.start.line, d.range.start.column)
        e = doc.offset(d.range.end.line, d.range.end.column)
        if s is None or e is None or doc.text(s, e) != member:
            return None
        preferred = False
        type_id = d.data.get("type_id")
        if self.loaded and isinstance(type_id, int):
            try:
                container = self.model.local.resolve(type_id)
                essential = essential_name(container.name)
                preferred = all(_kernel_member(k.btf, essential, container.kind, new)
                                is not None for k in self.loaded) and not any(
                    _kernel_member(k.btf, essential, container.kind, member) is not None
                    for k in self.loaded)
            except Exception:  # noqa: BLE001
                preferred = False
        return CodeAction(f"Use '{new}' instead of '{member}'", QUICKFIX,
                          (TextEdit(self.path, d.range, new),), (d,), preferred)


def _last(site: _Site) -> bool:
    """The member's value is the expression's (no hop or member access reads on from it)."""
    if site.call is not None:
        return site.hop == len(site.args) - 1
    p = site.value.parent
    return p is None or p.type not in ("field_expression", "subscript_expression") or \
        not _same(p.child_by_field_name("argument"), site.value)


def _attempt(fix, *args) -> CodeAction | None:
    """One fix: a failure in it loses only that fix."""
    try:
        return fix(*args)
    except Exception:  # noqa: BLE001 - a code action request never fails
        return None


def _diags(group: list[_Missing], first: _Missing) -> tuple[Diagnostic, ...]:
    out = [first.diag]
    for x in group:
        if all(x.diag is not y for y in out):
            out.append(x.diag)
    return tuple(out)


# -- attach-target-missing: fentry → kprobe -----------------------------------------------------

#: fentry-style section prefix → (kprobe-style prefix, program macro it takes)
_SWITCH = {"fentry/": ("kprobe/", "BPF_KPROBE"), "fexit/": ("kretprobe/", "BPF_KRETPROBE")}


def to_kprobe(fixer: _Fixer, d: Diagnostic) -> CodeAction | None:
    name = d.data.get("program")
    model = fixer.model
    prog = next((p for p in model.programs if p.name == name and p.path == fixer.path), None)
    if prog is None or prog.section_range is None:
        return None
    head = next((h for h in _SWITCH if prog.section.startswith(h)), None)
    if head is None:
        return None
    new_head, new_macro = _SWITCH[head]
    target = prog.section[len(head):]
    if not target or ":" in target:
        return None  # a module target: kprobes name no module
    doc = fixer.doc
    sspan = _span_of(fixer.doc, prog.section_range)
    if sspan is None or doc.text(*sspan) != prog.section:
        return None
    edits = [TextEdit(fixer.path, prog.section_range, new_head + target)]
    if prog.macro == "BPF_PROG":
        fn = _function_at(fixer, prog.range)
        if fn is None:
            return None
        header = _macro_call(fn)
        if header is None:
            return None
        body = fn.child_by_field_name("body")
        params = list(prog.params)
        if head == "fexit/":
            if not params:
                return None
            kept = [params[-1]]  # ret
            if any(p.used for p in params[:-1]):
                return None  # a kretprobe cannot read the arguments
        else:
            kept = params
        if body is None or any(_dereferenced(doc.node_text(body), p.name) for p in kept):
            return None
        mspan = (header.start_byte, header.start_byte + len("BPF_PROG"))
        if doc.text(*mspan) != "BPF_PROG":
            return None
        edits.append(TextEdit(fixer.path, doc.span(*mspan), new_macro))
        if head == "fexit/" and len(params) > 1:
            args = header.child_by_field_name("parameters")
            if args is None:
                return None
            named = [c for c in args.named_children if c.type != "comment"]
            if len(named) != len(params) + 1:
                return None
            edits.append(TextEdit(fixer.path, doc.span(named[1].start_byte, named[-1].start_byte),
                                  ""))
    elif prog.macro is not None or prog.params:
        return None
    kind = "kretprobe" if head == "fexit/" else "kprobe"
    return CodeAction(f"Attach with a {kind} (SEC(\"{new_head}{target}\"))", QUICKFIX,
                      tuple(edits), (d,), False)


def _dereferenced(body: str, name: str) -> bool:
    """The body reads through ``name`` directly (``name->``, ``*name``, ``name[``)."""
    n = re.escape(name)
    return re.search(rf"\b{n}\s*(->|\[)|\*\s*\(?\s*{n}\b", body) is not None


def _function_at(fixer: _Fixer, r: Range) -> Node | None:
    span = _span_of(fixer.doc, r)
    if span is None:
        return None
    n = fixer.doc.tree.root_node.descendant_for_byte_range(*span)
    while n is not None and n.type != "function_definition":
        n = n.parent
    return n


def _macro_call(fn: Node) -> Node | None:
    """The ``BPF_PROG(name, ...)`` declarator of a program function."""
    d = fn.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    return d


def _span_of(doc: _Doc, r: Range) -> tuple[int, int] | None:
    s = doc.offset(*r.start)
    e = doc.offset(*r.end)
    if s is None or e is None or e < s:
        return None
    return s, e
