"""What analysing a file keeps for the next analysis of the same file.

A :class:`SourceCache` holds the last parse tree of each file it read (tree-sitter re-parses a
changed file incrementally from it), what preprocessing and masking each header gave, for the
next translation unit that includes it in a state that reads the same
(:class:`~bpfls.source.headercache.HeaderCache`), and, per translation unit, what each
function's walk gave (a function whose text and environment did not change is not walked
again; see :meth:`bpfls.source.translation_unit.TranslationUnit.walk_function`). Whoever
analyses files again and again owns one: the language server's session, ``bpfls check`` for
its run.
:func:`bpfls.source.analyze` without one uses a cache of its own module.

The engine's other tables are memos of pure functions keyed by content (tokens of a line,
macro expansions, a kernel's member tables): they live beside their function, bounded.
"""

from __future__ import annotations

import threading

from bpfls.source.cparse import TreeCache
from bpfls.source.headercache import HeaderCache

#: translation units whose function results are kept (the oldest is dropped first)
MAX_UNITS = 32
#: files whose last parse tree is kept: more than one big program includes (a project's
#: headers, its vmlinux.h wrapper), so that analysing it again re-parses none of them
MAX_TREES = 512


class SourceCache:
    def __init__(self, max_units: int = MAX_UNITS, max_trees: int = MAX_TREES) -> None:
        self.max_trees = max_trees
        self.trees = TreeCache(max_trees)
        self.headers = HeaderCache()
        self.max_units = max_units
        self._functions: dict[tuple[str, object], dict] = {}
        self._lock = threading.Lock()

    def take_functions(self, key: tuple[str, object]) -> dict:
        """The per-function results of unit ``key`` (path, base types) from its last
        analysis, removed from the cache while the unit is analysed again."""
        with self._lock:
            return self._functions.pop(key, None) or {}

    def keep_functions(self, key: tuple[str, object], entries: dict) -> None:
        with self._lock:
            self._functions[key] = entries
            while len(self._functions) > self.max_units:
                self._functions.pop(next(iter(self._functions)))

    def clear(self) -> None:
        """Forget everything (the next analysis starts cold)."""
        with self._lock:
            self._functions.clear()
            self.trees = TreeCache(self.max_trees)
            self.headers = HeaderCache()
