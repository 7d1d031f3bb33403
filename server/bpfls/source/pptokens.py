"""C preprocessing tokens over UTF-8 bytes, with byte offsets into the text they came from."""

from __future__ import annotations

import re
from bisect import bisect_right

#: one C token (or whitespace, a comment, a newline) of UTF-8 text; also scans single lines
TOKEN_RE = re.compile(
    rb"""
     (?P<ws>(?:[ \t\f\v\r]|\\\r?\n)+)
    |(?P<nl>\n)
    |(?P<comment>//(?:[^\n\\]|\\.)*|/\*.*?(?:\*/|\Z))
    |(?P<char>(?:u8|u|U|L)?'(?:\\.|[^'\\\n])*'?)
    |(?P<string>(?:u8|u|U|L)?"(?:\\.|[^"\\\n])*"?)
    |(?P<ident>[A-Za-z_$\x80-\xff][A-Za-z0-9_$\x80-\xff]*)
    |(?P<number>\.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.'])*)
    |(?P<punct>\.\.\.|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|\#\#
              |[][(){}.,;:?~#+\-*/%&|^!=<>])
    |(?P<other>.)
    """,
    re.X | re.S,
)

IDENT = "ident"
NUMBER = "number"
CHAR = "char"
STRING = "string"
PUNCT = "punct"
OTHER = "other"


class Tok:
    """One token. ``start``/``end`` are byte offsets into the text it was read from;
    ``origin`` (start, end) is where it came from in the original file after macro expansion
    (``None``: not traceable). ``hide`` is the set of macro names that must not expand it."""

    __slots__ = ("kind", "text", "start", "end", "space", "origin", "hide")

    def __init__(self, kind: str, text: str, start: int, end: int, space: bool = False,
                 origin: tuple[int, int] | None = None, hide: frozenset[str] = frozenset()):
        self.kind = kind
        self.text = text
        self.start = start
        self.end = end
        self.space = space  # whitespace before it
        self.origin = origin if origin is not None else (start, end)
        self.hide = hide

    def copy(self, **kw) -> Tok:
        t = _new_tok(Tok)
        t.kind = self.kind
        t.text = self.text
        t.start = self.start
        t.end = self.end
        t.space = self.space
        t.origin = self.origin
        t.hide = self.hide
        for k, v in kw.items():
            setattr(t, k, v)
        return t

    def __repr__(self) -> str:
        return f"Tok({self.kind}, {self.text!r}, {self.start})"


_new_tok = object.__new__


_SPLICE_RE = re.compile(rb"\\\r?\n")


def tokenize(data: bytes, base: int = 0, *, newlines: bool = False) -> list[Tok]:
    """Tokens of ``data`` (comments and whitespace dropped; ``base`` is added to offsets).

    Backslash-newline splices are removed first, as C's second phase does: a token may go on
    across one, and its offsets are still those of ``data`` (its text is spliced).
    With ``newlines`` a ``Tok("nl")`` marks each line end (for directive scanning)."""
    if b"\\\n" in data or b"\\\r\n" in data:
        return _tokenize_spliced(data, base, newlines)
    out: list[Tok] = []
    space = False
    for m in TOKEN_RE.finditer(data):
        kind = m.lastgroup
        if kind == "ws" or kind == "comment":
            space = True
            continue
        if kind == "nl":
            if newlines:
                out.append(Tok("nl", "\n", base + m.start(), base + m.end()))
            space = True
            continue
        s, e = m.span()
        out.append(Tok(kind, m.group().decode("utf-8", "replace"), base + s, base + e, space))
        space = False
    return out


def _tokenize_spliced(data: bytes, base: int, newlines: bool) -> list[Tok]:
    """:func:`tokenize` of ``data`` with its splices removed, offsets mapped back."""
    joined: list[bytes] = []
    cuts: list[int] = []  # offset in the joined text where each piece starts
    shifts: list[int] = []  # what to add there to get the offset in ``data``
    pos = 0
    length = 0
    for m in _SPLICE_RE.finditer(data):
        joined.append(data[pos:m.start()])
        cuts.append(length)
        shifts.append(pos - length)
        length += m.start() - pos
        pos = m.end()
    joined.append(data[pos:])
    cuts.append(length)
    shifts.append(pos - length)
    toks = tokenize(b"".join(joined), 0, newlines=newlines)

    def where(off: int, end: bool) -> int:
        k = bisect_right(cuts, off - 1 if end else off) - 1
        return base + off + shifts[max(k, 0)]

    for t in toks:
        t.start = where(t.start, False)
        t.end = where(t.end, True)
        t.origin = (t.start, t.end)
    return toks


def matching_paren(toks: list[Tok], i: int) -> int:
    """Index of the ')' that closes the '(' at ``toks[i]``, or -1 when it is never closed."""
    depth = 0
    for j in range(i, len(toks)):
        tx = toks[j].text
        if tx == "(":
            depth += 1
        elif tx == ")":
            depth -= 1
            if depth == 0:
                return j
    return -1


def split_top_level(toks: list[Tok], sep: str = ",") -> list[list[Tok]]:
    """``toks`` split at each ``sep`` outside parentheses, brackets and braces (a macro's
    arguments, the terms of ``a && b``)."""
    out: list[list[Tok]] = [[]]
    depth = 0
    for t in toks:
        if t.kind == PUNCT and t.text in "([{":
            depth += 1
        elif t.kind == PUNCT and t.text in ")]}":
            depth -= 1
        elif depth == 0 and t.text == sep:
            out.append([])
            continue
        out[-1].append(t)
    return out


def tokens_text(toks: list[Tok]) -> str:
    """Spell tokens back out (a space where there was one, or where needed to keep tokens apart)."""
    parts: list[str] = []
    prev: Tok | None = None
    for t in toks:
        if prev is not None and (t.space or _glue(prev, t)):
            parts.append(" ")
        parts.append(t.text)
        prev = t
    return "".join(parts)


def _glue(a: Tok, b: Tok) -> bool:
    """Would writing ``a`` and ``b`` together make a different token?"""
    if a.kind in (IDENT, NUMBER) and b.kind in (IDENT, NUMBER):
        return True
    if a.kind == PUNCT and b.kind == PUNCT:
        return (a.text + b.text[0]) in _PUNCT_PREFIXES
    return False


_PUNCT_PREFIXES = {"..", "<<", ">>", "->", "++", "--", "<=", ">=", "==", "!=", "&&", "||",
                   "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "##", "//", "/*"}
