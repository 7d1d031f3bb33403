"""One translation unit from text to :class:`SourceModel`."""

from __future__ import annotations

import hashlib
import os
import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bpfls.btf import Btf
from bpfls.source import catalogue, headers, kernel_names
from bpfls.source.btfwriter import BtfWriter
from bpfls.source.cache import SourceCache
from bpfls.source.exprtypes import EType, Source, etype_of_desc
from bpfls.source.guards import all_of
from bpfls.source.localtypes import VOID, Desc, LocalTypes
from bpfls.source.mask import MacroUse, parser_code
from bpfls.source.model import (
    CoreAccess,
    FileScope,
    FunctionInfo,
    SourceDiagnostic,
    SourceModel,
)
from bpfls.source.positions import Range
from bpfls.source.predefines import guess_arch
from bpfls.source.preprocess import FileUnit
from bpfls.source.programs import KernelCall, Ksym, Param, Program
from bpfls.source.reach import entry_guards, reachable_functions
from bpfls.source.snippets import parse_snippet
from bpfls.source.translation_unit import FunctionDef, TranslationUnit
from bpfls.source.vmlinux import vmlinux_h_btf

if TYPE_CHECKING:
    from tree_sitter import Node

    from bpfls.source.guards import Guard
    from bpfls.source.programs import ScalarDeref

#: the cache of the callers that bring none
_DEFAULT_CACHE = SourceCache()


@dataclass(frozen=True)
class SourceOptions:
    """How to read a translation unit.

    ``primary``: the kernel whose BTF is the base of the program's types. ``kernels``: the
    configured kernels (name, BTF). A ``vmlinux*.h`` the program includes wins over the
    primary: when it is the ``bpftool`` dump of one of ``kernels`` (or of the primary), that
    kernel's BTF is the base; when it is a big dump of another kernel, it is parsed instead
    (cached by content hash; unless ``use_vmlinux_h`` is false); any other (a wrapper, a
    trimmed header) is read like every header, its definitions the program's own.
    ``defines``: ``-D`` (``None`` value = ``1``).
    ``arch``: adds ``-D__TARGET_ARCH_<arch>`` (``x86``, ``arm64``, ``amd64``...) unless
    ``defines`` already has one; when neither says, the primary kernel's architecture is
    assumed (from its ``struct pt_regs``). ``overlays``: unsaved editor text by path.
    """

    primary: Btf | None = None
    kernels: tuple[tuple[str, Btf], ...] = ()
    include_dirs: tuple[str, ...] = ()
    defines: Mapping[str, str | None] = field(default_factory=dict)
    undefines: tuple[str, ...] = ()
    arch: str | None = None
    overlays: Mapping[str, str] = field(default_factory=dict)
    use_vmlinux_h: bool = True
    big_endian: bool = False


def analyze(path: str, text: str | None = None, options: SourceOptions | None = None,
            cache: SourceCache | None = None) -> SourceModel:
    """Analyse ``path`` (``text`` overrides what is on disk), reusing what ``cache`` kept of
    its last analysis (:class:`~bpfls.source.cache.SourceCache`; default: this module's).
    Never raises on bad source: an internal failure becomes an ``internal-error`` diagnostic
    on an empty model."""
    options = options or SourceOptions()
    try:
        return _analyze(path, text, options, cache or _DEFAULT_CACHE)
    except Exception as e:  # noqa: BLE001 - the editor must keep working
        base = options.primary
        w = BtfWriter(id_start=base.end_id if base is not None else 1,
                      str_start=base.end_str_off if base is not None else 0)
        local = Btf(w.build(), base=base, path="<program types>", origin="source")
        diag = SourceDiagnostic("internal-error", f"analysis failed: {type(e).__name__}: {e}",
                                os.path.abspath(path), Range.of(0, 0, 0, 0))
        return SourceModel(os.path.abspath(path), local, [], {}, [diag],
                           [os.path.abspath(path)], {}, {}, {})


def _analyze(path: str, text: str | None, options: SourceOptions,
             cache: SourceCache) -> SourceModel:
    t0 = time.perf_counter()
    path = os.path.abspath(path)
    read_error: str | None = None
    if text is None:
        text = options.overlays.get(path)
    if text is not None:
        data = text.encode("utf-8", "surrogateescape")
    else:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            data = b""
            read_error = str(e)
    arch = options.arch
    if arch is None and not any(k.startswith("__TARGET_ARCH_") for k in options.defines):
        arch = guess_arch(options.primary)
    pp = cache.headers.preprocessor(
        include_dirs=options.include_dirs, defines=dict(options.defines),
        undefines=options.undefines, overlays=dict(options.overlays), arch=arch,
        big_endian=options.big_endian, kernels=_dump_candidates(options))
    res = pp.run(path, data)
    diagnostics = list(res.diagnostics)
    if read_error:
        diagnostics.append(SourceDiagnostic("read-error", f"cannot read {path}: {read_error}",
                                            path, Range.of(0, 0, 0, 0)))
    cache.headers.mask_units(res.units, res.macros)
    t1 = time.perf_counter()

    trees: list[tuple[FileUnit, Node]] = []
    for u in res.units:
        tree = cache.trees.parse(u.path, parser_code(bytes(u.code)))
        trees.append((u, tree.root_node))
    t2 = time.perf_counter()

    base = options.primary
    vmlinux_h = res.vmlinux
    if res.vmlinux_btf is not None:
        base = res.vmlinux_btf
    elif res.vmlinux_path and options.use_vmlinux_h:
        try:
            base = vmlinux_h_btf(res.vmlinux_path)
        except Exception as e:  # noqa: BLE001 - a broken header must not stop the analysis
            diagnostics.append(SourceDiagnostic(
                "vmlinux-h", f"cannot read types from {res.vmlinux_path}: {e}", path,
                Range.of(0, 0, 0, 0)))
    if base is None and res.vmlinux is not None and res.vmlinux_path is None:
        diagnostics.append(_no_kernel_types(res.units, res.vmlinux))
    lt = LocalTypes(base, res.macros, diagnostics, base_pai=res.base_pai)
    for u, root in trees:
        lt.collect(u, root)
    local = lt.build(lambda lt: kernel_names.declared_types(lt, trees))
    t3 = time.perf_counter()

    tu = TranslationUnit(local, lt, res.macros, diagnostics, base_pai=res.base_pai,
                         has_base=base is not None and res.vmlinux is not None)
    tu.kernel_types_unknown = base is None and res.vmlinux is not None
    tu.retired = res.retired
    order: list[str] = []
    for u, root in trees:
        _collect_toplevel(tu, u, root, order)
    tu.env_key = _environment_key(tu, res.signature, lt.raw, base, order)
    cache_key = (path, _base_key(base))
    tu.previous = cache.take_functions(cache_key)
    for name in order:
        tu.walk_function(tu.functions[name])
    cache.keep_functions(cache_key, tu.entries)
    t4 = time.perf_counter()

    roots = {n for n, fd in tu.functions.items() if fd.info.is_root}
    reach = reachable_functions(roots, tu.refs)
    ctx = entry_guards(roots, tu.functions, [s for s in tu.call_sites if s[0] in reach])
    accesses: list[CoreAccess] = []
    derefs: list[ScalarDeref] = []
    unit_index = {u.path: i for i, (u, _) in enumerate(trees)}
    calls: list[KernelCall] = []
    for name in order:
        fd = tu.functions[name]
        fd.info.reachable = name in reach
        fd.info.calls = tuple(sorted(tu.refs.get(name, ())))
        entry = ctx.get(name)
        for a in fd.accesses:
            a.reachable = fd.info.reachable
            if a.reachable and entry is not None and a.guard is not None:
                a.guard = all_of((entry, a.guard))
            accesses.append(a)
        for c in fd.kcalls:
            c.reachable = fd.info.reachable
            if c.reachable and entry is not None and c.guard is not None:
                c.guard = all_of((entry, c.guard))
            calls.append(c)
        derefs.extend(_placed_derefs(fd.derefs, fd.info.reachable, entry))
    accesses.sort(key=lambda a: (unit_index.get(a.path, 1 << 30), a.range.start,
                                 a.expr_range.start))
    for i, a in enumerate(accesses):
        a.index = i
    guarded: dict[int, list[int]] = {}
    for a in accesses:
        if a.guard is not None:
            for atom in a.guard.atoms():
                guarded.setdefault(id(atom), []).append(a.index)
    for a in accesses:
        g = guarded.get(id(a))
        if g:
            a.guarded = tuple(g)
    calls.sort(key=lambda c: (unit_index.get(c.path, 1 << 30), c.range.start))
    programs = _programs(tu, order)
    used = {c.name for c in calls if c.reachable}
    for name in order:
        fd = tu.functions[name]
        if fd.info.reachable:
            used |= fd.mentions
    for k in tu.ksyms.values():
        k.used = k.name in used
    t5 = time.perf_counter()

    files = [u.path for u, _ in trees if not u.virtual]
    model = SourceModel(
        path=path, local=local, accesses=accesses,
        functions={n: tu.functions[n].info for n in order}, diagnostics=diagnostics,
        files=files, local_types={k: v for k, v in lt.info.items() if k >= local.start_id},
        macros=dict(res.macros),
        inactive={u.path: list(u.inactive) for u, _ in trees if not u.virtual},
        vmlinux_h=vmlinux_h, vmlinux_kernel=res.vmlinux_kernel,
        base_preserve_access_index=res.base_pai, arch=arch,
        first_core_use=_first_core_use(res.units),
        timings={"preprocess": t1 - t0, "parse": t2 - t1, "types": t3 - t2,
                 "walk": t4 - t3, "guards": t5 - t4, "total": t5 - t0},
        scope=FileScope(dict(tu.globals),
                        {**tu.prototypes, **{n: fd.ret for n, fd in tu.functions.items()}},
                        lt),
        programs=programs, calls=calls, maps=tu.maps, ksyms=list(tu.ksyms.values()),
        struct_ops=tu.struct_ops)
    model.derefs = sorted(derefs, key=lambda d: (unit_index.get(d.path, 1 << 30), d.range.start))
    return model


def _programs(tu: TranslationUnit, order: list[str]) -> list[Program]:
    """The ``SEC`` functions, with their sections as written and their macros' parameters."""
    out: list[Program] = []
    lt = tu.lt
    for name in order:
        fd = tu.functions[name]
        info = fd.info
        unit = fd.source.unit
        if info.section is None or unit.virtual:
            continue
        off = fd.section_offset
        params = []
        if fd.macro is not None:
            used = fd.param_used
            for i, ((pname, _, _), (text, desc, rng)) in enumerate(
                    zip(fd.params, fd.param_types, strict=False)):
                params.append(Param(pname, text, lt.made_id(desc), rng,
                                    used=used[i] if i < len(used) else True))
        out.append(Program(
            name, info.section, info.path, info.name_range,
            section_range=kernel_names.section_range(unit, off) if off is not None else None,
            macro=fd.macro, params=tuple(params),
            alternative=kernel_names.alternative_at(
                unit, off if off is not None else fd.node.start_byte)))
    return out


def _placed_derefs(derefs: list[ScalarDeref], reachable: bool, entry: Guard | None
                   ) -> list[ScalarDeref]:
    for d in derefs:
        d.reachable = reachable
        if reachable and entry is not None and d.guard is not None:
            d.guard = all_of((entry, d.guard))
    return derefs


#: a use of a CO-RE macro or builtin in code (not in a #define: directives are blanked)
_CORE_USE = re.compile(rb"\b(?:" + b"|".join(
    re.escape(n.encode()) for n in sorted(catalogue.CORE_INTRINSICS | catalogue.names(
        catalogue.Family.BUILTIN), key=len, reverse=True)) + rb")\s*\(")


def _dump_candidates(options: SourceOptions) -> list[tuple[str | None, Btf]]:
    """The kernels an included ``vmlinux*.h`` may be the dump of: the primary first."""
    out: list[tuple[str | None, Btf]] = []
    primary = options.primary
    if primary is not None:
        name = next((n for n, b in options.kernels if b is primary), None)
        out.append((name, primary))
    out.extend((n, b) for n, b in options.kernels if b is not primary)
    return out


def _first_core_use(units: list[FileUnit]) -> tuple[str, Range] | None:
    """Where the translation unit first uses a CO-RE macro in active code (its own files: not
    libbpf's headers, built in or a project's copy of them)."""
    for u in units:
        if u.virtual or os.path.basename(u.path) in headers.HEADERS:
            continue
        m = _CORE_USE.search(u.code)
        if m is not None:
            line, col = u.position(m.start())
            return u.path, Range.of(line, col, line, col + len(m.group().rstrip(b"( \t")))
    return None


def _no_kernel_types(units: list[FileUnit], name: str) -> SourceDiagnostic:
    """``vmlinux.h`` is included, not on the include path, and there is no primary kernel:
    the kernel's types are unknown."""
    where, rng = units[0].path, Range.of(0, 0, 0, 0)
    for u in units:
        ref = next((r for r in u.includes if r.kind == "vmlinux"), None)
        if ref is not None:
            where, rng = u.path, ref.range
            break
    return SourceDiagnostic(
        "analysis-incomplete",
        f"no primary kernel and '{name}' is not on the include path: the kernel types it "
        "declares are unknown, so the CO-RE accesses on them are not checked (configure the "
        "primary kernel, --primary NAME, or add the directory holding it to the include path)",
        where, rng, {"reason": "no-kernel-types"})


def clear_caches() -> None:
    """Forget the parse trees and per-function results of the default cache."""
    _DEFAULT_CACHE.clear()


def _base_key(base: Btf | None) -> object:
    """Identifies the base types by content (a new Btf object for the same kernel matches)."""
    if base is None:
        return None
    fp = getattr(base, "fingerprint", None)
    return (base.end_id, fp()) if fp is not None else id(base)


def _environment_key(tu: TranslationUnit, macro_sig: bytes, raw_types: bytes,
                     base: Btf | None, order: list[str]) -> tuple:
    """Everything a function's walk depends on besides its own text."""
    fns = tuple((n, fd.ret, tuple((p, et) for p, et, _ in fd.params), fd.info.is_static,
                 fd.macro) for n in order for fd in (tu.functions[n],))
    glob = tuple(sorted(tu.globals.items(), key=lambda kv: kv[0]))
    protos = tuple(sorted(tu.prototypes.items(), key=lambda kv: kv[0]))
    kernel = (tuple(sorted(tu.ksyms)), tuple(sorted(tu.kfuncs)),
              tuple(sorted(tu.helper_pointers.items())), tuple(sorted(tu.load_constants)))
    return (macro_sig, hashlib.blake2b(raw_types, digest_size=16).digest(), _base_key(base),
            tu.base_pai, hash(fns), hash(glob), hash(protos), hash(kernel))


def _collect_toplevel(tu: TranslationUnit, unit: FileUnit, root: Node,
                      order: list[str]) -> None:
    src = Source(unit, bytes(unit.code))
    sections = sorted(unit.sections)
    nodes = _toplevel_nodes(root)
    headers = {u.body: u for u in unit.generated if u.header}
    bodies = {n.start_byte for n in nodes if n.type == "compound_statement"}
    for off, use in headers.items():
        if off not in bodies:
            _not_followed(tu, unit, use, "the body after it does not parse")
    written = sorted((u for u in unit.generated if not u.header), key=lambda u: u.start)
    outer, sections = _sections_of_uses(written, nodes, sections)
    w = 0
    for n in nodes:
        while w < len(written) and written[w].start < n.start_byte:
            _written_functions(tu, unit, written[w], outer.get(written[w].start), order)
            w += 1
        if n.type == "function_definition":
            _add(tu, _function(tu, unit, src, n, sections), order)
        elif n.type == "compound_statement" and n.start_byte in headers:
            _add(tu, _headed_function(tu, unit, src, n, headers[n.start_byte], sections), order)
        elif n.type == "declaration":
            _globals(tu, unit, n, src, sections)
    for use in written[w:]:
        _written_functions(tu, unit, use, outer.get(use.start), order)


def _add(tu: TranslationUnit, fd: FunctionDef | None, order: list[str]) -> None:
    if fd is not None and fd.name not in tu.functions:
        tu.functions[fd.name] = fd
        order.append(fd.name)


# -- functions written by macros ---------------------------------------------------------------

def _sections_of_uses(written: list[MacroUse], nodes: list, sections: list[tuple[int, str]]
                      ) -> tuple[dict[int, tuple[int, str]], list[tuple[int, str]]]:
    """The ``SEC`` written in the file just before each use that writes whole functions (by
    the use's offset), and the file's other ``SEC`` names: the attribute belongs to the first
    thing the use declares, not to the function after it."""
    outer: dict[int, tuple[int, str]] = {}
    if not written or not sections:
        return outer, sections
    ends = sorted(n.end_byte for n in nodes)
    owned: set[int] = set()
    last = 0
    for use in written:
        i = bisect_right(ends, use.start) - 1
        lo = max(ends[i] if i >= 0 else 0, last)
        j = bisect_left(sections, (use.start, ""))
        if j > 0 and sections[j - 1][0] >= lo:
            outer[use.start] = sections[j - 1]
            owned.add(sections[j - 1][0])
        last = use.end
    return outer, [s for s in sections if s[0] not in owned]


def _written_functions(tu: TranslationUnit, unit: FileUnit, use: MacroUse,
                       outer: tuple[int, str] | None, order: list[str]) -> None:
    """The functions (and globals) a macro use writes whole: read from its expansion, every
    position mapped back to the use. ``outer``, a ``SEC`` written in the file before the use,
    names the first thing the expansion declares."""
    root = parse_snippet(use.source.code).root_node
    if root.has_error:
        _not_followed(tu, unit, use, "its expansion does not parse")
    origin = unit.data[use.start:use.end]
    found = False
    for i, n in enumerate(_toplevel_nodes(root)):
        if n.type == "function_definition":
            fd = _function(tu, unit, use.source, n, use.sections)
            if fd is None:
                continue
            found = True
            if i == 0 and fd.info.section is None and outer is not None:
                fd.section_offset, fd.info.section = outer
            fd.origin = origin
            _add(tu, fd, order)
        elif n.type == "declaration":
            _globals(tu, unit, n, None, [])
    if not found and not root.has_error:
        _not_followed(tu, unit, use, "no function found in its expansion")


def _not_followed(tu: TranslationUnit, unit: FileUnit, use: MacroUse, why: str) -> None:
    """Say that what a macro's use writes is not (entirely) walked."""
    if unit.virtual:
        return
    tu.diag(SourceDiagnostic(
        "analysis-incomplete", f"bpfls could not follow the functions the macro '{use.name}' "
        f"writes ({why}): the CO-RE accesses there are not checked", unit.path,
        Source(unit, b"").range(use.start, use.end), {"reason": "macro-function"}))


class _Span:
    """Where a parameter of a macro-written header came from in the file."""

    def __init__(self, start: int, end: int) -> None:
        self.start_byte = start
        self.end_byte = end


class _Headed:
    """A function whose header a macro wrote, its body written after it in the file: stands for
    the ``function_definition`` from the macro's use to the end of the body."""

    type = "function_definition"

    def __init__(self, unit: FileUnit, use: MacroUse, body: Node) -> None:
        self.start_byte, self.end_byte = use.start, body.end_byte
        self.start_point, self.end_point = unit.position(use.start), body.end_point
        self.prev_sibling = body.prev_sibling
        self.children: list = []
        self._body = body

    def child_by_field_name(self, name: str):
        return self._body if name == "body" else None


def _headed_function(tu: TranslationUnit, unit: FileUnit, src: Source, body: Node,
                     use: MacroUse, sections: list[tuple[int, str]]) -> FunctionDef | None:
    """The function a macro's header and the body after it make: the name, parameters and
    program macro read from the header's expansion, the body walked where it is written."""
    root = parse_snippet(use.source.code).root_node
    head = next((c for c in root.named_children if c.type == "function_definition"), None)
    fd = _function(tu, unit, use.source, head, use.sections) if head is not None else None
    if fd is None or root.has_error:
        _not_followed(tu, unit, use, "the function header it writes does not parse")
    if fd is None:
        return None
    node = _Headed(unit, use, body)
    section, section_offset = fd.info.section, fd.section_offset
    if section is None:
        found = _section_for(node, sections)
        if found is not None:
            section_offset, section = found
    info = FunctionInfo(fd.name, unit.path, src.range(use.start, body.end_byte),
                        fd.info.name_range, section=section, is_static=fd.info.is_static,
                        macro=fd.macro)
    params = [(p, et, _Span(*use.source.origin(pn.start_byte, pn.end_byte))
               if pn is not None else None) for p, et, pn in fd.params]
    out = FunctionDef(fd.name, node, src, info, fd.ret, params, fd.macro,  # type: ignore[arg-type]
                      origin=unit.data[use.start:use.end])
    out.param_types = fd.param_types
    out.section_offset = section_offset
    return out



def _toplevel_nodes(root: Node) -> list:
    out: list = []
    stack = list(reversed(root.children))
    while stack:
        n = stack.pop()
        if n.type in ("linkage_specification", "declaration_list"):
            stack.extend(reversed(n.children))
            continue
        if n.type == "ERROR":
            out.extend(_recover(n))
            continue
        out.append(n)
    return out


_TYPE_NODES = frozenset({"primitive_type", "sized_type_specifier", "type_identifier",
                         "struct_specifier", "union_specifier", "enum_specifier",
                         "macro_type_specifier"})


class _Body:
    type = "compound_statement"

    def __init__(self, stmts: list) -> None:
        self.named_children = stmts
        self.children = stmts
        self.start_byte = stmts[0].start_byte if stmts else 0
        self.end_byte = stmts[-1].end_byte if stmts else 0


class _Recovered:
    """A function tree-sitter could not close (half-typed code): its parts, found inside an
    ERROR node, standing in for a ``function_definition``."""

    type = "function_definition"
    prev_sibling = None

    def __init__(self, before: list, type_node, decl, stmts: list) -> None:
        self.children = before + ([type_node] if type_node is not None else []) + [decl]
        first = self.children[0]
        last = stmts[-1] if stmts else decl
        self.start_byte, self.end_byte = first.start_byte, last.end_byte
        self.start_point, self.end_point = first.start_point, last.end_point
        self._fields = {"type": type_node, "declarator": decl, "body": _Body(stmts)}

    def child_by_field_name(self, name: str):
        return self._fields.get(name)


def _recover(err: Node) -> list:
    """What can be used inside an ERROR node: whole definitions, and unfinished functions."""
    out: list = []
    kids = err.children
    i = 0
    while i < len(kids):
        k = kids[i]
        if k.type == "ERROR":
            out.extend(_recover(k))
            i += 1
            continue
        if k.type != "function_declarator":
            out.append(k)
            i += 1
            continue
        type_node = None
        before: list = []
        j = i - 1
        if j >= 0 and kids[j].type in _TYPE_NODES:
            type_node = kids[j]
            j -= 1
        while j >= 0 and kids[j].type in ("storage_class_specifier", "type_qualifier"):
            before.insert(0, kids[j])
            j -= 1
        m = i + 1
        stmts = []
        while m < len(kids) and kids[m].type not in ("function_declarator", "function_definition"):
            if kids[m].is_named and not (kids[m].type in _TYPE_NODES and m + 1 < len(kids)
                                         and kids[m + 1].type == "function_declarator"):
                stmts.append(kids[m])
            m += 1
        out.append(_Recovered(before, type_node, k, stmts))
        i = m
    return out


def _section_for(n: Node, sections: list[tuple[int, str]]) -> tuple[int, str] | None:
    """The last SEC (offset, name; ``sections`` sorted) between the previous top-level item and
    the end of ``n``, not inside its body. Comments are no items (``SEC("x") // note`` names
    the function after the comment), but what they say is no SEC."""
    prev = n.prev_sibling
    comments: list[tuple[int, int]] = []
    while prev is not None and prev.type == "comment":
        comments.append((prev.start_byte, prev.end_byte))
        prev = prev.prev_sibling
    prev_end = prev.end_byte if prev is not None else 0
    found = None
    end = n.end_byte
    i = bisect_left(sections, (min(prev_end, n.start_byte), ""))
    body_start: int | None = None
    while i < len(sections) and sections[i][0] < end:
        off, name = sections[i]
        i += 1
        if body_start is None:
            body = n.child_by_field_name("body")
            body_start = body.start_byte if body is not None else end
        if off >= body_start or any(s <= off < e for s, e in comments):
            continue
        found = (off, name)
    return found


def _function(tu: TranslationUnit, unit: FileUnit, src: Source, n: Node,
              sections: list[tuple[int, str]]) -> FunctionDef | None:
    lt = tu.lt
    parts = kernel_names.function_parts(src, n)
    if parts is None:
        return None
    name, name_node, pdecls, wrappers = parts
    macro = None
    if name in catalogue.PROGRAM_MACROS and pdecls:
        macro = name
        name_node = pdecls[0]
        name = src.text(pdecls[0]).strip()
        pdecls = pdecls[1:]
    is_static = any(c.type == "storage_class_specifier" and src.text(c) == "static"
                    for c in n.children)
    found = _section_for(n, sections)
    section = found[1] if found is not None else None
    ret_desc = lt.desc_of_type(n.child_by_field_name("type"), unit, n)
    for w in reversed(wrappers):
        if w.type == "pointer_declarator":
            ret_desc = ("ptr", ret_desc)
    params: list[tuple[str, EType | None, Node | None]] = []
    param_types: list[tuple[str, Desc | None, Range]] = []
    if macro is not None:
        for pname, d, pnode, text, span in kernel_names.macro_params(lt, unit, src, macro,
                                                                    pdecls):
            params.append((pname, etype_of_desc(d) if d else None, pnode))
            param_types.append((text, d, src.range(*span)))
    else:
        for p in pdecls:
            if p.type != "parameter_declaration":
                continue
            d = lt.desc_of_type(p.child_by_field_name("type"), unit, p)
            pname, d2, pnode = lt.apply_declarator(d, p.child_by_field_name("declarator"), unit)
            if pname:
                params.append((pname, etype_of_desc(d2), pnode))
    info = FunctionInfo(name, unit.path, src.node_range(n), src.node_range(name_node),
                        section=section, is_static=is_static, macro=macro)
    fd = FunctionDef(name, n, src, info, etype_of_desc(ret_desc), params, macro)
    fd.param_types = param_types
    if found is not None:
        fd.section_offset = kernel_names.section_offset(src, found[0])
    return fd


def _globals(tu: TranslationUnit, unit: FileUnit, n: Node, src: Source | None,
             sections: list[tuple[int, str]]) -> None:
    """A top-level declaration (``src``: the file's text; ``None`` in a macro's expansion):
    its variables and prototypes, and what it asks of the kernel (a map, a ksym, a struct_ops
    variable, a helper pointer of libbpf's)."""
    lt = tu.lt
    ty = n.child_by_field_name("type")
    if ty is None:
        return
    desc = lt.desc_of_type(ty, unit, n)
    section = ksym = weak = None
    if src is not None and not unit.virtual:
        found = _section_for(n, sections)
        section = found[1] if found is not None else None
        ksym, weak = kernel_names.ksym_attributes(unit, n.start_byte, n.end_byte)
    load_constant = kernel_names.load_constant(unit, n)
    for d in n.children_by_field_name("declarator"):
        decl = d.child_by_field_name("declarator") if d.type == "init_declarator" else d
        name, dd, name_node = lt.apply_declarator(desc, decl, unit)
        if not name:
            continue
        if dd[0] == "fn":
            # a prototype (kfuncs: `extern struct task_struct *bpf_task_acquire(...) __ksym;`)
            tu.prototypes.setdefault(name, etype_of_desc(dd[1]))
        else:
            tu.globals[name] = etype_of_desc(dd)
            if load_constant:
                tu.load_constants.add(name)
        if src is None or name_node is None:
            continue
        if ksym:
            _ksym(tu, unit, src, name, name_node, dd, bool(weak))
        elif section is not None:
            _kernel_object(tu, unit, src, section, name, name_node, ty, d)
        elif d.type == "init_declarator" and dd[0] != "fn":
            helper = kernel_names.helper_pointer(name, d, dd, src)
            if helper is not None:
                tu.helper_pointers[name] = helper
        elif dd[0] == "fn" and (m := tu.macros.get(name)) is not None and m.params is not None:
            toks = src.tokens(n.start_byte, n.end_byte)
            for pname, helper in kernel_names.macro_helper_pointers(toks, tu.macros):
                tu.helper_pointers[pname] = helper


def _ksym(tu: TranslationUnit, unit: FileUnit, src: Source, name: str, name_node: Node,
          desc: Desc, weak: bool) -> None:
    function = desc[0] == "fn"
    if function:
        tu.kfuncs.add(name)
    if name in tu.ksyms:
        return
    inner = desc
    while inner[0] == "cv":
        inner = inner[2]
    tu.ksyms[name] = Ksym(name, unit.path, src.node_range(name_node), function, weak,
                          tu.lt.made_id(desc), typed=function or inner != VOID)
    tu.ksym_descs[name] = desc


def _kernel_object(tu: TranslationUnit, unit: FileUnit, src: Source, section: str, name: str,
                   name_node: Node, ty: Node, d: Node) -> None:
    """A map or a struct_ops variable."""
    init = d.child_by_field_name("value") if d.type == "init_declarator" else None
    rng = src.node_range(name_node)
    if section in kernel_names.MAP_SECTIONS or section in kernel_names.LEGACY_MAP_SECTIONS:
        definition = None
        tag = ty.child_by_field_name("name")
        if ty.type == "struct_specifier" and tag is not None and \
                ty.child_by_field_name("body") is None:
            found = tu.lt.tag_definition("struct", src.text(tag))
            if found is not None:
                node, where = found
                definition = (node, src if where is unit else Source(where, bytes(where.code)))
        tu.maps.append(kernel_names.map_def(name, unit.path, rng, src, ty, init, tu.macros,
                                            definition))
    elif section in kernel_names.STRUCT_OPS_SECTIONS:
        ops = kernel_names.struct_ops_def(name, unit.path, rng, src, ty, init)
        if ops is not None:
            tu.struct_ops.append(ops)
