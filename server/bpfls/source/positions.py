"""Positions in source text, for the whole engine: 0-based lines, and columns that count UTF-8
bytes from the start of the line (what tree-sitter and clang report). The adapters convert to
their own units (LSP: UTF-16 by default; the CLI prints 1-based columns)."""

from __future__ import annotations

from typing import NamedTuple


class Position(NamedTuple):
    line: int
    column: int


class Range(NamedTuple):
    start: Position
    end: Position

    @staticmethod
    def of(sl: int, sc: int, el: int, ec: int) -> Range:
        return Range(Position(sl, sc), Position(el, ec))


NO_RANGE = Range(Position(0, 0), Position(0, 0))
