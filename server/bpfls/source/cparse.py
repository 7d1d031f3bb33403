"""tree-sitter-c parsing, with incremental re-parsing of the files seen before."""

from __future__ import annotations

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


def parse(code: bytes) -> tree_sitter.Tree:
    return parser().parse(code)


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
        self._trees: OrderedDict[str, tuple[bytes, tree_sitter.Tree]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def parse(self, key: str, code: bytes) -> tree_sitter.Tree:
        with self._lock:
            old = self._trees.get(key)
            if old is not None and old[0] == code:
                self._trees.move_to_end(key)
                return old[1]
            if old is not None:
                old_code, old_tree = old
                p = _common_prefix(old_code, code)
                s = _common_suffix(old_code, code, min(len(old_code), len(code)) - p)
                old_end = len(old_code) - s
                new_end = len(code) - s
                old_tree = old_tree.copy()
                old_tree.edit(start_byte=p, old_end_byte=old_end, new_end_byte=new_end,
                              start_point=_point(code, p), old_end_point=_point(old_code, old_end),
                              new_end_point=_point(code, new_end))
                tree = parser().parse(code, old_tree)
            else:
                tree = parser().parse(code)
            self._trees[key] = (code, tree)
            self._trees.move_to_end(key)
            while len(self._trees) > self.size:
                self._trees.popitem(last=False)
            return tree
