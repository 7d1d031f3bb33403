"""C's first translation phases over raw bytes: where each directive's logical line is.

Phase 2 joins a line ending in a backslash to the next (a *splice*); phase 3 makes each
comment one space, so a block comment that spans lines does not end the line it is on;
string and character literals are read whole, so a ``/*`` or ``//`` inside one opens nothing.
A directive is a logical line whose first token is ``#``: only whitespace, comments and
splices may come before it. Nothing here changes the text: every position is a byte offset
into it (:func:`bpfls.source.pptokens.tokenize` removes the splices inside tokens).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator

_SPLICE = rb"(?:\\\r?\n)*"
_ESCAPE = rb"(?:\\\r\n|\\.)"
_LITERALS = (rb'"[^"\\\n]*(?:' + _ESCAPE + rb'[^"\\\n]*)*"'
             rb"|'[^'\\\n]*(?:" + _ESCAPE + rb"[^'\\\n]*)*'"
             rb"|/" + _SPLICE + rb"/[^\n\\]*(?:(?:" + _ESCAPE + rb"|\\\Z)[^\n\\]*)*"
             rb"|(?<![\w.])[0-9][\w.]*(?:'[\w.]+)+")
#: what is read whole before directives are looked for: string and character literals,
#: comments (a splice may sit anywhere in one, even inside its ``/*`` or ``*/``), and numbers
#: with digit separators (``1'000``, which would otherwise open a character literal)
_SKIP_RE = re.compile(
    rb"(?=[\"'/0-9])(?:" + _LITERALS
    + rb"|/" + _SPLICE + rb"\*(?:[^*]*+\*++(?!" + _SPLICE + rb"/))*+[^*]*+\*++" + _SPLICE + rb"/"
    + rb"|/" + _SPLICE + rb"\*.*\Z)", re.S)
#: every ``#``: :meth:`Lines.directives` keeps those that start a logical line
_HASH_RE = re.compile(rb"#")
_BOM = b"\xef\xbb\xbf"


class Lines:
    """The literals and comments of one text, and its directives' logical lines."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        spans: list[tuple[int, int]] = []
        if b"/" in data or b'"' in data or b"'" in data:
            spans = [m.span() for m in _SKIP_RE.finditer(data)]
        self.spans = spans  # literals and comments, in order
        self._starts = [s for s, _ in spans]

    def span_at(self, pos: int) -> tuple[int, int] | None:
        """The literal or comment ``pos`` is inside (its first byte excluded), if any."""
        k = bisect_right(self._starts, pos) - 1
        if k >= 0:
            s, e = self.spans[k]
            if s < pos < e:
                return s, e
        return None

    def _comment_ending_at(self, end: int) -> int:
        """The start of the comment that ends at ``end`` (-1: none does)."""
        k = bisect_right(self._starts, end - 1) - 1
        if k >= 0:
            s, e = self.spans[k]
            if e == end and self.data[s:s + 1] == b"/":
                return s
        return -1

    def logical_start(self, pos: int) -> int:
        """Where the logical line starts whose first token is at ``pos`` (-1: a token other
        than a comment comes before it on its logical line)."""
        data = self.data
        i = pos - 1
        while i >= 0:
            c = data[i]
            if c in b" \t\f\v\r":
                i -= 1
            elif c == 10:  # a newline: the line starts after it unless it is spliced
                j = i - 1
                if j >= 0 and data[j] == 13:
                    j -= 1
                if j >= 0 and data[j] == 92:
                    i = j - 1
                    continue
                return i + 1
            elif c == 47 and i >= 1:  # '/': the end of a block comment?
                s = self._comment_ending_at(i + 1)
                if s < 0:
                    return -1
                i = s - 1
            elif i == 2 and data[:3] == _BOM:
                return 0
            else:
                return -1
        return 0

    def logical_end(self, pos: int) -> int:
        """Just past the newline that ends the logical line ``pos`` is on (the text's end if
        none does): newlines inside comments and spliced ones do not end it."""
        data = self.data
        while True:
            nl = data.find(b"\n", pos)
            if nl < 0:
                return len(data)
            span = self.span_at(nl)
            if span is not None:
                pos = span[1]
                continue
            j = nl - 1
            if j >= 0 and data[j] == 13:
                j -= 1
            if j >= 0 and data[j] == 92:
                pos = nl + 1
                continue
            return nl + 1

    def directives(self) -> Iterator[tuple[int, int, int]]:
        """(logical line start, position of the ``#``, logical line end) of each directive,
        in order."""
        done = 0
        for m in _HASH_RE.finditer(self.data):
            hash_at = m.start()
            if hash_at < done or self.span_at(hash_at) is not None:
                continue
            start = self.logical_start(hash_at)
            if start < 0:
                continue
            end = self.logical_end(hash_at)
            done = end
            yield start, hash_at, end
