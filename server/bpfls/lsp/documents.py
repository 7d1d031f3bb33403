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

from bpfls.source.positions import Position, Range

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


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _content(line: str) -> str:
    """A line without its terminator."""
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\r", "\n")):
        return line[:-1]
    return line


class Document:
    """One open document: URI, file path, language, version and text.

    The text is kept as a list of lines (terminators included), so applying a keystroke
    costs the edited lines, not the document; the whole text is joined only when a
    snapshot is asked for (an analysis, a request).
    """

    def __init__(self, uri: str, path: str | None, text: str, version: int | None,
                 language_id: str = "c", encoding: str = UTF16) -> None:
        self.uri = uri
        self.path = path
        self.language_id = language_id
        self.encoding = encoding
        self._lines: list[str] = _LINE.findall(text)
        self._version = version
        self._snapshot: Snapshot | None = Snapshot(text, version, encoding)

    @property
    def text(self) -> str:
        return self.snapshot().text

    @property
    def version(self) -> int | None:
        return self._version

    def snapshot(self) -> Snapshot:
        snap = self._snapshot
        if snap is None:
            snap = self._snapshot = Snapshot("".join(self._lines), self._version,
                                             self.encoding)
        return snap

    def _locate(self, line: int, character: int) -> tuple[int, int]:
        """(line index, code point index in that line) of a client position, clamped; the
        line index ``len(lines)`` is the end of the text."""
        lines = self._lines
        if line < 0:
            return 0, 0
        if line >= len(lines):
            return len(lines), 0
        return line, units_to_index(_content(lines[line]), character, self.encoding)

    def apply_change(self, text: str, range_: tuple[tuple[int, int], tuple[int, int]] | None,
                     version: int | None = None) -> None:
        """Apply one content change: the whole text (``range_`` None) or a range's
        replacement. Out-of-range positions are clamped, never an error."""
        if version is not None:
            self._version = version
        self._snapshot = None
        if range_ is None:
            self._lines = _LINE.findall(text)
            return
        lines = self._lines
        a_line, a_col = self._locate(*range_[0])
        b_line, b_col = self._locate(*range_[1])
        if (b_line, b_col) < (a_line, a_col):
            a_line, a_col, b_line, b_col = b_line, b_col, a_line, a_col
        # one line of context on each side: an edit can join a \r with a \n across lines
        lo, hi = max(a_line - 1, 0), min(b_line + 2, len(lines))
        head = "".join(lines[lo:a_line]) + (lines[a_line][:a_col] if a_line < len(lines)
                                            else "")
        tail = (lines[b_line][b_col:] if b_line < len(lines) else "") + \
            "".join(lines[b_line + 1:hi])
        lines[lo:hi] = _LINE.findall(head + text + tail)

    def set_version(self, version: int | None) -> None:
        if version != self._version:
            self._version = version
            if self._snapshot is not None:
                self._snapshot = Snapshot(self._snapshot.text, version, self.encoding)
