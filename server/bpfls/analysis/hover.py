"""Hover: what the identifier under the cursor is, on the primary kernel and on the others.

- a member (after ``->``/``.`` or named in a ``BPF_CORE_READ*`` hop): its C type, offset, size
  and bitfield position, and a table of every kernel (same / different offset / type / size /
  missing);
- a struct, union, enum or typedef name: its C definition (from the primary kernel, or the
  program's own), size, and the kernels that lack it or define it differently; a flavor
  (``task_struct___old``) names the kernel type it relocates against;
- a local variable, parameter or global: its type;
- a BPF helper: its prototype and description (``bpf_helper_defs.h``) and the kernels whose
  ``enum bpf_func_id`` lacks it; a kernel function (kfunc): its prototype from BTF and the
  kernels without it; a macro: its definition; an enumerator: its value on each kernel;
- a ``SEC("...")`` target: the function, LSM hook or tracepoint it attaches to.

On a CO-RE access, when clang compiled the same text (:class:`Emitted`), a last line says
whether clang emits the relocation predicted there.

:func:`hover` never raises; ``None`` means nothing to say.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bpfls.analysis import attach, facts, sections
from bpfls.analysis.helper_table import HELPERS
from bpfls.btf import Btf, BtfError, Kind
from bpfls.btf.cnames import type_name
from bpfls.core.names import essential_name
from bpfls.source.catalogue import MACROS
from bpfls.source.positions import Position, Range
from bpfls.source.query import Context, context_at

if TYPE_CHECKING:
    from bpfls.analysis.report import RelocationReport
    from bpfls.btf.model import Type
    from bpfls.project.kernels import KernelSet
    from bpfls.source.model import SourceModel

MAX_DEFINITION_LINES = 120


@dataclass(frozen=True)
class HoverInfo:
    markdown: str  # LSP MarkupContent(kind=markdown) value
    range: Range | None  # the hovered token


@dataclass(frozen=True)
class Emitted:
    """What clang emitted for the text of the source model: the relocations of its object as
    the compiled report places them (on the predicted tokens), and when it was compiled (as
    shown, e.g. ``14:03:07``)."""

    relocations: Sequence[RelocationReport]
    when: str


def hover(model: SourceModel, kernels: KernelSet, path: str, text: str,
          position: Position, emitted: Emitted | None = None) -> HoverInfo | None:
    """What to show for ``position`` of ``text`` (the current text of ``path``); ``emitted``:
    what clang emitted for that text, when it was compiled."""
    try:
        return _hover(model, kernels, text, position, emitted)
    except Exception:  # noqa: BLE001 - a hover must never take the editor down
        return None


def _hover(model: SourceModel, kernels: KernelSet, text: str, position: Position,
           emitted: Emitted | None = None) -> HoverInfo | None:
    ctx = context_at(model, text, position)
    md = _markdown(ctx, kernels)
    if not md:
        return None
    if emitted is not None and ctx.range is not None:
        note = clang_note(model, ctx.range, emitted)
        if note:
            md = f"{md}\n\n{note}"
    return HoverInfo(md, ctx.range)


def _markdown(ctx: Context, kernels: KernelSet) -> str | None:
    kind = ctx.kind
    if kind in ("member", "core-read"):
        md = member_hover(ctx, kernels)
        if md is None and ctx.word in (ctx.model.macros or {}):
            return identifier_hover(ctx, kernels)  # a macro naming a path (#define ORIG ...)
        return md
    if kind == "tag":
        return tag_hover(ctx.model, kernels, ctx.tag, ctx.word)
    if kind == "section":
        return section_hover(ctx.model, kernels, ctx.word.strip('"'))
    if kind == "enum-value":
        return enumerator_hover(ctx.model, kernels, ctx.word) if ctx.word else None
    if kind == "identifier":
        return identifier_hover(ctx, kernels)
    return None


def clang_note(model: SourceModel, token: Range, emitted: Emitted) -> str | None:
    """Whether clang emits the relocations predicted at ``token`` (the access's member, type
    or enumerator, or a member on its way), or ``None`` when none is predicted there."""
    accesses = [a for a in model.accesses
                if a.path == model.path and (a.range == token or
                                             any(x.range == token for x in a.accessors))]
    if not accesses:
        return None
    here = {(str(a.kind), a.spec, a.range) for a in accesses}
    found = {(r.kind, r.spec, r.range) for r in emitted.relocations if r.path == model.path}
    when = f"(compiled at {emitted.when})"
    if here <= found:
        return f"clang emits {'this relocation' if len(here) == 1 else 'these relocations'} " \
            + when
    if not here & found:
        drift = all(a.reachable for a in accesses)
        return f"not emitted by clang {when}" + (
            ": the prediction differs from clang's object" if drift else "")
    return f"clang {when}:\n\n" + "\n".join(
        f"- `{kind}` `{spec}`: " + ("emitted" if (kind, spec, r) in found else "not emitted")
        for kind, spec, r in sorted(here))


# -- pieces ------------------------------------------------------------------------------------

def code(text: str) -> str:
    return f"```c\n{text}\n```"


def _tick(s: str) -> str:
    return f"`{s}`" if "`" not in s else f"``{s}``"


def _primary_name(kernels: KernelSet | None) -> str:
    return kernels.primary if kernels is not None and kernels.primary else ""


_DEFINITIONS: weakref.WeakKeyDictionary[Btf, dict[tuple[int, bool], str]] = \
    weakref.WeakKeyDictionary()


def _definition(btf: Btf, t: Type) -> str:
    """The C definition of ``t``, cut to :data:`MAX_DEFINITION_LINES`: as in bpftool's header
    (``___N`` names of clashing types) once that header was rendered (go to definition
    renders it), else rendered alone with the real names (quick)."""
    # the C renderer loads with the first kernel definition shown (member hovers stay quick)
    from bpfls.btf.dump_c import renderer

    exact = renderer(btf).dumped
    per = _DEFINITIONS.get(btf)
    if per is None:
        per = _DEFINITIONS[btf] = {}
    key = (t.id, exact)
    hit = per.get(key)
    if hit is None:
        if len(per) > 4096:
            per.clear()
        hit = per[key] = _render_definition(btf, t, exact)
    return hit


def _render_definition(btf: Btf, t: Type, exact: bool) -> str:
    # the C renderer loads with the first kernel definition shown (member hovers stay quick)
    from bpfls.btf.dump_c import render_c

    try:
        text = render_c(btf, t, real_names=not exact)
    except (BtfError, RecursionError):
        return type_name(btf, t.id)
    lines = text.split("\n")
    if len(lines) > MAX_DEFINITION_LINES:
        more = len(lines) - MAX_DEFINITION_LINES
        lines = lines[:MAX_DEFINITION_LINES - 1] + [f"\t/* ... {more} more lines */", lines[-1]]
    return "\n".join(lines)


# -- members ------------------------------------------------------------------------------------

def member_hover(ctx: Context, kernels: KernelSet) -> str | None:
    model = ctx.model
    rec = ctx.record()
    if rec is None or not ctx.word:
        return None
    name = ctx.word
    local = facts.member_fact(rec, name)
    side = facts.kernel_side(model, rec)
    rec_name = type_name(model.local, rec.id)
    parts: list[str] = []
    if local is not None:
        parts.append(code(f"{_decl(local.type, name)};"))
    if side is None:
        # the program's own type: its layout is the program's
        if local is None:
            return None
        parts.append(_member_line(rec_name, local, "this program"))
        return "\n\n".join(parts)
    kind, ename = side
    rows = facts.member_across(kernels, kind, ename, name)
    primary = _primary_name(kernels)
    ref = next((r.fact for r in rows if r.kernel == primary and r.fact is not None), None)
    if ref is None:
        ref = next((r.fact for r in rows if r.fact is not None), None)
    if local is None:
        if ref is None:
            return None
        parts.append(code(f"{_decl(ref.type, name)};"))
    target = f"{kind} {ename}"
    if ref is not None and primary and any(r.kernel == primary and r.fact is not None
                                           for r in rows):
        parts.append(_member_line(target, ref, primary))
    elif local is not None:
        parts.append(_member_line(rec_name, local, "this program")
                     + (f"\n\nnot in `{target}` of {primary}" if primary else ""))
    else:
        parts.append(f"`{target}.{name}` is not in the primary kernel")
    if rec_name != target:
        parts.append(f"relocated against `{target}`")
    if rows:
        # a flavor's members are found by name wherever they are: no reference layout
        is_flavor = rec.id >= model.local.start_id
        parts.append(_member_table(rows, None if is_flavor else ref, kind, ename))
    return "\n\n".join(parts)


def _decl(tname: str, name: str) -> str:
    if tname.endswith("*"):
        return f"{tname}{name}"
    if "[" in tname:  # char [16] → char name[16]
        i = tname.index("[")
        return f"{tname[:i].rstrip()} {name}{tname[i:]}"
    if "(*)" in tname:
        return tname.replace("(*)", f"(*{name})", 1)
    return f"{tname} {name}"


def _member_line(owner: str, f: facts.MemberFact, where: str) -> str:
    s = f"member of `{owner}` · offset **{f.bit_offset // 8}**"
    if f.bitfield_size:
        s += f" bit **{f.bit_offset % 8}** · bitfield of **{f.sized()}**"
    else:
        s += f" · size **{f.sized()}**"
    return s + f" ({where})"


def _member_table(rows: list[facts.KernelMember], ref: facts.MemberFact | None, kind: str,
                  ename: str) -> str:
    out = ["| kernel | offset | size | status |", "|---|---|---|---|"]
    for r in rows:
        f = r.fact
        if f is None:
            note = "missing" if r.status == "missing" else f"no `{kind} {ename}`"
            out.append(f"| {r.kernel} | — | — | {note} |")
            continue
        status = r.status if ref is None else facts.member_difference(f, ref)
        if status == "different type":
            status = f"type {_tick(f.type)}"
        out.append(f"| {r.kernel} | {f.where()} | {f.sized()} | {status} |")
    return "\n".join(out)


# -- types --------------------------------------------------------------------------------------

def tag_hover(model: SourceModel, kernels: KernelSet, tag: str, name: str) -> str | None:
    """``struct NAME``, ``union NAME``, ``enum NAME`` as the program sees it."""
    if not name:
        return None
    t = _local_tag(model, tag, name)
    return type_hover(model, kernels, t, tag, name)


def _local_tag(model: SourceModel, tag: str, name: str) -> Type | None:
    lt = model.scope.types if model.scope is not None else None
    tid = None
    if lt is not None:
        try:
            tid = lt.tag_id(tag, name, create_fwd=False)
        except (BtfError, KeyError):
            tid = None
    if tid is not None:
        try:
            return model.local[tid]
        except BtfError:
            return None
    return facts.find_kind(model.local, tag, name)


def type_hover(model: SourceModel, kernels: KernelSet, t: Type | None, kind: str,
               name: str) -> str | None:
    """The definition of ``t`` (the program's view of ``kind name``; ``None`` when the program
    does not know it) and how each kernel defines it."""
    parts: list[str] = []
    primary = _primary_name(kernels)
    if t is not None and t.kind == Kind.FWD:
        t = None
    side = facts.kernel_side(model, t) if t is not None else (kind, essential_name(name))
    in_kernel = t is not None and t.id < model.local.start_id
    rows = facts.type_across(kernels, side[0], side[1], None) if side is not None else []
    kref = next((r.type for r in rows if r.kernel == primary and r.type is not None), None)
    shown, where = t, (primary or "the kernel") if in_kernel else "this program"
    if shown is None:
        first = next((r for r in rows if r.type is not None), None)
        if first is None:
            return None
        shown, where = first.type, first.kernel
    parts.append(code(_definition(shown.btf, shown)))
    size = _size(shown.btf, shown)
    if size is not None:
        what = f"`{kind} {name}`"
        if shown.kind == Kind.TYPEDEF:
            try:
                what += f" → `{type_name(shown.btf, shown.btf.resolve(shown.id).id)}`"
            except (BtfError, RecursionError, KeyError):
                pass
        parts.append(f"{what} · size **{size}** ({where})")
    if side is None:
        return "\n\n".join(parts)
    skind, ename = side
    if t is not None and not in_kernel:
        parts.append(f"relocated against `{skind} {ename}`"
                     + ("" if kref is not None or not primary else f" (not in {primary})"))
    compare_to = kref if kref is not None else (shown if shown is not t or in_kernel else None)
    if compare_to is None:
        compare_to = next((r.type for r in rows if r.type is not None), None)
    rows = facts.type_across(kernels, skind, ename, compare_to)
    if not rows:
        return "\n\n".join(parts)
    out = ["| kernel | status |", "|---|---|"]
    for r in rows:
        if r.status == "missing":
            note = "missing"
        elif r.status == "differs":
            note = r.detail
        elif r.kernel == primary:
            note = "primary"
        elif compare_to is not None and r.type is compare_to:
            note = "shown above"
        else:
            note = "same"
        out.append(f"| {r.kernel} | {note} |")
    parts.append("\n".join(out))
    return "\n\n".join(parts)


def _size(btf: Btf, t: Type) -> int | None:
    try:
        if t.kind in (Kind.FUNC, Kind.FWD):
            return None
        return btf.size_of(t.id)
    except (BtfError, TypeError):
        return None


# -- identifiers --------------------------------------------------------------------------------

def identifier_hover(ctx: Context, kernels: KernelSet) -> str | None:
    model = ctx.model
    name = ctx.word
    if not name:
        return None
    if not ctx.called:
        sym = ctx.symbol()
        if sym is not None:
            return _symbol_hover(model, sym)
    fn = model.functions.get(name)
    if fn is not None:
        return _program_function_hover(ctx, fn, kernels)
    intrinsic = _intrinsic_hover(ctx.env.alias(name))
    if intrinsic is not None:
        return intrinsic
    macro_md = None
    m = (model.macros or {}).get(name)
    if m is not None:
        macro_md = _macro_hover(m)
    helper = helper_hover(kernels, name)
    if helper is not None:
        return helper
    if ctx.called or m is None:
        kf = kfunc_hover(model, kernels, name)
        if kf is not None:
            return kf
    if macro_md is not None:
        return macro_md
    if ctx.called:
        sym = ctx.symbol()
        if sym is not None:
            return _symbol_hover(model, sym)
    td = _typedef(model, name)
    if td is not None:
        return type_hover(model, kernels, td, "typedef", name)
    en = enumerator_hover(model, kernels, name)
    if en is not None:
        return en
    return None


def _intrinsic_hover(name: str) -> str | None:
    """libbpf's CO-RE and program macros: the signature and what they do."""
    m = MACROS.get(name)
    if m is None or m.doc is None:
        return None
    return f"{code(m.signature)}\n\n{m.doc}"


def _typedef(model: SourceModel, name: str) -> Type | None:
    lt = model.scope.types if model.scope is not None else None
    if lt is not None:
        try:
            tid = lt.typedefs.get(name)
            if tid is None:
                tid = lt.typedef_id(name)
        except (BtfError, KeyError, AttributeError):
            tid = None
        if tid is not None:
            try:
                return model.local[tid]
            except BtfError:
                return None
    return facts.find_kind(model.local, "typedef", name)


def _symbol_hover(model: SourceModel, sym) -> str:
    what = {"local": "local variable", "parameter": "parameter", "global": "global variable"}
    tname = ""
    if sym.etype is not None:
        try:
            tname = type_name(model.local, sym.etype.tid)
            if sym.etype.ptr:
                stars = "*" * sym.etype.ptr
                if sym.etype.n >= 0:
                    stars = "*" * (sym.etype.ptr - 1)
                tname = f"{tname} {stars}" if not tname.endswith("*") else f"{tname}{stars}"
                tname = tname.rstrip()
            if sym.etype.n >= 0:
                tname = f"{tname} [{sym.etype.n}]"
        except (BtfError, KeyError, RecursionError):
            tname = ""
    if not tname and sym.spelling:
        tname = sym.spelling
    decl = _decl(tname, sym.name) if tname else sym.name
    out = [code(f"{decl};"), f"*{what.get(sym.kind, sym.kind)}*"]
    if sym.spelling and tname and " ".join(sym.spelling.split()) != tname and \
            sym.spelling not in ("__auto_type",):
        out[-1] += f" declared as `{sym.spelling}`"
    return "\n\n".join(out)


def _program_function_hover(ctx: Context, fn, kernels: KernelSet | None = None) -> str:
    lines = ctx.env.lines
    head = ""
    start = fn.range.start.line
    if 0 <= start < len(lines):
        buf = []
        for ln in range(start, min(start + 8, len(lines))):
            s = lines[ln]
            cut = s.find("{")
            buf.append(s if cut < 0 else s[:cut])
            if cut >= 0 or s.rstrip().endswith(")"):
                break
        head = "\n".join(x.rstrip() for x in buf).strip()
    out = [code(head)] if head and fn.name in head else [f"`{fn.name}`"]
    notes = []
    if fn.section is not None:
        notes.append(f'program `SEC("{fn.section}")`')
    elif fn.is_static:
        notes.append("static function")
    else:
        notes.append("global function (verified on its own)")
    if not fn.reachable and fn.section is None:
        notes.append("not called from any program")
    out.append(" · ".join(notes))
    if fn.section is not None and kernels is not None:
        try:  # the attach target on each kernel, as on SEC("...")
            target = section_hover(ctx.model, kernels, fn.section)
        except Exception:  # noqa: BLE001 - a hover never fails
            target = None
        if target and target != f'program section `SEC("{fn.section}")`':
            out.append("---\n\n" + target)
    return "\n\n".join(out)


def _macro_hover(m) -> str:
    params = ""
    if m.params is not None:
        ps = list(m.params)
        if m.variadic:
            ps.append("...")
        params = f"({', '.join(ps)})"
    body = m.text
    if len(body) > 600:
        body = body[:600] + " ..."
    return code(f"#define {m.name}{params} {body}".rstrip())


def helper_hover(kernels: KernelSet | None, name: str) -> str | None:
    h = HELPERS.get(name)
    if h is None:
        return None
    hid, proto, summary, returns = h
    out = [code(f"{proto};"), f"BPF helper {hid}"]
    if summary:
        out.append(summary)
    if returns:
        out.append(f"**Returns** {returns}")
    enum_name = f"BPF_FUNC_{name.removeprefix('bpf_')}"
    rows = facts.enum_value_across(kernels, enum_name)
    lacking = [k for k, v in rows if v is None]
    if lacking:
        out.append(f"not on: {', '.join(lacking)} (no `{enum_name}` in `enum bpf_func_id`)")
    return "\n\n".join(out)


def kfunc_hover(model: SourceModel, kernels: KernelSet | None, name: str) -> str | None:
    """A function of the kernels' BTF (kfuncs, attach targets)."""
    fn = None
    btf = None
    for k in facts.ordered_kernels(kernels):
        fn = facts.find_kind(k.btf, "func", name)  # type: ignore[arg-type]
        if fn is not None:
            btf = k.btf
            break
    if fn is None:
        fn = facts.find_kind(model.local, "func", name)
        btf = model.local
    if fn is None or btf is None:
        return None
    # the C renderer loads with the first prototype shown (member hovers stay quick)
    from bpfls.btf.dump_c import render_c

    try:
        proto = render_c(btf, fn, real_names=True)
    except (BtfError, RecursionError):
        proto = f"{name}(...)"
    out = [code(proto), "kernel function"]
    missing = [k.name for k in facts.ordered_kernels(kernels)
               if facts.find_kind(k.btf, "func", name) is None]  # type: ignore[arg-type]
    if missing:
        out.append(f"not on: {', '.join(missing)}")
    return "\n\n".join(out)


def enumerator_hover(model: SourceModel, kernels: KernelSet | None, name: str) -> str | None:
    info = facts.local_enumerator(model, name)
    rows = facts.enum_value_across(kernels, name)
    if info is None and not any(v is not None for _, v in rows):
        return None
    parts = []
    ename = ""
    if info is not None:
        try:
            ename = type_name(model.local, info.type_id)
        except (BtfError, KeyError):
            ename = ""
        parts.append(code(f"{name} = {info.value}"))
        if ename:
            parts.append(f"enumerator of `{ename}`")
    else:
        first = next(v for _, v in rows if v is not None)
        parts.append(code(f"{name} = {first}"))
    if rows:
        ref = info.value if info is not None else None
        out = ["| kernel | value |", "|---|---|"]
        for k, v in rows:
            if v is None:
                out.append(f"| {k} | missing |")
            else:
                mark = "" if ref is None or v == ref else " (differs)"
                out.append(f"| {k} | {v}{mark} |")
        parts.append("\n".join(out))
    return "\n\n".join(parts)


# -- SEC("...") ----------------------------------------------------------------------------------

#: section kinds (:mod:`.sections`) whose target hover describes as a kernel function
FUNC_TARGETS = sections.FUNC_KINDS - {"kprobe.session"}


def section_hover(model: SourceModel, kernels: KernelSet, section: str) -> str | None:
    md = _section_hover(model, kernels, section)
    differ = prototypes_across(kernels, section)
    if md is not None and differ:
        md += "\n\n" + differ
    return md


def prototypes_across(kernels: KernelSet | None, section: str) -> str:
    """The attach target's prototypes where the kernels disagree (each with its kernels), or
    ""."""
    if kernels is None:
        return ""
    info = sections.section_info(section)
    if not info.known or not info.target:
        return ""
    seen: dict[str, list[str]] = {}
    for v in attach.views(kernels):
        t = v.target(info)
        if t.ok and t.btf is not None and t.proto_id is not None:
            proto = attach.render(t.btf, t.proto_id, info.target.split("/")[-1])
            seen.setdefault(proto, []).append(v.name)
    if len(seen) < 2:
        return ""
    return "prototype per kernel:\n\n" + "\n".join(
        f"- `{p}`: {', '.join(ks)}" for p, ks in seen.items())


def _section_hover(model: SourceModel, kernels: KernelSet, section: str) -> str | None:
    prefix, _, target = section.partition("/")
    if not target:
        return f'program section `SEC("{section}")`'
    kind = sections.head_kind(prefix + "/")
    if kind in FUNC_TARGETS:
        target = target.split("+")[0]
        md = kfunc_hover(model, kernels, target)
        return md or f"`{target}`: no such function in the kernels' BTF"
    if kind in sections.LSM_KINDS:
        md = kfunc_hover(model, kernels, f"bpf_lsm_{target}")
        return md or f"`{target}`: no such LSM hook (`bpf_lsm_{target}`) in the kernels' BTF"
    if kind in sections.TP_KINDS:
        td = None
        for k in facts.ordered_kernels(kernels):
            td = facts.find_kind(k.btf, "typedef", f"btf_trace_{target}")  # type: ignore[arg-type]
            if td is not None:
                break
        if td is None:
            return f"`{target}`: no such tracepoint (`btf_trace_{target}`) in the kernels' BTF"
        out = [code(_definition(td.btf, td)), f"tracepoint `{target}`"]
        missing = [k.name for k in facts.ordered_kernels(kernels)
                   if facts.find_kind(k.btf, "typedef", f"btf_trace_{target}") is None]  # type: ignore[arg-type]
        if missing:
            out.append(f"not on: {', '.join(missing)}")
        return "\n\n".join(out)
    return f'program section `SEC("{section}")`'
