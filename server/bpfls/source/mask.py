"""Hide attribute-like macros from the parser, keeping every byte position.

tree-sitter does not expand macros, so ``SEC("kprobe/x") int f(...)``, ``static __always_inline
int f(...)`` or ``struct s { ... } __pai;`` would not parse as declarations. Uses of macros
whose expansion is only attributes, ``inline`` or nothing (``__always_inline``, ``__weak``,
``__hidden``, ``__ksym``, ``SEC(...)``, ``__rcu``...) are replaced by spaces (or by the
``static``/``extern``/``const``/``volatile`` they contain, when that fits). ``SEC`` names and
the text of masked attributes are recorded on the file so that nothing they say is lost.

Macros that write functions are hidden too, at the top level of a file: a use whose expansion
holds whole function definitions (``DEFINE_PROGS(open)``, an X-macro list
``FOR_EACH_HOOK(HOOK)``), and a function header written by a macro and followed by its body
(``DEFINE_PROBE(do_exit) { ... }``, ``static int MY_PROG(x) { ... }``). Each becomes a
:class:`MacroUse` on the file: the expansion spelled out as text (its own ``SEC`` and attributes
masked the same way), every token remembering where it came from, for the function discovery to
parse; the file keeps only the body written after a header.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from bpfls.source import catalogue
from bpfls.source.exprtypes import SnippetSource, snippet_from_tokens
from bpfls.source.macros import Expander, MacroDef
from bpfls.source.pptokens import IDENT, PUNCT, STRING, Tok, matching_paren, tokenize
from bpfls.source.preprocess import FileUnit

_KEEP = ("static", "extern", "const", "volatile")
_DROP = frozenset({"inline", "__inline", "__inline__", "__extension__", "__always_inline__",
                   "_Noreturn", "__noreturn", "noinline"})
_ATTR = frozenset({"__attribute__", "__attribute", "__declspec", "_Alignas", "alignas",
                   "__asm__", "asm"})


def _classify(m: MacroDef, macros: dict[str, MacroDef]) -> tuple[str, str] | None:
    """(kept keywords, attribute text) when the macro expands to attributes only."""
    if m.name in catalogue.ALL_INTRINSICS:
        return None
    body = m.body
    if any(t.kind == IDENT and t.text in macros and t.text != m.name for t in body):
        try:
            body = Expander(_Without(macros, m.name)).expand([t.copy() for t in body])
        except RecursionError:  # pragma: no cover
            return None
    keep: list[str] = []
    attrs: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        t = body[i]
        if t.kind == IDENT and t.text in _KEEP:
            keep.append(t.text)
            i += 1
            continue
        if t.kind == IDENT and t.text in _DROP:
            i += 1
            continue
        if t.kind == IDENT and t.text in _ATTR and i + 1 < n and body[i + 1].text == "(":
            j = matching_paren(body, i + 1)
            if j < 0:
                j = n
            attrs.append(" ".join(x.text for x in body[i:j + 1]))
            i = j + 1
            continue
        return None
    if m.params is not None and not attrs and m.name != "SEC":
        return None  # a function-like macro expanding to nothing is a statement, not an attribute
    return " ".join(keep), " ".join(attrs)


class _Without(Mapping[str, MacroDef]):
    """``macros`` less one name, without copying the table."""

    def __init__(self, macros: dict[str, MacroDef], name: str) -> None:
        self.macros = macros
        self.name = name

    def get(self, key, default=None):  # type: ignore[override]
        return default if key == self.name else self.macros.get(key, default)

    def __getitem__(self, key: str) -> MacroDef:
        if key == self.name:
            raise KeyError(key)
        return self.macros[key]

    def __iter__(self) -> Iterator[str]:
        return (k for k in self.macros if k != self.name)

    def __len__(self) -> int:
        return len(self.macros) - (self.name in self.macros)


_CLASSIFIED: dict[tuple, tuple[str, str] | None] = {}
#: id of a definition → (it, the definitions its body's names had, its classification); the
#: definition is kept, so its id is not reused while the entry lives
_BY_DEFINITION: dict[int, tuple[MacroDef, tuple[tuple[str, MacroDef], ...],
                                tuple[str, str] | None]] = {}
_PATTERNS: dict[tuple[str, ...], re.Pattern[bytes]] = {}


def _key(m: MacroDef, macros: dict[str, MacroDef]) -> tuple:
    deps = tuple((t.text, macros[t.text].text) for t in m.body
                 if t.kind == IDENT and t.text in macros and t.text != m.name)
    return (m.name, m.params, tuple(t.text for t in m.body), deps)


def attribute_macros(macros: dict[str, MacroDef]) -> dict[str, tuple[str, str, bool]]:
    """name → (kept keywords, attribute text, function-like) for every attribute-like macro."""
    out: dict[str, tuple[str, str, bool]] = {}
    for name, m in macros.items():
        if m.path in ("<built-in>", "<command line>"):
            continue
        # the same definition (headers are read once per run) with the same definitions of
        # the names its body uses is classified as before, without rebuilding its key
        known = _BY_DEFINITION.get(id(m))
        if known is not None and known[0] is m and all(macros.get(n) is d
                                                       for n, d in known[1]):
            c = known[2]
        else:
            key = _key(m, macros)
            if key in _CLASSIFIED:
                c = _CLASSIFIED[key]
            else:
                c = _classify(m, macros)
                if len(_CLASSIFIED) > 50_000:
                    _CLASSIFIED.clear()
                _CLASSIFIED[key] = c
            if len(_BY_DEFINITION) > 200_000:
                _BY_DEFINITION.clear()
            _BY_DEFINITION[id(m)] = (m, tuple(
                (t.text, macros[t.text]) for t in m.body
                if t.kind == IDENT and t.text in macros and t.text != m.name), c)
        if c is not None:
            out[name] = (c[0], c[1], m.params is not None)
    return out


def _names_re(names: tuple[str, ...]) -> re.Pattern[bytes]:
    """Any of ``names`` as a whole identifier (remembered). A lookahead on the first letters
    lets the search skip most positions without trying every name."""
    rx = _PATTERNS.get(names)
    if rx is None:
        first = b"".join(re.escape(bytes([c])) for c in sorted({n.encode()[0] for n in names}))
        rx = re.compile(rb"(?<![A-Za-z0-9_$])(?=[" + first + rb"])(?:"
                        + b"|".join(re.escape(n.encode()) for n in names)
                        + rb")(?![A-Za-z0-9_$])")
        if len(_PATTERNS) > 256:
            _PATTERNS.clear()
        _PATTERNS[names] = rx
    return rx


def mask_units(units: list[FileUnit], macros: dict[str, MacroDef]) -> None:
    """Mask attribute-like macro uses in every unit's code, in place, then the top-level uses
    of macros that write functions (recorded as :class:`MacroUse` on each unit)."""
    table = masked_macros(macros)
    rx = names_pattern(table)
    for unit in units:
        mask_attributes(unit, rx, table, macros)
    mask_writers(units, macros, table, rx)


def masked_macros(macros: dict[str, MacroDef]) -> dict[str, tuple[str, str, bool]]:
    """The attribute-like macros of ``macros`` and ``SEC``: what :func:`mask_attributes`
    masks."""
    table = attribute_macros(macros)
    table.setdefault("SEC", ("", "section", True))
    return table


def names_pattern(table: dict[str, tuple[str, str, bool]]) -> re.Pattern[bytes]:
    """The uses of ``table``'s names."""
    return _names_re(tuple(sorted(table, key=lambda n: (-len(n), n))))


def mask_attributes(unit: FileUnit, rx: re.Pattern[bytes],
                    table: dict[str, tuple[str, str, bool]], macros: dict[str, MacroDef]) -> None:
    """Mask one unit's attribute-like macro uses (``rx``: :func:`names_pattern` of
    ``table``), recording its sections and attributes."""
    _mask(unit.code, rx, table, macros, unit.sections, unit.attrs)
    _written_sections(unit, macros)


def mask_writers(units: list[FileUnit], macros: dict[str, MacroDef],
                 table: dict[str, tuple[str, str, bool]], rx: re.Pattern[bytes]) -> None:
    """After :func:`mask_attributes`: the top-level uses of macros that write functions,
    blanked and recorded as :class:`MacroUse` on each unit."""
    writers = _writer_candidates(macros, table)
    if not writers:
        return
    wrx = _names_re(tuple(sorted(writers, key=lambda n: (-len(n), n))))
    expand_with = _Excluding(macros, frozenset(table) | catalogue.ALL_INTRINSICS)
    for unit in units:
        if not unit.virtual:
            _mask_writers(unit, wrx, macros, expand_with, rx, table)


def _mask(code: bytearray, rx: re.Pattern[bytes], table: dict[str, tuple[str, str, bool]],
          macros: dict[str, MacroDef], sections: list[tuple[int, str]],
          attrs_out: list[tuple[int, str]]) -> None:
    data = bytes(code)
    pos = 0
    while True:
        m = rx.search(data, pos)
        if m is None:
            return
        name = m.group().decode()
        keep, attrs, fn_like = table[name]
        start, end = m.span()
        args_text = b""
        if fn_like:
            j = end
            while j < len(data) and data[j] in b" \t\r\n":
                j += 1
            if j >= len(data) or data[j] != ord("("):
                pos = end
                continue
            close = _match_paren(data, j)
            if close < 0:
                pos = end
                continue
            args_text = data[j + 1:close]
            end = close + 1
        if name == "SEC":
            sections.append((start, _section_name(args_text, macros)))
        elif attrs:
            if fn_like and args_text:
                attrs = attrs + " " + args_text.decode("utf-8", "replace")
            attrs_out.append((start, attrs))
            if "section" in attrs:  # a macro of the program's own for SEC
                sec = _attribute_section(data[start:end], macros)
                if sec is not None:
                    sections.append((start, sec))
        repl = keep.encode()
        span = data[start:end]
        if len(repl) > len(span.replace(b"\n", b"")) or b"\n" in span:
            repl = b""
        new = bytearray(span)
        for i, c in enumerate(span):
            if c != 10:
                new[i] = 32
        new[:len(repl)] = repl
        code[start:end] = new
        pos = end


# -- macros that write functions -------------------------------------------------------------

@dataclass(eq=False)
class MacroUse:
    """A use, at the top level of a file, of a macro that writes functions; ``start``/``end``
    is what was blanked in the file's code.

    ``header`` is false when the expansion holds whole definitions; true when it is a function
    header whose body follows in the file (its ``{`` at ``body``): the header is then spelled out
    with an empty body. ``source`` is the expansion as text, its ``SEC`` and attribute macros
    masked (``sections``: where each ``SEC`` was, in that text, and its name), every token
    mapped back to the file: to the macro's use, or to the argument it came from."""

    name: str
    start: int
    end: int
    source: SnippetSource
    sections: list[tuple[int, str]] = field(default_factory=list)
    header: bool = False
    body: int = -1


class _Excluding(Mapping[str, MacroDef]):
    """``macros`` less some names, without copying the table."""

    def __init__(self, macros: dict[str, MacroDef], names: frozenset[str]) -> None:
        self.macros = macros
        self.names = names

    def get(self, key, default=None):  # type: ignore[override]
        return default if key in self.names else self.macros.get(key, default)

    def __getitem__(self, key: str) -> MacroDef:
        if key in self.names:
            raise KeyError(key)
        return self.macros[key]

    def __iter__(self) -> Iterator[str]:
        return (k for k in self.macros if k not in self.names)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _writer_candidates(macros: dict[str, MacroDef],
                       table: dict[str, tuple[str, str, bool]]) -> list[str]:
    """The program's own macros that might write a function or its header: a body with a
    parenthesis or a brace (a declarator, a definition, or a list calling its parameter);
    libbpf's program macros and the attribute macros are read as they are."""
    out = []
    for name, m in macros.items():
        if m.builtin or m.path in ("<built-in>", "<command line>") or name in table or \
                name in catalogue.ALL_INTRINSICS:
            continue
        known = _OPENS.get(id(m))
        if known is None or known[0] is not m:
            if len(_OPENS) > 200_000:
                _OPENS.clear()
            known = _OPENS[id(m)] = (m, any(t.kind == PUNCT and t.text in ("(", "{")
                                            for t in m.body))
        if known[1]:
            out.append(name)
    return out


#: id of a definition → (it, whether its body has a parenthesis or a brace)
_OPENS: dict[int, tuple[MacroDef, bool]] = {}


#: what the top-level scan does not count: literals and comments
_LITERAL_RE = re.compile(rb'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|//[^\n]*|/\*.*?(?:\*/|\Z)',
                         re.S)
_SPACE_RE = re.compile(rb"(?:[ \t\r\n\f\v]+|//[^\n]*|/\*.*?(?:\*/|\Z))*", re.S)


def _blank_literal(m: re.Match[bytes]) -> bytes:
    """A literal or a comment as spaces (the offsets after it kept)."""
    return b" " * (m.end() - m.start())


def _mask_writers(unit: FileUnit, wrx: re.Pattern[bytes], macros: dict[str, MacroDef],
                  expand_with: Mapping[str, MacroDef], rx: re.Pattern[bytes],
                  table: dict[str, tuple[str, str, bool]]) -> None:
    """Find the top-level uses of the candidate macros in ``unit``, keep those that write
    functions (:class:`MacroUse`) and blank them.

    Literals and comments are blanked first; the candidates are searched only outside braces
    (what a function body or a type's members hold is read by the walker), their depth in
    parentheses counted from there; a use's item starts after the last ``;`` or ``}``."""
    code = unit.code
    data = bytes(code)
    if wrx.search(data) is None:
        return  # no candidate anywhere (most headers)
    clean = _LITERAL_RE.sub(_blank_literal, data)
    uses: list[MacroUse] = []
    taken = 0  # the end of the last use kept: hits inside it are part of it
    count = clean.count
    may: dict[str, bool] = {}
    for lo, hi in _outside_braces(clean):
        depth = 0
        prev = lo
        for m in wrx.finditer(clean, lo, hi):
            off = m.start()
            depth += (count(b"(", prev, off) + count(b"[", prev, off)
                      - count(b")", prev, off) - count(b"]", prev, off))
            depth = max(depth, 0)
            prev = off
            if depth or off < taken:
                continue
            item = max(lo, taken, clean.rfind(b";", lo, off) + 1)
            use = _writer_use(unit, data, off, m.group().decode(), item, macros, expand_with,
                              rx, table, may)
            if use is not None:
                uses.append(use)
                taken = use.end
    for use in uses:
        for i in range(use.start, use.end):
            if code[i] != 10:
                code[i] = 32
    unit.generated.extend(uses)


_BRACE_RE = re.compile(rb"[{}]")


def _outside_braces(clean: bytes) -> list[tuple[int, int]]:
    """The spans of ``clean`` at brace depth 0."""
    out = []
    depth = 0
    start = 0
    for m in _BRACE_RE.finditer(clean):
        if m.group() == b"{":
            if depth == 0:
                out.append((start, m.start()))
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                start = m.end()
    if depth == 0:
        out.append((start, len(clean)))
    return out


def _may_define(name: str, macros: dict[str, MacroDef], memo: dict[str, bool]) -> bool:
    """Can the expansion of ``name`` hold a function's body: a brace after a parenthesis in
    its definition, a parameter it calls (an X-macro list), or a macro it uses that can?"""
    hit = memo.get(name)
    if hit is not None:
        return hit
    memo[name] = False  # a macro naming itself
    m = macros.get(name)
    res = False
    if m is not None:
        params = frozenset(m.params or ())
        body = m.body
        for i, t in enumerate(body):
            if t.kind == PUNCT and t.text == "{":
                res = i > 0 and body[i - 1].text == ")"
            elif t.kind == IDENT and t.text in params:
                res = i + 1 < len(body) and body[i + 1].text == "("
            elif t.kind == IDENT and t.text in macros and t.text != name:
                res = _may_define(t.text, macros, memo)
            if res:
                break
    memo[name] = res
    return res


def _writer_use(unit: FileUnit, data: bytes, off: int, name: str, item: int,
                macros: dict[str, MacroDef], expand_with: Mapping[str, MacroDef],
                rx: re.Pattern[bytes], table: dict[str, tuple[str, str, bool]],
                may: dict[str, bool]) -> MacroUse | None:
    """The use of ``name`` at ``off`` (top level, in the item starting at ``item``) when it
    writes functions or a function's header."""
    m = macros[name]
    end = off + len(name)
    if m.params is not None:
        j = _SPACE_RE.match(data, end).end()
        if j >= len(data) or data[j] != 0x28:
            return None
        close = _match_paren(data, j)
        if close < 0:
            return None
        end = close + 1
    after = _SPACE_RE.match(data, end).end()
    header = after < len(data) and data[after] == 0x7B
    if not header and b"{" not in data[off:end] and not _may_define(name, macros, may):
        return None
    start = item if header else off
    toks = tokenize(data[start:end], start)
    if not toks:  # pragma: no cover - the use itself is a token
        return None
    start = toks[0].start
    try:
        exp = Expander(expand_with).expand(toks)
    except RecursionError:  # pragma: no cover - absurd nesting
        return None
    if header:
        if not _is_header(exp):
            return None
        snip = snippet_from_tokens(unit, exp, b"", b" { }", (off, end))
    else:
        if not _has_definition(exp):
            return None
        snip = snippet_from_tokens(unit, exp, b"", b"", (off, end))
    masked = bytearray(snip.code)
    sections: list[tuple[int, str]] = []
    _mask(masked, rx, table, macros, sections, [])
    source = SnippetSource(unit, bytes(masked), snip.spans, snip.fallback)
    return MacroUse(name, start, end, source, sorted(sections), header,
                    after if header else -1)


def _has_definition(toks: list[Tok]) -> bool:
    """Does the expansion define a function: a ``{`` outside parentheses right after a
    ``)``?"""
    depth = 0
    prev = ""
    for t in toks:
        x = t.text
        if t.kind == PUNCT:
            if x in ("(", "["):
                depth += 1
            elif x in (")", "]"):
                depth -= 1
            elif x == "{" and depth == 0 and prev == ")":
                return True
        prev = x
    return False


def _is_header(toks: list[Tok]) -> bool:
    """Is the expansion a function's header: a name and its parameter list last, with no
    ``;``, ``=`` or braces outside parentheses?"""
    if len(toks) < 3 or toks[-1].text != ")":
        return False
    depth = 0
    for t in toks:
        x = t.text
        if t.kind != PUNCT:
            continue
        if x in ("(", "["):
            depth += 1
        elif x in (")", "]"):
            depth -= 1
        elif depth == 0 and x in (";", "=", "{", "}"):
            return False
    j = _matching_paren_back(toks, len(toks) - 1)
    return j > 0 and toks[j - 1].kind == IDENT


def _matching_paren_back(toks: list[Tok], i: int) -> int:
    """The index of the ``(`` that the ``)`` at ``toks[i]`` closes (-1 when none does)."""
    depth = 0
    while i >= 0:
        x = toks[i].text
        if x == ")":
            depth += 1
        elif x == "(":
            depth -= 1
            if depth == 0:
                return i
        i -= 1
    return -1


def _match_paren(data: bytes, i: int) -> int:
    depth = 0
    n = len(data)
    in_str: int | None = None
    while i < n:
        c = data[i]
        if in_str is not None:
            if c == 92:
                i += 2
                continue
            if c == in_str:
                in_str = None
        elif c in (34, 39):
            in_str = c
        elif c == 40:
            depth += 1
        elif c == 41:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


_SECTION_ATTR_RE = re.compile(rb"__attribute__\s*\(\s*\(\s*(?:section|__section__)\s*\(")


def _written_sections(unit: FileUnit, macros: dict[str, MacroDef]) -> None:
    """The sections written as ``__attribute__((section("..."), used))``, as ``SEC`` would
    name them (the attribute is left for the parser)."""
    code = unit.code
    if b"section" not in code:
        return
    data = bytes(code)
    for m in _SECTION_ATTR_RE.finditer(data):
        close = _match_paren(data, data.index(b"(", m.start()))
        if close < 0:
            continue
        sec = _attribute_section(data[m.start():close + 1], macros)
        if sec is not None:
            unit.sections.append((m.start(), sec))


def _attribute_section(text: bytes, macros: dict[str, MacroDef]) -> str | None:
    """The name the ``section(...)`` attribute in ``text`` (macros expanded) gives."""
    toks: list[Tok] = tokenize(text)
    if any(t.kind == IDENT and macros.get(t.text) is not None for t in toks):
        try:
            toks = Expander(macros).expand(toks)
        except RecursionError:  # pragma: no cover
            return None
    for i, t in enumerate(toks):
        if t.kind == IDENT and t.text in ("section", "__section__") and i + 1 < len(toks) \
                and toks[i + 1].text == "(":
            j = matching_paren(toks, i + 1)
            parts = [x.text for x in toks[i + 2:j] if x.kind == STRING]
            if parts:
                return "".join(_unquote(p) for p in parts)
    return None


def _section_name(args: bytes, macros: dict[str, MacroDef]) -> str:
    toks: list[Tok] = tokenize(args)
    if any(t.kind == IDENT for t in toks):
        toks = Expander(macros).expand(toks)
    parts = [t.text for t in toks if t.kind == STRING]
    if parts:
        return "".join(_unquote(p) for p in parts)
    return "".join(t.text for t in toks if t.kind != PUNCT or t.text not in "()")


def _unquote(s: str) -> str:
    q = s.index('"')
    body = s[q + 1:-1] if s.endswith('"') else s[q + 1:]
    return body.encode("utf-8").decode("unicode_escape", "replace") if "\\" in body else body


# -- the parser's view of type arguments -------------------------------------------------------

_TYPE_ARG_RES: tuple[re.Pattern[bytes], re.Pattern[bytes], tuple[bytes, ...]] | None = None


def _type_arg_res() -> tuple[re.Pattern[bytes], re.Pattern[bytes], tuple[bytes, ...]]:
    """(the macros whose first argument may be a type, followed by a tag; the ones whose second
    may be, up to their '('; the names of the latter)."""
    global _TYPE_ARG_RES
    if _TYPE_ARG_RES is None:
        first = sorted((m.name.encode() for m in catalogue.MACROS.values() if m.type_arg == 0),
                       key=lambda n: (-len(n), n))
        second = tuple(sorted(m.name.encode() for m in catalogue.MACROS.values()
                              if m.type_arg == 1))
        _TYPE_ARG_RES = (
            re.compile(rb"(?<![A-Za-z0-9_$])(?:" + b"|".join(re.escape(n) for n in first)
                       + rb")[ \t\r\n]*\([ \t\r\n]*(struct|union|enum)[ \t\r\n]+[A-Za-z_]"),
            re.compile(rb"(?<![A-Za-z0-9_$])(?:" + b"|".join(re.escape(n) for n in second)
                       + rb")[ \t\r\n]*\("),
            second)
    return _TYPE_ARG_RES


_TAG_RE = re.compile(rb"[ \t\r\n]*(struct|union|enum)[ \t\r\n]+[A-Za-z_]")


def parser_code(code: bytes) -> bytes:
    """``code`` as tree-sitter is given it: in the calls of the CO-RE macros that take a type
    (``bpf_core_field_exists(struct task_struct___o, state)``, ``bpf_core_type_exists(struct
    x)``, ``bpf_core_cast(p, struct x)``...) the ``struct``/``union``/``enum`` keyword of the
    type argument is blanked, so that the call parses as a call, not as a syntax error.

    The walker reads those arguments as tokens of the unit's code, which keeps the keyword; what
    changes is that the function holding the call is free of errors, so that tree-sitter can
    reuse it when another part of the file is edited (it never reuses a subtree with an error).
    Every byte position stays where it was.
    """
    first, second, second_names = _type_arg_res()
    spans = [m.span(1) for m in first.finditer(code)]
    if any(n in code for n in second_names):
        for m in second.finditer(code):
            comma = _top_level_comma(code, m.end())
            if comma >= 0:
                t = _TAG_RE.match(code, comma + 1)
                if t is not None:
                    spans.append(t.span(1))
    if not spans:
        return code
    out = bytearray(code)
    for s, e in spans:
        out[s:e] = b" " * (e - s)
    return bytes(out)


def _top_level_comma(code: bytes, i: int) -> int:
    """The offset of the first comma at depth 1 of the call whose '(' ends before ``i``."""
    depth = 1
    n = len(code)
    while i < n:
        c = code[i]
        if c in (34, 39):  # a string or character literal: skip it
            j = i + 1
            while j < n and code[j] != c and code[j] != 10:
                j += 2 if code[j] == 92 else 1
            i = j + 1
            continue
        if c in (40, 91):
            depth += 1
        elif c in (41, 93):
            depth -= 1
            if depth == 0:
                return -1
        elif c == 44 and depth == 1:
            return i
        elif c in (59, 123, 125):  # ; { }: not a call after all
            return -1
        i += 1
    return -1
