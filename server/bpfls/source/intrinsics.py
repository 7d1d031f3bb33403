"""The walker's model of the CO-RE macros and builtins: what each expansion relocates.

:func:`call_intrinsic` takes the macro's :class:`~bpfls.source.catalogue.Macro` record and walks
the call as its family expands (one function per family). ``BPF_CORE_READ(src, a, b.c, d[1])``
reads hop by hop: each comma is one ``bpf_probe_read_kernel`` of
``&((typeof(prev))prev)->accessor`` inside ``__builtin_preserve_access_index``, so each hop is
one ``byte_off`` relocation rooted at the locally declared pointee type of the previous hop
(:mod:`bpfls.source.hops` types the accessors). ``bpf_core_field_*``, ``bpf_core_type_*``,
``bpf_core_enum_value*`` and the bitfield macros are ``__builtin_preserve_*`` calls with the
relocation kinds their records list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bpfls.btf import Kind
from bpfls.core.relo import ReloKind
from bpfls.source import catalogue
from bpfls.source.catalogue import Family, Macro, Memory, Value
from bpfls.source.exprtypes import EType, desc_of_etype, etype_of_desc
from bpfls.source.guards import Guard
from bpfls.source.hops import Arrow, Element, Member, accessor_path, element_type
from bpfls.source.macros import Expander
from bpfls.source.positions import Range
from bpfls.source.pptokens import IDENT, PUNCT, Tok, matching_paren, tokens_text
from bpfls.source.snippets import snippet_body
from bpfls.source.values import NONE, Val

if TYPE_CHECKING:
    from tree_sitter import Node

    from bpfls.source.relocations import FunctionWalker


class Arg:
    """One argument of a call, as tokens (``start``/``end``: its bytes in the walked code)."""

    __slots__ = ("toks", "start", "end")

    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.start = toks[0].start if toks else 0
        self.end = toks[-1].end if toks else 0


def call_args(w: FunctionWalker, n: Node) -> list[Arg] | None:
    """The arguments of call ``n`` (``None``: no parenthesis)."""
    toks = w.src.tokens(n.start_byte, n.end_byte)
    i = 0
    while i < len(toks) and toks[i].text != "(":
        i += 1
    if i >= len(toks):
        return None
    depth = 0
    args: list[list[Tok]] = [[]]
    for t in toks[i:]:
        if t.kind == PUNCT and t.text in "([{":
            depth += 1
            if depth == 1:
                continue
        elif t.kind == PUNCT and t.text in ")]}":
            depth -= 1
            if depth == 0:
                break
        elif t.kind == PUNCT and t.text == "," and depth == 1:
            args.append([])
            continue
        args[-1].append(t)
    if len(args) == 1 and not args[0]:
        return []
    return [Arg(a) for a in args]


def arg_value(w: FunctionWalker, call: Node, a: Arg, *, lvalue: bool = False) -> Val:
    """Walk an expression argument (through the call's tree, or re-parsed when that is broken)."""
    if not a.toks:
        return NONE
    node = call.descendant_for_byte_range(a.start, a.end)
    while node is not None and node.parent is not None and \
            node.parent.start_byte == a.start and node.parent.end_byte == a.end and \
            node.parent.id != call.id and node.parent.type != "argument_list":
        node = node.parent
    if node is not None and node.start_byte == a.start and node.end_byte == a.end and \
            node.is_named and not node.has_error and node.type not in (
                "argument_list", "ERROR", "type_descriptor"):
        return w.lvalue(node) if lvalue else w.expr(node)
    return reparse(w, a.toks, lvalue=lvalue)


def reparse(w: FunctionWalker, toks: list[Tok], *, lvalue: bool = False) -> Val:
    """Walk tokens as an expression (parenthesised, so that `a[2]` is no declaration). A whole
    invocation of a function-like macro of the program (``container_of(p, struct s, m)``,
    which tree-sitter reads as a cast to a function type) is expanded first."""
    fallback = toks[0].origin if toks else (0, 0)
    macro = _macro_invocation(w, toks)
    if macro is not None:
        try:
            toks = Expander(w.tu.macros).expand(toks)
        except RecursionError:  # pragma: no cover
            return NONE
        w.producer.append(macro if w.producer[-1] == "direct" else w.producer[-1])
    snip, body = snippet_body(w.src.unit, toks, fallback, parenthesised=True)
    saved = w.src
    w.src = snip
    try:
        if body is None:
            return NONE
        stmts = [c for c in body.named_children if c.type != "comment"]
        if stmts and stmts[0].type == "expression_statement" and stmts[0].named_children:
            node = stmts[0].named_children[0]
            return w.lvalue(node) if lvalue else w.expr(node)
        for s in stmts:
            w.stmt(s)
        return NONE
    finally:
        w.src = saved
        if macro is not None:
            w.producer.pop()


def _macro_invocation(w: FunctionWalker, toks: list[Tok]) -> str | None:
    """The name of the function-like macro of the program ``toks`` are one invocation of."""
    if len(toks) < 3 or toks[0].kind != IDENT or toks[1].text != "(" or \
            matching_paren(toks, 1) != len(toks) - 1:
        return None
    m = w.tu.macros.get(toks[0].text)
    return m.name if m is not None and m.params is not None else None


def tok_range(w: FunctionWalker, toks: list[Tok]) -> Range:
    """Where ``toks`` come from in the file."""
    if not toks:
        return Range.of(0, 0, 0, 0)
    unit = w.src.unit
    s = toks[0].origin[0]
    e = toks[-1].origin[1]
    if e < s:
        e = toks[0].origin[1]
    sl, sc = unit.position(s)
    el, ec = unit.position(e)
    return Range.of(sl, sc, el, ec)


def call_intrinsic(w: FunctionWalker, m: Macro, n: Node) -> Val:
    """Walk a use of the intrinsic ``m`` (call node ``n``) as its family expands."""
    args = call_args(w, n)
    if args is None:
        return NONE
    call_rng = w.rng(n)
    producer = m.name if w.producer[-1] == "direct" else w.producer[-1]
    saved_override = w.expr_override
    saved_call = w.call_range
    saved_name = w.call_name
    saved_user = w.user
    w.call_name = producer
    w.call_range = call_rng
    w.expr_override = None  # the arguments' own accesses keep their own extent
    try:
        family = m.family
        if m.hops:
            return core_read(w, m, n, args)
        if family is Family.READ_FUNCTION:
            return core_read_func(w, m, n, args)
        if family is Family.BITFIELD:
            return bitfield(w, m, n, args)
        if family is Family.FIELD_INFO:
            return field_info(w, n, args, m.kind)
        if family is Family.TYPE_INFO:
            return type_info(w, args[0].toks if args else [], m.kind)
        if family is Family.ENUM_INFO:
            if len(args) < 2:
                return NONE
            return enum_info(w, args[0].toks, args[1].toks, m.kind)
        if family is Family.CAST:
            if len(args) < 2:
                return NONE
            arg_value(w, n, args[0])
            type_info(w, args[1].toks, m.kind)
            d = w.tu.lt.desc_from_tokens(args[1].toks)
            et = etype_of_desc(d) if d is not None else None
            return Val(et.pointer() if et is not None else None)
        if family is Family.BUILTIN:
            return builtin(w, m, n, args)
        return NONE
    finally:
        w.expr_override = saved_override
        w.call_range = saved_call
        w.call_name = saved_name
        w.user = saved_user


def builtin(w: FunctionWalker, m: Macro, n: Node, args: list[Arg]) -> Val:
    """``__builtin_preserve_access_index(e)``, and the builtins whose second argument is one of
    libbpf's kind enums, written out by hand."""
    if m.kind_arg is None:
        if not args:
            return NONE
        w.region += 1
        w.producer.append(w.call_name or m.name)
        try:
            v = arg_value(w, n, args[0])
        finally:
            w.producer.pop()
            w.region -= 1
        return Val(v.et)
    if len(args) < 2:
        return NONE
    kind = m.kind_arg.relo_kind(w.tu.lt.const_tokens(args[1].toks))
    if kind is None:
        return NONE
    if m.kind_arg is catalogue.FIELD_INFO_KIND:
        return field_info(w, n, args[:1], kind)
    return raw_type_builtin(w, args[0].toks, kind)


class _as_call:
    """Within: relocations made by the macro itself span the whole invocation."""

    def __init__(self, w: FunctionWalker) -> None:
        self.w = w

    def __enter__(self) -> None:
        self.saved = self.w.expr_override
        self.w.expr_override = self.w.call_range
        self.w.producer.append(self.w.call_name or "direct")

    def __exit__(self, *exc) -> None:
        self.w.expr_override = self.saved
        self.w.producer.pop()


# -- hop-by-hop reads ---------------------------------------------------------------------------

def core_read(w: FunctionWalker, m: Macro, n: Node, args: list[Arg]) -> Val:
    """``BPF_CORE_READ*(dst?, src, a, ...)``, ``BPF_PROBE_READ*``: one read per hop.

    ``src`` is evaluated inside the preserved region of the first read (``BPF_CORE_READ``
    expands to ``bpf_core_read(..., &((typeof(src))(src))->a)``); when it is the address of a
    member (``&file->f_path``), the first hop continues that member's chain
    (``file.f_path.dentry``, one relocation)."""
    s = m.src
    if len(args) < s + 2:
        return NONE
    for dst in args[:s]:
        arg_value(w, n, dst)
    core = m.family is Family.CORE_HOPS
    if core:
        w.region += 1
    try:
        inner = _strip_address(args[s].toks) if core else None
        first: Val | None = None
        if inner is not None:
            first = arg_value(w, n, Arg(inner), lvalue=True)
            cur = first.et.pointer() if first.et is not None else None
        else:
            cur = arg_value(w, n, args[s]).et
        w.user = m.user
        if cur is None and core and not w.tu.kernel_types_unknown:
            w.incomplete(f"the type of '{tokens_text(args[s].toks)}' in {m.name}",
                         tok_range(w, args[s].toks))
            return NONE
        with _as_call(w):
            return _hops(w, m, cur, args[s + 1:], first)
    finally:
        if core:
            w.region -= 1


def _hops(w: FunctionWalker, m: Macro, cur: EType | None, hops: list[Arg],
          first: Val | None = None) -> Val:
    """Each hop read from what the previous one (``cur`` first) points to: one relocated
    ``bpf_probe_read`` of its accessor path's address. ``first``: the lvalue ``cur`` is the
    address of, whose open chain the first hop continues."""
    for i, hop in enumerate(hops):
        last = i == len(hops) - 1
        elems = path_elements(w, hop.toks)
        if elems is None:
            w.diag("bad-accessor", f"'{tokens_text(hop.toks)}' is not a field accessor",
                   tok_range(w, hop.toks))
            return NONE
        if i == 0 and first is not None:
            v = apply_path(w, first, elems, arrow=False)
        else:
            v = apply_path(w, Val(cur), elems, arrow=True)
        if v.chain is not None:
            size = w.types.size(v.et) if last else 8
            w.emit(v.chain, m.kind, probe=True, read_size=size)
            v.chain = None
        cur = v.et
        if cur is None:
            return NONE
        if not last and not w.types.is_pointer(cur):
            w.diag("not-a-pointer", f"'{tokens_text(hop.toks)}' is not a pointer: "
                   f"{m.name} cannot read through it", tok_range(w, hop.toks))
            return NONE
    return Val(None) if m.into else Val(cur)


def core_read_func(w: FunctionWalker, m: Macro, n: Node, args: list[Arg]) -> Val:
    """``bpf_core_read*(dst, sz, src)``: the address ``src`` is relocated, ``sz`` bytes read."""
    if len(args) < 3:
        return NONE
    arg_value(w, n, args[0])
    size = eval_size(w, args[1].toks)
    if size is None:  # not a constant: what it computes is walked (bpf_core_field_size(...))
        arg_value(w, n, args[1])
    w.user = m.user
    w.region += 1
    try:
        toks = args[2].toks
        # `&expr` (possibly parenthesised / cast): the address is what gets relocated
        inner = _strip_address(toks)
        if inner is not None:
            with _as_call(w):
                v = arg_value(w, n, Arg(inner), lvalue=True)
                if v.chain is not None:
                    w.emit(v.chain, m.kind, probe=True, read_size=size)
                    v.chain = None
        else:
            arg_value(w, n, args[2])
    finally:
        w.region -= 1
    return Val(None)


def _strip_address(toks: list[Tok]) -> list[Tok] | None:
    """The operand of a leading ``&`` (after parentheses), else None."""
    t = toks
    for _ in range(8):
        if len(t) >= 2 and t[0].text == "(" and matching_paren(t, 0) == len(t) - 1:
            t = t[1:-1]
            continue
        break
    if t and t[0].text == "&" and t[0].kind == PUNCT:
        return t[1:]
    return None


def eval_size(w: FunctionWalker, toks: list[Tok]) -> int | None:
    """``sizeof(x)``, ``sizeof(struct s)``, ``16``: the value when it is a constant."""
    lt = w.tu.lt
    v = lt.const_tokens(toks)
    if v is not None:
        return v
    if toks and toks[0].text == "sizeof":
        inner = toks[1:]
        if inner and inner[0].text == "(" and matching_paren(inner, 0) == len(inner) - 1:
            inner = inner[1:-1]
        d = lt.desc_from_tokens(inner)
        if d is not None and d[0] != "unknown":
            return lt.desc_size(d)
        w.silent += 2
        try:
            val = reparse(w, inner, lvalue=True)
        finally:
            w.silent -= 2
        return w.types.size(val.et)
    return None


# -- accessor paths ------------------------------------------------------------------------------

def path_elements(w: FunctionWalker, toks: list[Tok]) -> list[Element] | None:
    """The accessor path ``toks`` spells, object-like macros expanded."""
    if any(t.kind == IDENT and t.text in w.tu.macros for t in toks):
        toks = Expander({k: v for k, v in w.tu.macros.items() if v.params is None}).expand(toks)
    return accessor_path(toks)


def apply_path(w: FunctionWalker, base: Val, elems: list[Element], *, arrow: bool) -> Val:
    """Apply ``->e0.e1[2]...`` (arrow) or ``.e0...`` to ``base``, chaining the preserved
    accesses into relocations (:mod:`bpfls.source.hops` says how each element types)."""
    types = w.types
    v = base
    expr = w.expr_override or Range.of(0, 0, 0, 0)
    pending_arrow = arrow
    for e in elems:
        if isinstance(e, Arrow):
            pending_arrow = True
            continue
        if isinstance(e, Member):
            rng = tok_range(w, [e.tok])
            if pending_arrow:
                if v.chain is not None:
                    w.close(v, "load")
                v = w.member(Val(v.et), types.deref(v.et), None, e.name, rng, expr)
                pending_arrow = False
            else:
                v = w.member(v, v.et, v.chain, e.name, rng, expr)
            if v.et is None:
                return NONE
            continue
        inner = list(e.inner)
        idx = w.tu.lt.const_tokens(inner) if inner else None
        if idx is None and inner:
            reparse(w, inner)
        elem = element_type(types, v.et, e)
        if types.is_array(v.et):
            if v.chain is not None and idx is not None and idx >= 0:
                v.chain.access.append(idx)
                v.chain.last = Range(v.chain.last.start, tok_range(w, list(e.span)).end)
                v.chain.field = elem
                v = Val(elem, v.chain)
            else:
                w.close(v, "addr")
                v = Val(elem)
        else:
            if v.chain is not None:
                w.close(v, "load")
            v = Val(elem)
    return v


# -- field / type / enum information ---------------------------------------------------------

def field_info(w: FunctionWalker, n: Node, args: list[Arg], kind: ReloKind) -> Val:
    """``bpf_core_field_*(field)`` / ``(type, field)``: relocation ``kind`` of the field, whose
    accesses on the way are never executed."""
    if not args:
        return NONE
    a = None
    if len(args) >= 2:
        d = w.tu.lt.desc_from_tokens(args[0].toks)
        if d is None or d[0] == "unknown":
            if d is not None:
                w._unknown_type_rng(d[1], tok_range(w, args[0].toks))
            return NONE
        et = etype_of_desc(d)
        if et is None:
            return NONE
        elems = path_elements(w, [t for arg in args[1:] for t in arg.toks])
        if elems is None:
            w.diag("bad-accessor", f"'{tokens_text(args[1].toks)}' is not a field accessor",
                   tok_range(w, args[1].toks))
            return NONE
        w.region += 1
        w.silent += 1
        try:
            with _as_call(w):
                v = apply_path(w, Val(et.pointer()), elems, arrow=True)
        finally:
            w.silent -= 1
            w.region -= 1
        if v.chain is not None:
            with _as_call(w):
                a = w.emit(v.chain, kind, force=True)
    else:
        w.region += 1
        w.silent += 1
        try:
            v = arg_value(w, n, args[0], lvalue=True)
        finally:
            w.silent -= 1
            w.region -= 1
        if v.chain is not None:
            with _as_call(w):
                a = w.emit(v.chain, kind, force=True)
    if a is not None and kind.is_check:
        return Val(None, guard=Guard.check(a))
    return Val(None)


def bitfield(w: FunctionWalker, m: Macro, n: Node, args: list[Arg]) -> Val:
    """``BPF_CORE_READ_BITFIELD*(s, field)``, ``BPF_CORE_WRITE_BITFIELD(s, field, v)``: the
    relocations of the macro's expansion, all of ``s->field``."""
    if len(args) < 2:
        return NONE
    s = arg_value(w, n, args[0])
    if len(args) > 2:
        for extra in args[2:]:
            arg_value(w, n, extra)
    elems = path_elements(w, args[1].toks)
    if elems is None:
        return NONE
    w.region += 1
    try:
        with _as_call(w):
            v = apply_path(w, Val(s.et), elems, arrow=True)
    finally:
        w.region -= 1
    if v.chain is None:
        return NONE
    probe = m.memory is Memory.PROBE
    seen: dict[ReloKind, int] = {}
    with _as_call(w):
        for k in m.kinds:
            rep = seen.get(k, 0)
            seen[k] = rep + 1
            offset = k is ReloKind.FIELD_BYTE_OFFSET
            w.emit(v.chain, k, probe=probe, load=offset and not probe,
                   store=offset and m.memory is Memory.STORE, repeat=rep)
    if m.value is Value.NONE:
        return Val(None)
    return Val(EType(w.tu.lt.int_type("unsigned long long")))


def _type_arg_desc(w: FunctionWalker, toks: list[Tok]) -> tuple | None:
    """The type a CO-RE type argument names: a type name, ``typeof(type)`` or
    ``typeof(expr)`` (the expression's type; it is not evaluated)."""
    inner = _unwrap_typeof(toks)
    d = w.tu.lt.desc_from_tokens(inner)
    if d is None and inner is not toks and inner:
        w.silent += 2
        try:
            v = reparse(w, inner, lvalue=True)
        finally:
            w.silent -= 2
        d = desc_of_etype(v.et) if v.et is not None else ("unknown", tokens_text(toks))
    return d


def _type_arg(w: FunctionWalker, toks: list[Tok]) -> EType | None:
    """The non-pointer type a CO-RE type argument names (an unknown one is diagnosed);
    ``typeof(expr)`` is the type of ``expr``, not evaluated (said when it cannot be typed)."""
    inner = _unwrap_typeof(toks)
    if inner is not toks and inner and w.tu.lt.desc_from_tokens(inner) is None:
        w.silent += 2
        try:
            et = reparse(w, inner, lvalue=True).et
        finally:
            w.silent -= 2
        if et is None and not w.tu.kernel_types_unknown:
            w.incomplete(f"the type of '{tokens_text(toks)}'", tok_range(w, toks))
        return et if et is not None and not et.ptr else None
    d = _type_arg_desc(w, toks)
    if d is None or d[0] == "unknown":
        if d is not None:
            w._unknown_type_rng(d[1], tok_range(w, toks))
        return None
    et = etype_of_desc(d)
    return None if et is None or et.ptr else et


def type_info(w: FunctionWalker, toks: list[Tok], kind: ReloKind) -> Val:
    """``bpf_core_type_*(type)``: relocation ``kind`` of the type ``toks`` name."""
    if kind is ReloKind.TYPE_ID_LOCAL:
        return _type_id_local(w, toks)
    et = _type_arg(w, toks)
    if et is None:
        return NONE
    rng = tok_range(w, toks)
    root = w.types.root_id(et)
    a = w.emit_type(kind, root, (0,), rng, w.call_range or rng, w.call_name or "direct",
                    tokens_text(toks))
    if kind.is_check:
        return Val(None, guard=Guard.check(a))
    return Val(None)


def _type_id_local(w: FunctionWalker, toks: list[Tok]) -> Val:
    """``bpf_core_type_id_local(type)``: the program's own record of exactly that type, its
    qualifiers, pointers and arrays included (clang names an anonymous one ``const <anon>``,
    ``ptr <anon>``...), typedefs kept."""
    d = _type_arg_desc(w, toks)
    rng = tok_range(w, toks)
    if d is None or d[0] == "unknown":
        if d is not None:
            w._unknown_type_rng(d[1], tok_range(w, toks))
        return NONE
    tid = w.tu.lt.type_id_local(d)
    if not tid:
        w.incomplete(f"the local type id of '{tokens_text(toks)}' (the program's BTF has no "
                     "record of it)", rng)
        return NONE
    w.emit_type(ReloKind.TYPE_ID_LOCAL, tid, (0,), rng, w.call_range or rng,
                w.call_name or "direct", tokens_text(toks))
    return Val(None)


def enum_info(w: FunctionWalker, type_toks: list[Tok], val_toks: list[Tok],
              kind: ReloKind) -> Val:
    """``bpf_core_enum_value*(enum type, enumerator)``: relocation ``kind`` of the enumerator."""
    et = _type_arg(w, type_toks)
    if et is None:
        return NONE
    rng = tok_range(w, type_toks)
    t = w.types.resolve(et.tid)
    if t is None or t.kind not in (Kind.ENUM, Kind.ENUM64):
        w.diag("not-an-enum", f"'{tokens_text(type_toks)}' is not an enum type", rng)
        return NONE
    vt = val_toks
    if any(x.kind == IDENT and x.text in w.tu.macros for x in vt):
        vt = Expander(w.tu.macros).expand(vt)
    names = [x for x in vt if x.kind == IDENT]
    vrng = tok_range(w, val_toks)
    if len(names) != 1:
        w.diag("bad-enumerator", f"'{tokens_text(val_toks)}' is not an enumerator", vrng)
        return NONE
    vname = names[0].text
    idx = next((i for i, ev in enumerate(t.values) if ev.name == vname), None)
    if idx is None:
        tname = w.types.name(t.id)
        w.diag("unknown-enumerator", f"no enumerator named '{vname}' in '{tname}'", vrng,
               enumerator=vname, type=tname, type_id=t.id,
               candidates=sorted(ev.name for ev in t.values))
        return NONE
    root = w.types.root_id(et)
    a = w.emit_type(kind, root, (idx,), vrng, w.call_range or vrng, w.call_name or "direct",
                    vname)
    if kind.is_check:
        return Val(None, guard=Guard.check(a))
    return Val(None)


def raw_type_builtin(w: FunctionWalker, toks: list[Tok], kind: ReloKind) -> Val:
    """``__builtin_preserve_type_info(*(T *)0, K)`` and friends: the type (and enumerator)
    named by the first argument's tokens ``toks``."""
    # *(typeof(T) *)V  or  *(T *)V
    typed = bool(toks) and toks[0].text == "*" and len(toks) >= 4 and toks[1].text == "("
    close = matching_paren(toks, 1) if typed else -1
    inner = toks[2:close] if close >= 0 else []
    if inner and inner[-1].text == "*":
        inner = inner[:-1]
    if kind is ReloKind.TYPE_ID_LOCAL and toks and (
            close < 0 or _type_arg_desc(w, inner) in (None, ("unknown", tokens_text(inner)))):
        # __builtin_btf_type_id(expr, BPF_TYPE_ID_LOCAL): the type of the expression
        at = toks[0]
        wrapped = [Tok(IDENT, "typeof", at.start, at.start, at.space, at.origin),
                   Tok(PUNCT, "(", at.start, at.start, False, at.origin), *toks,
                   Tok(PUNCT, ")", toks[-1].end, toks[-1].end, False, toks[-1].origin)]
        return _type_id_local(w, wrapped)
    if close < 0:
        return NONE
    rest = toks[close + 1:]
    if kind.is_enumval:
        return enum_info(w, inner, rest, kind)
    return type_info(w, inner, kind)


def _unwrap_typeof(toks: list[Tok]) -> list[Tok]:
    if len(toks) >= 3 and toks[0].text in ("typeof", "__typeof__", "__typeof") and \
            toks[1].text == "(" and matching_paren(toks, 1) == len(toks) - 1:
        return toks[2:-1]
    return toks

