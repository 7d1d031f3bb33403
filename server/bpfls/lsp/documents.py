"""Open documents: text kept in sync incrementally, and positions converted between the
client's encoding (UTF-16 code units by default; UTF-8 or UTF-32 when negotiated) and the
engine's UTF-8 byte columns.

Pure Python (no lsprotocol): positions are ``(line, character)`` pairs here. Lines end at
``\\n``, ``\\r\\n`` or ``\\r`` as the protocol says; only those (not form feeds or U+2028,
which ``str.splitlines`` would also split on). The engine counts lines at ``\\n`` (tree-sitter),
which agrees unless a lone ``\\r`` ends a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bpfls.analysis.diagnostics import Position, Range

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"

_EOL = re.compile(r"\r\n|\r|\n")


def _units(ch: str, encoding: str) -> int:
    o = ord(ch)
    if encoding == UTF16:
        return 2 if o > 0xFFFF else 1
    if encoding == UTF8:
        return 1 if o < 0x80 else 2 if o < 0x800 else 3 if o < 0x10000 else 4
    return 1


def units_to_index(line: str, units: int, encoding: str) -> int:
    """The code point index in ``line`` at ``units`` code units of ``encoding`` (clamped to
    the line; a position inside a character rounds down to its start)."""
    if units <= 0:
        return 0
    if encoding == UTF32 or line.isascii():
        return min(units, len(line))
    count = 0
    for i, ch in enumerate(line):
        count += _units(ch, encoding)
        if count > units:
            return i
        if count == units:
            return i + 1
    return len(line)


def index_to_units(line: str, index: int, encoding: str) -> int:
    """Code units of ``encoding`` in ``line[:index]``."""
    head = line[:max(index, 0)]
    if encoding == UTF32 or head.isascii():
        return len(head)
    if encoding == UTF8:
        return len(head.encode("utf-8", "surrogatepass"))
    return len(head) + sum(1 for ch in head if ord(ch) > 0xFFFF)


def byte_to_index(line: str, column: int) -> int:
    """The code point index of UTF-8 byte ``column`` of ``line`` (rounded down, clamped)."""
    if column <= 0:
        return 0
    if line.isascii():
        return min(column, len(line))
    return len(line.encode("utf-8", "surrogatepass")[:column].decode("utf-8", "ignore"))


def index_to_byte(line: str, index: int) -> int:
    head = line[:max(index, 0)]
    return len(head) if head.isascii() else len(head.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class Snapshot:
    """An immutable view of one version of a document's text (what an analysis ran on)."""

    text: str
    version: int | None
    encoding: str = UTF16

    @property
    def lines(self) -> list[str]:
        cached = self.__dict__.get("_lines")
        if cached is None:
            cached = split_lines(self.text)
            object.__setattr__(self, "_lines", cached)
        return cached

    # client (line, character) → engine Position (UTF-8 bytes)
    def to_engine(self, line: int, character: int) -> Position:
        lines = self.lines
        if line < 0:
            return Position(0, 0)
        if line >= len(lines):
            last = len(lines) - 1
            return Position(last, index_to_byte(lines[last], len(lines[last])))
        text = lines[line]
        return Position(line, index_to_byte(text, units_to_index(text, character,
                                                                 self.encoding)))

    # engine Position → client (line, character)
    def to_client(self, pos: Position) -> tuple[int, int]:
        lines = self.lines
        line = pos.line
        if line < 0:
            return 0, 0
        if line >= len(lines):
            last = len(lines) - 1
            return last, index_to_units(lines[last], len(lines[last]), self.encoding)
        text = lines[line]
        return line, index_to_units(text, byte_to_index(text, pos.column), self.encoding)

    def range_to_client(self, r: Range) -> tuple[tuple[int, int], tuple[int, int]]:
        start = self.to_client(r.start)
        end = self.to_client(r.end)
        return start, max(start, end)


def split_lines(text: str) -> list[str]:
    """Lines without their terminators; a trailing terminator gives a last empty line."""
    return _EOL.split(text)


class Document:
    """One open document: URI, file path, language, version and text."""

    def __init__(self, uri: str, path: str | None, text: str, version: int | None,
                 language_id: str = "c", encoding: str = UTF16) -> None:
        self.uri = uri
        self.path = path
        self.language_id = language_id
        self.encoding = encoding
        self._snapshot = Snapshot(text, version, encoding)

    @property
    def text(self) -> str:
        return self._snapshot.text

    @property
    def version(self) -> int | None:
        return self._snapshot.version

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def _offset(self, line: int, character: int) -> int:
        """Code point offset of a client position in the text (clamped to the document)."""
        snap = self._snapshot
        text = snap.text
        if line < 0:
            return 0
        # line starts: computed from the snapshot's lines (terminators are 1 or 2 chars)
        starts = snap.__dict__.get("_starts")
        if starts is None:
            starts = [0]
            for m in _EOL.finditer(text):
                starts.append(m.end())
            object.__setattr__(snap, "_starts", starts)
        if line >= len(starts):
            return len(text)
        line_text = snap.lines[line]
        return starts[line] + units_to_index(line_text, character, self.encoding)

    def apply_change(self, text: str, range_: tuple[tuple[int, int], tuple[int, int]] | None,
                     version: int | None = None) -> None:
        """Apply one content change: the whole text (``range_`` None) or a range's
        replacement. Out-of-range positions are clamped, never an error."""
        if range_ is None:
            new = text
        else:
            (sl, sc), (el, ec) = range_
            a = self._offset(sl, sc)
            b = self._offset(el, ec)
            if b < a:
                a, b = b, a
            old = self._snapshot.text
            new = old[:a] + text + old[b:]
        self._snapshot = Snapshot(new, version if version is not None else self.version,
                                  self.encoding)

    def set_version(self, version: int | None) -> None:
        if version != self._snapshot.version:
            self._snapshot = Snapshot(self._snapshot.text, version, self.encoding)
