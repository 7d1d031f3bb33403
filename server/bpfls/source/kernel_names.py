"""What the translation unit asks of the kernel by name, read from the source: the records of
:mod:`bpfls.source.programs` (programs, helper and kfunc calls, maps, ksyms, struct_ops).

The walker (:mod:`bpfls.source.walk_calls`) reports each call of a helper or a kfunc;
:mod:`bpfls.source.pipeline` builds the rest from the top-level declarations and the functions
it found. What is here:

- which calls are helper or kfunc calls (:func:`callee_of`, :func:`probe_helper`): a helper is
  known by name (:data:`bpfls.source.helper_ids.HELPER_IDS`, or a ``(* const bpf_x)(...) =
  (void *) N`` pointer the program's headers declare), a kfunc by its ``extern ... __ksym``
  prototype; libbpf's printing macros call the helper their argument count picks
  (``bpf_printk`` with more than three arguments after the format: ``bpf_trace_vprintk``);
- whether a kfunc call runs only where the kfunc resolved (:func:`ksym_checked`);
- the ``SEC`` string and the ``// bpfls: alternative=NAME`` comment beside it
  (:func:`section_range`, :func:`alternative_at`);
- the ``extern ... __ksym`` declarations (:func:`ksym_attributes`), the maps' type and flags
  (:func:`map_def`), the members a ``struct_ops`` variable sets (:func:`struct_ops_def`);
- the types of the program macros' parameters and of the ksyms, made in the program's BTF
  before it is written (:func:`declared_types`), so that each gets a type id.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import TYPE_CHECKING

from bpfls.source import catalogue
from bpfls.source.catalogue import Macro, Memory, ProgramArgs
from bpfls.source.exprtypes import Source
from bpfls.source.helper_ids import HELPER_IDS, HELPER_NAMES
from bpfls.source.macros import Expander, macro_identifiers
from bpfls.source.positions import Range
from bpfls.source.pptokens import IDENT, PUNCT, Tok, matching_paren, split_top_level, tokenize
from bpfls.source.programs import MapDef, StructOps

if TYPE_CHECKING:
    from tree_sitter import Node

    from bpfls.source.localtypes import Desc, LocalTypes
    from bpfls.source.macros import MacroDef
    from bpfls.source.preprocess import FileUnit

#: the sections of BTF-defined maps, of legacy ``struct bpf_map_def`` maps, of struct_ops
MAP_SECTIONS = frozenset({".maps"})
LEGACY_MAP_SECTIONS = frozenset({"maps"})
STRUCT_OPS_SECTIONS = frozenset({".struct_ops", ".struct_ops.link"})

#: libbpf's printing macros → the helper they call (``bpf_printk``: see :func:`printf_helper`)
_PRINTF_HELPERS = {"BPF_SEQ_PRINTF": "bpf_seq_printf", "BPF_SNPRINTF": "bpf_snprintf"}


def printf_helper(name: str, nargs: int) -> str | None:
    """The helper libbpf's printing macro ``name`` calls with ``nargs`` arguments (the format
    included), for the built-in headers, which define the macro by name only."""
    if name == "bpf_printk":
        return "bpf_trace_vprintk" if nargs > 4 else "bpf_trace_printk"
    return _PRINTF_HELPERS.get(name)


def probe_helper(m: Macro, macros: dict[str, MacroDef], pointers: dict[str, str]) -> str | None:
    """The helper a CO-RE read macro calls: the ``bpf_probe_read*`` helper its definition
    (``macros``: all of the program's) reaches, of its kind (the string forms: the ``_str``
    helper of their last read); libbpf's (``BPF_CORE_READ``: ``bpf_probe_read_kernel``) when
    the program does not define it (the built-in headers) or it names none (an older
    ``bpf_core_read.h`` calls ``bpf_probe_read``)."""
    if m.memory is not Memory.PROBE:
        return None
    name = "bpf_probe_read_user" if m.user else "bpf_probe_read_kernel"
    name = name + "_str" if m.string else name
    if m.name not in macros:
        return name
    found = set()
    for ident in macro_identifiers(m.name, macros):
        helper = helper_named(ident, pointers)
        if helper is not None and helper.startswith("bpf_probe_read"):
            found.add(helper)
    if name in found:
        return name
    fits = sorted(h for h in found if h.endswith("_str") == m.string and
                  ("_user" in h) == m.user)
    if not fits:
        fits = sorted(h for h in found if h.endswith("_str") == m.string and "_user" not in h)
    return fits[0] if fits else name


def load_constant(unit: FileUnit, n: Node) -> bool:
    """Is the top-level declaration ``n`` of values the loader fixes before the load: ``const
    volatile`` (libbpf's ``.rodata`` that user space sets, then freezes) or ``__kconfig``?"""
    code = unit.code
    quals = {bytes(code[c.start_byte:c.end_byte]) for c in n.children
             if c.type == "type_qualifier"}
    if b"const" in quals and b"volatile" in quals:
        return True
    offs, texts = _sorted_attrs(unit)
    i = bisect_left(offs, n.start_byte)
    while i < len(offs) and offs[i] < n.end_byte:
        if '".kconfig"' in texts[i]:
            return True
        i += 1
    return code.find(b'".kconfig"', n.start_byte, n.end_byte) >= 0


def reads_load_constant(toks: list[Tok], macros: dict[str, MacroDef], constants: set[str],
                        memo: dict[str, bool]) -> bool:
    """Do ``toks`` read a load-time constant: one of ``constants``, or through a macro whose
    expansion reads one or makes a ``volatile const`` read (cilium's ``CONFIG(x)``)?"""
    for t in toks:
        if t.kind != IDENT:
            continue
        if t.text in constants:
            return True
        if t.text in macros:
            got = memo.get(t.text)
            if got is None:
                ids = macro_identifiers(t.text, macros)
                got = memo[t.text] = bool(ids & constants) or \
                    {"volatile", "const"} <= ids
            if got:
                return True
    return False


def helper_named(name: str, pointers: dict[str, str]) -> str | None:
    """The helper a call of ``name`` calls (``pointers``: the program's helper pointers, name
    → helper), ``None`` when ``name`` is no helper."""
    got = pointers.get(name)
    if got is not None:
        return got
    return name if name in HELPER_IDS else None


def _helper_of_value(name: str, value: str) -> str | None:
    """The helper a pointer initialised with ``(void *) value`` calls: a number of ``enum
    bpf_func_id`` or one of its enumerators."""
    if value.isdigit():
        n = int(value)
        return f"bpf_{HELPER_NAMES[n - 1]}" if 0 < n <= len(HELPER_NAMES) else name
    if value.startswith("BPF_FUNC_"):
        return "bpf_" + value[len("BPF_FUNC_"):]
    return None


_HELPER_INIT = re.compile(r"\(\s*void\s*\*\s*\)\s*(\w+)")


def helper_pointer(name: str, decl: Node, desc: Desc, src: Source) -> str | None:
    """The helper a declaration like libbpf's ``static long (* const bpf_x)(...) = (void *)
    N;`` declares (``desc`` the declared type, ``decl`` its init declarator)."""
    d = desc
    while d[0] == "cv":
        d = d[2]
    if d[0] != "ptr" or d[1][0] != "fn" or decl.type != "init_declarator":
        return None
    value = decl.child_by_field_name("value")
    if value is None:
        return None
    m = _HELPER_INIT.fullmatch(src.text(value).strip())
    return _helper_of_value(name, m.group(1)) if m else None


_MACRO_POINTER = re.compile(r"\(\s*\*\s*(\w+)\s*\)\s*\(.*?\)[^=;]*=\s*\(\s*void\s*\*\s*\)\s*(\w+)",
                            re.S)


_POINTERS: dict[tuple, list[tuple[str, str]]] = {}


def macro_helper_pointers(toks: list[Tok], macros: dict[str, MacroDef]) -> list[tuple[str, str]]:
    """The helper pointers a declaration written with a macro declares (cilium's and
    tetragon's ``static void *BPF_FUNC(map_lookup_elem, void *map, const void *key);``, which
    stands for ``(* map_lookup_elem)(...) = (void *) BPF_FUNC_map_lookup_elem``): (name,
    helper) for each (remembered by the declaration's text and its macros' definitions)."""
    key = tuple(t.text for t in toks) + tuple(
        m.text for t in toks if t.kind == IDENT and (m := macros.get(t.text)) is not None)
    got = _POINTERS.get(key)
    if got is not None:
        return got
    try:
        exp = Expander(macros).expand(toks)
    except RecursionError:  # pragma: no cover
        return []
    out = []
    for m in _MACRO_POINTER.finditer(" ".join(t.text for t in exp)):
        helper = _helper_of_value(m.group(1), m.group(2))
        if helper is not None:
            out.append((m.group(1), helper))
    if len(_POINTERS) > 4096:
        _POINTERS.clear()
    _POINTERS[key] = out
    return out


# -- where a call comes from -------------------------------------------------------------------

_IDENT_RE = re.compile(rb"[A-Za-z_$][A-Za-z0-9_$]*")


def via_macro(src: Source, node: Node, name: str) -> str | None:
    """The macro whose invocation written in the file holds the text of ``node`` (``None``
    when the node's text is written there itself)."""
    if src.is_file:
        return None
    s, e = src.origin(node.start_byte, node.end_byte)
    data = src.unit.data
    if data[s:e] == name.encode():
        return None
    m = _IDENT_RE.match(data, s, e)
    return m.group().decode() if m is not None and m.group().decode() != name else None


# -- bpf_ksym_exists() ----------------------------------------------------------------------

_NULLS = frozenset({"NULL", "0", "nullptr"})


def _strip(toks: list[Tok]) -> list[Tok]:
    while len(toks) >= 2 and toks[0].text == "(" and matching_paren(toks, 0) == len(toks) - 1:
        toks = toks[1:-1]
    return toks


def _asserts(toks: list[Tok], name: str) -> bool:
    """Is the condition true only where ``name`` resolved (``bpf_ksym_exists(name)``,
    ``name``, ``&name``, ``name != NULL``, and conjunctions with one of them)?"""
    toks = _strip(toks)
    parts = split_top_level(toks, "&&")
    if len(parts) > 1:
        return any(_asserts(p, name) for p in parts)
    words = [t.text for t in toks if not (t.kind == PUNCT and t.text in ("(", ")", "&"))]
    while len(words) >= 2 and words[0] == "!" and words[1] == "!":
        words = words[2:]
    if words and words[0] == "bpf_ksym_exists":
        words = words[1:]
        while len(words) >= 2 and words[0] == "!" and words[1] == "!":
            words = words[2:]
    if words == [name]:
        return True
    return len(words) == 3 and words[1] == "!=" and (
        (words[0] == name and words[2] in _NULLS) or (words[2] == name and words[0] in _NULLS))


def _denies(toks: list[Tok], name: str) -> bool:
    """Is the condition true wherever ``name`` did not resolve (``!bpf_ksym_exists(name)``,
    ``!name``, ``name == NULL``, and disjunctions with one of them)?"""
    toks = _strip(toks)
    parts = split_top_level(toks, "||")
    if len(parts) > 1:
        return any(_denies(p, name) for p in parts)
    if toks and toks[0].text == "!" and not (len(toks) > 1 and toks[1].text == "!"):
        return _asserts(toks[1:], name)
    words = [t.text for t in toks if not (t.kind == PUNCT and t.text in ("(", ")", "&"))]
    return len(words) == 3 and words[1] == "==" and (
        (words[0] == name and words[2] in _NULLS) or (words[2] == name and words[0] in _NULLS))


def _cond_tokens(node: Node | None) -> list[Tok]:
    text = node.text if node is not None else None
    return tokenize(text) if text else []


def _exits(stmt: Node | None) -> bool:
    """Does the statement always leave the function (a return, or a block ending in one)?"""
    while stmt is not None and stmt.type == "compound_statement":
        kids = [c for c in stmt.named_children if c.type != "comment"]
        stmt = kids[-1] if kids else None
    return stmt is not None and stmt.type == "return_statement"


def _same(a: Node | None, b: Node) -> bool:
    return a is not None and a.start_byte == b.start_byte and a.end_byte == b.end_byte and \
        a.type == b.type


def ksym_checked(call: Node, name: str, outer: tuple = ()) -> bool:
    """Does the call (``outer``: the macro invocations it was expanded from, outermost first)
    run only where ksym ``name`` resolved: under ``if (bpf_ksym_exists(name))``, ``if (name)``,
    ``name && ...``, or after ``if (!bpf_ksym_exists(name)) return ...;`` in a block holding
    it?"""
    for start in (call, *reversed(outer)):
        child = start
        parent = getattr(child, "parent", None)
        while parent is not None and child.type != "function_definition":
            t = parent.type
            if t in ("if_statement", "conditional_expression"):
                cond = parent.child_by_field_name("condition")
                if _same(parent.child_by_field_name("consequence"), child) and \
                        _asserts(_cond_tokens(cond), name):
                    return True
                alt = parent.child_by_field_name("alternative")
                if _same(alt, child) and _denies(_cond_tokens(cond), name):
                    return True
            elif t == "binary_expression":
                left = parent.child_by_field_name("left")
                op = parent.child_by_field_name("operator")
                if op is not None and op.type == "&&" and not _same(left, child) and \
                        _asserts(_cond_tokens(left), name):
                    return True
            elif t == "compound_statement":
                for s in parent.named_children:
                    if s.start_byte >= child.start_byte:
                        break
                    if s.type == "if_statement" and \
                            s.child_by_field_name("alternative") is None and \
                            _exits(s.child_by_field_name("consequence")) and \
                            _denies(_cond_tokens(s.child_by_field_name("condition")), name):
                        return True
            child = parent
            parent = child.parent
    return False


# -- SEC("...") and the alternative comment ---------------------------------------------------

_SEC_RE = re.compile(rb'SEC\s*\(\s*((?:"(?:\\.|[^"\\\n])*"\s*)+)\)')
_LITERAL_RE = re.compile(rb'"((?:\\.|[^"\\\n])*)"')
_ALTERNATIVE_RE = re.compile(rb"(?://|/\*)\s*bpfls:\s*alternative\s*=\s*([A-Za-z0-9_.:/-]+)")


def section_offset(src: Source, off: int) -> int | None:
    """The file offset of the ``SEC`` at ``off`` in ``src`` (``None`` when a macro's
    expansion, not the file, writes it)."""
    if not src.is_file:
        off = src.origin(off, off + 3)[0]
    return off if src.unit.data[off:off + 3] == b"SEC" else None


def section_range(unit: FileUnit, off: int) -> Range | None:
    """The section string's text without its quotes, for ``SEC("...")`` written at ``off``
    (from the first literal's text to the last's when several are concatenated)."""
    m = _SEC_RE.match(unit.data, off)
    if m is None:
        return None
    lits = list(_LITERAL_RE.finditer(unit.data, m.start(1), m.end(1)))
    if not lits:
        return None
    s, e = lits[0].start(1), lits[-1].end(1)
    sl, sc = unit.position(s)
    el, ec = unit.position(e)
    return Range.of(sl, sc, el, ec)


def alternative_at(unit: FileUnit, off: int) -> str | None:
    """The group a ``// bpfls: alternative=NAME`` comment names, on the line of ``off`` or the
    line above it."""
    line, _ = unit.position(off)
    starts = unit.line_starts
    for ln in (line, line - 1):
        if ln < 0:
            continue
        end = starts[ln + 1] if ln + 1 < len(starts) else len(unit.data)
        m = _ALTERNATIVE_RE.search(unit.data, starts[ln], end)
        if m is not None:
            return m.group(1).decode()
    return None


# -- declarations ------------------------------------------------------------------------------

_WEAK_RE = re.compile(rb"__attribute__\s*\(\s*\([^;{]*\bweak\b")


#: id of a unit → (it, how many attributes it had, their offsets sorted, the texts in that
#: order): what :func:`ksym_attributes` searches
_SORTED: dict[int, tuple[FileUnit, int, list[int], list[str]]] = {}


def _sorted_attrs(unit: FileUnit) -> tuple[list[int], list[str]]:
    got = _SORTED.get(id(unit))
    if got is None or got[0] is not unit or got[1] != len(unit.attrs):
        pairs = sorted(unit.attrs)
        if len(_SORTED) > 1024:
            _SORTED.clear()
        got = _SORTED[id(unit)] = (unit, len(pairs), [o for o, _ in pairs],
                                   [t for _, t in pairs])
    return got[2], got[3]


def ksym_attributes(unit: FileUnit, start: int, end: int) -> tuple[bool, bool]:
    """(``__ksym``, ``__weak``) for the declaration at ``unit.code[start:end]``: the attribute
    macros masked there, or the attributes written out."""
    offs, texts = _sorted_attrs(unit)
    i = bisect_left(offs, start)
    ksym = weak = False
    while i < len(offs) and offs[i] < end:
        text = texts[i]
        ksym = ksym or '".ksyms"' in text
        weak = weak or "weak" in text and re.search(r"\bweak\b", text) is not None
        i += 1
    code = unit.code
    if not ksym and code.find(b'".ksyms"', start, end) >= 0:
        ksym = True
    if ksym and not weak and _WEAK_RE.search(code, start, end) is not None:
        weak = True
    return ksym, weak


def map_def(name: str, path: str, rng: Range, src: Source, type_node: Node | None,
            init: Node | None, macros: dict[str, MacroDef],
            definition: tuple[Node, Source] | None = None) -> MapDef:
    """A map variable: ``__uint(type, X)``/``__uint(map_flags, A | B)`` of its struct's
    members (``definition``: the struct's definition and its text, when the variable names a
    struct defined elsewhere), or ``.type = X``/``.map_flags = ...`` of a legacy definition's
    initialiser."""
    m = MapDef(name, path, rng)
    fields: list[tuple[str, list[Tok], Source]] = []
    body = type_node.child_by_field_name("body") if type_node is not None else None
    body_src = src
    if body is None and definition is not None:
        body, body_src = definition[0].child_by_field_name("body"), definition[1]
    if body is not None:
        toks = body_src.tokens(body.start_byte, body.end_byte)
        depth = 0
        i = 0
        while i < len(toks):
            t = toks[i]
            if t.kind == PUNCT and t.text in "({[":
                depth += 1
            elif t.kind == PUNCT and t.text in ")}]":
                depth -= 1
            elif depth == 1 and t.kind == IDENT and t.text == "__uint" and \
                    i + 3 < len(toks) and toks[i + 1].text == "(" and toks[i + 3].text == ",":
                close = matching_paren(toks, i + 1)
                if close > 0:
                    fields.append((toks[i + 2].text, toks[i + 4:close], body_src))
                    i = close + 1
                    continue
            i += 1
    if init is not None and init.type == "initializer_list":
        for pair in init.named_children:
            if pair.type != "initializer_pair":
                continue
            des = pair.child_by_field_name("designator")
            value = pair.child_by_field_name("value")
            if des is None or value is None or des.type != "field_designator":
                continue
            fname = src.text(des).lstrip(". \t")
            fields.append((fname, src.tokens(value.start_byte, value.end_byte), src))
    for fname, toks, fsrc in fields:
        got = _enumerators(toks, macros, fsrc) if fname in ("type", "map_flags") else []
        if fsrc.unit is not src.unit:  # the struct is defined in another file: the name says
            got = [(e, rng) for e, _ in got]
        if fname == "type" and m.type is None:
            if len(got) == 1:
                m.type, m.type_range = got[0]
        elif fname == "map_flags" and not m.flags:
            m.flags = tuple(got)
    return m


def _enumerators(toks: list[Tok], macros: dict[str, MacroDef],
                 src: Source) -> list[tuple[str, Range]]:
    """The names OR-ed in a map's type or flags argument (each a single name, or a macro
    standing for one), with where each is written; numbers and other terms give none."""
    out = []
    for term in split_top_level(_strip(toks), "|"):
        term = _strip(term)
        if len(term) != 1 or term[0].kind != IDENT:
            continue
        t = term[0]
        name = t.text
        if name in macros:
            try:
                exp = _strip(Expander(macros).expand([t.copy()]))
            except RecursionError:  # pragma: no cover
                continue
            if len(exp) != 1 or exp[0].kind != IDENT:
                continue
            name = exp[0].text
        out.append((name, src.range(t.start, t.end)))
    return out


def struct_ops_def(name: str, path: str, rng: Range, src: Source, type_node: Node | None,
                   init: Node | None) -> StructOps | None:
    """A ``struct_ops`` variable: its ops struct and the members its initialiser sets."""
    if type_node is None or type_node.type != "struct_specifier":
        return None
    tname = type_node.child_by_field_name("name")
    if tname is None:
        return None
    members: list[tuple[str, Range]] = []
    if init is not None and init.type == "initializer_list":
        for pair in init.named_children:
            if pair.type != "initializer_pair":
                continue
            des = pair.child_by_field_name("designator")
            if des is None or des.type != "field_designator":
                continue
            ident = next((c for c in des.named_children if c.type == "field_identifier"), None)
            if ident is not None:
                members.append((src.text(ident), src.node_range(ident)))
    return StructOps(name, src.text(tname), path, rng, tuple(members))


# -- the program macros' parameters ----------------------------------------------------------

def macro_params(lt: LocalTypes, unit: FileUnit, src: Source, macro: str, pdecls: list, *,
                 texts: bool = True) -> list[tuple[str, Desc | None, Node, str, tuple[int, int]]]:
    """The parameters a program macro declares after ``ctx`` (``pdecls``: the parameter
    declarations after the name): (name, type, name node, type as written (``""`` without
    ``texts``), the declaration's span in ``src``)."""
    out: list[tuple[str, Desc | None, Node, str, tuple[int, int]]] = []
    code = src.code
    if catalogue.MACROS[macro].program_args is ProgramArgs.CTX_PAIRS:
        for i in range(0, len(pdecls) - 1, 2):
            tnode, nnode = pdecls[i], pdecls[i + 1]
            d = lt.desc_from_tokens(src.tokens(tnode.start_byte, tnode.end_byte))
            text = type_text(code[tnode.start_byte:tnode.end_byte]) if texts else ""
            out.append((src.text(nnode).strip(), d, nnode, text,
                        (tnode.start_byte, nnode.end_byte)))
        return out
    for p in pdecls:
        if p.type != "parameter_declaration":
            continue
        d = lt.desc_of_type(p.child_by_field_name("type"), unit, p)
        pname, d2, pnode = lt.apply_declarator(d, p.child_by_field_name("declarator"), unit)
        if not pname or pnode is None:
            continue
        text = type_text(code[p.start_byte:pnode.start_byte] + b" " +
                         code[pnode.end_byte:p.end_byte]) if texts else ""
        out.append((pname, d2, pnode, text, (p.start_byte, p.end_byte)))
    return out


def type_text(text: bytes) -> str:
    """A type as written, spaces normalised: ``struct task_struct *``, ``char **``."""
    s = " ".join(text.decode("utf-8", "replace").split())
    if "*" in s:
        s = re.sub(r"\s*\*", " *", s)
        s = re.sub(r"\* (?=\*)", "*", s).strip()
    if "[" in s or "(" in s:
        s = re.sub(r"\s*\[\s*", " [", s)
        s = re.sub(r"\s*\]", "]", s)
        s = re.sub(r"\(\s+", "(", s)
        s = re.sub(r"\s+\)", ")", s)
    return s.strip()


_PROGRAM_MACRO_RE = re.compile(rb"(?<![A-Za-z0-9_$])(?:" + b"|".join(
    re.escape(n.encode()) for n in sorted(catalogue.PROGRAM_MACROS, key=len, reverse=True))
    + rb")[ \t\r\n]*\(")
_TOP = frozenset({"translation_unit", "linkage_specification", "declaration_list", "ERROR"})


def declared_types(lt: LocalTypes, trees: list[tuple[FileUnit, Node]]) -> None:
    """Make, in the program's BTF about to be written, the types of the program macros'
    parameters and of the ``__ksym`` declarations (pointers, qualifiers, prototypes that
    nothing else made), so that they have ids once it is written."""
    for unit, root in trees:
        if unit.virtual:
            continue
        code = unit.code
        offs = [m.start() for m in _PROGRAM_MACRO_RE.finditer(code)]
        offs += [off for off, text in unit.attrs if '".ksyms"' in text]
        if not offs and b'".ksyms"' not in code:
            continue
        if b'".ksyms"' in code:
            offs += [m.start() for m in re.finditer(rb'"\.ksyms"', code)]
        src: Source | None = None
        seen: set[int] = set()
        for off in sorted(set(offs)):
            node = root.descendant_for_byte_range(off, off + 1)
            while node is not None and node.parent is not None and node.parent.type not in _TOP:
                node = node.parent
            if node is None or node.start_byte in seen or node.type not in (
                    "function_definition", "declaration"):
                continue
            seen.add(node.start_byte)
            if src is None:
                src = Source(unit, bytes(code))
            try:
                for d in _node_types(lt, unit, src, node):
                    if d is not None:
                        lt.materialize(d)
            except RecursionError:  # pragma: no cover - absurd nesting
                continue


def _node_types(lt: LocalTypes, unit: FileUnit, src: Source, node: Node) -> list:
    if node.type == "declaration":
        if not ksym_attributes(unit, node.start_byte, node.end_byte)[0]:
            return []
        desc = lt.desc_of_type(node.child_by_field_name("type"), unit, node)
        return [lt.apply_declarator(desc, d, unit)[1]
                for d in node.children_by_field_name("declarator")]
    parts = function_parts(src, node)
    if parts is None or parts[0] not in catalogue.PROGRAM_MACROS or not parts[2]:
        return []
    return [p[1] for p in macro_params(lt, unit, src, parts[0], parts[2][1:],
                                         texts=False)]


def function_parts(src: Source, n: Node) -> tuple[str, Node, list, list] | None:
    """A function definition's name, name node, parameter declarations and the declarators
    around its function declarator (innermost last)."""
    decl = n.child_by_field_name("declarator")
    fdecl = decl
    wrappers = []
    while fdecl is not None and fdecl.type != "function_declarator":
        wrappers.append(fdecl)
        fdecl = fdecl.child_by_field_name("declarator")
    if fdecl is None:
        return None
    name_node = fdecl.child_by_field_name("declarator")
    while name_node is not None and name_node.type not in ("identifier", "field_identifier"):
        name_node = name_node.child_by_field_name("declarator") if \
            name_node.child_by_field_name("declarator") is not None else None
    if name_node is None:
        return None
    params_node = fdecl.child_by_field_name("parameters")
    pdecls = [p for p in params_node.named_children if p.type in (
        "parameter_declaration", "variadic_parameter")] if params_node is not None else []
    return src.text(name_node), name_node, pdecls, wrappers
