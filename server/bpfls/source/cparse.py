"""tree-sitter-c parsing (of a text with the forms tree-sitter-c does not know rewritten in place,
:func:`parser_text`), with incremental re-parsing of the files seen before."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

import tree_sitter
import tree_sitter_c

_LANGUAGE = tree_sitter.Language(tree_sitter_c.language())
_local = threading.local()


def parser() -> tree_sitter.Parser:
    """This thread's parser (tree-sitter parsers are not thread safe)."""
    p = getattr(_local, "parser", None)
    if p is None:
        p = _local.parser = tree_sitter.Parser(_LANGUAGE)
    return p


#: C23's fixed underlying type of an enum definition, ``enum name : type {``, which
#: tree-sitter-c reads only for a one-word type: the parser gets spaces in its place (the
#: program's types read it from the text, :meth:`LocalTypes._build_enum`)
ENUM_BASE_RE = re.compile(rb"enum(?<![\w$]enum)(?:\s+[A-Za-z_$][\w$]*)?\s*(:[\s\w$]*)(?={)")
#: ``typeof(``, ``__typeof(`` and ``__typeof__(`` (the leading ``__`` is checked apart: a
#: pattern that starts with a literal is found much faster)
_TYPEOF_RE = re.compile(rb"typeof(__)?[ \t]*\(")
#: what the parser reads in place of ``typeof(...)`` (padded with ``_`` to its length): a
#: type name, which tree-sitter-c parses the same in declarations, casts and type arguments
#: (it reads ``typeof(expr)`` as a call, a function type or an error, depending on where it
#: is). Whoever types the name finds the ``typeof`` at the same place in the text.
TYPEOF_PLACEHOLDER = "_typeof__"
_BLANK = bytes(c if c in b"\n\r" else 32 for c in range(256))


def parser_text(code: bytes) -> bytes:
    """``code`` as the parser reads it: the same bytes, positions and lines but for what
    tree-sitter-c does not know: :data:`ENUM_BASE_RE` blanked, ``typeof(...)`` replaced by
    :data:`TYPEOF_PLACEHOLDER`."""
    enum = b"enum" in code and ENUM_BASE_RE.search(code) is not None
    typeof = b"typeof" in code and _TYPEOF_RE.search(code) is not None
    if not enum and not typeof:
        return code
    out = bytearray(code)
    if enum:
        for m in ENUM_BASE_RE.finditer(code):
            s, e = m.span(1)
            out[s:e] = code[s:e].translate(_BLANK)
    if typeof:
        pos = 0
        while (m := _TYPEOF_RE.search(code, pos)) is not None:
            pos = m.end()
            start = m.start()
            if code[start - 2:start] == b"__" and start >= 2:
                start -= 2  # __typeof or __typeof__
            elif m.group(1):
                continue  # typeof__ is a name
            if start > 0 and (code[start - 1:start].isalnum() or code[start - 1] in b"_$"):
                continue
            end = _closing_paren(code, m.end())
            if end < 0:
                continue
            out[start:end] = TYPEOF_PLACEHOLDER.encode().ljust(end - start, b"_")
            pos = end
    return bytes(out)


def _closing_paren(code: bytes, pos: int) -> int:
    """Just past the ``)`` that closes the ``(`` before ``pos`` (-1: not on this line)."""
    depth = 1
    n = len(code)
    while pos < n:
        c = code[pos]
        if c == 40:
            depth += 1
        elif c == 41:
            depth -= 1
            if depth == 0:
                return pos + 1
        elif c == 10 or c in b"\"'":
            return -1
        pos += 1
    return -1


def parse(code: bytes) -> tree_sitter.Tree:
    return parser().parse(parser_text(code))


def _common_prefix(a: bytes, b: bytes) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: bytes, b: bytes, limit: int) -> int:
    lo, hi = 0, limit
    la, lb = len(a), len(b)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid:la - lo] == b[lb - mid:lb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _point(data: bytes, offset: int) -> tuple[int, int]:
    row = data.count(b"\n", 0, offset)
    col = offset - (data.rfind(b"\n", 0, offset) + 1)
    return row, col


class TreeCache:
    """The last tree per file; a changed file is re-parsed incrementally from it."""

    def __init__(self, size: int = 64) -> None:
        #: key → (code, the parser's text of it, tree)
        self._trees: OrderedDict[str, tuple[bytes, bytes, tree_sitter.Tree]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def parse(self, key: str, code: bytes) -> tree_sitter.Tree:
        with self._lock:
            old = self._trees.get(key)
            if old is not None and old[0] == code:
                self._trees.move_to_end(key)
                return old[2]
            text = parser_text(code)
            if old is not None:
                _, old_text, old_tree = old
                p = _common_prefix(old_text, text)
                s = _common_suffix(old_text, text, min(len(old_text), len(text)) - p)
                old_end = len(old_text) - s
                new_end = len(text) - s
                old_tree = old_tree.copy()
                old_tree.edit(start_byte=p, old_end_byte=old_end, new_end_byte=new_end,
                              start_point=_point(text, p), old_end_point=_point(old_text, old_end),
                              new_end_point=_point(text, new_end))
                tree = parser().parse(text, old_tree)
            else:
                tree = parser().parse(text)
            self._trees[key] = (code, text, tree)
            self._trees.move_to_end(key)
            while len(self._trees) > self.size:
                self._trees.popitem(last=False)
            return tree
