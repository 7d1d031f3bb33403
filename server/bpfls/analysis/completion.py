"""Completion: members, type names, enumerators, section names and attach targets, each marked
with the kernels it is missing on.

- after ``->`` / ``.``, and in each ``BPF_CORE_READ*`` argument after the source (also after a
  ``.`` inside one argument): the members of the struct or union at that point, anonymous
  members' members included, in declaration order;
- after ``struct`` / ``union`` / ``enum``: type names of the kernels and of the program;
- in ``bpf_core_enum_value*(enum X, |)``: the enumerators of ``X``;
- inside ``SEC("...")``: libbpf's section names, then the attach targets after ``fentry/``,
  ``fexit/``, ``fmod_ret/``, ``kprobe/``, ``kretprobe/`` (kernel functions), ``lsm/`` (LSM
  hooks: the ``bpf_lsm_<hook>`` functions), ``tp_btf/``, ``raw_tp/`` (BTF tracepoints);
- an identifier: the BPF helpers and the variables in scope.

Lists that can be huge (type names, kernel functions) are cut by the typed prefix and to
:data:`MAX_ITEMS` (``is_incomplete`` is then set, so the client asks again as the user types).
Per-kernel name lists are built once per kernel (:func:`bpfls.analysis.kernelindex.prepare`
builds them ahead of time); member lists are cached per program type.

:func:`complete` never raises.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bpfls.analysis import attach, facts, sections
from bpfls.analysis.helper_table import HELPERS
from bpfls.analysis.kernelindex import KIND_CODES, index_of, with_prefix
from bpfls.btf import BtfError, Kind
from bpfls.btf.cnames import type_name
from bpfls.core.names import essential_name
from bpfls.source.exprtypes import member_paths
from bpfls.source.positions import Position, Range
from bpfls.source.query import Context, context_at

if TYPE_CHECKING:
    from bpfls.btf import Btf
    from bpfls.btf.model import Type
    from bpfls.project.kernels import Kernel, KernelSet
    from bpfls.source.model import SourceModel

MAX_ITEMS = 500
#: at most this many items get a computed prototype as their detail
MAX_DETAILED = 100
TRIGGER_CHARACTERS = (">", ".", ",", "(", '"', "/")


@dataclass(frozen=True)
class CompletionEntry:
    label: str
    kind: str  # "field" | "struct" | "union" | "enum" | "typedef" | "enumerator"
    # | "function" | "tracepoint" | "program-type" | "keyword" | "variable"
    detail: str = ""  # its C type / signature
    documentation: str | None = None  # markdown
    missing_on: tuple[str, ...] = ()  # kernels where it does not exist
    insert_text: str | None = None
    sort_text: str | None = None
    filter_text: str | None = None


@dataclass(frozen=True)
class CompletionResult:
    items: list[CompletionEntry]
    is_incomplete: bool = False
    replace_range: Range | None = None  # the partial word being completed


EMPTY = CompletionResult([])


def complete(model: SourceModel, kernels: KernelSet, path: str, text: str,
             position: Position) -> CompletionResult:
    """The completions at ``position`` of ``text`` (the current text of ``path``)."""
    try:
        return _complete(model, kernels, text, position)
    except Exception:  # noqa: BLE001 - completion must never take the editor down
        return EMPTY


def _complete(model: SourceModel, kernels: KernelSet, text: str,
              position: Position) -> CompletionResult:
    ctx = context_at(model, text, position)
    kind = ctx.kind
    replace = _replace_range(ctx, position)
    if kind in ("member", "core-read"):
        rec = ctx.record()
        if rec is None:
            return EMPTY
        return CompletionResult(member_items(model, kernels, rec), False, replace)
    if kind == "tag":
        items, more = tag_items(model, kernels, ctx.tag, ctx.prefix)
        return CompletionResult(items, more, replace)
    if kind == "enum-value":
        enum = ctx.enum()
        if enum is None:
            return EMPTY
        return CompletionResult(enumerator_items(model, kernels, enum), False, replace)
    if kind == "section":
        return section_items(kernels, ctx, position)
    if kind == "identifier" and ctx.prefix:
        items, more = identifier_items(model, ctx, kernels)
        return CompletionResult(items, more, replace)
    return EMPTY


def _replace_range(ctx: Context, position: Position) -> Range:
    r = ctx.range
    if r is None or not ctx.word or ctx.kind == "section":
        return Range(position, position)
    return Range(Position(r.start.line, r.start.column), position)


# -- members ------------------------------------------------------------------------------------

_MEMBER_CACHE: weakref.WeakKeyDictionary[Btf, dict[tuple, list[CompletionEntry]]] = \
    weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def member_items(model: SourceModel, kernels: KernelSet | None,
                 rec: Type) -> list[CompletionEntry]:
    """Every member reachable by name in ``rec`` (through anonymous members), in order."""
    key = (rec.id, id(kernels))
    with _LOCK:
        per = _MEMBER_CACHE.get(model.local)
        if per is None:
            per = _MEMBER_CACHE[model.local] = {}
        hit = per.get(key)
    if hit is not None:
        return hit
    items = _member_items(model, kernels, rec)
    with _LOCK:
        if len(per) > 256:
            per.clear()
        per[key] = items
    return items


def _member_items(model: SourceModel, kernels: KernelSet | None,
                  rec: Type) -> list[CompletionEntry]:
    btf = model.local
    paths = member_paths(rec)
    side = facts.kernel_side(model, rec)
    present: list[tuple[str, dict]] = []
    if side is not None:
        kind, ename = side
        for k in facts.ordered_kernels(kernels):
            krec = facts.find_kind(k.btf, kind, ename)  # type: ignore[arg-type]
            present.append((k.name, member_paths(krec) if krec is not None else {}))
    owner = type_name(btf, rec.id)
    items: list[CompletionEntry] = []
    for i, (name, (indices, records, m)) in enumerate(paths.items()):
        try:
            tname = type_name(btf, m.type_id)
        except (BtfError, RecursionError, KeyError):
            tname = ""
        off = facts.path_offset(btf, indices, records, m)
        where = f"offset {off // 8}" + (f" bit {off % 8}, {m.bitfield_size} bits"
                                        if m.bitfield_size else "")
        missing = tuple(k for k, ps in present if name not in ps)
        items.append(CompletionEntry(name, "field", tname, f"`{owner}` · {where}", missing,
                                     sort_text=f"{i:05d}"))
    return items


# -- type names ---------------------------------------------------------------------------------

_PER_KERNELS: dict[int, tuple[object, dict]] = {}


def kernel_cache(kernels: KernelSet | None) -> dict:
    """A cache that lives as long as this :class:`KernelSet` is the one in use."""
    key = id(kernels)
    hit = _PER_KERNELS.get(key)
    if hit is not None and hit[0] is kernels:
        if len(hit[1]) > 200_000:
            hit[1].clear()
        return hit[1]
    with _LOCK:
        if len(_PER_KERNELS) > 4:
            _PER_KERNELS.clear()
        cache: dict = {}
        _PER_KERNELS[key] = (kernels, cache)
        return cache


def tag_items(model: SourceModel, kernels: KernelSet | None, tag: str,
              prefix: str) -> tuple[list[CompletionEntry], bool]:
    """Struct, union or enum names starting with ``prefix``: the program's, then the
    kernels'."""
    ks = facts.ordered_kernels(kernels)
    program: dict[str, int] = {}
    kinds = {"struct": (Kind.STRUCT,), "union": (Kind.UNION,),
             "enum": (Kind.ENUM, Kind.ENUM64)}.get(tag, ())
    more = False
    for info in (model.local_types or {}).values():
        if info.kind == tag and info.name.startswith(prefix) and info.name not in program:
            program[info.name] = info.type_id
    found: dict[str, Kernel] = {}
    for k in ks:
        got, cut = with_prefix(index_of(k.btf).names(tag), prefix, MAX_ITEMS)  # type: ignore[arg-type]
        more = more or cut
        for n in got:
            found.setdefault(n, k)
    items: dict[str, CompletionEntry] = {}
    for n, tid in program.items():
        size = _size(model.local, tid)
        detail = f"{tag} {n}" + (f", {size} bytes" if size is not None else "") + \
            " (this program)"
        missing = () if "___" not in n else tuple(
            k.name for k in ks
            if essential_name(n) not in index_of(k.btf).name_set(tag))  # type: ignore[arg-type]
        items[n] = CompletionEntry(n, tag, detail, None, missing)
    cache = kernel_cache(kernels)
    sets = None
    for n in sorted(found):
        if n in items:
            continue
        key = ("tag", tag, n)
        e = cache.get(key)
        if e is None:
            if sets is None:
                sets = [(k.name, index_of(k.btf).name_set(tag)) for k in ks]  # type: ignore[arg-type]
            k = found[n]
            size = _size(k.btf, index_of(k.btf).ids(tag)[n])  # type: ignore[arg-type]
            e = cache[key] = CompletionEntry(
                n, tag, f"{tag} {n}" + (f", {size} bytes" if size is not None else ""), None,
                tuple(kn for kn, s in sets if n not in s))
        items[n] = e
    if not ks and model.local.base is not None:
        # no kernels loaded: the types of vmlinux.h
        for n, size in _base_types(model.local.base, kinds, prefix):
            if n not in items:
                items[n] = CompletionEntry(n, tag, f"{tag} {n}" + (
                    f", {size} bytes" if size is not None else ""))
    ordered = sorted(items)
    if len(ordered) > MAX_ITEMS:
        ordered = ordered[:MAX_ITEMS]
        more = True
    return [items[n] for n in ordered], more


def _size(btf: Btf, tid: int) -> int | None:
    try:
        t = btf[tid]
        if t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
            return t.size
    except (BtfError, TypeError):
        return None
    return None


def _base_types(btf: Btf, kinds: tuple, prefix: str) -> list[tuple[str, int | None]]:
    idx = index_of(btf)
    out = []
    for kname, codes in KIND_CODES.items():
        if any(int(k) in codes for k in kinds):
            got, _ = with_prefix(idx.names(kname), prefix, MAX_ITEMS)
            out.extend((n, _size(btf, idx.ids(kname)[n])) for n in got)
    return out


# -- enumerators --------------------------------------------------------------------------------

def enumerator_items(model: SourceModel, kernels: KernelSet | None,
                     enum: Type) -> list[CompletionEntry]:
    """The enumerators of ``enum``, in order."""
    key = ("enum", enum.id, id(kernels))
    with _LOCK:
        per = _MEMBER_CACHE.get(model.local)
        if per is None:
            per = _MEMBER_CACHE[model.local] = {}
        hit = per.get(key)
    if hit is None:
        hit = per[key] = _enumerator_items(model, kernels, enum)
    return hit


def _enumerator_items(model: SourceModel, kernels: KernelSet | None,
                      enum: Type) -> list[CompletionEntry]:
    side = facts.kernel_side(model, enum)
    present: list[tuple[str, set[str]]] = []
    if side is not None:
        for k in facts.ordered_kernels(kernels):
            kt = facts.find_kind(k.btf, "enum", side[1])  # type: ignore[arg-type]
            try:
                present.append((k.name, {v.name for v in kt.values} if kt is not None else set()))
            except (BtfError, TypeError):
                present.append((k.name, set()))
    try:
        values = enum.values
    except (BtfError, TypeError):
        return []
    owner = type_name(model.local, enum.id)
    return [CompletionEntry(v.name, "enumerator", f"{v.value}", f"`{owner}`",
                            tuple(k for k, s in present if v.name not in s),
                            sort_text=f"{i:05d}")
            for i, v in enumerate(values)]


# -- SEC("...") ----------------------------------------------------------------------------------

#: libbpf's section names (:mod:`.sections`, libbpf 1.x section_defs): name → what the
#: program is, then the other sections a BPF object has
SECTIONS: tuple[tuple[str, str], ...] = (*sections.completion_sections(),
                                          ("license", "the license"),
                                          (".maps", "BTF-defined maps"))
#: section kinds whose targets completion lists (function patterns of *.multi excluded)
FUNC_KINDS = sections.FUNC_KINDS - {"kprobe.multi", "kretprobe.multi"}


def section_items(kernels: KernelSet | None, ctx: Context, position: Position) -> CompletionResult:
    text = ctx.section
    r = ctx.range
    line = position.line
    start_col = r.start.column if r is not None else position.column
    slash = text.find("/")
    if slash >= 0:
        head = text[:slash + 1]
        rest = text[slash + 1:]
        target_start = start_col + len(head.encode())
        replace = Range(Position(line, target_start), position)
        kind = sections.head_kind(head)
        if kind in FUNC_KINDS:
            items, more = target_items(kernels, "func", rest, "function")
            return CompletionResult(items, more, replace)
        if kind in sections.LSM_KINDS:
            items, more = target_items(kernels, "lsm", rest, "function")
            return CompletionResult(items, more, replace)
        if kind in sections.TP_KINDS:
            items, more = target_items(kernels, "tracepoint", rest, "tracepoint")
            return CompletionResult(items, more, replace)
    replace = Range(Position(line, start_col), position)
    items = [CompletionEntry(name, "program-type", what, None, (), sort_text=f"{i:03d}")
             for i, (name, what) in enumerate(SECTIONS) if name.startswith(text)]
    return CompletionResult(items, False, replace)


_DETAILS: weakref.WeakKeyDictionary[Btf, dict[tuple[str, str], str]] = \
    weakref.WeakKeyDictionary()


def _target_detail(btf: Btf, kind: str, name: str) -> str:
    per = _DETAILS.get(btf)
    if per is None:
        per = _DETAILS[btf] = {}
    key = (kind, name)
    d = per.get(key)
    if d is not None:
        return d
    try:
        if kind == "tracepoint":
            t = facts.find_kind(btf, "typedef", f"btf_trace_{name}")
            d = type_name(btf, t.type_id) if t is not None else ""
        else:
            fname = f"bpf_lsm_{name}" if kind == "lsm" else name
            t = facts.find_kind(btf, "func", fname)
            d = type_name(btf, t.id) if t is not None else ""
    except (BtfError, RecursionError, KeyError):
        d = ""
    if len(per) > 20000:
        per.clear()
    per[key] = d
    return d


def target_items(kernels: KernelSet | None, kind: str, prefix: str,
                 item_kind: str) -> tuple[list[CompletionEntry], bool]:
    """Attach targets starting with ``prefix`` from every kernel (kernel functions, LSM hooks
    or tracepoints)."""
    ks = facts.ordered_kernels(kernels)
    found: dict[str, str] = {}  # name → the first kernel that has it
    more = False
    for k in ks:
        got, cut = with_prefix(index_of(k.btf).names(kind), prefix, MAX_ITEMS)  # type: ignore[arg-type]
        more = more or cut
        for n in got:
            found.setdefault(n, k.name)
    ordered = sorted(found)
    if len(ordered) > MAX_ITEMS:
        ordered = ordered[:MAX_ITEMS]
        more = True
    cache = kernel_cache(kernels)
    sets = None
    btf_of = {k.name: k.btf for k in ks}
    items = []
    detailed = len(ordered) <= MAX_DETAILED
    for n in ordered:
        key = ("target", kind, n, detailed)
        e = cache.get(key)
        if e is None:
            if sets is None:
                sets = [(k.name, index_of(k.btf).name_set(kind)) for k in ks]  # type: ignore[arg-type]
            detail = _target_detail(btf_of[found[n]], kind, n) if detailed else ""  # type: ignore[arg-type]
            if not detail:
                detail = {"lsm": "LSM hook", "tracepoint": "tracepoint"}.get(kind,
                                                                            "kernel function")
            e = cache[key] = CompletionEntry(n, item_kind, detail, None,
                                             tuple(k for k, s in sets if n not in s))
        items.append(e)
    return items, more


# -- identifiers --------------------------------------------------------------------------------

_HELPER_NAMES: list[str] = []


def identifier_items(model: SourceModel, ctx: Context, kernels: KernelSet | None = None
                     ) -> tuple[list[CompletionEntry], bool]:
    """BPF helpers (each marked with the kernels whose ``enum bpf_func_id`` lacks it) and the
    variables in scope whose names start with the typed prefix."""
    if not _HELPER_NAMES:
        _HELPER_NAMES.extend(sorted(HELPERS))
    prefix = ctx.prefix
    items: list[CompletionEntry] = []
    try:
        for s in ctx.symbols():
            if s.name.startswith(prefix) and s.name != ctx.word:
                tname = s.spelling
                if s.etype is not None:
                    try:
                        tname = type_name(model.local, s.etype.tid) + \
                            (" " + "*" * s.etype.ptr if s.etype.ptr else "")
                    except (BtfError, KeyError, RecursionError):
                        pass
                items.append(CompletionEntry(s.name, "variable", tname, f"*{s.kind}*", (),
                                             sort_text=f"0{s.name}"))
    except (BtfError, RecursionError, ValueError, IndexError):
        pass
    got, more = with_prefix(_HELPER_NAMES, prefix, MAX_ITEMS)
    views = attach.views(kernels) if kernels is not None else []
    for n in got:
        hid, proto, summary, _ = HELPERS[n]
        lacking = tuple(v.name for v in views if v.helper(n).ok is False)
        items.append(CompletionEntry(n, "function", proto, summary or None, lacking,
                                     sort_text=f"1{n}"))
    return items, more
