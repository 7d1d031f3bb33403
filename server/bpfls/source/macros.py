"""Macro definitions and a C macro expander that remembers where every token came from.

The expander follows the C rules closely enough for BPF programs: object-like and
function-like macros, ``#`` and ``##``, ``__VA_ARGS__``, named variadic parameters
(``args...``), GNU ``, ## __VA_ARGS__``, ``__VA_OPT__``, and rescanning with hide sets.
Tokens taken from a macro argument keep their position in the file; tokens from a macro body
get the span of the invocation, so positions in an expansion can always be mapped back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bpfls.source.pptokens import IDENT, PUNCT, STRING, Tok, tokenize, tokens_text

MAX_EXPANSION_STEPS = 20000


@dataclass(eq=False)
class MacroDef:
    name: str
    params: tuple[str, ...] | None  # None: object-like
    variadic: bool
    body: list[Tok]
    path: str | None = None
    line: int = 0
    column: int = 0
    builtin: bool = False

    @property
    def text(self) -> str:
        return tokens_text(self.body)

    def __repr__(self) -> str:
        ps = "" if self.params is None else "(" + ", ".join(self.params) + ")"
        return f"<#define {self.name}{ps} {self.text}>"


def parse_define(toks: list[Tok], path: str | None = None, line: int = 0,
                 builtin: bool = False) -> MacroDef | None:
    """``toks``: the tokens after ``define``. ``None`` when there is no macro name."""
    if not toks or toks[0].kind != IDENT:
        return None
    name = toks[0]
    rest = toks[1:]
    params: tuple[str, ...] | None = None
    variadic = False
    if rest and rest[0].text == "(" and not rest[0].space:
        ps: list[str] = []
        i = 1
        while i < len(rest) and rest[i].text != ")":
            t = rest[i]
            if t.text == "...":
                ps.append("__VA_ARGS__")
                variadic = True
            elif t.kind == IDENT:
                if i + 1 < len(rest) and rest[i + 1].text == "...":
                    ps.append(t.text)
                    variadic = True
                    i += 1
                else:
                    ps.append(t.text)
            i += 1
        params = tuple(ps)
        rest = rest[i + 1:]
    body = [t.copy(hide=frozenset()) for t in rest]
    if body:
        body[0] = body[0].copy(space=False)
    return MacroDef(name.text, params, variadic, body, path, line, name.start, builtin)


def define_from_text(text: str, path: str | None = None, builtin: bool = True) -> MacroDef | None:
    """A macro from ``NAME(params) body`` text (no ``#define``)."""
    return parse_define(tokenize(text.encode()), path, 0, builtin)


class Expander:
    """Expand macros from ``macros`` in token lists."""

    def __init__(self, macros: Mapping[str, MacroDef]) -> None:
        self.macros = macros
        self.steps = 0

    def expand(self, toks: list[Tok]) -> list[Tok]:
        if self.steps == 0 and len(toks) > 1:
            origin = toks[0].origin
            if all(t.origin == origin for t in toks):
                return self._expand_memo(toks, origin)
        return self._expand(toks)

    def _expand_memo(self, toks: list[Tok], origin: tuple[int, int]) -> list[Tok]:
        """Tokens that all come from one place (text made up by the analysis, such as the
        reads a program macro implies) expand the same way each time the macros they meet
        are the same: the expansion is kept, with the definitions it looked up, and given
        the new place."""
        key = tuple((t.kind, t.text, t.start, t.end, t.space, t.hide) for t in toks)
        hit = _EXPANSIONS.get(key)
        macros = self.macros
        if hit is not None:
            looked, steps, out = hit
            if all(macros.get(name) is m for name, m in looked):
                self.steps = steps
                return [t.copy(origin=origin) for t in out]
        rec = _Recorder(macros)
        self.macros = rec
        try:
            out = self._expand(toks)
        finally:
            self.macros = macros
        if all(t.origin == origin for t in out):
            if len(_EXPANSIONS) > 4096:
                _EXPANSIONS.clear()
            _EXPANSIONS[key] = (tuple(rec.looked.items()), self.steps,
                                tuple(t.copy() for t in out))
        return out

    def _expand(self, toks: list[Tok]) -> list[Tok]:
        out: list[Tok] = []
        work = list(reversed(toks))
        macros = self.macros
        while work:
            t = work.pop()
            if t.kind != IDENT or t.text in t.hide:
                out.append(t)
                continue
            m = macros.get(t.text)
            if m is None:
                out.append(t)
                continue
            self.steps += 1
            if self.steps > MAX_EXPANSION_STEPS:
                out.append(t)
                out.extend(reversed(work))
                return out
            hide = t.hide | {m.name}
            if m.params is None:
                rep = [b.copy(origin=t.origin, hide=hide) for b in m.body]
                if rep:
                    rep[0] = rep[0].copy(space=t.space)
                rep = self._paste(rep)
                work.extend(reversed(rep))
                continue
            if not work or work[-1].text != "(":
                out.append(t)
                continue
            saved = list(work)
            work.pop()
            args, close = _collect_args(work)
            if close is None:
                work[:] = saved
                out.append(t)
                continue
            origin = (t.origin[0], close.origin[1]) if close.origin[1] >= t.origin[0] else \
                t.origin
            rep = self._substitute(m, args, origin, hide | (t.hide & close.hide))
            if rep:
                rep[0] = rep[0].copy(space=t.space)
            work.extend(reversed(rep))
        return out

    # -- function-like macros ----------------------------------------------------------------
    def _substitute(self, m: MacroDef, args: list[list[Tok]], origin: tuple[int, int],
                    hide: frozenset[str]) -> list[Tok]:
        params = m.params or ()
        if len(params) == 0 and len(args) == 1 and not args[0]:
            args = []
        amap: dict[str, list[Tok]] = {}
        for i, p in enumerate(params):
            if m.variadic and i == len(params) - 1:
                rest: list[Tok] = []
                for j, a in enumerate(args[i:]):
                    if j:
                        rest.append(Tok(PUNCT, ",", 0, 0, False, origin))
                    rest.extend(a)
                amap[p] = rest
            else:
                amap[p] = args[i] if i < len(args) else []
        expanded: dict[str, list[Tok]] = {}
        body = m.body
        out: list[Tok] = []
        paste_next = False
        i = 0
        n = len(body)
        while i < n:
            b = body[i]
            if b.text == "#" and i + 1 < n and body[i + 1].text in amap:
                out.append(Tok(STRING, _stringify(amap[body[i + 1].text]), 0, 0, b.space, origin,
                               hide))
                i += 2
                continue
            if b.text == "##" and b.kind == PUNCT:
                paste_next = True
                # GNU: `, ## __VA_ARGS__` drops the comma when the variadic argument is empty,
                # and pastes nothing otherwise
                if (i + 1 < n and m.variadic and body[i + 1].text == params[-1] and out
                        and out[-1].text == ","):
                    paste_next = False
                    if not amap.get(params[-1]):
                        out.pop()
                        i += 2
                    else:
                        i += 1
                    continue
                out.append(Tok("paste", "##", 0, 0))
                i += 1
                continue
            if b.text == "__VA_OPT__" and m.variadic and i + 1 < n and body[i + 1].text == "(":
                depth = 0
                j = i + 1
                inner: list[Tok] = []
                while j < n:
                    if body[j].text == "(":
                        depth += 1
                        if depth == 1:
                            j += 1
                            continue
                    elif body[j].text == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    inner.append(body[j])
                    j += 1
                if amap.get(params[-1]):
                    sub = MacroDef("__VA_OPT__", m.params, m.variadic, inner)
                    out.extend(self._substitute(sub, args, origin, hide))
                i = j + 1
                continue
            if b.kind == IDENT and b.text in amap:
                next_paste = i + 1 < n and body[i + 1].text == "##"
                if paste_next or next_paste:
                    arg = [a.copy(hide=a.hide | hide) for a in amap[b.text]]
                else:
                    if b.text not in expanded:
                        expanded[b.text] = self.expand(list(amap[b.text]))
                    arg = [a.copy(hide=a.hide | hide) for a in expanded[b.text]]
                if arg:
                    arg[0] = arg[0].copy(space=b.space)
                out.extend(arg)
                if not arg and (paste_next or next_paste):
                    out.append(Tok("placemarker", "", 0, 0, False, origin))
                paste_next = False
                i += 1
                continue
            out.append(b.copy(origin=origin, hide=hide))
            paste_next = False
            i += 1
        return self._paste(out)

    def _paste(self, toks: list[Tok]) -> list[Tok]:
        if not any(t.kind == "paste" for t in toks):
            return [t for t in toks if t.kind != "placemarker"]
        out: list[Tok] = []
        i = 0
        while i < len(toks):
            t = toks[i]
            if t.kind == "paste" and out and i + 1 < len(toks):
                left = out.pop()
                right = toks[i + 1]
                text = left.text + right.text
                new = tokenize(text.encode())
                if len(new) == 1:
                    nt = new[0]
                    out.append(Tok(nt.kind, nt.text, 0, 0, left.space, left.origin,
                                   left.hide | right.hide))
                elif not text:
                    out.append(Tok("placemarker", "", 0, 0, left.space, left.origin))
                else:
                    out.append(left)
                    out.append(right)
                i += 2
                continue
            if t.kind == "paste":
                i += 1
                continue
            out.append(t)
            i += 1
        return [t for t in out if t.kind != "placemarker"]


class _Recorder:
    """The macro table, remembering which names were looked up and what they were."""

    __slots__ = ("macros", "looked")

    def __init__(self, macros: Mapping[str, MacroDef]) -> None:
        self.macros = macros
        self.looked: dict[str, MacroDef | None] = {}

    def get(self, name: str) -> MacroDef | None:
        m = self.macros.get(name)
        self.looked.setdefault(name, m)
        return m


#: token texts (all from one place) → (definitions looked up, steps, expansion)
_EXPANSIONS: dict[tuple, tuple] = {}


def _collect_args(work: list[Tok]) -> tuple[list[list[Tok]], Tok | None]:
    """Pop the arguments of an invocation from the (reversed) work stack, '(' already taken."""
    args: list[list[Tok]] = [[]]
    depth = 1
    while work:
        t = work.pop()
        if t.text == "(" and t.kind == PUNCT:
            depth += 1
        elif t.text == ")" and t.kind == PUNCT:
            depth -= 1
            if depth == 0:
                return args, t
        elif t.text == "," and depth == 1 and t.kind == PUNCT:
            args.append([])
            continue
        args[-1].append(t)
    return args, None


def _stringify(toks: list[Tok]) -> str:
    s = tokens_text([t.copy(space=t.space if i else False) for i, t in enumerate(toks)])
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def macro_identifiers(name: str, macros: Mapping[str, MacroDef]) -> set[str]:
    """The identifiers macro ``name`` may expand to (through the macros it uses)."""
    out: set[str] = set()
    todo = [name]
    seen = set()
    while todo:
        m = macros.get(todo.pop())
        if m is None or m.name in seen:
            continue
        seen.add(m.name)
        for t in m.body:
            if t.kind == IDENT:
                out.add(t.text)
                if t.text in macros:
                    todo.append(t.text)
    return out
