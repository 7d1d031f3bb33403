"""One translation unit being walked: its functions (:class:`FunctionDef`), what they share
(:class:`TranslationUnit`: types, macros, globals, call sites, diagnostics) and what walking each
function gave, kept for the next analysis of the same file (:class:`CachedFunction`): a function
whose text and environment did not change is instantiated from it, shifted to where it is now,
instead of being walked again."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bpfls.core.relo import Relocation
from bpfls.source import catalogue
from bpfls.source.constargs import param_values
from bpfls.source.exprtypes import EType, Source, Types
from bpfls.source.guards import Guard
from bpfls.source.kernel_names import probe_helper, reads_load_constant
from bpfls.source.model import Accessor, CoreAccess, FunctionInfo, SourceDiagnostic
from bpfls.source.positions import Position, Range
from bpfls.source.programs import KernelCall, ScalarDeref
from bpfls.source.relocations import FunctionWalker
from bpfls.source.unused import Reads

if TYPE_CHECKING:
    from tree_sitter import Node

    from bpfls.btf import Btf
    from bpfls.source.localtypes import Desc, LocalTypes
    from bpfls.source.macros import MacroDef
    from bpfls.source.programs import Ksym, MapDef, StructOps


@dataclass(eq=False)
class FunctionDef:
    """A function defined in the unit: its tree, return and parameter types, the program macro
    it is defined with, and what walking it gave (accesses, diagnostics, the guard under which
    it returns true)."""

    name: str
    node: Node
    source: Source
    info: FunctionInfo
    ret: EType | None = None
    params: list[tuple[str, EType | None, Node | None]] = field(default_factory=list)
    macro: str | None = None
    returns: Guard | None = None
    walked: bool = False
    walking: bool = False
    accesses: list[CoreAccess] = field(default_factory=list)
    diags: list[SourceDiagnostic] = field(default_factory=list)
    derefs: list[ScalarDeref] = field(default_factory=list)
    ret_origin: str | None = None  # every return gives a number of this origin (walk_scalars)
    #: written by a macro: the file's text of the macro's use (the expansion's tokens map
    #: there, so it is part of what the walk depends on)
    origin: bytes = b""
    #: the helpers and kfuncs it calls (:class:`~bpfls.source.programs.KernelCall`)
    kcalls: list[KernelCall] = field(default_factory=list)
    #: the ``__ksym`` names its text mentions
    mentions: frozenset[str] = frozenset()
    #: a program macro's parameters: (type as written, type, the declaration's range)
    param_types: list[tuple[str, Desc | None, Range]] = field(default_factory=list)
    #: whether its body reads each program macro parameter
    param_used: tuple[bool, ...] = ()
    #: where the file writes its ``SEC`` (an offset in the unit's text)
    section_offset: int | None = None


@dataclass(eq=False)
class CachedFunction:
    """What walking one function produced, kept for the next analysis of the same file."""

    key: tuple
    start_line: int
    templates: list[CoreAccess]
    guards: list[Guard | None]
    returns: Guard | None
    refs: frozenset[str]
    sites: list[tuple[str, Guard]]
    diags: list[SourceDiagnostic]
    kcalls: list[KernelCall] = field(default_factory=list)
    kcall_guards: list[Guard | None] = field(default_factory=list)
    mentions: frozenset[str] = frozenset()
    param_used: tuple[bool, ...] = ()
    derefs: list[ScalarDeref] = field(default_factory=list)
    ret_origin: str | None = None


class TranslationUnit:
    """Everything shared while walking the functions of one translation unit."""

    def __init__(self, local: Btf, lt: LocalTypes, macros: dict[str, MacroDef],
                 diagnostics: list[SourceDiagnostic], *, base_pai: bool, has_base: bool) -> None:
        self.local = local
        self.types = Types(local)
        self.lt = lt
        self.macros = {k: v for k, v in macros.items() if k not in catalogue.ALL_INTRINSICS}
        #: every macro, the intrinsics' definitions too
        self.all_macros = macros
        self._probe_helpers: dict[str, str | None] = {}
        #: macros a later #undef removed (per name: each definition, the line of its #undef)
        self.retired: dict[str, list[tuple[MacroDef, int]]] = {}
        self.diagnostics = diagnostics
        self.base_pai = base_pai
        #: the kernel types the program uses are those of the base (vmlinux.h is included): a
        #: type or member missing there is a mistake (without vmlinux.h they may come from
        #: system headers, which are not read)
        self.has_base = has_base
        #: vmlinux.h is included but its types are unknown (no primary, not found): said once
        #: for the file, not at each access
        self.kernel_types_unknown = False
        self.start_id = local.start_id
        self.globals: dict[str, EType | None] = {}
        self.prototypes: dict[str, EType | None] = {}  # declared, not defined, functions
        self.global_guards: dict[str, Guard] = {}
        #: the helper pointers the headers declare, as libbpf does (``(* const bpf_x)(...) =
        #: (void *) N``) or cilium (``BPF_FUNC(x, ...)``): name → the helper (``bpf_x``)
        self.helper_pointers: dict[str, str] = {}
        #: the ``extern ... __ksym`` declarations by name, and those that are functions
        self.ksyms: dict[str, Ksym] = {}
        self.ksym_descs: dict[str, Desc | None] = {}
        self.kfuncs: set[str] = set()
        #: the globals the loader fixes before the load (``const volatile``, ``__kconfig``)
        self.load_constants: set[str] = set()
        self._config_macros: dict[str, bool] = {}
        self.maps: list[MapDef] = []
        self.struct_ops: list[StructOps] = []
        self._reads: Reads | None = None
        self._ksym_re: re.Pattern[bytes] | None = None
        self.functions: dict[str, FunctionDef] = {}
        self.call_sites: list[tuple[str, str, Guard]] = []
        self.refs: dict[str, set[str]] = {}
        self._diag_seen: set[tuple] = set()
        self.env_key: object = None
        self.previous: dict[str, CachedFunction] = {}
        self.entries: dict[str, CachedFunction] = {}
        self.from_cache: set[str] = set()
        self.remap: dict[int, CoreAccess] = {}

    def probe_helper(self, m: catalogue.Macro) -> str | None:
        """The helper the CO-RE read macro ``m`` calls (:func:`kernel_names.probe_helper`)."""
        if m.name not in self._probe_helpers:
            self._probe_helpers[m.name] = probe_helper(m, self.all_macros, self.helper_pointers)
        return self._probe_helpers[m.name]

    def reads_load_constant(self, toks: list) -> bool:
        """Do the tokens (a condition) read a value the loader fixes: a ``const volatile``
        global, a ``__kconfig`` extern, or a ``volatile const`` read a macro makes?"""
        return reads_load_constant(toks, self.all_macros, self.load_constants,
                                   self._config_macros)

    def is_pai(self, rec_id: int) -> bool:
        if rec_id >= self.start_id:
            return rec_id in self.lt.pai
        return self.base_pai

    def diag(self, d: SourceDiagnostic) -> None:
        key = (d.code, d.path, d.range, d.message)
        if key not in self._diag_seen:
            self._diag_seen.add(key)
            self.diagnostics.append(d)

    def walk_function(self, fd: FunctionDef) -> None:
        if fd.walked or fd.walking:
            return
        fd.walking = True
        try:
            key = self.function_key(fd)
            old = self.previous.get(fd.name)
            if old is not None and old.key == key and self._reuse(fd, old):
                self.entries[fd.name] = old
                self.from_cache.add(fd.name)
                return
            n_sites = len(self.call_sites)
            FunctionWalker(self, fd).run()
            self._read_names(fd)
            self.entries[fd.name] = CachedFunction(
                key, fd.info.range.start.line, list(fd.accesses), [a.guard for a in fd.accesses],
                fd.returns, frozenset(self.refs.get(fd.name, ())),
                [(c, g) for caller, c, g in self.call_sites[n_sites:] if caller == fd.name],
                list(fd.diags), list(fd.kcalls), [c.guard for c in fd.kcalls], fd.mentions,
                fd.param_used, [replace(d) for d in fd.derefs], fd.ret_origin)
        except RecursionError:  # pragma: no cover - absurd nesting
            pass
        finally:
            fd.walking = False
            fd.walked = True

    def _read_names(self, fd: FunctionDef) -> None:
        """The ksyms the function's text mentions, and which program macro parameters its
        body reads."""
        n = fd.node
        if self.ksyms:
            if self._ksym_re is None:
                self._ksym_re = _words(tuple(sorted(self.ksyms)))
            fd.mentions = frozenset(
                m.decode() for m in self._ksym_re.findall(fd.source.code, n.start_byte,
                                                          n.end_byte))
        if fd.macro is not None and fd.params:
            body = n.child_by_field_name("body")
            if body is None:
                fd.param_used = tuple(True for _ in fd.params)
                return
            if self._reads is None:
                self._reads = Reads(self)
            toks = fd.source.tokens(body.start_byte, body.end_byte)
            fd.param_used = tuple(self._reads.read_in(p, toks) for p, _, _ in fd.params)

    # -- reuse of the previous analysis, function by function ------------------------------
    def function_key(self, fd: FunctionDef) -> tuple:
        n = fd.node
        return (fd.source.unit.path, fd.source.code[n.start_byte:n.end_byte],
                n.start_point[1], self.env_key, fd.origin, param_values(self, fd))

    def _reuse(self, fd: FunctionDef, old: CachedFunction) -> bool:
        """Instantiate a function's accesses from the previous analysis (same text, same
        environment, callees reused too), shifted to where the function is now."""
        for callee in old.refs:
            cf = self.functions.get(callee)
            if cf is None or cf.walking:
                return False
            self.walk_function(cf)
            if callee not in self.from_cache:
                return False
        delta = fd.info.range.start.line - old.start_line
        news: list[CoreAccess] = []
        remap = self.remap
        for t in old.templates:
            a = _shifted_access(t, delta, self.local)
            remap[id(t)] = a
            news.append(a)
        try:
            for a, g in zip(news, old.guards, strict=True):
                a.guard = _remap_guard(g, remap)
            returns = _remap_guard(old.returns, remap) if old.returns is not None else None
            sites = [(c, _remap_guard(g, remap)) for c, g in old.sites]
            kcalls = [_shifted_call(c, g, delta, remap)
                      for c, g in zip(old.kcalls, old.kcall_guards, strict=True)]
            derefs = [replace(d, range=_shift(d.range, delta), expr_range=_shift(
                d.expr_range, delta), guard=_remap_guard(d.guard, remap)) for d in old.derefs]
        except KeyError:
            return False
        fd.accesses = news
        fd.derefs = derefs
        fd.ret_origin = old.ret_origin
        fd.returns = returns
        fd.kcalls = kcalls
        fd.mentions = old.mentions
        fd.param_used = old.param_used
        if old.refs:
            self.refs.setdefault(fd.name, set()).update(old.refs)
        self.call_sites.extend((fd.name, c, g) for c, g in sites)
        for d in old.diags:
            self.diag(_shifted_diag(d, delta))
        return True


def _shift(r: Range, delta: int) -> Range:
    if not delta:
        return r
    return Range(Position(r.start.line + delta, r.start.column),
                 Position(r.end.line + delta, r.end.column))


def _shifted_access(t: CoreAccess, delta: int, local: Btf) -> CoreAccess:
    rel = t.relocation
    return CoreAccess(Relocation(rel.kind, local, rel.type_id, rel.access), t.path,
                      _shift(t.range, delta), _shift(t.expr_range, delta), t.function, t.macro,
                      tuple(Accessor(x.name, _shift(x.range, delta)) for x in t.accessors),
                      load=t.load, store=t.store, load_size=t.load_size,
                      probe_read=t.probe_read, read_size=t.read_size, user=t.user,
                      repeat=t.repeat, spec_text=t.spec_text)


def _shifted_call(c: KernelCall, g: Guard | None, delta: int,
                  remap: dict[int, CoreAccess]) -> KernelCall:
    return KernelCall(c.name, c.path, _shift(c.range, delta), c.function,
                      guard=_remap_guard(g, remap), ksym_checked=c.ksym_checked, via=c.via)


_WORDS: dict[tuple[str, ...], re.Pattern[bytes]] = {}


def _words(names: tuple[str, ...]) -> re.Pattern[bytes]:
    """Any of ``names`` as a whole identifier (remembered)."""
    rx = _WORDS.get(names)
    if rx is None:
        if len(_WORDS) > 256:
            _WORDS.clear()
        rx = _WORDS[names] = re.compile(
            rb"(?<![A-Za-z0-9_$])(?:" + b"|".join(re.escape(n.encode()) for n in names)
            + rb")(?![A-Za-z0-9_$])")
    return rx


def _shifted_diag(d: SourceDiagnostic, delta: int) -> SourceDiagnostic:
    return SourceDiagnostic(d.code, d.message, d.path, _shift(d.range, delta),
                            dict(d.data))


def _remap_guard(g: Guard | None, remap: dict[int, CoreAccess]) -> Guard | None:
    if g is None:
        return None
    if g.op == "atom":
        return Guard.check(remap[id(g.atom)])
    if not g.args:
        return g
    return Guard(g.op, tuple(_remap_guard(a, remap) for a in g.args))  # type: ignore[misc]
