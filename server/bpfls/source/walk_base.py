"""The relocation walker's state and the primitives its parts share: emitting relocations,
positions and diagnostics, variable scopes.

:class:`~bpfls.source.relocations.FunctionWalker` is made of three parts over this base:
statements (:mod:`bpfls.source.walk_statements`), expressions
(:mod:`bpfls.source.walk_expressions`), and calls with macro expansion
(:mod:`bpfls.source.walk_calls`, with the CO-RE macros in :mod:`bpfls.source.intrinsics`). The
parts call one another through the methods :class:`WalkerBase` declares.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from bpfls.btf import Kind
from bpfls.core.relo import Relocation, ReloKind
from bpfls.source.catalogue import ALL_INTRINSICS
from bpfls.source.guards import TRUE, Guard
from bpfls.source.model import Accessor, CoreAccess, SourceDiagnostic
from bpfls.source.positions import Range
from bpfls.source.unused import Reads

if TYPE_CHECKING:
    from tree_sitter import Node

    from bpfls.source.exprtypes import EType, Source
    from bpfls.source.macros import MacroDef
    from bpfls.source.translation_unit import FunctionDef, TranslationUnit
    from bpfls.source.values import Chain, Val

#: the node types walked as statements where an expression could be
STATEMENT_TYPES = frozenset({
    "compound_statement", "expression_statement", "declaration", "if_statement",
    "return_statement", "break_statement", "continue_statement", "goto_statement",
    "while_statement", "for_statement", "do_statement", "switch_statement", "case_statement",
    "labeled_statement", "attributed_statement", "type_definition"})
#: calls that never return
TERMINATORS = frozenset({"__builtin_unreachable", "__builtin_trap", "__bpf_unreachable",
                         "bpf_unreachable"})


class WalkerBase:
    """The state of walking one function, and what every part of the walker uses."""

    def __init__(self, tu: TranslationUnit, fd: FunctionDef) -> None:
        self.tu = tu
        self.fd = fd
        self.types = tu.types
        self.src: Source = fd.source
        self.scopes: list[dict[str, EType | None]] = [{}]
        self.gscopes: list[dict[str, Guard]] = [{}]
        self.guard: Guard = TRUE
        self.region = 0  # inside __builtin_preserve_access_index
        self.silent = 0  # evaluating an unevaluated operand (field info, sizeof)
        self.producer: list[str] = ["direct"]
        self.expr_override: Range | None = None
        self.call_range: Range | None = None  # the CO-RE macro being walked
        self.call_name: str | None = None
        self.user = False
        self.returns: list[Guard] = []
        self.depth = 0
        # local pointers initialised with an address ``&p->f`` (see _offsets_cancel): each
        # declaration's serial number, the address access it holds, and per access (by id)
        # how often it is read through variables and how many of those reads a cancelled
        # subtraction used up; it goes when all of them were, unless a variable was reassigned
        self.var_serial: dict[tuple[int, str], int] = {}
        self.var_addr: dict[int, CoreAccess] = {}
        self.addr_held: dict[int, CoreAccess] = {}
        self.addr_uses: dict[int, int] = {}
        self.addr_folds: dict[int, int] = {}
        self.addr_pinned: set[int] = set()
        self.serial = 0  # the last variable's serial number
        # the variables holding a kernel pointer the verifier sees as a number (by serial
        # number): how it was obtained (see walk_scalars); the origins when the innermost
        # switch was entered, and the origins where the innermost loop or switch is left
        self.var_origin: dict[int, str] = {}
        self.switch_origins: dict[int, str] | None = None
        self.exits: list[dict[int, str]] | None = None
        self.returned_any = False
        # calls, stores and asm walked so far: an initializer without any is free of side
        # effects, and clang drops its loads when nothing reads the variable
        self.effects = 0
        # the constants each parameter is called with, when the calls decide (constargs)
        self.param_values: dict[str, frozenset[int]] = {}
        # the constants the innermost switch's value can be (None: any)
        self.switch_values: frozenset[int] | None = None
        # the end of the last macro invocation walked from its text (where the tree is broken)
        self.consumed: tuple[Source, int] | None = None
        self.reads = Reads(tu)

    if TYPE_CHECKING:
        # the parts' entry points, for one another
        def stmt(self, n: Node) -> bool: ...
        def cond(self, n: Node) -> Guard: ...
        def initializer(self, n: Node) -> None: ...
        def typeof_type(self, node: Node) -> tuple: ...
        def expr(self, n: Node) -> Val: ...
        def lvalue(self, n: Node) -> Val: ...
        def call(self, n: Node) -> Val: ...
        def expand_macro(self, n: Node, start: int, end: int) -> Val: ...
        def expand_statements(self, n: Node) -> bool: ...
        def call_read_as_cast(self, tyd: Node) -> Val: ...
        def broken_macro_statement(self, n: Node) -> bool | None: ...
        def _consumed(self, c: Node) -> bool: ...
        def block(self, children: list[Node], *, scoped: bool = True) -> bool: ...
        def offsetof(self, n: Node) -> Val: ...
        def rvalue(self, v: Val, *, through: bool = False) -> Val: ...

    # -- emission --------------------------------------------------------------------------
    def emit(self, chain: Chain, kind: ReloKind, *, load: bool = False, store: bool = False,
             load_size: int | None = None, probe: bool = False, read_size: int | None = None,
             repeat: int = 0, force: bool = False) -> CoreAccess | None:
        if (self.silent and not force) or self.guard.is_false:
            return None  # not evaluated, or dead code clang removes (after a return, a
            # branch or case a constant rules out)
        types = self.types
        root = types.resolve(chain.root)
        if kind.is_field and (root is None or root.kind not in (Kind.STRUCT, Kind.UNION)):
            return None
        relo = Relocation(kind, self.tu.local, chain.root, tuple(chain.access))
        expr = self.expr_override or Range(chain.start.start, chain.last.end)
        a = CoreAccess(relo, self.src.unit.path, chain.last, expr, self.fd.name,
                       self.producer[-1], tuple(chain.accessors), load=load, store=store,
                       load_size=load_size, probe_read=probe, read_size=read_size,
                       user=self.user, guard=self.guard, repeat=repeat)
        self.fd.accesses.append(a)
        return a

    def emit_type(self, kind: ReloKind, root: int, access: tuple[int, ...], rng: Range,
                  expr: Range, name: str, accessor: str) -> CoreAccess:
        relo = Relocation(kind, self.tu.local, root, access)
        a = CoreAccess(relo, self.src.unit.path, rng, expr, self.fd.name, name,
                       (Accessor(accessor, rng),), guard=self.guard)
        if not self.silent and not self.guard.is_false:
            self.fd.accesses.append(a)
        return a

    def close(self, v: Val, mode: str) -> CoreAccess | None:
        """End the open chain of ``v``: ``load``, ``store``, ``loadstore`` or ``addr``."""
        c = v.chain
        if c is None:
            return None
        v.chain = None
        size = self.types.size(c.field) if mode != "addr" else None
        return self.emit(c, ReloKind.FIELD_BYTE_OFFSET, load=mode in ("load", "loadstore"),
                         store=mode in ("store", "loadstore"), load_size=size)

    # -- positions ---------------------------------------------------------------------------
    def rng(self, node: Node) -> Range:
        return self.src.node_range(node)

    def _r(self, x) -> Range:
        return x if isinstance(x, Range) else self.rng(x)

    def text(self, node: Node) -> str:
        return self.src.text(node)

    def diag(self, code: str, msg: str, rng: Range, **data) -> None:
        if self.silent > 1 or not self.src.unit.path or self.src.unit.virtual:
            return
        d = SourceDiagnostic(code, msg, self.src.unit.path, rng, data)
        self.fd.diags.append(d)
        self.tu.diag(d)

    def incomplete(self, what: str, rng: Range) -> None:
        """Say that the CO-RE accesses of ``what`` could not be predicted (never silently)."""
        self.diag("analysis-incomplete", f"bpfls could not follow {what}: the CO-RE accesses "
                  "there are not checked", rng)

    # -- macros ------------------------------------------------------------------------------
    def macros_at(self, n: Node) -> dict[str, MacroDef]:
        """The program's macros where ``n`` is: the final table, plus the macros a later
        ``#undef`` removed that are defined there (in the same file, between the ``#define``
        and the ``#undef``)."""
        tu = self.tu
        if not tu.retired or not self.src.is_file:
            return tu.macros
        row = n.start_point[0]
        path = self.src.unit.path
        live = {name: m for name, defs in tu.retired.items() for m, end in defs
                if m.path == path and m.line < row < end and name not in tu.macros and
                name not in ALL_INTRINSICS}
        return {**tu.macros, **live} if live else tu.macros

    # -- scopes ------------------------------------------------------------------------------
    def lookup(self, name: str) -> tuple[bool, EType | None]:
        for s in reversed(self.scopes):
            if name in s:
                return True, s[name]
        if name in self.tu.globals:
            return True, self.tu.globals[name]
        return False, None

    def _var_key(self, name: str) -> int | None:
        for s in reversed(self.scopes):
            if name in s:
                return self.var_serial.get((id(s), name))
        return None

    def guard_var(self, name: str) -> Guard | None:
        for s, g in zip(reversed(self.scopes), reversed(self.gscopes), strict=True):
            if name in g:
                return g[name]
            if name in s:
                return None
        return self.tu.global_guards.get(name)

    def set_guard_var(self, name: str, g: Guard | None) -> None:
        for s, gs in zip(reversed(self.scopes), reversed(self.gscopes), strict=True):
            if name in s:
                if g is None:
                    gs.pop(name, None)
                else:
                    gs[name] = g
                return

    # -- diagnostics -----------------------------------------------------------------------
    def _unknown_member(self, rec, name: str, rng: Range, paths: dict) -> None:
        if rec.id < self.tu.start_id and not self.tu.has_base:
            return
        tname = self.types.name(rec.id)
        if not rec.name:
            tname = tname or "<anonymous>"
        close = difflib.get_close_matches(name, [p for p in paths if "." not in p], 1, 0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        self.diag("unknown-member", f"no member named '{name}' in '{tname}'{hint}", rng,
                  member=name, type=tname, type_id=rec.id, candidates=sorted(paths))

    def _unknown_type(self, node: Node, spelling: str) -> None:
        self._unknown_type_rng(spelling, self.rng(node))

    def _unknown_type_rng(self, spelling: str, rng: Range) -> None:
        if not self.tu.has_base:
            return
        self.diag("unknown-type", f"unknown type '{spelling}'", rng, type=spelling)
